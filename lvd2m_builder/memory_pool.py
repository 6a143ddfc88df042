"""The Arrow memory pool a streaming command runs with: jemalloc, where pyarrow has it.

pyarrow's default pool (mimalloc) hands freed pages back to the system within milliseconds, so a command that
streams blocks of rows through pyarrow compute gets fresh pages for every block, each zeroed by the kernel
(``perf``: a tenth of ``lvd2m import``'s CPU time in ``clear_page`` under mimalloc's page faults); jemalloc keeps
them a while for the next block (8% less CPU and wall time for the import, measured A/B). A pool the user chose
(``ARROW_DEFAULT_MEMORY_POOL``) is left as it is.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import pyarrow as pa


@contextmanager
def streaming_pool() -> Iterator[None]:
    """jemalloc as pyarrow's default pool inside the block, the previous pool again after it. Every buffer is
    freed by the pool that allocated it, so buffers made inside may outlive the block."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
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
