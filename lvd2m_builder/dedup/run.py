"""``lvd2m dedup OUT`` (and the end of ``lvd2m build`` with dedup on): move near-duplicate rows to the rejects.

Reads the key, embedding, duration and size columns of every accepted file (published or work unit; only those
columns, from Parquet), searches the whole dataset at once (embed/dedup.py), and publishes the rows again
(``reshard.compact``): a duplicate leaves the train files for the rejects with stage ``dedup`` and a reason naming
the key it duplicates. Which row is kept is fixed by the rows alone: the longest clip, then the one with more
pixels, then the smallest key. The rewrite is all or nothing (staged files, swapped in with the manifest), so a
crash leaves the old rows, and a rerun finds only what is still duplicated.
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

from lvd2m_builder.config import DedupConfig, from_dict
from lvd2m_builder.dedup.search import Duplicate, find_duplicates
from lvd2m_builder.errors import DedupError, OutputError
from lvd2m_builder.run.stats import combine
from lvd2m_builder.store.atomic import write_json_atomic
from lvd2m_builder.store.manifest import Manifest
from lvd2m_builder.store.reshard import compact
from lvd2m_builder.store.shards import read_table

log = logging.getLogger(__name__)

STAGE = "dedup"
REASON_CLASS = f"{STAGE}: near-duplicate of a kept clip"
_INDEX_COLUMNS = ["key", "clip_embedding", "duration", "width", "height"]


@dataclass
class _Index:
    """One entry per accepted row with an embedding: its key and what decides whether it is kept."""

    keys: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    pixels: list[int] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    total: int = 0  # accepted rows, with or without an embedding


def _index(out: Path, files: list[str]) -> _Index:
    index = _Index()
    for rel in files:
        path = out / rel
        table = read_table(path, ["key"])
        index.total += table.num_rows
        try:
            table = read_table(path, _INDEX_COLUMNS)
        except (KeyError, pa.ArrowInvalid):  # a file from before the embed stage existed
            continue
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
        index.durations += [d or 0.0 for d in chosen.column("duration").to_pylist()]
        sizes = zip(chosen.column("width").to_pylist(), chosen.column("height").to_pylist())
        index.pixels += [(w or 0) * (h or 0) for w, h in sizes]
    return index


def dedup_dataset(out: str | Path, config: DedupConfig, manifest: Optional[Manifest] = None,
                  max_bytes: Optional[int] = None) -> dict[str, Any]:
    """Move near-duplicates in ``out`` to the rejects and publish the rows (compaction, with ``max_bytes`` files);
    returns a summary. ``manifest``: ``out``'s, loaded if None."""
    out = Path(out)
    manifest = manifest or Manifest.load(out)
    if manifest is None:
        raise OutputError(str(out), "no _manifest.json: not the output of lvd2m build or lvd2m import")
    started = time.perf_counter()
    index = _index(out, manifest.kind_files("train"))
    dims = {v.shape[1] for v in index.vectors}
    if len(dims) > 1:
        raise DedupError(str(out), f"clip embeddings of dimensions {sorted(dims)}: rows from different models")
    duplicates: list[Duplicate] = []
    if index.keys:
        vectors = np.concatenate(index.vectors)
        order = np.lexsort((np.array(index.keys), -np.array(index.pixels), -np.array(index.durations)))
        duplicates = find_duplicates(vectors, order, config.threshold, config.block, _device(config.device))
    search_s = time.perf_counter() - started
    moves = {index.keys[dup.index]: (STAGE, f"near-duplicate of {index.keys[dup.kept]} (cosine "
                                            f"{dup.similarity:.4f} >= {config.threshold:g})") for dup in duplicates}
    stats = combine(manifest.stats())
    if moves:
        stats.accepted -= len(moves)
        stats.rejected_by_stage[STAGE] = stats.rejected_by_stage.get(STAGE, 0) + len(moves)
        stats.rejected_by_reason[REASON_CLASS] = stats.rejected_by_reason.get(REASON_CLASS, 0) + len(moves)
        stats.seconds[STAGE] = round(search_s, 4)
    compact(out, manifest, max_bytes, moves, stats)
    summary = {"rows": index.total, "with_embedding": len(index.keys), "duplicates": len(duplicates),
               "threshold": config.threshold, "search_seconds": round(search_s, 3)}
    log.info("dedup %s: %s", out, summary)
    return summary


def dedup_output(out: str | Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """``lvd2m dedup OUT``: the build's dedup settings (else the defaults) with ``overrides``; then stats.json and
    the card are written again."""
    from lvd2m_builder.card.write import write_card
    from lvd2m_builder.materialize.freshness import materialize_section
    from lvd2m_builder.run.stats import merge
    from lvd2m_builder.store.adopt import open_manifest
    from lvd2m_builder.store.output_dir import check_card

    out = Path(out)
    manifest = open_manifest(out) if out.is_dir() else None
    if manifest is None:
        raise OutputError(str(out), "no _manifest.json: not the output of lvd2m build or lvd2m import")
    check_card(out)
    section = {**(manifest.settings.get("dedup") or {}), **overrides, "enabled": True}
    summary = dedup_dataset(out, from_dict(section, DedupConfig, "dedup."), manifest)
    stats, materialized = merge(manifest.stats()), materialize_section(out)
    write_json_atomic(out / "stats.json", {**stats, "materialize": materialized} if materialized else stats)
    write_card(out, stats, manifest.settings)
    return summary


def _device(device: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
