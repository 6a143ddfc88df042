"""A split build (cuts.on_cut=split) end to end: shot rows and rejects, stats and the card, resume after a kill in
the middle of a video, rebuild, and what reads rows (materialize, the videos config, webdataset, preview)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset

from lvd2m_builder.config import preset
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.run.build import build
from lvd2m_builder.testing.montage import Shot, montage
from lvd2m_builder.validate.run import validate

SPLIT = {"cuts.on_cut": "split", "semantic.enabled": False, "captions.enabled": False, "shard_size": 1}
CLI = ["--preset", "robust", "--shard-size", "1", "--set", "cuts.on_cut=split", "--set", "semantic.enabled=false",
       "--set", "captions.enabled=false"]


def rows(out: Path) -> list[dict]:
    """Rows and rejects, without provenance (it holds per-run seconds), by key."""
    found = []
    for name in (None, "rejects"):
        for row in load_dataset(str(out), name, streaming=True)["train"]:
            row.pop("provenance")
            found.append(row)
    return sorted(found, key=lambda r: r["key"])


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    d = tmp_path_factory.mktemp("footage")
    made = {
        "vlog": montage(d / "vlog.mp4", [Shot(11, 2), Shot(3, 3), Shot(11, 0, "fade_black"), Shot(11, 3)]),
        "take": montage(d / "take.mp4", [Shot(12, 2)]),
    }
    (d / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(4096))
    return d, made


@pytest.fixture(scope="module")
def built(footage, tmp_path_factory):
    d, _ = footage
    out = tmp_path_factory.mktemp("split") / "out"
    stats = build([str(d)], out, preset("robust").replace(SPLIT), progress=False)
    return out, stats


def test_rows_are_shots_and_every_shot_leaves_once(footage, built):
    d, made = footage
    out, _ = built
    found = rows(out)
    assert len({r["key"] for r in found}) == len(found)
    refs = {Path(ref.uri).stem: ref.key for ref in list_refs([str(d)])}
    by_source = defaultdict(list)
    for row in found:
        by_source[row["source_key"]].append(row)
    assert set(by_source) == set(refs.values())
    assert len(by_source[refs["vlog"]]) == 4 and len(by_source[refs["take"]]) == 1
    assert not {refs["vlog"], refs["take"]} & {r["key"] for r in found}  # a split video is never a row itself
    (corrupt,) = by_source[refs["corrupt"]]
    assert corrupt["key"] == refs["corrupt"] and corrupt["stage"] == "probe"  # rejected whole, before the split
    fates = [r.get("stage") for r in sorted(by_source[refs["vlog"]], key=lambda r: r["span_start"])]
    assert fates == [None, "duration", "motion", None]
    short = next(r for r in found if r.get("stage") == "duration")
    assert short["span_end"] - short["span_start"] == pytest.approx(short["duration"]) and short["duration"] < 3


def test_stats_and_the_card_report_the_split(built):
    out, stats = built
    kept = [r for r in rows(out) if r.get("stage") is None]
    assert stats["split"] == {"videos": 3, "videos_split": 2, "shots": 5, "shots_kept": 3,
                              "shot_seconds": pytest.approx(stats["split"]["shot_seconds"]),
                              "kept_seconds": pytest.approx(sum(r["duration"] for r in kept), abs=1e-3)}
    # 48 s of shots, less 3 frames each side of each of the vlog's three cuts
    assert stats["split"]["shot_seconds"] == pytest.approx(48 - 3 * 2 * 3 / 24)
    funnel = {(row["stage"], row["unit"]): (row["in"], row["rejected"], row["out"]) for row in stats["funnel"]}
    assert funnel[("probe", "videos")] == (3, 1, 2)
    assert funnel[("split", "videos -> shots")] == (2, 0, 5)
    assert funnel[("duration", "shots")] == (5, 1, 4) and funnel[("motion", "shots")] == (4, 1, 3)
    card = (out / "README.md").read_text()
    assert "3 input videos, split at their cuts into 5 shots" in card and "3 shots kept" in card
    assert "| split (videos -> shots) | 2 | 0 | 5 |" in card
    assert validate(str(out)).ok


def _finished(out: Path) -> int:
    try:
        return len(json.loads((out / "_manifest.json").read_text())["shards"])
    except (OSError, ValueError):
        return 0


def test_a_kill_in_the_middle_of_a_video_resumes_to_the_same_rows(footage, built, tmp_path):
    d, _ = footage
    reference, _ = built
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lvd2m_builder.cli", "build", str(d), "--out", str(out), "--no-progress", *CLI]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    # inputs are built in name order, one a shard: corrupt, take, then vlog, whose shard file is open while
    # its shots are made
    while proc.poll() is None and time.monotonic() < deadline and not (
            _finished(out) == 2 and list((out / "data").glob(".train-00002-*.tmp-*"))):
        time.sleep(0.02)
    assert proc.poll() is None, "the build finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _finished(out) == 2
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    assert rows(out) == rows(reference)


def test_rebuild_redecides_shots_and_reruns_a_video_whole(footage, built, tmp_path):
    d, _ = footage
    reference, _ = built
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before = {r["key"]: r for r in rows(out)}
    build([str(d)], out, preset("robust").replace({**SPLIT, "motion.min_score": 150.0}), progress=False)
    after = {r["key"]: r for r in rows(out)}
    assert set(after) == set(before)  # re-decided from the stored scores: same shots
    moved = [k for k in after if before[k].get("stage") is None and after[k].get("stage") == "motion"]
    assert moved and all(before[k]["flow_score"] < 150 for k in moved)
    # a lower duration gate lets the 3 s shot on: its video goes through the pipeline again, whole
    looser = preset("robust").replace({**SPLIT, "motion.min_score": 150.0, "duration.min_s": 2.0})
    build([str(d)], out, looser, progress=False)
    fresh = tmp_path / "fresh"
    build([str(d)], fresh, looser, progress=False)
    again = rows(out)
    assert len({r["key"] for r in again}) == len(again)
    assert {r["key"]: r.get("stage") for r in again} == {r["key"]: r.get("stage") for r in rows(fresh)}


def test_materialize_and_export_cut_each_shot_to_its_frames(footage, built, tmp_path):
    import decord

    from lvd2m_builder.materialize.cutter import MaterializeConfig
    from lvd2m_builder.materialize.run import materialize

    out = tmp_path / "out"
    shutil.copytree(built[0], out)
    section = materialize(out, config=MaterializeConfig(embed_videos=True), progress=False)
    kept = [r for r in rows(out) if r.get("stage") is None]
    assert section["cut"] == len(kept) == 3
    videos = {r["key"]: r for r in load_dataset(str(out), "videos", streaming=True)["train"]}
    for row in kept:
        clip = decord.VideoReader(str(out / "clips" / f"{row['key']}.mp4"))
        assert len(clip) == row["num_frames"] == videos[row["key"]]["num_frames"]
        source = decord.VideoReader(str(footage[0] / row["url"]))  # urls are relative to the input given (#13)
        first = round(row["span_start"] * 24)
        ours = clip[0].asnumpy().astype(float)
        assert np.abs(ours - source[first].asnumpy()).mean() < np.abs(ours - source[first + 1].asnumpy()).mean()
    import webdataset as wds

    from lvd2m_builder.export.command import export_webdataset

    pattern, written = export_webdataset(out, tmp_path / "wds")
    samples = list(wds.WebDataset(str(tmp_path / pattern), shardshuffle=False))
    assert written == len(samples) == 3
    assert {json.loads(s["json"])["source_key"] for s in samples} == {r["source_key"] for r in kept}


class _Strips(HTMLParser):
    """The preview's shot strips: per video, its shots' fates and the cuts between them."""

    def __init__(self) -> None:
        super().__init__()
        self.videos: dict[str, dict] = {}
        self.current = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if "video" in classes and "data-video" in attrs:
            self.current = self.videos[attrs["data-video"]] = {"shots": [], "cuts": 0, "count": int(attrs["data-shots"])}
        elif self.current is not None and "shot" in classes:
            self.current["shots"].append("accepted" if "accepted" in classes else "rejected")
        elif self.current is not None and "gap" in classes:
            self.current["cuts"] += 1


def test_preview_shows_each_videos_shots_side_by_side_with_the_cuts_between(built, tmp_path):
    from lvd2m_builder.preview.report import PreviewConfig, preview

    page = preview(str(built[0]), tmp_path / "preview", PreviewConfig(frames=2), progress=False)
    strips = _Strips()
    strips.feed(page.read_text())
    assert strips.videos["vlog"] == {"shots": ["accepted", "rejected", "rejected", "accepted"], "cuts": 3, "count": 4}
    assert strips.videos["take"] == {"shots": ["accepted"], "cuts": 0, "count": 1}
    assert "corrupt" not in strips.videos  # never split


@pytest.mark.ray
def test_a_ray_stream_writes_the_shots_a_local_build_writes(footage, tmp_path):
    """Shots leave the decoding pool as clips of their own, with their model frames (a tiny CLIP embeds them in a
    pool of its own); the driver gathers each video's shots into its planned shard."""
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'lvd2m-builder[ray]'")
    pytest.importorskip("open_clip", reason="open_clip is not installed: pip install 'lvd2m-builder[embed]'")
    from lvd2m_builder.testing.tiny_clip import write_tiny_model

    d, _ = footage
    tiny = write_tiny_model(tmp_path / "tiny_clip")
    config = preset("robust").replace({**SPLIT, "shard_size": 2, "embed.enabled": True,
                                       "embed.model": f"local-dir:{tiny}"})
    local = build([str(d)], tmp_path / "local", config, progress=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = build([str(d)], tmp_path / "ray", config.replace({"executor": "ray"}), progress=False)
    finally:
        ray.shutdown()
    ours, theirs = rows(tmp_path / "ray"), rows(tmp_path / "local")
    assert [r["key"] for r in ours] == [r["key"] for r in theirs] and len(ours) == 6
    embedded = [r for r in ours if r.get("stage") is None]
    assert len(embedded) == 3 and all(r["clip_embedding"] is not None for r in embedded)
    for a, b in zip(ours, theirs):
        embedding = a.pop("clip_embedding", None), b.pop("clip_embedding", None)
        assert a == b
        assert embedding[0] is None or np.allclose(*embedding, atol=1e-2)  # batched with other clips there
    assert on_ray["split"] == local["split"] and on_ray["funnel"] == local["funnel"]
