"""An output at an fsspec URL (``--out s3://bucket/prefix``): built in a local mirror, published object by object.

Every writer of the package writes local files (atomic renames need a filesystem), so a remote output is built
in a mirror directory and this keeps the remote copy in step. A finished shard's two files are uploaded before
the manifest that names them, and an object store's PUT is atomic (the object appears whole or not at all), so
neither a reader nor a resumed build sees a half shard or a manifest naming a missing file. A killed build
resumes from the remote copy: its manifest and every shard object are downloaded into a fresh mirror, where the
build adopts the shards the manifest does not name (uploaded just before a kill) or sets them aside, as it does
locally (store/adopt.py); the remote copy then follows: set-aside shards move to its ``.lvd2m-set-aside/``,
never deleted.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable

from lvd2m_builder.errors import OutputError
from lvd2m_builder.schema import REJECTS_DIR, TRAIN_DIR
from lvd2m_builder.store.adopt import SET_ASIDE
from lvd2m_builder.store.manifest import MANIFEST
from lvd2m_builder.store.shards import ShardResult

log = logging.getLogger(__name__)


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


class RemoteOutput:
    """The remote side of a mirror: ``pull`` before the build, ``publish`` per shard, ``sync`` after changes."""

    def __init__(self, url: str, mirror: Path) -> None:
        import fsspec

        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.mirror = mirror
        self.sent: dict[str, tuple[int, int]] = {}  # relative path -> (size, mtime_ns) of the copy the remote holds

    def _remote(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def pull(self, overwrite: bool) -> None:
        """Check that the URL takes writes, then fill the mirror with its manifest and shards, recorded or not
        (``overwrite``: delete the remote output first)."""
        try:
            self.fs.invalidate_cache()  # a cached filesystem instance may hold listings from another run
            if overwrite and self.fs.exists(self.root):
                self.fs.rm(self.root, recursive=True)
            probe = self._remote(f".write-test-{os.getpid()}")
            self.fs.pipe_file(probe, b"")
            self.fs.rm_file(probe)
            for rel in [MANIFEST] * self.fs.exists(self._remote(MANIFEST)) + self._shards():
                self._get(rel)
        except Exception as e:  # fsspec backends raise their own types (botocore's NoCredentialsError, ...)
            raise OutputError(self.url, " ".join(str(e).split()) or type(e).__name__) from e

    def _shards(self) -> list[str]:
        """The shard objects under the URL (relative paths): work units, recorded or not, and published files."""
        return sorted(f"{directory}/{path.rsplit('/', 1)[-1]}" for directory in (TRAIN_DIR, REJECTS_DIR)
                      for suffix in ("arrow", "parquet") for path in self.fs.glob(self._remote(f"{directory}/*.{suffix}")))

    def _get(self, rel: str) -> None:
        local = self.mirror / rel
        local.parent.mkdir(parents=True, exist_ok=True)
        self.fs.get_file(self._remote(rel), str(local))
        self.sent[rel] = _stamp(local)

    def put(self, rels: Iterable[str]) -> None:
        """Upload these mirror files, in order, unless the remote holds them as they are."""
        for rel in rels:
            local = self.mirror / rel
            if self.sent.get(rel) == _stamp(local):
                continue
            self.fs.put_file(str(local), self._remote(rel))
            self.sent[rel] = _stamp(local)

    def publish(self, result: ShardResult) -> None:
        """A finished shard: its files, then the manifest that names them."""
        self.put([result.train_path, result.rejects_path, MANIFEST])

    def sync(self) -> None:
        """Make the remote hold the mirror: changed files up (set-aside shards included, the manifest last), then
        the shard objects the mirror no longer holds (set aside, or rewritten by a rebuild) removed."""
        files = sorted(rel for rel in (path.relative_to(self.mirror).as_posix() for path in self.mirror.rglob("*")
                                       if path.is_file())
                       if rel.startswith(f"{SET_ASIDE}/") or not any(part.startswith(".") for part in rel.split("/")))
        self.put([rel for rel in files if rel != MANIFEST] + [rel for rel in files if rel == MANIFEST])
        for rel in sorted(set(self._shards()) - set(files)):
            log.info("removing %s/%s: the mirror no longer holds it", self.url, rel)
            self.fs.rm_file(self._remote(rel))
