"""Raw footage split into shots (cuts.on_cut=split) against rejected whole (the paper), on the same input.

Footage: a long synthetic raw video made here (lvd2m_builder.testing.montage; by default 10 minutes and more, 40+
shots of known length: pans at known speeds and still shots, joined by hard cuts, fades through black or white
and dissolves, in a seeded mix), and the real sample videos labelled to the frame (manifest.json; there every
shot goes on, however short, so that every boundary counts). Each detector's filter pass (probe, the one decode,
cut check, split, motion; no model stage) runs on the same input in both modes, interleaved (``--repeat``), and
the bench prints per detector:

- shots found against the truth: boundary precision, recall and F1 at +-2 frames (a boundary is the new shot's
  first frame after a cut, the middle of a gradual transition; a found boundary is the middle of the frames
  trimmed between two shots), overall and per kind of transition;
- long-take footage recovered: seconds in the kept shots against the seconds of the true shots that should be
  kept (longer than duration.min_s once the margins are trimmed, and moving); reject mode keeps none of a video
  with a cut; and how many kept shots cross a true boundary (0 is right);
- cost: CPU seconds (and wall seconds) of the split pass against the reject pass on the same input, as a ratio
  (target <= 1.2: the decode is shared, a shot's motion is read from the video's flow pairs).

``--memory`` also runs each mode in a fresh process over the long video and over its first quarter, and prints
the peak resident memory: split against reject, and long against short (flat memory: about 1.0x).

    python bench/split.py [--minutes 10] [--size 256x144] [--repeat 1] [--work DIR] [--videos DIR]
                          [--detectors robust,content,transnetv2] [--memory]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from lvd2m_builder.config import preset
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.pipeline import Pipeline
from lvd2m_builder.testing.montage import Montage, Shot, montage

DEFAULT_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
QUIET = {"semantic.enabled": False, "captions.enabled": False}
TOLERANCE = 2  # frames
MARGIN = 3  # split.margin_frames' default
MIN_S = 10.0  # duration.min_s in the paper preset

CHILD = r"""
import json, sys
from lvd2m_builder.config import preset
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.stages.pipeline import Pipeline

path, detector, mode = sys.argv[1:4]
config = preset("paper").replace({"semantic.enabled": False, "captions.enabled": False, "cuts.detector": detector,
                                  "cuts.on_cut": mode})
clips = sum(1 for _ in Pipeline(config)(list_refs([path])))
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({"clips": clips, "peak_kib": int(status["VmHWM"].split()[0])}))
"""


def plan(minutes: float, seed: int = 15) -> list[Shot]:
    """A seeded mix of shots until there are ``minutes`` of them and at least 40: mostly long takes (pans and
    some still shots), some short shots; half joined by cuts, the rest by fades and dissolves."""
    rng = random.Random(seed)
    shots: list[Shot] = []
    while sum(s.seconds for s in shots) < minutes * 60 or len(shots) < 40:
        seconds = rng.choice([rng.uniform(2, 8), rng.uniform(11, 25), rng.uniform(11, 25)])
        speed = rng.choice([0, 1, 2, 2, 3])
        join = rng.choice(["cut", "cut", "cut", "fade_black", "fade_white", "dissolve"])
        shots.append(Shot(round(seconds, 2), speed, join, rng.choice([0.5, 1.0])))
    return shots


def kept_truth(made: Montage, shots: list[Shot]) -> float:
    """Seconds of the true shots split mode should keep: moving, and longer than MIN_S once trimmed."""
    total = 0.0
    for i, ((first, end), shot) in enumerate(zip(made.shots, shots)):
        frames = end - first - MARGIN * ((i > 0) + (i < len(shots) - 1))
        if shot.px_per_frame > 0 and frames / made.fps > MIN_S:
            total += frames / made.fps
    return total


def found_boundaries(clips: list[Clip], fps: float) -> list[int]:
    """Frames of the cuts the split found: the middle of each transition next to a shot."""
    transitions = {tuple(c.split[side]) for c in clips for side in ("cut_before", "cut_after") if c.split.get(side)}
    return sorted(round((a + b) / 2 * fps + 0.5 - 1e-6) for a, b in transitions)


def match(found: list[int], truth: list[int]) -> tuple[list[bool], int]:
    """For each true boundary whether a found one lies within TOLERANCE frames (each used once); false positives."""
    left = sorted(found)
    hits = []
    for t in truth:
        near = [f for f in left if abs(f - t) <= TOLERANCE]
        if near:
            left.remove(min(near, key=lambda f: abs(f - t)))
        hits.append(bool(near))
    return hits, len(left)


def f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-9)


def real_truth(videos: Path) -> dict[Path, tuple[list[int], list[tuple[int, int]], float]]:
    """Labelled videos: path -> (boundary frames, true shots [first, end), fps)."""
    spec = json.loads((videos.parent / "manifest.json").read_text())["videos"]
    truth = {}
    for name, item in spec.items():
        if "gradual_transitions" in item:  # labelled only roughly ("near" a frame): no truth to the frame
            continue
        gaps = [(c, c) for c in item.get("cuts", [])] + [tuple(g) for g in item.get("fades_through_black", [])]
        gaps += [tuple(g) for g in item.get("dissolves", [])]
        if not gaps:
            continue
        gaps.sort()
        bounds = [first if first == end else (first + end) // 2 for first, end in gaps]
        edges = [0] + [x for gap in gaps for x in gap] + [item["frames"]]
        truth[videos / name] = (bounds, list(zip(edges[::2], edges[1::2])), item["fps"])
    return truth


def timed(pipeline: Pipeline, path: Path) -> tuple[tuple[float, float], list[Clip]]:
    """((wall seconds, CPU seconds of this process), the clips) of one pass over ``path``."""
    wall, cpu = time.perf_counter(), time.process_time()
    clips = list(pipeline(list_refs([str(path)])))
    return (time.perf_counter() - wall, time.process_time() - cpu), clips


def inside(frames: tuple[int, int], shots: list[tuple[int, int]]) -> bool:
    return any(a <= frames[0] and frames[1] <= b for a, b in shots)


def peak(path: Path, detector: str, mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), detector, mode], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_kib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the synthetic raw video")
    parser.add_argument("--size", default="256x144", help="its frame size (small keeps the bench quick)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per mode (the median is kept)")
    parser.add_argument("--work", help="where the synthetic video is made (kept; default: a temporary folder)")
    parser.add_argument("--videos", default=str(DEFAULT_VIDEOS), help="the labelled sample videos (skipped if absent)")
    parser.add_argument("--detectors", default="robust,content", help="comma-separated: robust, content, transnetv2")
    parser.add_argument("--memory", action="store_true", help="also peak memory, each mode in a fresh process")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(args.work or tempfile.mkdtemp(prefix="lvd2m-split-"))
    work.mkdir(parents=True, exist_ok=True)
    width, height = (int(x) for x in args.size.split("x"))
    shots = plan(args.minutes)
    started = time.perf_counter()
    made = montage(work / "raw.mp4", shots, size=(width, height))
    print(f"synthetic raw video: {made.frames / made.fps / 60:.1f} min, {len(shots)} shots, {width}x{height} at "
          f"{made.fps} fps, joins {dict(sorted(Counter(made.joins).items()))} (made in "
          f"{time.perf_counter() - started:.0f} s)")
    real = real_truth(Path(args.videos)) if Path(args.videos).is_dir() else {}

    print(f"\n{'detector':11s} {'boundary F1':>11s} {'P':>5s} {'R':>5s} | F1 by join (+-{TOLERANCE} frames)"
          f"{'':18s} | {'shots':>9s} {'kept s':>7s} {'of true':>7s} {'crossing':>8s} | {'split s':>7s} "
          f"{'reject s':>8s} {'split/reject':>13s} | real F1 (shots found/true)")
    for detector in args.detectors.split(","):
        config = preset("paper").replace({**QUIET, "cuts.detector": detector})
        modes = {"reject": Pipeline(config), "split": Pipeline(config.replace({"cuts.on_cut": "split"}))}
        every_shot = Pipeline(config.replace({"cuts.on_cut": "split", "duration.min_s": 0.0}))  # short real videos
        for pipeline in modes.values():  # warm up: imports, model loads
            timed(pipeline, next(iter(real), made.path))
        times: dict[str, list[tuple[float, float]]] = defaultdict(list)
        clips: list[Clip] = []
        for _ in range(args.repeat):
            for mode, pipeline in modes.items():
                seconds, out = timed(pipeline, made.path)
                times[mode].append(seconds)
                clips = out if mode == "split" else clips
        hits, false = match(found_boundaries(clips, made.fps), list(made.boundaries))
        precision, recall, score = f1(sum(hits), false, hits.count(False))
        by_join = defaultdict(list)
        for join, hit in zip(made.joins, hits):
            by_join[join].append(hit)
        joins = " ".join(f"{j.replace('fade_', '')} {sum(h)}/{len(h)}" for j, h in sorted(by_join.items()))
        kept = [c for c in clips if not c.rejected]
        crossing = sum(not inside(c.ref.shot.frames, list(made.shots)) for c in kept)
        kept_s = sum(c.info.duration for c in kept)
        wall = {mode: statistics.median(t[0] for t in runs) for mode, runs in times.items()}
        cpu = {mode: statistics.median(t[1] for t in runs) for mode, runs in times.items()}
        real_tp = real_fp = real_fn = 0
        counts = []
        for path, (bounds, true_shots, fps) in real.items():
            _, out = timed(every_shot, path)
            hit, fp = match(found_boundaries(out, fps), bounds)
            real_tp, real_fp, real_fn = real_tp + sum(hit), real_fp + fp, real_fn + hit.count(False)
            counts.append(f"{len(out)}/{len(true_shots)}")
        real_cell = f"{f1(real_tp, real_fp, real_fn)[2]:.3f} ({' '.join(counts)})" if real else "-"
        print(f"{detector:11s} {score:11.3f} {precision:5.2f} {recall:5.2f} | {joins:42s} | {len(clips):4d}/"
              f"{len(shots):<4d} {kept_s:7.1f} {kept_s / kept_truth(made, shots):6.1%} {crossing:8d} | "
              f"{cpu['split']:7.1f} {cpu['reject']:8.1f} {cpu['split'] / cpu['reject']:5.2f}x"
              f" ({wall['split'] / wall['reject']:4.2f}x) | {real_cell}")
    print(f"(kept s: seconds in kept shots; of true: against {kept_truth(made, shots):.1f} s of true long takes "
          f"that move; reject mode keeps 0 s of this video, as of any video with a cut. split s, reject s: CPU "
          f"seconds of the pass, which other users of the machine disturb less than wall seconds, whose ratio is "
          f"in brackets)")
    if args.memory:
        quarter = montage(work / "quarter.mp4", shots[: len(shots) // 4], size=(width, height))
        print("\npeak resident memory (MiB), each run in a fresh process:")
        for detector in args.detectors.split(","):
            kib = {(mode, name): peak(path, detector, mode) for mode in ("reject", "split")
                   for name, path in (("long", made.path), ("quarter", quarter.path))}
            print(f"  {detector:11s} split {kib['split', 'long'] / 1024:7.1f} reject {kib['reject', 'long'] / 1024:7.1f}"
                  f" ({kib['split', 'long'] / kib['reject', 'long']:.2f}x); split on the long video against a quarter"
                  f" of it: {kib['split', 'long'] / kib['split', 'quarter']:.2f}x")


if __name__ == "__main__":
    main()
