"""Webdataset tar shards as inputs: each video member becomes a ClipRef naming the member inside its tar.

Members follow webdataset's naming: ``KEY.mp4`` (any video extension) and an optional ``KEY.json`` whose
``caption`` (or ``orig_caption``/``text``), ``dataset_src``, ``video_id`` and ``span_start``/``span_end``
(seconds inside the member) are taken. video2dataset's ``clips``/``start``/``end`` are not spans inside the
member (they say where it was cut from in its source video), so they are left alone.

The URI is fsspec's chained URL ``tar://KEY.mp4::file:///abs/shard.tar`` (or ``::s3://...``): stable across
runs, so keys are, and ``fsspec.open`` reads it. ``Fetch`` copies members with ``copy_member`` instead, because
fsspec's TarFileSystem scans the whole tar on every open: here one header scan per tar is kept (a few per
process), and each member is one ranged read. A tar that cannot be read, a member's unreadable (or oversized)
metadata, and a video-named member that cannot be a clip (a link, a directory, a name with no key or with ``::``,
a name the tar holds twice) become rejects, never a crash or a silent skip.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tarfile
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, BinaryIO, Optional

import fsspec

from lvd2m_builder.errors import MalformedRowError, SourceError
from lvd2m_builder.inputs.clip_tables import CAPTION_COLUMNS, row_spans
from lvd2m_builder.inputs.names import VIDEO_EXTENSIONS
from lvd2m_builder.records import ClipRef

log = logging.getLogger(__name__)

#: webdataset's split of a member name into key and extension: the key runs to the first dot of the base name
_KEY_EXT = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")
#: headers are read by seeking from one to the next; small blocks keep a remote scan from reading the videos too
_SCAN_BLOCK_SIZE = 1 << 16
_COPY_CHUNK = 1 << 22
_INDEXES: "OrderedDict[str, TarIndex]" = OrderedDict()
_INDEXES_KEPT = 4  # a shard's clips come from one tar or a few neighbours (refs sort by tar, then member)
#: A ``KEY.json`` holds a caption and a few fields: one past this is not read (a multi-GB member would be read whole)
METADATA_CAP = 1 << 20
_KINDS = {tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hard link", tarfile.DIRTYPE: "directory"}


@dataclass
class TarIndex:
    members: list[tuple[str, str]] = field(default_factory=list)  # (member, key) of each video member
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)  # member -> (data offset, size)
    metadata: dict[str, bytes] = field(default_factory=dict)  # key -> raw KEY.json
    oversized: dict[str, int] = field(default_factory=dict)  # key -> size of a KEY.json past METADATA_CAP
    problems: dict[str, str] = field(default_factory=dict)  # member -> why it cannot be a clip


def is_tar(uri: str) -> bool:
    return uri.lower().endswith(".tar")


def member_uri(uri: str) -> Optional[tuple[str, str]]:
    """(member, tar URL) when ``uri`` names a member inside a tar, else None."""
    if uri.startswith("tar://") and "::" in uri:
        member, outer = uri[len("tar://"):].split("::", 1)
        return member, outer
    return None


def tar_refs(uri: str, dataset_src: str) -> list[ClipRef]:
    """Every video member of the tar at ``uri`` (a path or fsspec URL), in member order."""
    url = uri if "://" in uri else "file://" + os.path.abspath(uri)
    name = PurePosixPath(uri.split("://")[-1]).name
    try:
        index = _index(url)
    except SourceError as e:
        return [ClipRef(uri=url, video_id=name, dataset_src=dataset_src, error=f"cannot read tar {name}: {e.why}")]
    refs = []
    for member, key in index.members:
        ref_uri = f"tar://{member}::{url}"
        if member in index.problems:
            refs.append(ClipRef(ref_uri, key, dataset_src, error=f"{name}: member {member!r} {index.problems[member]}"))
            continue
        try:
            if key in index.oversized:
                raise MalformedRowError(f"{key}.json", None, f"{index.oversized[key]} bytes, over the "
                                                             f"{METADATA_CAP}-byte cap for metadata")
            fields = _fields(index.metadata.get(key), f"{key}.json")
            spans = row_spans({k: fields[k] for k in ("span_start", "span_end") if k in fields})
        except MalformedRowError as e:
            refs.append(ClipRef(ref_uri, key, dataset_src, error=f"{name}: {key}.json: {e}"))
            continue
        caption = next((fields[c] for c in CAPTION_COLUMNS if fields.get(c) is not None), None)
        start, end = spans[0] if spans else (None, None)
        refs.append(ClipRef(ref_uri, str(fields.get("video_id") or key), str(fields.get("dataset_src") or dataset_src),
                            start, end, None if caption is None else str(caption)))
    if not refs:
        log.info("tar %s holds no video members", uri)
    return refs


def copy_member(uri: str, dst: BinaryIO, max_bytes: Optional[int] = None) -> None:
    """Copy the member ``uri`` names into ``dst``: one ranged read from its tar (whose index is cached)."""
    member, outer = member_uri(uri)
    index = _index(outer)
    if member not in index.spans:
        raise SourceError(uri, "no such member in the tar")
    offset, size = index.spans[member]
    if max_bytes is not None and size > max_bytes:
        raise SourceError(uri, f"larger than the {max_bytes}-byte cap for a fetched file")
    fs, path = fsspec.core.url_to_fs(outer)
    with fs.open(path, "rb", block_size=min(max(size, 1), _COPY_CHUNK)) as src:
        src.seek(offset)
        while size > 0:
            chunk = src.read(min(size, _COPY_CHUNK))
            if not chunk:
                raise SourceError(uri, "tar ends inside the member (truncated)")
            dst.write(chunk)
            size -= len(chunk)


def _index(url: str) -> TarIndex:
    if url in _INDEXES:
        _INDEXES.move_to_end(url)
        return _INDEXES[url]
    try:
        index = _scan(url)
    except (OSError, ValueError, tarfile.TarError, EOFError) as e:
        raise SourceError(url, str(e) or type(e).__name__) from e
    _INDEXES[url] = index
    while len(_INDEXES) > _INDEXES_KEPT:
        _INDEXES.popitem(last=False)
    return index


def _scan(url: str) -> TarIndex:
    """One pass over the tar's headers: video members with their byte ranges, and every ``KEY.json``."""
    fs, path = fsspec.core.url_to_fs(url)
    index = TarIndex()
    seen: Counter = Counter()
    with fs.open(path, "rb", block_size=_SCAN_BLOCK_SIZE) as f, tarfile.open(fileobj=f, mode="r:") as tar:
        for info in tar:
            match = _KEY_EXT.match(info.name)
            if PurePosixPath(info.name).suffix.lower() in VIDEO_EXTENSIONS:
                seen[info.name] += 1
                if seen[info.name] > 1:  # which copy a reader gets is up to the reader: neither is taken
                    index.problems[info.name] = f"is one of {seen[info.name]} members with that name"
                    index.spans.pop(info.name, None)
                    continue
                index.members.append((info.name, match.group(1) if match else PurePosixPath(info.name).stem))
                problem = _problem(info, match is not None)
                if problem:
                    index.problems[info.name] = problem
                else:
                    index.spans[info.name] = (info.offset_data, info.size)
            elif info.isfile() and match is not None and match.group(2).lower() == "json":
                if info.size > METADATA_CAP:
                    index.oversized[match.group(1)] = info.size
                else:
                    index.metadata[match.group(1)] = tar.extractfile(info).read()
    return index


def _problem(info: tarfile.TarInfo, has_key: bool) -> str:
    """Why a video-named member cannot be a clip, or ""."""
    if not info.isfile():
        return f"is a {_KINDS.get(info.type, 'special member')}, not a file"
    if not has_key:
        return "has no webdataset key (its file name starts with a dot)"
    if "::" in info.name:
        return "has '::' in its name, which a chained fsspec URL (tar://MEMBER::TAR) cannot carry"
    return ""


def _fields(raw: Optional[bytes], where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise MalformedRowError(where, None, f"not JSON ({e})") from e
    if not isinstance(value, dict):
        raise MalformedRowError(where, None, "not a JSON object")
    return {k: v for k, v in value.items() if v is not None}
