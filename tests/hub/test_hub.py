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
from datasets import load_dataset

from fakes import REPO_ROOT, hub_server
from fakes.hub_server import HubServer
from fakes.synthetic_dataset import demo_build, reject, row, write_dataset, write_legacy
from lvd2m_builder.store.shards import read_table

CLIENT = REPO_ROOT / "tests" / "fakes" / "hub_client.py"
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
               PYTHONPATH=os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]))
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
    """What the repo should hold after a push of ``out``: every file but the manifest and the output's marker
    (local state), plus .gitattributes."""
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    del files["_manifest.json"]
    files.pop(".lvd2m-output.json", None)  # the fakes' outputs have no marker; a build's has
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


# --- Parquet publication and safe pushes ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def dozen(tmp_path_factory, many) -> Path:
    """The real pipeline over twelve clips in work units of two: compacted to one Parquet file per config."""
    from lvd2m_builder.config import preset
    from lvd2m_builder.run.build import build

    out = tmp_path_factory.mktemp("dozen") / "lvd2m"
    build([str(many)], out, preset("paper").replace({"shard_size": 2}), progress=False)
    return out


def _data_files(files) -> list[str]:
    return sorted(p for p in files if p.startswith(("data/", "rejects/", "videos/")))


def test_a_build_in_small_work_units_pushes_one_parquet_file_per_config(hub, dozen, tmp_path):
    out = Path(shutil.copytree(dozen, tmp_path / "lvd2m"))
    projection = {"columns": ["key", "duration", "flow_score"], "filters": [["flow_score", ">=", 20.0]]}
    steps = [_push(out)]
    steps += [{"stream": [where, name]} for where in ("alice/lvd2m", "lvd2m") for name in (None, "rejects")]
    steps += [{"stream": [where, None], "kwargs": projection} for where in ("alice/lvd2m", "lvd2m")]
    steps += [{"stream": [where, "rejects"], "kwargs": {"columns": ["key", "stage"],
                                                        "filters": [["stage", "=", "motion"]]}}
              for where in ("alice/lvd2m", "lvd2m")]
    pushed, hub_train, hub_rejects, disk_train, disk_rejects, hub_cols, disk_cols, hub_motion, disk_motion = _client(
        hub, tmp_path, steps, cwd=out.parent)
    assert pushed["rc"] == 0, pushed["err"]
    expected = ["data/train-00000-of-00001.parquet", "rejects/train-00000-of-00001.parquet"]
    assert _data_files(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == expected
    assert _data_files(hub.files("alice/lvd2m")) == expected  # 12 clips in 6 work units: one file per config
    train, rejects = _shard_rows(out, "data/*.parquet"), _shard_rows(out, "rejects/*.parquet")
    assert len(train) + len(rejects) == 12 and train and rejects
    assert hub_train["rows"] == train == disk_train["rows"]
    assert hub_rejects["rows"] == rejects == disk_rejects["rows"]
    projected = [{k: r[k] for k in ("key", "duration", "flow_score")} for r in train if r["flow_score"] >= 20.0]
    assert hub_cols["rows"] == projected == disk_cols["rows"]
    motion = [{"key": r["key"], "stage": "motion"} for r in rejects if r["stage"] == "motion"]
    assert motion and hub_motion["rows"] == motion == disk_motion["rows"]


def test_an_interrupted_multi_commit_push_leaves_main_unchanged_and_a_rerun_completes(hub, tmp_path):
    first = write_dataset(tmp_path / "first" / "lvd2m", [[row(0)]], [[reject(0)]])
    second = write_dataset(tmp_path / "second" / "lvd2m", [[row(1)], [row(2)], [row(3)]], [[reject(1)], [reject(2)], [reject(3)]])
    small = ("--keep-card", "--files-per-commit", "3")
    pushed, = _client(hub, tmp_path, [_push(first, "alice/lvd2m", *small)])
    assert pushed["rc"] == 0, pushed["err"]
    hub.fail("POST", "^/api/datasets/alice/lvd2m/commit/lvd2m-push-", status=500, after=1)  # its 2nd part dies
    failed, = _client(hub, tmp_path, [_push(second, "alice/lvd2m", *small)])
    assert "HTTP 500" in _one_line_error(failed)
    assert hub.files("alice/lvd2m") == _published(first)  # main still holds the first dataset, whole
    branches = lambda: [b for b in hub.repos[("dataset", "alice/lvd2m")].refs if b.startswith("lvd2m-push-")]  # noqa: E731
    assert len(branches()) == 1  # the half-staged push waits on its branch
    rerun, = _client(hub, tmp_path, [_push(second, "alice/lvd2m", *small, "--commit-message", "second build")])
    assert rerun["rc"] == 0, rerun["err"]
    assert hub.files("alice/lvd2m") == _published(second) and branches() == []
    objects = {hashlib.sha256(p.read_bytes()).hexdigest() for p in second.rglob("*") if p.suffix in (".parquet", ".png")}
    sent = [path.removeprefix("/lfs/") for method, path, status in hub.log if method == "PUT" and status == 200]
    assert objects <= set(hub.lfs) and all(sent.count(o) <= 1 for o in objects)  # nothing uploaded twice
    landed = [path for method, path, status in hub.log if method == "POST" and status == 200
              and path == "/api/datasets/alice/lvd2m/commit/main"]
    assert len(landed) == 2  # one commit per push: main never showed a part of the second dataset
    repo = hub.repos[("dataset", "alice/lvd2m")]
    assert repo.titles[repo.refs["main"]] == "second build"


def test_dry_run_lists_changes_with_sizes_and_uploads_nothing(hub, tmp_path):
    first = write_dataset(tmp_path / "first" / "lvd2m", [[row(0)], [row(1)]], [[reject(0)], []], plots=False)
    second = write_dataset(tmp_path / "second" / "lvd2m", [[row(0), row(1), row(2)]], [[reject(0)]], plots=False)
    pushed, = _client(hub, tmp_path, [_push(first, "alice/lvd2m", "--keep-card")])
    before, requests = hub.files("alice/lvd2m"), len(hub.log)
    dry, = _client(hub, tmp_path, [_push(second, "alice/lvd2m", "--keep-card", "--dry-run")])
    assert pushed["rc"] == 0 and dry["rc"] == 0, dry["err"]
    lines = dry["out"].splitlines()
    size = (second / "data/train-00000-of-00001.parquet").stat().st_size
    assert f"add      data/train-00000-of-00001.parquet  {size / 1000:.1f} kB" in lines
    assert any(line.startswith("replace  README.md  ") for line in lines)
    deleted = sorted(line.split()[1] for line in lines if line.startswith("delete"))
    assert deleted == ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet",
                       "rejects/train-00000-of-00002.parquet", "rejects/train-00001-of-00002.parquet"]
    assert lines[-1] == "one commit to main"
    assert {method for method, _, _ in hub.log[requests:]} == {"GET"}  # it only looked
    assert hub.files("alice/lvd2m") == before


def test_a_push_over_the_hubs_limits_is_refused_before_any_request(hub, tmp_path):
    out = write_dataset(tmp_path / "lvd2m", [[row(i)] for i in range(5)], plots=False)  # the root holds 4 entries
    refused, = _client(hub, tmp_path, [{"push": {"out": str(out), "repo_id": "alice/lvd2m", "token": ALICE,
                                                 "render": False}, "limits": {"files_per_folder": 4}}])
    assert refused["error"] == "HubLimitError" and refused["fields"]["limit"] == "files_per_folder"
    assert refused["fields"]["path"] == "data" and "5 entries, over the Hub's 4 a folder" in refused["message"]
    assert hub.log == []


def test_a_row_group_too_large_for_the_viewer_is_rewritten_not_pushed(hub, tmp_path):
    import pyarrow.parquet as pq

    out = write_dataset(tmp_path / "lvd2m", [[row(i) for i in range(40)]], plots=False)
    path = out / "data/train-00000-of-00001.parquet"
    table = pq.read_table(path)
    pq.write_table(table, path, row_group_size=len(table))  # one group of every row, as another tool may write
    limit = pq.ParquetFile(path).metadata.row_group(0).total_byte_size // 3
    pushed, too_big = _client(hub, tmp_path, [
        {"push": {"out": str(out), "repo_id": "alice/lvd2m", "token": ALICE, "render": False},
         "limits": {"row_group_bytes": limit}},
        {"push": {"out": str(out), "repo_id": "alice/other", "token": ALICE, "render": False},
         "limits": {"row_group_bytes": 10}},  # one row alone is larger: no rewrite can help
    ])
    assert pushed.get("commit_url"), pushed
    remote = pq.ParquetFile(pa_buffer(hub.files("alice/lvd2m")["data/train-00000-of-00001.parquet"]))
    groups = [remote.metadata.row_group(i) for i in range(remote.metadata.num_row_groups)]
    assert len(groups) > 1 and all(g.total_byte_size <= limit for g in groups)
    assert remote.read().to_pylist() == table.to_pylist()  # the same rows, in order
    assert too_big["error"] == "HubLimitError" and too_big["fields"]["limit"] == "row_group_bytes"
    assert ("dataset", "alice/other") not in hub.repos


def pa_buffer(data: bytes):
    import pyarrow as pa

    return pa.BufferReader(data)


def test_an_imported_release_table_is_published_as_parquet(hub, tmp_path):
    from release.test_import import record, write_csv

    table = write_csv(tmp_path / "ytb_600k_720p.csv", [record(f"k{i}") for i in range(8)] + [record("bad", span="x")])
    imported, pushed, streamed = _client(hub, tmp_path, [
        {"argv": ["import", str(table), "--out", str(tmp_path / "release"), "--no-progress"], "token": None},
        _push(tmp_path / "release", "alice/release"),
        {"stream": ["alice/release", None]},
    ])
    assert imported["rc"] == 0 and pushed["rc"] == 0, pushed["err"]
    assert _data_files(hub.files("alice/release")) == ["data/train-00000-of-00001.parquet",
                                                       "rejects/train-00000-of-00001.parquet"]
    assert [r["key"] for r in streamed["rows"]] == [f"k{i}" for i in range(8)]
    assert streamed["rows"] == _shard_rows(tmp_path / "release", "data/*.parquet")


def test_an_older_arrow_output_is_converted_then_pushed(hub, tmp_path):
    out = write_legacy(tmp_path / "lvd2m", [[row(0), row(1)], [row(2)]], [[reject(0)], []])
    before = [r for name in (None, "rejects") for r in load_dataset(str(out), name, streaming=True)["train"]]
    pushed, train, rejects = _client(hub, tmp_path, [_push(out), {"stream": ["alice/lvd2m", None]},
                                                      {"stream": ["alice/lvd2m", "rejects"]}])
    assert pushed["rc"] == 0, pushed["err"]
    assert _data_files(hub.files("alice/lvd2m")) == ["data/train-00000-of-00001.parquet",
                                                     "rejects/train-00000-of-00001.parquet"]
    assert not list(out.rglob("*.arrow"))  # converted in place, all or nothing
    assert train["rows"] + rejects["rows"] == json.loads(json.dumps(before))


def test_info_summarises_a_hub_repo(hub, demo, tmp_path):
    pushed, info = _client(hub, tmp_path, [_push(demo), {"argv": ["info", "alice/lvd2m", "--json"], "token": ALICE}])
    assert pushed["rc"] == 0 and info["rc"] == 0, info["err"]
    facts = json.loads(info["out"])
    stats = json.loads((demo / "stats.json").read_text())
    assert (facts["source"], facts["rows"], facts["rejects"]) == ("alice/lvd2m", stats["accepted"], stats["rejected"])
    assert set(facts["configs"]) == {"default", "rejects"} and facts["lvd2m_builder"]
    assert facts["settings_hash"] == json.loads((demo / "_manifest.json").read_text())["settings_hash"]
    assert facts["resume"].startswith("no _manifest.json here")  # push never uploads the manifest
