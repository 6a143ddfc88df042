"""End to end: videos -> shards -> load_dataset(streaming=True); bad inputs become rejects; the CLI's contract."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from datasets import load_dataset

from lvd2m_builder.config import preset
from lvd2m_builder.errors import OutputError
from lvd2m_builder.media.encode import write_tone
from lvd2m_builder.run.build import build
from lvd2m_builder.schema import REJECT_FEATURES, ROW_FEATURES

EXPECTED = {  # synthetic sample -> (stage that rejects it, or None when accepted)
    "pan_long_take": None,
    "still_long_take": "motion",
    "hard_cut": "cuts",
    "short_pan": "duration",
    "corrupt": "probe",
}


def _rows(out, name=None):
    return list(load_dataset(str(out), name, streaming=True)["train"])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, clips_dir):
    """The synthetic clips plus every kind of bad input the issue names, in one input directory."""
    d = tmp_path_factory.mktemp("inputs")
    for path in clips_dir.iterdir():
        shutil.copy(path, d / path.name)
    (d / "zero.mp4").write_bytes(b"")
    good = (clips_dir / "pan_long_take.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(good[: len(good) // 3])
    (d / "notes.mkv").write_text("this is text, not a video\n")
    write_tone(d / "audio_only.mp4", 12.0)
    return d


@pytest.fixture(scope="module")
def built(tmp_path_factory, inputs):
    out = tmp_path_factory.mktemp("out") / "lvd2m"
    missing = str(inputs / "does_not_exist.mp4")
    stats = build([str(inputs), missing], out, preset("paper").replace({"shard_size": 3}), progress=False)
    return out, stats


def test_streams_back_with_exactly_the_schema_features(built):
    out, _ = built
    train = load_dataset(str(out), streaming=True)["train"]
    rejects = load_dataset(str(out), "rejects", streaming=True)["train"]
    assert train.features == ROW_FEATURES
    assert rejects.features == REJECT_FEATURES


def test_every_input_leaves_exactly_once_with_the_right_fate(built):
    out, stats = built
    train, rejects = _rows(out), _rows(out, "rejects")
    fates = {r["video_id"]: None for r in train} | {r["video_id"]: r["stage"] for r in rejects}
    assert len(train) + len(rejects) == stats["clips"] == 10
    keys = [r["key"] for r in train + rejects]
    assert len(keys) == len(set(keys))
    for name, stage in EXPECTED.items():
        assert fates[name] == stage, name
    for bad in ("zero", "truncated", "notes", "audio_only"):
        assert fates[bad] == "probe", bad
    assert fates["does_not_exist"] == "source"


def test_rejects_carry_reason_and_scores_so_far(built):
    out, _ = built
    rejects = {r["video_id"]: r for r in _rows(out, "rejects")}
    assert "no such file" in rejects["does_not_exist"]["reason"]
    assert "not a readable video" in rejects["zero"]["reason"]
    cut = rejects["hard_cut"]
    assert cut["cut_times"] and abs(cut["cut_times"][0] - 6.0) <= 0.25
    assert cut["flow_score"] is not None  # motion was scored in the same pass
    still = rejects["still_long_take"]
    assert still["flow_score"] < 1 and still["cut_times"] == []
    assert rejects["short_pan"]["duration"] == pytest.approx(5.0, abs=0.05)


def test_accepted_row_and_provenance(built):
    out, _ = built
    (row,) = _rows(out)
    assert row["video_id"] == "pan_long_take" and row["flow_backend"] == "dis" and row["cut_times"] == []
    assert row["span_start"] == 0.0 and row["span_end"] == pytest.approx(12.0, abs=0.05)
    provenance = json.loads(row["provenance"])
    assert provenance["settings"]["preset"] == "paper"
    assert provenance["settings"]["motion"]["min_score"] == 20.0


def test_stats_funnel_adds_up(built):
    out, stats = built
    on_disk = json.loads((out / "stats.json").read_text())
    assert on_disk["clips"] == 10 and on_disk["accepted"] == 1
    funnel = {row["stage"]: row for row in on_disk["funnel"]}
    assert funnel["source"]["in"] == 10 and funnel["motion"]["out"] == 1
    assert funnel["probe"]["rejected"] == 5  # corrupt, zero, truncated, text, audio-only
    assert sum(on_disk["rejected_by_stage"].values()) == 9


def test_rerun_resumes_without_rework_or_duplicates(built, inputs):
    out, stats = built
    manifest = json.loads((out / "_manifest.json").read_text())
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/*.parquet")}
    assert len(before) == 2 and manifest["shards"] == {}  # 4 work units compacted into one file per config
    again = build([str(inputs), str(inputs / "does_not_exist.mp4")], out,
                  preset("paper").replace({"shard_size": 3}), progress=False)
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*.parquet")} == before  # nothing rebuilt or rewritten
    assert again["clips"] == stats["clips"] and manifest["published"]["stats"]["clips"] == stats["clips"]


def test_changed_settings_refuse_to_mix_with_old_shards(built, inputs):
    out, _ = built
    with pytest.raises(OutputError, match="--overwrite"):
        build([str(inputs)], out, preset("paper").replace({"shard_size": 3, "motion.dis_preset": "fast"}), progress=False)


def test_process_pool_gives_the_same_rows(built, inputs, tmp_path):
    out, _ = built
    pooled = build([str(inputs), str(inputs / "does_not_exist.mp4")], tmp_path / "pooled",
                   preset("paper").replace({"shard_size": 3, "workers": 2}), progress=False)
    assert pooled["accepted"] == 1
    strip = lambda rows: sorted((r["key"], r["stage"] if "stage" in r else None, r["flow_score"]) for r in rows)
    assert strip(_rows(tmp_path / "pooled", "rejects")) == strip(_rows(out, "rejects"))
    assert strip(_rows(tmp_path / "pooled")) == strip(_rows(out))


def _cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "lvd2m_builder.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env)


def test_demo_and_clip_cutting_run_no_ffmpeg_program(tmp_path):
    """The README's first command, plus the cutter in both modes, with ``ffmpeg``/``ffprobe`` on the PATH
    replaced by programs that record any call and fail: PyAV does all of it, whether or not ffmpeg is installed.

    PySceneDetect runs ``ffmpeg -v quiet`` once on import to see whether its video splitter could work (we do not
    use the splitter); that look is allowed, any other call fails the test.
    """
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("ffmpeg", "ffprobe"):
        (fake / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {tmp_path / "called"}\nexit 1\n')
        (fake / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}", "LVD2M_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "lvd2m"
    result = _cli("build", "--demo", "--out", str(out), "--embed-videos", "--no-progress", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["accepted"] == 1
    assert len(list((out / "videos").glob("train-*.parquet"))) == 1
    copied = _cli("materialize", str(out), "--mode", "copy", "--no-webdataset", "--no-progress", env=env)
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout.strip().splitlines()[-1])["cut"] == 1
    calls = (tmp_path / "called").read_text().splitlines() if (tmp_path / "called").exists() else []
    assert set(calls) <= {"ffmpeg -v quiet"}, calls


def test_cli_build_exits_zero_and_reports(inputs, tmp_path):
    result = _cli("build", str(inputs / "pan_long_take.mp4"), str(inputs / "zero.mp4"), "--out", str(tmp_path / "o"),
                  "--no-progress", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["clips"] == 2 and summary["accepted"] == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["build", "--out", "{tmp}/o"], "give INPUTS or --demo"),
        (["build", "{inputs}", "--out", "{tmp}/o", "--set", "motion.min_score"], "expected NAME=VALUE"),
        (["build", "{inputs}", "--out", "{tmp}/o", "--set", "motion.nope=1"], "unknown field"),
        (["build", "{tmp}/empty", "--out", "{tmp}/o"], "no input videos found"),
        (["build", "{inputs}", "--out", "/proc/lvd2m-out"], "output /proc/lvd2m-out"),
    ],
    ids=["no-inputs", "bad-set", "unknown-setting", "no-videos", "unwritable-output"],
)
def test_cli_usage_errors_exit_2_with_one_line(inputs, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    args = [a.format(tmp=tmp_path, inputs=inputs) for a in args]
    result = _cli(*args)
    assert result.returncode == 2
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_help_documents_the_build():
    result = _cli("build", "--help")
    assert result.returncode == 0 and "--preset" in result.stdout and "--workers" in result.stdout
