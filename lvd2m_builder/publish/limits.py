"""The Hub's limits on what a dataset repo holds, checked before any request (``push``) and by ``validate``.

From the Hub's "Repository limitations and recommendations": under 100k files a repo, under 10k entries a
folder, files of at most 50 GB (20 GB recommended), commits of under 100 files; and from the dataset viewer:
a Parquet row group it reads may hold at most 300,000,000 uncompressed bytes ("Rows from parquet row groups are
too big to be read: ... (max=286.10 MiB)").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Optional

import pyarrow.parquet as pq

PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class HubLimits:
    files_per_repo: int = 100_000
    files_per_folder: int = 10_000
    file_bytes: int = 50 * 10**9
    row_group_bytes: int = 300_000_000
    files_per_commit: int = 100


@dataclass(frozen=True)
class LimitProblem:
    """One limit a dataset breaks: which, where, and what to change."""

    limit: str
    path: str
    message: str

    def line(self) -> str:
        return f"{self.path}: {self.message}"


def truncated(head: bytes, tail: bytes) -> bool:
    """A Parquet file starts and ends with ``PAR1``; without the trailing one its footer (schema, row groups) is
    missing: a copy or upload cut short."""
    return head[:4] != PARQUET_MAGIC or tail[-4:] != PARQUET_MAGIC


def large_row_groups(metadata: pq.FileMetaData, limit: int) -> list[tuple[int, int]]:
    """(row group, uncompressed bytes) of each row group over ``limit``."""
    groups = (metadata.row_group(i) for i in range(metadata.num_row_groups))
    return [(i, group.total_byte_size) for i, group in enumerate(groups) if group.total_byte_size > limit]


def count_problems(paths: Iterable[str], limits: HubLimits) -> list[LimitProblem]:
    """Files per repo and entries per folder of the repo these paths make (folders counted as entries)."""
    paths = list(paths)
    problems = []
    if len(paths) > limits.files_per_repo:
        problems.append(LimitProblem("files_per_repo", "(repo)", f"{len(paths)} files, over the Hub's "
                                     f"{limits.files_per_repo} a repo: publish fewer, larger files "
                                     "(--max-shard-size)"))
    folders: dict[str, set[str]] = defaultdict(set)  # folder -> its entries (files and subfolders)
    for path in paths:
        parts = path.split("/")
        for depth in range(len(parts)):
            folders["/".join(parts[:depth])].add(parts[depth])
    for folder, names in sorted(folders.items()):
        count = len(names)
        if count > limits.files_per_folder:
            problems.append(LimitProblem("files_per_folder", folder or "(root)", f"{count} entries, over the Hub's "
                                         f"{limits.files_per_folder} a folder: publish fewer, larger files "
                                         "(--max-shard-size)"))
    return problems


def size_problem(path: str, size: int, limits: HubLimits) -> Optional[LimitProblem]:
    if size <= limits.file_bytes:
        return None
    return LimitProblem("file_bytes", path, f"{size} bytes, over the Hub's {limits.file_bytes} a file: publish "
                        "smaller files (--max-shard-size)")
