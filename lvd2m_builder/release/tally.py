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
    """``digest`` of each text, as an array: the hashes' two's-complement bits, which are ``digest``'s (read as
    int64 and viewed as uint64: no Python step per text beyond the hash, a third of the time of masking each)."""
    return np.fromiter(map(hash, texts), np.int64, len(texts)).view(np.uint64)


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

    A dict of digests would cost about 100 bytes an entry (two int objects and a slot); here the digests sit in
    sorted numpy arrays (a binary search each): the older ones in one, the values that ``firsts`` met since in one
    array per block, and what ``first`` met one at a time in a dict, all merged into the one when ``batch`` is
    reached.
    """

    def __init__(self, batch: int = 1 << 16) -> None:
        self.digests = np.empty(0, np.uint64)
        self.places = np.empty(0, np.uint64)
        self.blocks: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted digests, their places), from ``firsts``
        self.pending = 0  # digests in ``blocks``
        self.recent: dict[int, int] = {}  # from ``first``
        self.batch = batch

    def first(self, text: str, place: int) -> Optional[int]:
        """Where ``text`` was first seen; None when this is its first time (``place`` is then remembered)."""
        value = digest(text)
        if value in self.recent:
            return self.recent[value]
        for digests, places in [(self.digests, self.places), *self.blocks]:
            i = int(np.searchsorted(digests, np.uint64(value)))
            if i < len(digests) and int(digests[i]) == value:
                return int(places[i])
        self.recent[value] = place
        if len(self.recent) + self.pending >= self.batch:
            self._merge()
        return None

    def firsts(self, texts: list[str], places: list[int] | np.ndarray) -> np.ndarray:
        """``first`` of each text in turn, for a block of them (places >= 0), as an array (-1 for None), without a
        Python step per value: the digests are looked up in the sorted arrays all at once, and a value met twice in
        the block answers with its first."""
        values = digests(texts)
        places = np.asarray(places, dtype=np.uint64)
        unique, at, inverse = np.unique(values, return_index=True, return_inverse=True)  # sorted: a faster search
        older = np.full(len(unique), -1, dtype=np.int64)
        for digests_, places_ in [(self.digests, self.places), *self.blocks]:
            _lookup(digests_, places_, unique, older)
        if self.recent:
            older = np.array([self.recent.get(int(v), o) if o < 0 else o for v, o in zip(unique, older)], np.int64)
        new = older < 0
        if new.any():  # the block's new digests, sorted, with where each was first met
            self.blocks.append((unique[new], places[at[new]]))
            self.pending += int(new.sum())
        if len(self.recent) + self.pending >= self.batch:
            self._merge()
        answers = np.where(new, places[at].astype(np.int64), older)[inverse]
        first_time = new[inverse] & (at[inverse] == np.arange(len(values)))
        return np.where(first_time, -1, answers)

    def _merge(self) -> None:
        count = len(self.recent)
        digests_ = np.concatenate([self.digests, *(d for d, _ in self.blocks),
                                   np.fromiter(self.recent.keys(), np.uint64, count)])
        places = np.concatenate([self.places, *(p for _, p in self.blocks),
                                 np.fromiter(self.recent.values(), np.uint64, count)])
        order = np.argsort(digests_, kind="stable")
        self.digests, self.places = digests_[order], places[order]
        self.blocks, self.pending, self.recent = [], 0, {}


def _lookup(digests_: np.ndarray, places: np.ndarray, values: np.ndarray, answers: np.ndarray) -> None:
    """Fill ``answers`` (-1 where not yet known) with the place of each value that ``digests_`` (sorted) holds."""
    if not len(digests_):
        return
    at = np.minimum(np.searchsorted(digests_, values), len(digests_) - 1)
    found = (digests_[at] == values) & (answers < 0)
    answers[found] = places[at[found]].astype(np.int64)
