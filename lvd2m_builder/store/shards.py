"""The unit of work and of resume: one shard = a fixed list of ClipRefs in, one train and one rejects file out.

Work units are Arrow files in ``data/`` and ``rejects/`` (not published: ``reshard.compact`` turns them into the
Parquet files the card names, and deletes them), written with ``datasets``' own ArrowWriter (features embedded in the schema metadata) under a
temporary name and renamed when complete, so a killed build never leaves a half shard under a final name.
The readers here take either format: work units, published Parquet files, and Arrow outputs of older versions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import config
from datasets.arrow_writer import ArrowWriter

from lvd2m_builder.records import Clip, ClipRef, to_reject, to_row
from lvd2m_builder.run.stats import ShardStats
from lvd2m_builder.schema import REJECT_FEATURES, REJECTS_DIR, ROW_FEATURES, TRAIN_DIR
from lvd2m_builder.store.atomic import commit, temp_path
from lvd2m_builder.store.parquet import rows_per_group

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardSpec:
    index: int
    total: int
    refs: tuple[ClipRef, ...]

    @property
    def shard_id(self) -> str:
        """Content id: the same refs give the same id, so resume recognises a finished shard."""
        return hashlib.sha1("\n".join(r.key for r in self.refs).encode()).hexdigest()[:16]

    @property
    def train_path(self) -> str:
        return f"{TRAIN_DIR}/train-{self.index:05d}-of-{self.total:05d}.arrow"

    @property
    def rejects_path(self) -> str:
        return f"{REJECTS_DIR}/rejects-{self.index:05d}-of-{self.total:05d}.arrow"


def plan_shards(refs: list[ClipRef], shard_size: int, first_index: int = 0) -> list[ShardSpec]:
    """Contiguous chunks of the (sorted) refs, numbered from ``first_index`` so they never reuse a finished name."""
    chunks = [tuple(refs[i : i + shard_size]) for i in range(0, len(refs), shard_size)]
    total = first_index + len(chunks)
    return [ShardSpec(first_index + i, total, chunk) for i, chunk in enumerate(chunks)]


def is_parquet(path: Path | str) -> bool:
    return str(path).endswith(".parquet")


#: Record batches read from Parquet hold about this many uncompressed bytes (and at most 1,000 rows, datasets'
#: batch size): pyarrow's default of 65,536 rows is a whole row group, over a GB once turned into Python rows
#: with embeddings, and more with embedded clips.
READ_BATCH_BYTES = 16 * 2**20


def iter_batches(paths: Iterable[Path], columns: Optional[list[str]] = None) -> Iterator[pa.RecordBatch]:
    """The record batches of finished shards, in order, optionally only ``columns``: Parquet in batches of about
    ``READ_BATCH_BYTES``, Arrow IPC streams (as ArrowWriter writes them) memory-mapped, so nothing is copied until
    used."""
    for path in paths:
        if is_parquet(path):
            parquet = pq.ParquetFile(path)
            groups = [parquet.metadata.row_group(i) for i in range(parquet.metadata.num_row_groups)]
            rows = rows_per_group(sum(g.num_rows for g in groups), sum(g.total_byte_size for g in groups),
                                  READ_BATCH_BYTES, config.DEFAULT_MAX_BATCH_SIZE)
            yield from parquet.iter_batches(batch_size=rows, columns=columns)
            continue
        with pa.memory_map(str(path)) as source:
            for batch in pa.ipc.open_stream(source):
                yield batch.select(columns) if columns else batch


def read_table(path: Path, columns: Optional[list[str]] = None) -> pa.Table:
    """One finished shard as a table (its schema kept when it holds no rows), optionally only some columns."""
    if is_parquet(path):
        return pq.read_table(path, columns=columns)
    with pa.memory_map(str(path)) as source:
        table = pa.ipc.open_stream(source).read_all()
    return table.select(columns) if columns else table


def count_rows(path: Path) -> int:
    """Rows of a finished shard: from the footer for Parquet, by reading the keys for Arrow."""
    return pq.ParquetFile(path).metadata.num_rows if is_parquet(path) else read_table(path, ["key"]).num_rows


def read_row(path: Path, position: int) -> dict:
    """The row at ``position`` of a finished shard, reading only the row group (or batch) that holds it."""
    if is_parquet(path):
        parquet = pq.ParquetFile(path)
        for group in range(parquet.metadata.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            if position < rows:
                return parquet.read_row_group(group).slice(position, 1).to_pylist()[0]
            position -= rows
        raise IndexError(position)
    return read_table(path).slice(position, 1).to_pylist()[0]


def _schema(path: Path) -> pa.Schema:
    if is_parquet(path):
        return pq.read_schema(path)
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_stream(source).schema


def read_keys(path: Path, column: str = "key") -> list[str]:
    """The ``key`` column of a finished shard (or ``source_key``: the inputs its rows came from; a shard written
    before that column existed holds only inputs' own rows, so their keys are their inputs')."""
    column = column if column in _schema(path).names else "key"
    return read_table(path, [column]).column(column).to_pylist()


def stats_of(train: Iterable[Path], rejects: Iterable[Path]) -> ShardStats:
    """The stats of these train and rejects files from their own rows: outcomes, and from each row's provenance
    its seconds and, for a shot of a split video, its place among the video's shots."""
    stats = ShardStats()
    for paths, rejected in ((train, False), (rejects, True)):
        columns = ["provenance", "duration"] + (["stage", "reason"] if rejected else [])
        for batch in iter_batches(paths, columns):
            for row in batch.to_pylist():
                provenance = json.loads(row["provenance"] or "{}")
                stats.add_outcome(row.get("stage"), row.get("reason") or "", row["duration"],
                                  (provenance.get("split") or {}).get("shot"))
                for stage, seconds in provenance.get("seconds", {}).items():
                    stats.seconds[stage] = stats.seconds.get(stage, 0.0) + seconds
    return stats


@dataclass
class ShardResult:
    shard_id: str
    index: int
    train_path: str
    rejects_path: str
    stats: ShardStats = field(default_factory=ShardStats)


class AtomicArrow:
    """An ArrowWriter to ``.NAME.tmp-PID``, renamed onto ``path`` only by ``commit``."""

    def __init__(self, path: Path, features, writer_batch_size: Optional[int] = None) -> None:
        self.path = path
        self.tmp = temp_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = ArrowWriter(features=features, path=str(self.tmp), writer_batch_size=writer_batch_size)
        self.rows = 0
        self.finished = False

    def write(self, row: dict) -> None:
        self.writer.write(row)
        self.rows += 1

    def write_table(self, table: pa.Table) -> None:
        """Rows already in the features' Arrow schema, after any rows ``write`` holds back: order is kept."""
        self.writer.write_examples_on_file()
        self.writer.write_table(table)
        self.rows += table.num_rows

    def finish(self) -> None:
        """Complete the file under its temporary name (not yet visible to readers)."""
        if not self.finished:
            self.writer.finalize()
            self.writer.close()
            self.finished = True

    def commit(self) -> None:
        self.finish()
        commit(self.tmp, self.path)

    def abort(self) -> None:
        self.writer.close()
        if self.tmp.exists():
            self.tmp.unlink()


def write_shard(
    spec: ShardSpec,
    clips,
    out: Path,
    settings: dict,
    on_clip: Optional[Callable[[Clip], None]] = None,
) -> ShardResult:
    """Drain ``clips`` (the pipeline over ``spec.refs``) into the shard's two files; every clip lands once."""
    result = ShardResult(spec.shard_id, spec.index, spec.train_path, spec.rejects_path)
    train = AtomicArrow(out / spec.train_path, ROW_FEATURES)
    rejects = AtomicArrow(out / spec.rejects_path, REJECT_FEATURES)
    started = time.perf_counter()
    try:
        for clip in clips:
            if clip.rejected:
                rejects.write(to_reject(clip, settings))
            else:
                train.write(to_row(clip, settings))
            result.stats.add(clip)
            if on_clip is not None:
                on_clip(clip)
        train.commit()
        rejects.commit()
    except BaseException:
        train.abort()
        rejects.abort()
        raise
    result.stats.wall_seconds = time.perf_counter() - started
    return result
