"""Benchmark what is published: imported release rows as Parquet (this package) against the Arrow layout it had.

For each row count: bytes on disk and files of both layouts; ``lvd2m push --dry-run`` time against a loopback Hub
(ratio to ``lvd2m validate`` of the same output, the largest part of it); and streaming rows/s through
``load_dataset(OUT, streaming=True)``, full rows and 4 columns, row by row and in batches of 1,000, each against
``pyarrow.parquet`` reading the same files in the same form (Python rows, or Arrow batches). Target: batched
streaming at least 0.5x pyarrow. The Arrow layout's row-by-row streaming is the old baseline (it cannot project).
Batched figures are the best of three passes, row-by-row ones a single pass.

    .venv/bin/python bench/publish.py --rows 200000 1000000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the loopback Hub the tests use
from import_release import make_table  # noqa: E402  (bench/ is on sys.path when run as a script)

COLUMNS = ["key", "duration", "flow_score", "refined_caption"]
BATCH = 1000


def _arrow_layout(out: Path, arrow: Path, rows_per_file: int = 100_000) -> None:
    """The same rows as the Arrow stream files ``lvd2m import`` wrote before Parquet (100,000 rows a file)."""
    from datasets.arrow_writer import ArrowWriter

    from lvd2m_builder.schema import ROW_FEATURES
    from lvd2m_builder.store.shards import iter_batches

    files = sorted(out.glob("data/*.parquet"))
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    count = -(-total // rows_per_file)
    (arrow / "data").mkdir(parents=True)
    writer, index, written = None, 0, 0
    for batch in iter_batches(files):
        start = 0
        while start < batch.num_rows:
            if writer is None:
                writer = ArrowWriter(features=ROW_FEATURES, path=str(arrow / f"data/train-{index:05d}-of-{count:05d}.arrow"))
            take = min(batch.num_rows - start, rows_per_file - written)
            writer.write_batch(batch.slice(start, take).to_pydict())
            start, written = start + take, written + take
            if written == rows_per_file:
                writer.finalize()
                writer, index, written = None, index + 1, 0
    if writer is not None:
        writer.finalize()


def _rate(rows: Callable[[], Iterable], count: Callable[[object], int] = lambda _: 1, repeat: int = 1) -> float:
    """Items per second, the best of ``repeat`` passes (the machines are shared: the best pass is the least
    disturbed one, for the measurement and its baseline alike)."""
    best = 0.0
    for _ in range(repeat):
        started, n = time.perf_counter(), 0
        for item in rows():
            n += count(item)
        best = max(best, n / (time.perf_counter() - started))
    return best


def _pyarrow(files: list[Path], columns, python: bool) -> Iterable:
    for f in files:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=BATCH, columns=columns):
            yield batch.to_pylist() if python else batch


def _streaming(out: Path, columns) -> dict[str, float]:
    from datasets import load_dataset

    kwargs = {"columns": columns} if columns else {}
    files = sorted(out.glob("data/*.parquet"))

    def dataset():
        return load_dataset(str(out), streaming=True, **kwargs)["train"]

    return {
        "rows": _rate(dataset),
        "pyarrow rows": _rate(lambda: _pyarrow(files, columns, True), len, 3),
        "batches": _rate(lambda: dataset().iter(batch_size=BATCH), lambda b: len(next(iter(b.values()))), 3),
        "pyarrow batches": _rate(lambda: _pyarrow(files, columns, False), lambda b: b.num_rows, 3),
        "arrow batches": _rate(lambda: dataset().with_format("arrow").iter(batch_size=BATCH), lambda b: b.num_rows, 3),
    }


def _timed(argv: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lvd2m_builder.cli", *argv], check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def _dry_run(out: Path, tmp: Path) -> tuple[float, float]:
    from fakes.hub_server import HubServer

    with HubServer(tokens={"bench-token": "bench"}) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": "bench-token", "HF_HUB_DISABLE_XET": "1",
               "HF_HOME": str(tmp / "hf-home"), "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        validate = _timed(["validate", str(out)], env)
        dry = _timed(["push", str(out), "--repo-id", "bench/lvd2m", "--dry-run", "--keep-card"], env)
    return dry, validate


def _size(files: list[Path]) -> int:
    return sum(f.stat().st_size for f in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000])
    args = parser.parse_args()
    from lvd2m_builder.release.importer import import_tables

    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="lvd2m-publish-") as name:
            tmp = Path(name)
            table = tmp / "ytb_600k_720p.csv"
            make_table(table, rows)
            out = tmp / "parquet"
            started = time.perf_counter()
            import_tables([str(table)], out, progress=False)
            seconds = time.perf_counter() - started
            _arrow_layout(out, tmp / "arrow")
            parquet_files, arrow_files = sorted(out.glob("data/*.parquet")), sorted((tmp / "arrow").glob("data/*.arrow"))
            print(f"\n{rows} rows: import {rows / seconds:.0f} rows/s")
            print(f"  on disk: Arrow {_size(arrow_files) / 1e6:.1f} MB in {len(arrow_files)} files, Parquet "
                  f"{_size(parquet_files) / 1e6:.1f} MB in {len(parquet_files)} files: "
                  f"{_size(arrow_files) / _size(parquet_files):.2f}x smaller")
            dry, validate = _dry_run(out, tmp)
            print(f"  push --dry-run {dry:.1f} s, {dry / validate:.2f}x lvd2m validate ({validate:.1f} s)")
            from datasets import load_dataset

            arrow_rows = _rate(lambda: load_dataset("arrow", data_files=[str(f) for f in arrow_files],
                                                    streaming=True)["train"])
            for label, columns in (("full rows", None), (f"{len(COLUMNS)} columns", COLUMNS)):
                r = _streaming(out, columns)
                print(f"  {label}: rows {r['rows']:.0f}/s ({r['rows'] / r['pyarrow rows']:.2f}x pyarrow to_pylist "
                      f"{r['pyarrow rows']:.0f}/s; {r['rows'] / arrow_rows:.2f}x the Arrow layout's full rows "
                      f"{arrow_rows:.0f}/s); batches of {BATCH} {r['batches']:.0f} rows/s "
                      f"({r['batches'] / r['pyarrow rows']:.2f}x pyarrow to_pylist); Arrow batches "
                      f"{r['arrow batches']:.0f} rows/s ({r['arrow batches'] / r['pyarrow batches']:.2f}x pyarrow "
                      f"iter_batches {r['pyarrow batches']:.0f}/s)")
            try:
                list(load_dataset("arrow", data_files=[str(arrow_files[0])], streaming=True, columns=COLUMNS)["train"]
                     .take(1))
                print("  the Arrow layout projects columns too")
            except (TypeError, ValueError) as e:
                print(f"  the Arrow layout cannot project columns: {type(e).__name__}: {str(e)[:100]}")


if __name__ == "__main__":
    main()
