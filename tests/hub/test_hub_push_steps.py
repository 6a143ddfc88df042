"""``push`` in this process, with huggingface_hub's client replaced by a recorder: what is refused before any
request, which calls a push makes in which order, and how each Hub failure becomes a one-line typed error.

The real round trip (a loopback Hub, streaming back) is tests/test_hub.py, in a child process; this file keeps the
same rules checkable where a test runner (and mutation testing) sees the code run.
"""

from __future__ import annotations

import httpx2
import huggingface_hub
import pytest
from huggingface_hub.errors import HfHubHTTPError

from fakes.synthetic_dataset import reject, row, write_dataset
from lvd2m_builder import hub
from lvd2m_builder.errors import ConfigError, HubAuthError, HubError, InvalidDatasetError, OutputError

TOKEN = "hf_dave_in_process_token"


class Recorder:
    """HfApi's calls that push makes, recorded; ``fail`` maps a method name to the exception it raises."""

    calls: list[tuple[str, dict]] = []
    fail: dict[str, BaseException] = {}

    def __init__(self, token: str) -> None:
        self.calls.append(("HfApi", {"token": token}))

    def _call(self, name: str, **kwargs):
        self.calls.append((name, kwargs))
        if name in self.fail:
            raise self.fail[name]

    def whoami(self):
        self._call("whoami")
        return {"name": "dave"}

    def create_repo(self, repo_id, **kwargs):
        self._call("create_repo", repo_id=repo_id, **kwargs)

    def create_branch(self, repo_id, **kwargs):
        self._call("create_branch", repo_id=repo_id, **kwargs)

    def repo_info(self, repo_id, **kwargs):
        self._call("repo_info", repo_id=repo_id, **kwargs)
        return type("Info", (), {"sha": "c0ffee"})()

    def list_repo_tree(self, repo_id, **kwargs):
        """The repo holds a card, a file of its own, and the data of an earlier push in the Arrow layout."""
        self._call("list_repo_tree", repo_id=repo_id, **kwargs)
        return [huggingface_hub.RepoFile(path=path, size=3, oid="0" * 40, lfs=None)
                for path in ("README.md", "notes.txt", "data/train-00000-of-00001.arrow")]

    def create_commit(self, repo_id, operations, **kwargs):
        self._call("create_commit", repo_id=repo_id, operations=list(operations), **kwargs)
        pr = "https://hub/pr/1" if kwargs.get("create_pr") else None
        return type("Commit", (), {"commit_url": "https://hub/commit/1", "pr_url": pr})()


@pytest.fixture
def api(monkeypatch):
    Recorder.calls, Recorder.fail = [], {}
    monkeypatch.setattr(huggingface_hub, "HfApi", Recorder)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: TOKEN)
    return Recorder


@pytest.fixture
def out(tmp_path):
    return write_dataset(tmp_path / "lvd2m", [[row(0), row(1)]], [[reject(0)]], plots=False)


STEPS = ["HfApi", "whoami", "create_repo", "repo_info", "list_repo_tree", "create_commit"]


def test_a_push_creates_the_repo_then_uploads_only_public_files(api, out):
    result = hub.push(out, "dave/lvd2m", private=True, render=False)
    assert (result.commit_url, result.pr_url) == ("https://hub/commit/1", None)
    assert [name for name, _ in api.calls] == STEPS
    assert api.calls[0][1] == {"token": TOKEN}
    assert api.calls[2][1] == {"repo_id": "dave/lvd2m", "repo_type": "dataset", "private": True, "exist_ok": True}
    commit = api.calls[5][1]
    assert commit["repo_type"] == "dataset" and commit["revision"] == "main" and commit["parent_commit"] == "c0ffee"
    added = {op.path_in_repo for op in commit["operations"] if isinstance(op, huggingface_hub.CommitOperationAdd)}
    assert added == {"README.md", "stats.json", "data/train-00000-of-00001.parquet",
                     "rejects/train-00000-of-00001.parquet"}  # never _manifest.json
    deleted = [op.path_in_repo for op in commit["operations"] if isinstance(op, huggingface_hub.CommitOperationDelete)]
    assert deleted == ["data/train-00000-of-00001.arrow"]  # an earlier push's data; the repo's own notes stay
    assert commit["commit_message"] == "lvd2m push: 2 clips, 1 rejects"


def test_a_revision_gets_its_branch_first_and_a_pr_gets_none(api, out):
    hub.push(out, "dave/lvd2m", revision="dev", render=False)
    assert [name for name, _ in api.calls] == [*STEPS[:3], "create_branch", *STEPS[3:]]
    assert api.calls[3][1] == {"repo_id": "dave/lvd2m", "repo_type": "dataset", "branch": "dev", "exist_ok": True}
    assert api.calls[-1][1]["revision"] == "dev"
    api.calls.clear()
    hub.push(out, "dave/lvd2m", revision="refs/pr/3", render=False)
    assert "create_branch" not in [name for name, _ in api.calls]
    api.calls.clear()
    result = hub.push(out, "dave/lvd2m", create_pr=True, render=False)
    assert api.calls[-1][1]["create_pr"] is True and result.pr_url == "https://hub/pr/1"


def test_refusals_come_before_any_request(api, out, tmp_path, monkeypatch):
    with pytest.raises(OutputError, match="no such directory"):
        hub.push(tmp_path / "nothing", "dave/lvd2m")
    with pytest.raises(ConfigError) as info:
        hub.push(out, "dave/lvd2m", revision="dev", create_pr=True)
    assert info.value.field == "revision"
    (out / "stats.json").write_text('{"accepted": 7, "rejected": 1}')
    with pytest.raises(InvalidDatasetError, match="stats_mismatch"):
        hub.push(out, "dave/lvd2m", render=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(HubAuthError, match="no Hugging Face token found"):
        hub.push(out, "dave/lvd2m", render=False)
    assert api.calls == []


def _http_error(status: int, method: str = "POST", path: str = "/api/datasets/dave/lvd2m/commit/main",
                server_message: str | None = None) -> HfHubHTTPError:
    request = httpx2.Request(method, f"https://hub.example{path}")
    return HfHubHTTPError(f"{status} error", response=httpx2.Response(status, request=request),
                          server_message=server_message)


@pytest.mark.parametrize("raised, error, message", [
    (_http_error(401), HubAuthError, "the Hub rejected the token (401 Unauthorized)"),
    (_http_error(403), HubAuthError, "the token may not write to dave/lvd2m (403 Forbidden)"),
    (_http_error(500, server_message="storage  is\nfull"), HubError,
     "dave/lvd2m: HTTP 500 on POST /api/datasets/dave/lvd2m/commit/main: storage is full (run the push again to resume)"),
    (RuntimeError("LFS upload failed"), HubError, "dave/lvd2m: LFS upload failed"),
    (httpx2.ConnectError("refused"), HubError, "cannot reach the Hub: ConnectError: refused"),
], ids=["401", "403", "500-with-message", "no-http-cause", "unreachable"])
def test_hub_failures_become_one_line_typed_errors(api, out, raised, error, message):
    api.fail["create_commit"] = raised
    with pytest.raises(error) as info:
        hub.push(out, "dave/lvd2m", render=False)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert TOKEN not in str(info.value)


def test_a_failure_wrapped_by_the_client_is_read_from_its_cause(api, out):
    """LFS upload failures arrive as a RuntimeError whose cause is the HTTP error: the status still decides."""
    wrapped = RuntimeError("Error while uploading 'data/train.parquet' to the Hub.")
    wrapped.__cause__ = _http_error(403, "PUT", "/lfs/abc")
    api.fail["create_commit"] = wrapped
    with pytest.raises(HubAuthError, match="may not write to dave/lvd2m"):
        hub.push(out, "dave/lvd2m", render=False)
    api.fail["create_commit"] = RuntimeError("outer")
    api.fail["create_commit"].__cause__ = _http_error(502, "PUT", "/lfs/abc")
    with pytest.raises(HubError, match=r"HTTP 502 on PUT /lfs/abc: 502 error \(run the push again"):
        hub.push(out, "dave/lvd2m", render=False)


def test_a_dataset_over_the_hubs_limits_is_refused_naming_the_first_limit_and_how_many_more(api, out):
    from lvd2m_builder.errors import HubLimitError
    from lvd2m_builder.publish.limits import HubLimits

    with pytest.raises(HubLimitError) as info:  # README, stats.json, one train and one rejects file: 4 files, 3 folders
        hub.push(out, "dave/lvd2m", render=False, limits=HubLimits(files_per_repo=1, files_per_folder=1))
    assert (info.value.limit, info.value.path) == ("files_per_repo", "(repo)")
    assert info.value.why.startswith("4 files, over the Hub's 1 a repo") and info.value.why.endswith(" more)")
    with pytest.raises(HubLimitError) as info:  # every one of the 4 files is over 10 bytes
        hub.push(out, "dave/lvd2m", render=False, limits=HubLimits(file_bytes=10))
    assert info.value.limit == "file_bytes" and info.value.why.endswith(" (and 3 more)")
    with pytest.raises(HubLimitError) as info:  # one limit broken once: nothing more to say
        hub.push(out, "dave/lvd2m", render=False, limits=HubLimits(files_per_repo=3))
    assert info.value.why == "4 files, over the Hub's 3 a repo: publish fewer, larger files (--max-shard-size)"
    assert api.calls == []


def test_row_groups_too_large_for_the_viewer_are_rewritten_and_a_single_row_over_it_is_refused(api, tmp_path):
    import pyarrow.parquet as pq

    from lvd2m_builder.errors import HubLimitError
    from lvd2m_builder.publish.limits import HubLimits

    rows = [row(i, refined_caption=f"clip {i} " + "word " * 4000) for i in range(40)]  # 20 kB each
    out = write_dataset(tmp_path / "big", [rows], plots=False)
    (train,) = sorted(out.glob("data/*.parquet"))
    before = pq.read_table(train).to_pylist()
    group_bytes = pq.ParquetFile(train).metadata.row_group(0).total_byte_size
    assert pq.ParquetFile(train).metadata.num_row_groups == 1
    hub.push(out, "dave/lvd2m", render=False, limits=HubLimits(row_group_bytes=group_bytes // 4))
    rewritten = pq.ParquetFile(train).metadata
    assert rewritten.num_row_groups >= 4 and pq.read_table(train).to_pylist() == before  # same rows, same order
    assert all(rewritten.row_group(g).total_byte_size <= group_bytes // 4 for g in range(rewritten.num_row_groups))
    api.calls.clear()
    with pytest.raises(HubLimitError) as info:  # no rewrite can split one row
        hub.push(out, "dave/lvd2m", render=False, limits=HubLimits(row_group_bytes=10))
    assert (info.value.limit, info.value.path) == ("row_group_bytes", "data/train-00000-of-00001.parquet")
    assert "is one row of" in info.value.why and api.calls == []
    assert info.value.why.endswith("the dataset viewer reads: that row (an embedded clip) cannot be published as "
                                   "is; cut the clip shorter or leave it out")
