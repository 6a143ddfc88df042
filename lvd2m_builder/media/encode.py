"""Encode video with PyAV's own FFmpeg (its wheel carries libx264): no ``ffmpeg`` program on the machine.

One place that knows how this project writes H.264: the synthetic clips (``testing/samples.py``,
``testing/transitions.py``) and the re-encoding cutter (``media/cutting.py``) all open their stream here. The
synthetic clips are encoded deterministically (see :func:`add_x264`): the same frames give the same bytes.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from lvd2m_builder.store.atomic import atomic_path

#: Audio sample rate of the tones written beside synthetic video.
TONE_RATE = 48_000


def add_x264(container, rate: Fraction | int, width: int, height: int, *, crf: Optional[int] = None,
             preset: str = "veryfast", deterministic: bool = True, gop: Optional[int] = None):
    """A libx264 yuv420p stream on ``container``; ``gop`` fixes the keyframe interval (no scene-cut keyframes).

    ``deterministic`` makes the bytes a function of the frames alone: one thread, and no macroblock-tree rate
    control (with it on, one encode in about thirty of the same frames came out different here, even on one
    thread). Otherwise x264 picks its threads (faster; what the cutter uses).
    """
    options = {"preset": preset}
    if crf is not None:
        options["crf"] = str(crf)
    if gop is not None:
        options.update({"g": str(gop), "sc_threshold": "0"})
    if deterministic:
        options["x264-params"] = "mbtree=0"
    stream = container.add_stream("libx264", rate=rate, options=options)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.thread_count = 1 if deterministic else 0
    return stream


def write_video(out: Path, frames: Iterable[np.ndarray], fps: int, *, codec: str = "libx264",
                crf: Optional[int] = None, gop: Optional[int] = None, options: Optional[dict[str, str]] = None,
                tone_hz: Optional[float] = None) -> Path:
    """Encode RGB uint8 frames (H x W x 3, all one size) to ``out`` at a constant ``fps``; atomic.

    The container follows ``out``'s suffix. ``codec`` other than libx264 takes its settings from ``options``.
    ``tone_hz`` adds a mono AAC (MP3 in AVI) sine track as long as the video, for files that must carry audio.
    """
    import av  # a core dependency, imported where it is used

    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    with atomic_path(Path(out)) as tmp, av.open(str(tmp), "w", format=_format(out)) as container:
        if codec == "libx264":
            stream = add_x264(container, fps, width, height, crf=crf, gop=gop)
        else:
            stream = container.add_stream(codec, rate=fps, options=options or {})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.thread_count = 1
        audio = None
        if tone_hz is not None:
            audio = container.add_stream("mp3" if out.suffix == ".avi" else "aac", rate=TONE_RATE, layout="mono")
        count = 0
        for count, rgb in enumerate(chain([first], frames), start=1):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = count - 1
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio is not None:
            _write_tone(container, audio, count / fps, tone_hz)
    return Path(out)


def _format(out: Path) -> Optional[str]:
    """The muxer for ``out``'s suffix (``.m4a`` is mp4 audio); None lets FFmpeg guess."""
    return {".mp4": "mp4", ".m4a": "mp4", ".mkv": "matroska", ".avi": "avi"}.get(Path(out).suffix)


def _write_tone(container, stream, seconds: float, hz: float) -> None:
    """A quiet sine of ``seconds`` on ``stream``, in the encoder's own frame size and sample format."""
    import av

    codec = stream.codec_context
    size = codec.frame_size or 1024
    total = int(round(seconds * TONE_RATE))
    fmt = codec.format.name
    for start in range(0, total, size):
        t = (np.arange(start, min(start + size, total)) / TONE_RATE).astype(np.float64)
        wave = 0.2 * np.sin(2 * np.pi * hz * t)
        if fmt.startswith("s16"):
            samples = (wave * 32767).astype(np.int16)
        elif fmt.startswith("s32"):
            samples = (wave * 2147483647).astype(np.int32)
        else:
            samples = wave.astype(np.float32)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format=fmt, layout="mono")
        frame.sample_rate, frame.pts = TONE_RATE, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def write_tone(out: Path, seconds: float, hz: float = 440.0) -> Path:
    """An audio-only file (AAC in mp4/m4a): a clean 'not a video' input."""
    import av

    with atomic_path(Path(out)) as tmp, av.open(str(tmp), "w", format=_format(out)) as container:
        _write_tone(container, container.add_stream("aac", rate=TONE_RATE, layout="mono"), seconds, hz)
    return Path(out)
