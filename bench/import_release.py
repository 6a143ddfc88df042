"""Benchmark ``lvd2m import`` on synthetic release-style CSVs: rows/s and peak memory against a pandas baseline.

The baseline is what the release's own script does (``pandas.read_csv`` of the whole file, then
``ast.literal_eval`` of every span). Each measurement runs in a fresh process so peak RSS is its own. Memory
should stay flat in the row count for the import (apart from 24 bytes per row of digests and positions) and
grow for pandas. Peak RSS counts the memory-mapped shard pages the card's summary reads at the end.

    .venv/bin/python bench/import_release.py --rows 20000 80000
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = ["key", "video_id", "url", "dataset_src", "orig_caption", "raw_caption", "refined_caption",
           "rewritten_caption", "total score", "span", "video_time", "orig_span", "scene_cut"]
WORDS = "the a dog cat runs jumps camera pans across field river city street person holds looks moves".split()


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def make_table(path: Path, rows: int, seed: int = 0) -> None:
    """Rows shaped like ytb_600k_720p.csv: three caption columns of release-like length, a span, a score."""
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for i in range(rows):
            start = rng.uniform(0, 600)
            length = rng.uniform(10, 60)
            raw = " ".join(f"Caption {k + 1}: {_sentence(rng, 60)}" for k in range(int(length // 30) + 1))
            writer.writerow([f"v{i // 3}.{i % 3}_0", f"v{i // 3}", f"https://www.youtube.com/watch?v=v{i // 3}",
                             "panda70m", _sentence(rng, 10), raw, _sentence(rng, 90), _sentence(rng, 20),
                             f"{rng.uniform(20, 80):.3f}",
                             str([_clock(start), _clock(start + length)]), f"{length:.3f}", "", ""])


def _clock(seconds: float) -> str:
    return f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}"


def _child(kind: str, table: str, out: str) -> None:
    started = time.perf_counter()
    if kind == "import":
        from lvd2m_builder.release.importer import import_tables

        rows = import_tables([table], out, progress=False)["clips"]
    else:
        import ast

        import pandas as pd

        frame = pd.read_csv(table)
        frame["span"] = frame["span"].apply(ast.literal_eval)
        rows = len(frame)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"kind": kind, "rows": rows, "seconds": seconds, "peak_mib": peak_mib}))


def _measure(kind: str, table: Path, out: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", kind, str(table), str(out)], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 80_000])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="lvd2m-bench-") as tmp:
        print(f"{'rows':>8} {'MB':>7} {'import rows/s':>14} {'import MiB':>11} {'pandas rows/s':>14} "
              f"{'pandas MiB':>11} {'speed x':>8} {'memory x':>9}")
        for rows in args.rows:
            table = Path(tmp) / f"ytb_{rows}.csv"
            make_table(table, rows)
            ours = _measure("import", table, Path(tmp) / f"out_{rows}")
            base = _measure("pandas", table, Path(tmp) / "unused")
            print(f"{rows:>8} {table.stat().st_size / 1e6:>7.1f} {rows / ours['seconds']:>14.0f} "
                  f"{ours['peak_mib']:>11.0f} {rows / base['seconds']:>14.0f} {base['peak_mib']:>11.0f} "
                  f"{base['seconds'] / ours['seconds']:>8.2f} {base['peak_mib'] / ours['peak_mib']:>9.2f}")


if __name__ == "__main__":
    main()
