"""Stream records out of a CSV (local path or fsspec URL) with flat memory, line numbers and a byte progress bar.

The release's files hold millions of rows with captions that contain quotes and newlines, so records are read
with the stdlib ``csv`` module one at a time (never a whole DataFrame), and each record reports the line it
starts on. Parsing is strict: a record the ``csv`` module cannot parse (an unbalanced quote runs to the end of the
file; a field passes ``FIELD_LIMIT``) is reported as an error naming every line it took, so a reader sees how many
lines were lost, and reading goes on. Bytes that are not UTF-8 are an error of their record, never replaced.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import fsspec

from lvd2m_builder.errors import SourceError

#: Captions run to a few KB; the default 128 KiB limit is close, and 2 GiB let one stray quote fill memory.
FIELD_LIMIT = 1 << 22
csv.field_size_limit(FIELD_LIMIT)
_ESCAPED = re.compile("[\udc80-\udcff]")  # what ``surrogateescape`` makes of a byte that is not UTF-8


@dataclass
class Record:
    line: int
    fields: Optional[dict]  # None when the line did not parse
    error: str = ""


class _Counting(io.RawIOBase):
    """Counts the bytes read from a binary file, for a progress bar in bytes."""

    def __init__(self, raw, on_bytes: Callable[[int], None]) -> None:
        self.raw, self.on_bytes = raw, on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.on_bytes(len(data))
        return len(data)


def size_of(uri: str) -> Optional[int]:
    """The file's size in bytes (for the progress bar); raises SourceError when it does not exist."""
    try:
        fs, path = fsspec.core.url_to_fs(uri)
        exists = fs.isfile(path)
        size = fs.size(path) if exists else None
    except (OSError, ValueError, TypeError, ImportError) as e:
        raise SourceError(uri, f"cannot open: {e}") from e
    if not exists:
        raise SourceError(uri, "no such file")
    return int(size) if size is not None else None


def read_records(uri: str, on_bytes: Callable[[int], None] = lambda n: None) -> Iterator[Record]:
    """Every record of ``uri`` (compression inferred from the name) with the line it starts on."""
    try:
        opened = fsspec.open(uri, "rb", compression="infer")
        raw = opened.open()
    except (OSError, ValueError, ImportError) as e:
        raise SourceError(uri, f"cannot open: {e}") from e
    with raw:
        text = io.TextIOWrapper(io.BufferedReader(_Counting(raw, on_bytes), 1 << 20), encoding="utf-8-sig",
                                errors="surrogateescape", newline="")  # bad bytes kept, to reject their record
        reader = csv.reader(text, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise SourceError(uri, f"unreadable CSV header: {e}") from e
        header = [name.strip() for name in header]
        if len(set(header)) != len(header):
            raise SourceError(uri, f"duplicate column names in the header: {header}")
        yield from _records(reader, header)


def _records(reader, header: list[str]) -> Iterator[Record]:
    width = len(header)
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            end = reader.line_num
            lines = f"line {start}" if end <= start else f"lines {start}-{end}, {end - start + 1} lines"
            yield Record(start, None, f"unparsable CSV record ({lines} not read): {e}")
            continue
        if not values:  # blank line
            continue
        garbled = [name for name, value in zip(header, values) if _ESCAPED.search(value)]
        if garbled:
            yield Record(start, None, f"bytes that are not UTF-8 in {', '.join(garbled)}")
            continue
        fields = dict(zip(header, values))
        if len(values) > width:
            fields[None] = values[width:]  # surplus fields, as csv.DictReader reports them
        yield Record(start, fields)
