"""A series of Arrow shards written one after another whose count is known only at the end.

``lvd2m build`` plans its shards up front; a streaming import or a materialize pass does not know how many rows
(and so shards) will come. Each file is completed under a temporary name (``shards.AtomicArrow``) and all are
renamed to ``PREFIX-00000-of-0000N.arrow`` by ``publish``, so readers never see a partial series.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from lvd2m_builder.store.shards import AtomicArrow


class ShardSeries:
    """``max_rows``: start the next file when the current one holds that many rows (else the caller ``start``s)."""

    def __init__(self, out: Path, directory: str, prefix: str, features, writer_batch_size: Optional[int] = None,
                 max_rows: Optional[int] = None):
        self.out, self.directory, self.prefix = out, directory, prefix
        self.features, self.writer_batch_size, self.max_rows = features, writer_batch_size, max_rows
        self.files: list[AtomicArrow] = []

    def start(self) -> None:
        """Finish the current file (if any) and open the next one; an opened file is published even if empty."""
        if self.files:
            self.files[-1].finish()
        index = len(self.files)
        path = self.out / self.directory / f"{self.prefix}-{index:05d}.arrow"
        self.files.append(AtomicArrow(path, self.features, self.writer_batch_size))

    def write(self, row: dict) -> None:
        if not self.files or (self.max_rows is not None and self.files[-1].rows >= self.max_rows):
            self.start()
        self.files[-1].write(row)

    def write_table(self, table) -> None:
        """Rows already in the features' Arrow schema, into the current file (``max_rows`` is not applied)."""
        if not self.files:
            self.start()
        self.files[-1].write_table(table)

    @property
    def rows(self) -> list[int]:
        return [f.rows for f in self.files]

    def final_paths(self) -> list[str]:
        total = len(self.files)
        return [f"{self.directory}/{self.prefix}-{i:05d}-of-{total:05d}.arrow" for i in range(total)]

    def publish(self) -> list[str]:
        """Rename every file to its final name; returns the relative paths (at least one file, maybe empty)."""
        if not self.files:
            self.start()
        paths = self.final_paths()
        for file, path in zip(self.files, paths):
            file.commit(self.out / path)
        return paths

    def abort(self) -> None:
        for file in self.files:
            file.abort()
