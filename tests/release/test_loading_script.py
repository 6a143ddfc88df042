"""loading_script/lvd2m.py: a GeneratorBasedBuilder over the same generators as ``lvd2m build``/``import``."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import Features, Video, load_dataset

from fakes import REPO_ROOT
from lvd2m_builder import schema
from lvd2m_builder.config import load
from lvd2m_builder.release.importer import import_tables
from lvd2m_builder.run.build import build

SCRIPT = REPO_ROOT / "loading_script" / "lvd2m.py"
#: Cut detection only: the motion stage is covered elsewhere and is the slow part on a CPU.
OVERRIDES = {"motion.enabled": False}
VIDEOS = ("flipping_a_pancake.mkv", "cockatoo.mp4", "chaplin.mp4")  # long takes, one of them under 10 s
COLUMNS = ["key", "video_id", "url", "dataset_src", "orig_caption", "raw_caption", "refined_caption",
           "rewritten_caption", "total score", "span", "video_time", "orig_span", "scene_cut"]


@pytest.fixture(scope="module")
def module():
    """The script imported as module ``lvd2m`` (datasets re-imports a builder's module by name)."""
    spec = importlib.util.spec_from_file_location("lvd2m", SCRIPT)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules["lvd2m"] = loaded
    spec.loader.exec_module(loaded)
    yield loaded
    del sys.modules["lvd2m"]


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """A release-style table whose rows point into the shared sample videos (plus one malformed row)."""
    path = tmp_path_factory.mktemp("table") / "ytb_600k_720p.csv"
    rows = [
        {"key": "cockatoo.1_0", "video_id": "cockatoo", "span": "['00:00:01.000', '00:00:03.000']",
         "raw_caption": "Caption 1: A cockatoo.", "refined_caption": "A cockatoo moves.", "total score": "22.5"},
        {"key": "pancake.0_0", "video_id": "flipping_a_pancake", "span": "['0:00:00.500', '0:00:04.000']",
         "raw_caption": "Caption 1: A pancake.", "refined_caption": "A pancake flips.", "total score": "30"},
        {"key": "bad", "video_id": "cockatoo", "span": "['00:00:09.000', '00:00:02.000']"},
    ]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, restval="")
        writer.writeheader()
        writer.writerows({**r, "dataset_src": "panda70m", "url": f"https://youtu.be/{r['video_id']}"} for r in rows)
    return path


def _strip_timing(row: dict) -> dict:
    """A row without the per-stage seconds in its provenance (wall-clock timings differ between runs)."""
    provenance = json.loads(row["provenance"])
    provenance.pop("seconds", None)
    return {**row, "provenance": provenance}


def test_metadata_matches_lvd2m_build_on_the_sample_videos(module, shared_videos, tmp_path):
    inputs = tuple(str(shared_videos / name) for name in VIDEOS)
    build(inputs, tmp_path / "built", load(None, "paper", OVERRIDES), progress=False)
    built = {r["key"]: r for r in load_dataset(str(tmp_path / "built"), streaming=True)["train"]}
    builder = module.Lvd2m(config_name="metadata", inputs=inputs, overrides=OVERRIDES, cache_dir=str(tmp_path / "c"))
    assert builder.info.features == schema.ROW_FEATURES
    builder.download_and_prepare(file_format="arrow")
    rows = {r["key"]: r for r in builder.as_dataset(split="train")}
    assert rows.keys() == built.keys() and len(rows) >= 1
    assert "chaplin.mp4" not in {Path(r["url"]).name for r in rows.values()}  # 9.6 s: under the 10 s minimum
    for key, row in rows.items():
        assert _strip_timing(row) == _strip_timing(built[key])


def test_parquet_and_streaming_from_a_release_table(module, table, tmp_path):
    import_tables([str(table)], tmp_path / "imported", progress=False)
    imported = {r["key"]: r for r in load_dataset(str(tmp_path / "imported"), streaming=True)["train"]}
    builder = module.Lvd2m(config_name="metadata", inputs=(str(table),), cache_dir=str(tmp_path / "c"))
    streamed = {r["key"]: r for r in builder.as_streaming_dataset(split="train")}
    assert streamed == imported and set(streamed) == {"cockatoo.1_0", "pancake.0_0"}
    builder.download_and_prepare(output_dir=str(tmp_path / "pq"), file_format="parquet")
    (parquet,) = (tmp_path / "pq").glob("*.parquet")
    written = pq.read_table(parquet)
    assert Features.from_arrow_schema(written.schema) == schema.ROW_FEATURES
    assert sorted(written.column("key").to_pylist()) == sorted(imported)
    # a directory written by lvd2m import is an input too, and yields the same rows
    again = module.Lvd2m(config_name="metadata", inputs=(str(tmp_path / "imported"),), cache_dir=str(tmp_path / "d"))
    assert {r["key"]: r for r in again.as_streaming_dataset(split="train")} == imported


@pytest.fixture(scope="module")
def videos_config(module, table, shared_videos, tmp_path_factory):
    """The ``videos`` config over the table and one video file, prepared as Arrow."""
    inputs = (str(table), str(shared_videos / "flipping_a_pancake.mkv"))
    builder = module.Lvd2m(config_name="videos", inputs=inputs, sources=str(shared_videos), overrides=OVERRIDES,
                           cache_dir=str(tmp_path_factory.mktemp("c")))
    assert builder.info.features == schema.VIDEO_FEATURES
    builder.download_and_prepare(file_format="arrow")
    return builder.as_dataset(split="train")


def test_videos_config_embeds_cut_clips_and_accepted_files(videos_config):
    import decord

    rows = {r["key"]: r for r in videos_config.cast_column("video", Video(decode=False))}
    assert len(rows) == 3  # the pancake file (a long take) and the two table rows; the malformed row is dropped
    cockatoo = rows["cockatoo.1_0"]
    assert cockatoo["num_frames"] == 40 and cockatoo["fps"] == 20  # round(2 s x 20 fps)
    clip = decord.VideoReader(io.BytesIO(cockatoo["video"]["bytes"]))
    assert len(clip) == 40 and clip[0].shape[:2] == (720, 1280)
    whole = next(r for k, r in rows.items() if k not in ("cockatoo.1_0", "pancake.0_0"))
    assert len(decord.VideoReader(io.BytesIO(whole["video"]["bytes"]))) == 310  # the accepted file, embedded whole


def test_videos_config_decodes_with_torchcodec(videos_config, torchcodec):
    decoder = next(r for r in videos_config if r["key"] == "cockatoo.1_0")["video"]
    assert decoder.metadata.num_frames == 40 and decoder.get_frame_at(0).data.shape[1:] == (720, 1280)


def test_unknown_config_and_missing_inputs_fail_clearly(module, tmp_path):
    with pytest.raises(ValueError, match="must be one of metadata, videos"):
        module.Lvd2mConfig(name="clips")
    builder = module.Lvd2m(config_name="metadata", cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="give inputs"):
        builder.download_and_prepare()
