"""The numbers behind the card: a summary like LVD-2M's Table 1 and the distributions of its Fig. 4.

Read from the accepted shards (only the columns needed, batch by batch), so the card describes the rows that
are there, not what the run meant to write.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lvd2m_builder import schema
from lvd2m_builder.arrow_bytes import rows_past_ascii, views, windows
from lvd2m_builder.store.reader import open_shard, open_source

#: Fig. 4 of the paper: clip durations in 10-15, 15-20, 20-30, 30-50 and >50 s.
DURATION_EDGES = (10, 15, 20, 30, 50)
WORD_EDGES = (1, 50, 100, 150, 200, 300)
FLOW_EDGES = (20, 30, 50, 100)
COLUMNS = ["duration", "flow_score", "refined_caption", "width", "height"]
#: Bytes up to 32 that are no space to ``str.split``.
_NO_SPACE_CONTROLS = [*range(0, 9), *range(14, 28)]


@dataclass(frozen=True)
class Bucket:
    label: str
    clips: int
    percent: float


@dataclass
class Summary:
    durations: np.ndarray = field(default_factory=lambda: np.zeros(0))
    flow_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    caption_words: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    resolutions: Counter = field(default_factory=Counter)

    @property
    def clips(self) -> int:
        return len(self.durations)

    def table(self) -> dict[str, str]:
        """One row like the paper's Table 1; a dash where nothing was measured."""
        return {
            "clips": str(self.clips),
            "total hours": f"{self.durations.sum() / 3600:.2f}",
            "mean duration (s)": _mean(self.durations),
            "median duration (s)": _mean(self.durations, np.median),
            "captioned clips": str(len(self.caption_words)),
            "mean caption words": _mean(self.caption_words),
            "mean flow score": _mean(self.flow_scores),
            "most common resolution": self.resolutions.most_common(1)[0][0] if self.resolutions else "-",
        }

    def duration_buckets(self) -> list[Bucket]:
        return buckets(self.durations, DURATION_EDGES, " s")

    def word_buckets(self) -> list[Bucket]:
        return buckets(self.caption_words, WORD_EDGES, " words")

    def flow_buckets(self) -> list[Bucket]:
        return buckets(self.flow_scores, FLOW_EDGES, "")


def _mean(values: np.ndarray, how=np.mean) -> str:
    return f"{how(values):.1f}" if len(values) else "-"


def buckets(values: np.ndarray, edges: tuple[float, ...], unit: str) -> list[Bucket]:
    """Counts in [e0, e1), [e1, e2) ... and >= the last edge; a "< e0" bucket only when it holds values."""
    counts = np.bincount(np.digitize(values, edges), minlength=len(edges) + 1)
    inner = [f"{a:g}-{b:g}{unit}" for a, b in zip(edges, edges[1:])]
    labels = [f"<{edges[0]:g}{unit}", *inner, f">{edges[-1]:g}{unit}"]
    total = max(len(values), 1)
    return [Bucket(label, int(n), round(100 * int(n) / total, 1)) for i, (label, n) in enumerate(zip(labels, counts))
            if i > 0 or n > 0]


def summarize(out: Path, pattern: Optional[str] = None) -> Summary:
    """The accepted rows of the build in ``out`` (files matching ``pattern``, the train shards by default)."""
    source = open_source(str(out))
    parts = []
    for rel in source.glob(pattern or schema.TRAIN_PATTERN):
        with open_shard(source, rel, COLUMNS) as (_, batches):
            parts.extend(batch_summary(batch) for batch in batches)
    return combine(parts)


def batch_summary(batch: pa.RecordBatch | pa.Table) -> Summary:
    """One batch's share of the summary (rows with ``COLUMNS``), for ``combine``: the import sums its blocks as
    it maps them instead of reading the written files back."""
    # copies (astype) in the columns' own float32, made float64 by ``combine``: a zero-copy view would keep the
    # whole batch alive, and an import holds these for every row until the end
    words = word_counts(batch.column("refined_caption"))
    return Summary(batch.column("duration").drop_null().to_numpy().astype(np.float32),
                   batch.column("flow_score").drop_null().to_numpy().astype(np.float32),
                   words[words > 0].astype(np.int32), _resolutions(batch.column("width"), batch.column("height")))


def _resolutions(width: pa.ChunkedArray | pa.Array, height: pa.ChunkedArray | pa.Array) -> Counter:
    """"WxH" of the rows where both are known and not 0, counted (an import knows none: nothing to count)."""
    known = pc.fill_null(pc.and_(pc.not_equal(width, 0), pc.not_equal(height, 0)), False)
    if not pc.any(known).as_py():
        return Counter()
    sizes = pc.binary_join_element_wise(pc.cast(pc.filter(width, known), pa.string()),
                                        pc.cast(pc.filter(height, known), pa.string()), "x")
    return value_counter(sizes)


def value_counter(values: pa.Array | pa.ChunkedArray) -> Counter:
    """pyarrow's ``value_counts`` of a column, as the Counter the card and stats.json sum."""
    return Counter({item["values"]: item["counts"] for item in pc.value_counts(values).to_pylist()})


def combine(parts: list[Summary]) -> Summary:
    resolutions: Counter = Counter()
    for part in parts:
        resolutions.update(part.resolutions)
    return Summary(_join([p.durations for p in parts], float), _join([p.flow_scores for p in parts], float),
                   _join([p.caption_words for p in parts], np.int64), resolutions)


def _join(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


def word_counts(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``len(text.split())`` of each value (0 for null), as the preview counts a caption's words.

    Counted on the bytes of the column (a word starts at a byte that is not a space and follows one, or starts
    the value), taking every byte up to 32 for a space: pyarrow's ``utf8_split_whitespace`` builds every word as
    a string, 4-5x the time, and counts the empty strings at the ends. A value where that is not Python's rule
    (a byte that is not ASCII, whose spaces may be Unicode ones; a control byte that is no space) is counted by
    ``str.split`` itself."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if values.type != pa.string():
        values = values.cast(pa.string())
    offsets, data = views(values)
    counts = np.zeros(len(values), dtype=np.int64)
    for i, j in windows(offsets):
        own = offsets[i:j + 1].astype(np.int64)
        chunk = data[own[0]:own[-1]]
        if not len(chunk):
            continue
        own -= own[0]
        space = chunk <= 32
        begins = np.empty(len(chunk), dtype=bool)  # where a word begins: no space, after a space
        begins[0] = not space[0]
        np.greater(space[:-1], space[1:], out=begins[1:])
        full = own[:-1] < own[1:]  # the values that are not empty
        starts = own[:-1][full]
        begins[starts] = ~space[starts]  # a value's first byte follows nothing of its own
        # summed value by value in int32 (a third of the time of finding every word's place and searching them)
        counts[i:j][full] = np.add.reduceat(begins, starts, dtype=np.int32)
    counts[~pc.is_valid(values).to_numpy(zero_copy_only=False)] = 0
    other = np.flatnonzero(np.logical_or(*rows_past_ascii(values, _NO_SPACE_CONTROLS)))
    if len(other):
        counts[other] = [len(text.split()) if text else 0 for text in values.take(pa.array(other)).to_pylist()]
    return counts
