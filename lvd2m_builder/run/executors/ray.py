"""Run the shard function as Ray tasks, one per shard, on a local Ray instance or a cluster.

The task is ``run/shard_task.run_shard`` unchanged, so a Ray build writes the same shards as a local one. A task
asks for one CPU, and one GPU when an enabled stage would run on one (``task_resources``). Shards finish in any
order; the driver collects them with ``ray.wait`` and hands each to ``on_result`` (the manifest) and its clips
to ``on_clip`` (progress), and logs a status line every ``status_every_s``. A task that fails (its worker died,
or the shard raised) is resubmitted, up to ``MAX_SHARD_ATTEMPTS`` times. Workers write the shard files
themselves, so every node must see ``out`` at the same path: one machine, or a shared filesystem.

The local pool's per-clip watchdog (``clip_timeout_s``) and poison-clip isolation need per-clip events from the
worker; Ray tasks report per shard, so under Ray a shard that keeps killing its worker fails the build.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from lvd2m_builder.config import BuildConfig
from lvd2m_builder.errors import MissingDependencyError
from lvd2m_builder.run.shard_task import MAX_SHARD_ATTEMPTS, ShardFailedError, run_shard
from lvd2m_builder.stages.registry import gpu_stages
from lvd2m_builder.store.shards import ShardResult, ShardSpec

log = logging.getLogger(__name__)

STATUS_EVERY_S = 30.0


def _ray():
    try:
        import ray
    except ImportError as e:
        raise MissingDependencyError("ray", "ray") from e
    return ray


def task_resources(config: BuildConfig, cluster_gpus: float) -> dict[str, Any]:
    """Ray resources for one shard task: a GPU when a stage asks for cuda, or says auto on a cluster with GPUs."""
    stages = gpu_stages(config)
    wants_gpu = any(d.startswith("cuda") for d in stages.values()) or (bool(stages) and cluster_gpus > 0)
    return {"num_cpus": 1, "num_gpus": 1 if wants_gpu else 0}


class _Status:
    """The periodic status line: clips/s, accepted share, shards, ETA."""

    def __init__(self, total_clips: int, total_shards: int, every_s: float) -> None:
        self.total_clips, self.total_shards, self.every_s = total_clips, total_shards, every_s
        self.clips = self.accepted = self.shards = 0
        self.started = self.last = time.monotonic()

    def add(self, result: ShardResult) -> None:
        self.clips += result.stats.clips
        self.accepted += result.stats.accepted
        self.shards += 1

    def line(self, running: int) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.clips / elapsed
        left = self.total_clips - self.clips
        eta = str(timedelta(seconds=round(left / rate))) if rate > 0 else "?"
        share = f"{100 * self.accepted / self.clips:.0f}%" if self.clips else "-"
        return (f"ray: {self.clips}/{self.total_clips} clips, {rate:.2f} clips/s, {share} accepted, "
                f"shards {self.shards}/{self.total_shards} done ({running} running), ETA {eta}")

    def tick(self, running: int, force: bool = False) -> None:
        if force or time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            log.info("%s", self.line(running))


def run_ray(specs: list[ShardSpec], config: BuildConfig, out: Path, on_result: Callable[[ShardResult], None],
            on_clip: Callable[[bool], None], status_every_s: float = STATUS_EVERY_S) -> None:
    """Build ``specs`` as Ray tasks; joins ``config.ray_address`` (or RAY_ADDRESS, or a new local Ray)."""
    ray = _ray()
    if not specs:  # a resumed build with nothing left to do starts no cluster
        return
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=config.ray_address)
    if config.clip_timeout_s is not None:
        log.warning("clip_timeout_s is a local-executor watchdog; Ray tasks are not timed per clip")
    try:
        cluster = ray.cluster_resources()
        resources = task_resources(config, cluster.get("GPU", 0))
        unit, have = ("GPU", cluster.get("GPU", 0)) if resources["num_gpus"] else ("CPU", cluster.get("CPU", 1))
        log.info("ray: %d shards as tasks of %s on a cluster with %g %ss", len(specs), resources, have, unit)
        task = ray.remote(run_shard).options(max_retries=0, **resources)  # retries are ours (below)
        _Driver(ray, task, config, str(out), max(2, 2 * int(have)), on_result, on_clip,
                _Status(sum(len(s.refs) for s in specs), len(specs), status_every_s)).run(specs)
    finally:
        if started_here:
            ray.shutdown()


class _Driver:
    """Keeps a window of shard tasks in flight and drains them as they finish."""

    def __init__(self, ray, task, config: BuildConfig, out: str, window: int, on_result, on_clip, status: _Status):
        self.ray, self.task, self.config, self.out, self.window = ray, task, config, out, window
        self.on_result, self.on_clip, self.status = on_result, on_clip, status
        self.running: dict[Any, ShardSpec] = {}
        self.attempts: dict[int, int] = {}

    def run(self, specs: list[ShardSpec]) -> None:
        todo = deque(specs)
        try:
            while todo or self.running:
                while todo and len(self.running) < self.window:
                    spec = todo.popleft()
                    self.running[self.task.remote(spec, self.config, self.out)] = spec
                done, _ = self.ray.wait(list(self.running), num_returns=1, timeout=min(self.status.every_s, 5.0))
                for ref in done:
                    self._finish(ref, todo)
                self.status.tick(len(self.running))
            self.status.tick(0, force=True)
        finally:
            for ref in self.running:
                self.ray.cancel(ref, force=True)

    def _finish(self, ref, todo: deque) -> None:
        spec = self.running.pop(ref)
        try:
            result = self.ray.get(ref)
        except self.ray.exceptions.RayError as e:  # the shard raised, or its worker died
            why = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            self.attempts[spec.index] = self.attempts.get(spec.index, 0) + 1
            log.warning("shard %d failed (attempt %d of %d): %s", spec.index, self.attempts[spec.index],
                        MAX_SHARD_ATTEMPTS, why)
            if self.attempts[spec.index] >= MAX_SHARD_ATTEMPTS:
                raise ShardFailedError(spec.index, why) from e
            todo.appendleft(spec)
            return
        self.on_result(result)
        for accepted in [True] * result.stats.accepted + [False] * (result.stats.clips - result.stats.accepted):
            self.on_clip(accepted)
        self.status.add(result)
