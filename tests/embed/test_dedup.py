"""Near-duplicate search (blocked, exact, greedy) and the dataset pass that moves duplicates to the rejects."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch", reason="torch is not installed: pip install 'lvd2m-builder[embed]'")

from lvd2m_builder.config import DedupConfig  # noqa: E402
from lvd2m_builder.dedup.run import dedup_dataset  # noqa: E402
from lvd2m_builder.dedup.search import find_duplicates  # noqa: E402
from lvd2m_builder.errors import DedupError, OutputError  # noqa: E402
from lvd2m_builder.run.stats import ShardStats, merge  # noqa: E402
from lvd2m_builder.schema import REJECT_FEATURES, ROW_FEATURES  # noqa: E402
from lvd2m_builder.store import reshard  # noqa: E402
from lvd2m_builder.store.manifest import Manifest, settings_hash  # noqa: E402
from lvd2m_builder.store.shards import AtomicArrow, ShardResult, read_table  # noqa: E402


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def planted(n: int = 60, dim: int = 16, copies: int = 12, seed: int = 0) -> np.ndarray:
    """``n`` random unit vectors, the last ``copies`` of them slight perturbations of earlier ones."""
    rng = np.random.default_rng(seed)
    vectors = unit(rng.normal(size=(n, dim)))
    for i in range(n - copies, n):
        vectors[i] = unit(vectors[rng.integers(0, n - copies)] + 0.05 * rng.normal(size=dim))
    return vectors.astype(np.float32)


def brute_force(vectors: np.ndarray, order: np.ndarray, threshold: float) -> dict[int, int]:
    """The greedy rule spelled out: in order, a row close to a kept row is a duplicate of the closest one."""
    kept: list[int] = []
    found = {}
    for i in order.tolist():
        sims = [float(vectors[i] @ vectors[k]) for k in kept]
        if sims and max(sims) >= threshold:
            found[i] = kept[int(np.argmax(sims))]
        else:
            kept.append(i)
    return found


@pytest.mark.parametrize("block", [1, 7, 1000], ids=["block1", "block7", "block1000"])
def test_blocked_search_equals_the_greedy_rule(block):
    vectors = planted()
    order = np.random.default_rng(1).permutation(len(vectors))
    found = find_duplicates(vectors, order, 0.95, block=block)
    assert {d.index: d.kept for d in found} == brute_force(vectors, order, 0.95)
    assert len(found) >= 10  # the planted copies (two may share an original and merge)
    for d in found:
        assert d.similarity >= 0.95
        assert d.similarity == pytest.approx(float(vectors[d.index] @ vectors[d.kept]), abs=1e-5)


def test_no_chains_a_duplicate_names_a_row_close_to_it():
    # a ~ b ~ c with a and c apart: b goes, c stays, because c is not close to a kept row
    a = np.array([1.0, 0.0])
    b = unit(np.array([1.0, 0.3]))
    c = unit(np.array([1.0, 0.6]))
    vectors = np.stack([a, b, c]).astype(np.float32)
    assert b @ a > 0.95 and c @ b > 0.95 and c @ a < 0.95
    found = find_duplicates(vectors, np.arange(3), 0.95, block=2)
    assert [(d.index, d.kept) for d in found] == [(1, 0)]


def test_search_is_empty_for_no_rows_and_for_distinct_rows():
    assert find_duplicates(np.zeros((0, 4), np.float32), np.arange(0), 0.9) == []
    assert find_duplicates(np.array([]), [], 0.9) == []  # no rows, so no dimension either
    assert find_duplicates(np.eye(5, dtype=np.float32), np.arange(5), 0.9, block=2) == []


# --- the dataset pass ------------------------------------------------------------------------------------------

SETTINGS = {"preset": "paper", "duration": {"min_s": 10.0, "max_s": None}}


def row(key: str, vector, duration: float = 12.0, width: int = 320, height: int = 240) -> dict:
    return {**dict.fromkeys(ROW_FEATURES), "key": key, "video_id": key, "url": f"/v/{key}.mp4", "dataset_src": "test",
            "span_start": 0.0, "span_end": duration, "duration": duration, "fps": 24.0, "width": width,
            "height": height, "num_frames": int(24 * duration), "cut_times": [], "flow_score": 30.0,
            "flow_backend": "dis",
            "clip_embedding": None if vector is None else np.asarray(vector, np.float16),
            "provenance": json.dumps({"settings": SETTINGS})}


def write_build(out, shards: list[list[dict]], rejects: list[list[dict]] | None = None) -> Manifest:
    """``out`` as lvd2m build leaves it before its end: work units (train and rejects) recorded in the manifest."""
    manifest = Manifest(settings_hash(SETTINGS), SETTINGS)
    rejects = rejects or [[] for _ in shards]
    for index, (accepted, rejected) in enumerate(zip(shards, rejects)):
        name = f"{index:05d}-of-{len(shards):05d}.arrow"
        result = ShardResult(f"s{index}", index, f"data/train-{name}", f"rejects/rejects-{name}",
                             ShardStats(clips=len(accepted) + len(rejected), accepted=len(accepted)))
        for path, rows, features in ((result.train_path, accepted, ROW_FEATURES),
                                     (result.rejects_path, rejected, REJECT_FEATURES)):
            writer = AtomicArrow(out / path, features)
            for r in rows:
                writer.write(r)
            writer.commit()
        for r in rejected:
            result.stats.rejected_by_stage[r["stage"]] = result.stats.rejected_by_stage.get(r["stage"], 0) + 1
        manifest.record(result)
    manifest.save(out)
    return manifest


def published(out, config: str = "train") -> list[dict]:
    return [r for rel in Manifest.load(out).published[config] for r in read_table(out / rel).to_pylist()]


@pytest.fixture
def dataset(tmp_path):
    v = planted(8, 16, copies=0, seed=3)
    near = lambda i, s: unit(v[i] + 0.01 * np.random.default_rng(s).normal(size=16))  # noqa: E731
    shards = [
        [row("a", v[0]), row("b", v[1]), row("a-copy", near(0, 1), width=160, height=120)],
        [row("c", v[2]), row("b-long", near(1, 2), duration=20.0), row("none", None)],
        [row("d", v[3]), row("c-copy", near(2, 3)), row("a-copy2", near(0, 4), width=160, height=120)],
    ]
    motion = {k: v for k, v in row("m", v[4]).items() if k in REJECT_FEATURES}
    rejected = [[{**motion, "stage": "motion", "reason": "flow score 3 < min 20"}], [], []]
    manifest = write_build(tmp_path, shards, rejected)
    return tmp_path, manifest


def test_duplicates_across_shards_move_to_the_rejects_naming_the_kept_key(dataset):
    out, manifest = dataset
    summary = dedup_dataset(out, DedupConfig(threshold=0.95, block=2), manifest)
    assert summary["rows"] == 9 and summary["with_embedding"] == 8 and summary["duplicates"] == 4
    assert [r["key"] for r in published(out)] == ["a", "c", "b-long", "none", "d"]  # the larger of a/a-copy, ...
    moved = {r["key"]: r for r in published(out, "rejects")}
    assert moved["m"]["stage"] == "motion"  # earlier rejects stay
    expected = {"a-copy": "a", "b": "b-long", "a-copy2": "a", "c-copy": "c"}  # c/c-copy tie: the smaller key
    assert set(moved) == {"m", *expected}
    for key, kept in expected.items():
        assert moved[key]["stage"] == "dedup" and f"near-duplicate of {kept} (cosine " in moved[key]["reason"]
        assert moved[key]["flow_score"] == 30.0 and moved[key]["provenance"]  # the row's scores come along
    assert [r["key"] for r in published(out, "rejects")] == ["m", "b", "a-copy", "c-copy", "a-copy2"]
    stats = merge(Manifest.load(out).stats())
    assert stats["accepted"] == 5 and stats["rejected_by_stage"] == {"dedup": 4, "motion": 1} and stats["clips"] == 10
    assert "dedup" in stats["seconds"]
    assert not list(out.glob("*/*.arrow"))  # the work units were compacted into the published files


def test_kept_row_does_not_depend_on_shard_order(tmp_path):
    v = planted(2, 16, copies=0, seed=5)
    first = write_build(tmp_path / "one", [[row("x", v[0]), row("y", v[0])]])
    second = write_build(tmp_path / "two", [[row("y", v[0])], [row("x", v[0])]])
    dedup_dataset(tmp_path / "one", DedupConfig(), first)
    dedup_dataset(tmp_path / "two", DedupConfig(), second)
    for out in (tmp_path / "one", tmp_path / "two"):
        assert [r["key"] for r in published(out)] == ["x"]  # equal duration and size: the smaller key


def test_rerun_changes_nothing_and_a_killed_pass_leaves_the_old_rows(dataset, monkeypatch):
    out, manifest = dataset
    monkeypatch.setattr(reshard, "write_json_atomic", _die)  # killed after writing, before the swap
    with pytest.raises(KeyboardInterrupt):
        dedup_dataset(out, DedupConfig(), manifest)
    assert Manifest.load(out).published is None and len(Manifest.load(out).shards) == 3  # the units stand
    monkeypatch.undo()
    assert dedup_dataset(out, DedupConfig(), Manifest.load(out))["duplicates"] == 4
    files = {p: p.read_bytes() for p in out.glob("*/*.parquet")}
    assert dedup_dataset(out, DedupConfig(), Manifest.load(out))["duplicates"] == 0
    assert {p: p.read_bytes() for p in out.glob("*/*.parquet")} == files  # nothing rewritten
    assert merge(Manifest.load(out).stats())["rejected_by_stage"]["dedup"] == 4


def _die(*args, **kwargs):
    raise KeyboardInterrupt


def test_embeddings_of_different_models_are_refused(tmp_path):
    manifest = write_build(tmp_path, [[row("a", np.ones(8) / 8 ** 0.5)], [row("b", np.ones(4) / 2)]])
    with pytest.raises(DedupError, match="dimensions"):
        dedup_dataset(tmp_path, DedupConfig(), manifest)


def test_a_second_pass_at_a_lower_threshold_adds_to_the_counts(dataset):
    """Stats count every clip dedup moved, by stage and by reason, over all passes; the search time is kept to
    0.1 ms in the stats and reported to 1 ms."""
    out, manifest = dataset
    dedup_dataset(out, DedupConfig(threshold=0.95), manifest)
    second = dedup_dataset(out, DedupConfig(threshold=0.01), Manifest.load(out))
    assert second["duplicates"] > 0
    stats = merge(Manifest.load(out).stats())
    assert stats["rejected_by_stage"] == {"dedup": 4 + second["duplicates"], "motion": 1}
    assert stats["rejected_by_reason"]["dedup: near-duplicate of a kept clip"] == 4 + second["duplicates"]
    assert stats["accepted"] == 5 - second["duplicates"]
    seconds = Manifest.load(out).published["stats"]["seconds"]["dedup"]
    assert seconds == round(seconds, 4) and seconds == pytest.approx(second["search_seconds"], abs=5e-4)


def test_the_pass_publishes_files_of_the_size_asked_for(dataset):
    out, manifest = dataset
    dedup_dataset(out, DedupConfig(threshold=0.95), manifest, max_bytes=1)
    published_files = Manifest.load(out).published
    assert published_files["max_shard_size"] == 1 and len(published_files["train"]) == 5  # a file per row
    assert [r["key"] for r in published(out)] == ["a", "c", "b-long", "none", "d"]


def test_an_output_without_a_manifest_is_refused_naming_it(tmp_path):
    with pytest.raises(OutputError) as caught:
        dedup_dataset(tmp_path, DedupConfig())
    assert (caught.value.path, caught.value.why) == (
        str(tmp_path), "no _manifest.json: not the output of lvd2m build or lvd2m import")
