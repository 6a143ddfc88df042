"""The one frame sampler: each clip is decoded once, at the union of the times every enabled stage wants.

A stage that needs frames hands the sampler a :class:`GridTask` (the clip-relative times it wants, and what to
do with each frame). The sampler maps times to frames by their real timestamps (so VFR files are sampled by
time) and decodes the clip once, in order, through media/decoder.py: frames that are neither wanted nor
referenced by another frame are not decoded, GOPs that hold no wanted frame are seeked over, and only the wanted
frames are converted, each once, straight from YUV to the sampler's size (RGB). Memory stays flat: one decoded
frame is held at a time (``ahead`` more when a decode thread runs ahead of the scorers).

A :class:`NativeTask` gets every frame of the clip instead, at the native frame rate, shrunk to its
``native_size`` from the same decode (a cut detector that locates cuts to the frame); then nothing is skipped.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from contextlib import closing
from typing import ClassVar, Iterable, Iterator, Optional

import numpy as np

from lvd2m_builder.errors import DecodeError, StageError
from lvd2m_builder.media.decoder import Scaler, View, decoded, nearest
from lvd2m_builder.records import Clip
from lvd2m_builder.threads import ahead

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
    def feed(self, t: float, frame: np.ndarray, shown: float) -> None:
        """One RGB uint8 frame (height x width x 3) for time ``t``, called in time order; ``shown`` is the clip
        time at which that frame starts (a frame that does not decode gives way to the nearest one that does)."""


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


#: One decoded frame as the tasks take it: (its index, its clip time, the native tasks' copies,
#: [(time, grid task, frame)]).
Converted = tuple[int, float, list[np.ndarray], list[tuple[float, GridTask, np.ndarray]]]


class FrameSampler:
    """Decodes the frames a clip's tasks need, once, at ``height`` x ``width``. ``ahead``: converted frames a
    decode thread keeps ready for the scorers, so decoding overlaps scoring (0: decode on the caller's thread)."""

    def __init__(self, height: int, width: int, ahead: int = 0) -> None:
        self.height = height
        self.width = width
        self.ahead = ahead

    def plan(self, clip: Clip, tasks: Iterable[FrameTask]) -> tuple[np.ndarray, dict[int, list[tuple[float, GridTask]]]]:
        """Unique frame indices the grid tasks' times land on, and for each the (time, grid task) pairs it serves."""
        starts = clip.frame_starts
        offset = _offset(clip)
        wants: dict[int, list[tuple[float, GridTask]]] = defaultdict(list)
        for task in tasks:
            if not isinstance(task, GridTask):
                continue
            times = np.asarray(task.times(), dtype=np.float64)
            index = np.clip(np.searchsorted(starts, offset + times + 1e-6, side="right") - 1, 0, len(starts) - 1)
            for t, i in zip(times.tolist(), index.tolist()):
                wants[i].append((t, task))
        for pairs in wants.values():
            pairs.sort(key=lambda pair: pair[0])
        return np.array(sorted(wants), dtype=np.int64), wants

    def run(self, clip: Clip, tasks: list[FrameTask], partial: bool = False) -> None:
        """Decode and feed, adding decode and per-stage seconds to ``clip.seconds``.

        Raises DecodeError (the file) or StageError (a stage's own failure). With ``partial``, a decode that
        fails part-way is not raised: the tasks finish on the frames fed so far and ``clip.decode_failure`` says
        where decoding stopped (clip seconds) and why (splitting keeps the shots that ended before it).
        """
        seconds = clip.seconds
        indices, wants = self.plan(clip, tasks)
        natives = [task for task in tasks if isinstance(task, NativeTask)]
        wanted = indices
        if natives:  # every frame of the clip's span, and any grid frame outside it
            starts, offset = clip.frame_starts, _offset(clip)
            span = np.flatnonzero((starts >= offset - 1e-6) & (starts < offset + clip.info.duration - 1e-6))
            bounds = np.concatenate([span[[0, -1]] if len(span) else [], indices]).astype(np.int64)
            wanted = np.arange(bounds.min(), bounds.max() + 1) if len(bounds) else bounds
        last = -1  # the last frame handed to the tasks
        try:
            if len(wanted):
                frames = self._frames(clip, natives, wanted, indices, wants)
                # closed on a stage's failure too, so a decode thread stops and the file is closed at once
                with closing(ahead(frames, self.ahead) if self.ahead else frames) as frames:
                    started = time.perf_counter()
                    for index, shown, tiny, feeds in frames:
                        seconds["decode"] = seconds.get("decode", 0.0) + time.perf_counter() - started
                        for task, frame in zip(natives, tiny):
                            _timed(seconds, task.stage, task.feed_native, shown, frame)
                        for t, task, frame in feeds:
                            _timed(seconds, task.stage, task.feed, t, frame, shown)
                        last = index
                        started = time.perf_counter()
            if partial and len(wanted) and last < int(wanted[-1]):  # the stream ended early, without an error
                raise DecodeError(clip.path, f"the stream ends after frame {last} of {int(wanted[-1])}", frame=last + 1)
        except DecodeError as e:
            if not partial:
                raise
            # the first frame no task got: the one the error names, or the frame held back when it came
            stopped = min(last + 1, e.frame) if e.frame is not None else last + 1
            starts = clip.frame_starts
            clip.decode_failure = (float(starts[min(stopped, len(starts) - 1)]) - _offset(clip), e.why)
        for task in tasks:
            _timed(seconds, task.stage, task.finish)

    def _frames(self, clip: Clip, natives: list[NativeTask], wanted: np.ndarray, indices: np.ndarray,
                wants: dict[int, list[tuple[float, GridTask]]]) -> Iterator[Converted]:
        """Each decoded frame that a task takes: its index and clip time, the natives' copies and the grid tasks'
        feeds."""
        starts, offset = clip.frame_starts, _offset(clip)
        size = View(self.width, self.height)
        tiny = [View(*task.native_size, interpolation="AREA") for task in natives]
        scale = Scaler(clip.info.rotation)
        first = int(wanted[0])
        for item in nearest(decoded(clip.path, starts, clip.info.keyframes, wanted, skip=not natives), indices, starts):
            if not item.serves and (not natives or item.index < first):
                continue
            frame = scale(item.frame, size) if item.serves else None
            feeds = [(t, task, frame) for i in item.serves for t, task in wants[i]]
            copies = [scale(item.frame, view) for view in tiny] if natives and item.index >= first else []
            yield item.index, float(starts[item.index]) - offset, copies, feeds

    def run_group(self, clips: list[tuple[Clip, list[GridTask]]]) -> dict[int, tuple[Optional[str], str]]:
        """Feed several clips of one file (a video's shots) from one pass over it: their frames, decoded once.

        Returns, by position in ``clips``, why a clip failed: (None, why) when a frame it needs did not decode,
        (stage, why) when one of its stages failed; the others' tasks are finished. Decode seconds are shared
        out evenly.
        """
        wants: dict[int, list[tuple[float, GridTask]]] = defaultdict(list)
        owner: dict[int, int] = {}  # id(task) -> its clip's position
        left = [0] * len(clips)  # frames each clip still waits for
        for n, (clip, tasks) in enumerate(clips):
            owner.update((id(task), n) for task in tasks)
            _, mine = self.plan(clip, tasks)
            for i, pairs in mine.items():
                wants[i].extend(pairs)
                left[n] += len(pairs)
        first = clips[0][0]
        offsets = [_offset(clip) for clip, _ in clips]
        indices = np.array(sorted(wants), dtype=np.int64)
        failed: dict[int, tuple[Optional[str], str]] = {}
        decode = 0.0
        try:
            if len(indices):
                started = time.perf_counter()
                for _index, shown, _tiny, feeds in self._frames(first, [], indices, indices, wants):
                    decode += time.perf_counter() - started
                    for t, task, frame in feeds:
                        n = owner[id(task)]
                        left[n] -= 1
                        if n not in failed:  # times from the clip's own start, not the first clip's
                            failed.update(_fed(clips[n][0].seconds, task, n, t, frame, shown + offsets[0] - offsets[n]))
                    started = time.perf_counter()
        except DecodeError as e:
            for n in (n for n, count in enumerate(left) if count):
                failed.setdefault(n, (None, e.why))
        for n, (clip, tasks) in enumerate(clips):
            clip.seconds["decode"] = clip.seconds.get("decode", 0.0) + decode / len(clips)
            for task in tasks if n not in failed else ():
                failed.update(_fed(clip.seconds, task, n))
        return failed


def _offset(clip: Clip) -> float:
    """Where the clip starts in its file's frame times."""
    return (clip.ref.span_start or 0.0) + float(clip.frame_starts[0])


def _fed(seconds: dict[str, float], task: GridTask, n: int, t: Optional[float] = None,
         frame: Optional[np.ndarray] = None, shown: float = 0.0) -> dict[int, tuple[Optional[str], str]]:
    """Feed ``task`` one frame (or finish it, without one); {n: (stage, why)} when the stage fails."""
    try:
        if frame is None:
            _timed(seconds, task.stage, task.finish)
        else:
            _timed(seconds, task.stage, task.feed, t, frame, shown)
    except StageError as e:
        return {n: (e.stage, e.why)}
    return {}


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
