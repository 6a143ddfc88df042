"""``lvd2m build``: list inputs, plan shards, run what is not finished yet, publish them as Parquet (compaction),
then write stats and the card."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Iterable, Optional

from tqdm.auto import tqdm

from lvd2m_builder.card.write import write_card
from lvd2m_builder.config import RUN_SETTINGS, BuildConfig
from lvd2m_builder.dedup.run import dedup_dataset
from lvd2m_builder.errors import OutputError, SourceError
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.run.executors import run_shards
from lvd2m_builder.run.logs import bar_disabled
from lvd2m_builder.run.rebuild import rethreshold
from lvd2m_builder.run.stats import merge
from lvd2m_builder.schema import REJECTS_DIR, TRAIN_DIR, WORK_DIR
from lvd2m_builder.store.atomic import remove_temporaries, write_json_atomic
from lvd2m_builder.store.manifest import Manifest, settings_hash
from lvd2m_builder.store.reshard import compact, parse_size, recover
from lvd2m_builder.store.shards import ShardResult, plan_shards, read_keys

log = logging.getLogger(__name__)


def prepare_output(out: Path, overwrite: bool) -> None:
    """Create ``out`` (or empty it with ``overwrite``) and prove it is writable before any work starts."""
    try:
        if overwrite and out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise OutputError(str(out), e.strerror or str(e)) from e


def drop_unrecorded(out: Path, manifest: Manifest) -> None:
    """Delete what a killed run left: temporary files, and work units renamed before the manifest recorded them
    (in ``_work/``, or in ``data/``/``rejects/`` for outputs of older versions).

    The manifest is the truth: a shard file it does not list would duplicate rows when its shard is redone.
    """
    recorded = manifest.files()
    for directory in (f"{WORK_DIR}/{TRAIN_DIR}", f"{WORK_DIR}/{REJECTS_DIR}", TRAIN_DIR, REJECTS_DIR):
        for path in (out / directory).glob("*.arrow"):
            if f"{directory}/{path.name}" not in recorded:
                log.info("removing %s: not recorded as finished", path)
                path.unlink()
        remove_temporaries(out / directory)


def build(inputs: Iterable[str], out: str | Path, config: BuildConfig, overwrite: bool = False,
          progress: Optional[bool] = None, max_shard_size: Optional[str] = None) -> dict:
    """Build ``out`` from ``inputs``; returns the merged stats.

    An existing ``out`` is resumed: clips already in a recorded shard are kept, the rest are built. With changed
    settings, the stored rows are first re-decided where their scores allow (see rebuild.py). The work units
    are compacted at the end into published files of at most ``max_shard_size`` (default: as last time, else
    500MB), so ``out`` is always what ``push`` uploads and ``load_dataset(out)`` reads.
    """
    out = Path(out)
    refs = list_refs(inputs, config.dataset_src)
    if not refs:
        raise SourceError(", ".join(inputs) or "(no inputs)", "no input videos found")
    prepare_output(out, overwrite)
    recover(out)  # a reshard killed half-way is finished (or dropped) before anything reads the shards
    settings = config.settings()
    manifest = Manifest.load(out)
    if manifest is not None and manifest.settings_hash != settings_hash(settings):
        rethreshold(out, manifest, settings, (ref.key for ref in refs))  # or OutputError: needs --overwrite
        manifest = Manifest.load(out)
    manifest = manifest or Manifest(settings_hash(settings), settings)
    manifest.run = {name: value for name, value in config.to_dict().items() if name in RUN_SETTINGS}
    drop_unrecorded(out, manifest)
    done = {key for path in manifest.files() for key in read_keys(out / path)}
    pending = [ref for ref in refs if ref.key not in done]
    todo = plan_shards(pending, config.shard_size, manifest.next_index())
    log.info("%d clips: %d already built, %d to build in %d shards", len(refs), len(refs) - len(pending), len(pending), len(todo))

    bar = tqdm(total=sum(len(s.refs) for s in todo), unit="clip", disable=bar_disabled(progress), dynamic_ncols=True)
    seen = {"clips": 0, "accepted": 0}

    def on_clip(accepted: bool) -> None:
        seen["clips"] += 1
        seen["accepted"] += accepted
        bar.update(1)
        bar.set_postfix(accepted=f"{100 * seen['accepted'] / seen['clips']:.0f}%", refresh=False)

    def on_result(result: ShardResult) -> None:
        manifest.record(result)
        manifest.save(out)

    try:
        run_shards(todo, config, out, on_result, on_clip)
    finally:
        bar.close()
    max_bytes = parse_size(max_shard_size) if max_shard_size else None
    if config.dedup.enabled:  # a pass over the whole dataset, so it runs once every shard is finished; it compacts
        dedup_dataset(out, config.dedup, manifest, max_bytes)
    else:
        compact(out, manifest, max_bytes)
    stats = merge(manifest.stats())
    write_json_atomic(out / "stats.json", stats)
    write_card(out, stats, settings)
    return stats
