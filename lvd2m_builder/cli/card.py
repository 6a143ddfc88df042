"""``lvd2m card``: render the dataset card again."""

from __future__ import annotations

import argparse
from pathlib import Path


def add(sub) -> None:
    p = sub.add_parser("card", help="render the dataset card (README.md) and its plots again",
                       description="Render OUT/README.md and OUT/plots/*.png from OUT's stats.json, settings and "
                       "shards (lvd2m build does this at its end).")
    p.add_argument("out", help="a directory written by lvd2m build")
    p.add_argument("--repo-id", help="the id the card's Load snippet names (default: the directory's name)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvd2m_builder.card.write import refresh_card

    print(refresh_card(Path(args.out), args.repo_id))
    return 0
