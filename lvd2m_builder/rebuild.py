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
from pathlib import Path
from typing import Any, Iterable, Optional

import pyarrow as pa

from .config import BuildConfig, from_dict
from .errors import OutputError
from .filters.duration import duration_reason
from .filters.motion import low_motion_reason
from .manifest import EXECUTOR_KNOBS, Manifest
from .reshard import DEFAULT_MAX_BYTES, Sizing, as_reject, stage_and_swap
from .schema import REJECT_FEATURES, ROW_FEATURES
from .shards import iter_batches

log = logging.getLogger(__name__)

THRESHOLDS = frozenset({"duration.min_s", "duration.max_s", "motion.min_score"})
#: Config sections of the stages after the filters, and those stages' names.
MODEL_SECTIONS = frozenset({"semantic", "captions", "embed", "prefilter", "dedup"})
MODEL_STAGES = frozenset({"embed", "prefilter", "semantic", "captions", "align", "dedup"})
#: How rows are grouped into files: no row depends on it.
LAYOUT = frozenset({"shard_size", "decode_chunk"})
#: Stages whose outcome no threshold can change.
_FINAL_STAGES = frozenset({"source", "probe", "decode", "timeout", "worker", "cuts"})


def changed_fields(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted names whose values differ (executor knobs excluded)."""
    changed = set()
    for name in sorted(set(old) | set(new)):
        if not prefix and name in EXECUTOR_KNOBS:
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

    The thresholds are the filters' own (``duration_reason``, ``low_motion_reason``), so a re-decided row reads
    exactly as if the pipeline had rejected it.
    """
    if stage in _FINAL_STAGES and stage != "cuts":
        return "keep", (stage, row["reason"])
    reason = duration_reason(row["duration"], config.duration)
    if reason is not None:
        return "keep", ("duration", reason)
    if stage == "duration":
        return "rerun", None  # never scored: the pipeline must see it
    if stage == "cuts":
        return "keep", (stage, row["reason"])
    if config.motion.enabled and row["flow_score"] is not None:
        reason = low_motion_reason(row["flow_score"], config.motion)
        if reason is not None:
            return "keep", ("motion", reason)
    if stage == "motion":
        return "rerun", None  # promoted: later stages (and the accepted row's fields) need the pipeline
    if models_changed and (stage is None or stage in MODEL_STAGES):
        return "rerun", None  # past the filters: the model stages must run again with their new settings
    return "keep", (stage, row["reason"]) if stage else None


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
    train: list[dict] = []
    rejects: list[dict] = []
    rerun = 0
    for rel, kind in files:
        for batch in iter_batches([out / rel]):
            for row in batch.to_pylist():
                stage = row.get("stage") if kind else None
                action, rejection = redecide(row, stage, config, models_changed)
                if action == "rerun":
                    if row["key"] in inputs:
                        rerun += 1
                        continue
                    log.warning("%s: its input is not among this build's inputs; kept as it was", row["url"])
                    rejection = (stage, row["reason"])
                _restamp(row, settings, changed)
                if rejection is None:
                    train.append(row)
                else:
                    rejects.append(as_reject(row, *rejection))
    max_bytes = (manifest.published or {}).get("max_shard_size") or DEFAULT_MAX_BYTES
    stage_and_swap(out, settings, _table(train, ROW_FEATURES), _table(rejects, REJECT_FEATURES), Sizing(max_bytes),
                   consumed=manifest.unit_files())
    log.info("%s: rows re-decided for %s; %d clip(s) go through the pipeline again", out, ", ".join(sorted(changed)), rerun)
    return rerun


def _restamp(row: dict, settings: dict, changed: set[str]) -> None:
    provenance = json.loads(row["provenance"] or "{}")
    provenance["settings"] = settings
    provenance["redecided"] = sorted(changed)
    row["provenance"] = json.dumps(provenance, sort_keys=True)


def _table(rows: list[dict], features) -> tuple:
    table = pa.Table.from_pylist(rows, schema=features.arrow_schema)
    return iter(table.to_batches()), table.num_rows
