"""``lvd2m build``: videos through the paper's filters into shards, stats and a card."""

from __future__ import annotations

import argparse
import json
import logging

from lvd2m_builder.cli.progress import progress_options
from lvd2m_builder.cli.settings import add_settings, config_from
from lvd2m_builder.cli.summary import build_summary
from lvd2m_builder.errors import UsageError
from lvd2m_builder.inputs.names import is_url

log = logging.getLogger(__name__)


def add(sub) -> None:
    p = sub.add_parser(
        "build",
        help="build a dataset from videos through the paper's filters",
        description="Build a dataset from videos: Parquet files (data/, rejects/) as push_to_hub writes them, "
        "stats.json and a dataset card. "
        "INPUTS are directories (searched recursively), files, globs or fsspec URLs (s3://, http(s)://, ...) of "
        "videos, webdataset .tar shards (KEY.mp4 + KEY.json) and clip tables (.csv/.parquet/.jsonl with a "
        "path/url column and optional spans). "
        "A rerun resumes: clips already in OUT are kept and only new inputs are built. A rerun with changed "
        "thresholds (duration.min_s/max_s, motion.min_score) re-decides the stored rows from their scores and "
        "rebuilds only the clips that need new scores; other setting changes need --overwrite. "
        "Work units of --shard-size clips (the unit of resume) are kept under OUT/_work/ until the build's end, "
        "which compacts them into files of at most --max-shard-size.",
    )
    p.add_argument("inputs", nargs="*", help="video directories, files, globs or URLs; .tar shards; clip tables")
    p.add_argument("--out", required=True,
                   help="output directory (load it with load_dataset(OUT, streaming=True)), or an fsspec URL such as "
                   "s3://bucket/prefix (built in a local mirror and uploaded shard by shard)")
    p.add_argument("--demo", action="store_true",
                   help="build over synthetic sample clips it draws itself (no downloads)")
    add_settings(p)
    p.add_argument("--max-shard-size", metavar="SIZE",
                   help="published Parquet files of at most SIZE uncompressed, e.g. 500MB (default: as last time, "
                   "else 500MB, as push_to_hub)")
    p.add_argument("--embed-videos", action="store_true",
                   help="also write a `videos` config: each accepted row with its clip's bytes (datasets.Video)")
    p.add_argument("--cut-mode", choices=("accurate", "copy"), default="accurate",
                   help="with --embed-videos: re-encode frame-exact clips (default) or copy from keyframes (fast)")
    p.add_argument("--overwrite", action="store_true",
                   help="delete the files lvd2m wrote in OUT first instead of resuming (refused when OUT holds others)")
    p.add_argument("--keep-card", action="store_true", help="leave OUT/README.md as it is (hand edits kept)")
    p.add_argument("--dry-run", action="store_true",
                   help="say what the build would do (inputs found, clips already built, shards to write); write nothing")
    p.add_argument("--json", action="store_true", help="print the summary as one line of JSON (for scripts)")
    progress_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvd2m_builder.materialize.cutter import MaterializeConfig
    from lvd2m_builder.run.build import build
    from lvd2m_builder.testing.samples import default_samples_dir, make_demo_set

    config = config_from(args)
    inputs = list(args.inputs)
    if args.demo:
        inputs += [str(p) for p in make_demo_set(default_samples_dir())]
    if not inputs:
        raise UsageError("build", "give INPUTS or --demo")
    if args.embed_videos and is_url(args.out):
        raise UsageError("build", "--embed-videos needs a local --out (cut the clips there, then copy it)")
    if args.dry_run:
        from lvd2m_builder.run.plan import plan_build

        plan = plan_build(inputs, args.out, config, overwrite=args.overwrite)
        print(json.dumps(plan.to_dict()) if args.json else plan.text())
        return 0
    progress = None if args.progress is None else args.progress  # None: a bar on a terminal only
    embed = MaterializeConfig(mode=args.cut_mode, embed_videos=True, webdataset=False) if args.embed_videos else None
    stats = build(inputs, args.out, config, overwrite=args.overwrite, progress=progress, keep_card=args.keep_card,
                  embed_videos=embed, max_shard_size=args.max_shard_size)
    log.info("%d clips: %d accepted, %d rejected -> %s", stats["clips"], stats["accepted"], stats["rejected"], args.out)
    if args.json:
        keys = ("clips", "accepted", "rejected", "rejected_by_stage", "missing_inputs", "split")
        print(json.dumps({k: stats[k] for k in keys if k in stats}))
    else:
        print(build_summary(stats, args.out))
    return 0
