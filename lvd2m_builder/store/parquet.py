"""Parquet files as ``push_to_hub`` writes them, for what is published: ``DIR/train-00000-of-0000N.parquet``.

Written with ``datasets``' own ParquetWriter (features in the schema metadata, content-defined chunking so a
re-push after a rebuild uploads only the changed chunks through Xet, page index on), with zstd, with row groups
of a quarter of ``config.MAX_ROW_GROUP_SIZE`` uncompressed bytes (and at most a few rows for embedded clips), and
files of at most ``max_shard_size`` uncompressed bytes, as ``push_to_hub`` counts them. A series learns its
file count only at the end: each file is completed under a hidden temporary name and ``publish`` renames them.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Features, config
from datasets.arrow_writer import ParquetWriter, get_parquet_column_options
from datasets.features.features import require_storage_embed
from datasets.table import table_cast
from datasets.utils.py_utils import convert_file_size_to_int

from lvd2m_builder.schema import FREE_TEXT_LEAVES, MEASURE_LEAVES
from lvd2m_builder.store.atomic import commit, sync_written, temp_path

COMPRESSION = "zstd"
DEFAULT_MAX_SHARD_SIZE = config.MAX_SHARD_SIZE


#: Parts of ``datasets``' MAX_ROW_GROUP_SIZE (100 MB, the most the Hub's viewer wants) a row group is written at:
#: 25 MB groups give the writer's thread work sooner and hold less at once (``lvd2m import`` of 300k rows: a
#: fifth less peak memory than 100 MB groups, the same time within this machine's noise), and a reader that
#: streams or pages through the rows holds less too.
GROUP_PARTS = 4
#: Bytes buffered before a write to the file.
WRITE_BUFFER = 1 << 20


def row_group_budget(features: Features) -> tuple[int, Optional[int]]:
    """(bytes, rows) one row group may hold: a ``GROUP_PARTS``th of ``datasets``' MAX_ROW_GROUP_SIZE; with
    embedded media (the ``videos`` config) also at most ARROW_RECORD_BATCH_SIZE_FOR_VIDEO_DATASETS rows, so a page
    of the viewer or a reader's first batch does not pull hundreds of clips."""
    limit = convert_file_size_to_int(config.MAX_ROW_GROUP_SIZE) // GROUP_PARTS
    embedded = any(require_storage_embed(feature) for feature in features.values())
    return limit, config.ARROW_RECORD_BATCH_SIZE_FOR_VIDEO_DATASETS if embedded else None


def rows_per_group(num_rows: int, num_bytes: int, budget_bytes: int, budget_rows: Optional[int]) -> int:
    """Rows per row group for a table of that size: ``datasets``' rule (``get_writer_batch_size_from_data_size``)
    against the given byte budget, so clips larger than the budget get one-row groups."""
    rows = max(1, num_rows * budget_bytes // num_bytes) if num_bytes > 0 else max(num_rows, 1)
    return min(rows, budget_rows) if budget_rows else rows


class ParquetShardWriter(ParquetWriter):
    """``datasets.arrow_writer.ParquetWriter`` with zstd and row groups sized by bytes, written on a thread.

    datasets' writer fixes snappy for every column and makes (at least) one row group per written table, so
    rows written one at a time, or small batches from work units, would give tiny row groups. Tables are held
    here until one more like the last would pass a row group's budget, then written as a row group. A row group is
    encoded and compressed on the writer's own thread (pyarrow leaves the GIL) while the caller goes on: written
    in the caller's, each one held every step before it up (measured on ``lvd2m import``). One row group is
    written at a time, in order, and synced to the disk there; an error is raised by the next call. A file's first
    row groups are 1/8, 1/4 and 1/2 of the budget, so that thread has work sooner.
    """

    def __init__(self, path: Path, features: Features, max_group_bytes: Optional[int] = None) -> None:
        # A native file, not the fsspec one datasets opens for a path: pyarrow calls a Python file's ``write`` with
        # the GIL held, so every page written on the writer's thread waited for the GIL behind the mapping
        # (10k writes for 300k imported rows); it is buffered (a page's header is a write of its own).
        raw = pa.OSFile(str(path), "wb")
        self._fd = raw.fileno()
        super().__init__(features=features, stream=pa.BufferedOutputStream(raw, WRITE_BUFFER))
        self._closable_stream = True  # opened here: ``finalize`` and ``close`` close it, as they close a path's
        self.budget_bytes, self.budget_rows = row_group_budget(features)
        self.budget_bytes = min(self.budget_bytes, max_group_bytes or self.budget_bytes)
        self.group_bytes = max(self.budget_bytes // 8, 1)  # the next row group's budget, doubled up to the budget
        self.pending: list[pa.Table] = []
        self.pending_bytes = 0
        self.pool: Optional[ThreadPoolExecutor] = None
        self.writing: Optional[Future] = None  # the row group being written

    def _build_writer(self, inferred_schema: pa.Schema) -> None:
        # datasets' own ParquetWriter._build_writer with zstd where it puts snappy and no dictionary for free
        # text and measured numbers (schema.FREE_TEXT_LEAVES, MEASURE_LEAVES); embedded clips stay uncompressed and
        # PLAIN-encoded (compressed video does not shrink, and content-defined chunking then finds the same bytes).
        self._schema, self._features = self._build_schema(inferred_schema)
        options = get_parquet_column_options(self._features, self._schema)
        options["compression"] = {leaf: COMPRESSION if codec == "snappy" else codec
                                  for leaf, codec in options["compression"].items()}
        options["use_dictionary"] = [leaf for leaf in options["use_dictionary"]
                                     if leaf not in FREE_TEXT_LEAVES and leaf not in MEASURE_LEAVES]
        # nor statistics, as for embedded clips: a caption's min and max prune nothing, and cost 5% of writing it
        statistics = [leaf for leaf in options["compression"]
                      if leaf not in FREE_TEXT_LEAVES and leaf not in options["column_encoding"]]
        self.pa_writer = pq.ParquetWriter(self.stream, self._schema,
                                          use_content_defined_chunking=self.use_content_defined_chunking,
                                          write_page_index=self.write_page_index, write_statistics=statistics,
                                          **options)
        if self.use_content_defined_chunking is not False:
            self.pa_writer.add_key_value_metadata(
                {"content_defined_chunking": json.dumps(self.use_content_defined_chunking)})

    def _write_table(self, pa_table: pa.Table, writer_batch_size: Optional[int] = None) -> None:
        table = table_cast(pa_table, self._features.arrow_schema)
        if self.pending and not self._fits(self.pending_bytes + table.nbytes, self._held_rows() + table.num_rows):
            self._flush()  # the rows held make a group within the budget; with this table they would not
        self.pending.append(table)
        self.pending_bytes += table.nbytes
        # complete once a next table like this one would not fit: handed to the writer's thread now, not when that
        # table comes (where tables come in one size, the same groups a table sooner: an import's last row group
        # was written ~45 ms later at 100k rows, and a block more was held in memory)
        if not self._fits(self.pending_bytes + table.nbytes, self._held_rows() + table.num_rows):
            self._flush()

    def _fits(self, size: int, rows: int) -> bool:
        """Whether that many bytes and rows make one row group within the next group's budget."""
        return size <= self.group_bytes and not (self.budget_rows and rows > self.budget_rows)

    def _held_rows(self) -> int:
        return sum(t.num_rows for t in self.pending)

    def _flush(self) -> None:
        if not self.pending:
            return
        table = pa.concat_tables(self.pending)  # zero-copy: the buffered chunks stay as they are
        self.pending, self.pending_bytes = [], 0
        self._wait()
        if self.pa_writer is None:
            self._build_writer(inferred_schema=table.schema)
        self._num_bytes += table.nbytes
        self._num_examples += table.num_rows
        # Not datasets' _write_table: it would combine the chunks and cast again, two more copies of a whole row
        # group; the tables were cast when buffered, and pyarrow writes chunked columns as they come.
        if self.pool is None:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="lvd2m-parquet")
        self.writing = self.pool.submit(self._write_group, table, rows_per_group(
            table.num_rows, table.nbytes, self.group_bytes, self.budget_rows))
        self.group_bytes = min(2 * self.group_bytes, self.budget_bytes)

    def _write_group(self, table: pa.Table, row_group_size: int) -> None:
        """On the writer's thread: the row group, then its bytes synced to the disk. Synced once at the end (the
        file's ``commit``), a file's every byte waited for the disk after its last row group: 14 ms of a 100k-row
        ``lvd2m import`` (41 MB), with both cores idle; a group at a time, the thread waits while the others work."""
        self.pa_writer.write_table(table, row_group_size=row_group_size)
        self.stream.flush()  # the buffered end of the group too
        sync_written(self._fd)

    def _wait(self) -> None:
        """Until the row group being written is written; its error, if any, is raised here."""
        writing, self.writing = self.writing, None
        if writing is not None:
            writing.result()

    @property
    def nbytes(self) -> int:
        """Uncompressed bytes written so far (what ``max_shard_size`` counts, as in ``push_to_hub``)."""
        return self._num_bytes + self.pending_bytes

    @property
    def num_rows(self) -> int:
        return self._num_examples + self._held_rows() + len(self.current_examples)

    def flush(self) -> None:
        """Hand every row held to the writer's thread, behind the row group it is writing (waited for), and return:
        the caller goes on while they are written."""
        self.write_rows_on_file()
        self.write_examples_on_file()
        self._flush()

    def finalize(self, close_stream: bool = True) -> tuple[int, int]:
        self.flush()
        self._stop()
        return super().finalize(close_stream)

    def close(self) -> None:
        """Close without finishing (an abort): the row group being written is let finish first, its error
        dropped with the file."""
        try:
            self._stop()
        except Exception:  # noqa: BLE001  the file is being given up; the error that made us give up stands
            pass
        super().close()

    def _stop(self) -> None:
        try:
            self._wait()
        finally:
            if self.pool is not None:
                self.pool.shutdown()
                self.pool = None


Batch = Union[pa.RecordBatch, pa.Table]


class ParquetSeries:
    """One config's rows as ``ROOT/DIRECTORY/train-XXXXX-of-NNNNN.parquet``.

    A file is full when it holds ``max_bytes`` uncompressed bytes or ``max_rows`` rows, or, when ``quotas`` are
    given (a count of files asked for), its quota of rows. ``publish`` renames the finished files (at least one, maybe empty) to
    their final names and returns them relative to ``root``.
    """

    def __init__(self, root: Path, directory: str, features: Features, max_bytes: Optional[int] = None,
                 quotas: Optional[list[int]] = None, max_rows: Optional[int] = None) -> None:
        self.root, self.directory, self.features = root, directory, features
        self.max_bytes = max_bytes or convert_file_size_to_int(DEFAULT_MAX_SHARD_SIZE)
        self.quotas, self.max_rows = quotas, max_rows
        self.budget_bytes, _ = row_group_budget(features)
        self.writers: list[ParquetShardWriter] = []
        self.temps: list[Path] = []
        self.finished = False

    def _temp(self, index: int) -> Path:
        return temp_path(self.root / self.directory / f"train-{index:05d}.parquet")

    def _room(self) -> Optional[int]:
        """Rows the current file may still take (None: no row limit); 0 when it is full."""
        if not self.writers:
            return 0
        writer = self.writers[-1]
        if self.quotas is not None:
            index = len(self.writers) - 1
            return max(self.quotas[index] - writer.num_rows, 0) if index < len(self.quotas) - 1 else None
        if writer.nbytes >= self.max_bytes:
            return 0
        return None if self.max_rows is None else max(self.max_rows - writer.num_rows, 0)

    def _next(self) -> ParquetShardWriter:
        if self.writers:
            self.writers[-1].finalize()
        path = self._temp(len(self.writers))
        path.parent.mkdir(parents=True, exist_ok=True)
        self.temps.append(path)
        self.writers.append(ParquetShardWriter(path, self.features))
        return self.writers[-1]

    def write(self, row: dict[str, Any]) -> None:
        """One row; a field it lacks is written as null (datasets' writer would refuse the batch)."""
        writer = self.writers[-1] if self._room() != 0 else self._next()
        writer.write({name: row.get(name) for name in self.features})

    def write_batch(self, batch: Batch) -> None:
        """Write a record batch (or table), split across files where one fills up; a large batch is cut into
        pieces of at most a row group's budget (or ``max_bytes``, when smaller) so a file overshoots ``max_bytes``
        by less than that."""
        step = rows_per_group(batch.num_rows, batch.nbytes, min(self.budget_bytes, self.max_bytes), None)
        start = 0
        while start < batch.num_rows:
            if self._room() == 0:
                self._next()
            room = self._room()
            take = min(step, batch.num_rows - start, step if room is None else room)
            self.writers[-1].write_table(pa.Table.from_batches([batch.slice(start, take)]) if isinstance(batch, pa.RecordBatch)
                               else batch.slice(start, take))
            start += take

    def write_batches(self, batches: Iterable[Batch]) -> None:
        for batch in batches:
            self.write_batch(batch)

    def flush(self) -> None:
        """``ParquetShardWriter.flush`` of the file being written: its last rows are written while the caller goes
        on, and ``publish`` waits for them."""
        if self.writers and not self.finished:
            self.writers[-1].flush()

    def finish(self) -> list[Path]:
        """Complete every file under its temporary name; returns those names."""
        if self.finished:
            return self.temps
        if not self.writers:
            self._next()
        while self.quotas is not None and len(self.writers) < len(self.quotas):
            self._next()  # a quota of rows that never came: an empty file keeps the count asked for
        self.writers[-1].finalize()
        self.finished = True
        return self.temps

    def final_paths(self) -> list[str]:
        total = len(self.temps)
        return [f"{self.directory}/train-{i:05d}-of-{total:05d}.parquet" for i in range(total)]

    def publish(self) -> list[str]:
        """Rename the finished files to ``DIRECTORY/train-0000i-of-0000N.parquet``; returns those paths."""
        self.finish()
        paths = self.final_paths()
        for temp, rel in zip(self.temps, paths):
            commit(temp, self.root / rel)
        return paths

    def abort(self) -> None:
        for writer in self.writers:
            writer.close()
        for temp in self.temps:
            temp.unlink(missing_ok=True)


def rewrite_row_groups(path: Path, max_group_bytes: int) -> None:
    """Rewrite a Parquet file in place with row groups of at most ``max_group_bytes`` (and the writer's budget):
    same rows, order and name (a file whose row groups are too large for the Hub's viewer, written by another
    tool or an older version)."""
    parquet = pq.ParquetFile(path)
    temp = temp_path(path)
    writer = ParquetShardWriter(temp, Features.from_arrow_schema(parquet.schema_arrow), max_group_bytes)
    try:
        for group in range(parquet.metadata.num_row_groups):
            meta = parquet.metadata.row_group(group)
            step = rows_per_group(meta.num_rows, meta.total_byte_size, writer.budget_bytes, writer.budget_rows)
            for batch in parquet.iter_batches(batch_size=step, row_groups=[group]):
                writer.write_table(pa.Table.from_batches([batch]))
        writer.finalize()
    except BaseException:
        writer.close()
        temp.unlink(missing_ok=True)
        raise
    commit(temp, path)
