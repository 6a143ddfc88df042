"""Read a built dataset back, from a local directory or a Hub repo, through one fsspec filesystem.

The validator, the card and the tests read shards the same way wherever they lie: ``open_source`` finds the
dataset, ``open_shard`` yields its features (from the Arrow schema metadata ``datasets`` writes) and batches.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional
from urllib.parse import quote, unquote

import httpx2  # huggingface_hub's HTTP client: its transport errors reach us through HfFileSystem
import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Features
from fsspec import AbstractFileSystem, filesystem

from lvd2m_builder.errors import SourceError
from lvd2m_builder.store.manifest import MANIFEST

DATA_SUFFIXES = (".arrow", ".parquet")
#: What reading a shard or a listing may raise, locally or over HTTP: a finding or a SourceError, never a crash.
READ_ERRORS = (OSError, ValueError, KeyError, TypeError, pa.ArrowException, httpx2.HTTPError)
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset lies: ``fs`` and ``root``; paths in and out of this class are relative to ``root``."""

    fs: AbstractFileSystem
    root: str
    label: str

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.path(rel))

    def read_text(self, rel: str) -> str:
        with self.fs.open(self.path(rel), "rb") as f:
            return f.read().decode("utf-8")

    def glob(self, pattern: str) -> list[str]:
        return sorted(self._rel(p) for p in self.fs.glob(self.path(pattern)) if self.fs.isfile(p))

    def data_files(self) -> list[str]:
        """Every Arrow or Parquet file under the root, hidden files (temporary and staged shards) excluded."""
        found = self.fs.find(self.root)
        rels = (self._rel(p) for p in found)
        return sorted(r for r in rels if r.endswith(DATA_SUFFIXES) and not any(s.startswith(".") for s in r.split("/")))

    def _rel(self, path: str) -> str:
        for prefix in (self.root, unquote(self.root)):  # a Hub revision may come back unquoted
            if path.startswith(prefix + "/"):
                return path[len(prefix) + 1 :]
        raise ValueError(f"{path} is not under {self.root}")


def open_source(path_or_repo_id: str, revision: Optional[str] = None, token: Optional[str] = None) -> DatasetSource:
    """A local directory if one exists at that path, otherwise a Hub dataset repo ``NAME/REPO``."""
    local = Path(path_or_repo_id)
    if local.is_dir():
        return DatasetSource(filesystem("file"), local.resolve().as_posix(), path_or_repo_id)
    if not _REPO_ID.match(path_or_repo_id):
        raise SourceError(path_or_repo_id, "no such directory, and not a Hub repo id (NAME/REPO)")
    from huggingface_hub import HfFileSystem

    fs = HfFileSystem(token=token, skip_instance_cache=True)  # a fresh listing, not one from before a push
    root = f"datasets/{path_or_repo_id}" + (f"@{quote(revision, safe='')}" if revision else "")
    try:
        fs.ls(root, detail=False)
    except READ_ERRORS as e:
        why = " ".join(str(e).split())[:300]
        raise SourceError(path_or_repo_id, f"no local directory and no readable Hub dataset repo: {why}") from e
    return DatasetSource(fs, root, path_or_repo_id)


@contextmanager
def open_shard(source: DatasetSource, rel: str, columns: Optional[list[str]] = None
               ) -> Iterator[tuple[Features, Iterator[pa.RecordBatch]]]:
    """The shard's features and its record batches (only ``columns`` when given), read as a stream."""
    with source.fs.open(source.path(rel), "rb") as f:
        if rel.endswith(".parquet"):
            parquet = pq.ParquetFile(f)
            yield Features.from_arrow_schema(parquet.schema_arrow), parquet.iter_batches(columns=columns)
            return
        reader = pa.ipc.open_stream(f)
        batches = (b.select(columns) if columns else b for b in reader)
        yield Features.from_arrow_schema(reader.schema), batches


def read_settings(source: DatasetSource) -> Optional[dict[str, Any]]:
    """The build's settings: from the manifest when it is there and parses, else from the first row's provenance."""
    if source.exists(MANIFEST):
        try:
            return json.loads(source.read_text(MANIFEST))["settings"]
        except (ValueError, KeyError, TypeError):  # a torn manifest: the rows say the same
            pass
    for rel in source.data_files():
        with open_shard(source, rel) as (features, batches):
            if "provenance" not in features:
                continue
            for batch in batches:
                for text in batch.column("provenance").to_pylist():
                    if text:
                        return json.loads(text).get("settings")
    return None
