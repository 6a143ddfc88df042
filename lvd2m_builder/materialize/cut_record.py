"""What each cut clip was made from, kept beside it (``clips/NAME.cut.json``), so a rerun reuses a clip only for
exactly the same request: the same source (URI, size, modification time or ETag, probed stream), span, mode and
quality. A clip whose record is missing, differs or describes another file size is cut again.

The record is removed before its clip is replaced and written after, so a run killed in between leaves a clip
without a record (cut again next time), never a record that vouches for the wrong clip.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

import fsspec

from lvd2m_builder.inputs.tars import member_uri
from lvd2m_builder.media.cutting import Cut, SourceInfo
from lvd2m_builder.store.atomic import write_json_atomic

log = logging.getLogger(__name__)

RECORD_SUFFIX = ".cut.json"
#: fsspec ``info`` fields that change when a file does (local, S3, GCS, HTTP and the Hub name them differently).
_VERSION_FIELDS = ("size", "mtime", "ETag", "etag", "LastModified", "last_modified", "generation", "blob_id")


def record_path(clip: Path) -> Path:
    return clip.with_name(clip.name.rsplit(".", 1)[0] + RECORD_SUFFIX)


def source_identity(uri: str, info: SourceInfo) -> Optional[dict[str, Any]]:
    """Who the source is: its URI, the version fields its filesystem reports, and what probing found; None when
    the filesystem cannot say (then nothing cut from it is ever reused). A tar member is known by its tar's."""
    member = member_uri(uri)
    container = member[1] if member is not None else uri
    try:
        fs, path = fsspec.core.url_to_fs(container)
        stat = fs.info(path)
    except (OSError, ValueError, ImportError) as e:
        log.debug("cannot identify %s (%s); its clips are cut every run", container, e)
        return None
    version = {name: str(stat[name]) for name in _VERSION_FIELDS if stat.get(name) is not None}
    if set(version) <= {"size"}:
        return None  # a size alone does not tell two versions of a file apart
    probed = {"fps": str(info.fps), "duration": info.duration, "width": info.width, "height": info.height}
    return {"uri": uri, **version, **probed}


def cut_request(source: dict[str, Any], start: float, end: float, mode: str, crf: int) -> dict[str, Any]:
    return {"source": source, "span": [round(start, 6), round(end, 6)], "mode": mode,
            "crf": crf if mode == "accurate" else None}


def reusable(clip: Path, request: Optional[dict[str, Any]]) -> Optional[Cut]:
    """The cut recorded for ``clip`` when it answered exactly ``request`` and the file is still that file."""
    if request is None:
        return None
    try:
        record = json.loads(record_path(clip).read_text(encoding="utf-8"))
        if record["request"] != request or clip.stat().st_size != record["bytes"]:
            return None
        return Cut(**record["cut"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no record, an unreadable one, or no clip: cut again


def forget(clip: Path) -> None:
    """Drop the record before ``clip`` is replaced."""
    record_path(clip).unlink(missing_ok=True)


def remember(clip: Path, request: Optional[dict[str, Any]], cut: Cut) -> None:
    if request is not None:
        write_json_atomic(record_path(clip), {"request": request, "cut": asdict(cut), "bytes": clip.stat().st_size})
