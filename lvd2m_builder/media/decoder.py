"""One PyAV decode of a clip, in presentation order, that decodes no frame it can avoid.

Why PyAV (``bench/filters.py --decoders`` measures the sampled-frame job on the sample videos: PyAV skipping
0.70x decord's CPU, PyAV decoding everything 0.90x, torchcodec 1.33x): it is the only one of the three that lets
FFmpeg skip a frame no other frame references (``skip_frame = "NONREF"``, set packet by packet, so a wanted frame
is always decoded and every frame that is decoded is bit-exact; ``"BIDIR"``, the ffmpeg ``-skip_frame bidir``
limit, also drops B-frames that other frames reference, and the frames after them decode wrong), that hands over
each decoded frame unconverted, so only the wanted ones are converted, straight from YUV, and that seeks where
no wanted frame lies between here and the next keyframe. decord converts every frame it decodes; torchcodec
decodes every frame and converts it to RGB.

Converting to smaller sizes or to grey straight from YUV was tried for the cut check and the flow and left out:
FFmpeg's grey and small RGB differ from the 520x960 RGB copy by a level or two, and DIS ultrafast and the
ContentDetector's hue on dark frames are that sensitive (synthetic pans moved 3-6%, two sample videos' cut times
moved), so every stage still reads the one 520x960 copy it read before.

A wanted frame that does not come out of the decoder gives way to the nearest decoded frame (the earlier on a
tie), whose real time goes to the stage with it. Frames are matched to the probe's indices by timestamp, counted
from the stream's start; the probe's rotation is applied, as decord applies it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Literal, Optional

import numpy as np

from lvd2m_builder.errors import DecodeError
from lvd2m_builder.media.streams import message, open_video

if TYPE_CHECKING:  # PyAV loads when a clip is decoded, not when the registry is read
    import av


@dataclass(frozen=True)
class View:
    """An RGB copy of a frame at a size (display orientation), which FFmpeg's scaler makes straight from YUV:
    bilinear, as decord resizes (the same pixels), or area-averaged for tiny copies."""

    width: int
    height: int
    interpolation: Literal["BILINEAR", "AREA"] = "BILINEAR"


class Scaler:
    """Decoded frames to views: one FFmpeg scaler per view, kept across frames (a fresh one per frame costs 2-8x
    the decode), then turned as the display says."""

    def __init__(self, rotation: int = 0) -> None:
        self.turns = (rotation // 90) % 4
        self.scalers: dict[View, object] = {}

    def __call__(self, frame: "av.VideoFrame", view: View) -> np.ndarray:
        scaler = self.scalers.get(view)
        if scaler is None:
            from av.video.reformatter import VideoReformatter

            scaler = self.scalers[view] = VideoReformatter()
        width, height = (view.width, view.height) if self.turns % 2 == 0 else (view.height, view.width)
        out = scaler.reformat(frame, width, height, "rgb24", interpolation=view.interpolation).to_ndarray()
        if not self.turns:
            return out
        import cv2  # here, as PyAV is: `lvd2m import` loads this module and never turns a frame

        # np.rot90(out, turns) made contiguous, in OpenCV's one pass (4x numpy's copy of the turned view)
        return cv2.rotate(out, (cv2.ROTATE_90_COUNTERCLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_CLOCKWISE)[self.turns - 1])


def decoded(path: str, starts: np.ndarray, keyframes: tuple[int, ...], wanted: np.ndarray,
            skip: bool) -> Iterator[tuple[int, "av.VideoFrame"]]:
    """(probe index, frame) in presentation order, from the keyframe before ``wanted[0]`` to the first decoded
    frame at or past ``wanted[-1]``.

    ``wanted`` are ascending probe indices. ``skip``: a frame that is not wanted and that no other frame
    references is not decoded (decided packet by packet, so every wanted frame is decoded, bit-exact). Where
    the next wanted frame's keyframe lies past the next frame to decode, the decode seeks to that keyframe
    (with no known keyframes: only to the first). Raises DecodeError when the stream stops decoding.
    """
    import av

    keys = np.asarray(keyframes, dtype=np.int64)
    with open_video(path) as (container, stream):
        stream.codec_context.thread_count = 1  # as decord's num_threads=1: workers parallelise, not decoders
        base = float(stream.time_base)
        zero = (stream.start_time or 0) * base  # frame times count from the stream's start, as the probe's

        times = starts.tolist()  # bisect on a list: a tenth of np.searchsorted's cost for one value, same answer

        def index(pts: int) -> int:
            return bisect_left(times, pts * base - zero + 1e-4) - 1

        keep = set(wanted.tolist()) if skip else None
        done = -1  # the last index yielded
        pending = 0  # position in ``wanted`` of the first wanted index past ``done``
        try:
            while pending < len(wanted):
                target = int(wanted[pending])
                if len(keys):
                    key = _key_before(keys, target)
                    seek = key if key > done + 1 else None
                else:
                    seek = target if done < 0 and target > 0 else None
                if seek is not None:  # backward: to the keyframe at or before that frame's start
                    container.seek(round((starts[seek] + zero) / base), stream=stream, backward=True)
                for frame in _frames(container, stream, keep, index):
                    at = done + 1 if frame.pts is None else index(frame.pts)
                    if at <= done:
                        continue
                    done = at
                    yield at, frame
                    pending = int(np.searchsorted(wanted, done, side="right"))
                    if pending == len(wanted):
                        return
                    if len(keys) and _key_before(keys, int(wanted[pending])) > done + 1:
                        break  # nothing wanted before the next wanted frame's keyframe: seek there
                else:
                    return  # the stream ended
        except av.error.FFmpegError as e:
            raise DecodeError(path, f"frames from {done + 1} do not decode ({message(e)})", frame=done + 1) from e


def _frames(container: "av.container.InputContainer", stream: "av.video.stream.VideoStream",
            keep: Optional[set[int]], index: Callable[[int], int]) -> Iterator["av.VideoFrame"]:
    """``container.decode(stream)``, except that with ``keep`` FFmpeg may skip a packet's frame when no other
    frame references it (``skip_frame = "NONREF"``), unless its index is kept (or unknown: no timestamp)."""
    context = stream.codec_context
    mode = None
    for packet in container.demux(stream):
        if keep is not None:
            wanted = packet.pts is None or index(packet.pts) in keep
            if mode != ("DEFAULT" if wanted else "NONREF"):
                mode = context.skip_frame = "DEFAULT" if wanted else "NONREF"
        yield from packet.decode()


def _key_before(keys: np.ndarray, index: int) -> int:
    """The last keyframe at or before ``index`` (0 when none is)."""
    at = int(np.searchsorted(keys, index, side="right")) - 1
    return int(keys[at]) if at >= 0 else 0


@dataclass
class Decoded:
    """One decoded frame and the sample indices it serves (those it is the nearest decoded frame to)."""

    index: int
    frame: "av.VideoFrame"
    serves: list[int]


def nearest(frames: Iterator[tuple[int, "av.VideoFrame"]], targets: np.ndarray, starts: np.ndarray) -> Iterator[Decoded]:
    """Every decoded frame, in order, each with the ``targets`` (ascending probe indices) it is nearest to.

    A frame is handed on once the next one has been decoded (which one a skipped target takes depends on it);
    targets past the last decoded frame take the last. Every target is served exactly once while any frame decodes.
    """
    pending = deque(int(i) for i in targets)
    held: Optional[Decoded] = None
    for index, frame in frames:
        if held is not None:
            while pending and pending[0] < index and starts[pending[0]] - starts[held.index] <= starts[index] - starts[pending[0]]:
                held.serves.append(pending.popleft())
            yield held
        held = Decoded(index, frame, [])
        while pending and pending[0] <= index:
            held.serves.append(pending.popleft())
    if held is not None:
        held.serves.extend(pending)
        yield held
