"""``lvd2m build``: list inputs, plan shards, run what is not finished yet, then write stats and the card."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Iterable

from tqdm.auto import tqdm

from .card import write_card
from .config import BuildConfig
from .errors import OutputError, SourceError
from .executors import run_local
from .manifest import Manifest, settings_hash, write_json_atomic
from .shards import ShardResult, plan_shards
from .sources import list_refs
from .stats import merge

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
        for stale in out.glob("*/.*.tmp-*"):  # left by a killed run; never under a final name
            stale.unlink()
    except OSError as e:
        raise OutputError(str(out), e.strerror or str(e)) from e


def build(inputs: Iterable[str], out: str | Path, config: BuildConfig, overwrite: bool = False, progress: bool = True) -> dict:
    """Build ``out`` from ``inputs``; resumes a killed run with the same settings. Returns the merged stats."""
    out = Path(out)
    refs = list_refs(inputs, config.dataset_src)
    if not refs:
        raise SourceError(", ".join(inputs) or "(no inputs)", "no input videos found")
    prepare_output(out, overwrite)
    settings = config.to_dict()
    manifest = Manifest.load(out)
    if manifest is not None and manifest.settings_hash != settings_hash(settings):
        raise OutputError(str(out), "was built with other settings; pass --overwrite to rebuild it from scratch")
    manifest = manifest or Manifest(settings_hash(settings), settings)
    specs = plan_shards(refs, config.shard_size)
    todo = [spec for spec in specs if not manifest.is_done(spec.shard_id, out)]
    log.info("%d clips in %d shards; %d shards to build", len(refs), len(specs), len(todo))

    bar = tqdm(total=sum(len(s.refs) for s in todo), unit="clip", disable=not progress, dynamic_ncols=True)
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
        run_local(todo, config, out, on_result, on_clip)
    finally:
        bar.close()
    stats = merge(manifest.stats())
    write_json_atomic(out / "stats.json", stats)
    write_card(out, stats, settings)
    return stats
