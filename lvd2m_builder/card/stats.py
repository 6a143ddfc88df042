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
import pyarrow.compute as pc

from lvd2m_builder import schema
from lvd2m_builder.store.reader import open_shard, open_source

#: Fig. 4 of the paper: clip durations in 10-15, 15-20, 20-30, 30-50 and >50 s.
DURATION_EDGES = (10, 15, 20, 30, 50)
WORD_EDGES = (1, 50, 100, 150, 200, 300)
FLOW_EDGES = (20, 30, 50, 100)
COLUMNS = ["duration", "flow_score", "refined_caption", "width", "height"]


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
    durations, flows, words = [], [], []
    resolutions: Counter = Counter()
    for rel in source.glob(pattern or schema.TRAIN_PATTERN):
        with open_shard(source, rel, COLUMNS) as (_, batches):
            for batch in batches:
                # copies (astype): a zero-copy view would keep the whole batch it was read with alive
                durations.append(batch.column("duration").drop_null().to_numpy().astype(float))
                flows.append(batch.column("flow_score").drop_null().to_numpy().astype(float))
                counts = pc.list_value_length(pc.utf8_split_whitespace(batch.column("refined_caption"))).drop_null()
                words.append(counts.filter(pc.greater(counts, 0)).to_numpy())
                sizes = zip(batch.column("width").to_pylist(), batch.column("height").to_pylist())
                resolutions.update(f"{w}x{h}" for w, h in sizes if w and h)
    return Summary(_join(durations, float), _join(flows, float), _join(words, np.int64), resolutions)


def _join(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)
