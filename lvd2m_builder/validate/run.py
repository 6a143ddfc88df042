"""``lvd2m validate``: is a built dataset (local directory or Hub repo) what its card says and what LVD-2M promises?

Checks, in order: the card's YAML parses and declares configs and features; every config's files exist and
every data file belongs to a config; every Parquet file is whole (footer present) with row groups the Hub's
viewer can read; every shard opens with the card's features; keys are unique and never
both accepted and rejected; accepted rows keep the promises of the settings they were built with; no caption
repeats across many clips; embedded clips decode and last as long as their rows say; stats.json counts match.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Optional

import pyarrow.parquet as pq
from datasets import Features

from lvd2m_builder.card.clip_report import min_clip_score
from lvd2m_builder.config import preset
from lvd2m_builder.errors import ConfigError
from lvd2m_builder.publish.limits import HubLimits, large_row_groups, truncated
from lvd2m_builder.store.manifest import MANIFEST
from lvd2m_builder.store.reader import READ_ERRORS, DatasetSource, open_shard, open_source, read_settings
from lvd2m_builder.validate.card import ACCEPTED, REJECTS, VIDEOS, card_configs, config_files
from lvd2m_builder.validate.findings import Report
from lvd2m_builder.validate.rows import RowChecker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidateConfig:
    """``max_caption_repeats``: a refined_caption on more clips than this is an error (the LVD-2M release has one
    caption on about 4,000 clips, from bad API replies). ``row_group_bytes``: the largest Parquet row group
    (uncompressed) the Hub's dataset viewer reads."""

    max_caption_repeats: int = 5
    row_group_bytes: int = HubLimits.row_group_bytes

    def __post_init__(self) -> None:
        if self.max_caption_repeats < 1:
            raise ConfigError("max_caption_repeats", self.max_caption_repeats, "must be >= 1")


def validate(path_or_repo_id: str, config: ValidateConfig = ValidateConfig(), revision: Optional[str] = None,
             token: Optional[str] = None) -> Report:
    source = open_source(path_or_repo_id, revision, token)
    report = Report(source.label)
    configs, features = card_configs(source, report)
    units = _work_units(source)
    files = config_files(source, configs, report, units)
    settings = _dataset_settings(source, report)
    checker = RowChecker(config.max_caption_repeats, settings, min_clip_score(settings), report.findings.append)
    _shards(source, files, features, checker, report, config)
    _format(source, files, units, report)
    _stats(source, report)
    _videos_drift(source, checker, report)
    log.info("validated %s: %d errors, %d warnings", source.label, report.errors, report.warnings)
    return report


def _dataset_settings(source: DatasetSource, report: Report) -> dict[str, Any]:
    """For rows whose provenance holds no settings (imports): the manifest's, else the paper preset's."""
    try:
        settings = read_settings(source)
    except READ_ERRORS as e:
        report.add("settings_unreadable", f"cannot read the build's settings: {e}", "warning")
        settings = None
    return settings or preset("paper").to_dict()


def _shards(source: DatasetSource, files: dict[str, list[str]], features: dict[str, Features],
            checker: RowChecker, report: Report, config: ValidateConfig) -> None:
    for name, rels in files.items():
        report.rows[name] = 0
        for rel in rels:
            report.shards += 1
            if rel.endswith(".parquet") and not _parquet_whole(source, rel, report, config.row_group_bytes):
                continue
            try:
                with open_shard(source, rel) as (found, batches):
                    if name in features and found != features[name]:
                        report.add("features_mismatch", _difference(features[name], found), shard=rel)
                    row_index = 0
                    for batch in batches:
                        checker.batch(name, rel, row_index, batch)
                        row_index += batch.num_rows
                    report.rows[name] += row_index
            except READ_ERRORS as e:  # a finding, not a crash
                report.add("shard_unreadable", f"{type(e).__name__}: {' '.join(str(e).split())[:200]}", shard=rel)
    report.findings.extend(checker.repeats.findings(lambda rel, index: _row_at(source, rel, index)))
    if checker.clip_scores.values:
        report.summary["clip_score"] = checker.clip_scores.summary()
    if checker.borrowed:
        report.add("settings_from_dataset", f"{checker.borrowed} accepted rows name no settings in their "
                   "provenance: checked against the build's settings (manifest, else the paper preset)", "warning")


def _parquet_whole(source: DatasetSource, rel: str, report: Report, row_group_bytes: int) -> bool:
    """Whether the Parquet file has its footer (else it is reported and not read); row groups larger than the
    Hub's viewer reads are reported too (the file still reads)."""
    try:
        with source.fs.open(source.path(rel), "rb") as f:
            head = f.read(4)
            f.seek(max(f.seek(0, 2) - 4, 0))
            if truncated(head, f.read(4)):
                report.add("parquet_truncated", "truncated Parquet file: no footer (PAR1) at its end, as when a "
                           "copy or upload is cut short; write or push it again", shard=rel)
                return False
            f.seek(0)
            metadata = pq.ParquetFile(f).metadata
    except READ_ERRORS as e:
        report.add("shard_unreadable", f"{type(e).__name__}: {' '.join(str(e).split())[:200]}", shard=rel)
        return False
    for group, size in large_row_groups(metadata, row_group_bytes):
        report.add("row_group_too_large", f"row group {group} holds {size} uncompressed bytes, over the "
                   f"{row_group_bytes} the Hub's dataset viewer reads: rewrite it with `lvd2m reshard` "
                   "(push does) so its row groups are smaller", shard=rel)
    return True


def _work_units(source: DatasetSource) -> set[str]:
    """The work units the manifest records (Arrow files beside the published Parquet ones): not data files of the
    card's configs (load_dataset does not read them) but rows not published yet."""
    if not source.exists(MANIFEST):
        return set()
    try:
        units = {rel for entry in json.loads(source.read_text(MANIFEST)).get("shards", {}).values()
                 for rel in (entry["train"], entry["rejects"])}
    except (ValueError, KeyError, TypeError, AttributeError, *READ_ERRORS):
        return set()  # an unreadable manifest: the card and the files speak for themselves
    return units


def _format(source: DatasetSource, files: dict[str, list[str]], units: set[str], report: Report) -> None:
    """Warnings about the layout: Arrow files where the Hub serves Parquet best, finished rows not published."""
    arrow = [rel for rels in files.values() for rel in rels if rel.endswith(".arrow")]
    if arrow:
        report.add("arrow_format", f"{len(arrow)} data files are Arrow: the Hub converts only the first 5 GB of "
                   "non-Parquet data for its viewer and SQL console, and column projection needs Parquet; "
                   "`lvd2m reshard OUT --max-shard-size 500MB` (or `lvd2m push`) rewrites them as Parquet",
                   "warning", shard=arrow[0])
    waiting = sorted(units - {rel for rels in files.values() for rel in rels})
    if waiting:
        report.add("units_unpublished", f"{len(waiting) // 2 or 1} finished work units are not published yet (a "
                   "build was stopped before its end): run the build again, or `lvd2m reshard`", "warning",
                   shard=waiting[0])


def _row_at(source: DatasetSource, rel: str, index: int) -> dict[str, Any]:
    """Row ``index`` of a shard, read again (for the few findings that quote one)."""
    with open_shard(source, rel) as (_, batches):
        for batch in batches:
            if index < batch.num_rows:
                return batch.slice(index, 1).to_pylist()[0]
            index -= batch.num_rows
    raise IndexError(f"{rel} has no row {index}")


def _difference(expected: Features, found: Features) -> str:
    missing = [n for n in expected if n not in found]
    extra = [n for n in found if n not in expected]
    changed = [n for n in expected if n in found and expected[n] != found[n]]
    parts = [f"{label}: {', '.join(names[:5])}" for label, names in
             (("missing", missing), ("unexpected", extra), ("other type", changed)) if names]
    return "shard features differ from the card's (" + "; ".join(parts or ["field order"]) + ")"


def _videos_drift(source: DatasetSource, checker: RowChecker, report: Report) -> None:
    """The ``videos`` config must hold the accepted rows, no other: a build that changed them without making the
    videos again leaves it stale. Accepted rows materialize could not cut (its ``rejected`` count) may be absent."""
    if VIDEOS not in checker.keys or ACCEPTED not in checker.keys:
        return
    videos, accepted = set(checker.keys[VIDEOS]), set(checker.keys[ACCEPTED])
    try:
        uncut = int(json.loads(source.read_text("stats.json"))["materialize"]["rejected"])
    except (*READ_ERRORS, LookupError):
        uncut = 0
    extra, missing = sorted(videos - accepted), sorted(accepted - videos)
    if extra:
        report.add("videos_stale", f"{len(extra)} row(s) of the videos config are not accepted rows (made from "
                   "other rows: run lvd2m materialize OUT --embed-videos, or lvd2m build again)",
                   shard=checker.keys[VIDEOS][extra[0]][0], key=extra[0])
    if len(missing) > uncut:
        report.add("videos_stale", f"{len(missing)} accepted row(s) have no clip in the videos config, and "
                   f"materialize recorded {uncut} it could not cut (run lvd2m materialize OUT --embed-videos, or "
                   "lvd2m build again)", shard=checker.keys[ACCEPTED][missing[0]][0], key=missing[0])


def _stats(source: DatasetSource, report: Report) -> None:
    if not source.exists("stats.json"):
        report.add("stats_missing", "no stats.json", "warning")
        return
    try:
        stats = json.loads(source.read_text("stats.json"))
    except ValueError as e:
        report.add("stats_invalid", f"stats.json does not parse: {e}", shard="stats.json")
        return
    for config, field in ((ACCEPTED, "accepted"), (REJECTS, "rejected")):
        if config in report.rows and stats.get(field) != report.rows[config]:
            report.add("stats_mismatch", f"stats.json says {stats.get(field)} {field}, the {config} shards hold "
                       f"{report.rows[config]} rows", shard="stats.json")
