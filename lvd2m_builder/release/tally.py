"""Count repeated values (keys, captions) over millions of rows in 8 bytes per row.

Keeping the strings (or a Counter of them) would grow by hundreds of bytes per row; a 64-bit digest per row in a
flat array is 17 MB for the 2.1M-row release, and one sort at the end finds every repeat exactly (a collision
between two different strings has odds of about n^2 / 2^65, negligible here).
"""

from __future__ import annotations

import hashlib
from array import array
from dataclasses import dataclass

import numpy as np


def digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class Repeat:
    digest: int
    count: int
    first: int  # position of the first occurrence among the tallied values


class HashTally:
    """Digests in the order seen; ``repeats`` lists the values seen at least ``min_count`` times."""

    def __init__(self) -> None:
        self.digests = array("Q")

    def add(self, text: str) -> int:
        """Tally ``text``; returns its position."""
        self.digests.append(digest(text))
        return len(self.digests) - 1

    def __len__(self) -> int:
        return len(self.digests)

    def repeats(self, min_count: int = 2) -> list[Repeat]:
        """Repeated values, most frequent first."""
        if not self.digests:
            return []
        values, first, counts = np.unique(np.frombuffer(self.digests, dtype=np.uint64), return_index=True,
                                          return_counts=True)
        chosen = np.flatnonzero(counts >= min_count)
        chosen = chosen[np.lexsort((first[chosen], -counts[chosen]))]
        return [Repeat(int(values[i]), int(counts[i]), int(first[i])) for i in chosen]

    def surplus(self) -> int:
        """How many values repeat an earlier one (``len - distinct``)."""
        if not self.digests:
            return 0
        return len(self.digests) - len(np.unique(np.frombuffer(self.digests, dtype=np.uint64)))
