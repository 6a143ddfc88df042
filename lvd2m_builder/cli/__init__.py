"""``lvd2m``: the command line, one module per command. Usage errors and unusable outputs exit 2 with one line."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from lvd2m_builder.memory_pool import prefer_jemalloc

prefer_jemalloc()  # before the commands' modules load pyarrow, which reads its default pool as it loads

from lvd2m_builder import __version__  # noqa: E402
from lvd2m_builder.cli import (  # noqa: E402
    build,
    card,
    dedup,
    env,
    export_wds,
    import_tables,
    info,
    materialize,
    preview,
    push,
    reshard,
    validate,
)
from lvd2m_builder.cli import config as config_cmd  # noqa: E402
from lvd2m_builder.errors import Lvd2mError  # noqa: E402
from lvd2m_builder.run.logs import FORMATS, configure  # noqa: E402

log = logging.getLogger("lvd2m_builder.cli")

#: Commands, in the order ``lvd2m --help`` lists them.
COMMANDS = (build, config_cmd, info, reshard, export_wds, card, validate, push, import_tables, materialize, preview,
            dedup)


def _logging_options(p: argparse.ArgumentParser, suppress: bool) -> None:
    """-v/-q and the log destination; on each command too (``lvd2m build -q ...``), where they default to unset."""
    default = (lambda value: argparse.SUPPRESS) if suppress else (lambda value: value)
    p.add_argument("-v", "--verbose", action="count", default=default(0),
                   help="-v: progress notes and one event per clip, -vv: debug logging")
    p.add_argument("-q", "--quiet", action="store_true", default=default(False), help="errors only")
    p.add_argument("--log-file", default=default(os.environ.get("LVD2M_LOG_FILE")), metavar="PATH",
                   help="append logs to PATH instead of stderr")
    p.add_argument("--log-format", choices=FORMATS, default=default(os.environ.get("LVD2M_LOG_FORMAT", "text")),
                   help="text (default) or json: one JSON object per event (clip key, stage, decision, seconds)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lvd2m",
        description="Build, validate, publish and stream LVD-2M-style long-take video datasets.",
        epilog=env.epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"lvd2m-builder {__version__}")
    _logging_options(p, suppress=False)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add(sub)
    for command_parser in sub.choices.values():
        _logging_options(command_parser, suppress=True)
        command_parser.set_defaults(renamed=[])  # old option spellings used (aliases.py)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    configure(level, args.log_format, args.log_file)
    for old, new in args.renamed:
        log.warning("%s is now %s; the old spelling goes away in a later release", old, new)
    try:
        return args.func(args)
    except Lvd2mError as e:
        print(f"lvd2m {args.command}: {e}", file=sys.stderr)
        return 2
