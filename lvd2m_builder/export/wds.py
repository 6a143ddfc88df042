"""A webdataset export: tars of ``KEY.mp4`` + ``KEY.json`` (the row), readable by ``webdataset.WebDataset``.

webdataset splits a member name at its first dot, and LVD-2M keys contain dots (``-RCZ_gmjtLU.14_2``), so the
sample key is the row key percent-encoded with ``.`` as ``%2E`` (reversible with ``urllib.parse.unquote``); the
JSON carries the key unchanged. Each tar is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

from lvd2m_builder.errors import MissingDependencyError
from lvd2m_builder.store.atomic import commit, temp_path

WDS_DIR = "webdataset"


def sample_key(key: str) -> str:
    return quote(key, safe="").replace(".", "%2E")


class TarSeries:
    """``DIR/train-00000.tar``, ``train-00001.tar``, ... holding ``per_tar`` samples each."""

    def __init__(self, directory: Path, per_tar: int, prefix: str = "train") -> None:
        try:
            import webdataset  # noqa: F401  (checked here so a missing package fails before any work)
        except ImportError as e:
            raise MissingDependencyError("webdataset", "materialize") from e
        self.directory, self.per_tar, self.prefix = directory, per_tar, prefix
        self.index, self.count = -1, 0
        self.writer = None
        self.tmp: Optional[Path] = None
        self.done: list[str] = []

    def _open(self) -> None:
        import webdataset

        self.index += 1
        self.directory.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_path(self.directory / f"{self.prefix}-{self.index:05d}.tar")
        self.writer = webdataset.TarWriter(str(self.tmp))
        self.count = 0

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            name = f"{self.prefix}-{self.index:05d}.tar"
            commit(self.tmp, self.directory / name)
            self.done.append(name)
            self.writer = None

    def write(self, key: str, video: bytes, row: dict[str, Any]) -> None:
        if self.writer is None or self.count == self.per_tar:
            self._close()
            self._open()
        self.writer.write({"__key__": sample_key(key), "mp4": video,
                           "json": json.dumps(row, ensure_ascii=False, sort_keys=True).encode()})
        self.count += 1

    def close(self) -> Optional[str]:
        """Finish the last tar; returns the brace pattern of all tars (``train-{00000..00003}.tar``) or None."""
        self._close()
        if not self.done:
            return None
        return f"{self.directory.name}/{self.prefix}-{{00000..{len(self.done) - 1:05d}}}.tar"

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.tmp.unlink(missing_ok=True)
            self.writer = None
