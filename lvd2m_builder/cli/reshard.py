"""``lvd2m reshard``: rewrite an output's published files (and convert an older Arrow output to Parquet)."""

from __future__ import annotations

import argparse
import json


def add(sub) -> None:
    p = sub.add_parser(
        "reshard",
        help="rewrite an output's published files to N files or files under a size, atomically",
        description="Rewrite OUT's data/ and rejects/ files as Parquet (an older output's Arrow files, its videos "
        "config included, are converted); the rows, the card and validate stay as they were.",
    )
    p.add_argument("out", help="an lvd2m build or import output directory")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--num-shards", type=int, help="this many train and rejects files")
    size.add_argument("--max-shard-size", help="files of at most this size uncompressed, e.g. 500MB or 2GiB")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvd2m_builder.store.reshard import reshard

    stats = reshard(args.out, args.num_shards, args.max_shard_size)
    print(json.dumps({"clips": stats["clips"], "files": stats["files"]}))
    return 0
