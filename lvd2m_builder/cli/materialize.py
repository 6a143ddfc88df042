"""``lvd2m materialize``: cut every row's clip out of its source video."""

from __future__ import annotations

import argparse
import json

from lvd2m_builder.cli.progress import progress_options


def add(sub) -> None:
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
    p.add_argument("--keep-card", action="store_true", help="leave DIR/README.md as it is (hand edits kept)")
    progress_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvd2m_builder.materialize.cutter import MaterializeConfig
    from lvd2m_builder.materialize.run import materialize

    config = MaterializeConfig(mode=args.mode, embed_videos=args.embed_videos, webdataset=not args.no_webdataset,
                               shard_size=args.shard_size)
    section = materialize(args.dir, args.sources, args.mapping, config, progress=args.progress,
                          keep_card=args.keep_card)
    print(json.dumps({k: section[k] for k in ("clips", "cut", "rejected", "webdataset", "videos")}))
    return 0
