"""Executors run the pipeline: a watched local process pool over the shard function (``run/shard_task.py``),
or a Ray Data stream of actor pools (ray.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from lvd2m_builder.config import BuildConfig
from lvd2m_builder.run.executors.local import OnClip, OnResult, run_local
from lvd2m_builder.store.shards import ShardSpec


def run_shards(specs: list[ShardSpec], config: BuildConfig, out: Path, on_result: OnResult, on_clip: OnClip,
               progress: Optional[bool] = None) -> None:
    """Build ``specs`` on the executor the config names: ``local`` (below) or ``ray`` (ray.py)."""
    if config.executor == "ray":
        from lvd2m_builder.run.executors.ray import run_ray  # an optional extra: imported only when asked for

        run_ray(specs, config, out, on_result, on_clip, progress)
    else:
        run_local(specs, config, out, on_result, on_clip)
