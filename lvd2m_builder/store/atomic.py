"""Atomic, durable file writes: write under a temporary name beside the target, fsync, rename, fsync the folder.

Readers never see a half-written file, and once ``commit`` returns the file survives a crash or power loss (the
rename itself is durable only after the directory is synced). Every writer in the package uses this one scheme,
so one glob (``TEMP_GLOB``) finds what a killed writer left behind.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

#: What every temporary file of this module looks like: hidden, so ``load_dataset`` and the Hub ignore it.
TEMP_GLOB = ".*.tmp-*"


def temp_path(path: Path) -> Path:
    """The temporary name for ``path``: ``.NAME.tmp-PID`` beside it, so the rename stays on one filesystem.

    The process id keeps two writers of the same name (a pool redoing a shard) apart.
    """
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def fsync_dir(directory: Path) -> None:
    """Make renames and creations inside ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows: no directory handles; NTFS journals the rename itself
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def sync_written(fd: int) -> None:
    """The bytes written to ``fd`` so far onto the disk (its data, not its metadata where the system can tell them
    apart), for a writer that syncs as it goes so that ``commit``'s fsync finds little left to do."""
    getattr(os, "fdatasync", os.fsync)(fd)  # macOS has no fdatasync


def commit(tmp: Path, path: Path) -> None:
    """Move a finished temporary file onto ``path`` durably: its bytes, then the rename."""
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(path.parent)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; it becomes ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def remove_temporaries(directory: Path) -> None:
    """Delete what killed writers left in ``directory``: only this module's temporary files, never data."""
    for path in Path(directory).glob(TEMP_GLOB):
        if path.is_file():
            path.unlink()
