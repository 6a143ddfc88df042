"""Byte-level views of Arrow string arrays, for checks that look at bytes rather than characters.

pyarrow compute has no kernel that asks which values hold a byte of some class, or what each value's first byte
is; RE2 answers the first at 5-20x the cost of a numpy comparison over the array's data buffer (measured on
release captions), so the column-wise import and ``validate`` ask numpy and leave RE2 the few rows it finds.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa

#: Bytes of a column's data one pass looks at at once. numpy's temporaries for a whole column (a bool, or an int32
#: for every byte) were fresh pages of memory each time, each one zeroed by the kernel as it was first touched
#: (``perf`` on ``lvd2m import``: 3% of its CPU time in those faults under the word counts alone); a window's are
#: reused from the allocator, and stay in the core's cache.
WINDOW_BYTES = 1 << 18


def views(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data) of a ``pa.string()`` array, no copy: value i is ``data[offsets[i]:offsets[i + 1]]``."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset:values.offset + len(values) + 1]
    return offsets, np.frombuffer(values.buffers()[2] or b"", dtype=np.uint8)


def windows(offsets: np.ndarray) -> Iterator[tuple[int, int]]:
    """Runs ``[i, j)`` of consecutive values, every value in one, each about ``WINDOW_BYTES`` of data (a longer
    value is a run of its own); ``offsets`` as ``views`` gives them."""
    count, size = len(offsets) - 1, WINDOW_BYTES
    if count < 1:
        return
    # the value holding each window's first byte (0 to count - 1: every such byte lies inside the data)
    starts = np.searchsorted(offsets, np.arange(int(offsets[0]), int(offsets[-1]), size), side="right") - 1
    cuts = np.unique(np.concatenate([[0], starts, [count]])).tolist()
    yield from zip(cuts[:-1], cuts[1:])


def _found(values: pa.Array, find: Callable[[np.ndarray], np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """For each window of ``values``' data: (the value holding each byte ``find`` picks, that byte); ``find`` gives
    the picked bytes' places in the window's bytes."""
    offsets, data = views(values)
    for i, j in windows(offsets):
        lo = int(offsets[i])
        chunk = data[lo:offsets[j]]
        hits = find(chunk)
        if len(hits):
            yield i + np.searchsorted(offsets[i:j + 1], hits + lo, side="right") - 1, chunk[hits]


def rows_holding(values: pa.Array, wanted: Iterable[int]) -> np.ndarray:
    """Whether each value holds one of the ``wanted`` bytes."""
    found = np.zeros(len(values), dtype=bool)
    wanted = sorted(set(wanted))

    def find(chunk: np.ndarray) -> np.ndarray:
        if wanted[-1] < 32:  # control bytes, rare in text: one comparison finds the few bytes to look at
            hits = np.flatnonzero(chunk <= wanted[-1])
            return hits[np.isin(chunk[hits], wanted)]
        mask = chunk == wanted[0]
        for byte in wanted[1:]:
            mask |= chunk == byte
        return np.flatnonzero(mask)

    for rows, _ in _found(values, find):
        found[rows] = True
    return found


def rows_past_ascii(values: pa.Array, controls: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """(past, holding) for each value: whether it holds a byte that is not ASCII, and whether it holds one of the
    ``controls`` (bytes below 32). One pass finds both kinds of byte (a byte less 32, wrapping, is 96 or more for
    exactly those), where ``string_is_ascii`` and ``rows_holding`` took one each."""
    past = np.zeros(len(values), dtype=bool)
    holding = np.zeros(len(values), dtype=bool)
    controls = sorted(set(controls))
    for rows, kinds in _found(values, lambda chunk: np.flatnonzero(np.subtract(chunk, 32, dtype=np.uint8) >= 96)):
        past[rows[kinds >= 128]] = True
        holding[rows[np.isin(kinds, controls)]] = True
    return past, holding


def first_bytes(values: pa.Array) -> np.ndarray:
    """Each value's first byte; -1 for an empty value."""
    offsets, data = views(values)
    if not len(data):
        return np.full(len(values), -1, dtype=np.int16)
    first = data[np.minimum(offsets[:-1], len(data) - 1)].astype(np.int16)
    first[offsets[1:] == offsets[:-1]] = -1
    return first
