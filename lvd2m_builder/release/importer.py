"""``lvd2m import``: stream the released LVD-2M tables into the same layout ``lvd2m build`` writes.

data/train-*.parquet (ROW_FEATURES), rejects/train-*.parquet (REJECT_FEATURES; malformed rows with file and
line, and rows repeating an earlier row's key, naming both lines), published as ``lvd2m build`` publishes (Parquet
files of at most ``max_shard_size``), stats.json, _manifest.json and the README card, so
``load_dataset(OUT, streaming=True)`` reads an import exactly like a build. Memory stays flat in the row count
apart from 44 bytes per row (digests of keys with where each was first seen, digests of captions, where each
caption's row is, and the card's duration, flow score and caption length, summed up as the blocks are mapped
rather than read back from the written files).
"""

from __future__ import annotations

import logging
import os
import time
from array import array
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from lvd2m_builder.card.plots import canvas, draw_plots, plot_paths
from lvd2m_builder.card.stats import Summary, batch_summary, combine, value_counter
from lvd2m_builder.card.write import card_template, card_text, write_card
from lvd2m_builder.config import MODEL_PRESETS, preset
from lvd2m_builder.errors import ConfigError, OutputError
from lvd2m_builder.inputs.csv_stream import Block, read_blocks, read_records, size_of
from lvd2m_builder.memory_pool import frozen_heap, streaming_pool
from lvd2m_builder.release.columns import map_columns
from lvd2m_builder.release.rows import KNOWN_COLUMNS, ReleaseRow
from lvd2m_builder.release.tally import FirstSeen, HashTally, Repeat, digests
from lvd2m_builder.run.logs import bar_disabled
from lvd2m_builder.run.stats import ShardStats, merge
from lvd2m_builder.schema import REJECT_FEATURES, REJECTS_DIR, ROW_FEATURES, TRAIN_DIR
from lvd2m_builder.store.atomic import write_json_atomic
from lvd2m_builder.store.manifest import Manifest, settings_hash
from lvd2m_builder.store.output_dir import prepare_output
from lvd2m_builder.store.parquet import DEFAULT_MAX_SHARD_SIZE, ParquetSeries
from lvd2m_builder.store.reshard import parse_size
from lvd2m_builder.store.shards import read_row
from lvd2m_builder.threads import ahead, ordered_map

log = logging.getLogger(__name__)

#: How much of a repeated caption stats.json quotes.
QUOTE_CHARS = 300
#: Where a key was first seen, packed in one integer: the table's index above the line number.
_LINE_BITS = 40
ROW_SCHEMA = ROW_FEATURES.arrow_schema
#: Blocks (~12 MB of CSV each) read and mapped ahead of the writer, at each of the two steps: three smooth out the
#: blocks that take longer (about 10% less wall time than one, measured at 300k rows).
READ_AHEAD = 3
#: Nice levels the reading, mapping and tallying threads run below the main thread, from which the Parquet writer's
#: thread starts: the writer is the import's busiest step, and the steps that feed it then leave it a core first
#: (300k rows: 4% less wall time and 7% less peak memory, the feeders running less far ahead; measured A/B).
FEEDER_NICE = 4
#: Threads mapping blocks, the import's longest step (pyarrow compute, which leaves the GIL): the cores that reading
#: and writing leave free, at least one (on this 2-core machine a second only held more blocks in memory).
MAP_WORKERS = max(1, min(4, (os.cpu_count() or 2) - 2))


@dataclass(frozen=True)
class ImportConfig:
    """Published files of at most ``max_shard_size`` (uncompressed, as ``push_to_hub`` counts) and, when given,
    ``shard_size`` rows; a refined caption on more than ``max_caption_repeats`` rows is flagged (the same rule and
    default as ``lvd2m validate --max-caption-repeats``)."""

    shard_size: Optional[int] = None
    max_caption_repeats: int = 5
    report_repeats: int = 20
    max_shard_size: str = DEFAULT_MAX_SHARD_SIZE

    def __post_init__(self) -> None:
        parse_size(self.max_shard_size)
        if self.shard_size is not None and self.shard_size < 1:
            raise ConfigError("import.shard_size", self.shard_size, "must be >= 1")
        if self.max_caption_repeats < 1:
            raise ConfigError("import.max_caption_repeats", self.max_caption_repeats, "must be >= 1")
        if self.report_repeats < 0:
            raise ConfigError("import.report_repeats", self.report_repeats, "must be >= 0")


def file_name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def iter_release(uris: Iterable[str], on_bytes: Callable[[int], None] = lambda n: None) -> Iterator[ReleaseRow]:
    """Every record of every table, mapped: the generator ``lvd2m import`` and the loading script share.

    A row whose key an earlier row of these tables already has is a reject naming both lines: the first row wins.
    """
    seen, names = FirstSeen(), []
    for uri in uris:
        name = file_name(uri)
        names.append(name)
        for record in read_records(uri, on_bytes):
            if record.fields is None:
                yield ReleaseRow.unreadable(name, record.line, record.error)
                continue
            row = ReleaseRow(record.fields, name, record.line)
            if row.error is None:
                first = seen.first(row.fields["key"], (len(names) - 1) << _LINE_BITS | record.line)
                if first is not None:
                    row.repeats(f"{names[first >> _LINE_BITS]} line {first & (1 << _LINE_BITS) - 1}")
            yield row


@dataclass
class _Tallies:
    accepted: int = 0
    duplicate_keys: int = 0
    captions: HashTally = field(default_factory=HashTally)
    caption_rows: array = field(default_factory=lambda: array("Q"))  # accepted-row position of each caption
    by_file: dict[str, Counter] = field(default_factory=dict)
    by_src: Counter = field(default_factory=Counter)
    segment_rules: Counter = field(default_factory=Counter)
    extra_columns: set = field(default_factory=set)


def import_settings(uris: list[str], config: ImportConfig) -> dict[str, Any]:
    """The paper's settings, which made the release (RAFT motion, the paper's models, rewritten captions), plus
    the import's own: the card and every row's provenance describe the release, not a run of this pipeline."""
    release = {**MODEL_PRESETS["paper"], "motion.backend": "raft", "captions.rewrite": True,
               "dataset_src": "lvd2m-release"}
    base = preset("paper").replace(release).settings()
    return {**base, "import": {"files": [file_name(u) for u in uris], "shard_size": config.shard_size,
                               "max_caption_repeats": config.max_caption_repeats}}


def _check_empty(out: Path) -> None:
    patterns = ("*.parquet", "*.arrow")
    if any(next((out / d).glob(p), None) for d in (TRAIN_DIR, REJECTS_DIR) for p in patterns):
        raise OutputError(str(out), "already holds shards; pass --overwrite to replace them")


def import_tables(uris: list[str], out: str | Path, config: ImportConfig = ImportConfig(), overwrite: bool = False,
                  progress: Optional[bool] = None) -> dict[str, Any]:
    """Import ``uris`` (local paths or fsspec URLs) into ``out``; returns the stats written to stats.json."""
    with streaming_pool(), frozen_heap():
        return _import_tables(uris, Path(out), config, overwrite, progress)


def _import_tables(uris: list[str], out: Path, config: ImportConfig, overwrite: bool, progress: Optional[bool],
                   ) -> dict[str, Any]:
    sizes = [size_of(u) for u in uris]  # a missing table fails here, before any output is touched
    prepare_output(out, overwrite)  # refuses a foreign directory; --overwrite deletes only lvd2m's files
    _check_empty(out)
    bar = tqdm(total=sum(sizes) if None not in sizes else None, unit="B", unit_scale=True, disable=bar_disabled(progress),
               dynamic_ncols=True, desc="import")
    max_bytes = parse_size(config.max_shard_size)
    train = ParquetSeries(out, TRAIN_DIR, ROW_FEATURES, max_bytes, max_rows=config.shard_size)
    rejects = ParquetSeries(out, REJECTS_DIR, REJECT_FEATURES, max_bytes, max_rows=config.shard_size)
    writer = _Writer(train, rejects)
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="lvd2m-card") as side:
            # the card's thread works the settings out and readies the plots' figure while the first blocks are read
            settings_made = side.submit(import_settings, uris, config)
            card = _Card(side)
            # reading, mapping, tallying and writing overlap on threads of their own (pyarrow and numpy leave the GIL)
            with closing(ahead(card.collect(_mapped_blocks(uris, bar.update)), READ_AHEAD, "lvd2m-tally",
                               FEEDER_NICE)) as blocks:
                for block in blocks:
                    writer.add(block)
                    bar.set_postfix(rows=writer.stats.clips, rejected=writer.stats.clips - writer.stats.accepted,
                                    refresh=False)
            settings = settings_made.result()
            text = card.render(merge([writer.stats]), settings, out)
            train.flush()  # the last rows to the writer's thread, written while the rest here is done
            reject_paths = rejects.publish()
            repeats = writer.tallies.captions.repeats(config.max_caption_repeats + 1)
            train_paths = train.publish()
    except BaseException:
        train.abort()
        rejects.abort()
        raise
    finally:
        bar.close()
    stats = writer.stats
    stats.wall_seconds = time.perf_counter() - started
    Manifest(settings_hash(settings), settings, published={
        "train": train_paths, "rejects": reject_paths, "stats": stats.to_dict(), "max_shard_size": max_bytes,
    }).save(out)
    stats = {**merge([stats]), **_import_stats(out, train, train_paths, writer.tallies, repeats, config)}
    write_json_atomic(out / "stats.json", stats)
    write_card(out, stats, settings, summary=card.summary, drawn=card.drawn.result(), text=text.result())
    log.info("imported %d rows: %d accepted, %d rejected -> %s", stats["clips"], stats["accepted"],
             stats["rejected"], out)
    return stats


class _Card:
    """The card's plots and text, made on ``pool``'s one thread beside the writer: the plots as soon as the last
    block is tallied, the text after them, once every row is counted. The writer's thread then still has the blocks
    queued for it (~0.15 s at 100k rows); drawn once the main thread had handed it the last block, and rendered after
    its last row group, they kept a 100k-row import ~0.07 s longer (1.10 -> 1.03 s, measured A/B). The pool's
    thread starts with the import, at the main thread's priority: while the first blocks are read it works the
    settings out, readies the plots' figure (``canvas``) and compiles the card's template, Python that kept the start
    and the end waiting."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool
        self.parts: list[Summary] = []  # each block's share of the card's summary, in order
        self.summary = Summary()
        self.drawn: Optional[Future] = None
        self.axes = pool.submit(canvas)
        pool.submit(card_template)  # for ``render``

    def collect(self, blocks: Iterator[_Block]) -> Iterator[_Block]:
        """``blocks``, each one's summary kept as it passes (on the tallying thread); after the last, the plots."""
        for block in blocks:
            self.parts.append(block.tally.summary)
            yield block
        self.summary = combine(self.parts)
        self.drawn = self.pool.submit(self._draw)

    def _draw(self) -> dict[str, bytes]:
        return draw_plots(self.summary, self.axes.result())  # the figure was readied first, on this same thread

    def render(self, stats: dict[str, Any], settings: dict[str, Any], out: Path) -> Future:
        """The README's text, rendered once the plots are drawn (the pool's one thread takes its tasks in order);
        ``stats``: the counts the card shows, final once every block is handed to the writer."""
        return self.pool.submit(self._text, stats, settings, out)

    def _text(self, stats: dict[str, Any], settings: dict[str, Any], out: Path) -> str:
        assert self.drawn is not None, "rendered before the last block was tallied"
        return card_text(out, stats, settings, self.summary, plot_paths(self.drawn.result()),
                         card_fields={})  # an import's manifest holds no card fields


@dataclass
class _Block:
    """One block of a table, mapped: the accepted rows (shard schema) and the rejected ones, each in input order
    with their positions in the block, and the extra columns that hold a value."""

    file_name: str
    size: int
    accepted: pa.Table
    accepted_at: np.ndarray
    rules: list[str]
    rejected: list[ReleaseRow]
    rejected_at: np.ndarray
    extra: set[str]
    tally: Optional[_BlockTally] = None  # set once repeated keys are out


@dataclass
class _BlockTally:
    """What the import tallies of a block's accepted rows, worked out on the tallying thread, beside the mapping
    and the writing: the card's summary, the sources, the segment rules, and each non-empty refined caption's
    digest with its position among the accepted rows."""

    summary: Summary
    sources: Counter
    rules: Counter
    caption_digests: np.ndarray
    caption_at: np.ndarray

    @classmethod
    def of(cls, block: _Block) -> _BlockTally:
        rows = block.accepted
        src = rows.column("dataset_src")
        src = pc.fill_null(pc.if_else(pc.equal(src, ""), pa.scalar(None, pa.string()), src), "(empty)")
        sources = value_counter(src)
        captions = rows.column("refined_caption")
        present = pc.fill_null(pc.not_equal(captions, ""), False).to_numpy(zero_copy_only=False)
        texts = (captions if present.all() else captions.filter(pa.array(present))).to_pylist()  # no copy as a rule
        return cls(batch_summary(rows), sources, Counter(block.rules), digests(texts),
                   np.flatnonzero(present).astype(np.uint64))


def _mapped_blocks(uris: list[str], on_bytes: Callable[[int], None]) -> Iterator[_Block]:
    """Every block of every table, mapped (on ``MAP_WORKERS`` threads), in order; a row whose key an earlier row of
    these tables already has is a reject naming both lines, as ``iter_release`` makes it."""
    names = [file_name(uri) for uri in uris]
    seen = FirstSeen()
    for index, uri in enumerate(uris):
        blocks = ahead(read_blocks(uri, on_bytes), READ_AHEAD, "lvd2m-read", FEEDER_NICE)
        for block, mapped in ordered_map(partial(_mapped_pair, name=names[index]), blocks, MAP_WORKERS,
                                         nice=FEEDER_NICE):
            mapped = _without_repeats(mapped, block, index, names, seen)
            mapped.tally = _BlockTally.of(mapped)
            yield mapped


def _mapped_pair(block: Block, name: str) -> tuple[Block, _Block]:
    return block, _mapped(block, name)


def _mapped(block: Block, name: str) -> _Block:
    """A block's rows mapped column-wise where ``columns.map_columns`` can, the rest row by row (``ReleaseRow``)."""
    if block.table is not None:
        fast = map_columns(block.table, block.lines, name)
        slow_at = np.flatnonzero(~fast.fast)
        records = block.table.take(pa.array(slow_at, pa.int64())).to_pylist() if len(slow_at) else []
        slow = [ReleaseRow(record, name, line) for record, line in zip(records, block.lines[slow_at].tolist())]
        mapped = pa.array(fast.fast)
        extra = {c for c in block.table.column_names
                 if c not in KNOWN_COLUMNS and pc.any(pc.not_equal(block.table[c].filter(mapped), "")).as_py()}
        size, rows, rules, fast_at = block.table.num_rows, fast.rows, fast.rules.tolist(), np.flatnonzero(fast.fast)
    else:
        slow = [ReleaseRow.unreadable(name, r.line, r.error) if r.fields is None else ReleaseRow(r.fields, name, r.line)
                for r in block.records]
        slow_at = np.arange(len(slow))
        size, rows, rules, fast_at, extra = len(slow), ROW_SCHEMA.empty_table(), [], np.zeros(0, np.int64), set()
    for row in slow:
        extra.update(row.extra)
    good = [i for i, row in enumerate(slow) if row.error is None]
    bad = [i for i, row in enumerate(slow) if row.error is not None]
    accepted_at = np.concatenate([fast_at, slow_at[good]]).astype(np.int64)
    rules += [slow[i].segment_rule for i in good]
    if good:  # rows mapped one by one go back to their places among the others
        order = np.argsort(accepted_at, kind="stable")
        slow_rows = pa.Table.from_pylist([slow[i].row() for i in good], schema=ROW_SCHEMA)
        rows = pa.concat_tables([rows, slow_rows]).take(pa.array(order, pa.int64()))
        accepted_at, rules = accepted_at[order], [rules[i] for i in order]
    return _Block(name, size, rows, accepted_at, rules, [slow[i] for i in bad], slow_at[bad].astype(np.int64), extra)


def _without_repeats(mapped: _Block, block: Block, index: int, names: list[str], seen: FirstSeen) -> _Block:
    """The accepted rows whose key an earlier row had, moved to the rejects (the first row wins)."""
    lines = (block.lines[mapped.accepted_at] if block.table is not None
             else np.array([block.records[i].line for i in mapped.accepted_at.tolist()], dtype=np.int64))
    firsts = seen.firsts(mapped.accepted.column("key").to_pylist(), (index << _LINE_BITS) | lines.astype(np.int64))
    again = np.flatnonzero(firsts >= 0)
    if not len(again):
        return mapped
    repeats = list(zip(again.tolist(), firsts[again].tolist()))
    rejected = list(zip(mapped.rejected_at.tolist(), mapped.rejected))
    for j, first in repeats:
        at = int(mapped.accepted_at[j])
        record = block.table.slice(at, 1).to_pylist()[0] if block.table is not None else block.records[at].fields
        row = ReleaseRow(record, mapped.file_name, int(lines[j]))
        row.repeats(f"{names[first >> _LINE_BITS]} line {first & (1 << _LINE_BITS) - 1}")
        rejected.append((at, row))
    rejected.sort(key=lambda pair: pair[0])
    keep = np.ones(len(mapped.accepted_at), dtype=bool)
    keep[[j for j, _ in repeats]] = False
    return _Block(mapped.file_name, mapped.size, mapped.accepted.filter(pa.array(keep)), mapped.accepted_at[keep],
                  [rule for rule, kept in zip(mapped.rules, keep) if kept], [row for _, row in rejected],
                  np.array([at for at, _ in rejected], dtype=np.int64), mapped.extra)


class _Writer:
    """Rows into the published series (accepted and rejected apart, each in input order), tallied as they go."""

    def __init__(self, train: ParquetSeries, rejects: ParquetSeries) -> None:
        self.train, self.rejects = train, rejects
        self.stats = ShardStats()
        self.tallies = _Tallies()

    def add(self, block: _Block) -> None:
        counts = self.tallies.by_file.setdefault(block.file_name, Counter())
        counts["rows"] += block.size
        counts["accepted"] += len(block.accepted_at)
        counts["rejected"] += len(block.rejected_at)
        self.tallies.extra_columns |= block.extra
        if len(block.accepted_at):
            self._accept(block.accepted, block.tally)
        self.stats.add_outcome(count=len(block.accepted_at))
        for row in block.rejected:
            self.tallies.duplicate_keys += row.duplicate_of is not None
            self.rejects.write(row.reject())
            self.stats.add_outcome("source", f"{row.error.column}: {row.error.why}")

    def _accept(self, rows: pa.Table, tally: _BlockTally) -> None:
        tallies = self.tallies
        first = tallies.accepted  # accepted rows so far
        self.train.write_batch(rows)
        tallies.accepted += rows.num_rows
        tallies.by_src.update(tally.sources)
        tallies.segment_rules.update(tally.rules)
        tallies.captions.extend(tally.caption_digests)
        tallies.caption_rows.frombytes((tally.caption_at + np.uint64(first)).tobytes())


def _row_at(out: Path, rows_per_file: list[int], paths: list[str], position: int) -> dict:
    """The accepted row at ``position`` of the series, read back from the row group that holds it."""
    for count, path in zip(rows_per_file, paths):
        if position < count:
            return read_row(out / path, position)
        position -= count
    raise IndexError(position)


def _import_stats(out: Path, train: ParquetSeries, paths: list[str], tallies: _Tallies, repeats: list[Repeat],
                  config: ImportConfig) -> dict:
    top = []
    rows_per_file = [writer.num_rows for writer in train.writers]
    for repeat in repeats[: config.report_repeats]:
        row = _row_at(out, rows_per_file, paths, tallies.caption_rows[repeat.first])
        top.append({"rows": repeat.count, "first_key": row["key"], "caption": row["refined_caption"][:QUOTE_CHARS]})
    duplicate_keys = tallies.duplicate_keys
    if duplicate_keys:
        log.warning("%d rows repeat an earlier row's key: rejected (the first row is kept)", duplicate_keys)
    if repeats:
        log.warning("%d refined captions are each on more than %d rows (top: %d rows)", len(repeats),
                    config.max_caption_repeats, repeats[0].count)
    return {
        "import": {
            "files": [{"file": name, **counts} for name, counts in tallies.by_file.items()],
            "by_dataset_src": dict(tallies.by_src.most_common()),
            "segment_times": dict(tallies.segment_rules.most_common()),
            "extra_columns": sorted(tallies.extra_columns),
            "duplicate_keys": duplicate_keys,
        },
        "repeated_refined_captions": {
            "max_repeats": config.max_caption_repeats,
            "captions": len(repeats),
            "rows": sum(r.count for r in repeats),
            "top": top,
        },
    }
