"""A local build names its inputs relative to the input given: nothing that is published (rows, rejects, stats.json,
the card, the videos config, webdataset tars, the preview) holds the machine's absolute path, and materialize,
--embed-videos, export-wds, preview, resume and rebuild still find every file (issue #13, item 10)."""

from __future__ import annotations

import csv
import json
import shutil
from fnmatch import fnmatch
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

from lvd2m_builder.config import preset
from lvd2m_builder.errors import OutputError
from lvd2m_builder.export.command import export_webdataset
from lvd2m_builder.materialize.cutter import MaterializeConfig
from lvd2m_builder.materialize.run import materialize
from lvd2m_builder.preview.report import PreviewConfig, preview
from lvd2m_builder.publish.plan import PUBLIC_PATTERNS
from lvd2m_builder.run.build import build
from lvd2m_builder.run.plan import plan_build
from lvd2m_builder.store.manifest import Manifest, settings_hash

CONFIG = preset("paper").replace({"semantic.enabled": False, "captions.enabled": False, "shard_size": 3})
ABSOLUTE = CONFIG.replace({"inputs.absolute_paths": True})
#: files that keep the build's local state (never pushed): where the input roots are allowed to be
LOCAL_STATE = ("_manifest.json", "clips/*.cut.json")


def _rows(out: Path, name=None) -> list[dict]:
    return list(load_dataset(str(out), name, streaming=True)["train"])


@pytest.fixture(scope="module")
def footage(tmp_path_factory, clips_dir) -> dict[str, Path]:
    """footage/trip/ (a pan, a still, a hard cut, a text file named .mp4) and a clip table in footage/ naming a
    pan that lies elsewhere by its absolute path."""
    root = tmp_path_factory.mktemp("footage")
    (root / "trip").mkdir()
    for name in ("pan_long_take", "still_long_take", "hard_cut"):
        shutil.copy(clips_dir / f"{name}.mp4", root / "trip" / f"{name}.mp4")
    (root / "trip" / "bad.mp4").write_text("not a video\n")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    shutil.copy(clips_dir / "pan_long_take.mp4", elsewhere / "far.mp4")
    with (root / "table.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["path", "caption"], [str(elsewhere / "far.mp4"), "a pan"]])
    return {"root": root, "elsewhere": elsewhere, "table": root / "table.csv"}


@pytest.fixture(scope="module")
def used(tmp_path_factory, footage) -> dict[str, Path]:
    """Built with --embed-videos, previewed, materialized with tars, exported: every output there is."""
    out = tmp_path_factory.mktemp("out") / "ds"
    inputs = [str(footage["root"]), str(footage["root"] / "nope.mp4"), str(footage["table"])]
    build(inputs, out, CONFIG, progress=False, embed_videos=MaterializeConfig(embed_videos=True, webdataset=False))
    preview(str(out), config=PreviewConfig(frames=2, workers=1), progress=False)
    materialize(out, config=MaterializeConfig(embed_videos=True, webdataset=True), progress=False)
    wds = out.parent / "exported"
    export_webdataset(out, wds)
    return {"out": out, "wds": wds, "inputs": inputs}


def test_rows_name_inputs_relative_to_the_input_given(used):
    train, rejects = _rows(used["out"]), {r["url"]: r for r in _rows(used["out"], "rejects")}
    assert {r["url"] for r in train} == {"trip/pan_long_take.mp4", "far.mp4"}  # far.mp4: the table's, by its name
    assert set(rejects) == {"trip/still_long_take.mp4", "trip/hard_cut.mp4", "trip/bad.mp4", "nope.mp4"}
    assert rejects["nope.mp4"]["reason"] == "cannot read nope.mp4: no such file"
    assert rejects["trip/bad.mp4"]["stage"] == "probe"


def _text(path: Path) -> bytes:
    """A file's bytes, or for Parquet (compressed: a path in it is not in its bytes) every value it holds."""
    if path.suffix != ".parquet":
        return path.read_bytes()
    return repr(pq.read_table(path).to_pydict()).encode()


def test_nothing_published_names_an_input_root(used, footage):
    roots = [str(footage["root"]).encode(), str(footage["elsewhere"]).encode()]
    files = [p for top in (used["out"], used["wds"]) for p in top.rglob("*") if p.is_file()]
    assert any(p.suffix == ".tar" for p in files) and any("videos" in p.parts for p in files)
    leaks = {p.relative_to(used["out"]).as_posix() for p in files if any(r in _text(p) for r in roots)}
    assert leaks and all(any(fnmatch(rel, pattern) for pattern in LOCAL_STATE) for rel in leaks), leaks
    assert not any(fnmatch(rel, pattern) for rel in leaks for pattern in PUBLIC_PATTERNS)


def test_embed_videos_materialize_and_export_find_relative_sources(used):
    stats = json.loads((used["out"] / "stats.json").read_text())["materialize"]
    assert (stats["cut"], stats["rejected"]) == (2, 0)
    videos = _rows(used["out"], "videos")
    assert sorted(json.loads(r["provenance"])["materialize"]["source"] for r in videos) == [
        "far.mp4", "trip/pan_long_take.mp4"]
    assert all(r["video"] is not None for r in videos)
    assert len(list(used["wds"].glob("*.tar"))) == 1


def test_preview_reads_the_sources_of_rejected_rows_through_the_roots(used):
    page = (used["out"] / "preview" / "index.html").read_text(encoding="utf-8")
    for row in _rows(used["out"], "rejects"):
        if row["stage"] in ("motion", "cuts"):  # decodable, never cut: their thumbs come from the source
            assert (used["out"] / "preview" / "thumbs" / f"{row['key']}-0.jpg").is_file(), row["url"]
    assert "trip/bad.mp4" in page


def test_resume_and_rebuild_keep_keys_and_find_their_inputs(used, footage):
    out = used["out"]
    before = {r["key"]: r["url"] for r in _rows(out) + _rows(out, "rejects")}
    shards = set(Manifest.load(out).shards)
    build(used["inputs"], out, CONFIG, progress=False)  # a resume: nothing new
    assert set(Manifest.load(out).shards) == shards
    stats = build(used["inputs"], out, CONFIG.replace({"motion.min_score": 0.0001}), progress=False)
    after = {r["key"]: r["url"] for r in _rows(out) + _rows(out, "rejects")}
    assert after == before and stats["clips"] == len(before)
    still = next(r for r in _rows(out) if r["url"] == "trip/still_long_take.mp4")  # rebuilt from its input
    assert still["flow_score"] is not None


def test_absolute_paths_opt_in_keeps_them(tmp_path, footage):
    pan, missing = footage["root"] / "trip" / "pan_long_take.mp4", footage["root"] / "nope.mp4"
    build([str(pan), str(missing)], tmp_path / "ds", ABSOLUTE, progress=False)
    assert [r["url"] for r in _rows(tmp_path / "ds")] == [str(pan)]
    (reject,) = _rows(tmp_path / "ds", "rejects")
    assert reject["url"] == str(missing) and str(missing) in reject["reason"]


def test_an_older_output_resumes_with_absolute_paths_and_is_refused_without(tmp_path, footage):
    out, pan = tmp_path / "ds", str(footage["root"] / "trip" / "pan_long_take.mp4")
    build([pan], out, ABSOLUTE, progress=False)
    old = Manifest.load(out)  # as a build before inputs.absolute_paths wrote it
    del old.settings["inputs"]
    old.settings_hash = settings_hash(old.settings)
    old.save(out)
    for attempt in (lambda: build([pan], out, CONFIG, progress=False), lambda: plan_build([pan], out, CONFIG)):
        with pytest.raises(OutputError, match="absolute path.*--set inputs.absolute_paths=true"):
            attempt()
    assert plan_build([pan], out, ABSOLUTE).action == "resume"
    build([pan], out, ABSOLUTE, progress=False)
    resumed = Manifest.load(out)
    assert set(resumed.shards) == set(old.shards) and resumed.settings["inputs"] == {"absolute_paths": True}
    with pytest.raises(OutputError, match="absolute path"):
        build([pan], out, CONFIG, progress=False)


def test_a_relative_output_is_not_resumed_with_absolute_paths(tmp_path, footage):
    pan = str(footage["root"] / "trip" / "pan_long_take.mp4")
    build([pan], tmp_path / "ds", CONFIG, progress=False)
    with pytest.raises(OutputError, match="relative to the inputs given"):
        build([pan], tmp_path / "ds", ABSOLUTE, progress=False)


def test_materialize_without_the_roots_rejects_with_a_reason_and_takes_sources(tmp_path, footage):
    out = tmp_path / "ds"
    build([str(footage["root"] / "trip" / "pan_long_take.mp4")], out, CONFIG, progress=False)
    manifest = Manifest.load(out)  # as after a manifest was rebuilt from the shards: no roots kept
    manifest.run.pop("input_roots")
    manifest.save(out)
    section = materialize(out, config=MaterializeConfig(webdataset=False), progress=False)
    assert (section["cut"], section["rejected_by_reason"]) == (0, {
        "source: 'pan_long_take.mp#' is under none of the build's input roots (pass --sources)": 1})
    assert materialize(out, str(footage["root"] / "trip"), config=MaterializeConfig(webdataset=False),
                       progress=False)["cut"] == 1


def test_a_split_build_names_its_shots_relative_to_the_input_given(tmp_path, footage):
    out = tmp_path / "split"
    build([str(footage["root"] / "trip")], out, CONFIG.replace({"cuts.on_cut": "split", "duration.min_s": 1.0}),
          progress=False)
    rows = _rows(out) + _rows(out, "rejects")
    shots = [r for r in rows if r["url"] == "hard_cut.mp4"]
    assert len(shots) >= 2 and all(r["source_key"] != r["key"] for r in shots)  # the hard cut's video gave shots
    assert {r["url"] for r in rows} >= {"pan_long_take.mp4", "still_long_take.mp4", "hard_cut.mp4", "bad.mp4"}
    root = str(footage["root"]).encode()
    assert not [p for p in out.rglob("*.parquet") if root in _text(p)]
