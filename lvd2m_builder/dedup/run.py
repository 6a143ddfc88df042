"""``lvd2m dedup OUT`` (and the end of ``lvd2m build`` with dedup on): move near-duplicate rows to the rejects.

Reads the key, embedding, duration and size columns of every accepted shard, searches the whole dataset at once
(embed/dedup.py), and rewrites only the shards that hold a duplicate: the row leaves its train file and joins
the rejects file of the same shard with stage ``dedup`` and a reason naming the key it duplicates. Which row is
kept is fixed by the rows alone: the longest clip, then the one with more pixels, then the smallest key.

Each file is rewritten under a temporary name and renamed (the rejects first, so a crash can leave a row in
both files, never in neither; a rerun finishes the job). The manifest's per-shard counts are recomputed from
the files, so a rerun, or a crash between files and manifest, leaves stats.json right.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Features

from lvd2m_builder.config import DedupConfig, from_dict
from lvd2m_builder.dedup.search import Duplicate, find_duplicates
from lvd2m_builder.errors import DedupError, OutputError
from lvd2m_builder.schema import REJECT_FEATURES, REJECTS_DIR, TRAIN_DIR, TRAIN_PATTERN
from lvd2m_builder.store.atomic import write_json_atomic
from lvd2m_builder.store.manifest import Manifest
from lvd2m_builder.store.shards import AtomicArrow, read_table

log = logging.getLogger(__name__)

STAGE = "dedup"
REASON_CLASS = f"{STAGE}: near-duplicate of a kept clip"
_INDEX_COLUMNS = ["key", "clip_embedding", "duration", "width", "height"]


@dataclass
class _Index:
    """One entry per accepted row with an embedding: where it lies and what decides whether it is kept."""

    keys: list[str] = field(default_factory=list)
    shards: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    pixels: list[int] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    total: int = 0  # accepted rows, with or without an embedding


def _index(out: Path) -> _Index:
    index = _Index()
    for path in sorted(out.glob(TRAIN_PATTERN)):
        rel = f"{TRAIN_DIR}/{path.name}"
        table = read_table(path)
        index.total += table.num_rows
        if "clip_embedding" not in table.column_names:
            continue
        table = table.select(_INDEX_COLUMNS)
        column = table.column("clip_embedding")
        valid = np.flatnonzero(column.is_valid().to_numpy(zero_copy_only=False))
        if not len(valid):
            continue
        chosen = table.take(valid)
        embeddings = chosen.column("clip_embedding")
        lengths = set(pc.list_value_length(embeddings).to_pylist())
        if len(lengths) != 1 or 0 in lengths:
            raise DedupError(str(path), f"clip embeddings of lengths {sorted(lengths)} in one shard")
        dim = lengths.pop()
        flat = pc.list_flatten(embeddings).to_numpy(zero_copy_only=False)
        index.vectors.append(flat.reshape(-1, dim).astype(np.float32))
        index.keys += chosen.column("key").to_pylist()
        index.shards += [rel] * len(valid)
        index.rows += valid.tolist()
        index.durations += [d or 0.0 for d in chosen.column("duration").to_pylist()]
        sizes = zip(chosen.column("width").to_pylist(), chosen.column("height").to_pylist())
        index.pixels += [(w or 0) * (h or 0) for w, h in sizes]
    return index


def dedup_dataset(out: str | Path, config: DedupConfig, manifest: Optional[Manifest] = None) -> dict[str, Any]:
    """Move near-duplicates in ``out`` to the rejects; returns a summary. Saves ``manifest`` (loaded if None)."""
    out = Path(out)
    manifest = manifest or Manifest.load(out)
    started = time.perf_counter()
    index = _index(out)
    dims = {v.shape[1] for v in index.vectors}
    if len(dims) > 1:
        raise DedupError(str(out), f"clip embeddings of dimensions {sorted(dims)}: rows from different models")
    duplicates: list[Duplicate] = []
    if index.keys:
        vectors = np.concatenate(index.vectors)
        order = np.lexsort((np.array(index.keys), -np.array(index.pixels), -np.array(index.durations)))
        duplicates = find_duplicates(vectors, order, config.threshold, config.block, _device(config.device))
    search_s = time.perf_counter() - started
    moves: dict[str, dict[int, str]] = {}
    for dup in duplicates:
        reason = f"near-duplicate of {index.keys[dup.kept]} (cosine {dup.similarity:.4f} >= {config.threshold:g})"
        moves.setdefault(index.shards[dup.index], {})[index.rows[dup.index]] = reason
    pairs = _pairs(out, manifest)
    for rel, reasons in sorted(moves.items()):
        _move(out, rel, pairs.get(rel) or _rejects_for(rel), reasons)
    if manifest is not None:
        _reconcile(out, manifest, search_s)
        manifest.save(out)
    summary = {"rows": index.total, "with_embedding": len(index.keys), "duplicates": len(duplicates),
               "shards_rewritten": len(moves), "threshold": config.threshold, "search_seconds": round(search_s, 3)}
    log.info("dedup %s: %s", out, summary)
    return summary


def dedup_output(out: str | Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """``lvd2m dedup OUT``: the build's dedup settings (else the defaults) with ``overrides``; then stats.json and
    the card are written again."""
    from lvd2m_builder.card.write import write_card
    from lvd2m_builder.run.stats import merge

    out = Path(out)
    manifest = Manifest.load(out)
    if manifest is None:
        raise OutputError(str(out), "no _manifest.json: not the output of lvd2m build or lvd2m import")
    section = {**(manifest.settings.get("dedup") or {}), **overrides, "enabled": True}
    summary = dedup_dataset(out, from_dict(section, DedupConfig, "dedup."), manifest)
    stats = merge(manifest.stats())
    write_json_atomic(out / "stats.json", stats)
    write_card(out, stats, manifest.settings)
    return summary


def _device(device: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def _pairs(out: Path, manifest: Optional[Manifest]) -> dict[str, str]:
    """train file -> rejects file of the same shard, from the manifest."""
    entries = manifest.shards.values() if manifest is not None else []
    return {e["train"]: e["rejects"] for e in entries if e.get("train") and e.get("rejects")}


def _rejects_for(train_rel: str) -> str:
    name = Path(train_rel).name
    return f"{REJECTS_DIR}/rejects-{name[len('train-'):] if name.startswith('train-') else name}"


def _move(out: Path, train_rel: str, rejects_rel: str, reasons: dict[int, str]) -> None:
    """Rewrite one shard: the rows at ``reasons``' positions leave the train file for the rejects file."""
    table = read_table(out / train_rel)
    leaving = np.zeros(table.num_rows, dtype=bool)
    leaving[list(reasons)] = True
    moved = []
    for row_index, row in zip(np.flatnonzero(leaving).tolist(), table.filter(pa.array(leaving)).to_pylist()):
        reject = {name: row.get(name) for name in REJECT_FEATURES if name not in ("stage", "reason", "provenance")}
        moved.append({**reject, "stage": STAGE, "reason": reasons[row_index], "provenance": row.get("provenance")})
    keys = pa.array([row["key"] for row in moved], pa.string())
    rejects_path = out / rejects_rel
    if rejects_path.exists():
        old = read_table(rejects_path)
        old = old.filter(pc.invert(pc.is_in(old.column("key"), value_set=keys)))  # a rerun after a crash
        features = Features.from_arrow_schema(old.schema)
    else:
        old, features = None, REJECT_FEATURES
    rejects = AtomicArrow(rejects_path, features)
    train = AtomicArrow(out / train_rel, Features.from_arrow_schema(table.schema))
    try:
        if old is not None:
            rejects.writer.write_table(old)
        for row in moved:
            rejects.write(row)
        train.writer.write_table(table.filter(pa.array(~leaving)))
        rejects.commit()
        train.commit()
    except BaseException:
        rejects.abort()
        train.abort()
        raise
    log.info("%s: %d near-duplicate(s) moved to %s", train_rel, len(moved), rejects_rel)


def _reconcile(out: Path, manifest: Manifest, search_s: float) -> None:
    """Each shard's accepted and dedup counts as its files now hold them; the search time on the first shard."""
    entries = sorted(manifest.shards.values(), key=lambda e: e.get("index", 0))
    for entry in entries:
        if not (entry.get("train") and entry.get("rejects")) or not (out / entry["train"]).exists():
            continue
        stats = entry["stats"]
        dropped = 0
        if (out / entry["rejects"]).exists():
            stages = read_table(out / entry["rejects"], ["stage"]).column("stage")
            dropped = int(pc.sum(pc.equal(stages, STAGE)).as_py() or 0)
        stats["accepted"] = read_table(out / entry["train"], ["key"]).num_rows
        by_stage, by_reason = stats.setdefault("rejected_by_stage", {}), stats.setdefault("rejected_by_reason", {})
        if dropped:
            by_stage[STAGE], by_reason[REASON_CLASS] = dropped, dropped
        else:
            by_stage.pop(STAGE, None)
            by_reason.pop(REASON_CLASS, None)
    if entries:
        entries[0]["stats"].setdefault("seconds", {})[STAGE] = round(search_s, 4)
