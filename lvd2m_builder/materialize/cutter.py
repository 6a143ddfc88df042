"""Cut each row's clip out of its source video: rows in, Outcomes (a cut clip or a reject) out.

The generator ``lvd2m materialize`` and the loading script's ``videos`` config share. A missing or unreadable
source, or a span the source does not cover, becomes a reject and the next row goes on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional
from urllib.parse import quote

from lvd2m_builder.errors import ConfigError, DecodeError, StageError
from lvd2m_builder.materialize.sources import SourceIndex
from lvd2m_builder.media.cutting import (
    CUT_MODES,
    Cut,
    SourceInfo,
    count_frames,
    cut,
    expected_frames,
    snap_start,
    source_info,
)
from lvd2m_builder.records import Clip, ClipRef
from lvd2m_builder.schema import REJECT_FEATURES
from lvd2m_builder.stages.fetch import Fetch

log = logging.getLogger(__name__)

STAGE = "materialize"
CLIPS_DIR = "clips"


@dataclass(frozen=True)
class MaterializeConfig:
    """``mode``: ``accurate`` (re-encode, exact frame count) or ``copy`` (keyframe copy, fast)."""

    mode: str = "accurate"
    embed_videos: bool = False
    webdataset: bool = True
    shard_size: int = 64
    crf: int = 18
    span_slack_s: float = 1.0  # how far a span may run past its source's end (then clamped) before a reject

    def __post_init__(self) -> None:
        if self.mode not in CUT_MODES:
            raise ConfigError("materialize.mode", self.mode, f"must be one of {', '.join(CUT_MODES)}")
        if self.shard_size < 1:
            raise ConfigError("materialize.shard_size", self.shard_size, "must be >= 1")
        if not 0 <= self.crf <= 51:
            raise ConfigError("materialize.crf", self.crf, "must be in [0, 51]")
        if self.span_slack_s < 0:
            raise ConfigError("materialize.span_slack_s", self.span_slack_s, "must be >= 0")


@dataclass
class Outcome:
    row: dict[str, Any]  # with the clip's measured fps, size, frames and span when cut
    clip: Optional[Path] = None
    reject: Optional[dict[str, Any]] = None
    expected_frames: int = 0  # round(duration x fps) of the requested span


def _with_provenance(row: dict, **fields: Any) -> str:
    data = json.loads(row.get("provenance") or "{}")
    data[STAGE] = fields
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def _reject(row: dict, stage: str, reason: str, **fields: Any) -> Outcome:
    data = {name: row.get(name) for name in REJECT_FEATURES if name not in ("stage", "reason", "provenance")}
    data.update(stage=stage, reason=reason, provenance=_with_provenance(row, **fields))
    return Outcome(row, reject=data)


class ClipCutter:
    """Rows in, Outcomes out; a source shared by consecutive rows is fetched and probed once."""

    def __init__(self, index: SourceIndex, clips_dir: Path, config: MaterializeConfig, scratch: Optional[str] = None):
        self.index, self.clips_dir, self.config = index, clips_dir, config
        self.fetch = Fetch(scratch)
        self._held: Optional[tuple[str, Any, Optional[SourceInfo], str]] = None  # uri, clip, info, error

    def __call__(self, rows: Iterable[dict]) -> Iterator[Outcome]:
        self.clips_dir.mkdir(parents=True, exist_ok=True)
        try:
            for row in rows:
                yield self._one(row)
        finally:
            self._release()

    def _release(self) -> None:
        if self._held is not None:
            Fetch.release(self._held[1])
            self._held = None

    def _source(self, uri: str, row: dict) -> tuple[Any, Optional[SourceInfo], str]:
        if self._held is None or self._held[0] != uri:
            self._release()
            (clip,) = self.fetch([Clip(ref=ClipRef(uri=uri, video_id=row.get("video_id") or ""))])
            info, error = None, ""
            if clip.rejected:
                error = "source: " + clip.rejection.reason
            else:
                try:
                    info = source_info(clip.path)
                except DecodeError as e:
                    error = f"probe: {e.why}"
            self._held = (uri, clip, info, error)
        return self._held[1:]

    def _one(self, row: dict) -> Outcome:
        uri = self.index.lookup(row)
        if not uri:
            return _reject(row, "source", f"no source video for video_id {row.get('video_id')!r}")
        clip, info, error = self._source(uri, row)
        if error:
            stage, why = error.split(": ", 1)
            return _reject(row, stage, why, source=uri)
        start = row["span_start"] or 0.0
        end = row["span_end"] if row["span_end"] is not None else info.duration
        if start >= info.duration or end > info.duration + self.config.span_slack_s:
            return _reject(row, STAGE, f"span {start:.3f}-{end:.3f}s is not inside the source (0-{info.duration:.3f}s)",
                           source=uri)
        end = min(end, info.duration)
        dst = self.clips_dir / f"{quote(row['key'], safe='')}.mp4"
        try:
            done = self._reuse(dst, start, end, info) or cut(clip.path, dst, start, end, info.fps, self.config.mode,
                                                            self.config.crf)
        except (StageError, DecodeError) as e:
            return _reject(row, STAGE, e.why, source=uri)
        fps = float(info.fps)
        updated = {**row, "span_start": round(done.start, 6), "span_end": round(done.start + done.frames / fps, 6),
                   "duration": done.frames / fps, "fps": fps, "width": info.width, "height": info.height,
                   "num_frames": done.frames,
                   "provenance": _with_provenance(row, mode=self.config.mode, source=uri,
                                                  frames_expected=done.expected)}
        return Outcome(updated, clip=dst, expected_frames=done.expected)

    def _reuse(self, dst: Path, start: float, end: float, info: SourceInfo) -> Optional[Cut]:
        """A clip left by an earlier run with the right frame count is kept (resume)."""
        if not dst.exists():
            return None
        expected = expected_frames(end - start, info.fps)
        try:
            frames = count_frames(str(dst))
        except DecodeError:
            return None
        if self.config.mode == "accurate" and abs(frames - expected) > 1:
            return None
        return Cut(snap_start(start, info.fps) if self.config.mode == "accurate" else start, expected, frames)
