"""``lvd2m export-wds``: the videos config as webdataset tars."""

from __future__ import annotations

import argparse
import json

from lvd2m_builder.cli.aliases import alias


def add(sub) -> None:
    p = sub.add_parser(
        "export-wds",
        help="write the videos config as webdataset tars (KEY.mp4 + KEY.json)",
        description="Write OUT's videos config (from build --embed-videos or materialize --embed-videos) as "
        "webdataset tars that webdataset.WebDataset and load_dataset('webdataset', ...) read.",
    )
    p.add_argument("out", help="an output directory with a videos config")
    p.add_argument("--to", metavar="DIR", help="where the tars go (default OUT/webdataset)")
    alias(p, "--dest", "--to", "to")
    p.add_argument("--per-tar", type=int, default=64, help="clips per tar (default 64)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvd2m_builder.export.command import export_webdataset

    pattern, written = export_webdataset(args.out, args.to, args.per_tar)
    print(json.dumps({"tars": pattern, "clips": written}))
    return 0
