"""The preview's records: a dataset's rows (accepted and rejected) read as ``load_dataset`` streams them, locally or
from the Hub, turned into the compact, JSON-safe dicts the page renders and filters.

Rows are read through ``datasets`` (the same path a user takes), so the preview shows what a consumer gets, not
what the build meant to write.
"""

from __future__ import annotations

import math
from itertools import islice
from typing import Any, Iterator, Optional

from lvd2m_builder import schema
from lvd2m_builder.errors import SourceError
from lvd2m_builder.run.stats import ShardStats, merge, reason_class
from lvd2m_builder.store.reader import READ_ERRORS, DatasetSource

#: Decision of an accepted clip; a rejected clip's decision is the stage that rejected it.
ACCEPTED = "accepted"


def read_rows(source: DatasetSource, name: str, config: Optional[str], pattern: str, limit: Optional[int],
              revision: Optional[str] = None) -> Iterator[dict[str, Any]]:
    """Up to ``limit`` rows of one config (``None``: the default config), streamed; none when it has no files."""
    if not source.glob(pattern):
        return
    from datasets import load_dataset

    try:
        stream = load_dataset(name, config, streaming=True, revision=revision)["train"]
        yield from islice(stream, limit)
    except READ_ERRORS as e:
        raise SourceError(name, f"cannot stream the {config or 'default'} config: {' '.join(str(e).split())[:300]}") from e


def records(source: DatasetSource, name: str, limit: Optional[int], revision: Optional[str] = None
            ) -> list[dict[str, Any]]:
    """Accepted rows then rejects, each config cut to ``limit`` rows, as page records."""
    if not source.glob(schema.TRAIN_PATTERN) and not source.glob(schema.REJECTS_PATTERN):
        raise SourceError(name, f"no {schema.TRAIN_PATTERN} and no {schema.REJECTS_PATTERN}: "
                                "not a dataset written by lvd2m build or lvd2m import")
    accepted = read_rows(source, name, None, schema.TRAIN_PATTERN, limit, revision)
    rejected = read_rows(source, name, "rejects", schema.REJECTS_PATTERN, limit, revision)
    return [record(row) for row in accepted] + [record(row) for row in rejected]


def record(row: dict[str, Any]) -> dict[str, Any]:
    """One row as the page shows it; ``stage`` is ``accepted`` or the stage that rejected the clip."""
    stage = row.get("stage") or ACCEPTED
    reason = row.get("reason") or ""
    semantic = {k: v for k, v in (row.get("semantic") or {}).items() if v}
    segments = row.get("segments") or []
    aligned = list(row.get("segment_clip_scores") or [])  # caption-video alignment per segment, when it ran
    aligned += [None] * (len(segments) - len(aligned))
    return {
        "key": row["key"],
        "video_id": row.get("video_id") or "",
        "url": row.get("url") or "",
        "span": [_num(row.get("span_start")), _num(row.get("span_end"))],
        "duration": _num(row.get("duration")),
        "flow": _num(row.get("flow_score")),
        "fps": _num(row.get("fps")),
        "size": f"{row['width']}x{row['height']}" if row.get("width") and row.get("height") else None,
        "stage": stage,
        "reason": reason,
        "reason_class": f"{stage}: {reason_class(reason)}" if stage != ACCEPTED else "",
        "cuts": [_num(t) for t in row.get("cut_times") or [] if _num(t) is not None],
        "semantic": semantic or None,
        "segments": [[_num(s["start"]), _num(s["end"]), s.get("caption") or "", _num(score)]
                     for s, score in zip(segments, aligned)],
        "clip_score": _num(row.get("clip_score")),
        "caption": row.get("refined_caption") or "",
        "orig_caption": row.get("orig_caption") or "",
        "thumbs": [],
        "thumb_size": None,
        "thumb_error": None,
    }


def tally(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """stats.json's shape (funnel, rejects by reason) computed from the records, for datasets without one."""
    part = ShardStats()
    for rec in recs:
        part.add_outcome(None if rec["stage"] == ACCEPTED else rec["stage"], rec["reason"])
    return merge([part])


def _num(value: Any) -> Optional[float]:
    """A finite float rounded for the page, or None (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return round(value, 3) if math.isfinite(value) else None
