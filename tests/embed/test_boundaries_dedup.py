"""Near-duplicates at their edges: a cosine exactly at the threshold is a duplicate, and which clip is kept follows
duration, then pixels, then key, in that order."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="torch is not installed: pip install 'lvd2m-builder[embed]'")

from fakes.synthetic_dataset import row, write_dataset  # noqa: E402
from lvd2m_builder.config import DedupConfig  # noqa: E402
from lvd2m_builder.dedup.run import dedup_dataset  # noqa: E402
from lvd2m_builder.dedup.search import find_duplicates  # noqa: E402
from lvd2m_builder.store.shards import read_table  # noqa: E402

#: Cosine exactly 0.5, with no rounding anywhere: both vectors have norm 1 and the products are powers of two.
AXIS = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
DIAGONAL = np.array([0.5, 0.5, 0.5, 0.5], np.float32)


@pytest.mark.parametrize("block", [1, 2], ids=["across-blocks", "inside-a-block"])
def test_a_cosine_exactly_at_the_threshold_is_a_duplicate(block):
    (dup,) = find_duplicates(np.stack([AXIS, DIAGONAL]), np.arange(2), threshold=0.5, block=block)
    assert (dup.index, dup.kept, dup.similarity) == (1, 0, 0.5)
    assert find_duplicates(np.stack([AXIS, DIAGONAL]), np.arange(2), threshold=0.5001, block=block) == []


def _kept(out) -> set[str]:
    return {key for path in out.glob("data/*.parquet") for key in read_table(path, ["key"]).column("key").to_pylist()}


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


def test_the_pass_loads_and_updates_the_manifest_when_given_none(tmp_path):
    """``lvd2m dedup`` without a manifest object: the one on disk is loaded, reconciled and saved."""
    import time

    from lvd2m_builder.run.stats import merge
    from lvd2m_builder.store.manifest import Manifest

    vector = np.full(8, 8 ** -0.5, np.float16)
    rows = [row(0, key="clip-a", clip_embedding=vector), row(1, key="clip-b", clip_embedding=vector)]
    out = write_dataset(tmp_path / "out", [[rows[0]], [rows[1]]], plots=False)
    started = time.perf_counter()
    summary = dedup_dataset(out, DedupConfig(threshold=0.95))
    elapsed = time.perf_counter() - started
    assert set(summary) == {"rows", "with_embedding", "duplicates", "threshold", "search_seconds"}
    assert {k: v for k, v in summary.items() if k != "search_seconds"} == {
        "rows": 2, "with_embedding": 2, "duplicates": 1, "threshold": 0.95}
    seconds = summary["search_seconds"]
    assert isinstance(seconds, float) and 0 <= seconds <= elapsed and seconds == round(seconds, 3)
    stats = merge(Manifest.load(out).stats())
    assert stats["accepted"] == 1 and stats["rejected_by_stage"] == {"dedup": 1}


def test_the_pass_updates_the_manifest_object_it_is_given(tmp_path):
    """lvd2m build hands its own manifest over and writes stats.json from it afterwards."""
    from lvd2m_builder.run.stats import merge
    from lvd2m_builder.store.manifest import Manifest

    vector = np.full(8, 8 ** -0.5, np.float16)
    rows = [row(0, key="clip-a", clip_embedding=vector), row(1, key="clip-b", clip_embedding=vector)]
    out = write_dataset(tmp_path / "out", [[rows[0], rows[1]]], plots=False)
    manifest = Manifest.load(out)
    dedup_dataset(out, DedupConfig(), manifest)
    assert merge(manifest.stats())["accepted"] == 1


def test_a_dataset_without_embeddings_has_nothing_to_dedup(tmp_path):
    out = write_dataset(tmp_path / "out", [[row(0), row(1)]], plots=False)
    summary = dedup_dataset(out, DedupConfig())
    assert (summary["rows"], summary["with_embedding"], summary["duplicates"]) == (2, 0, 0)
    assert _kept(out) == {"clip-0000", "clip-0001"}


def test_embeddings_of_two_sizes_are_refused_naming_the_dataset(tmp_path):
    from lvd2m_builder.errors import DedupError

    rows = [row(0, clip_embedding=np.full(8, 8 ** -0.5, np.float16)), row(1, clip_embedding=np.full(4, 0.5, np.float16))]
    out = write_dataset(tmp_path / "out", [[rows[0]], [rows[1]]], plots=False)
    with pytest.raises(DedupError) as info:
        dedup_dataset(out, DedupConfig())
    assert info.value.path == str(out) and "dimensions [4, 8]" in info.value.why


@pytest.mark.parametrize("block", [1, 2, 4], ids=["across-blocks", "one-kept-row-in-the-block", "inside-a-block"])
def test_a_tie_names_the_earliest_kept_row_whatever_the_block_size(block):
    # the last row is exactly as close to the second as to the third (both kept, orthogonal): cos 1/sqrt(2) each;
    # with block 2 the second row lies in an earlier block and the third in the last row's own block
    vectors = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]], np.float32)
    found = find_duplicates(vectors, np.arange(4), threshold=0.7, block=block)
    assert [(d.index, d.kept) for d in found] == [(3, 1)]


def test_float16_embeddings_are_compared_in_float32():
    """The shards store embeddings as float16: the cosine must not take float16's rounding (about 1e-3 near 1)."""
    rng = np.random.default_rng(0)
    first = rng.normal(size=64)
    vectors = np.stack([first, first + 0.05 * rng.normal(size=64)]).astype(np.float16)
    wide = vectors.astype(np.float64)
    cosine = float(wide[0] @ wide[1] / np.linalg.norm(wide[0]) / np.linalg.norm(wide[1]))
    (dup,) = find_duplicates(vectors, np.arange(2), threshold=0.9)
    assert dup.similarity == pytest.approx(cosine, abs=1e-6)
