"""Resharding keeps every row, the card and validate; a reshard killed half-way is finished or rolled back."""

from __future__ import annotations

import json
import shutil

import pytest
from datasets import load_dataset

from fakes.synthetic_dataset import reject, row, write_legacy
from lvd2m_builder.cli import main
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


def _names(out, directory):
    return sorted(p.name for p in (out / directory).iterdir())


def test_a_build_publishes_one_file_per_config_and_reshard_cuts_it_to_n(out):
    before = _rows(out)
    assert _names(out, "data") == ["train-00000-of-00001.parquet"]  # 5 work units of one clip, compacted
    stats = reshard(out, num_shards=2)
    assert _names(out, "data") == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    assert _names(out, "rejects") == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    assert _rows(out) == before
    assert stats["files"] == {"train": 2, "rejects": 2} and stats["clips"] == 5
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["published"]["stats"]["clips"] == 5 and manifest["shards"] == {}
    assert _errors(out) == []


def test_reshard_by_size(out):
    before = _rows(out)
    reshard(out, num_shards=3)
    reshard(out, max_shard_size="1GB")
    assert _names(out, "data") == ["train-00000-of-00001.parquet"]
    assert _rows(out) == before
    reshard(out, max_shard_size="1KB")  # every row is larger: a file each
    assert len(_names(out, "rejects")) == len([r for r in before if "stage" in r])
    assert _rows(out) == before and _errors(out) == []


def test_a_reshard_killed_before_its_manifest_is_rolled_back(out, monkeypatch):
    before = _rows(out)
    monkeypatch.setattr(reshard_module, "write_json_atomic", _die)
    with pytest.raises(KeyboardInterrupt):
        reshard(out, num_shards=2)
    assert (out / ".data.staged").exists()  # staged files left behind, as a kill would
    recover(out)
    assert not (out / ".data.staged").exists()
    assert _names(out, "data") == ["train-00000-of-00001.parquet"] and _rows(out) == before


def test_a_reshard_killed_between_the_swaps_is_finished(out, monkeypatch):
    before = _rows(out)
    real_recover = reshard_module.recover
    calls = []

    def recover_then_die(path):
        calls.append(path)
        if len(calls) == 2:  # the swap: move data aside, then die before anything else
            (path / "data").rename(path / ".data.old")
            raise KeyboardInterrupt
        real_recover(path)

    monkeypatch.setattr(reshard_module, "recover", recover_then_die)
    with pytest.raises(KeyboardInterrupt):
        reshard(out, num_shards=2)
    real_recover(out)
    assert _names(out, "data")[0].endswith("-of-00002.parquet")
    assert _rows(out) == before and _errors(out) == []


def _die(*args, **kwargs):
    raise KeyboardInterrupt


def test_an_older_arrow_output_is_read_then_converted(tmp_path):
    clip = {"bytes": b"not decoded here", "path": None}
    out = write_legacy(tmp_path / "old", [[row(0), row(1)], [row(2)]], [[reject(0)], [reject(1)]],
                       videos=[{**row(i), "video": clip} for i in range(3)])
    report = validate(str(out))
    assert report.rows == {"default": 3, "rejects": 2, "videos": 3}  # still read as it is
    assert [f.code for f in report.findings if f.severity == "warning"] == ["arrow_format"]
    before = _rows(out)
    assert main(["reshard", str(out), "--max-shard-size", "500MB"]) == 0
    assert not list(out.rglob("*.arrow"))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet")) == [
        "data/train-00000-of-00001.parquet", "rejects/train-00000-of-00001.parquet",
        "videos/train-00000-of-00001.parquet"]
    assert _rows(out) == before
    videos = list(load_dataset(str(out), "videos", streaming=True)["train"].decode(False))
    assert [v["video"]["bytes"] for v in videos] == [b"not decoded here"] * 3
    findings = validate(str(out)).findings
    assert [f.code for f in findings if f.code != "video_invalid"] == []  # the card names Parquet now


def test_sizes_and_bad_arguments(out):
    assert parse_size("500MB") == 500_000_000 and parse_size("2GiB") == 2 * 2**30
    with pytest.raises(ConfigError):
        parse_size("big")
    with pytest.raises(ConfigError):
        reshard(out)
    with pytest.raises(ConfigError):
        reshard(out, num_shards=0)
