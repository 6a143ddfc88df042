"""``lvd2m push``: validate a built dataset, then publish it as a Hub dataset repo that ``load_dataset`` streams.

Only what a reader needs goes up: the card, stats.json, the plots and the files the card's configs name. The
manifest (local resume state) and temporary files stay home. Shards the repo holds
from an earlier, larger build are deleted in the same commit, so the configs' globs never mix two builds.
The token comes from huggingface_hub's usual places (HF_TOKEN, ``hf auth login``) and never enters a message.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from lvd2m_builder import schema
from lvd2m_builder.card.write import refresh_card
from lvd2m_builder.errors import ConfigError, HubAuthError, HubError, InvalidDatasetError, OutputError
from lvd2m_builder.validate.run import ValidateConfig, validate

log = logging.getLogger(__name__)

#: Data files, from the same configs the card declares (videos included, for builds that embed them).
DATA_PATTERNS = [f["path"] for c in schema.configs(videos=True) for f in c["data_files"]]
PUBLIC_PATTERNS = ["README.md", "stats.json", "plots/*.png", *DATA_PATTERNS]


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    commit_url: str
    pr_url: Optional[str]


def push(out: str | Path, repo_id: str, *, private: bool = False, revision: Optional[str] = None,
         create_pr: bool = False, token: Optional[str] = None, render: bool = True,
         validate_config: ValidateConfig = ValidateConfig()) -> PushResult:
    """Render the card for ``repo_id`` (``render=False`` keeps a hand-edited README.md), validate, create the
    repo if needed and upload; a re-run resumes. Nothing reaches the Hub before validation passed."""
    from huggingface_hub import HfApi, constants, get_token

    out = Path(out)
    if not out.is_dir():
        raise OutputError(str(out), "no such directory: push a directory written by lvd2m build")
    if create_pr and revision:
        raise ConfigError("revision", revision, "cannot be combined with create_pr (to add to an open PR, "
                                                "pass revision=refs/pr/N without create_pr)")
    endpoint = constants.ENDPOINT
    token = token or get_token()
    if not token:
        raise HubAuthError(endpoint, "no Hugging Face token found: set HF_TOKEN or run `hf auth login`")
    if render:
        refresh_card(out, repo_id)
    report = validate(str(out), validate_config)
    if not report.ok:
        first = next(f for f in report.findings if f.severity == "error")
        raise InvalidDatasetError(str(out), report.errors, first.line())
    api = HfApi(token=token)
    with _hub_errors(endpoint, repo_id):
        user = api.whoami()["name"]
        log.info("pushing %s to %s/datasets/%s as %s", out, endpoint, repo_id, user)
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision and not revision.startswith("refs/pr/"):
            api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=out,
            revision=revision,
            create_pr=create_pr,
            allow_patterns=PUBLIC_PATTERNS,
            delete_patterns=[*DATA_PATTERNS, "plots/*.png"],
            commit_message=f"lvd2m push: {report.rows.get('default', 0)} clips, "
                           f"{report.rows.get('rejects', 0)} rejects",
        )
    log.info("pushed: %s", commit.commit_url)
    return PushResult(repo_id, commit.commit_url, commit.pr_url)


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
