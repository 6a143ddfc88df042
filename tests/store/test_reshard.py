"""Resharding keeps every row, the card and validate; a reshard killed half-way is finished or rolled back."""

from __future__ import annotations

import json
import shutil

import pytest
from datasets import load_dataset

from lvd2m_builder.config import preset
from lvd2m_builder.errors import ConfigError
from lvd2m_builder.run.build import build
from lvd2m_builder.store import reshard as reshard_module
from lvd2m_builder.store.reshard import parse_size, recover, reshard
from lvd2m_builder.validate.run import validate


def _rows(out):
    return sorted(
        (r for name in (None, "rejects") for r in load_dataset(str(out), name, streaming=True)["train"]),
        key=lambda r: r["key"],
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory, clips_dir):
    out = tmp_path_factory.mktemp("built") / "out"
    build([str(clips_dir)], out, preset("paper").replace({"shard_size": 1}), progress=False)
    return out


@pytest.fixture
def out(built, tmp_path):
    copy = tmp_path / "out"
    shutil.copytree(built, copy)
    return copy


def _errors(out):
    return [f for f in validate(str(out)).findings if f.severity == "error"]


def test_reshard_to_n_keeps_rows_card_and_validate(out):
    before = _rows(out)
    assert len(list((out / "data").glob("*.arrow"))) == 5
    stats = reshard(out, num_shards=2)
    assert sorted(p.name for p in (out / "data").glob("*.arrow")) == ["train-00000-of-00002.arrow",
                                                                       "train-00001-of-00002.arrow"]
    assert len(list((out / "rejects").glob("*.arrow"))) == 2
    assert _rows(out) == before
    assert stats["shards"] == 2 and stats["clips"] == 5
    manifest = json.loads((out / "_manifest.json").read_text())
    assert sum(e["stats"]["clips"] for e in manifest["shards"].values()) == 5
    assert _errors(out) == []


def test_reshard_by_size(out):
    before = _rows(out)
    reshard(out, max_shard_size="1GB")
    assert len(list((out / "data").glob("*.arrow"))) == 1
    assert _rows(out) == before


def test_a_reshard_killed_before_its_manifest_is_rolled_back(out, monkeypatch):
    before = _rows(out)
    monkeypatch.setattr(reshard_module, "write_json_atomic", _die)
    with pytest.raises(KeyboardInterrupt):
        reshard(out, num_shards=2)
    assert (out / "data.reshard").exists()  # staged files left behind, as a kill would
    recover(out)
    assert not (out / "data.reshard").exists()
    assert len(list((out / "data").glob("*.arrow"))) == 5 and _rows(out) == before


def test_a_reshard_killed_between_the_swaps_is_finished(out, monkeypatch):
    before = _rows(out)
    real_recover = reshard_module.recover
    calls = []

    def recover_then_die(path):
        calls.append(path)
        if len(calls) == 2:  # the swap: move data aside, then die before anything else
            (path / "data").rename(path / "data.old")
            raise KeyboardInterrupt
        real_recover(path)

    monkeypatch.setattr(reshard_module, "recover", recover_then_die)
    with pytest.raises(KeyboardInterrupt):
        reshard(out, num_shards=2)
    real_recover(out)
    assert sorted(p.name for p in (out / "data").glob("*.arrow"))[0].endswith("-of-00002.arrow")
    assert _rows(out) == before and _errors(out) == []


def _die(*args, **kwargs):
    raise KeyboardInterrupt


def test_sizes_and_bad_arguments(out):
    assert parse_size("500MB") == 500_000_000 and parse_size("2GiB") == 2 * 2**30
    with pytest.raises(ConfigError):
        parse_size("big")
    with pytest.raises(ConfigError):
        reshard(out)
    with pytest.raises(ConfigError):
        reshard(out, num_shards=0)
