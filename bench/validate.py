"""Cost of ``lvd2m validate`` against just reading the same shards, and of the card's statistics pass.

(a) read: every published Parquet file streamed with pyarrow and turned into Python rows (what any row check must
    at least do);
(b) validate: card, configs, features, keys, per-row rules from each row's provenance, caption repeats;
(c) card statistics: the columns the card needs, summed into its tables (no plots).
Rounds alternate the order of the three; medians of CPU seconds (the robust figure on a shared machine) and wall
seconds, and the ratios (b)/(a) and (c)/(a), all measured in this one run. The provenance is written as a build
writes it (``records.provenance``: ``json.dumps(sort_keys=True)``, the run's settings and each row's own timings).

    python bench/validate.py [--rows 100000] [--shards 8] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from lvd2m_builder.card.stats import summarize
from lvd2m_builder.card.write import render_card
from lvd2m_builder.config import BuildConfig
from lvd2m_builder.run.stats import ShardStats, merge
from lvd2m_builder.schema import REJECT_FEATURES, ROW_FEATURES
from lvd2m_builder.store.parquet import ParquetShardWriter
from lvd2m_builder.validate.run import validate


def _write(out: Path, rows: int, shards: int) -> None:
    settings = BuildConfig().to_dict()
    models = {"segments": "vlm", "merge": "llm"}

    def provenance(i: int) -> str:  # as records.provenance writes it: the same settings, each row's own timings
        return json.dumps({"lvd2m_builder": "bench", "settings": settings, "models": models,
                           "cut_scores": [round(12.5 + i % 97 / 100, 2)], "seconds": {"captions": 0.8 + i % 1009 / 1e3}},
                          sort_keys=True)

    per = rows // shards
    for s in range(shards):
        (out / "data").mkdir(parents=True, exist_ok=True)
        (out / "rejects").mkdir(parents=True, exist_ok=True)
        with ParquetShardWriter(out / f"data/train-{s:05d}-of-{shards:05d}.parquet", ROW_FEATURES) as w:
            for i in range(s * per, (s + 1) * per):
                d = 10.5 + i % 60
                w.write({"key": f"k{i}", "source_key": f"k{i}", "video_id": f"v{i}", "url": f"/v/{i}.mp4", "dataset_src": "bench",
                         "span_start": 0.0, "span_end": d, "duration": d, "fps": 24.0, "width": 1280, "height": 720,
                         "num_frames": int(d * 24), "cut_times": [], "flow_score": 20.0 + i % 50, "flow_backend": "dis",
                         "semantic": None, "segments": [{"start": 0.0, "end": d, "caption": f"segment {i}"}],
                         "raw_caption": f"Caption 1: segment {i}", "refined_caption": f"clip {i} " + "word " * 80,
                         "rewritten_caption": None, "orig_caption": None, "clip_embedding": None, "clip_score": None,
                         "segment_clip_scores": None, "provenance": provenance(i)})
            w.finalize()
        with ParquetShardWriter(out / f"rejects/train-{s:05d}-of-{shards:05d}.parquet", REJECT_FEATURES) as w:
            w.finalize()
    stats = merge([ShardStats(clips=per * shards, accepted=per * shards)])
    (out / "stats.json").write_text(json.dumps(stats))
    render_card(stats, settings).save(out / "README.md")


def _timed(fn) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def _read(out: Path) -> int:
    n = 0
    for path in sorted(out.glob("*/*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1000):
            n += len(batch.to_pylist())
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lvd2m"
        _write(out, args.rows, args.shards)
        rows = args.rows // args.shards * args.shards
        reports = []
        runs = {"read": lambda: _read(out), "validate": lambda: reports.append(validate(str(out))),
                "card": lambda: summarize(out)}
        seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for round_ in range(args.repeat):
            names = list(runs)
            for name in names[round_ % 3:] + names[: round_ % 3]:
                seconds[name].append(_timed(runs[name]))
        assert all(r.ok for r in reports), reports[0].text()
        cpu = {name: statistics.median(c for c, _ in values) for name, values in seconds.items()}
        wall = {name: statistics.median(w for _, w in values) for name, values in seconds.items()}
        print(f"rows: {rows} in {args.shards} shards; medians of {args.repeat} rounds (CPU s | wall s)")
        for label, name in (("(a) read", "read"), ("(b) validate", "validate"), ("(c) card", "card")):
            ratio = "" if name == "read" else (f"  {label[:3]}/(a) = {cpu[name] / cpu['read']:.2f}x CPU, "
                                               f"{wall[name] / wall['read']:.2f}x wall")
            print(f"{label:13s} {cpu[name]:6.2f} | {wall[name]:6.2f}  {rows / cpu[name]:9.0f} rows/CPU-s{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
