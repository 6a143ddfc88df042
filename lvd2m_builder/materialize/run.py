"""``lvd2m materialize DIR``: turn an imported (or built) dataset's rows back into clips.

Reads the accepted rows (``DIR/data/train-*.parquet``, or an older output's Arrow files) one record batch at a
time, cuts each clip (``clip_cutter``) into ``DIR/clips/KEY.mp4``, and writes from them a webdataset export
(``DIR/webdataset/train-NNNNN.tar``: KEY.mp4 + KEY.json) and, with ``embed_videos``, the ``videos`` config
(``DIR/videos/train-*.parquet``, ``schema.VIDEO_FEATURES``, files of at most 500MB with row groups of a few
clips), which the card lists. Rows whose clip could not be cut are listed in ``DIR/clips/rejects.jsonl`` (``REJECT_FEATURES``
fields; the row itself stays valid metadata, so it is not a reject of the ``rejects`` config) and counted in
``stats.json["materialize"]``. A rerun reuses clips already cut (``cut_record``) and replaces the outputs it
writes; the new ones are written in a staging directory and replace the old ones only once all are complete, so a
run that fails or is killed leaves the last good outputs in place. An output this run does not write is left as it
was, and the digest of the rows each was made from (freshness.py) says whether it is still current.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, Optional

from tqdm.auto import tqdm

from lvd2m_builder import schema
from lvd2m_builder.card.write import write_card
from lvd2m_builder.errors import OutputError
from lvd2m_builder.export.wds import WDS_DIR, TarSeries
from lvd2m_builder.materialize.cutter import CLIPS_DIR, ClipCutter, MaterializeConfig
from lvd2m_builder.materialize.freshness import OUTPUTS, materialize_section, rows_digest
from lvd2m_builder.materialize.sources import output_index
from lvd2m_builder.run.logs import bar_disabled
from lvd2m_builder.run.stats import ShardStats, merge
from lvd2m_builder.store.adopt import open_manifest
from lvd2m_builder.store.atomic import commit, fsync_dir, temp_path, write_json_atomic
from lvd2m_builder.store.manifest import Manifest
from lvd2m_builder.store.output_dir import check_card, check_replaceable, mark, replace_dir
from lvd2m_builder.store.parquet import ParquetSeries
from lvd2m_builder.store.shards import count_rows, iter_batches

log = logging.getLogger(__name__)

REJECTS_FILE = f"{CLIPS_DIR}/rejects.jsonl"
STAGING_PREFIX = ".materialize.tmp-"


def data_files(out: Path) -> list[Path]:
    """The accepted rows' files: those the manifest lists (an older Arrow output's included), else the card's."""
    manifest = Manifest.load(out)
    if manifest is not None:
        return [out / rel for rel in manifest.kind_files("train")]
    return sorted(out.glob(schema.TRAIN_PATTERN))


def iter_rows(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """The rows of the given shards, in order, a record batch at a time (never all in memory)."""
    for batch in iter_batches(paths):
        yield from batch.to_pylist()


def _staging(out: Path) -> Path:
    """A fresh directory for this run's outputs; one a killed run left is removed (nothing there was published)."""
    for old in out.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(old, ignore_errors=True)
    staging = out / f"{STAGING_PREFIX}{os.getpid()}"
    staging.mkdir()
    return staging


def _replace_outputs(staging: Path, out: Path, writes: list[str]) -> None:
    """This run's outputs, all complete in ``staging``, take the place of the last run's; an output this run
    does not write (``writes``) stays as it was."""
    for name in writes:
        replace_dir(out / name, staging / name, name)
    (out / REJECTS_FILE).parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging / REJECTS_FILE, out / REJECTS_FILE)
    fsync_dir((out / REJECTS_FILE).parent)
    shutil.rmtree(staging)


class _JsonLines:
    """``path`` written under a temporary name, one JSON object a line, renamed by ``commit``."""

    def __init__(self, path: Path) -> None:
        self.path, self.tmp = path, temp_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.tmp, "w", encoding="utf-8")

    def write(self, row: dict) -> None:
        self.file.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")

    def commit(self) -> None:
        self.file.close()
        commit(self.tmp, self.path)

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


def materialize(out: str | Path, sources: Optional[str] = None, mapping: Optional[str] = None,
                config: MaterializeConfig = MaterializeConfig(), progress: Optional[bool] = None,
                keep_card: bool = False) -> dict[str, Any]:
    """Cut every row of ``out`` from its source; returns ``stats.json["materialize"]``. ``keep_card`` leaves
    README.md as it is."""
    out = Path(out)
    manifest = open_manifest(out) if out.is_dir() else None
    paths = data_files(out)
    if manifest is None or not paths:
        raise OutputError(str(out), "holds no imported or built dataset (run lvd2m import or lvd2m build first)")
    writes = [name for name, on in ((schema.VIDEOS_DIR, config.embed_videos), (WDS_DIR, config.webdataset)) if on]
    for name in writes:  # refusals before any work
        check_replaceable(out / name, name)
    if not keep_card:
        check_card(out)
    mark(out)
    index = output_index(out, manifest, sources, mapping)
    previous = materialize_section(out) or {}
    digest = rows_digest(out)
    total = sum(count_rows(p) for p in paths)
    staging = _staging(out)
    videos = ParquetSeries(staging, schema.VIDEOS_DIR, schema.VIDEO_FEATURES)
    rejects = _JsonLines(staging / REJECTS_FILE)
    tars = TarSeries(staging / WDS_DIR, config.shard_size) if config.webdataset else None
    stats, frames = ShardStats(), Counter()
    started = time.perf_counter()
    bar = tqdm(total=total, unit="clip", disable=bar_disabled(progress), dynamic_ncols=True, desc="materialize")
    try:
        for outcome in ClipCutter(index, out / CLIPS_DIR, config)(iter_rows(paths)):
            bar.update(1)
            if outcome.reject is not None:
                rejects.write(outcome.reject)
                stats.add_outcome(outcome.reject["stage"], outcome.reject["reason"])
                continue
            stats.add_outcome()
            row = outcome.row
            off = abs(row["num_frames"] - outcome.expected_frames)
            frames["exact" if off == 0 else "off_by_one" if off == 1 else "more"] += 1
            if config.embed_videos or tars is not None:
                video = outcome.clip.read_bytes()
                if config.embed_videos:
                    videos.write({**row, "video": {"bytes": video, "path": None}})
                if tars is not None:
                    tars.write(row["key"], video, row)
        rejects.commit()
        video_paths = videos.publish() if config.embed_videos else []
        pattern = tars.close() if tars is not None else None
        _replace_outputs(staging, out, writes)
    except BaseException:
        videos.abort()
        rejects.abort()
        if tars is not None:
            tars.abort()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        bar.close()
    for name in OUTPUTS:
        if name not in writes and (out / name).is_dir() and (previous.get("rows") or {}).get(name) != digest:
            log.warning("%s/%s was made from other rows by an earlier run and is kept as it was: rerun with it "
                        "asked for to bring it up to date (lvd2m build does so by itself)", out, name)
    stats.wall_seconds = time.perf_counter() - started
    merged = merge([stats])
    section = {
        "mode": config.mode,
        "clips": merged["clips"],
        "cut": merged["accepted"],
        "rejected": merged["rejected"],
        "rejected_by_reason": merged["rejected_by_reason"],
        "frame_count_vs_round_duration_x_fps": dict(frames),
        "clips_dir": CLIPS_DIR,
        "rejects": REJECTS_FILE,
        "webdataset": pattern if config.webdataset else previous.get("webdataset"),
        "videos": video_paths if config.embed_videos else previous.get("videos", []),
        "rows": {**{k: v for k, v in (previous.get("rows") or {}).items() if k not in writes},
                 **dict.fromkeys(writes, digest)},
        "sources": sources,
        "mapping": mapping,
        "wall_seconds": merged["wall_seconds"],
    }
    _update_stats_and_card(out, manifest, section, keep_card)
    log.info("materialized %d of %d clips (%d rejected) -> %s", section["cut"], section["clips"],
             section["rejected"], out)
    return section


def _update_stats_and_card(out: Path, manifest: Manifest, section: dict, keep_card: bool) -> None:
    """stats.json gains a ``materialize`` section; the card is rendered again (it lists the ``videos`` config
    when ``videos/`` holds shards)."""
    stats_path = out / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else merge(manifest.stats())
    stats["materialize"] = section
    write_json_atomic(stats_path, stats)
    if not keep_card:
        write_card(out, stats, manifest.settings)
