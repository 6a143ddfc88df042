"""``lvd2m``: the command line, one module per command. Usage errors and unusable outputs exit 2 with one line."""

from __future__ import annotations

import argparse
import logging
import sys

from lvd2m_builder import __version__
from lvd2m_builder.cli import (
    build,
    card,
    dedup,
    export_wds,
    import_tables,
    materialize,
    preview,
    push,
    reshard,
    validate,
)
from lvd2m_builder.errors import Lvd2mError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lvd2m",
        description="Build, validate, publish and stream LVD-2M-style long-take video datasets.",
    )
    p.add_argument("--version", action="version", version=f"lvd2m-builder {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v: progress notes, -vv: debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    build.add(sub)
    reshard.add(sub)
    export_wds.add(sub)
    card.add(sub)
    validate.add(sub)
    push.add(sub)
    import_tables.add(sub)
    materialize.add(sub)
    preview.add(sub)
    dedup.add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except Lvd2mError as e:
        print(f"lvd2m {args.command}: {e}", file=sys.stderr)
        return 2

