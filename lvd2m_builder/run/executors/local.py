"""Run the shard function: in this process, or on a local pool of worker processes with a watchdog.

The shard function is the same everywhere; executors only decide where it runs. Each worker builds its pipeline
(and loads its models) once and reuses it for every shard it is given. The pool watches every worker: one that
reports no progress for ``clip_timeout_s`` (a decoder stuck on a broken file) is killed and its clip rejected;
one that dies is replaced (its clip is rejected if a worker dies on it twice), busy or idle. Either way the shard
is redone, so one bad clip costs one reject, never the build. Each worker copies remote inputs into a scratch
directory of its own, removed with it, so a killed worker leaves no copies behind.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import shutil
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Callable, Optional

from lvd2m_builder.config import BuildConfig
from lvd2m_builder.records import Rejection
from lvd2m_builder.run.logs import configure_worker
from lvd2m_builder.run.shard_task import MAX_SHARD_ATTEMPTS, ShardFailedError, run_shard
from lvd2m_builder.stages.registry import gpu_stages
from lvd2m_builder.store.shards import ShardResult, ShardSpec

log = logging.getLogger(__name__)

OnResult = Callable[[ShardResult], None]
OnClip = Callable[[bool], None]


def run_local(specs: list[ShardSpec], config: BuildConfig, out: Path, on_result: OnResult, on_clip: OnClip) -> None:
    """In this process when one worker and no watchdog are asked for; else on a watched process pool."""
    models = gpu_stages(config)
    if config.workers > 1 and models:
        log.warning("each of the %d workers loads its own copy of the %s model(s); on a machine with a GPU, "
                    "--executor ray decodes on a CPU pool and runs one model process per stage (see the README)",
                    config.workers, ", ".join(models))
    if config.workers == 1 and config.clip_timeout_s is None:
        report = lambda event, key, accepted: on_clip(accepted) if event == "done" else None
        for spec in specs:
            on_result(run_shard(spec, config, str(out), report))
        return
    _Pool(config, out, on_result, on_clip).run(specs)


def _worker_main(inbox, events, config: BuildConfig, out: str, log_level: int, scratch: str) -> None:
    """A worker process: build the shards it is sent until it gets None.

    ``events`` is this worker's own pipe: a worker killed mid-message can only break its own channel, never
    a lock shared with the other workers. It logs at its parent's level (a spawned process starts unconfigured).
    """
    configure_worker(log_level)
    report = lambda event, key, accepted: events.send((event, key, accepted))
    while (job := inbox.recv()) is not None:
        spec, forced = job
        try:
            events.send(("result", run_shard(spec, config, out, report, forced, scratch), None))
        except Exception as e:  # a shard-level failure (disk full, say): the pool retries the shard
            events.send(("error", f"{type(e).__name__}: {e}", None))


@dataclass
class _Slot:
    process: mp.Process
    inbox: Connection
    events: Connection
    scratch: str  # where this worker copies remote inputs; removed with the worker
    job: Optional[tuple[ShardSpec, dict]] = None
    broken: bool = False  # its pipe closed: the worker is dead or dying
    clip: Optional[str] = None
    since: float = field(default_factory=time.monotonic)


class _Pool:
    def __init__(self, config: BuildConfig, out: Path, on_result: OnResult, on_clip: OnClip) -> None:
        self.config = config
        self.out = str(out)
        self.on_result = on_result
        self.on_clip = on_clip
        self.context = mp.get_context("spawn")  # fork after torch/decord threads start is unsafe
        self.slots: dict[int, _Slot] = {}
        self.next_id = 0
        self.forced: dict[str, Rejection] = {}
        self.attempts: dict[int, int] = {}
        self.deaths: dict[str, int] = {}
        self.todo: deque[ShardSpec] = deque()

    def run(self, specs: list[ShardSpec]) -> None:
        self.todo.extend(specs)
        try:
            while self.todo or any(slot.job for slot in self.slots.values()):
                self._fill()
                self._drain()
                self._watch()
        finally:
            self._stop()

    def _spawn(self) -> None:
        worker_id, self.next_id = self.next_id, self.next_id + 1
        inbox_read, inbox_write = self.context.Pipe(duplex=False)
        events_read, events_write = self.context.Pipe(duplex=False)
        scratch = tempfile.mkdtemp(prefix=f"lvd2m-worker{worker_id}-")
        process = self.context.Process(
            target=_worker_main,
            args=(inbox_read, events_write, self.config, self.out, logging.getLogger().getEffectiveLevel(), scratch),
            daemon=True,
        )
        process.start()
        inbox_read.close()
        events_write.close()
        self.slots[worker_id] = _Slot(process, inbox_write, events_read, scratch)

    def _fill(self) -> None:
        """Hand queued shards to idle workers, starting workers (up to ``workers``) only for shards left over."""
        idle = sum(slot.job is None and not slot.broken for slot in self.slots.values())
        while len(self.slots) < self.config.workers and len(self.todo) > idle:
            self._spawn()
            idle += 1
        for slot in self.slots.values():
            if slot.job is None and not slot.broken and self.todo:
                spec = self.todo.popleft()
                forced = {r.key: self.forced[r.key] for r in spec.refs if r.key in self.forced}
                try:
                    slot.inbox.send((spec, forced))
                except OSError:  # it died since the last look; the shard never reached it, so no attempt counts
                    slot.broken = True
                    self.todo.appendleft(spec)
                    continue
                slot.job, slot.clip, slot.since = (spec, forced), None, time.monotonic()

    def _drain(self) -> None:
        by_conn = {slot.events: slot for slot in self.slots.values() if not slot.broken}
        for conn in wait(list(by_conn), timeout=0.2):
            try:
                while conn.poll():
                    self._handle(by_conn[conn], *conn.recv())
            except (EOFError, OSError):  # the worker died: no more waiting on its pipe; _watch replaces it
                by_conn[conn].broken = True

    def _handle(self, slot: _Slot, event: str, payload, accepted: bool) -> None:
        slot.since = time.monotonic()
        if event == "start":
            slot.clip = payload
        elif event == "done":
            slot.clip = None
            self.on_clip(accepted)
        elif event == "result":
            slot.job, slot.clip = None, None
            self.on_result(payload)
        elif event == "error":
            spec, slot.job = slot.job[0], None
            self._retry(spec, payload)

    def _watch(self) -> None:
        timeout = self.config.clip_timeout_s
        for worker_id, slot in list(self.slots.items()):
            stalled = slot.job is not None and timeout is not None and time.monotonic() - slot.since > timeout
            if slot.process.is_alive() and not slot.broken and not stalled:
                continue
            if stalled:
                stage, why = "timeout", f"no progress for {timeout:g}s (stuck decoder or model); worker killed"
                slot.process.kill()
            slot.process.join(5)
            if slot.process.is_alive():  # its pipe broke, yet it lingers: it cannot be given work again
                slot.process.kill()
                slot.process.join(5)
            if not stalled:
                stage, why = "worker", f"worker process died (exit code {slot.process.exitcode})"
            self._remove(worker_id)
            if slot.job is None:
                log.warning("an idle %s; replaced", why)
                continue
            log.warning("shard %d: %s while on clip %s", slot.job[0].index, why, slot.clip)
            if slot.clip is not None:
                # A hang rejects its clip at once; a death only when it recurs on the same clip (a poison
                # clip), since a worker can die for reasons of its own (the OOM killer, a preempted node).
                self.deaths[slot.clip] = self.deaths.get(slot.clip, 0) + 1
                if stalled or self.deaths[slot.clip] >= 2:
                    self.forced[slot.clip] = Rejection(stage, why)
            self._retry(slot.job[0], why)

    def _retry(self, spec: ShardSpec, why: str) -> None:
        """Queue the shard again (first, so the build's order holds), up to MAX_SHARD_ATTEMPTS."""
        self.attempts[spec.index] = self.attempts.get(spec.index, 0) + 1
        if self.attempts[spec.index] >= MAX_SHARD_ATTEMPTS:
            raise ShardFailedError(spec.index, why)
        self.todo.appendleft(spec)

    def _remove(self, worker_id: int) -> None:
        """Forget a finished worker: close its pipes and delete the copies it may have left in its scratch."""
        slot = self.slots.pop(worker_id)
        slot.inbox.close()
        slot.events.close()
        shutil.rmtree(slot.scratch, ignore_errors=True)

    def _stop(self) -> None:
        for slot in self.slots.values():
            if slot.process.is_alive():
                try:
                    slot.inbox.send(None)
                except OSError:
                    pass  # it is exiting anyway
        for worker_id, slot in list(self.slots.items()):
            slot.process.join(10)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(5)
            self._remove(worker_id)
