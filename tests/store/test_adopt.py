"""No shard is deleted for want of a manifest record: missing, torn or behind manifests are made whole from the
shards (issue 13, items 1 and 4), and a rerun never holds a key twice. Shards are the published Parquet files of a
finished build, and the Arrow work units of a build killed before its end (``unpublished``)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from datasets import load_dataset

from fakes.cli_runner import lvd2m, one_line_error
from lvd2m_builder.config import preset
from lvd2m_builder.run import build as build_module
from lvd2m_builder.run.build import build
from lvd2m_builder.store.adopt import SET_ASIDE
from lvd2m_builder.store.shards import read_table
from lvd2m_builder.validate.run import validate

CONFIG = preset("paper").replace({"shard_size": 1})


def rows(out: Path) -> list[tuple[str, str | None]]:
    found = [(r["key"], r.get("stage")) for name in (None, "rejects")
             for r in load_dataset(str(out), name, streaming=True)["train"]]
    assert len(found) == len({key for key, _ in found}), "a key is held twice"
    return sorted(found)


def shard_sums(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for d in ("data", "rejects") for s in ("arrow", "parquet") for p in sorted((out / d).glob(f"*.{s}"))}


def published(out: Path) -> dict[str, dict]:
    """Every published row by key, provenance (with the seconds each stage took on this run) included."""
    return {r["key"]: r for d in ("data", "rejects") for p in (out / d).glob("*.parquet")
            for r in read_table(p).to_pylist()}


def unit_rows(*paths: Path) -> dict[str, dict]:
    return {r["key"]: r for path in paths for r in read_table(path).to_pylist()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, clips_dir) -> Path:
    out = tmp_path_factory.mktemp("reference") / "out"
    build([str(clips_dir)], out, CONFIG, progress=False)
    return out


@pytest.fixture(scope="module")
def killed(tmp_path_factory, clips_dir) -> Path:
    """A build killed after its last work unit and before its end: five units recorded, nothing published."""
    out = tmp_path_factory.mktemp("killed") / "out"
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(build_module, "compact", lambda out, manifest, max_bytes: manifest)
        build([str(clips_dir)], out, CONFIG, progress=False)
    return out


@pytest.fixture
def out(reference, tmp_path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(reference, copy)
    return copy


@pytest.fixture
def unpublished(killed, tmp_path) -> Path:
    copy = tmp_path / "unpublished"
    shutil.copytree(killed, copy)
    return copy


def test_a_build_over_an_output_without_its_manifest_keeps_every_row(tmp_path, clips_dir, reference):
    out = tmp_path / "out"
    first = sorted(clips_dir.iterdir())[:4]
    assert lvd2m("build", *first, "--out", out, "--shard-size", "1", "--no-progress").returncode == 0
    before = published(out)
    (out / "_manifest.json").unlink()  # a hand deletion, or a copy downloaded from the Hub
    result = lvd2m("build", clips_dir, "--out", out, "--shard-size", "1", "--no-progress", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["clips"] == 5
    after = published(out)
    assert {key: after[key] for key in before} == before  # every earlier row still there, as it was: not rebuilt
    assert rows(out) == rows(reference)
    assert validate(str(out)).ok


def test_a_torn_manifest_is_rebuilt_from_the_shards(out, reference, clips_dir):
    manifest = out / "_manifest.json"
    torn = manifest.read_bytes()[: manifest.stat().st_size // 2]
    manifest.write_bytes(torn)
    before = {rel: (out / rel).stat().st_mtime_ns for rel in shard_sums(out)}
    assert lvd2m("card", out).returncode == 0  # read-only commands read the rows' settings instead
    result = lvd2m("build", clips_dir, "--out", out, "--shard-size", "1", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert {rel: (out / rel).stat().st_mtime_ns for rel in shard_sums(out)} == before  # adopted, nothing redone
    assert (out / "_manifest.json.unreadable").read_bytes() == torn  # kept, for whoever wants to look
    assert json.loads(manifest.read_text())["published"]["stats"]["clips"] == 5
    assert rows(out) == rows(reference) and validate(str(out)).ok


def test_a_shard_renamed_before_its_record_is_adopted_not_redone(unpublished, reference, clips_dir):
    """Two workers finishing out of order: the later shard's files were renamed, the build was killed before the
    manifest recorded them."""
    out = unpublished
    manifest = json.loads((out / "_manifest.json").read_text())
    shard_id, entry = sorted(manifest["shards"].items(), key=lambda kv: kv[1]["index"])[1]
    del manifest["shards"][shard_id]
    (out / "_manifest.json").write_text(json.dumps(manifest))
    unrecorded = unit_rows(out / entry["train"], out / entry["rejects"])
    build([str(clips_dir)], out, CONFIG, progress=False)
    after = published(out)
    assert {key: after[key] for key in unrecorded} == unrecorded  # adopted as they were, then published
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["shards"] == {} and manifest["published"]["stats"]["clips"] == 5
    assert rows(out) == rows(reference)
    assert json.loads((out / "stats.json").read_text())["clips"] == 5


def test_an_unrecorded_copy_of_recorded_rows_is_set_aside_never_duplicated(unpublished, reference, clips_dir):
    out = unpublished
    copy = out / "data" / "train-00099-of-00100.arrow"
    entry = next(e for e in json.loads((out / "_manifest.json").read_text())["shards"].values() if e["stats"]["accepted"])
    shutil.copy(out / entry["train"], copy)
    content = copy.read_bytes()
    build([str(clips_dir)], out, CONFIG, progress=False)
    assert not copy.exists() and (out / SET_ASIDE / "data" / copy.name).read_bytes() == content
    assert rows(out) == rows(reference) and validate(str(out)).ok


def test_an_unreadable_unrecorded_shard_is_refused_and_left_alone(out, clips_dir):
    bad = out / "data" / "train-00042-of-00043.arrow"
    bad.write_bytes(b"not arrow at all")
    before = shard_sums(out)
    line = one_line_error(lvd2m("build", clips_dir, "--out", out, "--no-progress"))
    assert "train-00042-of-00043.arrow" in line and "move it out" in line
    assert shard_sums(out) == before


def test_a_recorded_shard_deleted_by_hand_is_built_again(unpublished, reference, clips_dir):
    out = unpublished
    manifest = json.loads((out / "_manifest.json").read_text())
    entry = next(e for e in manifest["shards"].values() if e["stats"]["accepted"])
    (out / entry["train"]).unlink()
    build([str(clips_dir)], out, CONFIG, progress=False)
    assert rows(out) == rows(reference)  # the accepted clip is back
    # its (empty) rejects partner was adopted and published with the others, not set aside
    assert not (out / entry["rejects"]).exists() and not (out / SET_ASIDE).exists()
