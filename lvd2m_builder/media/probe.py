"""Probe a video file once: frame rate, frame count, duration, display size and rotation."""

from __future__ import annotations

import numpy as np

from lvd2m_builder.errors import DecodeError
from lvd2m_builder.media.streams import packet_times, stream_facts
from lvd2m_builder.media.timing import reconcile
from lvd2m_builder.records import VideoInfo


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


def frame_starts(reader) -> np.ndarray:
    """Presentation time (s) of every frame; real timestamps, so VFR files are sampled by time, not index."""
    return np.asarray(reader.get_frame_timestamp(np.arange(len(reader))), dtype=np.float64)[:, 0]


def probe(path: str) -> tuple[VideoInfo, np.ndarray]:
    """Probe ``path``; returns the info and every frame's start time. Raises DecodeError for non-videos.

    decord's frame times are cross-checked against the container (``timing.reconcile``); the display size and
    rotation come from the stream and its first decoded frame (PyAV), which is also the check that it decodes.
    """
    reader = open_reader(path)
    num_frames = len(reader)
    if num_frames < 2:
        raise DecodeError(path, f"only {num_frames} frame(s): not a video")
    stamps = np.asarray(reader.get_frame_timestamp(np.arange(num_frames)), dtype=np.float64)
    facts = stream_facts(path)
    timing = reconcile(path, stamps[:, 0], float(stamps[-1, 1]), facts, lambda: packet_times(path))
    num_frames = len(timing.starts)
    if num_frames < 2:
        raise DecodeError(path, f"only {num_frames} frame(s): not a video")
    width, height = facts.display_size
    info = VideoInfo(
        fps=float(num_frames / timing.duration),
        num_frames=num_frames,
        duration=timing.duration,
        width=int(width),
        height=int(height),
        rotation=facts.rotation,
        decoder=timing.decoder,
    )
    return info, timing.starts
