"""Run a build on Ray Data: the pipeline as a stream through actor pools, CPU stages and model stages apart.

The registry cuts the stages into segments (``stages/registry.segments``). Fetch, probe, duration, the one
decode, cuts and motion run on a CPU actor pool sized to the cluster's CPUs; each model stage (CLIP embed with
the pre-filter, the semantic VLM, captions, caption alignment) runs on an actor pool of its own, each actor
holding the stage's declared share of a GPU and its models, loaded once, fed batches of clips from across the
stream. What crosses between pools is a clip with the frames the later stages take (the semantic frames, the
caption grids, the CLIP crops, as uint8), never a full decode, and Ray Data's backpressure bounds how many
wait. A clip rejected in a pool leaves the stream there: it goes to the ledger (an actor the driver drains),
so model batches hold live clips only. This is how NeMo Curator and Cosmos-Curate run video curation on Ray.

The driver writes: finished clips gather into the planned shards, and each shard is written, once its last
clip is in, by the local executor's writer (``store/shards.write_shard``) and recorded in the manifest, so a
stopped driver resumes by key like a local build, and no worker needs to see the output.

Bad input stays a reject: a clip whose CPU stages make no progress for ``clip_timeout_s`` is a ``timeout``
reject (its actor records it and exits; Ray restarts the actor and retries the batch, which then rejects the
clip), and a clip that actors died on twice is a ``worker`` reject (the ledger counts the attempts on a clip
that never finished).
"""

from __future__ import annotations

import faulthandler
import logging
import math
import os
import pickle
import queue
import socket
import threading
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Callable, Iterator, Optional
from urllib.parse import urlsplit

from lvd2m_builder.config import BuildConfig
from lvd2m_builder.errors import ClusterError, ConfigError, MissingDependencyError
from lvd2m_builder.records import Clip
from lvd2m_builder.run.logs import configure_worker, log_clips
from lvd2m_builder.run.shard_task import ShardFailedError
from lvd2m_builder.stages.pipeline import OFF
from lvd2m_builder.stages.registry import REGISTRY, segments
from lvd2m_builder.store.shards import ShardResult, ShardSpec, write_shard

log = logging.getLogger(__name__)

STATUS_EVERY_S = 30.0
CONNECT_TIMEOUT_S = 5.0
#: Of one GPU per CPU actor when RAFT (motion.backend=raft) runs inside the CPU stages: RAFT is small, so many
#: decoding actors share a GPU for it; ``ray_gpus={motion: ...}`` changes it.
DECODE_GPU_SHARE = 0.05
#: Ray Data blocks the clip list is cut into: one clip per block (a dying actor redoes one clip) up to this many.
MAX_INPUT_BLOCKS = 10_000
#: A clip that actors died on this many times is a ``worker`` reject, as in the local pool.
DEATHS = 2
#: When a hang holds the GIL the watchdog thread cannot run; faulthandler's C thread ends the actor this much
#: later instead (counted as a death, so such a clip is a ``worker`` reject after two).
GIL_GRACE_S = 30.0


def _ray():
    try:
        import ray
    except ImportError as e:
        raise MissingDependencyError("ray", "ray") from e
    return ray


@dataclass(frozen=True)
class Pool:
    """One actor pool of the stream: the stages its actors run, what each actor holds, clips per call, and
    how many actors (Ray Data scales between the two)."""

    stages: tuple[str, ...]
    cpus: float
    gpus: float
    batch: int
    actors: tuple[int, int]

    def describe(self) -> str:
        held = f"{self.cpus:g} CPU" + (f" + {self.gpus:g} GPU" if self.gpus else "")
        count = str(self.actors[0]) if self.actors[0] == self.actors[1] else f"{self.actors[0]}-{self.actors[1]}"
        return f"{'+'.join(self.stages)}: {count} actors of {held}, {self.batch} clips per call"


def plan(config: BuildConfig, cluster: dict[str, float], address: str = "local") -> list[Pool]:
    """The pools for ``config`` on a cluster with ``cluster``'s resources (``ray.cluster_resources()``).

    A model stage takes its declared share of a GPU (``ray_gpus`` overrides it) where its device is ``cuda``,
    or ``auto`` on a cluster with GPUs, and scales up to as many actors as the GPUs hold; a model served
    elsewhere (``openai`` backend) or run on CPUs gets one actor. The CPU pool gets the CPUs the model pools
    leave (``ray_cpu_actors`` overrides it); on a machine too small for both, model actors get a fraction of a
    CPU (they mostly wait on their GPU or server).
    """
    gpus, cpus = cluster.get("GPU", 0.0), cluster.get("CPU", 1.0)
    cut = segments(config)
    named = {"motion", *(segment.stages[0] for segment in cut[1:])}
    unknown = sorted(set(config.ray_gpus) - named)
    if unknown:
        raise ConfigError(f"ray_gpus[{unknown[0]!r}]", config.ray_gpus[unknown[0]],
                          f"names no model stage of this build ({', '.join(sorted(named))})")

    def share(stage: str, device: Optional[str], declared: float) -> float:
        if device is None or not (device == "auto" or device.startswith("cuda")):
            return 0.0
        if gpus == 0:
            if device.startswith("cuda"):
                raise ClusterError(address, f"the {stage} stage asks for {device} and the cluster has no GPU "
                                            f"(set its device to auto or cpu)")
            return 0.0
        return config.ray_gpus.get(stage, declared)

    models = []
    for segment in cut[1:]:
        gpu = share(segment.stages[0], segment.device, segment.resources.gpu_share)
        most = max(1, math.floor(gpus / gpu + 1e-9)) if gpu else 1
        models.append(Pool(segment.stages, segment.resources.cpus, gpu, segment.resources.batch, (1, most)))
    # CPUs the model pools may grow into: one actor per GPU each at most (more GPUs, more model actors)
    reserved = sum(p.cpus * min(p.actors[1], max(1, math.ceil(gpus))) for p in models)
    if models and cpus - reserved < 1:
        scale = max(cpus - 1, 0.0) / reserved
        models = [replace(p, cpus=round(p.cpus * scale, 3)) for p in models]
        reserved = cpus - 1
    size = config.ray_cpu_actors or max(1, math.floor(cpus - reserved + 1e-9))
    first = cut[0]
    return [Pool(first.stages, 1.0, share("motion", first.device, DECODE_GPU_SHARE), 1, (size, size)), *models]


def chain(ray, ds, pools: list[Pool], actor: Callable[[Pool, bool], tuple[type, tuple]]):
    """``ds`` through one ``map_batches`` per pool, in order; ``actor(pool, last)`` gives its class and its
    constructor's arguments. Batches are Arrow tables (``batch_format="pyarrow"``)."""
    for i, pool in enumerate(pools):
        cls, args = actor(pool, i == len(pools) - 1)
        ds = ds.map_batches(
            cls, fn_constructor_args=args, batch_size=pool.batch, batch_format="pyarrow",
            num_cpus=pool.cpus, num_gpus=pool.gpus or None,
            compute=ray.data.ActorPoolStrategy(min_size=pool.actors[0], max_size=pool.actors[1]),
        )
    return ds


class _Ledger:
    """What the stream does not carry, for the driver: the clips a pool rejected, the clips an actor died or hung
    on (so that a retried batch rejects them instead of dying on them again), and each pool's stages that do not
    run (weights absent, or off), for stats.json."""

    def __init__(self) -> None:
        self.unfinished: dict[str, int] = {}  # key -> attempts started and never finished (actor deaths)
        self.hung: dict[str, str] = {}
        self.rejected: list[bytes] = []
        self.not_running: dict[tuple[str, ...], dict[str, str]] = {}

    def report(self, stages: tuple[str, ...], not_run: dict[str, str]) -> None:
        self.not_running[tuple(stages)] = dict(not_run)

    def not_run(self) -> tuple[int, dict[str, str]]:
        """How many pools reported, and their stages that do not run."""
        return len(self.not_running), {k: v for part in self.not_running.values() for k, v in part.items()}

    def start(self, keys: list[str]) -> dict[str, tuple[str, str]]:
        """Count an attempt on each key; returns (stage, reason) for those to reject instead of running."""
        forced = {}
        for key in keys:
            if key in self.hung:
                forced[key] = ("timeout", self.hung[key])
            elif self.unfinished.get(key, 0) >= DEATHS:
                forced[key] = ("worker", f"the worker process died {DEATHS} times on this clip")
            else:
                self.unfinished[key] = self.unfinished.get(key, 0) + 1
        return forced

    def done(self, keys: list[str]) -> None:
        for key in keys:
            self.unfinished.pop(key, None)

    def hang(self, key: str, why: str) -> None:
        self.hung[key] = why

    def reject(self, clips: list[bytes]) -> None:
        self.rejected.extend(clips)

    def drain(self) -> list[bytes]:
        rejected, self.rejected = self.rejected, []
        return rejected


class _Segment:
    """One actor of a pool: builds its segment of the pipeline once (its models load here), then runs batches
    of clips through it. The first segment runs clip by clip under the watchdog; model segments by batch."""

    def __init__(self, config: BuildConfig, stages: tuple[str, ...], ledger, last: bool,
                 timeout_s: Optional[float], log_level: int) -> None:
        from lvd2m_builder.stages.pipeline import Pipeline

        configure_worker(log_level)
        self.ray = _ray()
        self.pipeline = Pipeline(config, only=stages)
        self.ray.get(ledger.report.remote(stages, self.pipeline.not_run))
        self.first = "source" in stages
        self.ledger, self.last, self.timeout_s = ledger, last, timeout_s

    def __call__(self, batch):
        import pyarrow as pa

        clips = [pickle.loads(blob) for blob in batch.column("clip").to_pylist()]
        done = self._clip_by_clip(clips) if self.first else self._batch(clips)
        live, rejected = [], []
        for clip in done:
            clip.travel(finished=self.last)
            (rejected if clip.rejected else live).append(pickle.dumps(clip, protocol=5))
        if rejected:  # before this call returns, so the driver has them once the stream ends
            self.ray.get(self.ledger.reject.remote(rejected))
        return pa.table({"clip": pa.array(live, pa.large_binary())})

    def _forced(self, clips: list[Clip]) -> list[Clip]:
        """The clips to run; the ledger's rejects are applied to the others."""
        forced = self.ray.get(self.ledger.start.remote([clip.ref.key for clip in clips]))
        for clip in clips:
            if clip.ref.key in forced:
                clip.reject(*forced[clip.ref.key])
        return [clip for clip in clips if not clip.rejected]

    def _batch(self, clips: list[Clip]) -> list[Clip]:
        run = self._forced(clips)
        out = [clip for clip in clips if clip.rejected] + list(self.pipeline.run(run))
        self.ledger.done.remote([clip.ref.key for clip in run])
        return out

    def _clip_by_clip(self, clips: list[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if self._forced([clip]):
                with self._watchdog(clip.ref.key):
                    clip = next(iter(self.pipeline.run([clip])))
                self.ledger.done.remote([clip.ref.key])
            yield clip

    def _watchdog(self, key: str):
        return _Watchdog(self.timeout_s, lambda why: self.ray.get(self.ledger.hang.remote(key, why)))


def _named(pool: Pool) -> type:
    """A _Segment named for the pool's stages: Ray Data names an operator (its progress bar, its stats) after
    the class, so they read ``MapBatches(semantic)`` rather than five ``MapBatches(_Segment)``."""
    return type("+".join(pool.stages), (_Segment,), {})


class _Watchdog:
    """Within ``timeout_s`` the block must finish, or ``record(why)`` is called and the process exits."""

    def __init__(self, timeout_s: Optional[float], record: Callable[[str], None]) -> None:
        self.timeout_s, self.record = timeout_s, record
        self.timer: Optional[threading.Timer] = None

    def __enter__(self) -> None:
        if self.timeout_s is None:
            return
        self.timer = threading.Timer(self.timeout_s, self._fire)
        self.timer.daemon = True
        self.timer.start()
        faulthandler.dump_traceback_later(self.timeout_s + GIL_GRACE_S, exit=True)

    def __exit__(self, *exc) -> None:
        if self.timer is not None:
            self.timer.cancel()
            faulthandler.cancel_dump_traceback_later()

    def _fire(self) -> None:
        why = f"no progress for {self.timeout_s:g}s (stuck decoder or model); worker killed"
        log.warning("%s: exiting so that Ray restarts this actor", why)
        self.record(why)
        os._exit(1)  # the stuck call cannot be interrupted; Ray restarts the actor and retries the batch


class _Status:
    """The periodic status line: clips/s, accepted share, shards written, ETA."""

    def __init__(self, total_clips: int, total_shards: int, every_s: float) -> None:
        self.total_clips, self.total_shards, self.every_s = total_clips, total_shards, every_s
        self.clips = self.accepted = self.shards = 0
        self.started = self.last = time.monotonic()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.clips / elapsed
        eta = str(timedelta(seconds=round((self.total_clips - self.clips) / rate))) if rate > 0 else "?"
        share = f"{100 * self.accepted / self.clips:.0f}%" if self.clips else "-"
        return (f"ray: {self.clips}/{self.total_clips} clips, {rate:.2f} clips/s, {share} accepted, "
                f"shards {self.shards}/{self.total_shards} written, ETA {eta}")

    def tick(self, force: bool = False) -> None:
        if force or time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            log.info("%s", self.line())


class _Collector:
    """Gathers finished clips, from the stream and the ledger, into their planned shards, and writes each shard
    with the local executor's writer once its last clip is in; a second copy of a clip (a retried batch's) is
    dropped. Shards wait until every pool has said which of its stages do not run (stats.json's ``not_run``);
    ``off``: the stages no pool holds (turned off in the config)."""

    def __init__(self, specs: list[ShardSpec], out: Path, settings: dict, on_result: Callable[[ShardResult], None],
                 on_clip: Callable[[bool], None], status: _Status, pools: int, off: dict[str, str]) -> None:
        self.specs, self.out, self.settings = specs, out, settings
        self.on_result, self.on_clip, self.status = on_result, on_clip, status
        self.pools, self.off = pools, off
        self.shard_of = {ref.key: i for i, spec in enumerate(specs) for ref in spec.refs}
        self.waiting: dict[int, dict[str, Clip]] = {i: {} for i in range(len(specs))}
        self.complete: list[int] = []
        self.not_run: Optional[dict[str, str]] = None
        self.last_write = time.perf_counter()

    def add(self, clip: Clip) -> None:
        i = self.shard_of.get(clip.ref.key)
        if i is None or i not in self.waiting or i in self.complete or clip.ref.key in self.waiting[i]:
            return
        self.waiting[i][clip.ref.key] = clip
        self.on_clip(not clip.rejected)
        self.status.clips += 1
        self.status.accepted += not clip.rejected
        if len(self.waiting[i]) == len(self.specs[i].refs):
            self.complete.append(i)

    def flush(self, ray, ledger, last: bool = False) -> None:
        """Write the complete shards, once the pools' ``not_run`` is known (at the end: as far as it is)."""
        if self.not_run is None and self.complete:
            reported, not_run = ray.get(ledger.not_run.remote())
            if reported >= self.pools or last:
                self.not_run = {**self.off, **not_run}
        if self.not_run is None:
            return
        for i in self.complete:
            spec, clips = self.specs[i], self.waiting.pop(i)
            result = write_shard(spec, log_clips(clips[ref.key] for ref in spec.refs), self.out, self.settings)
            result.stats.not_run = dict(self.not_run)
            now = time.perf_counter()
            result.stats.wall_seconds = now - self.last_write  # the build's time per shard: they add up to its wall time
            self.last_write = now
            self.status.shards += 1
            self.on_result(result)
        self.complete = []

    def drain(self, ray, ds, ledger) -> None:
        """Consume the stream (on a thread) and the ledger until both are done; every clip must come back."""
        arrived: queue.Queue = queue.Queue()

        def consume() -> None:
            try:
                for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                    arrived.put(batch.column("clip").to_pylist())
                arrived.put(None)
            except BaseException as e:  # handed to the driver's thread, which raises it
                arrived.put(e)

        threading.Thread(target=consume, name="lvd2m-ray-stream", daemon=True).start()
        finished = False
        while not finished:
            try:
                item = arrived.get(timeout=1.0)
            except queue.Empty:
                item = []
            if isinstance(item, BaseException):
                raise item
            finished = item is None
            for blob in (item or []) + ray.get(ledger.drain.remote()):
                self.add(pickle.loads(blob))
            self.flush(ray, ledger, last=finished)
            self.status.tick()
        self.status.tick(force=True)
        for i, clips in self.waiting.items():
            missing = len(self.specs[i].refs) - len(clips)
            raise ShardFailedError(self.specs[i].index, f"{missing} of its clips never came back from the Ray pipeline")


def _host_port(address: str) -> tuple[str, int]:
    """``host:port`` of a Ray address (``ray://head:10001``, ``head:6379``, ``head``)."""
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    return parts.hostname or address, parts.port or 6379


def _connect(ray, address: Optional[str]) -> bool:
    """Join ``address`` (or RAY_ADDRESS, or start a local Ray); True when this call started Ray.

    An address that does not answer fails in seconds with a ClusterError: ray.init would retry for minutes.
    """
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address not in (None, "auto", "local"):
        host, port = _host_port(address)
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as e:
            raise ClusterError(address, f"cannot reach {host}:{port} ({e.strerror or e})") from e
    try:
        ray.init(address=address)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise ClusterError(address or "local", str(e).strip().splitlines()[0]) from e
    return True


def _off(config: BuildConfig, pools: list[Pool]) -> dict[str, str]:
    """The registered stages that no pool holds: off in this build's settings."""
    held = {stage for pool in pools for stage in pool.stages}
    return {spec.name: OFF for spec in REGISTRY if spec.name not in held
            and (spec.per_clip or not getattr(config, spec.section).enabled)}


def run_ray(specs: list[ShardSpec], config: BuildConfig, out: Path, on_result: Callable[[ShardResult], None],
            on_clip: Callable[[bool], None], progress: Optional[bool] = None,
            status_every_s: float = STATUS_EVERY_S) -> None:
    """Build ``specs`` as one Ray Data stream; joins ``config.ray_address`` (or RAY_ADDRESS, or a new local Ray).
    ``progress``: Ray Data's progress bars on or off (None: Ray's default)."""
    if not specs:  # a resumed build with nothing left to do starts no cluster
        return
    ray = _ray()
    started_here = _connect(ray, config.ray_address)
    try:
        if progress is not None:
            ray.data.DataContext.get_current().enable_progress_bars = progress
        pools = plan(config, ray.cluster_resources(), config.ray_address or "local")
        log.info("ray: %s", "; ".join(pool.describe() for pool in pools))
        ledger = ray.remote(_Ledger).options(num_cpus=0).remote()
        clips = [pickle.dumps(Clip(ref=ref)) for spec in specs for ref in spec.refs]
        ds = ray.data.from_items([{"clip": blob} for blob in clips], override_num_blocks=min(len(clips), MAX_INPUT_BLOCKS))
        level = logging.getLogger().getEffectiveLevel()
        ds = chain(ray, ds, pools, lambda pool, last: (_named(pool), (
            config, pool.stages, ledger, last, config.clip_timeout_s if "source" in pool.stages else None, level)))
        status = _Status(len(clips), len(specs), status_every_s)
        collector = _Collector(specs, out, config.settings(), on_result, on_clip, status, len(pools), _off(config, pools))
        collector.drain(ray, ds, ledger)
    finally:
        if started_here:
            ray.shutdown()
