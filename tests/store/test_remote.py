"""``--out`` at an fsspec URL (a moto S3): built in a local mirror, published shard by shard, resumed from the
remote output; shard objects the manifest does not name are adopted or set aside, never deleted; the prefix is
lvd2m's only when it holds an lvd2m output; inputs under it are never read; an unusable URL is one line."""

from __future__ import annotations

import json
import re

import pytest
from datasets import load_dataset

from fakes.s3_server import moto_s3
from lvd2m_builder.cli import main
from lvd2m_builder.config import preset
from lvd2m_builder.run.build import build
from lvd2m_builder.testing import samples

CONFIG = preset("paper").replace({"semantic.enabled": False, "captions.enabled": False, "shard_size": 1})


@pytest.fixture
def s3(monkeypatch):
    with moto_s3(monkeypatch, "lvd2m-test") as (endpoint, _client):
        yield endpoint


@pytest.fixture
def url(s3, request) -> str:
    """A prefix of this test's own: moto keeps its buckets for the whole process."""
    return f"s3://lvd2m-test/{re.sub(r'[^A-Za-z0-9]+', '-', request.node.name)}"


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("remote-clips")
    samples.pan(d / "pan.mp4", seconds=11.0, size=(64, 48))
    samples.pan(d / "short.mp4", seconds=4.0, size=(64, 48))
    return d


def _rows(endpoint: str, url: str, folder: str) -> dict[str, dict]:
    rows = load_dataset("parquet", data_files={"train": f"{url}/{folder}/*.parquet"}, streaming=True,
                        storage_options={"endpoint_url": endpoint})["train"]
    return {row["key"]: row for row in rows}


def _fs():
    import fsspec

    return fsspec.filesystem("s3", skip_instance_cache=True)


def test_a_rerun_sets_aside_a_duplicate_shard_adopts_a_new_one_and_builds_only_new_clips(s3, url, clips, tmp_path):
    from datasets.arrow_writer import ArrowWriter

    from lvd2m_builder.schema import REJECT_FEATURES
    from lvd2m_builder.store.shards import read_table

    fs = _fs()
    first = build([str(clips / "pan.mp4")], url, CONFIG, progress=False)
    assert (first["clips"], first["accepted"]) == (1, 1)
    manifest = json.loads(fs.cat_file(f"{url}/_manifest.json"))
    (published,) = manifest["published"]["train"]
    # files uploaded by a build killed before its manifest named them: a copy of a published one (its keys would
    # be there twice) and a work unit of a clip not built yet (the short clip's reject, built elsewhere)
    fs.copy(f"{url}/{published}", f"{url}/data/train-00007-of-00008.parquet")
    copy = fs.cat_file(f"{url}/data/train-00007-of-00008.parquet")
    build([str(clips / "short.mp4")], tmp_path / "elsewhere", CONFIG, progress=False)
    (reject,) = read_table(next((tmp_path / "elsewhere" / "rejects").glob("*.parquet"))).to_pylist()
    unit = tmp_path / "rejects-00009-of-00010.arrow"
    with ArrowWriter(features=REJECT_FEATURES, path=str(unit)) as writer:
        writer.write(reject)
        writer.finalize()
    fs.put_file(str(unit), f"{url}/rejects/rejects-00009-of-00010.arrow")
    second = build([str(clips)], url, CONFIG, progress=False)
    assert (second["clips"], second["accepted"]) == (2, 1)
    assert not fs.exists(f"{url}/data/train-00007-of-00008.parquet")
    assert fs.cat_file(f"{url}/.lvd2m-set-aside/data/train-00007-of-00008.parquet") == copy  # moved, not deleted
    assert _rows(s3, url, "rejects") == {reject["key"]: reject}  # adopted: the short clip was not built again
    assert len(_rows(s3, url, "data")) == 1
    assert not fs.exists(f"{url}/rejects/rejects-00009-of-00010.arrow")  # its row is in the published files now
    manifest = json.loads(fs.cat_file(f"{url}/_manifest.json"))
    assert manifest["shards"] == {} and manifest["published"]["stats"]["clips"] == 2
    assert json.loads(fs.cat_file(f"{url}/stats.json"))["clips"] == 2 and fs.exists(f"{url}/README.md")


@pytest.mark.parametrize("damage", ["deleted", "torn"])
def test_shards_of_a_remote_output_without_a_readable_manifest_are_adopted(s3, url, clips, damage):
    fs = _fs()
    build([str(clips / "pan.mp4")], url, CONFIG, progress=False)
    before = {**_rows(s3, url, "data"), **_rows(s3, url, "rejects")}
    if damage == "deleted":
        fs.rm_file(f"{url}/_manifest.json")
    else:
        fs.pipe_file(f"{url}/_manifest.json", fs.cat_file(f"{url}/_manifest.json")[:40])
    again = build([str(clips)], url, CONFIG, progress=False)
    assert (again["clips"], again["accepted"]) == (2, 1)
    after = {**_rows(s3, url, "data"), **_rows(s3, url, "rejects")}
    assert {key: after[key] for key in before} == before  # every earlier row still there, as it was: adopted
    assert len(_rows(s3, url, "data")) == 1 and len(_rows(s3, url, "rejects")) == 1


def test_a_prefix_holding_someone_elses_objects_is_refused_and_kept(url, clips, capsys):
    fs = _fs()
    fs.pipe_file(f"{url}/notes.txt", b"the user's")
    for overwrite in ([], ["--overwrite"]):
        code = main(["build", str(clips / "pan.mp4"), "--out", url, "--no-progress", *overwrite])
        assert code == 2 and "notes.txt" in capsys.readouterr().err
    assert fs.cat_file(f"{url}/notes.txt") == b"the user's" and not fs.exists(f"{url}/data")
    assert build([str(clips / "pan.mp4")], f"{url}-new", CONFIG, progress=False)["clips"] == 1
    fs.pipe_file(f"{url}-new/notes.txt", b"the user's")
    code = main(["build", str(clips / "pan.mp4"), "--out", f"{url}-new", "--overwrite", "--no-progress"])
    assert code == 2 and "notes.txt" in capsys.readouterr().err and fs.exists(f"{url}-new/_manifest.json")


def test_a_remote_output_inside_its_remote_input_never_feeds_itself(url, clips):
    fs = _fs()
    for path in clips.iterdir():
        fs.put_file(str(path), f"{url}/videos/{path.name}")
    first = build([f"{url}/videos/"], f"{url}/videos/lvd2m", CONFIG, progress=False)
    # the clips a local materialize cut, synced up with the rest of the output (aws s3 sync OUT URL)
    fs.put_file(str(clips / "pan.mp4"), f"{url}/videos/lvd2m/clips/0b1c.mp4")
    again = build([f"{url}/videos/"], f"{url}/videos/lvd2m", CONFIG, progress=False)
    assert (first["clips"], first["accepted"]) == (again["clips"], again["accepted"]) == (2, 1)


def test_an_unusable_url_is_one_line(s3, clips, capsys):
    code = main(["build", str(clips / "pan.mp4"), "--out", "s3://no-such-bucket/out", "--no-progress"])
    assert code == 2
    ours = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("INFO werkzeug")]
    assert ours == ["lvd2m build: output s3://no-such-bucket/out: The specified bucket does not exist"]
