"""Compaction and ``lvd2m reshard``: rewrite an output's rows as its published Parquet files, all or nothing.

Work units are not publication units. Every command that changes rows ends here: a build compacts its work units
(with the files published before) into ``data/train-0000i-of-0000N.parquet`` and ``rejects/train-…`` of at most
``max_shard_size`` each (``push_to_hub``'s 500MB by default), so ``OUT`` is at all times what ``push`` uploads,
what ``validate`` checks and what ``load_dataset(OUT)`` reads; rebuild, dedup and reshard rewrite them the same
way. Rows stream through record batch by record batch: a split is never held in memory.

The new files are written in full beside the old ones (``.data.staged/``, ``.rejects.staged/`` and
``_manifest.reshard.json``); then each directory is swapped in by two renames, the manifest last, and the work
units it consumed are deleted. A rewrite killed at any point is finished or rolled back by ``recover`` (which
every build, reshard and push runs first), so a reader never sees old and new rows together.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Optional

import pyarrow as pa
import pyarrow.compute as pc

from lvd2m_builder.card.write import write_card
from lvd2m_builder.errors import ConfigError, ManifestError, OutputError
from lvd2m_builder.run.stats import ShardStats, combine, merge
from lvd2m_builder.schema import (
    LEGACY_PATTERNS,
    REJECT_FEATURES,
    REJECTS_DIR,
    ROW_FEATURES,
    TRAIN_DIR,
    VIDEO_FEATURES,
    VIDEOS_DIR,
)
from lvd2m_builder.store.adopt import open_manifest
from lvd2m_builder.store.atomic import fsync_dir, write_json_atomic
from lvd2m_builder.store.manifest import MANIFEST, Manifest, settings_hash
from lvd2m_builder.store.output_dir import check_card
from lvd2m_builder.store.parquet import DEFAULT_MAX_SHARD_SIZE, ParquetSeries
from lvd2m_builder.store.shards import count_rows, iter_batches, stats_of

log = logging.getLogger(__name__)

STAGED_MANIFEST = "_manifest.reshard.json"
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(text: str) -> int:
    """``500MB`` -> 500_000_000; ``1.5GiB`` -> bytes. Decimal units as the Hub writes them, binary with ``i``.

    Not ``datasets``' ``convert_file_size_to_int``: it refuses ``1.5GB`` and reads ``500mb`` as megabits."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in _UNITS:
        raise ConfigError("--max-shard-size", text, "expected a size such as 500MB or 2GiB")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


DEFAULT_MAX_BYTES = parse_size(DEFAULT_MAX_SHARD_SIZE)


@dataclass(frozen=True)
class Sizing:
    """How published files are cut: ``num_shards`` files per config, else files of ``max_bytes`` at most."""

    max_bytes: int = DEFAULT_MAX_BYTES
    num_shards: Optional[int] = None


def _staged(directory: str) -> str:
    return f".{directory}.staged"


def _old(directory: str) -> str:
    return f".{directory}.old"


def recover(out: Path) -> None:
    """Finish a rewrite whose staged manifest was written, or drop one that was not; then delete the work units
    the current manifest says were consumed (a kill may have come between the swap and their deletion)."""
    staged_manifest = out / STAGED_MANIFEST
    for directory in (TRAIN_DIR, REJECTS_DIR):
        staged, current, old = out / _staged(directory), out / directory, out / _old(directory)
        if not staged_manifest.exists():
            shutil.rmtree(staged, ignore_errors=True)  # killed while writing: the old files stand
            continue
        if staged.exists():
            if current.exists():
                current.rename(old)
            staged.rename(current)
    if staged_manifest.exists():
        staged_manifest.replace(out / MANIFEST)
    fsync_dir(out)  # the swap is durable before the old set goes
    for directory in (TRAIN_DIR, REJECTS_DIR):
        shutil.rmtree(out / _old(directory), ignore_errors=True)
    try:
        manifest = Manifest.load(out)
    except ManifestError:  # torn: adopt.open_manifest rebuilds it from the files, and nothing goes on its word
        manifest = None
    for rel in manifest.consumed if manifest is not None else []:
        (out / rel).unlink(missing_ok=True)


Rows = tuple[Iterable[pa.RecordBatch], Optional[int]]  # record batches, and their row count when sizing needs it


def _write_staged(out: Path, directory: str, rows: Rows, features, sizing: Sizing) -> list[str]:
    batches, total = rows
    quotas = None
    if sizing.num_shards is not None:
        n = sizing.num_shards
        quotas = [total // n + (i < total % n) for i in range(n)]
    shutil.rmtree(out / _staged(directory), ignore_errors=True)  # what a killed rewrite left
    series = ParquetSeries(out, _staged(directory), features, sizing.max_bytes, quotas)
    try:
        series.write_batches(batches)
        names = series.publish()
    except BaseException:
        series.abort()
        raise
    return [f"{directory}/{Path(name).name}" for name in names]


def stage_and_swap(out: Path, settings: dict, train: Rows, rejects: Rows, sizing: Sizing = Sizing(),
                   stats: Optional[ShardStats] = None, wall_seconds: float = 0.0, consumed: Iterable[str] = (),
                   previous: Optional[Manifest] = None) -> Manifest:
    """Write the given rows as the output's published files and swap them in all at once (see the module's doc).

    ``stats``: the rows' stats when the caller knows them; else they are counted from the written rows (with
    ``wall_seconds`` kept). ``consumed``: work unit files whose rows are in ``train``/``rejects``. The
    ``previous`` manifest's card fields and last run are kept."""
    train_files = _write_staged(out, TRAIN_DIR, train, ROW_FEATURES, sizing)
    reject_files = _write_staged(out, REJECTS_DIR, rejects, REJECT_FEATURES, sizing)
    if stats is None:
        staged_path = lambda rel: out / _staged(str(Path(rel).parent)) / Path(rel).name  # noqa: E731
        stats = stats_of(map(staged_path, train_files), map(staged_path, reject_files))
        stats.wall_seconds = wall_seconds  # build time is not a property of rows: keep the total
    staged = Manifest(settings_hash(settings), settings, run=dict(previous.run) if previous else {},
                      card=dict(previous.card) if previous else {}, published={
        "train": train_files, "rejects": reject_files, "stats": stats.to_dict(),
        "max_shard_size": None if sizing.num_shards is not None else sizing.max_bytes,
    }, consumed=sorted(consumed))
    write_json_atomic(out / STAGED_MANIFEST, staged.to_dict())
    recover(out)
    return staged


def as_reject(row: dict, stage: str, reason: str) -> dict:
    """An accepted row moved to the rejects: its common fields and scores kept, with the stage and reason."""
    reject = {name: row.get(name) for name in REJECT_FEATURES}
    reject.update(stage=stage, reason=reason)
    return reject


def _kept(out: Path, files: list[str], moved: pa.Array) -> Iterator[pa.RecordBatch]:
    for batch in iter_batches(out / rel for rel in files):
        yield batch.filter(pc.invert(pc.is_in(batch.column("key"), value_set=moved))) if len(moved) else batch


def _moved(out: Path, files: list[str], moves: Mapping[str, tuple[str, str]]) -> Iterator[pa.RecordBatch]:
    """The moved rows, as rejects, read again from the train files (few rows, so a second pass over the keys)."""
    if not moves:
        return
    moved = pa.array(sorted(moves), pa.string())
    for batch in iter_batches(out / rel for rel in files):
        rows = batch.filter(pc.is_in(batch.column("key"), value_set=moved)).to_pylist()
        if rows:
            yield pa.RecordBatch.from_pylist([as_reject(row, *moves[row["key"]]) for row in rows],
                                             schema=REJECT_FEATURES.arrow_schema)


def compact(out: Path, manifest: Manifest, max_bytes: Optional[int] = None,
            moves: Optional[Mapping[str, tuple[str, str]]] = None, stats: Optional[ShardStats] = None) -> Manifest:
    """Publish every finished row of ``out``: the published files and the work units, as Parquet files of at
    most ``max_bytes`` (default: the size used last, else 500MB). ``moves``: accepted keys to move to the
    rejects as (stage, reason), with ``stats`` the caller's stats after the move. A no-op when there is nothing
    new (no unit, no move, no other size asked for), so a rerun of a finished build rewrites nothing. ``manifest`` is updated
    to the one written (and returned)."""
    published = manifest.published or {}
    if manifest.published is not None and not manifest.shards and not moves and \
            max_bytes in (None, published.get("max_shard_size")):
        return manifest
    max_bytes = max_bytes or published.get("max_shard_size") or DEFAULT_MAX_BYTES
    moves = moves or {}
    train_files, reject_files = manifest.kind_files("train"), manifest.kind_files("rejects")
    moved = pa.array(sorted(moves), pa.string())
    rejects = (batch for source in (iter_batches(out / rel for rel in reject_files), _moved(out, train_files, moves))
               for batch in source)
    result = stage_and_swap(out, manifest.settings, (_kept(out, train_files, moved), None), (rejects, None),
                            Sizing(max_bytes), stats or combine(manifest.stats()), consumed=manifest.unit_files(),
                            previous=manifest)
    log.info("%s: %d train and %d rejects files published (%d work units compacted)", out,
             len(result.published["train"]), len(result.published["rejects"]), len(manifest.shards))
    manifest.shards, manifest.published, manifest.consumed = result.shards, result.published, result.consumed
    return manifest


def convert_legacy_videos(out: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[str]:
    """An older output's ``videos/train-*.arrow`` rewritten as the Parquet ``videos`` config (small row groups);
    the Arrow files are deleted only once the Parquet files are complete, so a killed run just converts again."""
    legacy = sorted(out.glob(LEGACY_PATTERNS["videos"]))
    if not legacy:
        return []
    for stale in (out / VIDEOS_DIR).glob("train-*.parquet"):
        stale.unlink()  # a conversion killed after its renames: the Arrow files are still the truth
    series = ParquetSeries(out, VIDEOS_DIR, VIDEO_FEATURES, max_bytes)
    try:
        series.write_batches(iter_batches(legacy))
        paths = series.publish()
    except BaseException:
        series.abort()
        raise
    for path in legacy:
        path.unlink()
    log.info("%s: %d Arrow videos files converted to %d Parquet files", out, len(legacy), len(paths))
    return paths


def is_current(out: Path, manifest: Optional[Manifest]) -> bool:
    """Whether every finished row of ``out`` is published as Parquet (no work unit waits, no Arrow config)."""
    return (manifest is None or (manifest.published is not None and not manifest.shards)) and \
        not any(next(out.glob(pattern), None) for pattern in LEGACY_PATTERNS.values())


def publish_output(out: Path, max_bytes: Optional[int] = None) -> bool:
    """Bring ``out`` to the published Parquet layout (an older Arrow output is converted, work units a killed
    build left are compacted) and render its card again; returns whether anything was rewritten."""
    recover(out)
    manifest = Manifest.load(out)  # not adopted here: a file the manifest does not list is validate's to report
    if is_current(out, manifest) and (max_bytes is None or manifest is None
                                      or manifest.published.get("max_shard_size") == max_bytes):
        return False
    if manifest is None:
        raise OutputError(str(out), "holds Arrow files but no _manifest.json: not an lvd2m output to convert")
    manifest = compact(out, manifest, max_bytes)
    convert_legacy_videos(out, max_bytes or DEFAULT_MAX_BYTES)
    stats_path = out / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else merge(manifest.stats())
    write_card(out, stats, manifest.settings)
    return True


def reshard(out: str | Path, num_shards: Optional[int] = None, max_shard_size: Optional[str] = None) -> dict:
    """Rewrite ``out``'s published files (an older Arrow output becomes Parquet); returns the unchanged stats
    with the new file counts."""
    out = Path(out)
    if (num_shards is None) == (max_shard_size is None):
        raise ConfigError("reshard", (num_shards, max_shard_size), "give exactly one of --num-shards, --max-shard-size")
    if num_shards is not None and num_shards < 1:
        raise ConfigError("--num-shards", num_shards, "must be >= 1")
    sizing = Sizing(num_shards=num_shards) if num_shards is not None else Sizing(parse_size(max_shard_size))
    recover(out)
    manifest = open_manifest(out) if out.is_dir() else None  # shards no manifest records are adopted, never dropped
    if manifest is None:
        raise OutputError(str(out), "no _manifest.json: not an lvd2m build or import output")
    check_card(out)
    train_files, reject_files = manifest.kind_files("train"), manifest.kind_files("rejects")
    count = (lambda files: sum(count_rows(out / rel) for rel in files)) if num_shards else (lambda files: None)
    result = stage_and_swap(out, manifest.settings, (iter_batches(out / rel for rel in train_files), count(train_files)),
                            (iter_batches(out / rel for rel in reject_files), count(reject_files)), sizing,
                            combine(manifest.stats()), consumed=manifest.unit_files(), previous=manifest)
    convert_legacy_videos(out, sizing.max_bytes)
    stats_path = out / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else merge(result.stats())
    write_card(out, stats, manifest.settings)
    files = {kind: len(result.published[kind]) for kind in ("train", "rejects")}
    log.info("%s: %d clips rewritten into %d train and %d rejects files", out, stats["clips"], files["train"],
             files["rejects"])
    return {**stats, "files": files}
