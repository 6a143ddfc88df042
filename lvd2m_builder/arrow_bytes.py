"""Byte-level views of Arrow string arrays, for checks that look at bytes rather than characters.

pyarrow compute has no kernel that asks which values hold a byte of some class, or what each value's first byte
is; RE2 answers the first at 5-20x the cost of a numpy comparison over the array's data buffer (measured on
release captions), so the column-wise import and ``validate`` ask numpy and leave RE2 the few rows it finds.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pyarrow as pa


def views(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data) of a ``pa.string()`` array, no copy: value i is ``data[offsets[i]:offsets[i + 1]]``."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset:values.offset + len(values) + 1]
    return offsets, np.frombuffer(values.buffers()[2] or b"", dtype=np.uint8)


def rows_holding(values: pa.Array, wanted: Iterable[int]) -> np.ndarray:
    """Whether each value holds one of the ``wanted`` bytes."""
    offsets, data = views(values)
    found = np.zeros(len(values), dtype=bool)
    if not len(values):
        return found
    data = data[offsets[0]:offsets[-1]]
    wanted = sorted(set(wanted))
    if wanted[-1] < 32:  # control bytes, rare in text: one comparison finds the few bytes to look at
        hits = np.flatnonzero(data <= wanted[-1])
        hits = hits[np.isin(data[hits], wanted)]
    else:
        mask = data == wanted[0]
        for byte in wanted[1:]:
            mask |= data == byte
        hits = np.flatnonzero(mask)
    found[np.searchsorted(offsets, hits + offsets[0], side="right") - 1] = True  # the value holding the byte
    return found


def first_bytes(values: pa.Array) -> np.ndarray:
    """Each value's first byte; -1 for an empty value."""
    offsets, data = views(values)
    if not len(data):
        return np.full(len(values), -1, dtype=np.int16)
    first = data[np.minimum(offsets[:-1], len(data) - 1)].astype(np.int16)
    first[offsets[1:] == offsets[:-1]] = -1
    return first
