"""The shard function every executor runs: build one shard's clips through the pipeline into its files.

Each process builds its pipeline (and loads its models) once and reuses it for every shard it is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from lvd2m_builder.config import BuildConfig
from lvd2m_builder.errors import Lvd2mError
from lvd2m_builder.records import Rejection
from lvd2m_builder.run.logs import log_clips
from lvd2m_builder.stages.pipeline import Pipeline
from lvd2m_builder.store.shards import ShardResult, ShardSpec, write_shard

_PIPELINES: dict[str, Pipeline] = {}
MAX_SHARD_ATTEMPTS = 5


class ShardFailedError(Lvd2mError, RuntimeError):
    """A shard could not be built after every retry."""

    def __init__(self, index: int, why: str) -> None:
        super().__init__(f"shard {index} failed: {why}", index=index, why=why)


def run_shard(
    spec: ShardSpec,
    config: BuildConfig,
    out: str,
    report: Optional[Callable[[str, str, bool], None]] = None,
    forced: Optional[dict[str, Rejection]] = None,
    scratch: Optional[str] = None,
) -> ShardResult:
    """Build one shard. ``report(event, key, accepted)`` hears "start" and "done" per clip; remote inputs are
    copied into ``scratch`` (the system's temp directory by default)."""
    cache_key = repr((config.to_dict(), scratch))  # not repr(config): ModelConfig masks credentials there
    if cache_key not in _PIPELINES:
        _PIPELINES.clear()
        _PIPELINES[cache_key] = Pipeline(config, scratch)
    pipeline = _PIPELINES[cache_key]

    def refs():
        for ref in spec.refs:
            if report is not None:
                report("start", ref.key, False)
            yield ref

    on_clip = (lambda clip: report("done", clip.ref.key, not clip.rejected)) if report is not None else None
    result = write_shard(spec, log_clips(pipeline(refs(), forced)), Path(out), config.settings(), on_clip)
    result.stats.not_run = dict(pipeline.not_run)
    return result
