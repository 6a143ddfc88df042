"""Map one row of the LVD-2M release CSVs onto ``schema.ROW_FEATURES`` (or a ``REJECT_FEATURES`` row).

Columns: key, video_id, url, dataset_src, orig_caption, raw_caption, refined_caption, rewritten_caption,
``total score`` (mean RAFT optical flow; the name has a space), span (YouTube), video_time (seconds), and for
HD-VG orig_span + scene_cut. Columns the release may add later are kept in the row's provenance, not dropped.
"""

from __future__ import annotations

import json
import math
from typing import Any, Optional

from lvd2m_builder import __version__
from lvd2m_builder.errors import MalformedRowError
from lvd2m_builder.release.captions import segments
from lvd2m_builder.release.spans import hdvg_span, parse_span
from lvd2m_builder.schema import CLIP_FIELDS, REJECT_FEATURES, ROW_FEATURES

CAPTION_COLUMNS = ("orig_caption", "raw_caption", "refined_caption", "rewritten_caption")
SPAN_COLUMNS = ("span", "orig_span", "scene_cut", "video_time")
KNOWN_COLUMNS = frozenset({"key", "video_id", "url", "dataset_src", "total score", *CAPTION_COLUMNS, *SPAN_COLUMNS})
#: Sources whose rows cut a clip out of a longer YouTube video, so a span is required.
YOUTUBE_SOURCES = frozenset({"hdvg", "panda70m", "internvid"})
#: The paper scored motion with RAFT; the release's ``total score`` is that score.
RELEASE_FLOW_BACKEND = "raft"
REJECT_STAGE = "source"


def _text(record: dict, column: str) -> Optional[str]:
    value = record.get(column)
    if value is None or not str(value).strip():
        return None
    return str(value)


def _number(record: dict, column: str, positive: bool = False) -> Optional[float]:
    text = _text(record, column)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise MalformedRowError(column, text, "not a number") from None
    if not math.isfinite(value):
        raise MalformedRowError(column, text, "not a finite number")
    if value < 0 or (positive and value == 0):
        raise MalformedRowError(column, text, "must be > 0" if positive else "must be >= 0")
    return value


def default_source(file_name: str) -> Optional[str]:
    """``dataset_src`` for rows that leave it empty, from the release's file names (hdvg_*, webvid_*)."""
    name = file_name.rsplit("/", 1)[-1].lower()
    return next((src for src in ("hdvg", "webvid") if name.startswith(src)), None)


class ReleaseRow:
    """One CSV record in, one schema row out (``row``) or one reject (``reject``); never both."""

    def __init__(self, record: dict, file_name: str, line: int) -> None:
        self.file_name, self.line = file_name, line
        self.segment_rule = "none"
        self.fields: dict[str, Any] = {
            "key": _text(record, "key"),
            "video_id": _text(record, "video_id"),
            "url": _text(record, "url"),
            "dataset_src": (_text(record, "dataset_src") or default_source(file_name) or "").strip().lower() or None,
        }
        self.extra = {k: v for k, v in record.items() if k is not None and k not in KNOWN_COLUMNS and v}
        self.release = {c: record[c] for c in SPAN_COLUMNS if _text(record, c)}
        self.error: Optional[MalformedRowError] = None
        self.duplicate_of: Optional[str] = None  # where the key was first seen, when this row repeats it
        try:
            self._map(record)
        except MalformedRowError as e:
            self.error = e

    @classmethod
    def unreadable(cls, file_name: str, line: int, why: str) -> "ReleaseRow":
        """A record the CSV reader could not split into fields."""
        row = cls({}, file_name, line)
        row.error = MalformedRowError("row", None, why)
        return row

    def _map(self, record: dict) -> None:
        if None in record:  # csv.DictReader puts surplus fields under the None key
            raise MalformedRowError("row", record[None], f"{len(record[None])} more field(s) than the header")
        if self.fields["key"] is None:
            raise MalformedRowError("key", record.get("key"), "missing key")
        f = self.fields
        f["flow_score"] = _number(record, "total score")
        video_time = _number(record, "video_time", positive=True)
        f["span_start"], f["span_end"] = self._span(record, video_time)
        f["duration"] = video_time if video_time is not None else (
            f["span_end"] - f["span_start"] if f["span_end"] is not None else None
        )
        for column in CAPTION_COLUMNS:
            f[column] = _text(record, column)
        f["segments"], self.segment_rule = segments(f["raw_caption"], f["duration"])

    def _span(self, record: dict, video_time: Optional[float]) -> tuple[Optional[float], Optional[float]]:
        if _text(record, "span"):
            return parse_span(record["span"], "span")
        if _text(record, "orig_span") or _text(record, "scene_cut"):
            if not (_text(record, "orig_span") and _text(record, "scene_cut")):
                raise MalformedRowError("orig_span", record.get("orig_span"),
                                        "HD-VG needs both orig_span and scene_cut")
            return hdvg_span(record["orig_span"], record["scene_cut"], video_time)
        if self.fields["dataset_src"] in YOUTUBE_SOURCES:
            raise MalformedRowError("span", None, f"missing span for a {self.fields['dataset_src']} clip")
        return 0.0, video_time  # WebVid: the URL is the clip itself

    def repeats(self, first: str) -> None:
        """This row's key is already on the row at ``first``: a reject, keyed by its own place so the rejects
        hold each key once and never the accepted row's."""
        self.duplicate_of = first
        self.error = MalformedRowError("key", self.fields["key"], f"repeats the key of {first}")

    @property
    def where(self) -> str:
        return f"{self.file_name} line {self.line}"

    def _provenance(self) -> str:
        data: dict[str, Any] = {
            "lvd2m_builder": __version__,
            "source": "LVD-2M release",
            "imported": {"file": self.file_name, "line": self.line},
        }
        if self.release:
            data["release"] = self.release
        if self.extra:
            data["extra"] = self.extra
        if self.error is None:
            data["segment_times"] = self.segment_rule
        return json.dumps(data, sort_keys=True, ensure_ascii=False)

    def _common(self) -> dict[str, Any]:
        f = self.fields
        flow = f.get("flow_score")
        return {
            "key": f"{self.file_name}:{self.line}" if f["key"] is None or self.duplicate_of else f["key"],
            "video_id": f["video_id"],
            "url": f["url"],
            "dataset_src": f["dataset_src"],
            "span_start": f.get("span_start"),
            "span_end": f.get("span_end"),
            "duration": f.get("duration"),
            "fps": None,
            "width": None,
            "height": None,
            "num_frames": None,
            "cut_times": [] if self.error is None else None,  # the release's clips passed its cut filter
            "flow_score": flow,
            "flow_backend": RELEASE_FLOW_BACKEND if flow is not None else None,
            "semantic": None,
        }

    def row(self) -> dict[str, Any]:
        assert self.error is None
        f = self.fields
        row = {**self._common(), "segments": f["segments"], **{c: f[c] for c in CAPTION_COLUMNS},
               **dict.fromkeys(CLIP_FIELDS), "provenance": self._provenance()}  # the release has no CLIP data
        assert row.keys() == ROW_FEATURES.keys(), "imported row fields drifted from schema.ROW_FEATURES"
        return row

    def reject(self) -> dict[str, Any]:
        assert self.error is not None
        row = {**self._common(), "stage": REJECT_STAGE, "reason": f"{self.where}: {self.error}",
               "provenance": self._provenance()}
        assert row.keys() == REJECT_FEATURES.keys(), "reject fields drifted from schema.REJECT_FEATURES"
        return row
