"""``lvd2m dedup``: move near-duplicate rows to the rejects."""

from __future__ import annotations

import argparse
import json


def add(sub) -> None:
    p = sub.add_parser("dedup", help="move near-duplicate clips (CLIP embeddings) to the rejects",
                       description="Find accepted rows of OUT whose clip embeddings (embed stage) have cosine >= the "
                       "threshold, across all shards, keep one of each group (the longest clip, then the larger, "
                       "then the smallest key) and move the others to the rejects with stage dedup and a reason "
                       "naming the kept key. Publishes the rows again (the Parquet files are rewritten and swapped in at once); "
                       "updates stats.json and the card. "
                       "Settings default to the build's dedup section.")
    p.add_argument("out", help="a directory written by lvd2m build (with embed.enabled=true)")
    p.add_argument("--threshold", type=float, help="cosine at or above which two clips are one (default 0.95)")
    p.add_argument("--block", type=int, help="rows compared at once (memory: block x block floats; default 4096)")
    p.add_argument("--device", help="auto, cpu or cuda (default auto)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvd2m_builder.dedup.run import dedup_output

    overrides = {name: getattr(args, name) for name in ("threshold", "block", "device") if getattr(args, name) is not None}
    print(json.dumps(dedup_output(args.out, overrides)))
    return 0
