"""Peak memory of a threshold rebuild (``rebuild.rethreshold``) over N vs 8N stored rows: it must not grow with
the row count (target <= 1.2x); holding every row, as it once did, grows with it.

Each row carries what makes rows heavy: a 512-float CLIP embedding and a few KB of provenance. The outputs are
written straight into shards (no decode); each rethreshold (``motion.min_score`` 20 -> 21) runs in a fresh
subprocess that reports its peak resident set (``VmHWM``) once the rows are written and after the rebuild; the
ratio of the two rebuilds' peaks is printed.

    python bench/rebuild_memory.py [--small 2000] [--factor 8]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys
from pathlib import Path

import numpy as np
import pyarrow as pa

from lvd2m_builder.config import preset
from lvd2m_builder.store.manifest import Manifest
from lvd2m_builder.run.rebuild import rethreshold
from lvd2m_builder.store.reshard import Sizing, stage_and_swap
from lvd2m_builder.schema import REJECT_FEATURES, ROW_FEATURES


def rows(count, settings):
    rng = np.random.default_rng(0)
    provenance = json.dumps({"settings": settings, "note": "x" * 2000})
    for start in range(0, count, 500):
        batch = []
        for i in range(start, min(count, start + 500)):
            row = dict.fromkeys(ROW_FEATURES)
            row.update(key=f"k{i:07d}", video_id=f"v{i}", url=f"/videos/v{i}.mp4", duration=12.0, fps=24.0,
                       width=640, height=360, num_frames=288, cut_times=[], flow_score=20.0 + (i % 7) * 0.5,
                       flow_backend="dis", segments=[], provenance=provenance,
                       clip_embedding=rng.standard_normal(512).astype(np.float16).tolist())
            batch.append(row)
        yield pa.RecordBatch.from_pylist(batch, schema=ROW_FEATURES.arrow_schema)


def peak_kib():
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    return int(status["VmHWM"].split()[0])


out, count = Path(sys.argv[1]), int(sys.argv[2])
settings = preset("paper").to_dict()
stage_and_swap(out, settings, (rows(count, settings), count), (iter([]), 0), Sizing(num_shards=max(1, count // 2000)))
before = peak_kib()
new = preset("paper").replace({"motion.min_score": 21.0}).to_dict()
rethreshold(out, Manifest.load(out), new, [])
print(json.dumps({"before_kib": before, "after_kib": peak_kib()}))
"""


def measure(work: Path, count: int) -> dict:
    out = work / f"out-{count}"
    out.mkdir(parents=True)
    done = subprocess.run([sys.executable, "-c", CHILD, str(out), str(count)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--factor", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lvd2m-bench-rebuild-"))
    try:
        peaks = []
        for count in (args.small, args.small * args.factor):
            figures = measure(work, count)
            peaks.append(figures["after_kib"] / 1024)
            print(f"{count:7d} rows: peak RSS {figures['before_kib'] / 1024:7.1f} MiB once written, "
                  f"{peaks[-1]:7.1f} MiB after the rebuild")
        ratio = peaks[1] / peaks[0]
        print(f"peak RSS of the rebuild, {args.factor}x the rows / 1x = {ratio:.3f}x  "
              f"(target <= 1.2x: {'ok' if ratio <= 1.2 else 'FAIL'})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
