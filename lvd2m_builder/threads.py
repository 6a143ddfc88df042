"""Running an iterator ahead of its consumer on a thread, a bounded number of items ahead; mapping one on a few
threads, in order. Either may run its threads at a lower priority than the process's main thread (``nice``, on
Linux, where each thread has its own): steps that feed a busier thread (a writer) then leave it the CPU first.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Generator, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_DONE = object()


def ahead(items: Iterable[T], depth: int, name: str = "lvd2m-ahead", nice: int = 0) -> Iterator[T]:
    """``items``, produced on a thread at most ``depth`` ahead (``nice`` levels below the main thread); its errors
    re-raise here, in order.

    The thread stops when the consumer stops early (the generator closes), so nothing runs on behind it.
    """
    ready: queue.Queue = queue.Queue(max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            lower_priority(nice)
            for item in items:
                if not _put(ready, item, stop):
                    return
            _put(ready, _DONE, stop)
        except BaseException as e:  # handed to the consumer, which re-raises it
            _put(ready, _Failed(e), stop)
        finally:
            if isinstance(items, Generator):
                items.close()  # a consumer that stopped early: the producer's own cleanup runs now, here

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()


def ordered_map(function: Callable[[T], R], items: Iterable[T], workers: int, name: str = "lvd2m-map",
                nice: int = 0) -> Iterator[R]:
    """``function`` of each item, worked out on ``workers`` threads (at most twice as many items at once; ``nice``
    levels below the main thread), handed over in the items' order; an error re-raises here, in order. For work
    that leaves the GIL (pyarrow, numpy)."""
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix=name, initializer=lower_priority,
                            initargs=(nice,)) as pool:
        pending: deque[Future] = deque()
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


class _Failed:
    """An error raised by the producer, wrapped so that an item which is itself an exception passes as an item."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _put(ready: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put ``item`` unless the consumer has gone; False when it has."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def lower_priority(nice: int) -> None:
    """Run the calling thread ``nice`` levels below the process's main thread (at most 19), on Linux; elsewhere a
    thread has no priority of its own, and nothing changes. Relative to the main thread, not to the caller: a
    thread started by a lowered one starts as low as it."""
    if not nice or not sys.platform.startswith("linux"):
        return
    try:
        base = os.getpriority(os.PRIO_PROCESS, os.getpid())  # the main thread's (its id is the process's)
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, base + nice))
    except OSError:  # not allowed here (a sandbox): the thread runs as it was
        pass
