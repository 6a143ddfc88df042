"""Run shard functions: in this process, or on a local process pool with clip-level progress.

The shard function is the same everywhere; executors only decide where it runs. Each worker process builds its
pipeline (and loads its models) once and reuses it for every shard it is given.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Callable, Optional

from .config import BuildConfig
from .pipeline import Pipeline
from .shards import ShardResult, ShardSpec, write_shard

log = logging.getLogger(__name__)

_PIPELINES: dict[str, Pipeline] = {}


def run_shard(
    spec: ShardSpec, config: BuildConfig, out: str, report: Optional[Callable[[bool], None]] = None
) -> ShardResult:
    """Build one shard; ``report`` hears accepted/rejected per clip. The pipeline is cached per process."""
    cache_key = repr(config)
    if cache_key not in _PIPELINES:
        _PIPELINES.clear()
        _PIPELINES[cache_key] = Pipeline(config)
    pipeline = _PIPELINES[cache_key]
    on_clip = (lambda clip: report(not clip.rejected)) if report is not None else None
    return write_shard(spec, pipeline(spec.refs), Path(out), config.to_dict(), on_clip)


def run_local(
    specs: list[ShardSpec],
    config: BuildConfig,
    out: Path,
    on_result: Callable[[ShardResult], None],
    on_clip: Callable[[bool], None],
) -> None:
    """Run every shard; ``on_result`` sees each finished shard (in completion order) in this process."""
    if config.workers == 1 or len(specs) == 1:
        for spec in specs:
            on_result(run_shard(spec, config, str(out), on_clip))
        return
    context = mp.get_context("spawn")  # fork after torch/decord threads start is unsafe
    with context.Manager() as manager, ProcessPoolExecutor(config.workers, mp_context=context) as pool:
        events = manager.Queue()
        pending = {pool.submit(run_shard, spec, config, str(out), events.put) for spec in specs}
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(events, on_clip)
            for future in done:
                on_result(future.result())
        _drain(events, on_clip)


def _drain(events, on_clip: Callable[[bool], None]) -> None:
    while True:
        try:
            on_clip(events.get_nowait())
        except queue.Empty:
            return
