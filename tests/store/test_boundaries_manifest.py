"""The manifest's file format and identity at their edges: every field a resume needs survives a save and a load
under the names older outputs use, the settings hash ignores what does not change rows, the next work unit never
reuses an index, and a broken file is named with what broke."""

from __future__ import annotations

import json

import pytest

from lvd2m_builder.config import RUN_SETTINGS, BuildConfig
from lvd2m_builder.errors import ManifestError
from lvd2m_builder.run.stats import ShardStats
from lvd2m_builder.store.manifest import MANIFEST, Manifest, settings_hash
from lvd2m_builder.store.shards import ShardResult

SETTINGS = BuildConfig().to_dict()


def _manifest() -> Manifest:
    manifest = Manifest(settings_hash(SETTINGS), SETTINGS)
    for index in (0, 1, 4):
        manifest.record(ShardResult(f"unit{index}", index, f"data/train-{index:05d}.arrow",
                                    f"rejects/rejects-{index:05d}.arrow", ShardStats(clips=2, accepted=1)))
    manifest.run = {"input_roots": ["/footage"]}
    manifest.card = {"license": "cc-by-4.0"}
    manifest.published = {"train": ["data/train-00000-of-00001.parquet"], "rejects": [], "stats": {}}
    manifest.consumed = ["data/train-00009.arrow"]
    return manifest


def test_a_saved_manifest_loads_back_whole_under_the_names_older_outputs_use(tmp_path):
    _manifest().save(tmp_path)
    data = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert {"settings_hash", "settings", "shards", "run", "card", "published", "consumed"} <= set(data)
    loaded = Manifest.load(tmp_path)
    assert (loaded.run, loaded.card, loaded.consumed) == ({"input_roots": ["/footage"]}, {"license": "cc-by-4.0"},
                                                          ["data/train-00009.arrow"])
    assert loaded.to_dict() == json.loads(json.dumps(_manifest().to_dict()))  # as JSON keeps it (tuples: lists)
    assert loaded.next_index() == 5  # after the highest index, 4


def test_a_manifest_written_before_run_card_and_consumed_existed_still_loads(tmp_path):
    old = {"settings_hash": "abc", "settings": SETTINGS, "shards": {}}
    (tmp_path / MANIFEST).write_text(json.dumps(old), encoding="utf-8")
    loaded = Manifest.load(tmp_path)
    assert (loaded.run, loaded.card, loaded.published, loaded.consumed, loaded.next_index()) == ({}, {}, None, [], 0)


def test_a_broken_manifest_is_named_with_what_broke(tmp_path):
    (tmp_path / MANIFEST).write_text('{"settings_hash": "abc", ', encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        Manifest.load(tmp_path)
    assert info.value.path == str(tmp_path / MANIFEST) and info.value.why.startswith("does not parse (JSONDecodeError:")


def test_the_settings_hash_ignores_run_settings_and_card_fields_and_nothing_else():
    base = settings_hash(SETTINGS)
    assert len(base) == 16 and int(base, 16) >= 0
    for name in RUN_SETTINGS:
        assert settings_hash({**SETTINGS, name: "changed"}) == base, name
    assert settings_hash({**SETTINGS, "card": {"license": "mit"}}) == base
    assert settings_hash({**SETTINGS, "motion": {**SETTINGS["motion"], "min_score": 15.0}}) != base
