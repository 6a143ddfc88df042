"""Near-duplicates at their edges: a cosine exactly at the threshold is a duplicate, and which clip is kept follows
duration, then pixels, then key, in that order."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("torch", reason="torch is not installed: pip install 'lvd2m-builder[embed]'")

from lvd2m_builder.config import DedupConfig  # noqa: E402
from lvd2m_builder.embed.dedup import find_duplicates  # noqa: E402
from lvd2m_builder.embed.dedup_pass import dedup_dataset  # noqa: E402
from synthetic_dataset import row, write_dataset  # noqa: E402

#: Cosine exactly 0.5, with no rounding anywhere: both vectors have norm 1 and the products are powers of two.
AXIS = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
DIAGONAL = np.array([0.5, 0.5, 0.5, 0.5], np.float32)


@pytest.mark.parametrize("block", [1, 2], ids=["across-blocks", "inside-a-block"])
def test_a_cosine_exactly_at_the_threshold_is_a_duplicate(block):
    (dup,) = find_duplicates(np.stack([AXIS, DIAGONAL]), np.arange(2), threshold=0.5, block=block)
    assert (dup.index, dup.kept, dup.similarity) == (1, 0, 0.5)
    assert find_duplicates(np.stack([AXIS, DIAGONAL]), np.arange(2), threshold=0.5001, block=block) == []


def _kept(out) -> set[str]:
    keys = set()
    for path in out.glob("data/*.arrow"):
        with pa.memory_map(str(path)) as source:
            keys.update(pa.ipc.open_stream(source).read_all().column("key").to_pylist())
    return keys


def _pair(tmp_path, small: dict, large: dict) -> set[str]:
    """Two copies of one clip (same embedding) in two shards; returns the keys left in data/."""
    vector = np.full(8, 8 ** -0.5, np.float16)
    rows = [row(0, key="clip-a", clip_embedding=vector, **small), row(1, key="clip-b", clip_embedding=vector, **large)]
    out = write_dataset(tmp_path / "out", [[rows[0]], [rows[1]]], plots=False)
    assert dedup_dataset(out, DedupConfig(threshold=0.95))["duplicates"] == 1
    return _kept(out)


def test_same_duration_the_clip_with_more_pixels_is_kept_even_with_the_larger_key(tmp_path):
    kept = _pair(tmp_path, dict(duration=12.0, width=320, height=240), dict(duration=12.0, width=1280, height=720))
    assert kept == {"clip-b"}


def test_a_longer_clip_wins_over_more_pixels(tmp_path):
    kept = _pair(tmp_path, dict(duration=20.0, width=320, height=240), dict(duration=12.0, width=1280, height=720))
    assert kept == {"clip-a"}


def test_equal_duration_and_pixels_keep_the_smaller_key(tmp_path):
    kept = _pair(tmp_path, dict(duration=12.0, width=640, height=360), dict(duration=12.0, width=640, height=360))
    assert kept == {"clip-a"}
