"""lvd2m push against a loopback Hub, then load_dataset(streaming=True) back from it: rows identical to the shards.

The Hub runs in this process (tests/hub_server.py); the client runs in a child process (tests/hub_client.py)
whose environment points huggingface_hub and datasets at it, with Xet off and caches in tmp_path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hub_server
from hub_server import HubServer
from lvd2m_builder.shards import read_table
from synthetic_dataset import demo_build, reject, row, write_dataset

CLIENT = Path(__file__).with_name("hub_client.py")
ALICE = "hf_alice_secret_token"


@pytest.fixture
def hub():
    with HubServer(tokens={ALICE: "alice"}) as server:
        yield server


@pytest.fixture
def demo(tmp_path_factory, clips_dir, tmp_path) -> Path:
    """A private copy of the real pipeline's output (push renders its card for the repo id)."""
    return Path(shutil.copytree(demo_build(tmp_path_factory, clips_dir), tmp_path / "lvd2m"))


def _client(hub: HubServer, tmp_path: Path, steps: list[dict], cwd: Path | None = None) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HOME=str(tmp_path / "hf-home"),
               HF_DATASETS_CACHE=str(tmp_path / "hf-datasets"), HF_HUB_DISABLE_PROGRESS_BARS="1",
               HF_HUB_DISABLE_TELEMETRY="1", NO_PROXY="127.0.0.1", no_proxy="127.0.0.1",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")]))
    (tmp_path / "steps.json").write_text(json.dumps(steps))
    done = subprocess.run([sys.executable, str(CLIENT), str(tmp_path / "steps.json")], env=env, cwd=cwd or tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ALICE not in done.stdout + done.stderr  # the token is never printed or logged
    return json.loads(done.stdout)


def _push(out: Path, repo_id: str = "alice/lvd2m", *flags: str, token: str | None = ALICE) -> dict:
    return {"argv": ["push", str(out), "--repo-id", repo_id, *flags], "token": token}


def _shard_rows(out: Path, pattern: str) -> list[dict]:
    rows = [r for path in sorted(out.glob(pattern)) for r in read_table(path).to_pylist()]
    return json.loads(json.dumps(rows))


def _published(out: Path) -> dict[str, bytes]:
    """What the repo should hold after a push of ``out``: every file but the manifest, plus .gitattributes."""
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    del files["_manifest.json"]
    return {**files, ".gitattributes": hub_server.GITATTRIBUTES}


def _one_line_error(result: dict) -> str:
    assert result["rc"] not in (0, None) and result["out"] == ""
    lines = result["err"].splitlines()
    assert len(lines) == 1 and lines[0].startswith("lvd2m push: "), result["err"]
    return lines[0]


def test_push_then_stream_back_from_the_hub_and_from_disk(hub, demo, tmp_path):
    pushed, hub_train, hub_rejects, disk_train, disk_rejects, checked = _client(hub, tmp_path, [
        _push(demo),
        {"stream": ["alice/lvd2m", None]}, {"stream": ["alice/lvd2m", "rejects"]},
        {"stream": ["lvd2m", None]}, {"stream": ["lvd2m", "rejects"]},  # cwd holds the directory named lvd2m
        {"argv": ["validate", "alice/lvd2m", "--json"], "token": ALICE},
    ], cwd=demo.parent)
    assert pushed["rc"] == 0 and pushed["out"].startswith(f"{hub.url}/datasets/alice/lvd2m/commit/")
    train, rejects = _shard_rows(demo, "data/*.parquet"), _shard_rows(demo, "rejects/*.parquet")
    assert train and rejects
    assert hub_train["rows"] == train == disk_train["rows"]
    assert hub_rejects["rows"] == rejects == disk_rejects["rows"]
    remote = hub.files("alice/lvd2m")
    assert remote == _published(demo) and any(name.startswith("plots/") for name in remote)
    assert 'load_dataset("alice/lvd2m", streaming=True)' in remote["README.md"].decode()
    report = json.loads(checked["out"])
    assert checked["rc"] == 0 and report["ok"] and report["rows"] == {"default": len(train), "rejects": len(rejects)}


def test_an_interrupted_push_completes_when_run_again(hub, demo, tmp_path):
    objects = {hashlib.sha256(p.read_bytes()).hexdigest() for p in demo.rglob("*") if p.suffix in (".parquet", ".png")}
    train_sha = hashlib.sha256(next(demo.glob("data/*.parquet")).read_bytes()).hexdigest()
    hub.fail("PUT", f"^/lfs/{train_sha}$", status=400)  # run 1 dies uploading the train shard
    hub.fail("POST", "^/api/datasets/alice/lvd2m/commit/", status=500)  # run 2 dies committing
    runs = _client(hub, tmp_path, [_push(demo, "alice/lvd2m", "--keep-card")] * 3)
    assert "HTTP 400" in _one_line_error(runs[0]) and "HTTP 500" in _one_line_error(runs[1])
    assert runs[2]["rc"] == 0, runs[2]["err"]
    assert hub.files("alice/lvd2m") == _published(demo)
    uploads = [(i, path) for i, (method, path, status) in enumerate(hub.log) if method == "PUT" and status == 200]
    assert sorted(path.removeprefix("/lfs/") for _, path in uploads) == sorted(objects)  # each object sent once
    commits = [(i, status) for i, (method, path, status) in enumerate(hub.log) if "/commit/" in path]
    assert [status for _, status in commits] == [500, 200]
    assert uploads[-1][0] < commits[0][0]  # the third run found every object uploaded and only committed


def test_an_invalid_dataset_is_refused_before_any_request(hub, demo, tmp_path):
    shard = next(demo.glob("data/*.parquet"))
    shutil.copy(shard, shard.with_name("train-00009-of-00009.parquet"))  # every key twice
    result, = _client(hub, tmp_path, [_push(demo)])
    line = _one_line_error(result)
    assert "is not a valid dataset" in line and "key_duplicate" in line
    assert hub.log == [] and hub.repos == {}


def test_token_problems_are_one_line_and_create_nothing(hub, tmp_path):
    out = write_dataset(tmp_path / "lvd2m", [[row(0)]], plots=False)
    rejected, missing, elsewhere = _client(hub, tmp_path, [
        _push(out, "alice/lvd2m", "--keep-card", token="hf_wrong_token"),
        _push(out, "alice/lvd2m", "--keep-card", token=None),
        _push(out, "bob/lvd2m", "--keep-card"),
    ])
    assert "the Hub rejected the token (401 Unauthorized)" in _one_line_error(rejected)
    assert "hf_wrong_token" not in rejected["err"]
    assert "no Hugging Face token found: set HF_TOKEN or run `hf auth login`" in _one_line_error(missing)
    assert "the token may not write to bob/lvd2m (403 Forbidden)" in _one_line_error(elsewhere)
    assert hub.repos == {}


def test_a_rebuild_replaces_stale_shards_and_a_pr_or_branch_leaves_main_alone(hub, tmp_path):
    first = write_dataset(tmp_path / "first" / "lvd2m", [[row(0)], [row(1)], [row(2)]], [[reject(0)], [], []],
                          plots=False)
    second = write_dataset(tmp_path / "second" / "lvd2m", [[row(5), row(6)]], [[reject(7)]], plots=False)
    third = write_dataset(tmp_path / "third" / "lvd2m", [[row(8)]], [[]], plots=False)
    results = _client(hub, tmp_path, [
        _push(first, "alice/lvd2m", "--keep-card"), _push(second, "alice/lvd2m", "--keep-card"),
        {"stream": ["alice/lvd2m", None]}, _push(third, "alice/lvd2m", "--keep-card", "--create-pr"),
        {"argv": ["validate", "alice/lvd2m", "--revision", "refs/pr/1", "--json"], "token": ALICE},
        _push(third, "alice/lvd2m", "--keep-card", "--revision", "dev"),  # a new branch, made from main
    ])
    assert [r.get("rc") for r in results] == [0, 0, None, 0, 0, 0]
    assert hub.files("alice/lvd2m", "dev") == hub.files("alice/lvd2m", "refs/pr/1")
    assert json.loads(results[4]["out"])["rows"] == {"default": 1, "rejects": 0}  # the PR's rows, not main's
    assert results[3]["out"].strip() == f"{hub.url}/datasets/alice/lvd2m/discussions/1"
    main = hub.files("alice/lvd2m")
    assert sorted(p for p in main if p.startswith(("data/", "rejects/"))) == [
        "data/train-00000-of-00001.parquet", "rejects/train-00000-of-00001.parquet"]
    assert results[2]["rows"] == _shard_rows(second, "data/*.parquet")
    pr = hub.files("alice/lvd2m", "refs/pr/1")
    assert pr["data/train-00000-of-00001.parquet"] == (third / "data/train-00000-of-00001.parquet").read_bytes()
    assert main["data/train-00000-of-00001.parquet"] == (second / "data/train-00000-of-00001.parquet").read_bytes()
