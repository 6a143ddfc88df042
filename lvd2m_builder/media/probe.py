"""Probe a video file once: frame rate, frame count, duration, display size, rotation and keyframes.

One pass over the container's packets with PyAV (read, not decoded) gives every frame's presentation time and
which frames are keyframes; only the first keyframe is decoded, to check that the stream decodes and to read the
display rotation from its side data. That costs ~1/15 of what decord's index build took (and the frame sampler,
media/decoder.py, decodes with PyAV by these same times, so no second reader's times need reconciling). Frames
are counted and timed as decord counts them (packets sorted by presentation time, from the stream's start; the
last frame lasts as long as the last packet read says), so the indices are decord's on every sample video, and
where decord's own times are wrong (media/timing.py) these are the packets' times it would be corrected to.
Nothing implausible survives (``timing.implausible``): such a file is rejected before anything is sized from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lvd2m_builder.errors import DecodeError
from lvd2m_builder.media.streams import message, open_video
from lvd2m_builder.media.timing import implausible
from lvd2m_builder.records import VideoInfo

if TYPE_CHECKING:  # PyAV loads when a file is probed, not when the registry is read
    import av


def open_reader(path: str, width: int = -1, height: int = -1):
    """A decord VideoReader, with decord's failures turned into :class:`DecodeError` naming the file."""
    import decord

    try:
        return decord.VideoReader(path, width=width, height=height, num_threads=1)
    except (RuntimeError, decord.DECORDError) as e:
        raise DecodeError(path, f"not a readable video ({decord_message(e, path)})") from e


def decord_message(error: BaseException, path: str = "") -> str:
    """decord's message, first line, without the file's path (the row names the file already)."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    if path:
        text = text.replace(path, "<file>")
    return text.split("] ")[-1][:200]


def probe(path: str) -> tuple[VideoInfo, np.ndarray]:
    """Probe ``path``; returns the info and every frame's start time. Raises DecodeError for non-videos."""
    with open_video(path) as (container, stream):
        stream.codec_context.thread_count = 1
        stamps: list[int] = []
        lengths: list[int] = []
        keys: list[bool] = []
        first = None
        for packet in container.demux(stream):
            pts = packet.pts if packet.pts is not None else packet.dts
            if pts is None:  # the demuxer's end-of-stream marker, or a packet no frame can be placed by
                continue
            stamps.append(pts)
            lengths.append(packet.duration or 0)
            keys.append(packet.is_keyframe)
            if first is None and packet.is_keyframe:
                first = _first_frame(path, stream, packet)
        if len(stamps) < 2:
            raise DecodeError(path, f"only {len(stamps)} frame(s): not a video")
        if first is None:
            raise DecodeError(path, "first frame does not decode (no keyframe)")
        order = np.argsort(np.asarray(stamps, dtype=np.int64), kind="stable")
        pts = np.asarray(stamps, dtype=np.int64)[order]
        base, zero = float(stream.time_base), stream.start_time or 0
        starts = (pts - zero) * base  # from the stream's start, as decord counts
        # in ticks, then seconds: a 10 s clip lasts 10.0 s, not 9.999999999999998
        end = (int(pts[-1]) + lengths[-1] - zero) * base if lengths[-1] else starts[-1] + float(np.median(np.diff(starts)))
    problem = implausible(starts, end)
    if problem is not None:
        raise DecodeError(path, f"impossible timing: {problem}")
    duration = float(end - starts[0])
    rotation = round(first.rotation or 0) % 360
    width, height = (first.width, first.height) if rotation in (0, 180) else (first.height, first.width)
    info = VideoInfo(fps=float(len(pts) / duration), num_frames=len(pts), duration=duration, width=width,
                     height=height, rotation=rotation, keyframes=tuple(np.flatnonzero(np.asarray(keys)[order]).tolist()))
    return info, starts


def _first_frame(path: str, stream: "av.video.stream.VideoStream", packet: "av.Packet") -> "av.VideoFrame":
    """The first keyframe, decoded: it must decode, and it carries the display rotation."""
    import av

    try:
        # drain at once: a decoder holds frames back for reordering until it has seen more packets
        frames = stream.decode(packet) + stream.decode(None)
    except av.error.FFmpegError as e:
        raise DecodeError(path, f"first frame does not decode ({message(e)})") from e
    if not frames:
        raise DecodeError(path, "first frame does not decode")
    return frames[0]
