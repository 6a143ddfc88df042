"""``lvd2m``: the command line. Usage errors and unusable outputs exit non-zero with a one-line message."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .config import PRESETS, load, parse_override
from .errors import Lvd2mError

log = logging.getLogger("lvd2m_builder")


def _add_build(sub) -> None:
    p = sub.add_parser(
        "build",
        help="build a dataset from videos through the paper's filters",
        description="Build Arrow shards (data/, rejects/), stats.json and a dataset card from videos. "
        "INPUTS are directories (searched recursively), files, globs or fsspec URLs. "
        "A rerun with the same settings resumes; finished shards are kept.",
    )
    p.add_argument("inputs", nargs="*", help="video directories, files, globs or URLs")
    p.add_argument("--out", required=True, help="output directory (load it with load_dataset(OUT, streaming=True))")
    p.add_argument("--demo", action="store_true", help="build over synthetic sample clips made with ffmpeg")
    p.add_argument("--preset", choices=PRESETS, default="paper", help="settings to start from (default: paper)")
    p.add_argument("--config", help="YAML file over the preset; keys are config field names")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                   help="override one setting, e.g. --set motion.min_score=15 (repeatable)")
    p.add_argument("--workers", type=int, help="worker processes (default 1)")
    p.add_argument("--shard-size", type=int, help="clips per shard (default 16)")
    p.add_argument("--motion-backend", choices=("dis", "raft"), help="optical flow backend (default dis)")
    p.add_argument("--dataset-src", help="value of the dataset_src column (default local)")
    p.add_argument("--overwrite", action="store_true", help="delete OUT first instead of resuming")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_build)


def _build(args: argparse.Namespace) -> int:
    from .build import build
    from .samples import default_samples_dir, make_demo_set

    overrides = dict(parse_override(text) for text in args.overrides)
    for flag, name in (("workers", "workers"), ("shard_size", "shard_size"),
                       ("motion_backend", "motion.backend"), ("dataset_src", "dataset_src")):
        if getattr(args, flag) is not None:
            overrides[name] = getattr(args, flag)
    config = load(args.config, args.preset, overrides)
    inputs = list(args.inputs)
    if args.demo:
        inputs += [str(p) for p in make_demo_set(default_samples_dir())]
    if not inputs:
        raise SystemExit("lvd2m build: give INPUTS or --demo")
    stats = build(inputs, args.out, config, overwrite=args.overwrite, progress=not args.no_progress)
    log.info("%d clips: %d accepted, %d rejected -> %s", stats["clips"], stats["accepted"], stats["rejected"], args.out)
    print(json.dumps({k: stats[k] for k in ("clips", "accepted", "rejected", "rejected_by_stage")}))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lvd2m",
        description="Build, validate, publish and stream LVD-2M-style long-take video datasets.",
    )
    p.add_argument("--version", action="version", version=f"lvd2m-builder {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v: progress notes, -vv: debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_build(sub)
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


if __name__ == "__main__":
    sys.exit(main())
