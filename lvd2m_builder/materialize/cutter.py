"""Cut each row's clip out of its source video: rows in, Outcomes (a cut clip or a reject) out.

The generator ``lvd2m materialize`` and the loading script's ``videos`` config share. A missing or unreadable
source, or a span the source does not cover, becomes a reject and the next row goes on. A clip left by an earlier
run is reused only when its record (``cut_record``) says it was cut from the same source, span and mode.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from lvd2m_builder.errors import ConfigError, DecodeError, StageError
from lvd2m_builder.materialize import cut_record
from lvd2m_builder.materialize.names import clip_stem
from lvd2m_builder.materialize.sources import SourceIndex
from lvd2m_builder.media.cutting import CUT_MODES, SourceInfo, cut, expected_frames, source_info
from lvd2m_builder.records import Clip, ClipRef
from lvd2m_builder.schema import REJECT_FEATURES
from lvd2m_builder.stages.fetch import Fetch

log = logging.getLogger(__name__)

STAGE = "materialize"
CLIPS_DIR = "clips"


@dataclass(frozen=True)
class MaterializeConfig:
    """``mode``: ``accurate`` (re-encode, exact frame count) or ``copy`` (keyframe copy, fast).

    The cut's work and output are bounded before and after it runs: a source whose frame rate passes ``max_fps``
    (a header claiming 90000 fps makes an accurate cut write 90000 frames a second), a clip of more than
    ``max_frames`` frames, or a cut clip larger than ``max_clip_bytes`` is a reject.
    """

    mode: str = "accurate"
    embed_videos: bool = False
    webdataset: bool = True
    shard_size: int = 64
    crf: int = 18
    span_slack_s: float = 1.0  # how far a span may run past its source's end (then clamped) before a reject
    max_fps: float = 240.0
    max_frames: int = 216_000  # an hour at 60 fps
    max_clip_bytes: int = 8 << 30

    def __post_init__(self) -> None:
        if self.mode not in CUT_MODES:
            raise ConfigError("materialize.mode", self.mode, f"must be one of {', '.join(CUT_MODES)}")
        if self.shard_size < 1:
            raise ConfigError("materialize.shard_size", self.shard_size, "must be >= 1")
        if not 0 <= self.crf <= 51:
            raise ConfigError("materialize.crf", self.crf, "must be in [0, 51]")
        if self.span_slack_s < 0:
            raise ConfigError("materialize.span_slack_s", self.span_slack_s, "must be >= 0")
        for name in ("max_fps", "max_frames", "max_clip_bytes"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"materialize.{name}", getattr(self, name), "must be > 0")


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
        self._held: Optional[tuple[str, Any, Optional[SourceInfo], str, Optional[dict]]] = None
        # the source in hand: uri, fetched clip, probe, error, identity (cut_record.source_identity)

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

    def _source(self, uri: str, row: dict) -> tuple[Any, Optional[SourceInfo], str, Optional[dict]]:
        if self._held is None or self._held[0] != uri:
            self._release()
            (clip,) = self.fetch([Clip(ref=ClipRef(uri=uri, video_id=row.get("video_id") or ""))])
            info, error, identity = None, "", None
            if clip.rejected:
                error = "source: " + clip.rejection.reason
            else:
                try:
                    info = source_info(clip.path)
                    identity = cut_record.source_identity(uri, info)
                except DecodeError as e:
                    error = f"probe: {e.why}"
            self._held = (uri, clip, info, error, identity)
        return self._held[1:]

    def _one(self, row: dict) -> Outcome:
        uri = self.index.lookup(row)
        if not uri:
            return _reject(row, "source", f"{row.get('url')!r} is under none of the build's input roots (pass --sources)"
                           if self.index.use_url else f"no source video for video_id {row.get('video_id')!r}")
        clip, info, error, identity = self._source(uri, row)
        source = self.index.public(uri, uri)  # what the outputs (published) say of it
        if error:
            stage, why = error.split(": ", 1)
            return _reject(row, stage, self.index.public(why, uri), source=source)
        start = row["span_start"] or 0.0
        end = row["span_end"] if row["span_end"] is not None else info.duration
        if start >= info.duration or end > info.duration + self.config.span_slack_s:
            return _reject(row, STAGE, f"span {start:.3f}-{end:.3f}s is not inside the source (0-{info.duration:.3f}s)",
                           source=source)
        end = min(end, info.duration)
        too_much = self._too_much(start, end, info)
        if too_much:
            return _reject(row, STAGE, too_much, source=source)
        dst = self.clips_dir / f"{clip_stem(row['key'])}.mp4"
        request = None if identity is None else cut_record.cut_request(identity, start, end, self.config.mode,
                                                                       self.config.crf)
        done = cut_record.reusable(dst, request)
        if done is None:
            cut_record.forget(dst)
            try:
                done = cut(clip.path, dst, start, end, info.fps, self.config.mode, self.config.crf)
            except (StageError, DecodeError) as e:
                return _reject(row, STAGE, self.index.public(e.why, uri), source=source)
            size = dst.stat().st_size
            if size > self.config.max_clip_bytes:
                dst.unlink()
                return _reject(row, STAGE, f"the cut clip has {size} bytes, more than max_clip_bytes "
                                           f"({self.config.max_clip_bytes})", source=source)
            cut_record.remember(dst, request, done)
        fps = float(info.fps)
        updated = {**row, "span_start": round(done.start, 6), "span_end": round(done.start + done.frames / fps, 6),
                   "duration": done.frames / fps, "fps": fps, "width": info.width, "height": info.height,
                   "num_frames": done.frames,
                   "provenance": _with_provenance(row, mode=self.config.mode, source=source,
                                                  frames_expected=done.expected)}
        return Outcome(updated, clip=dst, expected_frames=done.expected)

    def _too_much(self, start: float, end: float, info: SourceInfo) -> str:
        """Why cutting ``[start, end)`` would be unbounded work, or ""."""
        if info.fps > self.config.max_fps:
            return f"the source claims {float(info.fps):g} fps, more than max_fps ({self.config.max_fps:g})"
        frames = expected_frames(end - start, info.fps)
        if frames > self.config.max_frames:
            return f"the clip would have {frames} frames, more than max_frames ({self.config.max_frames})"
        return ""
