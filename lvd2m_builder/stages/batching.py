"""Feeding model stages: windows of clips for one batched call, and a prefetch thread that keeps decoding.

While the model generates for one window, the prefetch thread runs every stage upstream of it (fetch, probe,
decode, frame tiling, the cheap filters) for the next clips, so CPU work stays off the GPU's critical path.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterable, Iterator

from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import Stage
from lvd2m_builder.threads import ahead

log = logging.getLogger(__name__)


def windows(clips: Iterable[Clip], size: int) -> Iterator[list[Clip]]:
    """Consecutive clips, in input order, holding ``size`` live (not rejected) clips each (the last may hold
    fewer); rejected clips ride along so order is kept, and a window never grows past 4 x ``size`` clips."""
    window: list[Clip] = []
    live = 0
    for clip in clips:
        window.append(clip)
        live += not clip.rejected
        if live >= size or len(window) >= 4 * size:
            yield window
            window, live = [], 0
    if window:
        yield window


def run_windows(stage: str, clips: Iterable[Clip], size: int, work: Callable[[list[Clip]], None]) -> Iterator[Clip]:
    """A batched model stage's loop: ``work`` on each window's live clips; a failure rejects that window's clips
    (the build goes on); each clip is charged its share of the time and leaves its stage's frames behind."""
    for window in windows(clips, size):
        live = [clip for clip in window if not clip.rejected]
        started = time.perf_counter()
        try:
            work(live)
        except Exception as e:  # a model failure rejects this window's clips; the next window still runs
            log.exception("%s failed on %d clips", stage, len(live))
            for clip in live:
                clip.reject(stage, f"{type(e).__name__}: {e}")
        for clip in live:
            clip.seconds[stage] = clip.seconds.get(stage, 0.0) + (time.perf_counter() - started) / len(live)
        for clip in window:
            clip.frames.pop(stage, None)
            yield clip


class Prefetch(Stage):
    """Run the upstream stages in a thread, ``depth`` clips ahead; their errors re-raise here, in order."""

    stage = "prefetch"
    batched = True  # it passes clips through untouched; no per-clip guard needed

    def __init__(self, depth: int) -> None:
        self.depth = max(1, depth)

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        return ahead(clips, self.depth, "lvd2m-prefetch")
