"""Kill-safe builds: SIGKILL mid-build and rerun, new inputs only, a hung decoder, a dying worker."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from datasets import load_dataset

from lvd2m_builder.config import preset
from lvd2m_builder.run.build import build


def _rows(out: Path) -> list[dict]:
    rows = []
    for name in (None, "rejects"):
        for row in load_dataset(str(out), name, streaming=True)["train"]:
            row.pop("provenance")  # holds per-run seconds
            rows.append(row)
    return sorted(rows, key=lambda r: r["key"])


@pytest.fixture(scope="module")
def reference(many, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    build([str(many)], out, preset("paper").replace({"shard_size": 2}), progress=False)
    return _rows(out)


def _start(inputs: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lvd2m_builder.cli", "build", str(inputs), "--out", str(out), "--shard-size", "2",
         "--no-progress", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def _finished_shards(out: Path) -> int:
    try:
        return len(json.loads((out / "_manifest.json").read_text())["shards"])
    except (OSError, ValueError):
        return 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigkill_twice_then_resume_gives_the_same_rows(many, reference, tmp_path, workers):
    out = tmp_path / "out"
    for kills, wait_for in enumerate((1, 3)):
        proc = _start(many, out, "--workers", workers)
        deadline = time.monotonic() + 180
        while _finished_shards(out) < wait_for and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the build finished before it could be killed: give it more clips"
        os.killpg(proc.pid, signal.SIGKILL)  # the build and its workers, mid-shard
        proc.wait()
    assert 0 < _finished_shards(out) < 6
    proc = _start(many, out, "--workers", workers)
    assert proc.wait(timeout=300) == 0
    rows = _rows(out)
    assert [r["key"] for r in rows] == [r["key"] for r in reference]  # same keys, no duplicates, nothing lost
    assert rows == reference
    stats = json.loads((out / "stats.json").read_text())
    assert stats["clips"] == len(reference)


def test_new_inputs_add_only_new_clips(many, tmp_path, clips_dir):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("pan0.mp4", "still0.mp4", "hard_cut.mp4"):
        shutil.copy(many / name, inputs / name)
    out = tmp_path / "out"
    config = preset("paper").replace({"shard_size": 2})
    build([str(inputs)], out, config, progress=False)
    first = _published(out)
    shutil.copy(many / "pan1.mp4", inputs / "pan1.mp4")
    stats = build([str(inputs)], out, config, progress=False)
    after = _published(out)
    assert {k: after[k] for k in first} == first  # old rows untouched: their provenance holds per-run seconds
    assert len(after) == len(first) + 1
    assert stats["clips"] == 4 and len(_rows(out)) == 4
    # compacted again into one file per config; the work units are gone
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.parquet")) == [
        "data/train-00000-of-00001.parquet", "rejects/train-00000-of-00001.parquet"]
    assert not list(out.glob("*/*.arrow"))


def _published(out: Path) -> dict[str, dict]:
    return {r["key"]: r for name in (None, "rejects") for r in load_dataset(str(out), name, streaming=True)["train"]}


def test_a_hung_decoder_times_out_into_a_reject(many, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(many / "pan0.mp4", inputs / "pan0.mp4")
    shutil.copy(many / "still0.mp4", inputs / "still0.mp4")
    os.mkfifo(inputs / "stuck.mp4")  # opening it blocks forever inside the decoder: a real hang
    out = tmp_path / "out"
    stats = build([str(inputs)], out, preset("paper").replace({"shard_size": 3, "clip_timeout_s": 20.0}),
                  progress=False)
    rejects = {r["video_id"]: r for r in load_dataset(str(out), "rejects", streaming=True)["train"]}
    assert rejects["stuck"]["stage"] == "timeout" and "no progress for 20s" in rejects["stuck"]["reason"]
    assert stats["clips"] == 3 and stats["accepted"] == 1  # the pan; the still is rejected for motion


def test_a_dying_worker_is_replaced_and_its_shard_redone(many, reference, tmp_path):
    out = tmp_path / "out"
    proc = _start(many, out, "--workers", "2")
    deadline = time.monotonic() + 120
    killed = None
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        workers = [pid for pid in children if "_worker_main" in _cmdline(pid) or "spawn" in _cmdline(pid)]
        if workers and _finished_shards(out) >= 1:
            killed = int(workers[-1])
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    assert killed is not None, "no worker process was seen"
    assert proc.wait(timeout=300) == 0
    rows = _rows(out)
    assert [r["key"] for r in rows] == [r["key"] for r in reference]
    assert rows == reference  # one death is retried, not blamed on the clip


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def test_a_worker_that_dies_while_idle_is_replaced(tmp_path):
    """The OOM killer can take a worker between shards: the next shard must go to a new worker, not into the
    dead one's pipe (BrokenPipeError, which used to end the build)."""
    import multiprocessing

    from lvd2m_builder.inputs.listing import list_refs
    from lvd2m_builder.run.executors.local import run_local
    from lvd2m_builder.store.shards import plan_shards

    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(3):
        (inputs / f"empty{i}.mp4").write_bytes(b"")  # probe rejects: quick shards
    specs = plan_shards(list_refs([str(inputs)]), 1)
    config = preset("paper").replace({"shard_size": 1, "clip_timeout_s": 60.0})  # one worker, watched
    results, killed = [], []

    def on_result(result) -> None:
        results.append(result)
        if not killed:  # the worker that sent this result now waits, idle, for its next shard
            (worker,) = multiprocessing.active_children()
            worker.kill()
            worker.join()
            killed.append(worker.exitcode)

    run_local(specs, config, tmp_path / "out", on_result, lambda accepted: None)
    assert killed == [-signal.SIGKILL]
    assert sorted(r.index for r in results) == [0, 1, 2]
    assert multiprocessing.active_children() == []  # the replacement was stopped too


def test_a_killed_worker_leaves_no_copies_of_remote_inputs(tmp_path, monkeypatch):
    """The worker is killed while it copies a remote input into its scratch directory: the copy goes with it."""
    import http.server
    import multiprocessing
    import tempfile
    import threading

    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch_root))  # where a spawned worker puts temp files
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))  # and this process
    killed = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _answer(self, body: bool) -> None:
            workers = multiprocessing.active_children()  # none while this process lists the inputs
            if workers and not killed:  # a worker has opened its copy in its scratch dir: kill it now
                for worker in workers:
                    worker.kill()
                killed.extend(workers)
                return
            data = b"not a video at all" * 100
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(True)

        def do_HEAD(self) -> None:
            self._answer(False)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/remote.mp4"
        stats = build([url], tmp_path / "out", preset("paper").replace({"clip_timeout_s": 60.0}), progress=False)
    finally:
        server.shutdown()
        server.server_close()
    rejects = list(load_dataset(str(tmp_path / "out"), "rejects", streaming=True)["train"])
    assert len(killed) == 1
    assert stats["clips"] == 1 and [r["stage"] for r in rejects] == ["probe"]  # the retry read it
    assert [p.name for p in scratch_root.rglob("*.mp4")] == []
