"""Peak memory of a build over 100 vs 1,000 clips: a build must not grow with its input (target <= 1.2x).

Clips are tiny (64x48, 11 s pans, a few distinct ones hard-linked under many names: each name is its own clip
and key). Each build runs in a fresh subprocess (inline, ``workers=1``, models off) that reports its own peak
resident set (``VmHWM``); the ratio of the two peaks is printed. ``--workers N`` runs the process pool instead
and adds the largest worker's peak (``RUSAGE_CHILDREN``).

    python bench/memory.py [--small 100] [--large 1000] [--workers 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lvd2m_builder.testing import samples

CHILD = r"""
import json, resource, sys
from lvd2m_builder.run.build import build
from lvd2m_builder.config import preset

inputs, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = preset("paper").replace({"semantic.enabled": False, "captions.enabled": False, "workers": workers})
stats = build([inputs], out, config, overwrite=True, progress=False)
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({"clips": stats["clips"], "accepted": stats["accepted"],
                  "self_kib": int(status["VmHWM"].split()[0]),
                  "children_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def make_clips(directory: Path, count: int, distinct: int = 4) -> Path:
    """``count`` clips under ``directory/N``: ``distinct`` real pans (different speeds), hard-linked round robin."""
    sources = directory / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    originals = []
    for i in range(distinct):
        path = sources / f"pan{i}.mp4"
        if not path.exists():
            samples.pan(path, seconds=11.0, px_per_frame=1 + i, size=(64, 48))
        originals.append(path)
    clips = directory / str(count)
    clips.mkdir(exist_ok=True)
    for i in range(count):
        target = clips / f"clip{i:05d}.mp4"
        if not target.exists():
            os.link(originals[i % distinct], target)
    return clips


def measure(clips: Path, out: Path, workers: int) -> dict:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CHILD, str(clips), str(out), str(workers)],
                            capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["seconds"] = time.perf_counter() - started
    figures["peak_mib"] = max(figures["self_kib"], figures["children_kib"] if workers > 1 else 0) / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--keep", help="work directory to keep (clips are reused); default: a temporary one")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="lvd2m-bench-memory-"))
    try:
        rows = []
        for count in (args.small, args.large):
            figures = measure(make_clips(work, count), work / f"out-{count}", args.workers)
            rows.append(figures)
            print(f"{figures['clips']:5d} clips ({figures['accepted']} accepted): peak RSS {figures['peak_mib']:7.1f} MiB"
                  f"  (driver {figures['self_kib'] / 1024:.1f} MiB, largest worker "
                  f"{figures['children_kib'] / 1024 if args.workers > 1 else 0:.1f} MiB)  {figures['seconds']:.0f} s")
        ratio = rows[1]["peak_mib"] / rows[0]["peak_mib"]
        print(f"peak RSS {args.large} / {args.small} clips = {ratio:.3f}x  (target <= 1.2x: {'ok' if ratio <= 1.2 else 'FAIL'})")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
