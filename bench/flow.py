"""Optical-flow backends' throughput at the paper's size (520x960): DIS on the CPU against RAFT-large.

RAFT goes through the real loading path (``RaftFlow`` reads ``$TORCH_HOME/hub/checkpoints``); with
``--random-weights`` a random-weight checkpoint is written to a temporary TORCH_HOME first, so the figures hold
for the real model's cost (not its flow). Prints pairs/s for each and the ratio, measured in this one run.

    python bench/flow.py [--device cuda] [--random-weights] [--pairs 64] [--batch 8] [--updates 12]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from lvd2m_builder.models.flow import RAFT_CHECKPOINT, DisFlow, RaftFlow


def frames(count: int, height: int = 520, width: int = 960) -> list[np.ndarray]:
    """A smooth random texture panned 12 px per frame: every pair has the same known motion."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(height // 4, (width + 12 * count) // 4, 3), dtype=np.uint8)
    base = np.kron(base, np.ones((4, 4, 1), dtype=np.uint8))
    return [np.ascontiguousarray(base[:height, 12 * i : 12 * i + width]) for i in range(count)]


def pairs_per_second(backend, pairs, batch: int, sync=lambda: None) -> float:
    backend.mean_magnitudes(pairs[:batch])  # warm-up: kernels, allocator
    sync()
    started = time.perf_counter()
    for lo in range(0, len(pairs), batch):
        backend.mean_magnitudes(pairs[lo : lo + batch])
    sync()
    return len(pairs) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--updates", type=int, default=12)
    args = parser.parse_args()
    clip = frames(args.pairs + 1)
    pairs = list(zip(clip[:-1], clip[1:]))
    dis = pairs_per_second(DisFlow("ultrafast", 0.5), pairs, 1)
    print(f"DIS ultrafast, half size, 1 CPU thread : {dis:8.2f} pairs/s")
    if args.random_weights:
        import torch
        from torchvision.models.optical_flow import raft_large

        home = tempfile.mkdtemp()
        os.environ["TORCH_HOME"] = home
        os.makedirs(os.path.join(home, "hub", "checkpoints"))
        torch.save(raft_large(weights=None).state_dict(), os.path.join(home, "hub", "checkpoints", RAFT_CHECKPOINT))
    raft = RaftFlow(args.batch, args.updates, args.device)
    sync = raft.torch.cuda.synchronize if raft.device.type == "cuda" else (lambda: None)
    rate = pairs_per_second(raft, pairs, args.batch, sync)
    name = raft.torch.cuda.get_device_name() if raft.device.type == "cuda" else "cpu"
    print(f"RAFT-large, {args.updates} updates, batch {args.batch}, {name}: {rate:8.2f} pairs/s  ({rate / dis:.2f}x DIS)")
    print(f"at the paper's 2 fps: {rate / 2 * 60:.0f} video-minutes per minute (RAFT), {dis / 2 * 60:.0f} (DIS, 1 core)")


if __name__ == "__main__":
    main()
