"""``lvd2m validate``: check a dataset (local or on the Hub) against its card and LVD-2M's promises."""

from __future__ import annotations

import argparse
import json


def add(sub) -> None:
    p = sub.add_parser("validate", help="check a built dataset, local or on the Hub; exit 1 on any error",
                       description="Check the card's YAML, configs and features against the shards, unique keys, "
                       "accepted rows against their settings, and captions repeated across clips.")
    p.add_argument("source", metavar="PATH_OR_REPO_ID", help="a local directory or a Hub dataset repo NAME/REPO")
    p.add_argument("--revision", help="Hub branch, tag or commit (default: main)")
    p.add_argument("--max-caption-repeats", type=int, default=5, metavar="N",
                   help="flag a refined_caption found on more than N clips (default 5)")
    p.add_argument("--json", action="store_true", help="the report as JSON, every finding included")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvd2m_builder.validate.run import ValidateConfig, validate

    report = validate(args.source, ValidateConfig(args.max_caption_repeats), args.revision)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.text())
    return 0 if report.ok else 1
