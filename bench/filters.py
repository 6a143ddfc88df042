"""Filter-pass cost against the decode limit and against the naive composition peers use.

(L) the limit: ``ffmpeg -threads 1 -skip_frame bidir -i VIDEO -f null -`` per video: a bare decode that skips
    every B-frame (more than the pass may skip: B-frames that other frames reference are dropped too, so later
    frames decode wrong); the ffmpeg processes' start-up is in it, as in the issue's measurement;
(b) our filter pass: ``Pipeline`` (probe, one decode feeding ContentDetector at 0.5 fps and DIS flow at 2 fps),
    decoding on the caller's thread;
(t) the same with the decode thread builds use (``decode_chunk``): decode overlaps scoring;
(c) naive: ``scenedetect.detect()`` on each file at its defaults, plus a separate decord decode for the flow.

Every round runs each, in rotating order, so the machine's load hits all alike; medians of ``--repeat`` rounds.
OpenCV runs on one thread here (its DIS flow would take a second core), as ffmpeg does with ``-threads 1``.
CPU seconds (this process's, or ffmpeg's) are the robust figure on a shared machine; wall seconds are printed
too. For (t), "critical path" is its busier thread's CPU: on a machine with a free core the pass takes no less.
Targets: (b)/(L) <= 1.25x, (c)/(b) >= 3x.

``--decoders``: the pass's decode job alone (the 2 fps frames at 960x520 RGB) through decord (resize on
decode), torchcodec (a Resize transform, approximate seeks) and our PyAV decoder, with and without skipping the
frames that nothing references, in CPU seconds.

    python bench/filters.py [VIDEO_DIR] [--repeat 3] [--decoders]
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from lvd2m_builder.config import preset
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.media import sampler
from lvd2m_builder.media.decoder import Scaler, View, decoded
from lvd2m_builder.media.probe import open_reader, probe
from lvd2m_builder.media.sampler import grid
from lvd2m_builder.models.flow import DisFlow
from lvd2m_builder.stages.pipeline import Pipeline
from lvd2m_builder.threads import ahead

log = logging.getLogger("bench.filters")
DEFAULT_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
HEIGHT, WIDTH, FPS = 520, 960, 2.0


class Clock:
    """CPU and wall seconds of one call; ``children``: count the CPU of the processes it ran instead."""

    def __init__(self, children: bool = False) -> None:
        self.children = children

    def cpu(self) -> float:
        if self.children:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            return usage.ru_utime + usage.ru_stime
        return time.process_time()

    def __call__(self, fn: Callable[[], object]) -> tuple[float, float]:
        cpu, wall = self.cpu(), time.perf_counter()
        fn()
        return self.cpu() - cpu, time.perf_counter() - wall


def limit(paths: list[str]) -> None:
    for path in paths:
        subprocess.run([shutil.which("ffmpeg") or "ffmpeg", "-v", "quiet", "-threads", "1", "-skip_frame", "bidir",
                        "-i", path, "-f", "null", "-"], check=True)


def filter_pass(pipeline: Pipeline, paths: list[str]) -> None:
    for _ in pipeline(list_refs(paths)):
        pass


def naive(paths: list[str], flow: DisFlow) -> None:
    import scenedetect

    for path in paths:
        scenedetect.detect(path, scenedetect.ContentDetector())
        reader = open_reader(path, width=WIDTH, height=HEIGHT)
        step = max(1, round(reader.get_avg_fps() / FPS))
        frames = reader.get_batch(list(range(0, len(reader), step))).asnumpy()
        flow.mean_magnitudes(list(zip(frames[:-1], frames[1:])))


class DecodeThreadClock:
    """Counts the CPU of the decode threads the sampler starts (their share of the process's CPU)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def install(self) -> None:
        def timed(items):
            started = time.thread_time()
            try:
                yield from items
            finally:
                self.seconds += time.thread_time() - started

        sampler.ahead = lambda items, depth, name="lvd2m-ahead": ahead(timed(items), depth, name)


def sampled_indices(path: str) -> tuple[np.ndarray, object, np.ndarray]:
    info, starts = probe(path)
    index = np.unique(np.clip(np.searchsorted(starts, starts[0] + grid(info.duration, FPS) + 1e-6, side="right") - 1,
                              0, len(starts) - 1))
    return index, info, starts


def decoders(paths: list[str], repeat: int) -> None:
    """The sampled-frame decode job through each decoder, CPU seconds, medians."""
    jobs = {path: sampled_indices(path) for path in paths}

    def with_decord() -> None:
        for path, (index, _, _) in jobs.items():
            reader = open_reader(path, width=WIDTH, height=HEIGHT)
            for lo in range(0, len(index), 16):
                reader.get_batch(index[lo : lo + 16].tolist()).asnumpy()

    def with_torchcodec() -> None:
        from torchcodec.decoders import VideoDecoder
        from torchcodec.transforms import Resize

        for path, (index, _, _) in jobs.items():
            decoder = VideoDecoder(path, num_ffmpeg_threads=1, seek_mode="approximate", dimension_order="NHWC",
                                   transforms=[Resize((HEIGHT, WIDTH))])
            decoder.get_frames_at(index.tolist()).data.numpy()

    def with_pyav(skip: bool) -> Callable[[], None]:
        def run() -> None:
            for path, (index, info, starts) in jobs.items():
                scale, size = Scaler(info.rotation), View(WIDTH, HEIGHT)
                wanted = set(index.tolist())
                for i, frame in decoded(path, starts, info.keyframes, index, skip):
                    if i in wanted:
                        scale(frame, size)
        return run

    runs: dict[str, Callable[[], None]] = {"decord": with_decord, "PyAV, nothing skipped": with_pyav(False),
                                           "PyAV, unreferenced skipped": with_pyav(True)}
    try:
        with_torchcodec()  # loads torch and FFmpeg's libraries once, outside the timing
        runs["torchcodec"] = with_torchcodec
    except Exception as e:  # torchcodec needs FFmpeg's shared libraries from the system
        print(f"torchcodec skipped: {type(e).__name__}: {e}")
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    clock = Clock()
    for round_ in range(repeat):
        names = list(runs)
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            seconds[name].append(clock(runs[name])[0])
    base = statistics.median(seconds["decord"])
    print(f"\nthe pass's decode job alone (2 fps frames at {WIDTH}x{HEIGHT} RGB), CPU s, median of {repeat}:")
    for name, values in seconds.items():
        value = statistics.median(values)
        print(f"  {name:28s} {value:7.2f} s   {value / base:.2f}x decord")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="?", default=str(DEFAULT_VIDEOS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--decoders", action="store_true", help="also time the decode job alone per decoder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("pyscenedetect").setLevel(logging.ERROR)
    cv2.setNumThreads(1)
    config = preset("paper").replace({"duration.min_s": 0.0, "semantic.enabled": False,  # score every sample
                                      "captions.enabled": False, "embed.enabled": False})
    paths = [r.uri for r in list_refs([args.videos])]
    video_seconds = sum(probe(p)[0].duration for p in paths)
    one_thread = Pipeline(config.replace({"decode_chunk": 0}))
    threaded, threads = Pipeline(config), DecodeThreadClock()
    threads.install()
    flow = DisFlow(config.motion.dis_preset, config.motion.dis_scale)
    runs = {
        "L": (Clock(children=True), lambda: limit(paths)),
        "b": (Clock(), lambda: filter_pass(one_thread, paths)),
        "t": (Clock(), lambda: filter_pass(threaded, paths)),
        "c": (Clock(), lambda: naive(paths, flow)),
    }
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    wall: dict[str, list[float]] = {name: [] for name in runs}
    critical: list[float] = []
    for round_ in range(args.repeat):
        names = list(runs)
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            clock, fn = runs[name]
            threads.seconds = 0.0
            c, w = clock(fn)
            cpu[name].append(c)
            wall[name].append(w)
            if name == "t":
                critical.append(max(threads.seconds, c - threads.seconds))
    med = {name: (statistics.median(cpu[name]), statistics.median(wall[name])) for name in runs}
    (lc, lw), (bc, bw), (tc, tw), (cc, cw) = med["L"], med["b"], med["t"], med["c"]
    crit = statistics.median(critical)
    print(f"{len(paths)} videos, {video_seconds:.1f} s of video, DIS {config.motion.dis_preset} at scale "
          f"{config.motion.dis_scale:g}; medians of {args.repeat} rounds (CPU s | wall s)")
    print(f"(L) ffmpeg -threads 1 -skip_frame bidir  : {lc:6.2f} | {lw:6.2f}")
    print(f"(b) filter pass, one thread              : {bc:6.2f} | {bw:6.2f}   (b)/(L) = {bc / lc:.2f}x CPU, "
          f"{bw / lw:.2f}x wall  (target <= 1.25x)")
    print(f"(t) filter pass, decode thread           : {tc:6.2f} | {tw:6.2f}   critical path {crit:.2f} s CPU = "
          f"{crit / lc:.2f}x (L)")
    print(f"(c) naive detect() + separate decode     : {cc:6.2f} | {cw:6.2f}   (c)/(b) = {cc / bc:.2f}x CPU, "
          f"{cw / bw:.2f}x wall  (target >= 3x)")
    if args.decoders:
        decoders(paths, args.repeat)


if __name__ == "__main__":
    main()
