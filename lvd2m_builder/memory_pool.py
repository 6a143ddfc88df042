"""How a streaming command manages memory: jemalloc as the Arrow memory pool, where pyarrow has it, and the garbage
collector's full passes kept off the objects that were there before the command started.

pyarrow's default pool (mimalloc) hands freed pages back to the system within milliseconds, so a command that
streams blocks of rows through pyarrow compute gets fresh pages for every block, each zeroed by the kernel
(``perf``: a tenth of ``lvd2m import``'s CPU time in ``clear_page`` under mimalloc's page faults); jemalloc keeps
them a while for the next block (8% less CPU and wall time for the import, measured A/B). A pool the user chose
(``ARROW_DEFAULT_MEMORY_POOL``) is left as it is.

What pyarrow hands no pool to still allocates from Arrow's own default, which ``pa.set_memory_pool`` does not change:
the Parquet writer's pages, encoders and compression buffers (``pq.ParquetWriter`` gives its writer properties no
pool). That default is read from ``ARROW_DEFAULT_MEMORY_POOL`` once, as pyarrow loads, so the command line asks
for jemalloc there before it loads pyarrow (``prefer_jemalloc``): then the writer reuses the pages the reading and
mapping freed (``lvd2m import``, measured A/B: 1M rows 9.37 -> 8.77 s and 715 -> 673 MiB peak; 100k rows 1-6%
less wall time in four A/Bs).

A full pass of Python's collector walks every object the interpreter holds, most of them the loaded libraries'
(datasets, pyarrow, matplotlib: ~150k objects, 70-90 ms with every thread stopped), and a command that makes
objects as it goes meets one every few seconds; ``frozen_heap`` leaves those objects out while the command runs.
"""

from __future__ import annotations

import gc
import os
import platform
import sys
from contextlib import contextmanager
from typing import Iterator

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def prefer_jemalloc() -> None:
    """jemalloc as Arrow's default pool in this process (and the processes it starts), unless the user chose a pool
    or pyarrow is loaded already (too late: the choice is read as it loads). Only on Linux x86-64, where pyarrow's
    wheels hold jemalloc: naming a pool a build lacks makes Arrow warn at every start."""
    if "pyarrow" in sys.modules or sys.platform != "linux" or platform.machine() != "x86_64":
        return
    os.environ.setdefault(POOL_VARIABLE, "jemalloc")


@contextmanager
def streaming_pool() -> Iterator[None]:
    """jemalloc as pyarrow's default pool inside the block, the previous pool again after it. Every buffer is
    freed by the pool that allocated it, so buffers made inside may outlive the block."""
    import pyarrow as pa  # here: ``prefer_jemalloc`` runs before pyarrow loads

    if os.environ.get(POOL_VARIABLE):
        yield
        return
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        yield
        return
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """The objects that exist when the block starts are left out of the collector's passes until it ends
    (``gc.freeze``); objects made inside are collected as usual. A heap someone already froze (a server that
    forks its workers) is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
