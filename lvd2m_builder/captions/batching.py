"""Feeding model stages: windows of clips for one batched call, and a prefetch thread that keeps decoding.

While the model generates for one window, the prefetch thread runs every stage upstream of it (fetch, probe,
decode, frame tiling, the cheap filters) for the next clips, so CPU work stays off the GPU's critical path.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator

from ..records import Clip

_DONE = object()


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


class Prefetch:
    """Run the upstream stages in a thread, ``depth`` clips ahead; their errors re-raise here, in order."""

    stage = "prefetch"
    batched = True  # it passes clips through untouched; no per-clip guard needed

    def __init__(self, depth: int) -> None:
        self.depth = max(1, depth)

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        ready: queue.Queue = queue.Queue(self.depth)
        stop = threading.Event()

        def produce() -> None:
            try:
                for clip in clips:
                    if not _put(ready, clip, stop):
                        return
                _put(ready, _DONE, stop)
            except BaseException as e:  # handed to the consumer, which re-raises it
                _put(ready, e, stop)

        worker = threading.Thread(target=produce, name="lvd2m-prefetch", daemon=True)
        worker.start()
        try:
            while True:
                item = ready.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            worker.join()


def _put(ready: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put ``item`` unless the consumer has gone; False when it has."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
