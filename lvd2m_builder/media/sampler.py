"""The one frame sampler: each clip is decoded once, at the union of the times every enabled stage wants.

A stage that needs frames hands the sampler a :class:`GridTask` (the clip-relative times it wants, and what to
do with each frame). The sampler maps times to frames by their real timestamps (so VFR files are sampled by
time), decodes the unique frames in order, in chunks (memory stays flat on long clips), resized on decode to
one size, and feeds each frame to the tasks that asked for its time.

A :class:`NativeTask` gets every frame of the clip instead, at the native frame rate, shrunk to its
``native_size`` from the same decode (a cut detector that locates cuts to the frame). Then the clip is decoded
once through PyAV, which scales each frame to both sizes straight from YUV (media/native.py says why not decord).
Without such a task nothing changes, except for a file whose frame times decord got wrong
(``VideoInfo.decoder == "pyav"``, media/timing.py): it is decoded through PyAV too.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from typing import ClassVar, Iterable

import cv2
import numpy as np

from lvd2m_builder.errors import DecodeError, StageError
from lvd2m_builder.media.native import every_frame
from lvd2m_builder.media.probe import decord_message, open_reader
from lvd2m_builder.records import Clip

log = logging.getLogger(__name__)


class FrameTask(ABC):
    """One stage's frame needs for one clip: a :class:`GridTask` or a :class:`NativeTask`."""

    stage: ClassVar[str]  # the stage its time is charged to, and that a failure inside it rejects at

    @abstractmethod
    def finish(self) -> None:
        """All frames were fed: write the results onto the clip."""


class GridTask(FrameTask):
    """Frames at chosen times, at the sampler's size."""

    @abstractmethod
    def times(self) -> np.ndarray:
        """Clip-relative seconds this stage wants, ascending."""

    @abstractmethod
    def feed(self, t: float, frame: np.ndarray) -> None:
        """One RGB uint8 frame (height x width x 3) for time ``t``; called in time order."""


class NativeTask(FrameTask):
    """Every frame of the clip, at the native frame rate, shrunk to ``native_size``."""

    native_size: tuple[int, int]  # (width, height)

    @abstractmethod
    def feed_native(self, t: float, frame: np.ndarray) -> None:
        """One tiny RGB uint8 frame at clip time ``t``; called in time order."""


def grid(duration: float, fps: float) -> np.ndarray:
    """Times 0, 1/fps, 2/fps, ... strictly inside the clip: the regular sampling the paper uses."""
    return np.arange(0.0, duration - 1e-6, 1.0 / fps)


def uniform(duration: float, count: int, start: float = 0.0) -> np.ndarray:
    """``count`` times at the centres of equal parts of [start, start + duration)."""
    return start + (np.arange(count) + 0.5) * duration / count


class FrameSampler:
    """Decodes the frames a clip's tasks need, once, at ``height`` x ``width``."""

    def __init__(self, height: int, width: int, chunk: int = 16) -> None:
        self.height = height
        self.width = width
        self.chunk = chunk

    def plan(self, clip: Clip, tasks: Iterable[FrameTask]) -> tuple[np.ndarray, dict[int, list[tuple[float, GridTask]]]]:
        """Unique frame indices to decode, and for each the (time, grid task) pairs it serves."""
        starts = clip.frame_starts
        offset = (clip.ref.span_start or 0.0) + float(starts[0])
        wants: dict[int, list[tuple[float, GridTask]]] = defaultdict(list)
        for task in tasks:
            if not isinstance(task, GridTask):
                continue
            times = np.asarray(task.times(), dtype=np.float64)
            index = np.clip(np.searchsorted(starts, offset + times + 1e-6, side="right") - 1, 0, len(starts) - 1)
            for t, i in zip(times.tolist(), index.tolist()):
                wants[i].append((t, task))
        return np.array(sorted(wants), dtype=np.int64), wants

    def run(self, clip: Clip, tasks: list[FrameTask]) -> None:
        """Decode and feed, adding decode and per-stage seconds to ``clip.seconds``.

        Raises DecodeError (the file) or StageError (a stage's own failure).
        """
        seconds = clip.seconds
        indices, wants = self.plan(clip, tasks)
        natives = [task for task in tasks if isinstance(task, NativeTask)]
        started = time.perf_counter()
        if natives or clip.info.decoder == "pyav":  # decord's seeks go by its frame times: wrong there
            self._run_native(clip, natives, indices, wants)
        elif len(indices):
            reader, resize = open_reader(clip.path, width=self.width, height=self.height), False
            for lo in range(0, len(indices), self.chunk):
                part = indices[lo : lo + self.chunk]
                try:
                    frames = self._decode(reader, resize, clip.path, part)
                except DecodeError as e:
                    if resize:
                        raise
                    # decord's resize-on-decode refuses some sizes ("The size must exactly match"): decode at
                    # the native size and resize after, for the rest of this clip.
                    log.debug("resize-on-decode failed for %s (%s); resizing after decode", clip.path, e.why)
                    reader, resize = open_reader(clip.path), True
                    frames = self._decode(reader, resize, clip.path, part)
                seconds["decode"] = seconds.get("decode", 0.0) + time.perf_counter() - started
                for i, frame in zip(part.tolist(), frames):
                    for t, task in sorted(wants[i], key=lambda pair: pair[0]):
                        _timed(seconds, task.stage, task.feed, t, frame)
                started = time.perf_counter()
        for task in tasks:
            _timed(seconds, task.stage, task.finish)

    def _run_native(self, clip: Clip, natives: list[NativeTask], indices: np.ndarray, wants: dict) -> None:
        """Decode every frame of the clip once; feed tiny copies to ``natives`` and full ones to the grid tasks."""
        seconds = clip.seconds
        starts = clip.frame_starts
        offset = (clip.ref.span_start or 0.0) + float(starts[0])
        span = np.flatnonzero((starts >= offset - 1e-6) & (starts < offset + clip.info.duration - 1e-6))
        bounds = np.concatenate([span[[0, -1]] if len(span) else [], indices]).astype(np.int64)
        if not len(bounds):
            return
        frames = every_frame(clip.path, starts, int(bounds.min()), int(bounds.max()),
                             [task.native_size for task in natives], set(wants), (self.width, self.height),
                             clip.info.rotation)
        started = time.perf_counter()
        for i, tiny, big in frames:
            seconds["decode"] = seconds.get("decode", 0.0) + time.perf_counter() - started
            t = float(starts[i]) - offset
            for task in natives:
                _timed(seconds, task.stage, task.feed_native, t, tiny[task.native_size])
            for t_want, task in sorted(wants.get(i, []), key=lambda pair: pair[0]):
                _timed(seconds, task.stage, task.feed, t_want, big)
            started = time.perf_counter()

    def _decode(self, reader, resize: bool, path: str, indices: np.ndarray) -> np.ndarray:
        try:
            frames = reader.get_batch(indices.tolist()).asnumpy()
        except Exception as e:  # decord raises DECORDError/RuntimeError on damaged streams
            raise DecodeError(path, f"frames {int(indices[0])}-{int(indices[-1])} do not decode ({decord_message(e, path)})") from e
        if resize or frames.shape[1:3] != (self.height, self.width):
            frames = np.stack([cv2.resize(f, (self.width, self.height), interpolation=cv2.INTER_AREA) for f in frames])
        return frames


def _timed(seconds: dict[str, float], stage: str, call, *args) -> None:
    """Run one stage's call, charging its time to the stage and turning its failure into StageError."""
    started = time.perf_counter()
    try:
        call(*args)
    except StageError:
        raise
    except Exception as e:  # a stage's own failure (a model error, say) rejects the clip at that stage
        raise StageError(stage, f"{type(e).__name__}: {e}") from e
    finally:
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - started
