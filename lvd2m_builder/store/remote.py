"""An output at an fsspec URL (``--out s3://bucket/prefix``): built in a local mirror, published object by object.

Every writer of the package writes local files (atomic renames need a filesystem), so a remote output is built
in a mirror directory and this keeps the remote copy in step. A finished shard's two files are uploaded before
the manifest that names them, and an object store's PUT is atomic (the object appears whole or not at all), so
neither a reader nor a resumed build sees a half shard or a manifest naming a missing file. The same ownership
rules hold as for a local output (output_dir.py): a prefix holding objects of someone else is refused unless it is
an lvd2m output, ``--overwrite`` deletes only lvd2m's objects, and a card edited by hand is never replaced. A build
resumes from the remote output: its manifest, card, stats and every shard object, recorded or not, come into a
fresh mirror, where shards the manifest does not name (uploaded just before a kill, or a manifest that is missing
or torn) are checked and adopted like local ones (adopt.py), or set aside, never deleted; the rest is built.
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
from lvd2m_builder.store.output_dir import MARKER, README, names, owned, readme_is_ours
from lvd2m_builder.store.shards import ShardResult

#: What a resumed build needs from the remote output besides its shards (work units and published files).
FETCHED = (MANIFEST, MARKER, README, "stats.json")

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
        self.own: list[str] = []  # lvd2m's objects found by ``pull`` (relative paths)
        self.overwrite = False  # as ``pull`` was asked: ``delete_own`` acts only then

    def _remote(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def pull(self, overwrite: bool, keep_card: bool = False) -> None:
        """Check that the URL takes writes and that lvd2m may write there, then fill the mirror with the output's
        own files (``FETCHED`` and every shard object). With ``overwrite`` no shard is fetched: ``delete_own``
        removes lvd2m's objects once the build is sure to run."""
        try:
            self.fs.invalidate_cache()  # a cached filesystem instance may hold listings from another run
            probe = self._remote(f".write-test-{os.getpid()}")
            self.fs.pipe_file(probe, b"")
            self.fs.rm_file(probe)
            found = sorted(self._rel(path) for path in self.fs.find(self.root))
            if README in found:
                self._get(README)
        except Exception as e:  # fsspec backends raise their own types (botocore's NoCredentialsError, ...)
            raise OutputError(self.url, " ".join(str(e).split()) or type(e).__name__) from e
        readme = readme_is_ours(self.mirror) or (keep_card and overwrite)
        self.own = [rel for rel in found if (readme if rel == README else owned(rel))]
        foreign = [rel for rel in found if rel not in self.own]
        shards = [rel for rel in self.own
                  if rel.split("/")[0] in (TRAIN_DIR, REJECTS_DIR) and rel.endswith((".arrow", ".parquet"))]
        if foreign and not (shards or MARKER in self.own or MANIFEST in self.own):
            raise OutputError(self.url, f"is not empty and not an lvd2m output (holds {names(foreign)}): choose a "
                                        "new or empty prefix")
        if overwrite and foreign:
            raise OutputError(self.url, f"--overwrite deletes only objects lvd2m wrote, and this output also holds "
                                        f"{names(foreign)}: move them away or choose another --out")
        self.overwrite = overwrite
        if overwrite:
            return
        try:
            for rel in [rel for rel in FETCHED if rel in self.own and rel != README] + shards:
                self._get(rel)
        except Exception as e:
            raise OutputError(self.url, " ".join(str(e).split()) or type(e).__name__) from e

    def delete_own(self) -> None:
        """With ``--overwrite`` (given to ``pull``, which refused when there were others), delete the objects lvd2m
        wrote; called once the build is sure to run."""
        if not self.overwrite:
            return
        for rel in self.own:
            self.fs.rm_file(self._remote(rel))
        log.info("%s: deleted %d objects lvd2m wrote (--overwrite)", self.url, len(self.own))
        self.own, self.sent = [], {}

    def _rel(self, path: str) -> str:
        return path[len(self.root) + 1:] if path.startswith(self.root + "/") else path

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
        """Make the remote hold the mirror: changed files up (the manifest last; the marker and shards set aside
        included), then the shard objects the mirror no longer holds removed: each was fetched by ``pull`` and is
        now adopted, set aside (uploaded above) or rewritten into the recorded set (a rebuild, a reshard)."""
        files = sorted(
            rel for rel in (path.relative_to(self.mirror).as_posix() for path in self.mirror.rglob("*")
                            if path.is_file())
            if rel == MARKER or rel.startswith(f"{SET_ASIDE}/") or not any(p.startswith(".") for p in rel.split("/"))
        )
        self.put([rel for rel in files if rel != MANIFEST] + [rel for rel in files if rel == MANIFEST])
        for rel in sorted(set(self._shards()) - set(files)):
            if rel in self.sent:  # only objects this build fetched or wrote
                log.info("removing %s/%s: rewritten or set aside", self.url, rel)
                self.fs.rm_file(self._remote(rel))
                del self.sent[rel]
