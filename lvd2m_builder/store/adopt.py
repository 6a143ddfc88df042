"""Make an output's manifest whole again from its shards, so no shard is ever deleted for want of a record.

A shard file can be there without the manifest vouching for it: a worker's rename beat the driver's manifest
write when the build was killed (two workers finishing out of order), the manifest was deleted or never came
along (a copy downloaded from the Hub), or a power loss tore it. Each such file is read and checked (it opens,
its features are the schema's, its keys are unique) and then adopted: recorded with the stats of its own rows,
its keys counted as built. A file whose keys are already recorded elsewhere, or that was built with other
settings than the manifest's, is moved aside to ``.lvd2m-set-aside/`` (never deleted) with a warning, so a
rerun never holds a key twice. A file that does not read is refused with one line naming it: only the user
decides about a damaged file.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pyarrow as pa
from datasets import Features

from lvd2m_builder.errors import ManifestError, OutputError
from lvd2m_builder.schema import REJECT_FEATURES, REJECTS_DIR, ROW_FEATURES, TRAIN_DIR
from lvd2m_builder.store.atomic import remove_temporaries
from lvd2m_builder.store.manifest import MANIFEST, Manifest, settings_hash
from lvd2m_builder.store.shards import AtomicArrow, read_keys, read_table, stats_of

log = logging.getLogger(__name__)

SET_ASIDE = ".lvd2m-set-aside"
_KINDS = {TRAIN_DIR: ("train", ROW_FEATURES), REJECTS_DIR: ("rejects", REJECT_FEATURES)}
_NAME = re.compile(r"(?:train|rejects)-(\d+)-of-(\d+)\.arrow")


@dataclass
class _Shard:
    """One unrecorded shard file, read: its keys and the settings its rows name (None: they name none)."""

    rel: str
    keys: list[str]
    settings: Optional[dict[str, Any]]


def open_manifest(out: Path) -> Optional[Manifest]:
    """``out``'s manifest with every shard file on disk recorded (None: no manifest and no shards)."""
    try:
        manifest = Manifest.load(out)
    except ManifestError as e:
        aside = out / f"{MANIFEST}.unreadable"
        (out / MANIFEST).replace(aside)
        log.warning("%s; kept as %s, and the manifest is rebuilt from the shards", e, aside.name)
        manifest = None
    for directory in (TRAIN_DIR, REJECTS_DIR):
        remove_temporaries(out / directory)  # what killed writers left half-written
    if manifest is not None and _forget_missing(out, manifest):
        manifest.save(out)
    manifest = _published(out, manifest)
    recorded = manifest.files() if manifest is not None else set()
    unrecorded = [f"{d}/{p.name}" for d in (TRAIN_DIR, REJECTS_DIR) for p in sorted((out / d).glob("*.arrow"))
                  if f"{d}/{p.name}" not in recorded]
    if not unrecorded:
        return manifest
    found = [_read(out, rel) for rel in unrecorded]
    if manifest is None:
        settings = _common_settings(out, found)
        manifest = Manifest(settings_hash(settings), settings)
    adopted = _without_conflicts(out, manifest, found)
    _record(out, manifest, adopted)
    manifest.save(out)
    if adopted:
        log.warning("%s: adopted %d shard file(s) no manifest recorded: %s", out, len(adopted),
                    ", ".join(s.rel for s in adopted))
    return manifest


def _published(out: Path, manifest: Optional[Manifest]) -> Optional[Manifest]:
    """Published Parquet files the manifest does not list: with no published set recorded (a copy downloaded from
    the Hub, a lost manifest) they are read, checked and adopted as that set; beside one, they are set aside."""
    listed = {rel for kind in ("train", "rejects") for rel in ((manifest and manifest.published) or {}).get(kind, [])}
    found = {kind: [f"{d}/{p.name}" for p in sorted((out / d).glob("*.parquet")) if f"{d}/{p.name}" not in listed]
             for kind, d in (("train", TRAIN_DIR), ("rejects", REJECTS_DIR))}
    if not any(found.values()):
        return manifest
    if manifest is not None and manifest.published is not None:
        for rel in found["train"] + found["rejects"]:
            _set_aside(out, rel, "a published file the manifest does not list")
        return manifest
    shards = [_read(out, rel) for rel in found["train"] + found["rejects"]]
    if manifest is None:
        settings = _common_settings(out, shards)
        manifest = Manifest(settings_hash(settings), settings)
    manifest.published = {**found, "max_shard_size": None,
                          "stats": stats_of([out / rel for rel in found["train"]],
                                            [out / rel for rel in found["rejects"]]).to_dict()}
    manifest.save(out)
    log.warning("%s: adopted %d published file(s) no manifest listed", out, len(shards))
    return manifest


def _forget_missing(out: Path, manifest: Manifest) -> bool:
    """Drop entries with a file gone (deleted by hand): those clips are built again like any missing clip, and a
    partner file still there is adopted on its own. True when an entry was dropped."""
    gone = {shard_id: rel for shard_id, entry in manifest.shards.items() for rel in (entry["train"], entry["rejects"])
            if not (out / rel).exists()}
    for shard_id, rel in gone.items():
        log.warning("%s: the manifest records %s, which is gone; its clips will be built again", out, rel)
        del manifest.shards[shard_id]
    return bool(gone)


def _read(out: Path, rel: str) -> _Shard:
    """Read and check one shard file: it opens, its features are the schema's, its keys are there and unique."""
    features = _KINDS[rel.split("/")[0]][1]
    try:
        table = read_table(out / rel)
        found = Features.from_arrow_schema(table.schema)
        if found != features:
            raise ValueError("its features are not lvd2m's schema")
        keys = table.column("key").to_pylist()
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as e:
        raise OutputError(str(out / rel), f"is not a shard lvd2m can read ({' '.join(str(e).split())[:160]}), and "
                          "no manifest records it: move it out of the output, then run again") from e
    if None in keys or len(set(keys)) != len(keys):
        raise OutputError(str(out / rel), "holds an empty or repeated key, and no manifest records it: move it "
                          "out of the output, then run again")
    provenance = next((json.loads(p) for p in table.column("provenance").to_pylist() if p), {})
    return _Shard(rel, keys, provenance.get("settings"))


def _common_settings(out: Path, found: list[_Shard]) -> dict[str, Any]:
    """The settings every shard's rows name, for an output that lost its manifest."""
    named = {settings_hash(s.settings): s.settings for s in found if s.settings is not None}
    if len(named) != 1:
        why = "name no build settings" if not named else f"were built with {len(named)} different settings"
        raise OutputError(str(out), f"has shards but no readable {MANIFEST}, and its rows {why}: move the shards "
                          "out of data/ and rejects/ (or pass --overwrite to delete them), then run again")
    return next(iter(named.values()))


def _without_conflicts(out: Path, manifest: Manifest, found: list[_Shard]) -> list[_Shard]:
    """The files that can be adopted; the others (keys already held, other settings) are moved aside."""
    held = {key for rel in sorted(manifest.files()) for key in read_keys(out / rel)}  # published Parquet too
    adopted = []
    for shard in found:
        if shard.settings is not None and settings_hash(shard.settings) != manifest.settings_hash:
            _set_aside(out, shard.rel, "its rows were built with other settings than the manifest's")
        elif held.intersection(shard.keys):
            _set_aside(out, shard.rel, f"{len(held.intersection(shard.keys))} of its keys are already in the output")
        else:
            held.update(shard.keys)
            adopted.append(shard)
    return adopted


def _set_aside(out: Path, rel: str, why: str) -> None:
    """Move a shard out of the dataset without deleting it (the user decides about it)."""
    dest = out / SET_ASIDE / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    (out / rel).replace(dest)
    log.warning("%s: moved %s to %s: %s", out, rel, dest.relative_to(out), why)


def _record(out: Path, manifest: Manifest, adopted: list[_Shard]) -> None:
    """One manifest entry per train/rejects pair (by their shared ``-NNNNN-of-NNNNN`` suffix); a missing partner
    is written empty, since every entry names both files."""
    pairs: dict[str, dict[str, str]] = {}
    for shard in adopted:
        directory, name = shard.rel.split("/")
        match = _NAME.fullmatch(name)
        suffix = f"{match.group(1)}-of-{match.group(2)}" if match else name
        pairs.setdefault(suffix, {})[_KINDS[directory][0]] = shard.rel
    index = manifest.next_index()
    for suffix, pair in sorted(pairs.items()):
        for directory, (kind, features) in _KINDS.items():
            if kind not in pair:
                pair[kind] = f"{directory}/{kind}-{suffix}" + ("" if suffix.endswith(".arrow") else ".arrow")
                AtomicArrow(out / pair[kind], features).commit()
        match = _NAME.fullmatch(Path(pair["train"]).name)
        entry_index = int(match.group(1)) if match else index
        index = max(index, entry_index + 1)
        stats = stats_of([out / pair["train"]], [out / pair["rejects"]])
        manifest.shards[f"adopted-{suffix}"] = {"index": entry_index, "train": pair["train"],
                                                "rejects": pair["rejects"], "stats": stats.to_dict()}
