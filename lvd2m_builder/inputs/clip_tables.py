"""Clip tables: CSV, Parquet or JSON Lines files listing clips, as video2dataset and Panda-70M write them.

A row names its video in a path/url column (relative paths resolve against the table's own directory or URL)
and may give spans: ``span_start``/``span_end`` (or ``start``/``end``) in seconds or ``HH:MM:SS.mmm``, or a
``span``/``timestamp``/``clips`` column holding one ``[start, end]`` pair or a list of pairs (Panda-70M's
``timestamp``), each pair becoming its own ClipRef. A Panda-70M ``caption`` list pairs with its timestamps.
A row that cannot be read becomes a ClipRef carrying the reason (file and line), so it leaves the build as a
reject at the ``source`` stage instead of stopping it.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import os
import posixpath
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Iterator, Optional

import fsspec

from lvd2m_builder.errors import MalformedRowError, SourceError
from lvd2m_builder.inputs.csv_stream import read_records
from lvd2m_builder.records import ClipRef
from lvd2m_builder.release.spans import seconds

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".parquet", ".jsonl", ".jsonl.gz", ".ndjson")
PATH_COLUMNS = ("path", "url", "video_path", "video", "file", "filepath")
START_END_COLUMNS = (("span_start", "span_end"), ("start", "end"))
SPAN_LIST_COLUMNS = ("span", "timestamp", "clips")
ID_COLUMNS = ("video_id", "videoid", "id")
CAPTION_COLUMNS = ("caption", "orig_caption", "text")


def is_table(uri: str) -> bool:
    return uri.lower().endswith(TABLE_SUFFIXES)


@dataclass
class TableRow:
    name: str  # the table's file name
    unit: str  # "line" (CSV, JSON Lines) or "row" (Parquet)
    number: int
    fields: Optional[dict[str, Any]]  # column names lower-cased; None when the row did not parse
    error: str = ""

    @property
    def where(self) -> str:
        """What a reject names: ``clips.csv line 7``."""
        return f"{self.name} {self.unit} {self.number}"


def table_refs(uri: str, dataset_src: str) -> list[ClipRef]:
    """Every clip a table lists, in table order; unreadable rows (or an unreadable table) as refs with ``error``."""
    name = PurePosixPath(uri.split("://")[-1]).name
    refs: list[ClipRef] = []
    try:
        for row in _rows(uri, name):
            refs.extend(_row_refs(row, uri, dataset_src))
    except (SourceError, OSError, ValueError, ImportError) as e:
        refs.append(ClipRef(uri=uri, video_id=name, dataset_src=dataset_src, error=f"cannot read clip table: {e}"))
    if not refs:
        log.info("clip table %s lists no clips", uri)
    return refs


def _rows(uri: str, name: str) -> Iterator[TableRow]:
    lowered = uri.lower()
    if lowered.endswith(".parquet"):
        yield from _parquet_rows(uri, name)
    elif lowered.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        yield from _jsonl_rows(uri, name)
    else:
        for record in read_records(uri):
            if record.fields is not None and None in record.fields:  # an unquoted comma, most likely
                surplus = len(record.fields[None])
                yield TableRow(name, "line", record.line, None, f"{surplus} field(s) more than the header")
                continue
            fields = None if record.fields is None else {k.lower(): v for k, v in record.fields.items()}
            yield TableRow(name, "line", record.line, fields, record.error)


def _jsonl_rows(uri: str, name: str) -> Iterator[TableRow]:
    with fsspec.open(uri, "rt", compression="infer", encoding="utf-8") as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except ValueError as e:
                yield TableRow(name, "line", line, None, f"not JSON: {e}")
                continue
            except RecursionError:  # ``[[[[...`` nested past the interpreter's stack: one bad line, not the table
                yield TableRow(name, "line", line, None, "not JSON: nested too deeply")
                continue
            if isinstance(value, dict):
                yield TableRow(name, "line", line, {str(k).lower(): v for k, v in value.items()})
            else:
                yield TableRow(name, "line", line, None, "not a JSON object")


def _parquet_rows(uri: str, name: str) -> Iterator[TableRow]:
    import pyarrow.parquet as pq

    with fsspec.open(uri, "rb") as f:
        data = io.BytesIO(f.read()) if not f.seekable() else f
        number = 0
        for batch in pq.ParquetFile(data).iter_batches(batch_size=4096):
            for fields in batch.to_pylist():
                number += 1
                yield TableRow(name, "row", number, {str(k).lower(): v for k, v in fields.items()})


def _row_refs(row: TableRow, table: str, dataset_src: str) -> list[ClipRef]:
    try:
        if row.fields is None:
            raise MalformedRowError("row", None, row.error)
        fields = {k: v for k, v in row.fields.items() if not _empty(v)}
        column = next((c for c in PATH_COLUMNS if c in row.fields), None)
        if column is None:
            raise MalformedRowError("path", None, f"no path column (one of {', '.join(PATH_COLUMNS)})")
        if column not in fields:
            raise MalformedRowError(column, None, "empty")
        uri = _resolve(str(fields[column]).strip(), table)
        spans = row_spans(fields)
        captions = _captions(fields, len(spans))
    except MalformedRowError as e:
        video_id = str(row.fields.get("video_id") or row.where) if row.fields else row.where
        # the row's own place is its URI: unique and stable, so its reject keeps one key across runs
        return [ClipRef(uri=f"{table}#{row.unit}={row.number}", video_id=video_id, dataset_src=dataset_src,
                        error=f"{row.where}: {e}")]
    video_id = next((str(fields[c]).strip() for c in ID_COLUMNS if c in fields), None) or _stem(uri)
    source = str(fields.get("dataset_src") or dataset_src)
    if not spans:
        return [ClipRef(uri, video_id, source, orig_caption=captions[0])]
    return [ClipRef(uri, video_id, source, start, end, caption) for (start, end), caption in zip(spans, captions)]


def row_spans(fields: dict[str, Any]) -> list[tuple[float, float]]:
    """The spans a row gives (empty when none), in seconds; raises MalformedRowError on a bad one."""
    for start_column, end_column in START_END_COLUMNS:
        if start_column in fields or end_column in fields:
            if start_column not in fields or end_column not in fields:
                raise MalformedRowError(start_column, None, f"{start_column} and {end_column} go together")
            return [_pair(fields[start_column], fields[end_column], start_column)]
    for column in SPAN_LIST_COLUMNS:
        if column in fields:
            return [_pair(start, end, column) for start, end in _span_list(fields[column], column)]
    return []


def _span_list(value: Any, column: str) -> list[tuple[Any, Any]]:
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
            raise MalformedRowError(column, value, f"bad span literal ({type(e).__name__})") from e
    if isinstance(value, (list, tuple)) and len(value) == 2 and not any(isinstance(v, (list, tuple)) for v in value):
        return [tuple(value)]  # a single [start, end]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (list, tuple)) and len(v) == 2 for v in value):
        return [tuple(v) for v in value]
    raise MalformedRowError(column, str(value), "expected [start, end] or a list of [start, end] pairs")


def _pair(start: Any, end: Any, column: str) -> tuple[float, float]:
    start, end = _time(start, column), _time(end, column)
    if end <= start:
        raise MalformedRowError(column, f"[{start}, {end}]", "reversed span" if end < start else "empty span")
    return start, end


def _time(value: Any, column: str) -> float:
    """Seconds from a number, a numeric string (CSV) or ``HH:MM:SS.mmm``."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    return seconds(value, column)


def _captions(fields: dict[str, Any], spans: int) -> list[Optional[str]]:
    """One caption per span: a Panda-70M caption list pairs with its timestamps; a plain caption is shared."""
    caption = next((fields[c] for c in CAPTION_COLUMNS if c in fields), None)
    count = max(spans, 1)
    if isinstance(caption, str) and caption.lstrip().startswith("[") and caption.rstrip().endswith("]"):
        try:
            caption = ast.literal_eval(caption.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass  # a caption that merely starts with a bracket
    if isinstance(caption, (list, tuple)):
        if len(caption) != count:
            raise MalformedRowError("caption", str(caption), f"{len(caption)} captions for {count} span(s)")
        return [None if c is None else str(c) for c in caption]
    return [None if caption is None else str(caption)] * count


def _resolve(path: str, table: str) -> str:
    """A path relative to the table resolves against the table's directory (or URL)."""
    if path.startswith("file://"):
        path = path[len("file://"):]
    if "://" in path or os.path.isabs(path):
        return path
    if "://" in table:
        return posixpath.join(table.rsplit("/", 1)[0], path)
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(table)), path))


def _stem(uri: str) -> str:
    return PurePosixPath(uri.split("://")[-1]).stem


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, float) and value != value)
