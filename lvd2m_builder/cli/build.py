"""``lvd2m build``: videos through the paper's filters into shards, stats and a card."""

from __future__ import annotations

import argparse
import json
import logging

from lvd2m_builder.config import MODEL_PRESETS, PRESETS, load, parse_override
from lvd2m_builder.errors import UsageError

log = logging.getLogger(__name__)


def add(sub) -> None:
    p = sub.add_parser(
        "build",
        help="build a dataset from videos through the paper's filters",
        description="Build Arrow shards (data/, rejects/), stats.json and a dataset card from videos. "
        "INPUTS are directories (searched recursively), files, globs or fsspec URLs (s3://, http(s)://, ...) of "
        "videos, webdataset .tar shards (KEY.mp4 + KEY.json) and clip tables (.csv/.parquet/.jsonl with a "
        "path/url column and optional spans). "
        "A rerun resumes: clips already in OUT are kept and only new inputs are built. A rerun with changed "
        "thresholds (duration.min_s/max_s, motion.min_score) re-decides the stored rows from their scores and "
        "rebuilds only the clips that need new scores; other setting changes need --overwrite.",
    )
    p.add_argument("inputs", nargs="*", help="video directories, files, globs or URLs; .tar shards; clip tables")
    p.add_argument("--out", required=True, help="output directory (load it with load_dataset(OUT, streaming=True))")
    p.add_argument("--demo", action="store_true", help="build over synthetic sample clips made with ffmpeg")
    p.add_argument("--preset", choices=PRESETS, default="paper", help="settings to start from (default: paper)")
    p.add_argument("--config", help="YAML file over the preset; keys are config field names")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                   help="override one setting, e.g. --set motion.min_score=15 (repeatable)")
    p.add_argument("--workers", type=int, help="worker processes (default 1)")
    p.add_argument("--executor", choices=("local", "ray"),
                   help="where shards run: local processes (default) or Ray tasks (pip install 'lvd2m-builder[ray]')")
    p.add_argument("--address", metavar="RAY_ADDRESS",
                   help="--executor ray: the cluster to join, e.g. ray://head:10001 or auto (default: RAY_ADDRESS, "
                   "else a new local Ray)")
    p.add_argument("--clip-timeout", type=float, metavar="SECONDS",
                   help="reject a clip whose worker makes no progress for this long (runs a watched process pool)")
    p.add_argument("--shard-size", type=int, help="clips per shard (default 16)")
    p.add_argument("--motion-backend", choices=("dis", "raft"), help="optical flow backend (default dis)")
    p.add_argument("--models", choices=sorted(MODEL_PRESETS), default="open",
                   help="model ids for the semantic check and captions: open (default) or the paper's open models")
    p.add_argument("--dataset-src", help="value of the dataset_src column (default local)")
    p.add_argument("--embed-videos", action="store_true",
                   help="also write a `videos` config: each accepted row with its clip's bytes (datasets.Video)")
    p.add_argument("--cut-mode", choices=("accurate", "copy"), default="accurate",
                   help="with --embed-videos: re-encode frame-exact clips (default) or copy from keyframes (fast)")
    p.add_argument("--overwrite", action="store_true", help="delete OUT first instead of resuming")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvd2m_builder.run.build import build
    from lvd2m_builder.testing.samples import default_samples_dir, make_demo_set

    overrides = {**MODEL_PRESETS[args.models], **dict(parse_override(text) for text in args.overrides)}
    for flag, name in (("workers", "workers"), ("clip_timeout", "clip_timeout_s"), ("shard_size", "shard_size"),
                       ("motion_backend", "motion.backend"), ("dataset_src", "dataset_src"),
                       ("executor", "executor"), ("address", "ray_address")):
        if getattr(args, flag) is not None:
            overrides[name] = getattr(args, flag)
    config = load(args.config, args.preset, overrides)
    inputs = list(args.inputs)
    if args.demo:
        inputs += [str(p) for p in make_demo_set(default_samples_dir())]
    if not inputs:
        raise UsageError("build", "give INPUTS or --demo")
    stats = build(inputs, args.out, config, overwrite=args.overwrite, progress=not args.no_progress)
    if args.embed_videos:
        from lvd2m_builder.materialize.cutter import MaterializeConfig
        from lvd2m_builder.materialize.run import materialize

        materialize(args.out, config=MaterializeConfig(mode=args.cut_mode, embed_videos=True, webdataset=False),
                    progress=not args.no_progress)
    log.info("%d clips: %d accepted, %d rejected -> %s", stats["clips"], stats["accepted"], stats["rejected"], args.out)
    print(json.dumps({k: stats[k] for k in ("clips", "accepted", "rejected", "rejected_by_stage")}))
    return 0
