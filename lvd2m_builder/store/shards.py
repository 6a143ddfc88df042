"""The unit of work and of resume: one shard = a fixed list of ClipRefs in, one train and one rejects file out.

Files are written with ``datasets``' own ArrowWriter (features embedded in the schema metadata) under a
temporary name and renamed when complete, so a killed build never leaves a half shard under a final name.
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
from datasets.arrow_writer import ArrowWriter

from lvd2m_builder.records import Clip, ClipRef, to_reject, to_row
from lvd2m_builder.run.stats import ShardStats
from lvd2m_builder.schema import REJECT_FEATURES, REJECTS_DIR, ROW_FEATURES, TRAIN_DIR
from lvd2m_builder.store.atomic import commit, temp_path

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


def iter_batches(paths: Iterable[Path]) -> Iterator[pa.RecordBatch]:
    """The record batches of finished shards, in order (Arrow IPC streams, as ArrowWriter writes them;
    memory-mapped, so nothing is copied until used)."""
    for path in paths:
        with pa.memory_map(str(path)) as source:
            yield from pa.ipc.open_stream(source)


def read_table(path: Path, columns: Optional[list[str]] = None) -> pa.Table:
    """One finished shard as a table (its schema kept when it holds no rows), optionally only some columns."""
    with pa.memory_map(str(path)) as source:
        table = pa.ipc.open_stream(source).read_all()
    return table.select(columns) if columns else table


def read_keys(path: Path) -> list[str]:
    """The ``key`` column of a finished shard."""
    return read_table(path, ["key"]).column("key").to_pylist()


def stats_of(train: Path, rejects: Path) -> ShardStats:
    """A shard's stats from its own rows: outcomes, and seconds from each row's provenance."""
    stats = ShardStats()
    for path, rejected in ((train, False), (rejects, True)):
        columns = ["provenance"] + (["stage", "reason"] if rejected else [])
        for batch in iter_batches([path]):
            for row in batch.select(columns).to_pylist():
                stats.add_outcome(row.get("stage"), row.get("reason") or "")
                for stage, seconds in json.loads(row["provenance"] or "{}").get("seconds", {}).items():
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
    """An ArrowWriter to ``.NAME.tmp-PID``, renamed onto ``path`` only by ``commit``.

    ``commit(dest)`` may name another final path: a streaming writer that learns the shard count only at the
    end (``lvd2m import``) finishes each file under its temporary name and renames them all last.
    """

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

    def commit(self, dest: Optional[Path] = None) -> None:
        self.finish()
        commit(self.tmp, dest or self.path)

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
