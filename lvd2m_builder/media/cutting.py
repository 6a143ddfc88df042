"""Cut a span out of a source video with PyAV: frame-accurate (re-encode) or keyframe copy.

Accurate mode snaps the start to the first frame at or after it, decodes from the preceding keyframe and fills
``round(duration x fps)`` output frames at the source's average frame rate, each with the source frame shown at
its time (a constant-rate output of a variable-rate source repeats or skips frames, as ffmpeg's ``-fps_mode
cfr`` does); frames are turned upright as the source's display matrix says (as ffmpeg's autorotate does), and
the first audio track is trimmed to the same span and re-encoded to AAC. The result is counted and must match
within one frame. Copy mode copies packets from the keyframe at or before the span up to the last one decoded
before its end (no re-encode, much faster), so its first frames and its count follow the source's GOP; its
count is recorded, not enforced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional

import numpy as np

from lvd2m_builder.errors import DecodeError, StageError
from lvd2m_builder.media.encode import add_x264
from lvd2m_builder.media.streams import count_packets, open_video, stream_facts
from lvd2m_builder.store.atomic import atomic_path

CUT_MODES = ("accurate", "copy")
#: Tolerance for float spans that land on a frame boundary (``3.0 * 25`` may come out as 74.99999).
_EPS = 1e-6
#: Filters that turn a frame upright, by its display rotation (degrees counter-clockwise).
_UPRIGHT = {90: [("transpose", "cclock")], 180: [("hflip", ""), ("vflip", "")], 270: [("transpose", "clock")]}


@dataclass(frozen=True)
class SourceInfo:
    fps: Fraction
    duration: float
    width: int  # display size: the rotation applied, as the accurate cut applies it
    height: int


def source_info(path: str) -> SourceInfo:
    """Frame rate (average, as an exact fraction), duration and display size of the first video stream."""
    facts = stream_facts(path)
    if facts.fps is None or facts.duration is None:
        raise DecodeError(path, f"no frame rate or duration (fps {facts.fps}, duration {facts.duration})")
    width, height = facts.display_size
    return SourceInfo(facts.fps, facts.duration, width, height)


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
    import av

    if mode not in CUT_MODES:
        raise ValueError(f"mode must be one of {CUT_MODES}, not {mode!r}")
    duration = end - start
    expected = expected_frames(duration, fps)
    if mode == "accurate":
        start = snap_start(start, fps)
    with atomic_path(dst) as tmp:
        try:
            if mode == "accurate":
                _reencode(src, tmp, start, expected, fps, crf, preset)
            else:
                _copy(src, tmp, start, start + duration)
        except (av.error.FFmpegError, ValueError) as e:  # PyAV says ValueError for settings FFmpeg refuses
            raise StageError("materialize", f"cut failed: {e}"[:200]) from e
        frames = count_packets(str(tmp))
        if mode == "accurate" and abs(frames - expected) > 1:
            raise StageError("materialize", f"clip has {frames} frames, expected {expected} (round(duration x fps))")
    return Cut(start, expected, frames)


def _seek(container, stream, t: float, zero: float) -> None:
    """Seek to a keyframe whose frame shows at or before ``t`` (seconds after ``zero``, in container seconds).

    FFmpeg seeks by the index, which AVI keeps in decode order: with B-frames it can land on a keyframe shown
    after ``t``. So the first packet is looked at, and the seek stepped back (1 s, 2 s, 4 s...) until it is not.
    """
    back = 0.0
    while True:
        target = max(t - back, 0.0)
        container.seek(int((target + zero) / stream.time_base), stream=stream, backward=True)
        first = next((p for p in container.demux(stream) if p.pts is not None), None)
        if first is None or target == 0.0 or float(first.pts * first.time_base) - zero <= t + _EPS:
            container.seek(int((target + zero) / stream.time_base), stream=stream, backward=True)
            return
        back = max(1.0, 2 * back)


def _upright(stream, rotation: int):
    """A filter graph turning ``stream``'s frames upright, or None when they are."""
    import av

    if rotation not in _UPRIGHT:
        return None
    graph = av.filter.Graph()
    node = graph.add_buffer(template=stream)
    for name, args in _UPRIGHT[rotation]:
        following = graph.add(name, args)
        node.link_to(following)
        node = following
    node.link_to(graph.add("buffersink"))
    graph.configure()
    return graph


class _Slots:
    """Output frame ``i`` shows the source frame on screen at ``start + i / fps``: the last one starting by then."""

    def __init__(self, start: float, fps: Fraction, count: int) -> None:
        self.start, self.step, self.count = start, 1.0 / float(fps), count
        self.next = 0
        self.shown = None
        self.shown_end = -math.inf

    @property
    def full(self) -> bool:
        return self.next >= self.count

    def push(self, t: float, frame, duration: float) -> list:
        """Frames due for output now that a frame starting at ``t`` (lasting ``duration``) arrived."""
        due = []
        if self.shown is None:  # a span starting before the stream's first frame shows that frame
            self.shown = frame
        while not self.full and t > self.start + self.next * self.step + _EPS:
            due.append(self.shown)
            self.next += 1
        self.shown, self.shown_end = frame, t + duration
        return due

    def finish(self) -> list:
        """At the stream's end: the last frame fills the slots that fall inside its duration."""
        due = []
        while self.shown is not None and not self.full and self.start + self.next * self.step < self.shown_end - _EPS:
            due.append(self.shown)
            self.next += 1
        return due


def _reencode(src: str, tmp: Path, start: float, expected: int, fps: Fraction, crf: int, preset: str) -> None:
    import av

    end = start + expected / float(fps)
    facts = stream_facts(src)
    zero = facts.start  # span times count from the first frame, as the probe's do
    with open_video(src) as (source, video), \
            av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video.thread_type = "AUTO"
        width, height = video.codec_context.width, video.codec_context.height
        if facts.rotation in (90, 270):
            width, height = height, width
        encoder = add_x264(out, fps, width, height, crf=crf, preset=preset, deterministic=False)
        audio = _AudioTrim(source.streams.audio[0], out, start + zero, end + zero) if source.streams.audio else None
        upright = _upright(video, facts.rotation)
        slots = _Slots(start, fps, expected)
        frame_step = 1.0 / float(video.average_rate or video.guessed_rate or fps)
        _seek(source, video, start, zero)
        written = 0

        def emit(frames: list) -> None:
            nonlocal written
            for frame in frames:
                if upright is not None:
                    upright.push(frame)
                    frame = upright.pull()
                frame.pts, frame.time_base = written, Fraction(1) / Fraction(fps)
                frame.pict_type = av.video.frame.PictureType.NONE  # the encoder picks its own frame types
                out.mux(encoder.encode(frame))
                written += 1

        for packet in source.demux(*([video] + ([audio.source] if audio else []))):
            if packet.stream.type == "audio":
                audio.feed(packet)
                continue
            if slots.full:  # only the audio still reaches into the span
                continue
            for frame in packet.decode():
                if frame.time is None:
                    continue
                length = float(frame.duration * frame.time_base) if frame.duration else frame_step
                emit(slots.push(frame.time - zero, frame, length))
            if slots.full and (audio is None or audio.done):
                break
        emit(slots.finish())
        out.mux(encoder.encode(None))
        if audio is not None:
            audio.close()


class _AudioTrim:
    """The samples of ``source`` inside ``[start, end)`` (container seconds), re-encoded to AAC on ``out``."""

    def __init__(self, source, out, start: float, end: float) -> None:
        import av

        self.source, self.out, self.start, self.end = source, out, start, end
        rate = source.codec_context.sample_rate or 48_000
        self.stream = out.add_stream("aac", rate=rate, layout=source.codec_context.layout.name)
        codec = self.stream.codec_context
        self.resampler = av.AudioResampler(format=codec.format, layout=codec.layout, rate=rate,
                                           frame_size=codec.frame_size or 1024)
        self.rate = rate
        self.written = 0
        self.done = False

    def feed(self, packet) -> None:
        """Decode ``packet`` and encode the part of it inside the span."""
        for frame in packet.decode():
            if frame.time is None:
                continue
            if frame.time >= self.end:
                self.done = True
                continue
            kept = self._inside(frame)
            if kept is not None:
                self._encode(self.resampler.resample(kept))

    def _inside(self, frame):
        """``frame`` cut to the span; None when it lies outside."""
        import av

        first = max(0, round((self.start - frame.time) * frame.sample_rate))
        last = min(frame.samples, round((self.end - frame.time) * frame.sample_rate))
        if last <= first:
            return None
        if first == 0 and last == frame.samples:
            frame.pts = None  # timed by the samples written (``_encode``), not by the source
            return frame
        samples = frame.to_ndarray()
        channels = 1 if frame.format.is_planar else len(frame.layout.channels)
        part = samples[:, first * channels : last * channels] if channels > 1 else samples[:, first:last]
        trimmed = av.AudioFrame.from_ndarray(np.ascontiguousarray(part), format=frame.format.name,
                                             layout=frame.layout.name)
        trimmed.sample_rate = frame.sample_rate
        return trimmed

    def _encode(self, frames: list) -> None:
        for frame in frames:
            frame.pts, frame.time_base = self.written, Fraction(1, self.rate)
            self.written += frame.samples
            self.out.mux(self.stream.encode(frame))

    def close(self) -> None:
        for packet in self.source.container.demux(self.source):  # the rest of the track, up to the span's end
            if self.done:
                break
            self.feed(packet)
        self._encode(self.resampler.resample(None))
        self.out.mux(self.stream.encode(None))


def _copy(src: str, tmp: Path, start: float, end: float) -> None:
    """Packets from the keyframe at or before ``start`` while their decode time is before ``end``.

    Timestamps are shifted so the first packet decodes at 0 (ffmpeg's ``-avoid_negative_ts make_zero``).
    """
    import av

    zero = stream_facts(src).start  # span times count from the first frame, as the probe's do
    with open_video(src) as (source, video), \
            av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        audio = source.streams.audio[0] if source.streams.audio else None
        outputs = {video.index: out.add_stream_from_template(video)}
        if audio is not None:
            outputs[audio.index] = out.add_stream_from_template(audio)
        _seek(source, video, start, zero)
        origin: Optional[Fraction] = None  # the first packet's decode time, seconds: becomes 0
        done = {index: False for index in outputs}
        for packet in source.demux(*[s for s in (video, audio) if s is not None]):
            if all(done.values()):
                break
            if packet.dts is None:  # the flush packets at the end
                continue
            index, base = packet.stream.index, packet.time_base
            decode_at = packet.dts * base - Fraction(zero)
            if decode_at >= Fraction(end):
                done[index] = True
                continue
            if origin is None:
                if index != video.index or not packet.is_keyframe:
                    continue
                origin = decode_at
            elif decode_at < origin:
                continue
            shift = round((origin + Fraction(zero)) / base)
            packet.dts -= shift
            if packet.pts is not None:
                packet.pts -= shift
            packet.stream = outputs[index]
            out.mux(packet)
