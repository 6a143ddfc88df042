"""Count repeated values (captions) and find where a value was first seen (keys) over millions of rows, in 8 and
16 bytes per row.

Keeping the strings (or a Counter of them) would grow by hundreds of bytes per row; a 64-bit digest per row in a
flat array is 17 MB for the 2.1M-row release, and one sort at the end finds every repeat exactly (a collision
between two different strings has odds of about n^2 / 2^65, negligible here). The digest is Python's own string
hash (SipHash, keyed per process): a tally lives in one process, and it costs a tenth of a blake2b call.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Optional

import numpy as np

_MASK = (1 << 64) - 1


def digest(text: str) -> int:
    return hash(text) & _MASK


def digests(texts: list[str]) -> np.ndarray:
    """``digest`` of each text, as an array."""
    return np.fromiter((hash(text) & _MASK for text in texts), np.uint64, len(texts))


@dataclass(frozen=True)
class Repeat:
    digest: int
    count: int
    first: int  # position of the first occurrence among the tallied values


class HashTally:
    """Digests in the order seen; ``repeats`` lists the values seen at least ``min_count`` times."""

    def __init__(self) -> None:
        self.digests = array("Q")

    def extend(self, values: np.ndarray) -> None:
        """Tally values by their digests (``digests``: worked out where the texts are), in order."""
        self.digests.frombytes(values.astype(np.uint64).tobytes())

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



class FirstSeen:
    """Where each value was first seen, asked as the values stream by, in 16 bytes per value.

    A dict of digests would cost about 100 bytes an entry (two int objects and a slot); here the older digests sit
    in sorted numpy arrays (a binary search each) and only the latest ``batch`` in a dict, merged in when it fills.
    """

    def __init__(self, batch: int = 1 << 16) -> None:
        self.digests = np.empty(0, np.uint64)
        self.places = np.empty(0, np.uint64)
        self.recent: dict[int, int] = {}
        self.batch = batch

    def first(self, text: str, place: int) -> Optional[int]:
        """Where ``text`` was first seen; None when this is its first time (``place`` is then remembered)."""
        value = digest(text)
        if value in self.recent:
            return self.recent[value]
        i = int(np.searchsorted(self.digests, np.uint64(value)))
        if i < len(self.digests) and int(self.digests[i]) == value:
            return int(self.places[i])
        self.recent[value] = place
        if len(self.recent) >= self.batch:
            self._merge()
        return None

    def firsts(self, texts: list[str], places: list[int]) -> list[Optional[int]]:
        """``first`` of each text in turn, for a block of them: the older digests are searched all at once (a
        numpy call per value costs more than the rest of ``first``), then each value against the recent ones."""
        values = [digest(text) for text in texts]
        at = np.searchsorted(self.digests, np.fromiter(values, np.uint64, len(values)))
        found = at < len(self.digests)
        found[found] = self.digests[at[found]] == np.fromiter(values, np.uint64, len(values))[found]
        places_then = self.places[np.minimum(at, len(self.places) - 1)].astype(np.int64) if len(self.places) else 0
        older = np.where(found, places_then, -1).tolist()
        answers: list[Optional[int]] = []
        for value, place, old in zip(values, places, older):
            if old >= 0:
                answers.append(old)
            elif value in self.recent:
                answers.append(self.recent[value])
            else:
                self.recent[value] = place
                answers.append(None)
        if len(self.recent) >= self.batch:
            self._merge()
        return answers

    def _merge(self) -> None:
        count = len(self.recent)
        digests = np.concatenate([self.digests, np.fromiter(self.recent.keys(), np.uint64, count)])
        places = np.concatenate([self.places, np.fromiter(self.recent.values(), np.uint64, count)])
        order = np.argsort(digests, kind="stable")
        self.digests, self.places = digests[order], places[order]
        self.recent = {}
