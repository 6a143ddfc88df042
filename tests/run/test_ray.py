"""The Ray executor: a Ray Data stream through a CPU pool and one actor pool per model stage.

Pool planning and the ledger's bookkeeping are checked without Ray. The ``ray`` tests start a local Ray with
fake GPUs (``num_gpus=2`` on a CPU machine: Ray schedules them, torch sees none, so ``auto`` models run on the
CPU) and tiny models the tests make: the same rows as the local executor on the sample videos; a driver killed
mid-run and rerun, writing to a moto S3, gives the same rows with no duplicates and streams back with
``load_dataset``; a stuck clip becomes a ``timeout`` reject and a clip that kills its actor twice a ``worker``
reject.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset

from fakes.chat_server import ChatServer, Scripted, images, user_text
from fakes.s3_server import moto_s3
from lvd2m_builder.config import RUN_SETTINGS, load, preset
from lvd2m_builder.errors import ClusterError, ConfigError
from lvd2m_builder.run.build import build
from lvd2m_builder.run.executors.ray import DEATHS, DECODE_GPU_SHARE, Pool, _Ledger, plan
from lvd2m_builder.testing import samples

CPU_STAGES = ("source", "probe", "duration", "decode", "cuts", "motion")
MODELS = {"embed.enabled": True, "prefilter.enabled": True, "embed.model": "local-dir:/nowhere"}


def test_each_model_stage_gets_a_pool_holding_its_share_of_a_gpu_and_the_cpu_pool_the_cpus_left():
    pools = plan(preset("paper").replace(MODELS), {"CPU": 16.0, "GPU": 1.0})
    assert pools == [
        Pool(CPU_STAGES, 1.0, 0.0, 1, (12, 12)),  # 16 CPUs less one per model pool
        Pool(("embed", "prefilter"), 1.0, 0.1, 64, (1, 10)),
        Pool(("semantic",), 1.0, 0.4, 16, (1, 2)),
        Pool(("captions",), 1.0, 0.4, 16, (1, 2)),
        Pool(("align",), 1.0, 0.1, 64, (1, 10)),
    ]
    assert sum(pool.gpus for pool in pools) == pytest.approx(1.0)  # every model stage's first actor fits one GPU
    eight = plan(preset("paper").replace(MODELS), {"CPU": 96.0, "GPU": 8.0})
    assert [pool.actors for pool in eight] == [(64, 64), (1, 80), (1, 20), (1, 20), (1, 80)]  # 8 CPUs per pool


def test_models_without_a_gpu_get_none_and_a_server_holds_its_own():
    no_gpus = plan(preset("paper").replace(MODELS), {"CPU": 16.0})
    assert [pool.gpus for pool in no_gpus] == [0.0] * 5 and [p.actors for p in no_gpus[1:]] == [(1, 1)] * 4
    served = plan(preset("paper").replace({"semantic.vlm.backend": "openai"}), {"CPU": 16.0, "GPU": 2.0})
    assert [(pool.stages, pool.gpus) for pool in served] == [(CPU_STAGES, 0.0), (("semantic",), 0.0),
                                                            (("captions",), 0.4)]
    with pytest.raises(ClusterError, match="the embed stage asks for cuda and the cluster has no GPU"):
        plan(preset("paper").replace({**MODELS, "embed.device": "cuda"}), {"CPU": 16.0}, "head:6379")


def test_raft_runs_inside_the_cpu_pool_on_a_small_share_of_a_gpu():
    config = preset("paper").replace({"motion.backend": "raft", "semantic.enabled": False, "captions.enabled": False})
    (decode,) = plan(config, {"CPU": 8.0, "GPU": 1.0})
    assert decode == Pool(CPU_STAGES, 1.0, DECODE_GPU_SHARE, 1, (8, 8))
    (decode,) = plan(config.replace({"ray_gpus": {"motion": 0.25}, "ray_cpu_actors": 4}), {"CPU": 8.0, "GPU": 1.0})
    assert (decode.gpus, decode.actors) == (0.25, (4, 4))


def test_gpu_shares_can_be_set_per_stage_and_unknown_stages_are_refused():
    pools = plan(preset("paper").replace({"ray_gpus": {"semantic": 1, "captions": 0.5}}), {"CPU": 16.0, "GPU": 4.0})
    assert [(pool.gpus, pool.actors) for pool in pools[1:]] == [(1.0, (1, 4)), (0.5, (1, 8))]
    with pytest.raises(ConfigError, match=r"ray_gpus\['embed'\]=0.5: names no model stage of this build"):
        plan(preset("paper").replace({"ray_gpus": {"embed": 0.5}}), {"CPU": 16.0, "GPU": 4.0})


def test_a_machine_too_small_for_both_gives_model_actors_a_fraction_of_a_cpu():
    pools = plan(preset("paper").replace(MODELS), {"CPU": 2.0, "GPU": 2.0})
    assert pools[0].actors == (1, 1)
    assert sum(pool.cpus * min(pool.actors[1], 2) for pool in pools[1:]) == pytest.approx(1.0, abs=0.01)


def test_the_ledger_rejects_a_clip_that_hung_or_that_actors_died_on_twice():
    ledger = _Ledger()
    assert ledger.start(["a", "b", "c"]) == {}
    ledger.done(["a"])  # a finished; b and c were on an actor that died
    assert ledger.start(["a", "b"]) == {}  # a retried batch: a was fine, b gets a second chance
    ledger.done(["a"])
    ledger.hang("c", "no progress for 20s")
    assert ledger.start(["a", "b", "c"]) == {"b": ("worker", f"the worker process died {DEATHS} times on this clip"),
                                             "c": ("timeout", "no progress for 20s")}
    ledger.reject([b"x"])
    assert ledger.drain() == [b"x"] and ledger.drain() == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_address_fails_in_seconds_with_one_line(tmp_path):
    samples.pan(tmp_path / "pan.mp4", seconds=4.0, size=(64, 48))
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    proc = subprocess.run([sys.executable, "-m", "lvd2m_builder.cli", "build", str(tmp_path / "pan.mp4"), "--out",
                           str(tmp_path / "out"), "--executor", "ray", "--address", address, "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"lvd2m build: ray cluster {address}: cannot reach {address} (Connection refused)"
    assert not list((tmp_path / "out").glob("*/*.arrow"))


# --- on a local Ray --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'lvd2m-builder[ray]'")
    ray.init(num_cpus=3, num_gpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _rows(out, name=None, **kwargs) -> list[dict]:
    """Rows with their per-run timings taken out, by key."""
    rows = []
    for row in load_dataset(out, name, streaming=True, **kwargs)["train"]:
        provenance = json.loads(row.pop("provenance"))
        provenance.pop("seconds")
        assert not RUN_SETTINGS & set(provenance["settings"]), "where a build ran is not part of its rows"
        rows.append({**row, "provenance": provenance})
    return sorted(rows, key=lambda r: r["key"])


def _same(a, b) -> bool:
    """Equal, floats to float32 rounding: a batched model's sums depend on what else is in its batch."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6)
    return a == b


def _vlm(body: dict, attempt: int) -> Scripted:
    """GOOD for colour footage, BAD for black and white (chaplin), and captions that name the segment."""
    text = user_text(body)
    if images(body) and "GOOD or BAD" in text:
        frame = images(body)[0].astype(np.int16)
        colour = np.abs(frame[..., 0] - frame[..., 2]).mean()
        return Scripted(text="GOOD" if colour > 4 else "BAD")
    if images(body):
        return Scripted(text="A scene unfolds as the camera watches.")
    return Scripted(text="CAPTION: A scene unfolds as the camera watches.")


@pytest.mark.ray
def test_the_stream_writes_the_rows_a_local_build_writes(ray_local, shared_videos, tmp_path, caplog):
    from lvd2m_builder.testing.tiny_clip import write_tiny_model

    tiny = write_tiny_model(tmp_path / "tiny_clip")
    videos = tmp_path / "videos"  # two that pass the filters (one colour, one black and white), two with cuts
    videos.mkdir()
    for name in ("chaplin.mp4", "flipping_a_pancake.mkv", "audrey.mp4", "goldeneye-vfr-drop3.mp4"):
        (videos / name).symlink_to(shared_videos / name)
    with ChatServer(_vlm) as server:
        roles = ("semantic.vlm", "captions.vlm", "captions.llm")
        config = load(None, "paper", {
            **{f"{role}.backend": "openai" for role in roles}, **{f"{role}.base_url": server.url for role in roles},
            "embed.enabled": True, "embed.model": f"local-dir:{tiny}", "embed.batch_size": 8,
            "prefilter.enabled": True, "duration.min_s": 5.0, "motion.min_score": 0.0, "shard_size": 3,
        })
        local = build([str(videos)], tmp_path / "local", config, progress=False)
        caplog.set_level(logging.INFO, logger="lvd2m_builder")
        on_ray = build([str(videos)], tmp_path / "ray", config.replace({"executor": "ray"}), progress=False)
    for name in (None, "rejects"):
        ray_rows, local_rows = _rows(str(tmp_path / "ray"), name), _rows(str(tmp_path / "local"), name)
        assert [r["key"] for r in ray_rows] == [r["key"] for r in local_rows]
        assert all(_same(a, b) for a, b in zip(ray_rows, local_rows))
    # the clips reached every pool: cuts, the VLM's BAD (a model pool's reject) and captions with CLIP scores
    assert on_ray["rejected_by_stage"] == local["rejected_by_stage"] == {"cuts": 2, "semantic": 1}
    (accepted,) = _rows(str(tmp_path / "ray"))
    assert accepted["video_id"] == "flipping_a_pancake" and accepted["clip_score"] is not None
    assert on_ray["funnel"] == local["funnel"] and on_ray["not_run"] == local["not_run"] == {
        "dedup": "off in this build's settings"}
    assert {"decode", "embed", "semantic", "captions", "align"} <= set(on_ray["seconds"])
    assert sorted(p.name for p in (tmp_path / "ray").glob("*/*.parquet")) == sorted(
        p.name for p in (tmp_path / "local").glob("*/*.parquet"))  # the same published files
    lines = [r.getMessage() for r in caplog.records if r.name == "lvd2m_builder.run.executors.ray"]
    assert any(line.startswith("ray: source+probe+duration+decode+cuts+motion: 1 actors of 1 CPU")
               and "embed+prefilter: 1-20 actors of " in line and " + 0.1 GPU, 8 clips per call" in line
               and "semantic: 1 actors of " in line for line in lines), lines
    assert any(line.startswith("ray: 4/4 clips, ") and "25% accepted, shards 2/2 written" in line
               for line in lines), lines


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Eight small clips, four shards of two: pans (accepted), stills (motion), a short one and a corrupt one."""
    d = tmp_path_factory.mktemp("ray-clips")
    for i in range(3):
        samples.pan(d / f"pan{i}.mp4", seconds=10.5 + i, size=(64, 48), px_per_frame=2 + i)
    for i in range(2):
        samples.static(d / f"still{i}.mp4", seconds=10.5 + i)
    samples.pan(d / "short.mp4", seconds=4.0, size=(64, 48))
    samples.corrupt(d / "corrupt.mp4")
    samples.pan(d / "pan_long.mp4", seconds=14.0, size=(64, 48), px_per_frame=3)
    return d


@pytest.fixture
def s3(monkeypatch):
    """A moto S3 with an empty bucket, which the driver started as a subprocess reaches too."""
    with moto_s3(monkeypatch, "lvd2m-test") as (endpoint, _client):
        yield endpoint


def _recorded_shards(fs, url: str) -> int:
    try:
        return len(json.loads(fs.cat_file(f"{url}/_manifest.json"))["shards"])
    except (OSError, ValueError):
        return 0


@pytest.mark.ray
def test_a_killed_driver_resumes_on_s3_with_the_same_rows_and_no_duplicates(clips, s3, tmp_path):
    import fsspec

    config = preset("paper").replace({"semantic.enabled": False, "captions.enabled": False, "shard_size": 2})
    build([str(clips)], tmp_path / "local", config, progress=False)
    url = "s3://lvd2m-test/lvd2m"
    command = [sys.executable, "-m", "lvd2m_builder.cli", "build", str(clips), "--out", url, "--executor", "ray",
               "--shard-size", "2", "--set", "semantic.enabled=false", "--set", "captions.enabled=false",
               "--no-progress"]
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while _recorded_shards(fs, url) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, "the build finished before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver, and the local Ray it started, mid-stream
        proc.wait()
    assert 1 <= _recorded_shards(fs, url) < 4
    assert subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600).returncode == 0
    remote = {"storage_options": {"endpoint_url": s3}}
    for name, folder in ((None, "data"), ("rejects", "rejects")):
        streamed = []
        for row in load_dataset("parquet", data_files={"train": f"{url}/{folder}/*.parquet"}, streaming=True,
                                **remote)["train"]:
            provenance = json.loads(row.pop("provenance"))
            provenance.pop("seconds")
            streamed.append({**row, "provenance": provenance})
        streamed.sort(key=lambda r: r["key"])
        assert streamed == _rows(str(tmp_path / "local"), name)  # same keys, no duplicates, nothing lost
    stats = json.loads(fs.cat_file(f"{url}/stats.json"))
    assert (stats["clips"], stats["accepted"]) == (8, 4)
    assert {path.rsplit("/", 1)[-1] for path in fs.find(url)} >= {"README.md", "_manifest.json", "stats.json"}


def _holders(path: Path) -> set[int]:
    """Processes of ours holding ``path`` open."""
    found = set()
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            if os.readlink(fd) == str(path):
                found.add(int(fd.parts[2]))
        except OSError:
            continue
    return found


@pytest.mark.ray
def test_a_stuck_clip_times_out_and_a_clip_that_kills_its_actor_twice_is_a_worker_reject(ray_local, clips, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("pan0.mp4", "still0.mp4"):
        shutil.copy(clips / name, inputs / name)
    os.mkfifo(inputs / "stuck.mp4")  # opening it blocks forever inside the decoder: a real hang
    poison = inputs / "poison.mp4"
    os.mkfifo(poison)  # opened, it blocks too; every actor that opens it is killed below
    killed: list[int] = []

    def kill_whoever_opens_it() -> None:
        writer = os.open(poison, os.O_WRONLY)  # returns once an actor opens it; held so reads block, not end
        try:
            while len(killed) < DEATHS:
                for pid in _holders(poison) - set(killed) - {os.getpid()}:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                time.sleep(0.05)
        finally:
            os.close(writer)

    killer = threading.Thread(target=kill_whoever_opens_it, daemon=True)
    killer.start()
    config = preset("paper").replace({"semantic.enabled": False, "captions.enabled": False, "shard_size": 4,
                                      "clip_timeout_s": 20.0, "executor": "ray"})
    stats = build([str(inputs)], tmp_path / "out", config, progress=False)
    killer.join(timeout=5)
    assert len(killed) == DEATHS
    rejects = {r["video_id"]: r for r in load_dataset(str(tmp_path / "out"), "rejects", streaming=True)["train"]}
    assert rejects["stuck"]["stage"] == "timeout" and "no progress for 20s" in rejects["stuck"]["reason"]
    assert (rejects["poison"]["stage"], rejects["poison"]["reason"]) == (
        "worker", f"the worker process died {DEATHS} times on this clip")
    assert rejects["still0"]["stage"] == "motion"
    assert (stats["clips"], stats["accepted"]) == (4, 1)  # the pan
