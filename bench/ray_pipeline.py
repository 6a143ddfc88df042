"""Per-shard tasks against the pipelined stream, on local Ray: clips/s and how busy each keeps the GPU.

The issue's funnel model: a CPU stage that costs ``c`` seconds per clip (fetch, decode, cuts, flow), one clip in
five surviving it, and a GPU stage that costs ``g`` GPU-seconds per survivor. Two ways to run it, same clips:

- per-shard (the old ``--executor ray``): one task per shard holds a CPU and a whole GPU, runs the CPU stage on
  each of its clips, then the GPU stage on the shard's survivors; as many at once as there are GPUs.
- pipelined (``--executor ray`` now): the executor's own ``chain()`` of actor pools, a CPU pool of ``--cpus``
  actors and a GPU pool of one actor per GPU, streamed; survivors reach the GPU in batches from across shards.

``--device sim`` (default): fake GPUs (Ray schedules ``num_gpus`` on a CPU machine); the GPU stage sleeps ``g``
per survivor, and the CPU stage sleeps ``c`` per clip (``--cpu-work busy`` burns it instead, which needs that
many real cores), so a 16-core node is modelled on a small machine. Ray's own costs are real.
``--device cuda``: the GPU stage generates on each real GPU with a Llama-7B-shaped random-weight model in bf16
(lvd2m_builder/testing/tiny_models.py): ``--prompt-tokens`` in, ``--new-tokens`` out per survivor, batched
``--batch`` survivors per call (per-shard: the shard's survivors); the CPU stage is simulated as above.

A run's clock starts once every actor of the run is up (its model loaded) and stops at its last clip: no actor
starts work before then (starting a pool of Python processes on a small shared machine takes longer than the
work itself, and a long build pays it once). GPU-busy is the time GPU stages spent working over the run's
wall time, per GPU. The issue's targets: pipelined
>= 5x per-shard at c=0.6, g=0.5 on 16 CPUs and one GPU, and >= 80% GPU-busy wherever the CPU pool can feed the
GPU (cpus / c >= gpus / (survival x g), in clips/s).

    python bench/ray_pipeline.py                          # three (c, g) points, fake GPU, 16 modelled CPUs
    python bench/ray_pipeline.py --device cuda --quick    # one point, a 7B-shaped model, in a few minutes
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))  # Ray workers
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SURVIVE_EVERY = 5  # clip i survives the CPU stage when i % 5 == 0: 20%, spread evenly over shards
POINTS = {"sim": [(0.6, 0.5), (0.6, 2.0), (0.6, 0.1)], "cuda": [(0.6, None)]}


def cpu_stage(clip: int, cost: float, busy: bool) -> bool:
    """Spend ``cost`` seconds on a clip (sleeping, or burning CPU time); True when it survives."""
    if busy:
        until = time.process_time() + cost
        while time.process_time() < until:
            pass
    else:
        time.sleep(cost)
    return clip % SURVIVE_EVERY == 0


class GpuStage:
    """The GPU stage: ``g`` seconds per survivor asleep (sim), or a 7B-shaped model's ``generate`` (cuda)."""

    def __init__(self, args) -> None:
        self.args = args
        self.model = None
        if args.device == "cuda":
            from lvd2m_builder.testing.tiny_models import random_llm

            self.model, _tokenizer = random_llm("7b", "cuda")

    def __call__(self, survivors: int) -> float:
        """Run on ``survivors`` clips; returns the seconds the GPU worked."""
        if not survivors:
            return 0.0
        started = time.perf_counter()
        if self.model is None:
            time.sleep(self.args.g * survivors)
            return time.perf_counter() - started
        import torch

        ids = torch.randint(100, self.model.config.vocab_size - 100, (survivors, self.args.prompt_tokens),
                            device=self.model.device)
        with torch.inference_mode():
            self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                max_new_tokens=self.args.new_tokens, min_new_tokens=self.args.new_tokens)
        if self.model.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started


class Stopwatch:
    """A start line: the clock starts when all ``actors`` are up (wall-clock time: one machine)."""

    def __init__(self, actors: int) -> None:
        self.waiting = actors
        self.started: float | None = None

    def ready(self) -> None:
        self.waiting -= 1
        if not self.waiting:
            self.started = time.time()

    def start(self) -> float | None:
        return self.started


def wait_for_start(ray, watch) -> None:
    while ray.get(watch.start.remote()) is None:
        time.sleep(0.25)


class ShardWorker:
    """Per-shard mode: holds a GPU; each call runs one shard's CPU stage clip by clip, then its survivors."""

    def __init__(self, args, watch) -> None:
        import ray

        self.args = args
        self.gpu = GpuStage(args)
        ray.get(watch.ready.remote())
        wait_for_start(ray, watch)

    def shard(self, clips: list[int]) -> tuple[int, float]:
        survivors = sum(cpu_stage(clip, self.args.c, self.args.cpu_work == "busy") for clip in clips)
        return len(clips), self.gpu(survivors)


class CpuActor:
    """Pipelined mode, CPU pool: the CPU stage; only survivors go on (rejects leave the stream here)."""

    def __init__(self, args, watch) -> None:
        import ray

        self.args = args
        ray.get(watch.ready.remote())
        wait_for_start(ray, watch)

    def __call__(self, batch):
        import pyarrow as pa

        clips = batch.column("clip").to_pylist()
        kept = [clip for clip in clips if cpu_stage(clip, self.args.c, self.args.cpu_work == "busy")]
        return pa.table({"clip": pa.array(kept, pa.int64())})


class GpuActor:
    """Pipelined mode, GPU pool: the GPU stage on a batch of survivors; reports its busy seconds per row."""

    def __init__(self, args, watch) -> None:
        import ray

        self.gpu = GpuStage(args)
        ray.get(watch.ready.remote())

    def __call__(self, batch):
        import pyarrow as pa

        busy = self.gpu(batch.num_rows)
        return batch.append_column("busy", pa.array([busy / batch.num_rows] * batch.num_rows, pa.float64()))


def per_shard(ray, args, gpus: int) -> tuple[float, float]:
    """(wall seconds, GPU-busy seconds) of the per-shard mode: one worker per GPU, shards handed out as they
    finish."""
    watch = ray.remote(Stopwatch).options(num_cpus=0).remote(gpus)
    workers = [ray.remote(ShardWorker).options(num_cpus=1, num_gpus=1).remote(args, watch) for _ in range(gpus)]
    shards = [list(range(i, min(i + args.shard_size, args.clips))) for i in range(0, args.clips, args.shard_size)]
    running = {w.shard.remote(shards.pop(0)): w for w in workers if shards}
    busy = clips = 0.0
    while running:
        (ref,), _ = ray.wait(list(running), num_returns=1)
        worker = running.pop(ref)
        done, worked = ray.get(ref)
        clips += done
        busy += worked
        if shards:
            running[worker.shard.remote(shards.pop(0))] = worker
    wall = time.time() - ray.get(watch.start.remote())
    for worker in workers:
        ray.kill(worker)  # frees its GPU (and a 7B model's memory) for the other mode
    assert clips == args.clips
    return wall, busy


def pipelined(ray, args, gpus: int) -> tuple[float, float]:
    """(wall seconds, GPU-busy seconds) of the stream through the executor's pools."""
    from lvd2m_builder.run.executors.ray import Pool, chain

    pools = [Pool(("cpu",), 1.0, 0.0, 1, (args.cpus, args.cpus)), Pool(("gpu",), 1.0, 1.0, args.batch, (gpus, gpus))]
    actors = {"cpu": CpuActor, "gpu": GpuActor}
    watch = ray.remote(Stopwatch).options(num_cpus=0).remote(args.cpus + gpus)
    ds = ray.data.from_items([{"clip": i} for i in range(args.clips)], override_num_blocks=args.clips)
    ds = chain(ray, ds, pools, lambda pool, last: (actors[pool.stages[0]], (args, watch)))
    survivors = busy = 0.0
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        survivors += batch.num_rows
        busy += sum(batch.column("busy").to_pylist())
    wall = time.time() - ray.get(watch.start.remote())
    assert survivors == len(range(0, args.clips, SURVIVE_EVERY))
    return wall, busy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("sim", "cuda"), default="sim")
    parser.add_argument("--quick", action="store_true", help="fewer clips (and one point): a few minutes")
    parser.add_argument("--clips", type=int, help="clips per run (default 200, quick 100)")
    parser.add_argument("--cpus", type=int, help="CPU-pool actors (sim default 16; cuda: the machine's CPUs - 2)")
    parser.add_argument("--gpus", type=int, help="GPUs (sim default 1; cuda: every visible GPU)")
    parser.add_argument("--points", help="c:g pairs in seconds, e.g. 0.6:0.5,0.6:2 (cuda: c only; g is measured)")
    parser.add_argument("--cpu-work", choices=("sleep", "busy"), default="sleep")
    parser.add_argument("--shard-size", type=int, default=16)
    parser.add_argument("--batch", type=int, help="survivors per GPU call in the pipelined mode (sim 8, cuda 16)")
    parser.add_argument("--prompt-tokens", type=int, default=1500)
    parser.add_argument("--new-tokens", type=int, default=128)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import ray

    args.clips = args.clips or (100 if args.quick else 200)
    args.batch = args.batch or (16 if args.device == "cuda" else 8)
    if args.device == "cuda":
        import torch

        args.gpus = args.gpus or torch.cuda.device_count()
        if not args.gpus:
            parser.error("--device cuda needs a CUDA GPU (torch sees none); --device sim runs anywhere")
        args.cpus = args.cpus or max(1, (os.cpu_count() or 4) - 2)
        if args.quick:
            args.prompt_tokens, args.new_tokens = min(args.prompt_tokens, 1000), min(args.new_tokens, 64)
        ray.init(num_cpus=args.cpus + 2 * args.gpus, include_dashboard=False, log_to_driver=False)
    else:
        args.gpus, args.cpus = args.gpus or 1, args.cpus or 16
        ray.init(num_cpus=args.cpus + 2 * args.gpus, num_gpus=args.gpus, include_dashboard=False,
                 log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    points = POINTS[args.device][:1] if args.quick else POINTS[args.device]
    if args.points:
        points = [(float(c), float(g) if g else None) for c, _, g in (p.partition(":") for p in args.points.split(","))]
    print(f"{args.clips} clips, 1 in {SURVIVE_EVERY} survive, shards of {args.shard_size}; {args.cpus} CPU actors, "
          f"{args.gpus} {'fake ' if args.device == 'sim' else ''}GPU(s); CPU stage: {args.cpu_work}"
          + (f"; GPU stage: 7B-shaped model, {args.prompt_tokens} prompt + {args.new_tokens} new tokens, batch "
             f"{args.batch}" if args.device == "cuda" else ""))
    try:
        for c, g in points:
            args.c, args.g = c, g
            shard_wall, shard_busy = per_shard(ray, args, args.gpus)
            pipe_wall, pipe_busy = pipelined(ray, args, args.gpus)
            fed = ""
            if g is not None:  # in clips/s: what the CPU pool passes against what the GPUs take
                fed = " (the CPU pool can feed the GPU)" if args.cpus / c >= args.gpus * SURVIVE_EVERY / g else \
                    " (the CPU pool cannot keep the GPU fed)"
            print(f"c={c:g}s g={'measured' if g is None else f'{g:g}s'}{fed}")
            for name, wall, busy in (("per-shard", shard_wall, shard_busy), ("pipelined", pipe_wall, pipe_busy)):
                print(f"  {name:10s} {wall:7.1f} s  {args.clips / wall:6.2f} clips/s  "
                      f"{args.clips / wall / args.gpus:6.2f} clips/s per GPU  GPU busy {100 * busy / wall / args.gpus:5.1f}%")
            print(f"  pipelined / per-shard = {shard_wall / pipe_wall:.2f}x clips/s")
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
