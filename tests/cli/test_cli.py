"""The command line as people drive it, through the real entry point in a child process."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fakes import REPO_ROOT
from lvd2m_builder.config import preset
from lvd2m_builder.run.build import build


def lvd2m(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
                **(env or {})}
    return subprocess.run([sys.executable, "-m", "lvd2m_builder.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=600)


def listing(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its checksum: what a command that changes nothing leaves as it was."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory, clips_dir) -> Path:
    """The sample clips built with the default settings: the model stages are enabled, their weights absent."""
    out = tmp_path_factory.mktemp("cli") / "out"
    build([str(clips_dir)], out, preset("paper").replace({"shard_size": 2}), progress=False)
    return out


def test_build_dry_run_says_what_it_would_do_and_writes_nothing(built, clips_dir, tmp_path):
    before = listing(built)
    result = lvd2m("build", str(clips_dir), "--out", str(built), "--set", "motion.min_score=5", "--shard-size", "2",
                   "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["action"] == "redecide" and plan["changed"] == ["motion.min_score"]
    assert plan["inputs"] == plan["done"] == 5 and plan["todo"] == 0
    assert listing(built) == before

    fresh = tmp_path / "fresh"
    result = lvd2m("build", str(clips_dir), "--out", str(fresh), "--shard-size", "2", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "new" in result.stdout and "5 clips in 3 shards" in result.stdout
    assert not fresh.exists()


def test_skipped_stages_show_as_skipped_in_stats_card_and_preview(built, tmp_path):
    stats = json.loads((built / "stats.json").read_text())
    steps = {step["stage"]: step for step in stats["funnel"]}
    assert "not in the local Hugging Face cache" in steps["semantic"]["skipped"]
    assert steps["embed"]["skipped"].startswith("off") and "skipped" not in steps["motion"]
    assert stats["not_run"]["captions"] == steps["captions"]["skipped"]
    card = (built / "README.md").read_text()
    assert "| semantic | 1 | skipped: " in card and "| motion | " in card
    result = lvd2m("preview", str(built), "--to", str(tmp_path / "report"), "--no-thumbs", "--no-progress")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "report" / "index.html").read_text()
    assert "<td>skipped: Qwen/Qwen2.5-VL-7B-Instruct is not in the local Hugging Face cache" in page


def test_build_prints_the_funnel_as_a_table_and_json_for_scripts(clips_dir, tmp_path):
    result = lvd2m("build", str(clips_dir / "pan_long_take.mp4"), "--out", str(tmp_path / "o"), "--no-progress",
                   "--set", "semantic.enabled=false", "--set", "captions.enabled=false")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["stage", "in", "out", "top", "reasons"]
    assert any(line.split()[:3] == ["motion", "1", "1"] for line in lines)
    assert f"1 of 1 clip accepted -> {tmp_path / 'o'}" in result.stdout
    again = lvd2m("build", str(clips_dir / "pan_long_take.mp4"), "--out", str(tmp_path / "o"), "--json",
                  "--set", "semantic.enabled=false", "--set", "captions.enabled=false")
    assert json.loads(again.stdout) == {"clips": 1, "accepted": 1, "rejected": 0, "rejected_by_stage": {},
                                        "missing_inputs": 0}


def test_config_prints_yaml_that_config_takes_back(tmp_path):
    printed = lvd2m("config", "--preset", "robust", "--set", "motion.min_score=15", "--workers", "3")
    assert printed.returncode == 0, printed.stderr
    data = yaml.safe_load(printed.stdout)
    assert data["cuts"]["detector"] == "robust" and data["motion"]["min_score"] == 15 and data["workers"] == 3
    (tmp_path / "c.yaml").write_text(printed.stdout)
    again = lvd2m("config", "--config", str(tmp_path / "c.yaml"))
    assert again.returncode == 0 and again.stdout == printed.stdout


def test_workers_come_from_the_environment_unless_given(tmp_path):
    assert yaml.safe_load(lvd2m("config", env={"LVD2M_WORKERS": "6"}).stdout)["workers"] == 6
    assert yaml.safe_load(lvd2m("config", "--workers", "2", env={"LVD2M_WORKERS": "6"}).stdout)["workers"] == 2
    bad = lvd2m("config", env={"LVD2M_WORKERS": "many"})
    assert bad.returncode == 2 and bad.stderr.strip() == "lvd2m config: config LVD2M_WORKERS='many': must be a whole number >= 1"
    assert "LVD2M_WORKERS" in lvd2m("--help").stdout


def test_json_logs_are_one_object_per_line_with_an_event_per_clip(clips_dir, tmp_path):
    log_file = tmp_path / "build.jsonl"
    result = lvd2m("build", str(clips_dir), "--out", str(tmp_path / "o"), "-v", "--log-format", "json",
                   "--log-file", str(log_file), "--workers", "2", "--shard-size", "2", "--no-progress",
                   "--set", "semantic.enabled=false", "--set", "captions.enabled=false")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in log_file.read_text().splitlines()]  # every line parses
    clips = [e for e in events if e["logger"] == "lvd2m_builder.events"]
    assert len(clips) == 5 and len({e["clip"] for e in clips}) == 5  # one per clip, from both pool workers
    assert {e["decision"] for e in clips} == {"accepted", "rejected"}
    assert all(e["stage"] is None if e["decision"] == "accepted" else e["reason"] for e in clips)
    assert all(isinstance(e["seconds"], float) for e in clips)


def test_quiet_keeps_warnings_off_stderr(clips_dir, tmp_path):
    result = lvd2m("build", str(clips_dir / "pan_long_take.mp4"), "--out", str(tmp_path / "o"), "-q", "--json")
    assert result.returncode == 0
    assert "WARNING" not in result.stderr  # the skipped model stages warn without -q


def test_info_summarises_a_local_output(built):
    result = lvd2m("info", str(built), "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    stats = json.loads((built / "stats.json").read_text())
    manifest = json.loads((built / "_manifest.json").read_text())
    assert (facts["rows"], facts["rejects"]) == (stats["accepted"], stats["rejected"])
    assert facts["rejected_by_stage"] == stats["rejected_by_stage"] and set(facts["configs"]) == {"default", "rejects"}
    assert facts["settings_hash"] == manifest["settings_hash"] and facts["lvd2m_builder"]
    assert "finished shards" in facts["resume"]
    text = lvd2m("info", str(built)).stdout
    assert f"rows:      {stats['accepted']}" in text and "semantic (" in text


def test_old_option_spellings_still_work_and_say_so(built, tmp_path):
    result = lvd2m("preview", str(built), "--out", str(tmp_path / "r"), "--no-thumbs", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r" / "index.html").is_file()
    assert "--out is now --to" in result.stderr
    assert "--dest" not in lvd2m("export-wds", "--help").stdout  # hidden, still accepted
