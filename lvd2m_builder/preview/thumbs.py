"""Contact sheets: a few small JPEGs spread across each clip, decoded by the build's own fetch, probe and frame sampler.

Only the sheet's frames are decoded (the sampler seeks to them), inside the row's span. A seek costs the frames
from the keyframe before the target, so a target moves to a keyframe that lies within the middle half of its slot
of the clip: the frames stay spread across the clip (each is labelled with its real time) and cost one decode
each instead of half a GOP (6.7x less on a 60 s 720p clip with 2.5 s GOPs). A clip that cannot be read gets no
sheet but a reason, shown on the page in its place; one bad source never stops the preview.
A materialized clip (``lvd2m materialize`` wrote ``clips/KEY.mp4``) is used instead of the row's source, which
for an import is usually a web page rather than a video file. Which sources may be read at all is ``origins``'
decision, and what is fetched is capped in size.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path, PurePosixPath
from typing import Any, Optional

import numpy as np

from lvd2m_builder.errors import Lvd2mError
from lvd2m_builder.inputs.names import VIDEO_EXTENSIONS
from lvd2m_builder.materialize.names import clip_stem
from lvd2m_builder.media.sampler import FrameSampler, GridTask, uniform
from lvd2m_builder.preview.origins import Origins
from lvd2m_builder.records import Clip, ClipRef
from lvd2m_builder.stages.fetch import Fetch
from lvd2m_builder.stages.probe import Probe

log = logging.getLogger(__name__)

THUMBS_DIR = "thumbs"
_SAFE_NAME = re.compile(r"[\w.-]{1,100}", re.ASCII)  # fullmatch: ``$`` passes a trailing newline
#: What decoding a damaged or unexpected file may raise past the sampler's own DecodeError.
_DECODE_FAILURES = (Lvd2mError, OSError, ValueError, RuntimeError)


class SheetTask(GridTask):
    """The sampler's FrameTask for one sheet: ``count`` uniform times across the clip, each moved to a keyframe
    (clip-relative ``keyframes``) within the middle half of its slot when there is one; frames kept in order."""

    stage = "preview"

    def __init__(self, duration: float, count: int, keyframes: np.ndarray = np.zeros(0)) -> None:
        targets = uniform(duration, count)
        if len(keyframes):
            near = keyframes[np.abs(keyframes[None, :] - targets[:, None]).argmin(axis=1)]
            targets = np.where(np.abs(near - targets) <= duration / count / 4, near, targets)
        self._times = targets
        self.frames: list[tuple[float, np.ndarray]] = []

    def times(self) -> np.ndarray:
        return self._times

    def feed(self, t: float, frame: np.ndarray, shown: float) -> None:
        self.frames.append((t, frame))

    def finish(self) -> None:
        """Nothing to write onto the clip: the sheet keeps its frames."""


class ContactSheets:
    """Fills a record's ``thumbs`` ([time, relative path] pairs) and ``thumb_size``, or its ``thumb_error``."""

    def __init__(self, out: Path, frames: int, width: int, origins: Origins, clips_dir: Optional[Path] = None,
                 max_bytes: Optional[int] = None, scratch: Optional[str] = None) -> None:
        self.out = out
        self.frames = frames
        self.width = width
        self.origins = origins
        self.clips_dir = clips_dir
        self.fetch = Fetch(scratch, max_bytes)
        (out / THUMBS_DIR).mkdir(parents=True, exist_ok=True)

    def __call__(self, rec: dict[str, Any]) -> None:
        ref, why = self._ref(rec)
        if ref is None:
            rec["thumb_error"] = why
            return
        clip = next(self.fetch([Clip(ref=ref)]))
        try:
            clip = next(Probe()([clip]))
            if clip.rejected:
                rec["thumb_error"] = self.origins.public(clip.rejection.reason, ref.uri)
                return
            task, height = self._sample(clip)
            rec["thumb_size"] = [self.width, height]
            rec["thumbs"] = [[round(t, 3), self._save(rec["key"], i, frame)] for i, (t, frame) in enumerate(task.frames)]
        except _DECODE_FAILURES as e:
            log.debug("no contact sheet for %s", ref.uri, exc_info=True)
            rec["thumb_error"] = self.origins.public(getattr(e, "why", None) or f"{type(e).__name__}: {e}", ref.uri)
        finally:
            Fetch.release(clip)

    def _ref(self, rec: dict[str, Any]) -> tuple[Optional[ClipRef], str]:
        """The clip to decode: the materialized clip if there is one, else the row's source and span."""
        cut = self.clips_dir / f"{clip_stem(rec['key'])}.mp4" if self.clips_dir is not None else None
        if cut is not None and cut.is_file():  # named as clip_cutter names it
            return ClipRef(uri=str(cut), video_id=rec["video_id"]), ""
        uri, why = self.origins.resolve(rec)
        if uri is None:
            return None, why
        if "://" in uri and PurePosixPath(uri.split("?")[0]).suffix.lower() not in VIDEO_EXTENSIONS:
            return None, f"{uri} is not a video file (lvd2m materialize cuts the clips from your copies)"
        start, end = rec["span"]
        if start is None or (start == 0 and end is None):
            return ClipRef(uri=uri, video_id=rec["video_id"]), ""
        return ClipRef(uri=uri, video_id=rec["video_id"], span_start=start, span_end=end), ""

    def _sample(self, clip: Clip) -> tuple[SheetTask, int]:
        height = max(2, round(self.width * clip.info.height / clip.info.width / 2) * 2)
        task = SheetTask(clip.info.duration, self.frames, keyframe_times(clip))
        FrameSampler(height, self.width).run(clip, [task])
        return task, height

    def _save(self, key: str, index: int, frame: np.ndarray) -> str:
        from PIL import Image

        stem = key if _SAFE_NAME.fullmatch(key) else hashlib.sha1(key.encode()).hexdigest()
        rel = f"{THUMBS_DIR}/{stem}-{index}.jpg"
        Image.fromarray(frame).save(self.out / rel, "JPEG", quality=80)
        return rel


def keyframe_times(clip: Clip) -> np.ndarray:
    """Clip-relative start times of the keyframes inside the clip, from the probe (nothing decoded)."""
    keys = np.asarray(clip.info.keyframes, dtype=np.int64)
    keys = keys[(keys >= 0) & (keys < len(clip.frame_starts))]
    times = clip.frame_starts[keys] - ((clip.ref.span_start or 0.0) + float(clip.frame_starts[0]))
    return times[(times >= 0) & (times < clip.info.duration)]
