"""Benchmark ``lvd2m import`` on synthetic release-style CSVs: rows/s and memory against a pandas baseline.

The baseline is what the release's own script does (``pandas.read_csv`` of the whole file, then
``ast.literal_eval`` of every span); for scale, "pandas + Parquet" also writes that frame as one zstd Parquet
file (``DataFrame.to_parquet``), the nearest pandas comes to the import's job (which also checks every value,
maps the rows onto the schema, splits the segment captions, writes files with content-defined chunking, and
the card). Each measurement runs in a fresh process, with its modules imported before the clock starts (every
side; the import's as ``lvd2m`` sets up its process, jemalloc as Arrow's pool before pyarrow loads), so its
peak RSS is its own; rounds rotate which side runs first and medians are printed. CPU seconds count
every thread (the import reads, maps, tallies, writes and encodes row groups on five, and makes the card on a
sixth; pandas uses one); wall seconds are what a user waits. "grown" is the peak RSS less the RSS after the
imports: for the import, the blocks in flight at each step (12 MB of CSV a block; the queues between the steps
fill as a long import goes on, so this grows up to a bound, not with the rows), 44 bytes per row of digests,
positions and the card's numbers kept to the end, working memory for the sorts at the end and the pages jemalloc
keeps (measured: ~260-290 MiB at 100k rows, ~710-760 MiB at 1M); for pandas, the table.

    python bench/import_release.py --rows 100000 1000000 [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import shutil
import statistics
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
    if kind == "import":
        from lvd2m_builder.memory_pool import prefer_jemalloc

        prefer_jemalloc()  # as ``lvd2m`` starts: Arrow's own pool chosen before pyarrow loads
        import jinja2  # noqa: F401  (the card's template engine, which huggingface_hub imports at the first card)
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure  # noqa: F401  (the card's plots load matplotlib: an import, not work)

        import lvd2m_builder.card.plots  # noqa: F401
        from lvd2m_builder.release.importer import import_tables
    else:
        import ast

        import pandas as pd
        import pyarrow.parquet  # noqa: F401  (to_parquet's engine)
    ready = _rss_mib()
    cpu, wall = time.process_time(), time.perf_counter()
    if kind == "import":
        rows = import_tables([table], out, progress=False)["clips"]
    else:
        frame = pd.read_csv(table)
        frame["span"] = frame["span"].apply(ast.literal_eval)
        rows = len(frame)
        if kind == "pandas-parquet":
            Path(out).mkdir(parents=True, exist_ok=True)
            frame.to_parquet(Path(out) / "table.parquet", compression="zstd")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"kind": kind, "rows": rows, "cpu": cpu, "wall": wall, "peak_mib": peak, "grown_mib": peak - ready}))


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _measure(kind: str, table: Path, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run([sys.executable, __file__, "--child", kind, str(table), str(out)], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="lvd2m-bench-") as tmp:
        print(f"{'rows':>8} {'MB':>6} | {'import rows/s':>13} {'cpu s':>6} {'peak':>6} {'grown':>6} | "
              f"{'pandas rows/s':>13} {'cpu s':>6} {'peak':>6} {'grown':>6} | {'wall x':>6} {'cpu x':>6} | "
              f"{'+Parquet rows/s':>15} {'wall x':>6} {'cpu x':>6}  (MiB)")
        for rows in args.rows:
            table = Path(tmp) / f"ytb_{rows}.csv"
            make_table(table, rows)
            kinds = ["import", "pandas", "pandas-parquet"]
            runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
            for round_ in range(args.repeat):
                for kind in kinds[round_ % 3:] + kinds[: round_ % 3]:
                    runs[kind].append(_measure(kind, table, Path(tmp) / f"out_{rows}"))
            ours, base, job = ({k: statistics.median(r[k] for r in runs[kind]) for k in runs[kind][0] if k != "kind"}
                               for kind in kinds)
            print(f"{rows:>8} {table.stat().st_size / 1e6:>6.0f} | {rows / ours['wall']:>13.0f} {ours['cpu']:>6.1f} "
                  f"{ours['peak_mib']:>6.0f} {ours['grown_mib']:>6.0f} | {rows / base['wall']:>13.0f} {base['cpu']:>6.1f} "
                  f"{base['peak_mib']:>6.0f} {base['grown_mib']:>6.0f} | {base['wall'] / ours['wall']:>6.2f} "
                  f"{base['cpu'] / ours['cpu']:>6.2f} | {rows / job['wall']:>15.0f} {job['wall'] / ours['wall']:>6.2f} "
                  f"{job['cpu'] / ours['cpu']:>6.2f}")


if __name__ == "__main__":
    main()
