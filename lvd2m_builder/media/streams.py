"""What a video's container and first video stream say, read with PyAV (no ``ffprobe`` program).

The cutter takes its frame rate and duration from them, and the packet counts are ``ffprobe -count_packets``'s:
every video packet, nothing decoded.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator, Optional

import numpy as np

from lvd2m_builder.errors import DecodeError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamFacts:
    """The first video stream as its container describes it; None where the container does not say."""

    fps: Optional[Fraction]  # average frame rate (FFmpeg's avg_frame_rate)
    frames: Optional[int]  # frame count stored in the header
    duration: Optional[float]  # seconds: the stream's own, else the container's
    width: int  # coded size
    height: int
    rotation: int  # display rotation, degrees counter-clockwise, 0/90/180/270
    start: float = 0.0  # when the first frame shows, in the container's seconds: a clip's time 0 (as decord's)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown: a quarter turn swaps them."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)


@contextmanager
def open_video(path: str) -> Iterator[tuple]:
    """(container, first video stream) of ``path``; FFmpeg's failures become DecodeError naming the file."""
    import av  # a core dependency, imported where it is used

    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError) as e:
        raise DecodeError(path, f"not a readable video ({message(e)})") from e
    try:
        if not container.streams.video:
            raise DecodeError(path, "not a readable video (no video stream)")
        yield container, container.streams.video[0]
    except av.error.FFmpegError as e:
        raise DecodeError(path, f"stream does not read ({message(e)})") from e
    finally:
        container.close()


def message(error: BaseException) -> str:
    """FFmpeg's reason without the file name PyAV appends (the row names the file already)."""
    text = getattr(error, "strerror", None) or str(error)
    return str(text).splitlines()[0][:200] if text else type(error).__name__


def _rate(value) -> Optional[Fraction]:
    return Fraction(value) if value else None


def stream_facts(path: str) -> StreamFacts:
    """Header values of the first video stream, and its rotation from the first decoded frame.

    FFmpeg hands the display matrix to each decoded frame; decoding the first one is also the check that the
    stream decodes at all. Raises DecodeError when it does not.
    """
    import av

    with open_video(path) as (container, stream):
        stream.codec_context.thread_count = 1  # one frame: threads would only add start-up cost
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as e:
            raise DecodeError(path, f"first frame does not decode ({message(e)})") from e
        if first is None:
            raise DecodeError(path, "first frame does not decode (no frame in the stream)")
        if stream.duration is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = None
        return StreamFacts(
            fps=_rate(stream.average_rate) or _rate(stream.guessed_rate),
            frames=stream.frames or None,
            duration=duration if duration and duration > 0 else None,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            rotation=round(first.rotation or 0) % 360,
            start=float(first.time or 0.0),
        )


def count_packets(path: str) -> int:
    """Video frames in ``path``, counted from its packets (no decode)."""
    with open_video(path) as (container, stream):
        return sum(1 for packet in container.demux(stream) if packet.pts is not None or packet.dts is not None)


def frame_at(path: str, t: float, size: Optional[tuple[int, int]] = None) -> np.ndarray:
    """The RGB frame shown at ``t`` seconds (the last one starting at or before it), scaled to ``size`` (w, h).

    Seeks to the keyframe before ``t`` and decodes forward: an exact reference frame, one decode per call.
    """
    with open_video(path) as (container, stream):
        zero = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        container.seek(int((t + zero) / stream.time_base), stream=stream, backward=True)
        shown = None
        for frame in container.decode(stream):
            if shown is not None and frame.time is not None and frame.time - zero > t + 1e-6:
                break
            shown = frame
        if shown is None:
            raise DecodeError(path, f"no frame at {t:.3f}s")
        if size is None:
            return shown.to_ndarray(format="rgb24")
        return shown.reformat(size[0], size[1], "rgb24", interpolation="AREA").to_ndarray()
