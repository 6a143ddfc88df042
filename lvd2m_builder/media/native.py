"""Every frame of a clip, decoded once with PyAV, at two sizes: tiny copies of all, full copies of a few.

Per-frame signals (a cut located to the frame) need every frame, but only tiny; the flow needs a few frames at
the motion size. decord converts each frame at one size only: every frame at its own size costs 2.4x the
sampled decode on the sample videos (2.9-4.2x on 720p: its RGB conversion dominates), and a second, tiny decode
would decode everything twice. PyAV hands over each decoded frame once, and FFmpeg's scaler shrinks it straight
from YUV: all frames at 64 px plus the 2 fps frames at 960x520 cost 1.06x what decord takes for the 2 fps frames
alone (0.6-1.4x per video; ``bench/cuts.py --decode``), with one scaler per size kept across frames. Frames are matched to the probe's (decord's) indices by timestamp, counted from
the stream's start as decord counts them (they agree on every sample video, and on files whose stream starts
late); the probe's rotation is applied, as decord applies it.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Optional

import numpy as np

from lvd2m_builder.errors import DecodeError

Size = tuple[int, int]  # (width, height), display orientation


def every_frame(path: str, starts: np.ndarray, first: int, last: int, tiny: Iterable[Size], wanted: set[int],
                size: Size, rotation: int = 0) -> Iterator[tuple[int, dict[Size, np.ndarray], Optional[np.ndarray]]]:
    """(index, {tiny size: RGB frame}, full-size RGB frame or None) for each frame ``first``..``last``, in order.

    ``starts`` are the probe's frame start times; ``wanted`` the indices that also need a ``size`` copy.
    Raises DecodeError when the stream stops decoding.
    """
    import av  # a core dependency, imported here so the paper's path never loads it
    from av.video.reformatter import VideoReformatter

    turns = (rotation // 90) % 4
    tiny = sorted(set(tiny))
    # one scaler per size, kept across frames: a fresh one per frame (VideoFrame.to_ndarray) costs 2-8x the decode
    scalers = {s: VideoReformatter() for s in [*tiny, size]}
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1  # as decord's num_threads=1: workers parallelise, not decoders
            zero = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            if first > 0:  # to the keyframe before the span; frames before ``first`` are decoded and dropped
                container.seek(int((starts[first] + zero) / stream.time_base), stream=stream, backward=True)
            index = first - 1
            for frame in container.decode(stream):
                if frame.time is None:
                    index += 1
                else:  # decord counts time from the stream's start, PyAV from the container's zero
                    index = int(np.searchsorted(starts, frame.time - zero + 1e-4) - 1)
                if index < first:
                    continue
                if index > last:
                    break
                copies = {s: _rgb(scalers[s], frame, s, turns) for s in tiny}
                yield index, copies, _rgb(scalers[size], frame, size, turns, area=False) if index in wanted else None
    except av.error.FFmpegError as e:
        raise DecodeError(path, f"frames from {first} do not decode ({e})") from e


def _rgb(scaler, frame, size: Size, turns: int, area: bool = True) -> np.ndarray:
    """The frame at ``size`` (display orientation): scaled from YUV by FFmpeg, then turned as the display says."""
    width, height = size if turns % 2 == 0 else size[::-1]
    rgb = scaler.reformat(frame, width, height, "rgb24", interpolation="AREA" if area else "BILINEAR").to_ndarray()
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb
