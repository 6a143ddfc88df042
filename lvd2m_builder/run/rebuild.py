"""Rebuild after a settings change, redoing only what depends on the change.

Thresholds (``duration.min_s``/``max_s``, ``motion.min_score``) need no decode: every stored row is decided
again from the scores it carries. Model settings (``semantic``, ``captions``, ``embed``, ``prefilter``, ``dedup``)
only concern clips that passed the filters: those (accepted, or rejected by a model stage) go through the pipeline
again, and every clip the filters rejected keeps its result. A clip to redo is dropped from the shards, and the
build that follows processes it like any missing clip. Kept rows' provenance records the new settings. A change
to how the filters score (``cuts.*``, ``motion.backend``, ...) alters scores themselves and needs ``--overwrite``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import pyarrow as pa

from lvd2m_builder.config import RUN_SETTINGS, BuildConfig, from_dict
from lvd2m_builder.errors import OutputError
from lvd2m_builder.schema import REJECT_FEATURES, ROW_FEATURES
from lvd2m_builder.stages.registry import BY_NAME, REGISTRY
from lvd2m_builder.store.manifest import Manifest
from lvd2m_builder.store.reshard import DEFAULT_MAX_BYTES, Sizing, as_reject, stage_and_swap
from lvd2m_builder.store.shards import iter_batches

log = logging.getLogger(__name__)

#: Settings that only threshold stored scores, as the registry declares them (``duration.min_s``, ...).
THRESHOLDS = frozenset(f"{spec.section}.{name}" for spec in REGISTRY for name in spec.thresholds)
#: Config sections of the stages after the filters (rerun through the pipeline when they change).
MODEL_SECTIONS = frozenset(spec.section for spec in REGISTRY if spec.redecide == "model")
#: How rows are grouped into files: no row depends on it.
LAYOUT = frozenset({"shard_size", "decode_chunk"})


def changed_fields(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted names whose values differ (run settings and card fields excluded: outputs written before they left
    ``BuildConfig.settings()`` stored them)."""
    changed = set()
    for name in sorted(set(old) | set(new)):
        if not prefix and (name in RUN_SETTINGS or name == "card"):
            continue
        a, b = old.get(name), new.get(name)
        if isinstance(a, dict) and isinstance(b, dict):
            changed |= changed_fields(a, b, f"{prefix}{name}.")
        elif a != b:
            changed.add(f"{prefix}{name}")
    return changed


def _redoable(name: str) -> bool:
    return name in THRESHOLDS or name in LAYOUT or name.split(".")[0] in MODEL_SECTIONS


def redecide(row: dict, stage: Optional[str], config: BuildConfig, models_changed: bool = False
             ) -> tuple[str, Optional[tuple[str, str]]]:
    """("keep" | "rerun", new rejection or None) for one stored row under the new settings.

    The row walks the stages in pipeline order as the pipeline would have taken it: each threshold stage it
    reached decides again with the stage's own check (``StageSpec.recheck``), so a re-decided row reads exactly
    as if the pipeline had rejected it; at the stage that rejected it, a ``final`` decision stands, a threshold
    that now passes (or a changed model stage) sends the clip through the pipeline again.
    """
    if stage is not None and stage not in BY_NAME:
        return "keep", (stage, row["reason"])  # an executor's reject (timeout, worker): nothing to re-decide
    for spec in REGISTRY:
        if spec.name == stage:
            if spec.redecide == "final":
                return "keep", (stage, row["reason"])
            if spec.redecide == "threshold":
                reason = spec.recheck(row, config)
                # still rejected: the new reason; passing now: the later stages (and the row's fields) need it
                return ("keep", (stage, reason)) if reason is not None else ("rerun", None)
            return ("rerun", None) if models_changed else ("keep", (stage, row["reason"]))
        if spec.recheck is not None:
            reason = spec.recheck(row, config)
            if reason is not None:
                return "keep", (spec.name, reason)
    return ("rerun", None) if models_changed else ("keep", None)


def rethreshold(out: Path, manifest: Manifest, settings: dict, input_keys: Iterable[str]) -> int:
    """Re-decide every stored row under ``settings``; returns how many clips were dropped for a rerun."""
    changed = changed_fields(manifest.settings, json.loads(json.dumps(settings)))  # tuples read back as lists
    scoring = sorted(name for name in changed if not _redoable(name))
    if scoring:
        raise OutputError(
            str(out),
            f"was built with other settings ({', '.join(scoring)} changed, which needs new scores); pass "
            "--overwrite to rebuild it from scratch",
        )
    models_changed = any(name.split(".")[0] in MODEL_SECTIONS for name in changed)
    config = from_dict(json.loads(json.dumps(settings)))
    inputs = set(input_keys)
    files = [(rel, None) for rel in manifest.kind_files("train")] + [
        (rel, "rejects") for rel in manifest.kind_files("rejects")
    ]
    source = lambda row: row.get("source_key") or row["key"]  # rows written before source_key: their own

    def rows() -> Iterator[tuple[dict, Optional[str], str, Optional[tuple[str, str]]]]:
        """(row, stage, action, new rejection) for every stored row, read again on every pass rather than held
        (with embeddings, they may not fit in memory)."""
        for rel, kind in files:
            for batch in iter_batches([out / rel]):
                for row in batch.to_pylist():
                    stage = row.get("stage") if kind else None
                    yield (row, stage, *redecide(row, stage, config, models_changed))

    # an input goes through the pipeline again whole: every row it gave (a split video's shots) is dropped
    again = {source(row) for row, _, action, _ in rows() if action == "rerun"} & inputs

    def decided(warn: bool) -> Iterator[tuple[Optional[dict], bool]]:
        """(row as it is to be stored, whether it is a reject), or (None, _) for a row whose input is redone."""
        for row, stage, action, rejection in rows():
            if source(row) in again:
                yield None, False
                continue
            if action == "rerun":
                if warn:
                    log.warning("%s: its input is not among this build's inputs; kept as it was", row["url"])
                rejection = (stage, row["reason"])
            _restamp(row, settings, changed)
            yield (row, False) if rejection is None else (as_reject(row, *rejection), True)

    counts = Counter(None if row is None else rejected for row, rejected in decided(warn=True))
    train = (_batches(decided(False), False, ROW_FEATURES), counts[False])
    rejects = (_batches(decided(False), True, REJECT_FEATURES), counts[True])
    max_bytes = (manifest.published or {}).get("max_shard_size") or DEFAULT_MAX_BYTES
    stage_and_swap(out, settings, train, rejects, Sizing(max_bytes), consumed=manifest.unit_files(), previous=manifest)
    log.info("%s: rows re-decided for %s; %d clip(s) go through the pipeline again", out, ", ".join(sorted(changed)),
             counts[None])
    return counts[None]


def _restamp(row: dict, settings: dict, changed: set[str]) -> None:
    provenance = json.loads(row["provenance"] or "{}")
    provenance["settings"] = settings
    provenance["redecided"] = sorted(changed)
    row["provenance"] = json.dumps(provenance, sort_keys=True)


def _batches(decided: Iterator[tuple[Optional[dict], bool]], rejects: bool, features,
             rows_per_batch: int = 256) -> Iterator[pa.RecordBatch]:
    """The rows of one kind (accepted or rejected) out of ``decided``, a batch at a time."""
    buffer: list[dict] = []
    for row, rejected in decided:
        if row is not None and rejected == rejects:
            buffer.append(row)
            if len(buffer) == rows_per_batch:
                yield pa.RecordBatch.from_pylist(buffer, schema=features.arrow_schema)
                buffer = []
    if buffer:
        yield pa.RecordBatch.from_pylist(buffer, schema=features.arrow_schema)
