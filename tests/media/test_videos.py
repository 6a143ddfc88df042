"""build --embed-videos gives a `videos` config that streams and decodes; export-wds gives tars both readers read."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import decord
import pytest
from datasets import load_dataset

from lvd2m_builder.config import preset
from lvd2m_builder.errors import OutputError
from lvd2m_builder.export.command import export_webdataset
from lvd2m_builder.export.wds import sample_key
from lvd2m_builder.run.build import build


@pytest.fixture(scope="module")
def out(tmp_path_factory, clips_dir):
    out = tmp_path_factory.mktemp("videos") / "lvd2m"
    result = subprocess.run(
        [sys.executable, "-m", "lvd2m_builder.cli", "build", str(clips_dir), "--out", str(out), "--no-progress",
         "--embed-videos"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    return out


def _decoded_frames(video) -> int:
    """Frames in a decoded datasets.Video value (a torchcodec VideoDecoder)."""
    return len(video)


def test_videos_config_streams_the_clip_of_each_row(out):
    (row,) = list(load_dataset(str(out), "videos", streaming=True)["train"].decode(False))
    (train,) = list(load_dataset(str(out), streaming=True)["train"])
    assert row["key"] == train["key"] and row["video_id"] == "pan_long_take"
    reader = decord.VideoReader(io.BytesIO(row["video"]["bytes"]))
    assert abs(len(reader) - round(train["duration"] * train["fps"])) <= 1  # the whole 12 s clip, frame-exact


def test_videos_config_decodes_with_torchcodec(out, torchcodec):
    (row,) = list(load_dataset(str(out), "videos", streaming=True)["train"])
    (train,) = list(load_dataset(str(out), streaming=True)["train"])
    frames = _decoded_frames(row["video"])
    assert abs(frames - round(train["duration"] * train["fps"])) <= 1
    first = row["video"].get_frame_at(0).data
    assert tuple(first.shape) == (3, 240, 320)


def test_export_wds_is_read_by_webdataset_and_by_datasets(out):
    import webdataset

    pattern, written = export_webdataset(out)
    assert written == 1
    tars = sorted(str(p) for p in (out / "webdataset").glob("*.tar"))
    (sample,) = list(webdataset.WebDataset(tars, shardshuffle=False))
    (train,) = list(load_dataset(str(out), streaming=True)["train"])
    assert sample["__key__"] == sample_key(train["key"]) and "." not in sample["__key__"]
    meta = json.loads(sample["json"])
    assert meta["key"] == train["key"] and meta["flow_score"] == pytest.approx(train["flow_score"])
    reader = decord.VideoReader(io.BytesIO(sample["mp4"]))
    assert abs(len(reader) - round(train["duration"] * train["fps"])) <= 1

    (row,) = list(load_dataset("webdataset", data_files={"train": tars}, streaming=True)["train"].decode(False))
    assert row["json"]["key"] == train["key"] and row["mp4"]["bytes"] == sample["mp4"]


def test_datasets_decodes_the_exported_clip_with_torchcodec(out, torchcodec):
    export_webdataset(out)
    tars = sorted(str(p) for p in (out / "webdataset").glob("*.tar"))
    (row,) = list(load_dataset("webdataset", data_files={"train": tars}, streaming=True)["train"])
    (train,) = list(load_dataset(str(out), streaming=True)["train"])
    assert abs(_decoded_frames(row["mp4"]) - round(train["duration"] * train["fps"])) <= 1


def test_export_without_videos_is_a_clear_error(tmp_path, clips_dir):
    plain = tmp_path / "plain"
    build([str(clips_dir / "pan_long_take.mp4")], plain, preset("paper"), progress=False)
    with pytest.raises(OutputError, match="--embed-videos"):
        export_webdataset(plain)


def test_validate_decodes_embedded_videos(out, tmp_path):
    import shutil

    from lvd2m_builder.schema import VIDEO_FEATURES
    from lvd2m_builder.store.parquet import ParquetShardWriter
    from lvd2m_builder.store.shards import read_table
    from lvd2m_builder.validate.run import validate

    assert [f for f in validate(str(out)).findings if f.severity == "error"] == []
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (shard,) = sorted((broken / "videos").glob("*.parquet"))
    (row,) = read_table(shard).to_pylist()
    row["video"]["bytes"] = row["video"]["bytes"][: len(row["video"]["bytes"]) // 4]  # truncated clip
    writer = ParquetShardWriter(shard, VIDEO_FEATURES)
    writer.write(row)
    writer.finalize()
    writer.close()
    found = [(f.code, f.key) for f in validate(str(broken)).findings if f.severity == "error"]
    assert found == [("video_invalid", row["key"])]
