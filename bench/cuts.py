"""Cut checks compared: the paper's ContentDetector, the robust detector and TransNetV2, on labelled clips.

Clips: the real sample videos (labels from manifest.json: hard cuts, fades through black, gradual transitions)
and synthetic ones drawn here (lvd2m_builder.testing.transitions, encoded with PyAV) over two real photographs
taken from testvideo.mp4: pans at 2, 4, 8 and 12 px/frame, one- and two-frame white flashes (long takes), a hard cut,
fades through black and white and a dissolve. Every clip goes through the whole filter pass (probe, one decode,
cut check, motion) of each preset, interleaved, so the machine's load hits all three alike.

Prints per clip the truth and each detector's decision and cut times, then a table: long-take accuracy (does
the cut check pass exactly the true long takes), cut-time F1 at +-0.5 s over the clips with labelled times,
and seconds of filter pass per minute of video, as a ratio against the paper preset measured in the same run.
With --decode it also times the decode alone: decord's sampled frames (the paper's path), PyAV's every frame at
two sizes (the robust path), and decord's every frame at full size.

    python bench/cuts.py [VIDEO_DIR] [--work DIR] [--repeat 1] [--no-transnet] [--decode]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from lvd2m_builder.config import preset
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.media.probe import open_reader, probe
from lvd2m_builder.media.sampler import FrameSampler, GridTask, NativeTask, grid
from lvd2m_builder.media.streams import frame_at
from lvd2m_builder.records import Clip, ClipRef
from lvd2m_builder.stages.pipeline import Pipeline
from lvd2m_builder.testing import transitions

DEFAULT_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
QUIET = {"duration.min_s": 0.0, "semantic.enabled": False, "captions.enabled": False}
TOLERANCE = 0.5
#: A transition seen by eye while building this benchmark, not in manifest.json: testvideo.mp4 dissolves from
#: the leaf photograph to the tyre photograph over frames ~525-570.
EXTRA_LABELS = {"testvideo.mp4": [548]}


def real_truth(videos: Path) -> dict[str, tuple[bool, list[float] | None]]:
    """name -> (long take?, labelled transition times or None when the manifest gives no times)."""
    spec = json.loads((videos.parent / "manifest.json").read_text())["videos"]
    truth = {}
    for name, item in spec.items():
        fps = item["fps"]
        frames = list(item.get("cuts", [])) + [(a + b) / 2 for a, b in item.get("fades_through_black", [])]
        frames += list(item.get("gradual_transitions", {}).values()) + EXTRA_LABELS.get(name, [])
        labelled = bool(frames) or item["long_take"]
        truth[name] = (item["long_take"], sorted(f / fps for f in frames) if labelled else None)
    return truth


def synthetic(work: Path, videos: Path) -> dict[str, tuple[bool, list[float]]]:
    """Make (once) the synthetic clips over two photographs from testvideo.mp4; name -> (long take?, times)."""
    stills = []
    for second in (4, 15):
        still = work / f"photo{second}.png"
        if not still.exists():
            Image.fromarray(frame_at(str(videos / "testvideo.mp4"), second)).save(still)
        stills.append(still)
    made = work / "made.json"
    if not made.exists():
        truths = transitions.suite(work, (stills[0], stills[1]), 1280, speeds=(2, 4, 8, 12), size=(426, 240))
        made.write_text(json.dumps({t.path.name: [t.long_take, list(t.cuts)] for t in truths}))
    return {name: (long_take, cuts) for name, (long_take, cuts) in json.loads(made.read_text()).items()}


def f1(found: list[float], truth: list[float]) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives): each truth matches at most one cut within TOLERANCE."""
    left = list(truth)
    hits = 0
    for t in sorted(found):
        near = [x for x in left if abs(x - t) <= TOLERANCE]
        if near:
            left.remove(min(near, key=lambda x: abs(x - t)))
            hits += 1
    return hits, len(found) - hits, len(left)


def run(pipeline: Pipeline, path: Path) -> tuple[float, list[float], str]:
    started = time.perf_counter()
    (clip,) = list(pipeline(list_refs([str(path)])))
    seconds = time.perf_counter() - started
    rejected_for_cuts = clip.rejection is not None and clip.rejection.stage == "cuts"
    return seconds, [round(t, 2) for t in clip.cut_times], "cut" if rejected_for_cuts else "pass"


def decode_costs(paths: list[Path], repeat: int) -> None:
    """Seconds of decode alone per path, three ways (see the module docstring)."""
    print("\ndecode alone, median of", repeat, "(s): decord 2 fps at 960x520 | PyAV every frame 64 px + 2 fps 960x520"
          " | decord every frame at full size")
    totals = np.zeros(3)
    for path in paths:
        info, starts = probe(str(path))
        index = np.unique(np.clip(np.searchsorted(starts, starts[0] + grid(info.duration, 2.0) + 1e-6) - 1, 0, None))

        def sampled():
            reader = open_reader(str(path), width=960, height=520)
            for lo in range(0, len(index), 16):
                reader.get_batch(index[lo : lo + 16].tolist()).asnumpy()

        def both_sizes():
            clip = Clip(ClipRef(str(path), path.stem), str(path), info, starts)
            FrameSampler(520, 960).run(clip, [_Both(grid(info.duration, 2.0))])

        def every_full():
            reader = open_reader(str(path))
            for lo in range(0, len(starts), 16):
                reader.get_batch(list(range(lo, min(lo + 16, len(starts))))).asnumpy()

        row = [statistics.median(_time(fn) for _ in range(repeat)) for fn in (sampled, both_sizes, every_full)]
        totals += row
        print(f"  {path.name:32s} " + " | ".join(f"{s:6.2f}" for s in row) + f"   ({row[1] / row[0]:.2f}x)")
    print(f"  {'all':32s} " + " | ".join(f"{s:6.2f}" for s in totals) + f"   ({totals[1] / totals[0]:.2f}x)")


class _Both(GridTask, NativeTask):
    """Every frame at 64 px and the 2 fps frames at 960x520, dropped: the robust path's decode alone."""

    stage, native_size = "bench", (64, 36)

    def __init__(self, times: np.ndarray) -> None:
        self._times = times

    def times(self) -> np.ndarray:
        return self._times

    def feed(self, t: float, frame: np.ndarray, shown: float) -> None:
        pass

    def feed_native(self, t: float, frame: np.ndarray) -> None:
        pass

    def finish(self) -> None:
        pass


def _time(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="?", default=str(DEFAULT_VIDEOS))
    parser.add_argument("--work", help="where the synthetic clips are made (kept; default: a temporary folder)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per clip for paper and robust")
    parser.add_argument("--no-transnet", action="store_true", help="skip TransNetV2 (slow on a CPU)")
    parser.add_argument("--decode", action="store_true", help="also time the decode alone, three ways")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    videos = Path(args.videos)
    work = Path(args.work or tempfile.mkdtemp(prefix="lvd2m-cuts-"))
    work.mkdir(parents=True, exist_ok=True)
    clips = {videos / name: t for name, t in real_truth(videos).items()}
    clips.update({work / name: t for name, t in synthetic(work, videos).items()})

    detectors = {"paper": preset("paper"), "robust": preset("robust")}
    if not args.no_transnet:
        detectors["transnetv2"] = preset("paper").replace({"cuts.detector": "transnetv2"})
    pipelines = {name: Pipeline(config.replace(QUIET)) for name, config in detectors.items()}
    for pipeline in pipelines.values():  # warm up: imports, model loads
        run(pipeline, work / "pan2.mp4")

    results: dict[str, dict[Path, tuple[float, list[float], str]]] = {name: {} for name in pipelines}
    for path in clips:
        for name, pipeline in pipelines.items():
            repeat = 1 if name == "transnetv2" else args.repeat
            runs = [run(pipeline, path) for _ in range(repeat)]
            results[name][path] = (statistics.median(r[0] for r in runs), runs[0][1], runs[0][2])

    print(f"{'clip':28s} {'truth':>28s} | " + " | ".join(f"{name:>30s}" for name in pipelines))
    for path, (long_take, times) in clips.items():
        label = "long take" if long_take else ",".join(f"{t:.1f}" for t in times) if times else "cuts, no times"
        cells = [f"{r[2]:>4s} {','.join(f'{t:.1f}' for t in r[1]) or '-':>25s}"
                 for r in (results[n][path] for n in pipelines)]
        print(f"{path.name:28s} {label:>28s} | " + " | ".join(cells))

    minutes = sum(probe(str(p))[0].duration for p in clips) / 60
    paper_cost = sum(s for s, _, _ in results["paper"].values()) / minutes
    print(f"\n{len(clips)} clips ({sum(not lt for lt, _ in clips.values())} with cuts), {minutes:.1f} video-minutes,"
          f" F1 at +-{TOLERANCE} s over {sum(t is not None for _, t in clips.values())} clips with labelled times")
    print(f"{'detector':12s} {'long-take acc':>13s} {'cut F1':>7s} {'P':>5s} {'R':>5s} {'s/video-min':>12s}"
          f" {'vs paper':>9s}")
    for name in pipelines:
        correct = sum((r[2] == "pass") == clips[p][0] for p, r in results[name].items())
        tp = fp = fn = 0
        for path, (_, times) in clips.items():
            if times is not None:
                a, b, c = f1(results[name][path][1], times)
                tp, fp, fn = tp + a, fp + b, fn + c
        precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        score = 2 * precision * recall / max(precision + recall, 1e-9)
        cost = sum(s for s, _, _ in results[name].values()) / minutes
        print(f"{name:12s} {correct:>6d}/{len(clips):<6d} {score:7.3f} {precision:5.2f} {recall:5.2f} {cost:12.2f}"
              f" {cost / paper_cost:8.2f}x")
    if args.decode:
        decode_costs([p for p in clips if p.parent == videos], max(args.repeat, 3))


if __name__ == "__main__":
    main()
