"""``lvd2m preview``: a self-contained HTML report of a dataset."""

from __future__ import annotations

import argparse

from lvd2m_builder.cli.aliases import alias
from lvd2m_builder.cli.progress import progress_options


def add(sub) -> None:
    p = sub.add_parser("preview", help="write an HTML report of a dataset to look through in a browser",
                       description="Write a self-contained HTML report (index.html plus thumbs/) of SOURCE: the "
                       "funnel and rejects by reason, the card's histograms, and every clip (accepted or rejected) "
                       "with a contact sheet, its scores, segment captions and decision, to filter, sort and page "
                       "through. Thumbnails are decoded from each row's source (or DIR/clips/KEY.mp4 after lvd2m "
                       "materialize); an unreadable source shows the reason instead.")
    p.add_argument("source", metavar="PATH_OR_REPO_ID", help="a directory written by lvd2m build or import, or a "
                   "Hub dataset repo NAME/REPO")
    p.add_argument("--to", metavar="DIR", help="report directory (default: SOURCE/preview, or NAME--REPO-preview for a "
                   "Hub repo)")
    alias(p, "--out", "--to", "to")
    p.add_argument("--limit", type=int, metavar="N", help="show at most N accepted and N rejected rows")
    p.add_argument("--frames", type=int, default=8, help="thumbnails per clip (default 8)")
    p.add_argument("--thumb-width", type=int, default=160, help="thumbnail width in pixels (default 160)")
    p.add_argument("--page-size", type=int, default=50, help="clips per page (default 50)")
    p.add_argument("--workers", type=int, default=2, help="clips decoded at once (default 2)")
    p.add_argument("--no-thumbs", action="store_true", help="decode nothing: the report without contact sheets")
    p.add_argument("--revision", help="Hub branch, tag or commit (default: main)")
    p.add_argument("--sources", metavar="DIR_OR_URL", help="your copies of the videos, named VIDEO_ID.mp4 (any "
                   "video extension): a Hub repo's clips are read only from its own files or from here")
    p.add_argument("--max-fetch-mb", type=int, default=1024, metavar="MB",
                   help="largest clip fetched from the Hub or a URL (default 1024)")
    progress_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvd2m_builder.preview.report import PreviewConfig, preview

    config = PreviewConfig(frames=args.frames, thumb_width=args.thumb_width, page_size=args.page_size,
                           limit=args.limit, thumbs=not args.no_thumbs, workers=args.workers,
                           max_fetch_bytes=args.max_fetch_mb << 20)
    print(preview(args.source, args.to, config, revision=args.revision, progress=args.progress,
                  sources=args.sources))
    return 0
