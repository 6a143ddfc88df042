"""``lvd2m build``: list inputs, plan shards, run what is not finished yet, publish them as Parquet (compaction),
then write stats and the card."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Iterable, Optional

from tqdm.auto import tqdm

from lvd2m_builder.card.write import write_card
from lvd2m_builder.config import RUN_SETTINGS, BuildConfig
from lvd2m_builder.dedup.run import dedup_dataset
from lvd2m_builder.errors import OutputError, SourceError
from lvd2m_builder.inputs.listing import list_refs, missing_inputs
from lvd2m_builder.inputs.names import is_url
from lvd2m_builder.inputs.public import absolute_names
from lvd2m_builder.materialize.cutter import MaterializeConfig
from lvd2m_builder.materialize.freshness import materialize_section, refresh_config
from lvd2m_builder.materialize.run import materialize
from lvd2m_builder.run.executors import run_shards
from lvd2m_builder.run.logs import bar_disabled
from lvd2m_builder.run.rebuild import rethreshold
from lvd2m_builder.run.stats import merge
from lvd2m_builder.store.adopt import open_manifest
from lvd2m_builder.store.atomic import write_json_atomic
from lvd2m_builder.store.manifest import Manifest, settings_hash
from lvd2m_builder.store.output_dir import check_output, inside, prepare_output
from lvd2m_builder.store.remote import RemoteOutput
from lvd2m_builder.store.reshard import compact, parse_size, recover
from lvd2m_builder.store.shards import ShardResult, plan_shards, read_keys

log = logging.getLogger(__name__)


def build(inputs: Iterable[str], out: str | Path, config: BuildConfig, overwrite: bool = False,
          progress: Optional[bool] = None, keep_card: bool = False,
          embed_videos: Optional[MaterializeConfig] = None, max_shard_size: Optional[str] = None) -> dict:
    """Build ``out`` from ``inputs``; returns the merged stats, plus ``missing_inputs`` (named inputs not found).

    An existing ``out`` is resumed: clips already in a shard are kept (shards no manifest records are adopted:
    adopt.py), the rest are built. With changed settings, the stored rows are first re-decided where their scores
    allow (see rebuild.py). ``out`` must be new, empty or an lvd2m output (output_dir.py); nothing under it is read
    as an input. ``keep_card`` leaves README.md as it is. ``embed_videos``: also write the ``videos`` config;
    outputs an earlier materialize made from the accepted rows are made again when those rows changed. ``out`` may
    be an fsspec URL (``s3://bucket/prefix``): the build runs in a local mirror that store/remote.py keeps the
    remote copy in step with, shard by shard. The work units are compacted at the end into published Parquet
    files of at most ``max_shard_size`` (default: as last time, else 500MB), so ``out`` is always what ``push``
    uploads and ``load_dataset(out)`` reads.
    """
    inputs = list(inputs)
    if not is_url(str(out)):
        return _build(inputs, Path(out), config, overwrite, progress, keep_card, embed_videos, max_shard_size)
    with tempfile.TemporaryDirectory(prefix="lvd2m-out-") as mirror:  # a URL: built in a local mirror (remote.py)
        remote = RemoteOutput(str(out), Path(mirror))
        remote.pull(overwrite, keep_card)
        return _build(inputs, Path(mirror), config, False, progress, keep_card, embed_videos, max_shard_size, remote)


def _build(inputs: list[str], out: Path, config: BuildConfig, overwrite: bool, progress: Optional[bool],
           keep_card: bool, embed_videos: Optional[MaterializeConfig], max_shard_size: Optional[str] = None,
           remote: Optional[RemoteOutput] = None) -> dict:
    check_output(out, overwrite, keep_card)  # before any listing: refusals come first and cost nothing
    exclude = remote.url if remote is not None else str(out)  # an output is never read as an input
    fed = [i for i in inputs if inside(i, exclude)]
    if inputs and len(fed) == len(inputs):
        raise SourceError(", ".join(fed), "lies under --out, and an output is never read as an input")
    missing = missing_inputs(inputs)
    refs = list_refs(inputs, config.dataset_src, exclude=exclude, relative=not config.inputs.absolute_paths)
    gone = {os.path.abspath(m.removeprefix("file://")) for m in missing}
    if not [ref for ref in refs if ref.uri not in gone]:
        raise SourceError(", ".join(missing or inputs) or "(no inputs)",
                          "no such file or directory" if missing else "no input videos found")
    if missing:
        log.warning("%d named input(s) do not exist (each a source reject): %s", len(missing), ", ".join(missing))
    prepare_output(out, overwrite, keep_card)
    if remote is not None:
        remote.delete_own()
    recover(out)  # a reshard killed half-way is finished (or dropped) before anything reads the shards
    settings = config.settings()
    card = {k: v for k, v in config.to_dict()["card"].items() if v is not None}
    manifest = open_manifest(out)
    if manifest is not None:
        same_names(out, manifest, settings)
    if manifest is not None and manifest.settings_hash != settings_hash(settings):
        rethreshold(out, manifest, settings, (ref.key for ref in refs))  # or OutputError: needs --overwrite
        manifest = open_manifest(out)
    manifest = manifest or Manifest(settings_hash(settings), settings)
    roots = sorted({*manifest.run.get("input_roots", []), *(ref.root for ref in refs if ref.root is not None)})
    manifest.run = {name: value for name, value in config.to_dict().items() if name in RUN_SETTINGS}
    manifest.run["input_roots"] = roots  # where rows' relative names are found again; local, never published
    manifest.card.update(card)  # card fields persist: a rebuild that sets none keeps the output's
    if remote is not None:
        remote.sync()  # a rebuild's rewritten shards up, a killed build's unrecorded uploads gone
    done = {key for path in manifest.files() for key in read_keys(out / path, "source_key")}
    pending = [ref for ref in refs if ref.key not in done]
    todo = plan_shards(pending, config.shard_size, manifest.next_index())
    log.info("%d clips: %d already built, %d to build in %d shards", len(refs), len(refs) - len(pending), len(pending), len(todo))

    # a split build counts the shots that come out: how many is known only once each video is cut
    total = None if config.cuts.on_cut == "split" else sum(len(s.refs) for s in todo)
    bar = tqdm(total=total, unit="clip", disable=bar_disabled(progress), dynamic_ncols=True)
    seen = {"clips": 0, "accepted": 0}

    def on_clip(accepted: bool) -> None:
        seen["clips"] += 1
        seen["accepted"] += accepted
        bar.update(1)
        bar.set_postfix(accepted=f"{100 * seen['accepted'] / seen['clips']:.0f}%", refresh=False)

    def on_result(result: ShardResult) -> None:
        manifest.record(result)
        manifest.save(out)
        if remote is not None:
            remote.publish(result)

    try:
        run_shards(todo, config, out, on_result, on_clip, progress)
    finally:
        bar.close()
    max_bytes = parse_size(max_shard_size) if max_shard_size else None
    if config.dedup.enabled:  # a pass over the whole dataset, so it runs once every shard is finished; it compacts
        dedup_dataset(out, config.dedup, manifest, max_bytes)
    else:
        compact(out, manifest, max_bytes)
    manifest.save(out)  # card fields, also when no shard ran
    section = materialize_section(out)  # read before stats.json is written again
    stats = merge(manifest.stats())
    write_json_atomic(out / "stats.json", {**stats, "materialize": section} if section else stats)
    redo = refresh_config(out, section, embed_videos)
    if redo is not None:  # writes the card too
        section = section or {}
        materialize(out, section.get("sources"), section.get("mapping"), redo, progress, keep_card)
    elif not keep_card:
        write_card(out, stats, settings)
    if remote is not None:
        remote.sync()
    return {**stats, "missing_inputs": len(missing)}


def same_names(out: Path, manifest: Manifest, settings: dict) -> None:
    """One output names its inputs one way, or a resume would publish old rows' absolute paths beside relative
    names. An output made before ``inputs.absolute_paths`` existed names them absolutely: resumed with it set,
    its manifest gains the setting (its rows and keys are what they would be now); otherwise it is refused."""
    absolute = settings["inputs"]["absolute_paths"]
    if absolute_names(manifest.settings) != absolute:
        raise OutputError(str(out), (
            "its rows name inputs relative to the inputs given; resume it without inputs.absolute_paths=true"
            if absolute else "its rows name inputs by absolute path; resume it with --set inputs.absolute_paths=true"
        ) + ", or pass --overwrite to build it again")
    if "inputs" not in manifest.settings:
        manifest.settings["inputs"] = settings["inputs"]
        manifest.settings_hash = settings_hash(manifest.settings)
