"""The Ray executor: the same shards as the local executor, a status line, retries, and its resource requests."""

from __future__ import annotations

import json
import logging

import pytest
from datasets import load_dataset

from lvd2m_builder.cli import main
from lvd2m_builder.config import RUN_SETTINGS, preset
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.run.build import build
from lvd2m_builder.run.executors.ray import run_ray, task_resources
from lvd2m_builder.run.shard_task import MAX_SHARD_ATTEMPTS, ShardFailedError
from lvd2m_builder.stages.registry import gpu_stages
from lvd2m_builder.store.shards import plan_shards
from lvd2m_builder.testing import samples

CONFIG = preset("paper").replace({"semantic.enabled": False, "captions.enabled": False, "shard_size": 2})


@pytest.mark.parametrize(
    "overrides, cluster_gpus, gpus",
    [
        ({}, 0, 0),
        ({"motion.backend": "raft", "motion.height": 48, "motion.width": 64}, 0, 0),
        ({"motion.backend": "raft", "motion.height": 48, "motion.width": 64}, 4, 1),
        ({"motion.backend": "raft", "motion.height": 48, "motion.width": 64, "motion.device": "cpu"}, 4, 0),
        ({"motion.backend": "raft", "motion.height": 48, "motion.width": 64, "motion.device": "cuda"}, 0, 1),
        ({"embed.enabled": True}, 2, 1),
        ({"captions.enabled": True, "captions.vlm.backend": "openai", "captions.llm.backend": "openai"}, 2, 0),
        ({"captions.enabled": True}, 2, 1),
    ],
    ids=["cpu-stages", "raft-auto-no-gpus", "raft-auto-gpus", "raft-cpu", "raft-cuda", "embed-auto",
         "captions-on-a-server", "captions-local"],
)
def test_gpu_stages_ask_for_a_gpu_and_cpu_stages_do_not(overrides, cluster_gpus, gpus):
    resources = task_resources(CONFIG.replace(overrides), cluster_gpus)
    assert resources == {"num_cpus": 1, "num_gpus": gpus}


def test_gpu_stages_name_the_stage_and_its_device():
    config = CONFIG.replace({"motion.backend": "raft", "motion.height": 48, "motion.width": 64,
                             "embed.enabled": True, "embed.device": "cuda:1"})
    assert gpu_stages(config) == {"motion": "auto", "embed": "cuda:1"}


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'lvd2m-builder[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, ffmpeg_available):
    """Three small clips with three fates (accepted, motion, duration) and a corrupt file: two shards of two."""
    directory = tmp_path_factory.mktemp("ray-inputs")
    samples.pan(directory / "pan.mp4", seconds=11.0, size=(64, 48))
    samples.static(directory / "still.mp4", seconds=11.0)
    samples.pan(directory / "short.mp4", seconds=4.0, size=(64, 48))
    samples.corrupt(directory / "corrupt.mp4")
    return directory


def _comparable(out, name=None) -> list[dict]:
    """Rows with what legitimately differs between two runs taken out: timings."""
    rows = []
    for row in load_dataset(str(out), name, streaming=True)["train"]:
        provenance = json.loads(row.pop("provenance"))
        provenance.pop("seconds")
        assert not RUN_SETTINGS & set(provenance["settings"]), "where a build ran is not part of its rows"
        rows.append({**row, "provenance": provenance})
    return sorted(rows, key=lambda r: r["key"])


@pytest.mark.ray
def test_ray_build_writes_the_rows_a_local_build_writes(ray_local, inputs, tmp_path, caplog):
    local = build([str(inputs)], tmp_path / "local", CONFIG, progress=False)
    caplog.set_level(logging.INFO, logger="lvd2m_builder")
    code = main(["build", str(inputs), "--out", str(tmp_path / "ray"), "--executor", "ray", "--shard-size", "2",
                 "--set", "semantic.enabled=false", "--set", "captions.enabled=false", "--no-progress"])
    assert code == 0
    assert _comparable(tmp_path / "ray") == _comparable(tmp_path / "local")
    assert _comparable(tmp_path / "ray", "rejects") == _comparable(tmp_path / "local", "rejects")
    assert sorted(p.name for p in (tmp_path / "ray").glob("*/*.parquet")) == sorted(
        p.name for p in (tmp_path / "local").glob("*/*.parquet"))
    ray_stats = json.loads((tmp_path / "ray" / "stats.json").read_text())
    assert (ray_stats["clips"], ray_stats["accepted"]) == (local["clips"], local["accepted"]) == (4, 1)
    manifest = json.loads((tmp_path / "ray" / "_manifest.json").read_text())
    assert manifest["run"]["executor"] == "ray" and manifest["published"]["stats"]["clips"] == 4
    status = [r.getMessage() for r in caplog.records if r.name == "lvd2m_builder.run.executors.ray"]
    assert any(line.startswith("ray: 4/4 clips, ") and "25% accepted" in line and "shards 2/2 done" in line
               for line in status), status


@pytest.mark.ray
def test_a_shard_that_keeps_failing_fails_the_build_after_its_retries(ray_local, inputs, tmp_path, caplog):
    out = tmp_path / "out"
    (out / "_work").mkdir(parents=True)
    (out / "_work" / "data").write_text("a file where the work units' directory should be")  # every attempt fails
    specs = plan_shards(list_refs([str(inputs / "short.mp4")]), 1)
    results = []
    with pytest.raises(ShardFailedError) as failed:
        run_ray(specs, CONFIG.replace({"executor": "ray"}), out, results.append, lambda accepted: None)
    assert failed.value.index == 0 and "FileExistsError" in failed.value.why and results == []
    attempts = [r for r in caplog.records if "shard 0 failed (attempt" in r.getMessage()]
    assert len(attempts) == MAX_SHARD_ATTEMPTS
