"""Checks on accepted rows, each against the settings it was built with (read from its own provenance).

Captions are required only where a captions stage ran on the row: its settings have a ``captions`` section
that is enabled (a tree without one predates captioning: off) and its provenance shows the stage at work
(``seconds["captions"]``, or the ``segments`` and ``merge`` models). With weights absent the stage is skipped,
rows carry no caption, and that is no error.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from lvd2m_builder.validate.findings import Finding

#: Seconds are stored as float32; comparisons allow its rounding.
TOLERANCE_S = 1e-3


@dataclass(frozen=True)
class RowRules:
    min_s: float
    max_s: Optional[float]
    captions: bool


def rules_for(provenance: Optional[str], fallback: dict[str, Any]) -> tuple[RowRules, bool]:
    """The row's rules and whether its own provenance named the settings (else ``fallback``'s are used).

    Raises ValueError (json's decode error included) when the provenance is not a JSON object or the settings
    have no usable duration.
    """
    data = json.loads(provenance or "{}")
    if not isinstance(data, dict):
        raise ValueError("provenance is not a JSON object")
    own = isinstance(data.get("settings"), dict)
    settings = data["settings"] if own else fallback
    duration = settings.get("duration") or {}
    if not isinstance(duration.get("min_s"), (int, float)):
        raise ValueError("settings have no duration.min_s")
    captions = captions_enabled(settings) and captions_ran(data)
    return RowRules(duration["min_s"], duration.get("max_s"), captions), own


def captions_enabled(settings: dict[str, Any]) -> bool:
    section = settings.get("captions")
    return isinstance(section, dict) and bool(section.get("enabled", True))


def captions_ran(provenance: dict[str, Any]) -> bool:
    models = provenance.get("models") or {}
    seconds = provenance.get("seconds") or {}
    return "captions" in seconds or {"segments", "merge"} <= set(models)


def check_accepted(row: dict[str, Any], rules: RowRules) -> Iterator[tuple[str, str]]:
    """(code, message) for every way ``row`` breaks what an accepted clip promises."""
    duration = row.get("duration")
    if duration is None:
        yield "duration_missing", "accepted row has no duration"
    elif duration < rules.min_s - TOLERANCE_S:
        yield "duration_below_min", f"duration {duration:.3f} s < configured minimum {rules.min_s:g} s"
    elif rules.max_s is not None and duration > rules.max_s + TOLERANCE_S:
        yield "duration_above_max", f"duration {duration:.3f} s > configured maximum {rules.max_s:g} s"
    start, end = row.get("span_start"), row.get("span_end")
    if start is None or end is None or not end > start:
        yield "span_invalid", f"span_end {end} is not after span_start {start}"
    if row.get("cut_times"):
        yield "cuts_in_accepted", f"accepted row has scene cuts at {row['cut_times']}"
    if rules.captions and not (row.get("refined_caption") or "").strip():
        yield "caption_missing", "captions were enabled but refined_caption is empty"
    yield from _check_segments(row.get("segments") or [], duration)


def _check_segments(segments: list[dict[str, Any]], duration: Optional[float]) -> Iterator[tuple[str, str]]:
    previous = None
    for i, segment in enumerate(segments):
        start, end = segment.get("start"), segment.get("end")
        if start is None or end is None or not end > start:
            yield "segment_invalid", f"segment {i} has start {start} and end {end}"
            continue
        if start < -TOLERANCE_S or (duration is not None and end > duration + TOLERANCE_S):
            yield "segment_outside", f"segment {i} [{start:.3f}, {end:.3f}] is outside [0, {duration}]"
        if previous is not None:
            if start < previous[0]:
                yield "segments_unordered", f"segment {i} starts at {start:.3f} s, before segment {i - 1}"
            elif start < previous[1] - TOLERANCE_S:
                yield "segments_overlap", f"segment {i} starts at {start:.3f} s, before segment {i - 1} ends"
        previous = (start, end)


class CaptionRepeats:
    """The same refined_caption on many different clips (bad API replies): counted by a short hash of the text."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: dict[bytes, list] = {}  # hash -> [count, shard, row, key]
        self.texts: dict[bytes, str] = {}

    def add(self, caption: Optional[str], shard: str, row: int, key: Optional[str]) -> None:
        text = " ".join((caption or "").split())
        if not text:
            return
        digest = hashlib.blake2b(text.encode(), digest_size=12).digest()
        entry = self.seen.setdefault(digest, [0, shard, row, key])
        entry[0] += 1
        if entry[0] == self.limit + 1:
            self.texts[digest] = text

    def findings(self) -> Iterator[Finding]:
        for digest, text in self.texts.items():
            count, shard, row, key = self.seen[digest]
            shown = text if len(text) <= 80 else text[:77] + "..."
            yield Finding("caption_repeated", f"refined_caption on {count} clips (limit {self.limit}), first here: "
                          f"{shown!r}", "error", shard, row, key)
