"""``lvd2m import``: the released LVD-2M tables into the project's layout."""

from __future__ import annotations

import argparse
import json

from lvd2m_builder.cli.progress import progress_options


def add(sub) -> None:
    p = sub.add_parser("import", help="import the released LVD-2M CSV tables as shards",
                       description="Stream the released LVD-2M tables (hdvg_300k_720p.csv, ytb_600k_720p.csv, "
                       "webvid_1200k_336_short.csv; local paths or fsspec URLs, .gz/.bz2 inferred) into OUT in the "
                       "layout lvd2m build publishes (Parquet). Malformed rows become rejects naming the file and "
                       "line.")
    p.add_argument("tables", nargs="+", metavar="CSV_OR_URL", help="release CSV files or URLs")
    p.add_argument("--out", required=True, help="output directory (load it with load_dataset(OUT, streaming=True))")
    p.add_argument("--max-shard-size", default="500MB", metavar="SIZE",
                   help="published Parquet files of at most SIZE uncompressed (default 500MB, as push_to_hub)")
    p.add_argument("--shard-size", type=int, help="also at most this many rows a file")
    p.add_argument("--max-caption-repeats", type=int, default=5, metavar="N",
                   help="flag in stats.json a refined_caption found on more than N rows (default 5)")
    p.add_argument("--overwrite", action="store_true", help="replace shards already in OUT")
    progress_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvd2m_builder.release.importer import ImportConfig, import_tables

    config = ImportConfig(shard_size=args.shard_size, max_caption_repeats=args.max_caption_repeats,
                          max_shard_size=args.max_shard_size)
    stats = import_tables(args.tables, args.out, config, overwrite=args.overwrite, progress=args.progress)
    repeated = stats["repeated_refined_captions"]
    print(json.dumps({"rows": stats["clips"], "accepted": stats["accepted"], "rejected": stats["rejected"],
                      "repeated_refined_captions": repeated["captions"], "rows_with_repeated_caption": repeated["rows"]}))
    return 0
