"""``lvd2m reshard``: rewrite an output's shards to N files (or files under a size), all or nothing.

The new shards are written in full beside the old ones (``data.reshard/``, ``rejects.reshard/`` and
``_manifest.reshard.json``); then each directory is swapped in by two renames and the manifest last. A reshard
killed at any point is finished or rolled back by ``recover`` (which every build and reshard runs first), so a
reader never sees old and new rows together, and the card and ``validate`` stay green.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
from pathlib import Path
from typing import Iterator, Optional

import pyarrow as pa
from datasets.arrow_writer import ArrowWriter

from lvd2m_builder.card.write import write_card
from lvd2m_builder.errors import ConfigError, OutputError
from lvd2m_builder.run.stats import ShardStats, merge
from lvd2m_builder.schema import REJECT_FEATURES, REJECTS_DIR, ROW_FEATURES, TRAIN_DIR
from lvd2m_builder.store.atomic import fsync_dir, write_json_atomic
from lvd2m_builder.store.manifest import MANIFEST, Manifest, settings_hash
from lvd2m_builder.store.shards import iter_batches

log = logging.getLogger(__name__)

STAGED = ".reshard"
OLD = ".old"
STAGED_MANIFEST = "_manifest.reshard.json"
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(text: str) -> int:
    """``500MB`` -> 500_000_000; ``1.5GiB`` -> bytes. Decimal units as the Hub writes them, binary with ``i``."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in _UNITS:
        raise ConfigError("--max-shard-size", text, "expected a size such as 500MB or 2GiB")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def recover(out: Path) -> None:
    """Finish a reshard whose staged manifest was written, or drop one that was not; no-op otherwise."""
    staged_manifest = out / STAGED_MANIFEST
    for directory in (TRAIN_DIR, REJECTS_DIR):
        staged, current, old = out / f"{directory}{STAGED}", out / directory, out / f"{directory}{OLD}"
        if not staged_manifest.exists():
            shutil.rmtree(staged, ignore_errors=True)  # killed while writing: the old shards stand
            continue
        if staged.exists():
            if current.exists():
                current.rename(old)
            staged.rename(current)
    if staged_manifest.exists():
        staged_manifest.replace(out / MANIFEST)
    fsync_dir(out)  # the swap is durable before the old set goes
    for directory in (TRAIN_DIR, REJECTS_DIR):
        shutil.rmtree(out / f"{directory}{OLD}", ignore_errors=True)


def _batches(out: Path, files: list[str]) -> Iterator[pa.RecordBatch]:
    return iter_batches(out / rel for rel in files)


def _count(out: Path, files: list[str]) -> int:
    return sum(batch.num_rows for batch in _batches(out, files))


def _write_series(out: Path, directory: str, prefix: str, batches: Iterator[pa.RecordBatch], total: int,
                  features, num_shards: int) -> list[str]:
    """Stream ``total`` rows from ``batches`` into ``num_shards`` files of near-equal row counts, staged."""
    quotas = [total // num_shards + (i < total % num_shards) for i in range(num_shards)]
    names = [f"{directory}/{prefix}-{i:05d}-of-{num_shards:05d}.arrow" for i in range(num_shards)]
    staged = out / f"{directory}{STAGED}"
    staged.mkdir(parents=True, exist_ok=True)
    pending: Optional[pa.RecordBatch] = None
    for name, quota in zip(names, quotas):
        writer = ArrowWriter(features=features, path=str(staged / Path(name).name))
        while quota:
            if pending is None or pending.num_rows == 0:
                pending = next(batches)
                continue
            take = pending.slice(0, quota)
            writer.write_table(pa.Table.from_batches([take]))
            pending, quota = pending.slice(take.num_rows), quota - take.num_rows
        writer.finalize()
        writer.close()
    return names


def stage_and_swap(out: Path, settings: dict, train: tuple[Iterator[pa.RecordBatch], int],
                   rejects: tuple[Iterator[pa.RecordBatch], int], num_shards: int, wall_seconds: float = 0.0) -> Manifest:
    """Write the given rows as the output's new shards and swap them in all at once (see the module's doc)."""
    train_names = _write_series(out, TRAIN_DIR, "train", train[0], train[1], ROW_FEATURES, num_shards)
    reject_names = _write_series(out, REJECTS_DIR, "rejects", rejects[0], rejects[1], REJECT_FEATURES, num_shards)
    staged = Manifest(settings_hash(settings), settings)
    for index, (t, r) in enumerate(zip(train_names, reject_names)):
        stats = _stats_of(out, t, r)
        if index == 0:
            stats.wall_seconds = wall_seconds  # build time is not a property of rows: keep the total
        staged.shards[f"shard-{index:05d}"] = {"index": index, "train": t, "rejects": r, "stats": stats.to_dict()}
    write_json_atomic(out / STAGED_MANIFEST, {"settings_hash": staged.settings_hash, "settings": staged.settings,
                                              "shards": staged.shards})
    recover(out)
    return staged


def _stats_of(out: Path, train: str, rejects: str) -> ShardStats:
    """A shard's stats from its own rows: outcomes, and seconds from each row's provenance."""
    stats = ShardStats()
    staged = lambda rel: f"{Path(rel).parent}{STAGED}/{Path(rel).name}"
    for rel, rejected in ((train, False), (rejects, True)):
        for batch in _batches(out, [staged(rel)]):
            columns = ["provenance"] + (["stage", "reason"] if rejected else [])
            for row in batch.select(columns).to_pylist():
                stats.add_outcome(row.get("stage"), row.get("reason") or "")
                for stage, seconds in json.loads(row["provenance"] or "{}").get("seconds", {}).items():
                    stats.seconds[stage] = stats.seconds.get(stage, 0.0) + seconds
    return stats


def reshard(out: str | Path, num_shards: Optional[int] = None, max_shard_size: Optional[str] = None) -> dict:
    """Rewrite ``out``'s train and rejects shards; returns the (unchanged) merged stats."""
    out = Path(out)
    if (num_shards is None) == (max_shard_size is None):
        raise ConfigError("reshard", (num_shards, max_shard_size), "give exactly one of --num-shards, --max-shard-size")
    if num_shards is not None and num_shards < 1:
        raise ConfigError("--num-shards", num_shards, "must be >= 1")
    recover(out)
    manifest = Manifest.load(out)
    if manifest is None:
        raise OutputError(str(out), "no _manifest.json: not an lvd2m build or import output")
    entries = sorted(manifest.shards.values(), key=lambda e: e["index"])
    train_files, reject_files = [e["train"] for e in entries], [e["rejects"] for e in entries]
    if num_shards is None:
        size = sum((out / rel).stat().st_size for rel in train_files + reject_files)
        num_shards = max(1, math.ceil(size / parse_size(max_shard_size)))
    before = merge(manifest.stats())
    train = (_batches(out, train_files), _count(out, train_files))
    rejects = (_batches(out, reject_files), _count(out, reject_files))
    stage_and_swap(out, manifest.settings, train, rejects, num_shards, before["wall_seconds"])
    stats = json.loads((out / "stats.json").read_text()) if (out / "stats.json").exists() else before
    stats["shards"] = num_shards  # the rows, and so every count, are unchanged
    write_json_atomic(out / "stats.json", stats)
    write_card(out, stats, manifest.settings)
    log.info("%s: %d clips rewritten into %d train and %d rejects shards", out, stats["clips"], num_shards, num_shards)
    return stats
