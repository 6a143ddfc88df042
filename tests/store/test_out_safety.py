"""The output directory is lvd2m's, the user's files are not: every case of issue 19 through the `lvd2m` entry point.

Each test compares a checksum listing of the user's files before and after: nothing lvd2m did not write is ever
deleted or replaced.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fakes.cli_runner import checksums, keys, lvd2m, one_line_error
from lvd2m_builder.materialize.sources import SourceIndex
from lvd2m_builder.store.output_dir import MARKER


@pytest.fixture
def vcopy(tmp_path, clips_dir) -> Path:
    """A user's folder of videos (the synthetic set)."""
    folder = tmp_path / "vcopy"
    shutil.copytree(clips_dir, folder)
    return folder


@pytest.mark.parametrize("overwrite", [True, False], ids=["overwrite", "resume"])
def test_an_input_folder_as_out_is_refused_and_keeps_every_video(vcopy, overwrite):
    before = checksums(vcopy)
    line = one_line_error(lvd2m("build", vcopy, "--out", vcopy, "--no-progress", *["--overwrite"] * overwrite))
    assert "not an lvd2m output" in line and "pan_long_take.mp4" in line
    assert checksums(vcopy) == before


def test_overwrite_of_someone_elses_folder_deletes_nothing(tmp_path, clips_dir):
    docs = tmp_path / "mydocs"
    (docs / "sub").mkdir(parents=True)
    (docs / "notes.txt").write_text("mine\n")
    (docs / "sub" / "thesis.tex").write_text("\\documentclass{article}\n")
    before = checksums(docs)
    line = one_line_error(lvd2m("build", clips_dir / "pan_long_take.mp4", "--out", docs, "--overwrite", "--no-progress"))
    assert "notes.txt" in line and "sub/thesis.tex" in line
    assert checksums(docs) == before


def test_overwrite_deletes_only_what_lvd2m_wrote(tmp_path, clips_dir):
    out = tmp_path / "out"
    assert lvd2m("build", clips_dir, "--out", out, "--no-progress").returncode == 0
    (out / "notes.txt").write_text("the user's\n")
    line = one_line_error(lvd2m("build", clips_dir, "--out", out, "--overwrite", "--no-progress"))
    assert "notes.txt" in line and (out / "_manifest.json").exists()  # refused before anything was touched
    resumed = lvd2m("build", clips_dir, "--out", out, "--no-progress")  # resuming beside a user's file is fine
    assert resumed.returncode == 0 and (out / "notes.txt").read_text() == "the user's\n"
    (out / "notes.txt").unlink()
    assert lvd2m("build", clips_dir / "pan_long_take.mp4", "--out", out, "--overwrite", "--no-progress").returncode == 0
    assert json.loads((out / "stats.json").read_text())["clips"] == 1  # the old rows went, with --overwrite only
    assert (out / MARKER).is_file() and len(keys(out, "rejects")) == 0


def test_output_inside_its_input_never_feeds_itself(vcopy):
    out = vcopy / "out"
    runs = []
    for _ in range(3):
        result = lvd2m("build", vcopy, "--out", out, "--embed-videos", "--no-progress", "--json")
        assert result.returncode == 0, result.stderr
        runs.append(json.loads(result.stdout.splitlines()[-1]))
    assert [r["clips"] for r in runs] == [5, 5, 5] and [r["accepted"] for r in runs] == [1, 1, 1]
    assert keys(out) == keys(out, "videos") and len(keys(out)) == 1
    assert len(keys(out, "rejects")) == 4
    assert lvd2m("validate", out).returncode == 0


def test_an_input_named_under_out_is_skipped_with_a_message(tmp_path, clips_dir):
    out = tmp_path / "out"
    assert lvd2m("build", clips_dir, "--out", out, "--embed-videos", "--no-progress").returncode == 0
    clip = next((out / "clips").glob("*.mp4"))
    line = one_line_error(lvd2m("build", clip, "--out", out, "--no-progress"))
    assert "never read as an input" in line


def test_materialize_sources_never_include_the_dataset_itself(vcopy):
    built = vcopy / "lvd2m"
    assert lvd2m("build", vcopy, "--out", built, "--no-progress").returncode == 0
    result = lvd2m("materialize", built, "--sources", vcopy, "--no-progress")  # clips/KEY.mp4 land under vcopy
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cut"] == 1 and any((built / "clips").glob("*.mp4"))
    index = SourceIndex(str(vcopy), exclude=str(built))
    assert sorted(index.by_id) == sorted(p.stem for p in vcopy.glob("*.mp4"))  # no clip of its own


def test_a_readme_the_user_wrote_is_never_replaced(tmp_path, clips_dir):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "README.md").write_text("# My project\n")
    before = checksums(proj)
    assert "not an lvd2m output" in one_line_error(lvd2m("build", clips_dir, "--out", proj, "--no-progress"))
    assert checksums(proj) == before


def test_a_hand_edited_card_is_kept_or_refused_never_replaced(tmp_path, clips_dir):
    out = tmp_path / "out"
    assert lvd2m("build", clips_dir, "--out", out, "--no-progress").returncode == 0
    card = out / "README.md"
    card.write_text(card.read_text().replace("# LVD-2M-style", "# My edited title for LVD-2M-style"))
    edited = card.read_bytes()
    line = one_line_error(lvd2m("build", clips_dir, "--out", out, "--no-progress"))
    assert "README.md" in line and "--keep-card" in line
    assert one_line_error(lvd2m("card", out)) and card.read_bytes() == edited
    kept = lvd2m("build", clips_dir, "--out", out, "--keep-card", "--no-progress")
    assert kept.returncode == 0, kept.stderr
    assert card.read_bytes() == edited


def test_card_fields_come_from_config_and_survive_rebuilds(tmp_path, clips_dir):
    out = tmp_path / "out"
    config = tmp_path / "card.yaml"
    config.write_text("card:\n  description: Clips I filmed.\n  citation: '@misc{me2026, title={Pans}}'\n")
    first = lvd2m("build", clips_dir, "--out", out, "--no-progress", "--config", config,
                  "--set", "card.license=cc-by-4.0", "--set", "card.pretty_name=Pans of my garden")
    assert first.returncode == 0, first.stderr
    again = lvd2m("build", clips_dir, "--out", out, "--no-progress")  # no card fields given this time
    assert again.returncode == 0, again.stderr
    text = (out / "README.md").read_text()
    assert "license: cc-by-4.0" in text and "pretty_name: Pans of my garden" in text and "# Pans of my garden" in text
    assert "Clips I filmed." in text and "@misc{me2026, title={Pans}}" in text and "@inproceedings{xiong2024lvd2m" in text
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["card"]["license"] == "cc-by-4.0" and "card" not in manifest["settings"]
    assert lvd2m("build", clips_dir, "--out", out, "--no-progress", "--set", "card.license=mit").returncode == 0
    assert "license: mit" in (out / "README.md").read_text()  # a new value replaces the kept one, nothing rebuilt


def test_the_card_of_a_robust_build_names_the_robust_detector(tmp_path, clips_dir):
    out = tmp_path / "out"
    result = lvd2m("build", clips_dir, "--out", out, "--preset", "robust", "--no-progress")
    assert result.returncode == 0, result.stderr
    pipeline = (out / "README.md").read_text().split("## Pipeline")[1].split("## Funnel")[0]
    assert "Preset `robust`" in pipeline and "lvd2m robust check" in pipeline
    assert "ContentDetector" not in pipeline


def test_a_rebuild_that_changes_accepted_rows_makes_the_videos_again(tmp_path, clips_dir):
    out = tmp_path / "out"
    assert lvd2m("build", clips_dir, "--out", out, "--embed-videos", "--no-progress").returncode == 0
    assert len(keys(out, "videos")) == 1
    rebuilt = lvd2m("build", clips_dir, "--out", out, "--set", "motion.min_score=0", "--no-progress")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert len(keys(out)) == 2 and keys(out, "videos") == keys(out)  # the still clip joined, with its video
    assert lvd2m("validate", out).returncode == 0


def test_validate_flags_a_videos_config_made_from_other_rows(tmp_path, clips_dir):
    out = tmp_path / "out"
    assert lvd2m("build", clips_dir, "--out", out, "--embed-videos", "--no-progress",
                 "--set", "motion.min_score=0").returncode == 0
    stale = tmp_path / "videos-of-two-rows"
    shutil.copytree(out / "videos", stale)
    assert lvd2m("build", clips_dir, "--out", out, "--no-progress").returncode == 0  # back to one accepted row
    shutil.rmtree(out / "videos")
    shutil.copytree(stale, out / "videos")  # what an older lvd2m left: videos of rows no longer accepted
    result = lvd2m("validate", out, "--json")
    assert result.returncode == 1
    findings = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "videos_stale"]
    assert len(findings) == 1 and "not accepted rows" in findings[0]["message"]


def test_a_misspelled_input_is_a_usage_error_and_writes_nothing(tmp_path):
    line = one_line_error(lvd2m("build", tmp_path / "myvidoes", "--out", tmp_path / "x", "--no-progress"))
    assert "myvidoes" in line and "no such file or directory" in line
    assert not (tmp_path / "x").exists()
    assert "give INPUTS or --demo" in one_line_error(lvd2m("build", "--out", tmp_path / "x"))


def test_a_missing_input_among_others_is_a_reject_counted_in_the_summary(tmp_path, clips_dir):
    result = lvd2m("build", clips_dir / "pan_long_take.mp4", tmp_path / "gone.mp4", tmp_path / "gone2.mp4",
                   "--out", tmp_path / "x", "--no-progress", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["missing_inputs"] == 2 and summary["rejected_by_stage"] == {"source": 2}
    assert "2 named input(s) do not exist" in result.stderr


def test_export_wds_replaces_older_tars_and_refuses_a_foreign_destination(tmp_path, clips_dir):
    out = tmp_path / "out"
    assert lvd2m("build", clips_dir, "--out", out, "--embed-videos", "--set", "motion.min_score=0",
                 "--no-progress").returncode == 0
    assert lvd2m("export-wds", out, "--per-tar", "1").returncode == 0
    assert sorted(p.name for p in (out / "webdataset").iterdir()) == ["train-00000.tar", "train-00001.tar"]
    assert lvd2m("export-wds", out).returncode == 0  # fewer tars this time: none of the older ones stays
    assert sorted(p.name for p in (out / "webdataset").iterdir()) == ["train-00000.tar"]
    dest = tmp_path / "shards"
    dest.mkdir()
    (dest / "keep.txt").write_text("the user's\n")
    before = checksums(dest)
    assert "keep.txt" in one_line_error(lvd2m("export-wds", out, "--to", dest))
    assert checksums(dest) == before and not list(tmp_path.glob(".staging-*"))


def test_preview_never_deletes_files_it_did_not_write(tmp_path):
    from fakes.synthetic_dataset import row, write_dataset

    dataset = write_dataset(tmp_path / "ds", [[row(0), row(1)]])
    report = tmp_path / "report"
    (report / "thumbs").mkdir(parents=True)
    (report / "thumbs" / "holiday.jpg").write_bytes(b"\xff\xd8 the user's photo")
    (report / "notes.txt").write_text("the user's\n")
    before = checksums(report)
    line = one_line_error(lvd2m("preview", dataset, "--to", report, "--no-thumbs", "--no-progress"))
    assert "holiday.jpg" in line and "notes.txt" in line
    assert checksums(report) == before
    fresh = lvd2m("preview", dataset, "--to", tmp_path / "fresh", "--no-thumbs", "--no-progress")
    assert fresh.returncode == 0, fresh.stderr
    again = lvd2m("preview", dataset, "--to", tmp_path / "fresh", "--no-thumbs", "--no-progress")
    assert again.returncode == 0, again.stderr  # its own earlier report is replaced
