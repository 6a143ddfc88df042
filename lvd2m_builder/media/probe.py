"""Probe a video file once: frame rate, frame count, duration, display size and rotation."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess

import numpy as np

from lvd2m_builder.errors import DecodeError
from lvd2m_builder.records import VideoInfo

log = logging.getLogger(__name__)


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
    """Probe ``path``; returns the info and every frame's start time. Raises DecodeError for non-videos."""
    reader = open_reader(path)
    num_frames = len(reader)
    if num_frames < 2:
        raise DecodeError(path, f"only {num_frames} frame(s): not a video")
    stamps = np.asarray(reader.get_frame_timestamp(np.arange(num_frames)), dtype=np.float64)
    try:
        height, width = reader[0].shape[:2]  # decord applies the rotation, so this is the display size
    except Exception as e:  # decord raises its own DECORDError or RuntimeError subclasses
        raise DecodeError(path, f"first frame does not decode ({decord_message(e, path)})") from e
    duration = float(stamps[-1, 1] - stamps[0, 0])
    if not np.isfinite(duration) or duration <= 0:
        raise DecodeError(path, f"bad timestamps (duration {duration})")
    info = VideoInfo(
        fps=float(num_frames / duration),
        num_frames=num_frames,
        duration=duration,
        width=int(width),
        height=int(height),
        rotation=rotation(path),
    )
    return info, stamps[:, 0]


def rotation(path: str) -> int:
    """Display rotation in degrees from the stream's side data (0 when ffprobe is absent or says nothing)."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return 0
    cmd = [ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
           "stream_side_data=rotation:stream_tags=rotate", "-of", "json", path]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
        stream = (json.loads(out).get("streams") or [{}])[0]
    except (subprocess.SubprocessError, ValueError) as e:
        log.debug("ffprobe could not read rotation of %s: %s", path, e)
        return 0
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return int(side["rotation"]) % 360
    return int(stream.get("tags", {}).get("rotate", 0)) % 360
