"""What Ray costs on one machine: the same build on the local process pool and on a local Ray, same CPUs.

Both runs build the same tiny clips (64x48, 11 s pans, see bench/memory.py) with ``workers`` processes /
``num_cpus`` Ray CPUs, models off. Ray's start-up (``ray.init``) is timed apart from the build, since a cluster
pays it once; the printed ratio is Ray's build time over the local pool's (both include each side's worker
start-up and model loading), and the check that both wrote the same rows.

    python bench/ray_overhead.py [--clips 48] [--workers 2] [--shard-size 8] [--keep DIR]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

from datasets import load_dataset
from memory import make_clips  # bench/ is the script's directory

from lvd2m_builder.config import preset
from lvd2m_builder.run.build import build


def _rows(out: Path) -> list[tuple]:
    """What the build decided and measured per accepted clip (timings and executor settings aside)."""
    rows = load_dataset(str(out), streaming=True)["train"]
    return sorted((r["key"], r["flow_score"], r["duration"], tuple(r["cut_times"])) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=8)
    parser.add_argument("--keep", help="work directory to keep (clips are reused); default: a temporary one")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import ray

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="lvd2m-bench-ray-"))
    try:
        clips = make_clips(work, args.clips)
        config = preset("paper").replace({"semantic.enabled": False, "captions.enabled": False,
                                          "shard_size": args.shard_size, "workers": args.workers})
        started = time.perf_counter()
        build([str(clips)], work / "local", config, overwrite=True, progress=False)
        local = time.perf_counter() - started

        started = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        init = time.perf_counter() - started
        try:
            started = time.perf_counter()
            build([str(clips)], work / "ray", config.replace({"executor": "ray"}), overwrite=True, progress=False)
            on_ray = time.perf_counter() - started
        finally:
            ray.shutdown()
        same = _rows(work / "local") == _rows(work / "ray")
        shards = -(-args.clips // args.shard_size)
        print(f"{args.clips} clips in {shards} shards, {args.workers} CPUs")
        print(f"local process pool ({args.workers} workers) : {local:7.2f} s  ({args.clips / local:.2f} clips/s)")
        print(f"ray stream ({args.workers} CPUs)            : {on_ray:7.2f} s  ({args.clips / on_ray:.2f} clips/s)"
              f"   + ray.init {init:.2f} s")
        print(f"ray / local = {on_ray / local:.2f}x build, {(on_ray + init) / local:.2f}x with ray.init;"
              f" same rows: {same}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
