"""The ``probe`` stage: read each clip's frame rate, size, duration and frame times once."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Iterable, Iterator

from lvd2m_builder.errors import DecodeError
from lvd2m_builder.media.probe import probe
from lvd2m_builder.records import Clip, ClipRef, VideoInfo
from lvd2m_builder.stages.base import Stage


class Probe(Stage):
    """Probe each clip once; a span from a clip table narrows the duration to the span."""

    stage = "probe"

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if not clip.rejected:
                started = time.perf_counter()
                try:
                    info, clip.frame_starts = probe(clip.path)
                    clip.info = _narrow(info, clip.ref)
                except DecodeError as e:
                    clip.reject(self.stage, e.why)
                except ValueError as e:
                    clip.reject(self.stage, str(e))
                clip.seconds[self.stage] = time.perf_counter() - started
            yield clip


def _narrow(info: VideoInfo, ref: ClipRef) -> VideoInfo:
    if ref.span_start is None:
        return info
    end = min(ref.span_end, info.duration) if ref.span_end is not None else info.duration
    if not 0 <= ref.span_start < end:
        raise ValueError(f"span [{ref.span_start}, {ref.span_end}] lies outside the video (0-{info.duration:.2f}s)")
    duration = end - ref.span_start
    return replace(info, num_frames=round(duration * info.fps), duration=duration)
