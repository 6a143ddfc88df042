"""Filter-pass cost against a bare decode and against the naive composition peers use.

(a) bare decode: the same sampled frames, same decoder (decord), same resize-on-decode, nothing else;
(b) our filter pass: probe + one decode feeding ContentDetector (0.5 fps subset) and DIS flow (2 fps);
(c) naive: ``scenedetect.detect()`` on the full file at its defaults, plus a separate decode for the flow.
Prints seconds and the ratios (b)/(a) and (c)/(b), all measured in this one run. Targets: (b) <= 1.25x (a),
(c) >= 3x (b).

    python bench/filters.py [VIDEO_DIR] [--repeat 3] [--dis-preset fast]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

import numpy as np

from lvd2m_builder.config import preset
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.media.probe import open_reader, probe
from lvd2m_builder.media.sampler import grid
from lvd2m_builder.models.flow import DisFlow
from lvd2m_builder.stages.pipeline import Pipeline

log = logging.getLogger("bench.filters")
DEFAULT_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"


def bare_decode(paths: list[str], height: int, width: int, fps: float) -> None:
    for path in paths:
        _, starts = probe(path)
        duration = starts[-1] - starts[0]
        index = np.unique(np.clip(np.searchsorted(starts, starts[0] + grid(duration, fps) + 1e-6) - 1, 0, None))
        reader = open_reader(path, width=width, height=height)
        for lo in range(0, len(index), 16):
            reader.get_batch(index[lo : lo + 16].tolist()).asnumpy()


def filter_pass(paths: list[str], config) -> None:
    for _ in Pipeline(config)(list_refs(paths)):
        pass


def naive(paths: list[str], height: int, width: int, fps: float, dis_preset: str, scale: float) -> None:
    import scenedetect

    flow = DisFlow(dis_preset, scale)
    for path in paths:
        scenedetect.detect(path, scenedetect.ContentDetector())
        reader = open_reader(path, width=width, height=height)
        step = max(1, round(reader.get_avg_fps() / fps))
        frames = reader.get_batch(list(range(0, len(reader), step))).asnumpy()
        flow.mean_magnitudes(list(zip(frames[:-1], frames[1:])))


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="?", default=str(DEFAULT_VIDEOS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dis-preset", default=None, help="override motion.dis_preset")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = preset("paper").replace({"duration.min_s": 0.0})  # score every sample, none gated out early
    if args.dis_preset:
        config = config.replace({"motion.dis_preset": args.dis_preset})
    m = config.motion
    paths = [r.uri for r in list_refs([args.videos])]
    video_seconds = sum(probe(p)[0].duration for p in paths)
    a = timed(lambda: bare_decode(paths, m.height, m.width, m.fps), args.repeat)
    b = timed(lambda: filter_pass(paths, config), args.repeat)
    c = timed(lambda: naive(paths, m.height, m.width, m.fps, m.dis_preset, m.dis_scale), args.repeat)
    print(f"{len(paths)} videos, {video_seconds:.1f} s of video, DIS preset {m.dis_preset}, median of {args.repeat}")
    print(f"(a) bare decode of the sampled frames : {a:7.2f} s")
    print(f"(b) filter pass (cuts + motion)       : {b:7.2f} s   (b)/(a) = {b / a:.2f}x  (target <= 1.25x)")
    print(f"(c) naive detect() + separate decode  : {c:7.2f} s   (c)/(b) = {c / b:.2f}x  (target >= 3x)")


if __name__ == "__main__":
    main()
