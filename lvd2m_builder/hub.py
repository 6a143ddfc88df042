"""``lvd2m push``: validate a built dataset, then publish it as a Hub dataset repo that ``load_dataset`` streams.

Before any request: an older Arrow output (or work units a stopped build left) is published as Parquet first,
files whose row groups the Hub's viewer cannot read are rewritten, the Hub's limits (files per repo and folder,
file size) are checked, and the dataset is validated. Then the repo's files at the target revision are compared
with the local ones (publish/plan.py): only what differs is uploaded (the card, stats.json, the plots and the files
the card's configs name; the manifest, the output's marker and temporary files stay home), and data files and
plots of an earlier push that this one does not hold are deleted.

A push that fits one commit is one commit (atomic). A larger one stages on a branch named after what is pushed:
files go there in commits of at most ``files_per_commit``, then a single commit on the target copies them in
(server-side: nothing is uploaded twice) and deletes the stale files, so ``main`` never shows a half-replaced
dataset; the branch is deleted after. A push interrupted at any point and run again finds its branch and sends
only what is missing. The token comes from ``--token``, HF_TOKEN or ``hf auth login`` and never enters a message.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Optional

import pyarrow.parquet as pq

from lvd2m_builder.card.write import refresh_card
from lvd2m_builder.errors import ConfigError, HubAuthError, HubError, HubLimitError, InvalidDatasetError, OutputError
from lvd2m_builder.publish.limits import HubLimits, LimitProblem, large_row_groups
from lvd2m_builder.publish.plan import (
    PushPlan,
    RemoteFile,
    inventory,
    local_problems,
    make_plan,
    repo_problems,
    staging_branch,
)
from lvd2m_builder.store.parquet import rewrite_row_groups
from lvd2m_builder.store.reshard import parse_size, publish_output
from lvd2m_builder.validate.run import ValidateConfig, validate

log = logging.getLogger(__name__)
REPO_TYPE = "dataset"


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    plan: PushPlan
    commit_url: Optional[str] = None  # None for a dry run, or when the repo already held every file
    pr_url: Optional[str] = None


def push(out: str | Path, repo_id: str, *, private: bool = False, revision: Optional[str] = None,
         create_pr: bool = False, token: Optional[str] = None, render: bool = True,
         validate_config: ValidateConfig = ValidateConfig(), dry_run: bool = False,
         commit_message: Optional[str] = None, max_shard_size: Optional[str] = None,
         limits: HubLimits = HubLimits()) -> PushResult:
    """Publish ``out`` (see the module's doc). ``render=False`` keeps a hand-edited README.md; ``dry_run`` plans
    against the repo and uploads nothing; ``max_shard_size`` re-cuts the published files before the push."""
    from huggingface_hub import HfApi, constants, get_token

    out = Path(out)
    if not out.is_dir():
        raise OutputError(str(out), "no such directory: push a directory written by lvd2m build")
    if create_pr and revision:
        raise ConfigError("revision", revision, "cannot be combined with create_pr (to add to an open PR, "
                                                "pass revision=refs/pr/N without create_pr)")
    endpoint = constants.ENDPOINT
    token = token or get_token()
    if not token and not dry_run:
        raise HubAuthError(endpoint, "no Hugging Face token found: set HF_TOKEN or run `hf auth login`")
    if publish_output(out, parse_size(max_shard_size) if max_shard_size else None):
        log.info("%s: published as Parquet before pushing", out)
    _fit_row_groups(out, limits)
    if render:
        refresh_card(out, repo_id)
    local = inventory(out)
    _refuse(local_problems(local, limits))
    report = validate(str(out), replace(validate_config, row_group_bytes=limits.row_group_bytes))
    if not report.ok:
        first = next(f for f in report.findings if f.severity == "error")
        raise InvalidDatasetError(str(out), report.errors, first.line())
    api = HfApi(token=token or False)
    target = revision or "main"
    message = commit_message or (f"lvd2m push: {report.rows.get('default', 0)} clips, "
                                 f"{report.rows.get('rejects', 0)} rejects")
    with _hub_errors(endpoint, repo_id):
        if dry_run:
            head, remote = _remote(api, repo_id, target)
            plan = make_plan(repo_id, target, local, remote, limits)
            _refuse(repo_problems(plan, remote, limits))
            return PushResult(repo_id, plan)
        log.info("pushing %s to %s/datasets/%s as %s", out, endpoint, repo_id, api.whoami()["name"])
        api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
        if revision and not revision.startswith("refs/pr/"):
            api.create_branch(repo_id, repo_type=REPO_TYPE, branch=revision, exist_ok=True)
        head, remote = _remote(api, repo_id, target)
        plan = make_plan(repo_id, target, local, remote, limits)
        _refuse(repo_problems(plan, remote, limits))
        if not plan.changes:
            _drop_branch(api, repo_id, plan, local)
            log.info("%s@%s already holds every file: nothing to push", repo_id, target)
            return PushResult(repo_id, plan)
        commit = (_staged(api, out, plan, head, message, create_pr) if plan.staging
                  else api.create_commit(repo_id, _operations(out, plan), commit_message=message, repo_type=REPO_TYPE,
                                         revision=target, create_pr=create_pr,
                                         parent_commit=None if create_pr else head))
    log.info("pushed: %s", commit.pr_url or commit.commit_url)
    return PushResult(repo_id, plan, commit.commit_url, commit.pr_url)


def _refuse(problems: list[LimitProblem]) -> None:
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise HubLimitError(first.limit, first.path, first.message + more)


def _fit_row_groups(out: Path, limits: HubLimits) -> None:
    """A published file with a row group larger than the Hub's viewer reads is rewritten, not pushed; one that
    stays too large holds a single row over the limit, which no rewrite can split: refused."""
    for path in sorted(out.glob("*/train-*.parquet")):
        if not large_row_groups(pq.ParquetFile(path).metadata, limits.row_group_bytes):
            continue
        log.warning("%s: row groups over the viewer's %d bytes: rewriting it with smaller ones", path,
                    limits.row_group_bytes)
        rewrite_row_groups(path, limits.row_group_bytes)
        for group, size in large_row_groups(pq.ParquetFile(path).metadata, limits.row_group_bytes):
            raise HubLimitError("row_group_bytes", path.relative_to(out).as_posix(),
                                f"row group {group} is one row of {size} bytes, over the {limits.row_group_bytes} "
                                "the dataset viewer reads: that row (an embedded clip) cannot be published as is; "
                                "cut the clip shorter or leave it out")


def _remote(api, repo_id: str, revision: str) -> tuple[Optional[str], dict[str, RemoteFile]]:
    """The revision's commit and files, or (None, {}) when the repo or the revision does not exist yet."""
    from huggingface_hub import RepoFile
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        head = api.repo_info(repo_id, repo_type=REPO_TYPE, revision=revision).sha
        entries = api.list_repo_tree(repo_id, repo_type=REPO_TYPE, revision=revision, recursive=True)
        files = {e.path: RemoteFile(e.path, e.size, e.lfs.sha256 if e.lfs else None, e.blob_id)
                 for e in entries if isinstance(e, RepoFile)}
    except (RepositoryNotFoundError, RevisionNotFoundError):
        return None, {}
    return head, files


def _operations(out: Path, plan: PushPlan) -> list:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    return [*(CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(out / f.path)) for f in plan.uploads),
            *(CommitOperationDelete(path_in_repo=r.path) for r in plan.deleted)]


def _staged(api, out: Path, plan: PushPlan, head: Optional[str], message: str, create_pr: bool):
    """Upload to the staging branch in parts, then one commit on the target copies the files in."""
    from huggingface_hub import CommitOperationAdd, CommitOperationCopy, CommitOperationDelete

    repo_id, branch = plan.repo_id, plan.staging
    api.create_branch(repo_id, repo_type=REPO_TYPE, branch=branch, revision=head, exist_ok=True)
    _, staged = _remote(api, repo_id, branch)
    todo = [f for f in plan.uploads if not f.same_as(staged.get(f.path))]
    parts = [todo[i : i + plan.files_per_commit] for i in range(0, len(todo), plan.files_per_commit)]
    log.info("%d files to upload in %d commits to branch %s (%d already there)", len(todo), len(parts), branch,
             len(plan.uploads) - len(todo))
    for number, part in enumerate(parts, 1):
        api.create_commit(repo_id, [CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(out / f.path))
                                    for f in part], commit_message=f"{message} (staging, part {number}/{len(parts)})",
                          repo_type=REPO_TYPE, revision=branch)
    _, staged = _remote(api, repo_id, branch)
    merge = [CommitOperationCopy(src_path_in_repo=f.path, path_in_repo=f.path, src_revision=branch)
             if staged[f.path].sha256 else CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(out / f.path))
             for f in plan.uploads]
    merge += [CommitOperationDelete(path_in_repo=r.path) for r in plan.deleted]
    commit = api.create_commit(repo_id, merge, commit_message=message, repo_type=REPO_TYPE, revision=plan.target,
                               create_pr=create_pr, parent_commit=None if create_pr else head)
    api.delete_branch(repo_id, repo_type=REPO_TYPE, branch=branch)
    return commit


def _drop_branch(api, repo_id: str, plan: PushPlan, local) -> None:
    """A push stopped after its final commit left its staging branch: delete it."""
    branch = staging_branch(plan.target, local)
    if any(b.name == branch for b in api.list_repo_refs(repo_id, repo_type=REPO_TYPE).branches):
        api.delete_branch(repo_id, repo_type=REPO_TYPE, branch=branch)


@contextmanager
def _hub_errors(endpoint: str, repo_id: str) -> Iterator[None]:
    """Turn what huggingface_hub raises into one-line typed errors, by its own error types."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    try:
        yield
    except HFValidationError as e:  # a repo id the Hub would refuse, caught before any request
        raise ConfigError("repo_id", repo_id, _first_line(e)) from e
    except HfHubHTTPError as e:
        raise _http_error(e, endpoint, repo_id) from e
    except httpx2.TransportError as e:
        raise HubError(endpoint, f"cannot reach the Hub: {type(e).__name__}: {e}") from e
    except RuntimeError as e:
        # An upload's own failure comes wrapped: `RuntimeError("Error while uploading 'PATH' to the Hub.") from
        # exc` (huggingface_hub/_commit_api.py); the typed error it wraps says what went wrong.
        if isinstance(e.__cause__, HfHubHTTPError):
            raise _http_error(e.__cause__, endpoint, repo_id) from e
        if isinstance(e.__cause__, httpx2.TransportError):
            raise HubError(endpoint, f"cannot reach the Hub: {type(e.__cause__).__name__}: {e.__cause__}") from e
        raise HubError(endpoint, f"{repo_id}: {_first_line(e)}") from e


def _http_error(error, endpoint: str, repo_id: str) -> HubError | HubAuthError:
    """The one-line error for an HTTP failure from the Hub: what to check for 401/403, the request otherwise."""
    status = error.response.status_code if error.response is not None else None
    if status == 401:
        return HubAuthError(endpoint, "the Hub rejected the token (401 Unauthorized): check HF_TOKEN or "
                                      "run `hf auth login --force`")
    if status == 403:
        return HubAuthError(endpoint, f"the token may not write to {repo_id} (403 Forbidden): use a token "
                                      "with write access to that namespace")
    request = error.response.request if error.response is not None else None
    where = f" on {request.method} {request.url.path}" if request is not None else ""
    why = " ".join((error.server_message or _first_line(error)).split())
    return HubError(endpoint, f"{repo_id}: HTTP {status}{where}: {why} (run the push again to resume)")


def _first_line(error: Exception) -> str:
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
