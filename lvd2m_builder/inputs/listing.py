"""Turn the user's inputs (directories, files, globs, fsspec URLs, clip tables, tars) into ClipRefs.

Listing is deterministic (sorted), so shards hold the same clips on every run with the same inputs. A named file
that does not exist is still listed: it becomes a reject at the ``source`` stage rather than a crash, so one bad
argument never stops a build over many good ones. Nothing under ``exclude`` (the build's own output) is ever
listed, so an output never feeds itself.
"""

from __future__ import annotations

import glob as globlib
import logging
import os
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Callable, Iterable, Optional

import fsspec

from lvd2m_builder.errors import SourceError
from lvd2m_builder.inputs.clip_tables import is_table, table_refs
from lvd2m_builder.inputs.names import is_url, is_video_name, without_file_scheme
from lvd2m_builder.inputs.public import input_roots, root_of
from lvd2m_builder.inputs.tars import is_tar, tar_refs
from lvd2m_builder.records import ClipRef
from lvd2m_builder.store.output_dir import inside

log = logging.getLogger(__name__)


def _ref(uri: str, dataset_src: str) -> ClipRef:
    return ClipRef(uri=uri, video_id=PurePosixPath(uri.split("://")[-1]).stem, dataset_src=dataset_src)


def missing_inputs(inputs: Iterable[str]) -> list[str]:
    """The named local files or directories that do not exist (globs and URLs aside)."""
    return [item for item in inputs if not is_url(item) and not any(ch in without_file_scheme(item) for ch in "*?[")
            and not os.path.exists(without_file_scheme(item))]


def list_uris(inputs: Iterable[str], tars: bool = False, exclude: Optional[str] = None) -> list[str]:
    """Every video URI the inputs name: directories recursively (video extensions, and ``.tar`` shards with
    ``tars``), files as given, globs; nothing under ``exclude`` (a local directory or a URL)."""
    wanted = (lambda name: is_video_name(name) or name.lower().endswith(".tar")) if tars else is_video_name
    kept = (lambda path: not inside(path, exclude)) if exclude else (lambda path: True)
    found: list[str] = []
    skipped = 0
    for item in inputs:
        item = without_file_scheme(item)
        if is_url(item):
            listed = _list_remote(item, wanted)
            skipped += sum(not kept(uri) for uri in listed)
            found.extend(uri for uri in listed if kept(uri))
        elif not kept(item):
            skipped += 1
        elif any(ch in item for ch in "*?["):
            matches = sorted(p for p in globlib.glob(item, recursive=True) if os.path.isfile(p))
            if not matches:
                log.info("no files match %s", item)
            skipped += sum(not kept(p) for p in matches)
            found.extend(os.path.abspath(p) for p in matches if kept(p))
        elif os.path.isdir(item):
            files = []
            for root, dirs, names in os.walk(item, followlinks=True):
                skipped += sum(not kept(os.path.join(root, d)) for d in dirs)
                dirs[:] = [d for d in dirs if kept(os.path.join(root, d))]
                files.extend(os.path.join(root, name) for name in names if wanted(name))
            if not files:
                log.info("no video files under %s", item)
            found.extend(os.path.abspath(p) for p in sorted(files))
        else:
            found.append(os.path.abspath(item))  # missing or unreadable: rejected at the source stage
    if skipped:
        log.warning("%d input(s) under %s skipped: an output is never read as an input", skipped, exclude)
    return sorted(dict.fromkeys(found))


def _list_remote(url: str, wanted: Callable[[str], bool]) -> list[str]:
    try:
        fs, path = fsspec.core.url_to_fs(url)
        if any(ch in path for ch in "*?["):
            paths = fs.glob(path)
        elif fs.isdir(path):
            paths = [p for p in fs.find(path) if wanted(p)]
        else:
            paths = [path]
    except (OSError, ValueError, ImportError) as e:
        raise SourceError(url, f"cannot list: {e}") from e
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return sorted(fs.unstrip_protocol(p) if protocol != "file" else p for p in paths)


def list_refs(inputs: Iterable[str], dataset_src: str = "local", exclude: Optional[str] = None,
              relative: bool = True) -> list[ClipRef]:
    """Every clip the inputs name: videos, the video members of tar shards, the rows of clip tables (nothing
    under ``exclude``); with ``relative``, each local one with its root (outputs name it relative to that).

    Sorted by URI and span (input order does not matter, so shards hold the same clips on every run); a clip
    listed twice (two tables naming the same span) is kept once.
    """
    inputs = list(inputs)
    refs: list[ClipRef] = []
    for uri in list_uris(inputs, tars=True, exclude=exclude):
        if is_table(uri):
            refs.extend(table_refs(uri, dataset_src))
        elif is_tar(uri):
            refs.extend(tar_refs(uri, dataset_src))
        else:
            refs.append(_ref(uri, dataset_src))
    unique = {}
    for ref in refs:
        if unique.setdefault(ref.key, ref) is not ref:
            log.info("%s (span %s-%s) is listed twice; kept once", ref.uri, ref.span_start, ref.span_end)
    if relative:
        roots = input_roots(inputs)
        unique = {key: replace(ref, root=root_of(ref.uri, roots)) for key, ref in unique.items()}
    return sorted(unique.values(), key=_order)


def _order(ref: ClipRef) -> tuple:
    """By URI, then span; a tar's members sort together (by the tar's URL first), so a shard reads few tars."""
    return ref.uri.split("::")[::-1], -1.0 if ref.span_start is None else ref.span_start, ref.key
