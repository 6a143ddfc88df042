"""``lvd2m import``: stream the released LVD-2M tables into the same layout ``lvd2m build`` writes.

data/train-*.parquet (ROW_FEATURES), rejects/train-*.parquet (REJECT_FEATURES; malformed rows with file and
line, and rows repeating an earlier row's key, naming both lines), published as ``lvd2m build`` publishes (Parquet
files of at most ``max_shard_size``), stats.json, _manifest.json and the README card, so
``load_dataset(OUT, streaming=True)`` reads an import exactly like a build. Memory stays flat in the row count
apart from 32 bytes per row (digests of keys with where each was first seen, digests of captions, and where each
caption's row is).
"""

from __future__ import annotations

import logging
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from tqdm.auto import tqdm

from lvd2m_builder.card.write import write_card
from lvd2m_builder.config import MODEL_PRESETS, preset
from lvd2m_builder.errors import ConfigError, OutputError
from lvd2m_builder.inputs.csv_stream import read_records, size_of
from lvd2m_builder.release.rows import ReleaseRow
from lvd2m_builder.release.tally import FirstSeen, HashTally
from lvd2m_builder.run.logs import bar_disabled
from lvd2m_builder.run.stats import ShardStats, merge
from lvd2m_builder.schema import REJECT_FEATURES, REJECTS_DIR, ROW_FEATURES, TRAIN_DIR
from lvd2m_builder.store.atomic import write_json_atomic
from lvd2m_builder.store.manifest import Manifest, settings_hash
from lvd2m_builder.store.output_dir import prepare_output
from lvd2m_builder.store.parquet import DEFAULT_MAX_SHARD_SIZE, ParquetSeries
from lvd2m_builder.store.reshard import parse_size
from lvd2m_builder.store.shards import read_row

log = logging.getLogger(__name__)

#: How much of a repeated caption stats.json quotes.
QUOTE_CHARS = 300
#: Where a key was first seen, packed in one integer: the table's index above the line number.
_LINE_BITS = 40


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
    out = Path(out)
    sizes = [size_of(u) for u in uris]  # a missing table fails here, before any output is touched
    prepare_output(out, overwrite)  # refuses a foreign directory; --overwrite deletes only lvd2m's files
    _check_empty(out)
    settings = import_settings(uris, config)
    bar = tqdm(total=sum(sizes) if None not in sizes else None, unit="B", unit_scale=True, disable=bar_disabled(progress),
               dynamic_ncols=True, desc="import")
    max_bytes = parse_size(config.max_shard_size)
    train = ParquetSeries(out, TRAIN_DIR, ROW_FEATURES, max_bytes, max_rows=config.shard_size)
    rejects = ParquetSeries(out, REJECTS_DIR, REJECT_FEATURES, max_bytes, max_rows=config.shard_size)
    stats = ShardStats()
    tallies = _Tallies()
    started = time.perf_counter()
    try:
        for row in iter_release(uris, bar.update):
            _add(row, train, rejects, stats, tallies)
            if stats.clips % 1000 == 0:
                bar.set_postfix(rows=stats.clips, rejected=stats.clips - stats.accepted, refresh=False)
        train_paths, reject_paths = train.publish(), rejects.publish()
    except BaseException:
        train.abort()
        rejects.abort()
        raise
    finally:
        bar.close()
    stats.wall_seconds = time.perf_counter() - started
    Manifest(settings_hash(settings), settings, published={
        "train": train_paths, "rejects": reject_paths, "stats": stats.to_dict(), "max_shard_size": max_bytes,
    }).save(out)
    stats = {**merge([stats]), **_import_stats(out, train, train_paths, tallies, config)}
    write_json_atomic(out / "stats.json", stats)
    write_card(out, stats, settings)
    log.info("imported %d rows: %d accepted, %d rejected -> %s", stats["clips"], stats["accepted"],
             stats["rejected"], out)
    return stats


def _add(row: ReleaseRow, train: ParquetSeries, rejects: ParquetSeries, stats: ShardStats, tallies: _Tallies) -> None:
    counts = tallies.by_file.setdefault(row.file_name, Counter())
    counts["rows"] += 1
    tallies.extra_columns.update(row.extra)
    if row.error is not None:
        tallies.duplicate_keys += row.duplicate_of is not None
        rejects.write(row.reject())
        stats.add_outcome("source", f"{row.error.column}: {row.error.why}")
        counts["rejected"] += 1
        return
    data = row.row()
    position = tallies.accepted
    train.write(data)
    stats.add_outcome()
    counts["accepted"] += 1
    tallies.accepted += 1
    tallies.by_src[data["dataset_src"] or "(empty)"] += 1
    tallies.segment_rules[row.segment_rule] += 1
    if data["refined_caption"]:
        tallies.captions.add(data["refined_caption"])
        tallies.caption_rows.append(position)


def _row_at(out: Path, rows_per_file: list[int], paths: list[str], position: int) -> dict:
    """The accepted row at ``position`` of the series, read back from the row group that holds it."""
    for count, path in zip(rows_per_file, paths):
        if position < count:
            return read_row(out / path, position)
        position -= count
    raise IndexError(position)


def _import_stats(out: Path, train: ParquetSeries, paths: list[str], tallies: _Tallies, config: ImportConfig) -> dict:
    repeats = tallies.captions.repeats(config.max_caption_repeats + 1)
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
