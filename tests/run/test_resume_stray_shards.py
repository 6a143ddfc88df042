"""A rerun over an output that holds work units the manifest never recorded: no duplicate keys, nothing lost.

With two workers shards finish out of order, so a build killed between a work unit's rename and the manifest's
update leaves a finished work unit the manifest does not know: the next run checks it and adopts it (never
deletes it), so its clips are not built again, and publishes its rows with the others.
"""

from __future__ import annotations

import json
import shutil

import pytest

from lvd2m_builder.config import preset
from lvd2m_builder.errors import OutputError
from lvd2m_builder.run import build as build_module
from lvd2m_builder.run.build import build
from lvd2m_builder.store.adopt import SET_ASIDE, open_manifest
from lvd2m_builder.store.manifest import MANIFEST
from lvd2m_builder.store.shards import read_table
from lvd2m_builder.testing import samples
from lvd2m_builder.validate.run import validate


def _keys(out, pattern: str) -> list[str]:
    return [key for path in sorted(out.glob(pattern)) for key in read_table(path, ["key"]).column("key").to_pylist()]


@pytest.fixture
def inputs(tmp_path, clips_dir):
    """Three clips that the duration gate and the probe decide without decoding: a build takes seconds."""
    directory = tmp_path / "in"
    directory.mkdir()
    shutil.copy(clips_dir / "short_pan.mp4", directory / "short_pan.mp4")
    shutil.copy(clips_dir / "corrupt.mp4", directory / "corrupt.mp4")
    samples.pan(directory / "short_still.mp4", seconds=3.0, px_per_frame=0)
    return directory


def test_a_stray_finished_shard_beside_recorded_ones_gives_no_duplicates(inputs, tmp_path, monkeypatch):
    out = tmp_path / "out"
    config = preset("paper").replace({"shard_size": 1})
    with monkeypatch.context() as patched:
        patched.setattr(build_module, "compact", lambda out, manifest, max_bytes: manifest)  # killed before its end
        first = build([str(inputs)], out, config, progress=False)
    keys = sorted(_keys(out, "data/*.arrow") + _keys(out, "rejects/*.arrow"))
    assert first["clips"] == len(keys) == 3
    # shard 1's files were renamed into place, then the build died before the manifest recorded them
    manifest = json.loads((out / "_manifest.json").read_text())
    (stray,) = [sid for sid, entry in manifest["shards"].items() if entry["index"] == 1]
    stray_files = [out / manifest["shards"][stray][kind] for kind in ("train", "rejects")]
    del manifest["shards"][stray]
    (out / "_manifest.json").write_text(json.dumps(manifest))
    (out / "data" / ".train-00009-of-00010.arrow.tmp-4242").write_bytes(b"half a shard")
    stray_rows = {r["key"]: r for path in stray_files for r in read_table(path).to_pylist()}

    again = build([str(inputs)], out, config, progress=False)
    assert sorted(_keys(out, "data/*.parquet") + _keys(out, "rejects/*.parquet")) == keys  # each key once, none lost
    assert again["clips"] == 3
    published = {r["key"]: r for pattern in ("data/*.parquet", "rejects/*.parquet")
                 for path in out.glob(pattern) for r in read_table(path).to_pylist()}
    assert {key: published[key] for key in stray_rows} == stray_rows  # adopted as they were, not rebuilt
    assert not any(path.exists() for path in stray_files)  # their rows are in the published files now
    assert not list(out.glob("*/.*.tmp-*"))
    report = validate(str(out))
    assert report.ok, report.text()


@pytest.fixture
def units(inputs, tmp_path, monkeypatch):
    """An output killed before compaction: every clip in a recorded work unit (one clip each), nothing published."""
    out = tmp_path / "out"
    with monkeypatch.context() as patched:
        patched.setattr(build_module, "compact", lambda out, manifest, max_bytes: manifest)
        build([str(inputs)], out, preset("paper").replace({"shard_size": 1}), progress=False)
    return out


def _manifest(out) -> dict:
    return json.loads((out / MANIFEST).read_text())


def _unit_keys(out) -> list[str]:
    return sorted(_keys(out, "data/*.arrow") + _keys(out, "rejects/*.arrow"))


def test_a_stray_unit_is_recorded_beside_the_entries_the_manifest_kept(units):
    manifest = _manifest(units)
    (stray,) = [sid for sid, entry in manifest["shards"].items() if entry["index"] == 1]
    stray_entry = manifest["shards"].pop(stray)
    (units / MANIFEST).write_text(json.dumps(manifest))
    shards = open_manifest(units).shards
    assert {sid: shards[sid] for sid in manifest["shards"]} == manifest["shards"]  # recorded entries as they were
    (adopted,) = set(shards) - set(manifest["shards"])
    assert (shards[adopted]["train"], shards[adopted]["rejects"]) == (stray_entry["train"], stray_entry["rejects"])
    assert _manifest(units)["shards"] == shards and not (units / SET_ASIDE).exists()


def test_a_torn_manifest_is_kept_aside_and_rebuilt_with_the_settings_its_rows_name(units):
    recorded = _manifest(units)
    torn = (units / MANIFEST).read_bytes()[:40]
    (units / MANIFEST).write_bytes(torn)
    manifest = open_manifest(units)
    assert (units / f"{MANIFEST}.unreadable").read_bytes() == torn
    assert (manifest.settings_hash, manifest.settings) == (recorded["settings_hash"], recorded["settings"])
    assert sorted(manifest.files()) == sorted(rel for e in recorded["shards"].values() for rel in (e["train"], e["rejects"]))
    assert _manifest(units)["settings_hash"] == recorded["settings_hash"]


def test_a_unit_deleted_by_hand_is_forgotten_and_its_partner_adopted(units):
    """Its clips are built again like any missing clip; the partner file is adopted with an empty rejects file."""
    recorded = _manifest(units)["shards"]
    (shard_id, entry), *_ = sorted(recorded.items(), key=lambda item: item[1]["index"])  # a reject, like every input
    (units / entry["rejects"]).unlink()
    shards = open_manifest(units).shards
    assert shard_id not in shards and _manifest(units)["shards"] == shards  # the record dropped, and saved
    (adopted,) = [e for e in shards.values() if e["train"] == entry["train"]]
    assert adopted["rejects"] == entry["rejects"] and _keys(units, entry["rejects"]) == []


def _unit_with_other_settings(tmp_path):
    """The rejects unit of another clip built with another duration gate."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    samples.pan(elsewhere / "another_still.mp4", seconds=3.0, px_per_frame=0)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(build_module, "compact", lambda out, manifest, max_bytes: manifest)
        build([str(elsewhere)], tmp_path / "other", preset("paper").replace({"duration.min_s": 5.0}), progress=False)
    (unit,) = (tmp_path / "other" / "rejects").glob("*.arrow")
    return unit


def test_unrecorded_units_holding_recorded_keys_or_other_settings_are_moved_aside(units, tmp_path, caplog):
    """Never deleted, never adopted: a copy of recorded rows would hold its keys twice, and rows built with other
    settings do not belong in this output. The warning says which file went where, and why."""
    keys = _unit_keys(units)
    entry = min(_manifest(units)["shards"].values(), key=lambda e: e["index"])  # every input is a reject here
    copy = units / "rejects" / "rejects-00097-of-00100.arrow"
    shutil.copy(units / entry["rejects"], copy)
    other = _unit_with_other_settings(tmp_path)
    foreign = units / "rejects" / "rejects-00098-of-00100.arrow"
    shutil.copy(other, foreign)
    moved = {path: path.read_bytes() for path in (copy, foreign)}
    with caplog.at_level("WARNING", logger="lvd2m_builder.store.adopt"):
        open_manifest(units)
    for path, content in moved.items():
        assert not path.exists() and (units / SET_ASIDE / "rejects" / path.name).read_bytes() == content
    assert _unit_keys(units) == keys
    assert f"moved rejects/{copy.name} to {SET_ASIDE}/rejects/{copy.name}: 1 of its keys are already in the " \
           "output" in caplog.text
    assert f"moved rejects/{foreign.name} to {SET_ASIDE}/rejects/{foreign.name}: its rows were built with other " \
           "settings than the manifest's" in caplog.text


def test_units_of_two_settings_without_a_manifest_are_refused_naming_the_output(units, tmp_path):
    """Which settings the rows of a manifest-less output stand for is the user's call, not a guess."""
    other = _unit_with_other_settings(tmp_path)
    shutil.copy(other, units / "rejects" / "rejects-00098-of-00100.arrow")
    (units / MANIFEST).unlink()
    with pytest.raises(OutputError) as caught:
        open_manifest(units)
    assert caught.value.path == str(units) and "were built with 2 different settings" in caught.value.why
