"""``--out`` at an fsspec URL (a moto S3): built in a local mirror, published shard by shard, resumed from the
remote copy; shard objects the manifest does not name are adopted or set aside, never deleted; an unusable URL
is one line."""

from __future__ import annotations

import json

import pytest
from datasets import load_dataset

from fakes.s3_server import moto_s3
from lvd2m_builder.cli import main
from lvd2m_builder.config import preset
from lvd2m_builder.run.build import build
from lvd2m_builder.testing import samples

CONFIG = preset("paper").replace({"semantic.enabled": False, "captions.enabled": False, "shard_size": 1})
URL = "s3://lvd2m-test/out"


@pytest.fixture
def s3(monkeypatch):
    with moto_s3(monkeypatch, "lvd2m-test") as (endpoint, _client):
        yield endpoint


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("remote-clips")
    samples.pan(d / "pan.mp4", seconds=11.0, size=(64, 48))
    samples.pan(d / "short.mp4", seconds=4.0, size=(64, 48))
    return d


def _rows(endpoint: str, folder: str) -> dict[str, dict]:
    rows = load_dataset("parquet", data_files={"train": f"{URL}/{folder}/*.parquet"}, streaming=True,
                        storage_options={"endpoint_url": endpoint})["train"]
    return {row["key"]: row for row in rows}


def test_a_rerun_sets_aside_a_duplicate_shard_adopts_a_new_one_and_builds_only_new_clips(s3, clips, tmp_path):
    import fsspec
    from datasets.arrow_writer import ArrowWriter

    from lvd2m_builder.schema import REJECT_FEATURES
    from lvd2m_builder.store.shards import read_table

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    first = build([str(clips / "pan.mp4")], URL, CONFIG, progress=False)
    assert (first["clips"], first["accepted"]) == (1, 1)
    manifest = json.loads(fs.cat_file(f"{URL}/_manifest.json"))
    (published,) = manifest["published"]["train"]
    # files uploaded by a build killed before its manifest named them: a copy of a published one (its keys would
    # be there twice) and a work unit of a clip not built yet (the short clip's reject, built elsewhere)
    fs.copy(f"{URL}/{published}", f"{URL}/data/train-00007-of-00008.parquet")
    build([str(clips / "short.mp4")], tmp_path / "elsewhere", CONFIG, progress=False)
    (reject,) = read_table(next((tmp_path / "elsewhere" / "rejects").glob("*.parquet"))).to_pylist()
    unit = tmp_path / "rejects-00009-of-00010.arrow"
    with ArrowWriter(features=REJECT_FEATURES, path=str(unit)) as writer:
        writer.write(reject)
        writer.finalize()
    fs.put_file(str(unit), f"{URL}/rejects/rejects-00009-of-00010.arrow")
    second = build([str(clips)], URL, CONFIG, progress=False)
    assert (second["clips"], second["accepted"]) == (2, 1)
    assert not fs.exists(f"{URL}/data/train-00007-of-00008.parquet")  # moved aside, not deleted:
    assert fs.exists(f"{URL}/.lvd2m-set-aside/data/train-00007-of-00008.parquet")
    assert _rows(s3, "rejects") == {reject["key"]: reject}  # adopted: the short clip was not built again
    assert len(_rows(s3, "data")) == 1
    assert not fs.exists(f"{URL}/rejects/rejects-00009-of-00010.arrow")  # its row is in the published files now
    manifest = json.loads(fs.cat_file(f"{URL}/_manifest.json"))
    assert manifest["shards"] == {} and manifest["published"]["stats"]["clips"] == 2
    assert json.loads(fs.cat_file(f"{URL}/stats.json"))["clips"] == 2 and fs.exists(f"{URL}/README.md")


def test_an_unusable_url_is_one_line(s3, clips, capsys):
    code = main(["build", str(clips / "pan.mp4"), "--out", "s3://no-such-bucket/out", "--no-progress"])
    assert code == 2
    ours = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("INFO werkzeug")]
    assert ours == ["lvd2m build: output s3://no-such-bucket/out: The specified bucket does not exist"]
