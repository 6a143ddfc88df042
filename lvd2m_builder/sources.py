"""Turn the user's inputs (directories, files, globs, fsspec URLs) into ClipRefs, and fetch each to a local path.

Listing is deterministic (sorted), so shards hold the same clips on every run with the same inputs. A named file
that does not exist is still listed: it becomes a reject at the ``source`` stage rather than a crash, so one bad
argument never stops a build over many good ones.
"""

from __future__ import annotations

import glob as globlib
import logging
import os
import shutil
import tempfile
from pathlib import PurePosixPath
from typing import Callable, Iterable, Iterator

import fsspec

from .errors import SourceError
from .records import Clip, ClipRef, Rejection

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp", ".ogv"}
)


def _is_url(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


def _is_video_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in VIDEO_EXTENSIONS


def _ref(uri: str, dataset_src: str) -> ClipRef:
    return ClipRef(uri=uri, video_id=PurePosixPath(uri.split("://")[-1]).stem, dataset_src=dataset_src)


def list_uris(inputs: Iterable[str], tars: bool = False) -> list[str]:
    """Every video URI the inputs name: directories recursively (video extensions, and ``.tar`` shards with
    ``tars``), files as given, globs."""
    wanted = (lambda name: _is_video_name(name) or name.lower().endswith(".tar")) if tars else _is_video_name
    found: list[str] = []
    for item in inputs:
        if item.startswith("file://"):
            item = item[len("file://"):]
        if _is_url(item):
            found.extend(_list_remote(item, wanted))
        elif any(ch in item for ch in "*?["):
            matches = sorted(p for p in globlib.glob(item, recursive=True) if os.path.isfile(p))
            if not matches:
                log.info("no files match %s", item)
            found.extend(os.path.abspath(p) for p in matches)
        elif os.path.isdir(item):
            files = sorted(
                os.path.join(root, name)
                for root, _, names in os.walk(item, followlinks=True)
                for name in names
                if wanted(name)
            )
            if not files:
                log.info("no video files under %s", item)
            found.extend(os.path.abspath(p) for p in files)
        else:
            found.append(os.path.abspath(item))  # missing or unreadable: rejected at the source stage
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


def list_refs(inputs: Iterable[str], dataset_src: str = "local") -> list[ClipRef]:
    """Every clip the inputs name: videos, the video members of tar shards, the rows of clip tables.

    Sorted by URI and span (input order does not matter, so shards hold the same clips on every run); a clip
    listed twice (two tables naming the same span) is kept once.
    """
    from .tables import is_table, table_refs  # not at the top: tables -> importers -> build -> pipeline -> here
    from .tars import is_tar, tar_refs

    refs: list[ClipRef] = []
    for uri in list_uris(inputs, tars=True):
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
    return sorted(unique.values(), key=_order)


def _order(ref: ClipRef) -> tuple:
    """By URI, then span; a tar's members sort together (by the tar's URL first), so a shard reads few tars."""
    return ref.uri.split("::")[::-1], -1.0 if ref.span_start is None else ref.span_start, ref.key


def _why(error: Exception) -> str:
    """A fetch failure's reason, without the URI again (remote filesystems raise FileNotFoundError(url))."""
    if isinstance(error, SourceError):
        return error.why
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return "no such file" if isinstance(error, FileNotFoundError) else str(error)


class Fetch:
    """Give each clip a local path: local files as they are, remote ones copied into a scratch directory.

    The copy is removed once the clip has passed the rest of the stages (see ``release``), so at most a few
    remote files sit on disk at a time.
    """

    stage = "source"

    def __init__(self, scratch: str | None = None) -> None:
        self.scratch = scratch or tempfile.gettempdir()

    def __call__(self, refs: Iterable[ClipRef], forced: dict[str, Rejection] | None = None) -> Iterator[Clip]:
        forced = forced or {}
        for ref in refs:
            clip = Clip(ref=ref, rejection=forced.get(ref.key))
            if ref.error is not None:
                clip.reject(self.stage, ref.error)
            if clip.rejected:
                yield clip
                continue
            try:
                clip.path = self._local(ref.uri)
            except (OSError, ValueError) as e:
                clip.reject(self.stage, f"cannot read {ref.uri}: {_why(e)}")
            yield clip

    def _local(self, uri: str) -> str:
        if not _is_url(uri):
            if not os.path.exists(uri):
                raise FileNotFoundError(2, "no such file")
            if os.path.isdir(uri):
                raise IsADirectoryError(21, "is a directory")
            if not os.access(uri, os.R_OK):
                raise PermissionError(13, "permission denied")
            return uri
        from .tars import copy_member, member_uri

        member = uri.split("::", 1)[0]  # a chained URL (tar://KEY.mp4::s3://...) names the file first
        fd, local = tempfile.mkstemp(suffix=PurePosixPath(member).suffix or ".mp4", dir=self.scratch)
        try:
            with os.fdopen(fd, "wb") as dst:
                if member_uri(uri) is not None:
                    copy_member(uri, dst)
                else:
                    with fsspec.open(uri, "rb") as src:
                        shutil.copyfileobj(src, dst, length=1 << 20)
        except BaseException:
            os.remove(local)
            raise
        return local

    @staticmethod
    def release(clip: Clip) -> None:
        """Delete a fetched copy; local inputs are never touched."""
        if clip.path and _is_url(clip.ref.uri) and os.path.exists(clip.path):
            os.remove(clip.path)
