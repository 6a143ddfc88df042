"""Cut a span out of a source video with ffmpeg: frame-accurate (re-encode) or keyframe copy.

Accurate mode snaps the start to the first frame at or after it (seeking between two frames otherwise makes the
constant-rate output repeat a frame), decodes from the preceding keyframe, re-encodes at the source's average
frame rate and stops after exactly ``round(duration x fps)`` frames; the result is counted and must match within
one frame. Copy mode starts at the keyframe at or before the span (no re-encode, much faster) so its first frames
and its count follow the source's GOP; its count is recorded, not enforced.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from lvd2m_builder.errors import DecodeError, MissingDependencyError, StageError
from lvd2m_builder.media.probe import rotation
from lvd2m_builder.store.atomic import commit, temp_path
from lvd2m_builder.testing.samples import ffmpeg

CUT_MODES = ("accurate", "copy")
#: Tolerance for float spans that land on a frame boundary (``3.0 * 25`` may come out as 74.99999).
_EPS = 1e-6


@dataclass(frozen=True)
class SourceInfo:
    fps: Fraction
    duration: float
    width: int  # display size: rotation metadata applied, as ffmpeg applies it when re-encoding
    height: int


def ffprobe() -> str:
    path = shutil.which("ffprobe")
    if path is None:
        raise MissingDependencyError("ffprobe (system package, e.g. apt-get install ffmpeg)", "test")
    return path


def _ffprobe(args: list[str], path: str) -> dict:
    cmd = [ffprobe(), "-v", "error", *args, "-of", "json", path]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as e:
        raise DecodeError(path, "ffprobe timed out") from e
    if done.returncode != 0:
        raise DecodeError(path, (done.stderr.strip().splitlines() or ["ffprobe failed"])[-1][:200])
    return json.loads(done.stdout or "{}")


def _rate(text: str | None) -> Fraction | None:
    try:
        rate = Fraction(text)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None


def source_info(path: str) -> SourceInfo:
    """Frame rate (average, as ffmpeg's exact fraction), duration and size of the first video stream."""
    data = _ffprobe(["-select_streams", "v:0", "-show_entries",
                     "stream=avg_frame_rate,r_frame_rate,width,height,duration:format=duration"], path)
    streams = data.get("streams") or []
    if not streams:
        raise DecodeError(path, "no video stream")
    stream = streams[0]
    fps = _rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate"))
    try:
        duration = float(stream.get("duration") or data.get("format", {}).get("duration"))
    except (TypeError, ValueError):
        duration = math.nan
    if fps is None or not math.isfinite(duration) or duration <= 0:
        raise DecodeError(path, f"no frame rate or duration (fps {fps}, duration {duration})")
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    if rotation(path) in (90, 270):
        width, height = height, width
    return SourceInfo(fps, duration, width, height)


def count_frames(path: str) -> int:
    """Video frames in ``path``, counted from its packets (no decode)."""
    data = _ffprobe(["-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets"], path)
    try:
        return int(data["streams"][0]["nb_read_packets"])
    except (KeyError, IndexError, ValueError) as e:
        raise DecodeError(path, "cannot count frames") from e


def expected_frames(duration: float, fps: Fraction) -> int:
    """``round(duration x fps)``, halves rounded up."""
    return math.floor(duration * float(fps) + 0.5)


def snap_start(start: float, fps: Fraction) -> float:
    """The time of the first frame at or after ``start`` on the source's frame grid."""
    return math.ceil(start * float(fps) - _EPS) / float(fps)


@dataclass(frozen=True)
class Cut:
    start: float  # where the clip starts in the source (snapped in accurate mode)
    expected: int
    frames: int


def cut(src: str, dst: Path, start: float, end: float, fps: Fraction, mode: str = "accurate",
        crf: int = 18, preset: str = "veryfast") -> Cut:
    """Write ``[start, end)`` of ``src`` to ``dst`` (atomically); raises StageError when the count is off."""
    if mode not in CUT_MODES:
        raise ValueError(f"mode must be one of {CUT_MODES}, not {mode!r}")
    duration = end - start
    expected = expected_frames(duration, fps)
    if mode == "accurate":
        start = snap_start(start, fps)
        codec = ["-frames:v", str(expected), "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
                 "-pix_fmt", "yuv420p", "-fps_mode", "cfr", "-r", str(fps), "-c:a", "aac"]
    else:
        codec = ["-c", "copy", "-avoid_negative_ts", "make_zero"]
    tmp = temp_path(dst)
    cmd = [ffmpeg(), "-v", "error", "-nostdin", "-y", "-ss", f"{start:.6f}", "-i", src, "-t", f"{duration:.6f}",
           "-map", "0:v:0", "-map", "0:a:0?", *codec, "-movflags", "+faststart", "-f", "mp4", str(tmp)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise StageError("materialize", "ffmpeg: " + (done.stderr.strip().splitlines() or ["failed"])[-1][:200])
    frames = count_frames(str(tmp))
    if mode == "accurate" and abs(frames - expected) > 1:
        tmp.unlink(missing_ok=True)
        raise StageError("materialize", f"clip has {frames} frames, expected {expected} (round(duration x fps))")
    commit(tmp, dst)
    return Cut(start, expected, frames)
