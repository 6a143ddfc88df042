"""Running an iterator ahead of its consumer on a thread, a bounded number of items ahead; mapping one on a few
threads, in order."""

from __future__ import annotations

import queue
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Generator, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_DONE = object()


def ahead(items: Iterable[T], depth: int, name: str = "lvd2m-ahead") -> Iterator[T]:
    """``items``, produced on a thread at most ``depth`` ahead; its errors re-raise here, in order.

    The thread stops when the consumer stops early (the generator closes), so nothing runs on behind it.
    """
    ready: queue.Queue = queue.Queue(max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
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


def ordered_map(function: Callable[[T], R], items: Iterable[T], workers: int, name: str = "lvd2m-map") -> Iterator[R]:
    """``function`` of each item, worked out on ``workers`` threads (at most twice as many items at once), handed
    over in the items' order; an error re-raises here, in order. For work that leaves the GIL (pyarrow, numpy)."""
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix=name) as pool:
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
