"""``lvd2m``: the command line. Usage errors and unusable outputs exit non-zero with a one-line message."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .config import MODEL_PRESETS, PRESETS, load, parse_override
from .errors import ConfigError, Lvd2mError
from .hub_limits import HubLimits

log = logging.getLogger("lvd2m_builder")


def _add_build(sub) -> None:
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
    p.add_argument("--shard-size", type=int, help="clips per work unit, the unit of resume (default 16)")
    p.add_argument("--max-shard-size", metavar="SIZE",
                   help="published Parquet files of at most SIZE uncompressed, e.g. 500MB (default: as last time, "
                   "else 500MB, as push_to_hub)")
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
    p.set_defaults(func=_build)


def _build(args: argparse.Namespace) -> int:
    from .build import build
    from .samples import default_samples_dir, make_demo_set

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
        raise SystemExit("lvd2m build: give INPUTS or --demo")
    stats = build(inputs, args.out, config, overwrite=args.overwrite, progress=not args.no_progress,
                  max_shard_size=args.max_shard_size)
    if args.embed_videos:
        from .clip_cutter import MaterializeConfig
        from .materialize import materialize

        materialize(args.out, config=MaterializeConfig(mode=args.cut_mode, embed_videos=True, webdataset=False),
                    progress=not args.no_progress)
    log.info("%d clips: %d accepted, %d rejected -> %s", stats["clips"], stats["accepted"], stats["rejected"], args.out)
    print(json.dumps({k: stats[k] for k in ("clips", "accepted", "rejected", "rejected_by_stage")}))
    return 0


def _add_card(sub) -> None:
    p = sub.add_parser("card", help="render the dataset card (README.md) and its plots again",
                       description="Render OUT/README.md and OUT/plots/*.png from OUT's stats.json, settings and "
                       "shards (lvd2m build does this at its end).")
    p.add_argument("out", help="a directory written by lvd2m build")
    p.add_argument("--repo-id", help="the id the card's Load snippet names (default: the directory's name)")
    p.set_defaults(func=_card)


def _card(args: argparse.Namespace) -> int:
    from .card import refresh_card

    print(refresh_card(Path(args.out), args.repo_id))
    return 0


def _add_validate(sub) -> None:
    p = sub.add_parser("validate", help="check a built dataset, local or on the Hub; exit 1 on any error",
                       description="Check the card's YAML, configs and features against the shards, unique keys, "
                       "accepted rows against their settings, and captions repeated across clips.")
    p.add_argument("source", metavar="PATH_OR_REPO_ID", help="a local directory or a Hub dataset repo NAME/REPO")
    p.add_argument("--revision", help="Hub branch, tag or commit (default: main)")
    p.add_argument("--max-caption-repeats", type=int, default=5, metavar="N",
                   help="flag a refined_caption found on more than N clips (default 5)")
    p.add_argument("--json", action="store_true", help="the report as JSON, every finding included")
    p.set_defaults(func=_validate)


def _validate(args: argparse.Namespace) -> int:
    from .validate import ValidateConfig, validate

    report = validate(args.source, ValidateConfig(args.max_caption_repeats), args.revision)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.text())
    return 0 if report.ok else 1


def _add_push(sub) -> None:
    p = sub.add_parser("push", help="validate OUT and publish it as a Hub dataset repo",
                       description="Publish OUT as Parquet (an older Arrow output is converted first), check it "
                       "against the Hub's limits and validate it (either failing is refused before any upload), "
                       "create the dataset repo if needed and upload what the repo does not hold yet: the card, "
                       "stats, plots and data files; data files of an earlier push that this one does not hold "
                       "are deleted. A push of more than --files-per-commit files stages on a branch and lands in "
                       "one commit, so the target never shows a half-replaced dataset. A re-run resumes an "
                       "interrupted push. The token comes from --token, HF_TOKEN or `hf auth login`.")
    p.add_argument("out", help="a directory written by lvd2m build or lvd2m import")
    p.add_argument("--repo-id", required=True, help="NAME/REPO, e.g. alice/lvd2m")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--revision", help="branch to push to (created if missing), or refs/pr/N to add to a PR")
    p.add_argument("--create-pr", action="store_true", help="open a pull request instead of pushing to main")
    p.add_argument("--dry-run", action="store_true",
                   help="print what would be added, replaced and deleted, with sizes, and upload nothing")
    p.add_argument("--commit-message", help="the commit's title (default: lvd2m push: N clips, M rejects)")
    p.add_argument("--token", help="a Hugging Face token with write access (default: HF_TOKEN or the saved one); "
                   "never printed")
    p.add_argument("--max-shard-size", metavar="SIZE", help="re-cut the published files to at most SIZE before "
                   "pushing, e.g. 500MB")
    p.add_argument("--files-per-commit", type=int, default=HubLimits.files_per_commit, metavar="N",
                   help=f"files a commit carries (default {HubLimits.files_per_commit}, the Hub's advice); a push "
                   "of more stages on a branch first")
    p.add_argument("--keep-card", action="store_true",
                   help="upload README.md as it is (hand edits kept); by default the card is rendered for --repo-id")
    p.add_argument("--max-caption-repeats", type=int, default=5, metavar="N",
                   help="validation: flag a refined_caption found on more than N clips (default 5)")
    p.set_defaults(func=_push)


def _push(args: argparse.Namespace) -> int:
    from .hub import push
    from .validate import ValidateConfig

    if args.files_per_commit < 1:
        raise ConfigError("--files-per-commit", args.files_per_commit, "must be >= 1")
    result = push(args.out, args.repo_id, private=args.private, revision=args.revision, create_pr=args.create_pr,
                  token=args.token, render=not args.keep_card,
                  validate_config=ValidateConfig(args.max_caption_repeats), dry_run=args.dry_run,
                  commit_message=args.commit_message, max_shard_size=args.max_shard_size,
                  limits=HubLimits(files_per_commit=args.files_per_commit))
    print(result.plan.text() if args.dry_run else result.pr_url or result.commit_url or result.plan.text())
    return 0


def _add_import(sub) -> None:
    p = sub.add_parser("import", help="import the released LVD-2M CSV tables as shards",
                       description="Stream the released LVD-2M tables (hdvg_300k_720p.csv, ytb_600k_720p.csv, "
                       "webvid_1200k_336_short.csv; local paths or fsspec URLs, .gz/.bz2 inferred) into OUT in the "
                       "layout lvd2m build writes. Malformed rows become rejects naming the file and line.")
    p.add_argument("tables", nargs="+", metavar="CSV_OR_URL", help="release CSV files or URLs")
    p.add_argument("--out", required=True, help="output directory (load it with load_dataset(OUT, streaming=True))")
    p.add_argument("--max-shard-size", default="500MB", metavar="SIZE",
                   help="published Parquet files of at most SIZE uncompressed (default 500MB, as push_to_hub)")
    p.add_argument("--shard-size", type=int, help="also at most this many rows a file")
    p.add_argument("--max-caption-repeats", type=int, default=5, metavar="N",
                   help="flag in stats.json a refined_caption found on more than N rows (default 5)")
    p.add_argument("--overwrite", action="store_true", help="replace shards already in OUT")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_import)


def _import(args: argparse.Namespace) -> int:
    from .importers import ImportConfig, import_tables

    config = ImportConfig(shard_size=args.shard_size, max_caption_repeats=args.max_caption_repeats,
                          max_shard_size=args.max_shard_size)
    stats = import_tables(args.tables, args.out, config, overwrite=args.overwrite, progress=not args.no_progress)
    repeated = stats["repeated_refined_captions"]
    print(json.dumps({"rows": stats["clips"], "accepted": stats["accepted"], "rejected": stats["rejected"],
                      "repeated_refined_captions": repeated["captions"], "rows_with_repeated_caption": repeated["rows"]}))
    return 0


def _add_materialize(sub) -> None:
    p = sub.add_parser("materialize", help="cut each row's clip out of your source videos by its span",
                       description="Cut the clip of every row of DIR (from lvd2m import or build) out of its source "
                       "video into DIR/clips/KEY.mp4, and write a webdataset export (DIR/webdataset/) and, with "
                       "--embed-videos, the 'videos' config. Sources are found by video_id (file stem) under "
                       "--sources, through --mapping, or (with neither) at the row's url. A missing or unreadable "
                       "source becomes a reject; the rest goes on.")
    p.add_argument("dir", metavar="DIR", help="a directory written by lvd2m import or lvd2m build")
    p.add_argument("--sources", metavar="SRC_DIR_OR_URL", help="directory or fsspec URL of videos named VIDEO_ID.*")
    p.add_argument("--mapping", metavar="FILE", help="JSON {video_id: path} or CSV with columns video_id,path")
    p.add_argument("--mode", choices=("accurate", "copy"), default="accurate",
                   help="accurate: re-encode, frame-exact (default); copy: keyframe copy, fast, not frame-exact")
    p.add_argument("--embed-videos", action="store_true", help="also write the 'videos' config (clips embedded)")
    p.add_argument("--no-webdataset", action="store_true", help="skip the webdataset export")
    p.add_argument("--shard-size", type=int, default=64, help="clips per tar / videos shard (default 64)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_materialize)


def _materialize(args: argparse.Namespace) -> int:
    from .clip_cutter import MaterializeConfig
    from .materialize import materialize

    config = MaterializeConfig(mode=args.mode, embed_videos=args.embed_videos, webdataset=not args.no_webdataset,
                               shard_size=args.shard_size)
    section = materialize(args.dir, args.sources, args.mapping, config, progress=not args.no_progress)
    print(json.dumps({k: section[k] for k in ("clips", "cut", "rejected", "webdataset", "videos")}))
    return 0


def _add_preview(sub) -> None:
    p = sub.add_parser("preview", help="write an HTML report of a dataset to look through in a browser",
                       description="Write a self-contained HTML report (index.html plus thumbs/) of SOURCE: the "
                       "funnel and rejects by reason, the card's histograms, and every clip (accepted or rejected) "
                       "with a contact sheet, its scores, segment captions and decision, to filter, sort and page "
                       "through. Thumbnails are decoded from each row's source (or DIR/clips/KEY.mp4 after lvd2m "
                       "materialize); an unreadable source shows the reason instead.")
    p.add_argument("source", metavar="PATH_OR_REPO_ID", help="a directory written by lvd2m build or import, or a "
                   "Hub dataset repo NAME/REPO")
    p.add_argument("--out", help="report directory (default: SOURCE/preview, or NAME--REPO-preview for a Hub repo)")
    p.add_argument("--limit", type=int, metavar="N", help="show at most N accepted and N rejected rows")
    p.add_argument("--frames", type=int, default=8, help="thumbnails per clip (default 8)")
    p.add_argument("--thumb-width", type=int, default=160, help="thumbnail width in pixels (default 160)")
    p.add_argument("--page-size", type=int, default=50, help="clips per page (default 50)")
    p.add_argument("--workers", type=int, default=2, help="clips decoded at once (default 2)")
    p.add_argument("--no-thumbs", action="store_true", help="decode nothing: the report without contact sheets")
    p.add_argument("--revision", help="Hub branch, tag or commit (default: main)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_preview)


def _preview(args: argparse.Namespace) -> int:
    from .preview import PreviewConfig, preview

    config = PreviewConfig(frames=args.frames, thumb_width=args.thumb_width, page_size=args.page_size,
                           limit=args.limit, thumbs=not args.no_thumbs, workers=args.workers)
    print(preview(args.source, args.out, config, revision=args.revision, progress=not args.no_progress))
    return 0


def _add_dedup(sub) -> None:
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
    p.set_defaults(func=_dedup)


def _dedup(args: argparse.Namespace) -> int:
    from .embed.dedup_pass import dedup_output

    overrides = {name: getattr(args, name) for name in ("threshold", "block", "device") if getattr(args, name) is not None}
    print(json.dumps(dedup_output(args.out, overrides)))
    return 0


def _add_reshard(sub) -> None:
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
    p.set_defaults(func=_reshard)


def _reshard(args: argparse.Namespace) -> int:
    from .reshard import reshard

    stats = reshard(args.out, args.num_shards, args.max_shard_size)
    print(json.dumps({"clips": stats["clips"], "files": stats["files"]}))
    return 0


def _add_export_wds(sub) -> None:
    p = sub.add_parser(
        "export-wds",
        help="write the videos config as webdataset tars (KEY.mp4 + KEY.json)",
        description="Write OUT's videos config (from build --embed-videos or materialize --embed-videos) as "
        "webdataset tars that webdataset.WebDataset and load_dataset('webdataset', ...) read.",
    )
    p.add_argument("out", help="an output directory with a videos config")
    p.add_argument("--dest", help="where the tars go (default OUT/webdataset)")
    p.add_argument("--per-tar", type=int, default=64, help="clips per tar (default 64)")
    p.set_defaults(func=_export_wds)


def _export_wds(args: argparse.Namespace) -> int:
    from .export_wds import export_webdataset

    pattern, written = export_webdataset(args.out, args.dest, args.per_tar)
    print(json.dumps({"tars": pattern, "clips": written}))
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
    _add_reshard(sub)
    _add_export_wds(sub)
    _add_card(sub)
    _add_validate(sub)
    _add_push(sub)
    _add_import(sub)
    _add_materialize(sub)
    _add_preview(sub)
    _add_dedup(sub)
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
