"""What a push changes on the Hub: the local files to publish against the repo's files at the target revision.

``lvd2m push --dry-run`` prints the plan; ``push`` carries it out. A file is unchanged when the repo holds the same
bytes (LFS sha256, or git blob id for small regular files), so an interrupted push run again sends only what is
missing. The plan says how many commits the changes need (the Hub asks for under 100 files a commit); more than
one go to a staging branch first (see hub.py).
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from huggingface_hub.utils.sha import git_hash, sha_fileobj

from lvd2m_builder import schema
from lvd2m_builder.publish.limits import HubLimits, LimitProblem, count_problems, size_problem

#: Data files, from the same configs the card declares (videos included, for builds that embed them).
DATA_PATTERNS = [f["path"] for c in schema.configs(videos=True) for f in c["data_files"]]
#: Only what a reader needs goes up: the card, stats.json, the plots and the files the card's configs name.
PUBLIC_PATTERNS = ["README.md", "stats.json", "plots/*.png", *DATA_PATTERNS]
#: What a push replaces wholesale on the Hub: data files of any earlier push (Arrow ones included) and plots.
STALE_PATTERNS = [*DATA_PATTERNS, *schema.LEGACY_PATTERNS.values(), "plots/*.png"]
#: Regular git files are small; larger ones go through LFS/Xet, compared by sha256 only.
_GIT_HASHED_BYTES = 10 * 2**20
STAGING_PREFIX = "lvd2m-push-"


@dataclass(frozen=True)
class LocalFile:
    path: str
    size: int
    sha256: str
    git_oid: Optional[str]  # the git blob id, for files small enough to be regular git files

    def same_as(self, remote: Optional["RemoteFile"]) -> bool:
        if remote is None or remote.size != self.size:
            return False
        return remote.sha256 == self.sha256 if remote.sha256 else remote.git_oid == self.git_oid


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    sha256: Optional[str]  # for LFS/Xet files
    git_oid: str


def matches(path: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


def inventory(out: Path) -> list[LocalFile]:
    """The files of ``out`` a push publishes, with their sizes and hashes."""
    files = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if not matches(rel, PUBLIC_PATTERNS) or any(part.startswith(".") for part in rel.split("/")):
            continue
        size = path.stat().st_size
        with open(path, "rb") as f:
            sha256 = sha_fileobj(f).hex()
        files.append(LocalFile(rel, size, sha256, git_hash(path.read_bytes()) if size <= _GIT_HASHED_BYTES else None))
    return files


def local_problems(files: list[LocalFile], limits: HubLimits) -> list[LimitProblem]:
    """The Hub limits the local files alone break (counts and sizes), found before any request."""
    sizes = (size_problem(f.path, f.size, limits) for f in files)
    return count_problems((f.path for f in files), limits) + [p for p in sizes if p is not None]


def staging_branch(target: str, files: list[LocalFile]) -> str:
    """The branch a multi-commit push stages on: named by what is pushed, so a rerun finds its own branch."""
    digest = hashlib.sha256(target.encode())
    for f in files:
        digest.update(f"\n{f.path}:{f.sha256}".encode())
    return STAGING_PREFIX + digest.hexdigest()[:12]


@dataclass
class PushPlan:
    """``target``: the branch the dataset lands on (``main`` also for a pull request opened against it)."""

    repo_id: str
    target: str
    files_per_commit: int
    added: list[LocalFile] = field(default_factory=list)
    replaced: list[LocalFile] = field(default_factory=list)
    deleted: list[RemoteFile] = field(default_factory=list)
    unchanged: list[LocalFile] = field(default_factory=list)
    staging: Optional[str] = None

    @property
    def uploads(self) -> list[LocalFile]:
        return self.added + self.replaced

    @property
    def changes(self) -> int:
        return len(self.uploads) + len(self.deleted)

    def text(self) -> str:
        """The dry-run report: one line per change with its size, then totals and how the push would commit."""
        lines = [f"{verb:<8} {f.path}  {_size(f.size)}" for verb, files in
                 (("add", self.added), ("replace", self.replaced), ("delete", self.deleted)) for f in files]
        upload = sum(f.size for f in self.uploads)
        lines.append(f"{len(self.added)} to add, {len(self.replaced)} to replace, {len(self.deleted)} to delete, "
                     f"{len(self.unchanged)} unchanged; {_size(upload)} to upload to {self.repo_id}@{self.target}")
        if not self.changes:
            lines.append("nothing to push: the repo already holds these files")
        elif self.staging:
            parts = -(-len(self.uploads) // self.files_per_commit)
            lines.append(f"{parts} commits of at most {self.files_per_commit} files to branch {self.staging}, then "
                         f"one commit to {self.target} that copies them in and deletes the stale files")
        else:
            lines.append(f"one commit to {self.target}")
        return "\n".join(lines)


def make_plan(repo_id: str, target: str, local: list[LocalFile], remote: dict[str, RemoteFile],
              limits: HubLimits) -> PushPlan:
    plan = PushPlan(repo_id, target, limits.files_per_commit)
    for f in local:
        old = remote.get(f.path)
        (plan.unchanged if f.same_as(old) else plan.added if old is None else plan.replaced).append(f)
    names = {f.path for f in local}
    plan.deleted = [r for path, r in sorted(remote.items()) if path not in names and matches(path, STALE_PATTERNS)]
    if plan.changes > limits.files_per_commit:
        plan.staging = staging_branch(target, local)
    return plan


def repo_problems(plan: PushPlan, remote: dict[str, RemoteFile], limits: HubLimits) -> list[LimitProblem]:
    """The Hub limits the repo would break after the push (its other files counted too)."""
    deleted = {r.path for r in plan.deleted}
    after = ({p for p in remote if p not in deleted} | {f.path for f in plan.added + plan.replaced + plan.unchanged})
    return count_problems(sorted(after), limits)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            break
        value /= 1000
    return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
