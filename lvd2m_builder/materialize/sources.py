"""Where a row's source video is: file stems under a directory or URL, a mapping file, or the row's own url.

LVD-2M names sources by ``video_id`` (a YouTube id; WebVid's id), so a directory of downloaded videos named
``VIDEO_ID.mp4`` (any video extension) needs no mapping. Rows built by ``lvd2m build`` carry their file's path in
``url``, relative to an input root the output's manifest keeps (inputs/public.py), so without ``--sources`` the url
itself, found under those roots, is the source.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional

from lvd2m_builder.errors import SourceError
from lvd2m_builder.inputs.listing import list_uris
from lvd2m_builder.inputs.public import absolute_names, candidates, input_roots, public_reason, root_of
from lvd2m_builder.records import ClipRef

if TYPE_CHECKING:
    from lvd2m_builder.store.manifest import Manifest

log = logging.getLogger(__name__)


class SourceIndex:
    """``video_id`` -> source URI."""

    def __init__(self, sources: Optional[str] = None, mapping: Optional[str] = None,
                 exclude: Optional[str] = None, roots: Iterable[str] = (), absolute_paths: bool = False) -> None:
        """``exclude``: the dataset's own directory, whose clips are never taken for sources; ``roots``: the
        build's input roots, under which rows' relative urls are found; ``absolute_paths``: outputs name
        sources by absolute path (the build's ``inputs.absolute_paths``)."""
        self.by_id: dict[str, str] = {}
        self.use_url = sources is None and mapping is None
        self.roots = list(roots)
        # what outputs may say of a source: relative to the roots, to --sources, or to the mapping file
        self.public_roots = None if absolute_paths else [
            *self.roots, *input_roots([p for p in (sources, mapping) if p is not None])]
        if sources is not None:
            for uri in list_uris([sources], exclude=exclude):
                stem = uri.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
                if self.by_id.setdefault(stem, uri) != uri:
                    log.warning("two sources for video_id %s; using %s", stem, self.by_id[stem])
        if mapping is not None:
            self.by_id.update(_read_mapping(mapping))

    def lookup(self, row: dict) -> Optional[str]:
        """The row's source; a ``video_id`` is matched without the spaces a table may leave around it."""
        if not self.use_url:
            return self.by_id.get((row.get("video_id") or "").strip())
        found = candidates(row["url"], self.roots) if row.get("url") else []
        # two roots holding the same relative name: the one the row's key was made from
        return next((uri for uri in found if _key_fits(uri, row)), found[0] if found else None)

    def public(self, text: str, uri: str) -> str:
        """``text`` (a reason, a source's URI) as outputs may show it: no path above a root, no credentials."""
        return public_reason(text, uri, None if self.public_roots is None else root_of(uri, self.public_roots))


def output_index(out: Path, manifest: Optional[Manifest], sources: Optional[str] = None,
                 mapping: Optional[str] = None) -> SourceIndex:
    """How the rows of the output ``out`` find their sources: under the input roots its manifest keeps (none
    without one), named in outputs the way its rows name them."""
    return SourceIndex(sources, mapping, exclude=str(out), roots=manifest.run.get("input_roots", []) if manifest else (),
                       absolute_paths=absolute_names(manifest.settings if manifest else {}))


def _key_fits(uri: str, row: dict) -> bool:
    """Whether ``uri`` is the source ``row``'s key was made from (a whole file, or a clip table's span; a shot of a
    split video by its video's key, ``source_key``)."""
    start, end = row.get("span_start"), row.get("span_end")
    keys = {ClipRef(uri, "").key} | ({ClipRef(uri, "", span_start=start, span_end=end).key} if None not in (start, end) else set())
    return bool({row.get("key"), row.get("source_key")} & keys)


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
