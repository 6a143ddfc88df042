"""Where a row's source video is: file stems under a directory or URL, a mapping file, or the row's own url.

LVD-2M names sources by ``video_id`` (a YouTube id; WebVid's id), so a directory of downloaded videos named
``VIDEO_ID.mp4`` (any video extension) needs no mapping. Rows built by ``lvd2m build`` carry their file's path in
``url``, so without ``--sources`` the url itself is the source.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from typing import Optional

from lvd2m_builder.errors import SourceError
from lvd2m_builder.inputs.listing import list_uris

log = logging.getLogger(__name__)


class SourceIndex:
    """``video_id`` -> source URI."""

    def __init__(self, sources: Optional[str] = None, mapping: Optional[str] = None,
                 exclude: Optional[str] = None) -> None:
        """``exclude``: the dataset's own directory, whose clips are never taken for sources."""
        self.by_id: dict[str, str] = {}
        self.use_url = sources is None and mapping is None
        if sources is not None:
            for uri in list_uris([sources], exclude=exclude):
                stem = uri.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
                if self.by_id.setdefault(stem, uri) != uri:
                    log.warning("two sources for video_id %s; using %s", stem, self.by_id[stem])
        if mapping is not None:
            self.by_id.update(_read_mapping(mapping))

    def lookup(self, row: dict) -> Optional[str]:
        """The row's source; a ``video_id`` is matched without the spaces a table may leave around it."""
        return row.get("url") if self.use_url else self.by_id.get((row.get("video_id") or "").strip())


def _read_mapping(path: str) -> dict[str, str]:
    """A JSON object ``{video_id: path}`` or a CSV with columns ``video_id`` and ``path``; relative to the file."""
    base = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, newline="", encoding="utf-8") as f:
            if path.endswith(".json"):
                pairs = json.load(f).items()
            else:
                pairs = [(r["video_id"], r["path"]) for r in csv.DictReader(f)]
    except (OSError, ValueError, KeyError, AttributeError) as e:
        raise SourceError(path, f"not a mapping file (JSON object or CSV video_id,path): {e}") from e
    return {str(k).strip(): v if "://" in v or os.path.isabs(v) else os.path.join(base, v) for k, v in pairs}
