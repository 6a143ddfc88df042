"""``lvd2m materialize``: cut imported rows' clips out of source videos, frame-accurately, and export them."""

from __future__ import annotations

import csv
import json
import re
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

from lvd2m_builder.cli import main
from lvd2m_builder.export.wds import sample_key
from lvd2m_builder.materialize.cutter import MaterializeConfig
from lvd2m_builder.materialize.run import materialize
from lvd2m_builder.media.cutting import cut, expected_frames, source_info
from lvd2m_builder.media.encode import write_video
from lvd2m_builder.media.streams import count_packets as count_frames
from lvd2m_builder.release.importer import ImportConfig, import_tables
from lvd2m_builder.schema import REJECT_FEATURES
from lvd2m_builder.store.output_dir import MARKER
from lvd2m_builder.testing.samples import counter_frames, counter_index

FPS, SECONDS = 25, 20
COLUMNS = ["key", "video_id", "url", "dataset_src", "orig_caption", "raw_caption", "refined_caption",
           "rewritten_caption", "total score", "span", "video_time", "orig_span", "scene_cut"]


def counter_video(path: Path, tone_hz: float | None = None) -> Path:
    """Every frame shows its own index (``samples.counter_frames``); a keyframe every 50 frames exactly; with
    ``tone_hz``, a sine audio track as long as the video."""
    return write_video(path, counter_frames(FPS * SECONDS), FPS, gop=50, tone_hz=tone_hz)


def decoded_indices(path: Path) -> list[int]:
    import decord

    reader = decord.VideoReader(str(path))
    return [counter_index(reader[i].asnumpy()) for i in range(len(reader))]


def row(key: str, video_id: str, span: str, src: str = "panda70m", video_time: str = "") -> dict:
    return {"key": key, "video_id": video_id, "url": f"https://www.youtube.com/watch?v={video_id}",
            "dataset_src": src, "orig_caption": "", "raw_caption": "Caption 1: stripes.",
            "refined_caption": f"Stripes counting frames ({key}).", "rewritten_caption": "", "total score": "25.0",
            "span": span, "video_time": video_time, "orig_span": "", "scene_cut": ""}


ROWS = [
    row("ctr.3_1", "ctr", "['00:00:03.020', '00:00:07.520']"),  # 4.5 s from 3.02 s: frames 76.. (113 of them)
    row("ctr.10_2", "ctr", "['00:00:10.000', '00:00:19.000']"),
    row("gone", "nowhere", "['00:00:01.000', '00:00:12.000']"),
    row("broken", "corrupt", "['00:00:01.000', '00:00:12.000']"),
    row("outside", "ctr", "['00:00:30.000', '00:00:41.000']"),
    row("wv", "ctrwv", "", src="webvid", video_time="20.0"),
]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("sources")
    counter_video(directory / "ctr.mp4")
    (directory / "ctrwv.mp4").symlink_to(directory / "ctr.mp4")
    (directory / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 16)
    return directory


def _table(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    return _table(tmp_path_factory.mktemp("table") / "ytb_600k_720p.csv", ROWS)


def _import(table: Path, out: Path) -> Path:
    import_tables([str(table)], out, ImportConfig(), progress=False)
    return out


@pytest.fixture(scope="module")
def accurate(table, sources, tmp_path_factory):
    out = _import(table, tmp_path_factory.mktemp("accurate") / "out")
    section = materialize(out, str(sources), config=MaterializeConfig(embed_videos=True, shard_size=2),
                          progress=False)
    return out, section


def test_accurate_cut_has_round_duration_x_fps_frames_starting_at_the_span(accurate):
    out, section = accurate
    indices = decoded_indices(out / "clips" / "ctr.3_1.mp4")
    assert abs(len(indices) - expected_frames(4.5, FPS)) <= 1 and expected_frames(4.5, FPS) == 113
    assert indices == list(range(76, 76 + len(indices)))  # frame 76 (3.04 s) is the first at or after 3.02 s
    indices = decoded_indices(out / "clips" / "ctr.10_2.mp4")
    assert indices == list(range(250, 250 + 9 * FPS))
    assert section["frame_count_vs_round_duration_x_fps"] == {"exact": 3}
    assert count_frames(str(out / "clips" / "wv.mp4")) == SECONDS * FPS  # WebVid: the whole source


def test_missing_unreadable_and_uncovered_sources_become_rejects(accurate):
    out, section = accurate
    assert (section["clips"], section["cut"], section["rejected"]) == (6, 3, 3)
    lines = (out / "clips" / "rejects.jsonl").read_text().splitlines()
    rejects = {r["key"]: r for r in map(json.loads, lines)}
    assert len(lines) == 3 and set(rejects["gone"]) == set(REJECT_FEATURES)
    assert rejects["gone"]["stage"] == "source"
    assert "no source video for video_id 'nowhere'" in rejects["gone"]["reason"]
    assert rejects["broken"]["stage"] == "probe"
    assert rejects["outside"]["stage"] == "materialize" and "not inside the source" in rejects["outside"]["reason"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["materialize"]["rejected"] == 3 and stats["accepted"] == 6  # the import's own counts stay


def test_videos_config_holds_the_cut_clips(accurate):
    out, _ = accurate
    assert "config_name: videos" in (out / "README.md").read_text()
    (videos,) = sorted((out / "videos").iterdir())  # 3 clips: one Parquet file, row groups of a few clips
    assert videos.name == "train-00000-of-00001.parquet"
    metadata = pq.ParquetFile(videos).metadata
    assert metadata.num_rows == 3 and metadata.row_group(0).column(metadata.num_columns - 2).compression == "UNCOMPRESSED"
    rows = {r["key"]: r for r in load_dataset(str(out), "videos", streaming=True)["train"].decode(False)}
    assert set(rows) == {"ctr.3_1", "ctr.10_2", "wv"}
    clip = rows["ctr.3_1"]
    assert clip["fps"] == FPS and clip["num_frames"] == 113 and clip["span_start"] == pytest.approx(3.04)
    assert clip["video"]["bytes"] == (out / "clips" / "ctr.3_1.mp4").read_bytes()
    assert json.loads(clip["provenance"])["materialize"]["frames_expected"] == 113


def test_videos_config_decodes_with_torchcodec(accurate, torchcodec):
    out, _ = accurate
    clip = next(r for r in load_dataset(str(out), "videos", streaming=True)["train"] if r["key"] == "ctr.3_1")
    first = clip["video"].get_frame_at(0).data.numpy()  # torchcodec decoder, CxHxW
    assert counter_index(first) == 76


def test_webdataset_export_reads_back(accurate):
    import webdataset as wds

    out, section = accurate
    pattern = str(out / section["webdataset"])
    samples = list(wds.WebDataset(pattern, shardshuffle=False))
    assert [s["__key__"] for s in samples] == [sample_key(k) for k in ("ctr.3_1", "ctr.10_2", "wv")]
    meta = json.loads(samples[0]["json"])
    assert meta["key"] == "ctr.3_1" and meta["num_frames"] == 113
    assert samples[0]["mp4"] == (out / "clips" / "ctr.3_1.mp4").read_bytes()


def test_cli_copy_mode_is_keyframe_aligned_and_records_its_count(table, sources, tmp_path, capsys):
    out = _import(table, tmp_path / "out")
    assert main(["materialize", str(out), "--sources", str(sources), "--mode", "copy", "--no-webdataset",
                 "--no-progress"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["cut"] == 3 and printed["webdataset"] is None
    indices = decoded_indices(out / "clips" / "ctr.3_1.mp4")
    assert indices[0] == 50  # the keyframe before the span's first frame (76)
    assert indices == list(range(50, 50 + len(indices)))
    section = json.loads((out / "stats.json").read_text())["materialize"]
    assert section["mode"] == "copy" and sum(section["frame_count_vs_round_duration_x_fps"].values()) == 3
    assert count_frames(str(out / "clips" / "ctr.3_1.mp4")) == len(indices) > 113
    assert main(["materialize", str(tmp_path / "nothing"), "--no-progress"]) == 2


def test_rerun_reuses_clips_and_keeps_the_outputs_it_does_not_write(table, sources, tmp_path):
    out = _import(table, tmp_path / "out")
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"ctr": "sources/ctr.mp4"}))  # relative to the mapping file
    (tmp_path / "sources").symlink_to(sources)
    config = MaterializeConfig(embed_videos=True, webdataset=False)
    first = materialize(out, mapping=str(mapping), config=config, progress=False)
    assert first["cut"] == 2 and len(first["videos"]) == 1  # only 'ctr' is mapped: 'wv' (ctrwv) is a reject
    clip = out / "clips" / "ctr.3_1.mp4"
    before = clip.stat().st_mtime_ns
    videos = {p.name: p.read_bytes() for p in (out / "videos").iterdir()}
    again = materialize(out, mapping=str(mapping), config=MaterializeConfig(webdataset=True), progress=False)
    assert clip.stat().st_mtime_ns == before and again["cut"] == 2
    # this run writes tars, not videos: the videos config stays as it was (the rows did not change), card included
    assert {p.name: p.read_bytes() for p in (out / "videos").iterdir()} == videos
    assert again["videos"] == first["videos"] and "config_name: videos" in (out / "README.md").read_text()
    assert [p.name for p in (out / "webdataset").iterdir()] == ["train-00000.tar"]
    assert not list(out.glob(".staging-*"))
    assert len((out / "clips" / "rejects.jsonl").read_text().splitlines()) == 4  # not mapped: 3, outside: 1


def test_cut_on_a_variable_frame_rate_source(shared_videos, tmp_path):
    src = str(shared_videos / "goldeneye-vfr-drop3.mp4")
    info = source_info(src)
    done = cut(src, tmp_path / "vfr.mp4", 2.0, 4.5, info.fps)
    assert done.expected == expected_frames(2.5, info.fps)
    assert abs(count_frames(str(tmp_path / "vfr.mp4")) - done.expected) <= 1


def test_rotated_source_reports_the_display_size_of_the_cut_clip(shared_videos, tmp_path):
    import decord

    src = str(shared_videos / "issue-134-rotate.mp4")  # coded 1280x544, rotation 270
    info = source_info(src)
    cut(src, tmp_path / "rot.mp4", 1.0, 2.0, info.fps)
    height, width = decord.VideoReader(str(tmp_path / "rot.mp4"))[0].shape[:2]
    assert (info.width, info.height) == (width, height) == (544, 1280)
    first = decord.VideoReader(str(tmp_path / "rot.mp4"))[0].asnumpy().astype(float)
    reader = decord.VideoReader(src)  # decord turns frames upright itself: an independent reference
    shown = reader[int(np.searchsorted(reader.get_frame_timestamp(np.arange(len(reader)))[:, 0], 1.0 - 1e-3))]
    upright = shown.asnumpy().astype(float)
    assert np.abs(first - upright).mean() < 4 < 20 < np.abs(first - upright[::-1, ::-1]).mean()


def _first_frame(out: Path, key: str) -> int:
    return decoded_indices(out / "clips" / f"{key}.mp4")[0]


def test_a_clip_is_reused_only_for_the_same_source_span_and_mode(sources, tmp_path):
    """Each change below keeps the clip's frame count, which is all the old reuse check looked at (copy mode:
    nothing), so each used to get the earlier clip back."""
    out = _import(_table(tmp_path / "a.csv", [ROWS[0]]), tmp_path / "out")
    no_wds = MaterializeConfig(webdataset=False)
    materialize(out, str(sources), config=no_wds, progress=False)
    assert _first_frame(out, "ctr.3_1") == 76
    materialize(out, str(sources), config=MaterializeConfig(mode="copy", webdataset=False), progress=False)
    assert _first_frame(out, "ctr.3_1") == 50  # copy mode starts at the keyframe before the span
    materialize(out, str(sources), config=no_wds, progress=False)
    assert _first_frame(out, "ctr.3_1") == 76

    moved = _import(_table(tmp_path / "b.csv", [{**ROWS[0], "span": "['00:00:05.020', '00:00:09.520']"}]),
                    tmp_path / "moved")
    shutil.copytree(out / "clips", moved / "clips")  # the clips an earlier run left, span 2 s earlier
    section = materialize(moved, str(sources), config=no_wds, progress=False)
    assert section["frame_count_vs_round_duration_x_fps"] == {"exact": 1}
    assert _first_frame(moved, "ctr.3_1") == 126

    other = tmp_path / "other-sources"
    other.mkdir()
    cut(str(sources / "ctr.mp4"), other / "ctr.mp4", 2.0, SECONDS, source_info(str(sources / "ctr.mp4")).fps)
    materialize(out, str(other), config=no_wds, progress=False)  # same video_id, another file: frames 50..
    assert _first_frame(out, "ctr.3_1") == 126
    record = json.loads((out / "clips" / "ctr.3_1.cut.json").read_text())
    assert record["request"]["source"]["uri"] == str(other / "ctr.mp4") and record["request"]["mode"] == "accurate"


def test_long_keys_get_bounded_file_names_in_materialize_and_preview(sources, tmp_path):
    from lvd2m_builder.materialize.names import MAX_NAME_BYTES, clip_stem
    from lvd2m_builder.preview.report import PreviewConfig, preview

    keys = ["k" * 300, "長い鍵" * 30, "k" * 300 + "2"]  # 300 ASCII bytes; 270 CJK bytes, 810 once encoded
    out = _import(_table(tmp_path / "long.csv", [{**ROWS[0], "key": k} for k in keys]), tmp_path / "out")
    section = materialize(out, str(sources), config=MaterializeConfig(embed_videos=True), progress=False)
    assert section["cut"] == 3
    names = sorted(p.name for p in (out / "clips").glob("*.mp4"))
    assert names == sorted(f"{clip_stem(k)}.mp4" for k in keys) and len(set(names)) == 3
    assert all(len(n.encode()) <= MAX_NAME_BYTES + 4 for n in names)
    assert {r["key"] for r in load_dataset(str(out), "videos", streaming=True)["train"]} == set(keys)
    page = preview(str(out), tmp_path / "preview", PreviewConfig(frames=2, workers=1), progress=False)
    clips = json.loads(re.search(r'<script type="application/json" id="clip-data">(.*?)</script>',
                                 page.read_text(), re.S).group(1))["clips"]
    assert {c["key"]: len(c["thumbs"]) for c in clips} == {k: 2 for k in keys}  # decoded from the cut clips


def test_a_failed_rerun_leaves_the_last_outputs_in_place(table, sources, tmp_path, monkeypatch):
    from lvd2m_builder.materialize import cutter as clip_cutter

    out = _import(table, tmp_path / "out")
    materialize(out, str(sources), config=MaterializeConfig(embed_videos=True), progress=False)
    kept = {p.relative_to(out): p.read_bytes() for d in ("videos", "webdataset") for p in (out / d).iterdir()}
    kept[Path("clips/rejects.jsonl")] = (out / "clips" / "rejects.jsonl").read_bytes()
    calls = []

    def failing_cut(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return cut(*args, **kwargs)

    monkeypatch.setattr(clip_cutter, "cut", failing_cut)
    for clip in (out / "clips").glob("*.mp4"):  # so the rerun cuts again, and fails on its second clip
        clip.unlink()
    with pytest.raises(OSError, match="No space left"):
        materialize(out, str(sources), config=MaterializeConfig(embed_videos=True), progress=False)
    assert len(calls) == 2
    now = {p.relative_to(out): p.read_bytes() for d in ("videos", "webdataset") for p in (out / d).iterdir()}
    now[Path("clips/rejects.jsonl")] = (out / "clips" / "rejects.jsonl").read_bytes()
    assert now == kept
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [MARKER]  # no staging left behind


def test_an_absurd_frame_rate_or_an_oversized_cut_is_a_reject(sources, tmp_path):
    """A header claiming 90000 fps (Matroska's default duration; ffprobe then reports 30000/1) would have an
    accurate cut write tens of thousands of frames for a few seconds of video."""
    from fakes.fuzz_corpus import encode

    absurd = tmp_path / "absurd"
    absurd.mkdir()
    encode(absurd / "ctr.mkv", "mkv", seconds=3.0, rate=90000)
    assert source_info(str(absurd / "ctr.mkv")).fps > 1000
    rows = [{**ROWS[0], "span": "['00:00:00.500', '00:00:02.500']"}]
    out = _import(_table(tmp_path / "t.csv", rows), tmp_path / "out")
    section = materialize(out, str(absurd), config=MaterializeConfig(webdataset=False), progress=False)
    (reject,) = map(json.loads, (out / "clips" / "rejects.jsonl").read_text().splitlines())
    assert section["cut"] == 0 and reject["stage"] == "materialize"
    assert "fps, more than max_fps (240)" in reject["reason"]
    assert list((out / "clips").glob("*.mp4")) == []

    few = materialize(out, str(sources), config=MaterializeConfig(webdataset=False, max_frames=40), progress=False)
    assert few["cut"] == 0 and "50 frames, more than max_frames (40)" in (out / "clips" / "rejects.jsonl").read_text()
    small = materialize(out, str(sources), config=MaterializeConfig(webdataset=False, max_clip_bytes=100),
                        progress=False)
    assert small["cut"] == 0 and "more than max_clip_bytes (100)" in (out / "clips" / "rejects.jsonl").read_text()
    assert list((out / "clips").glob("*.mp4")) == []


def test_spaces_around_a_video_id_do_not_hide_its_source(sources, tmp_path):
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({" ctr ": str(sources / "ctr.mp4")}))
    out = _import(_table(tmp_path / "t.csv", [{**ROWS[0], "video_id": "  ctr\t"}]), tmp_path / "out")
    assert materialize(out, str(sources), config=MaterializeConfig(webdataset=False), progress=False)["cut"] == 1
    assert materialize(out, mapping=str(mapping), config=MaterializeConfig(webdataset=False), progress=False)["cut"] == 1


@pytest.mark.parametrize("mode", ["accurate", "copy"])
def test_the_audio_track_is_cut_to_the_same_span(tmp_path, mode):
    import av

    src = counter_video(tmp_path / "ctr_tone.mp4", tone_hz=440.0)
    done = cut(str(src), tmp_path / "clip.mp4", 3.02, 7.52, Fraction(FPS), mode=mode)
    with av.open(str(tmp_path / "clip.mp4")) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        lengths = [float(s.duration * s.time_base) for s in (video, audio)]
        tone = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio)])
    assert lengths[0] == pytest.approx(done.frames / FPS, abs=1e-3) and done.frames >= 113
    assert lengths[1] == pytest.approx(lengths[0], abs=0.05)  # copy mode: from the keyframe before, both
    assert np.abs(tone).max() > 0.1  # the sine itself, not silence
