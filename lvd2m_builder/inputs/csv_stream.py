"""Stream records out of a CSV (local path or fsspec URL) with flat memory, line numbers and a byte progress bar.

The release's files hold millions of rows with captions that contain quotes and newlines, so records are read
one at a time with the stdlib ``csv`` module (``read_records``, never a whole DataFrame), or block by block
(``read_blocks``, for ``lvd2m import``). Parsing is strict: a record the ``csv`` module cannot parse (an
unbalanced quote runs to the end of the file; a field passes ``FIELD_LIMIT``) is reported as an error naming
every line it took, so a reader sees how many lines were lost, and reading goes on. Bytes that are not UTF-8 are
an error of their record, never replaced. Each record reports the line it starts on.

Block by block, each ~12 MB that ends on a record boundary is parsed by pyarrow's CSV reader into string columns
(10-20x faster than the ``csv`` module) when that is exactly what the ``csv`` module would read: every quote
opens, closes or doubles inside a field (so the quotes say where records end, which gives every row its line),
no bare carriage return, no field past the limit, UTF-8 throughout, one row per record. Any other block is read
by the ``csv`` module, from its start until a record ends past it, so the records are the same either way.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import IO, Callable, Iterator, Optional

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

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
        count = _read_into(self.raw, buffer)
        self.on_bytes(count)
        return count


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


def _open(uri: str):
    try:
        return fsspec.open(uri, "rb", compression="infer").open()
    except (OSError, ValueError, ImportError) as e:
        raise SourceError(uri, f"cannot open: {e}") from e


def _check_header(uri: str, header: list[str]) -> list[str]:
    header = [name.strip() for name in header]
    if len(set(header)) != len(header):
        raise SourceError(uri, f"duplicate column names in the header: {header}")
    return header


def read_records(uri: str, on_bytes: Callable[[int], None] = lambda n: None) -> Iterator[Record]:
    """Every record of ``uri`` (compression inferred from the name) with the line it starts on."""
    with _open(uri) as raw:
        text = io.TextIOWrapper(io.BufferedReader(_Counting(raw, on_bytes), 1 << 20), encoding="utf-8-sig",
                                errors="surrogateescape", newline="")  # bad bytes kept, to reject their record
        reader = csv.reader(text, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise SourceError(uri, f"unreadable CSV header: {e}") from e
        yield from _records(reader, _check_header(uri, header))


def _records(reader, header: list[str], first_line: int = 0, stop: Callable[[], bool] = lambda: False,
             ) -> Iterator[Record]:
    """Records from a ``csv.reader`` whose first line is ``first_line`` + 1 of the file; ``stop`` is asked
    between records."""
    while not stop():
        start = first_line + reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            end = first_line + reader.line_num
            lines = f"line {start}" if end <= start else f"lines {start}-{end}, {end - start + 1} lines"
            yield Record(start, None, f"unparsable CSV record ({lines} not read): {e}")
            continue
        if values:  # not a blank line
            yield _record(values, header, start)


def _record(values: list[str], header: list[str], line: int) -> Record:
    garbled = [name for name, value in zip(header, values) if _ESCAPED.search(value)]
    if garbled:
        return Record(line, None, f"bytes that are not UTF-8 in {', '.join(garbled)}")
    fields = dict(zip(header, values))
    if len(values) > len(header):
        fields[None] = values[len(header):]  # surplus fields, as csv.DictReader reports them
    return Record(line, fields)


@dataclass
class Block:
    """Consecutive records of one file: a ``table`` of string columns named by the header, with the line each
    row starts on (``lines``), or, where pyarrow could not read them exactly as the ``csv`` module does,
    ``records``."""

    table: Optional[pa.Table] = None
    lines: Optional[np.ndarray] = None
    records: list[Record] = field(default_factory=list)


#: Bytes of CSV a block holds (the first ones less, see ``_Buffer``). Each block costs the steps after reading a
#: fixed share (pyarrow and numpy calls, a row group): ``lvd2m import`` took 3-5% less time with 12 MB blocks than
#: with 8 MB ones, at 100k rows and at 1M, for ~60 and ~200 MB more at its peak (A/Bs and the import bench;
#: 16 MB and more took longer).
BLOCK_BYTES = 12 << 20
_NEWLINE = re.compile(rb"\r\n|\r|\n")


def read_blocks(uri: str, on_bytes: Callable[[int], None] = lambda n: None,
                block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
    """Every record of ``uri``, block by block, as ``read_records`` reads them (see the module)."""
    with _open(uri) as raw:
        source = _Buffer(raw, on_bytes, block_bytes)
        while len(source) < 3 and source.fill():
            pass
        if source.view()[:3] == b"\xef\xbb\xbf":  # utf-8-sig, as read_records decodes
            source.take(3)
        lines = _Lines(source)
        reader = csv.reader(lines, strict=True)
        try:
            header = _check_header(uri, next(reader))
        except StopIteration:
            return
        except csv.Error as e:
            raise SourceError(uri, f"unreadable CSV header: {e}") from e
        line = lines.done()
        while len(source) or not source.eof:
            end, newlines, inside, quotes = source.records_end()
            if not end:
                return
            within = int(np.searchsorted(newlines, end))
            parsed = _table(source, end, newlines[:within], inside[:within], quotes[:np.searchsorted(quotes, end)],
                            header, line)
            if parsed is not None:
                line += within
                source.take(end)
                yield Block(*parsed)
            else:  # the csv module reads on from here until a record ends at or past ``end``
                lines = _Lines(source)
                records = list(_records(csv.reader(lines, strict=True), header, line,
                                        stop=lambda: lines.taken >= end))
                line += lines.done()
                yield Block(records=records)


class _Buffer:
    """The unread bytes of a file, ``storage[start:stop]``, refilled a block at a time: the first block is 1/8 of
    ``size`` (at least 64 KiB) and each next one twice the last, up to ``size``, so the first rows reach the steps
    after reading sooner (a smaller block costs more per row).

    One ``storage`` is read into again and again, the unread bytes moved to its front first: a fresh buffer for
    every block was zeroed and its pages faulted in each time (reading 300k rows: 8% of its CPU time). Nothing
    made from a block keeps its bytes: pyarrow's CSV reader copies every value (a test holds it to that).
    """

    def __init__(self, raw: IO[bytes], on_bytes: Callable[[int], None], size: int) -> None:
        self.raw, self.on_bytes, self.size = raw, on_bytes, size
        self.next_size = min(size, max(size // 8, 1 << 16))
        self.storage = bytearray()
        self.start = self.stop = 0
        self.eof = False

    def __len__(self) -> int:
        return self.stop - self.start

    def view(self) -> memoryview:
        """The unread bytes, not copied."""
        return memoryview(self.storage)[self.start:self.stop]

    def fill(self) -> bool:
        """Read more; False at the end of the file. The bytes are read straight in after the unread ones."""
        keep, size = len(self), self.next_size
        self.next_size = min(2 * size, self.size)
        if self.stop + size > len(self.storage):  # no room after the unread bytes: they move to the front
            storage = self.storage if keep + size <= len(self.storage) else bytearray(2 * (keep + size))
            storage[:keep] = self.storage[self.start:self.stop]
            self.storage, self.start, self.stop = storage, 0, keep
        with memoryview(self.storage) as view, view[self.stop:self.stop + size] as free:
            count = _read_into(self.raw, free)
        self.stop += count
        self.on_bytes(count)
        self.eof = not count
        return bool(count)

    def take(self, count: int) -> None:
        self.start += count

    def records_end(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """Where the last record that the buffer holds whole ends (from ``start``): after the last newline outside
        quotes (all of it at the end of the file); with the buffer's newlines and, for each, whether it lies
        inside quotes, and where its quotes are. Reads more until there is such a record; one longer than 16
        blocks is handed over whole-buffer, for the ``csv`` module to finish."""
        while True:
            data = np.frombuffer(self.storage, dtype=np.uint8, count=len(self), offset=self.start)
            newlines = np.flatnonzero(data == 10)
            quotes = np.flatnonzero(data == 34)
            inside = np.searchsorted(quotes, newlines) % 2 == 1  # after an odd number of quotes
            outside = newlines[~inside]
            if self.eof or len(self) > 16 * self.size:
                return len(self), newlines, inside, quotes
            if len(outside):
                return int(outside[-1]) + 1, newlines, inside, quotes
            self.fill()


def _read_into(raw: IO[bytes], buffer: memoryview) -> int:
    """Bytes read into ``buffer`` (0 at the end); a file without ``readinto`` is read and copied."""
    readinto = getattr(raw, "readinto", None)
    if readinto is not None:
        return readinto(buffer) or 0
    more = raw.read(len(buffer))
    buffer[: len(more)] = more
    return len(more)


def _table(source: _Buffer, size: int, newlines: np.ndarray, inside: np.ndarray, quotes: np.ndarray,
           header: list[str], line: int) -> Optional[tuple[pa.Table, np.ndarray]]:
    """The first ``size`` unread bytes of ``source`` parsed by pyarrow, with each row's first line; None unless
    that is exactly what the ``csv`` module reads: its quoting regular (so the records are where the quotes say)
    and one row per record. ``newlines`` and ``quotes`` are where those bytes are, ``inside`` says which newlines
    lie inside quotes."""
    data = np.frombuffer(source.storage, dtype=np.uint8, count=size, offset=source.start)
    if source.storage.find(b"\r", source.start, source.start + size) >= 0:  # quicker than comparing every byte
        # every one must be a \r\n's: as many as the newlines they come before (counted, not found: 40% quicker)
        if np.count_nonzero(data == 13) != np.count_nonzero(data[newlines[newlines > 0] - 1] == 13):
            return None  # a bare carriage return ends a line for the csv module, not in the newline count here
    if not _regular_quotes(data, quotes):
        return None
    ends = newlines[~inside]
    if not len(ends) or ends[-1] != len(data) - 1:
        ends = np.append(ends, len(data))  # the file's last record, without a newline
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts
    blank = (lengths == 0) | ((lengths == 1) & (data[np.minimum(starts, len(data) - 1)] == 13))
    if lengths.max(initial=0) > FIELD_LIMIT:  # a field may pass the csv module's limit
        return None
    starts = starts[~blank]
    names = [str(i) for i in range(len(header))]
    if not len(starts):
        return pa.table({name: pa.array([], pa.string()) for name in header}), np.zeros(0, dtype=np.int64)
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(pa.py_buffer(source.view()[:size])),
            read_options=pa_csv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                  strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a row of the wrong width, bytes not UTF-8, ...
        return None
    if table.num_rows != len(starts):
        return None
    return table.rename_columns(header), line + 1 + np.searchsorted(newlines, starts)


def _regular_quotes(data: np.ndarray, quotes: np.ndarray) -> bool:
    """Whether every quote opens a field, closes one or doubles inside one, so that the quotes counted before a
    newline say whether it ends a record (a quote inside an unquoted field, or text after a closing quote, is
    read by the csv module otherwise). ``quotes``: where the quotes of ``data`` are."""
    if len(quotes) % 2:  # a quote left open runs to the end (pyarrow would close it there)
        return False
    if not len(quotes):
        return True
    before = np.where(quotes > 0, data[np.maximum(quotes - 1, 0)], 10)
    after = np.where(quotes < len(data) - 1, data[np.minimum(quotes + 1, len(data) - 1)], 10)
    opening = np.arange(len(quotes)) % 2 == 0
    bounds = (44, 10, 13)  # comma, newline, carriage return
    opens_field = np.isin(before, bounds) | ((before == 34) & np.roll(~opening, 1) & (quotes > 0))
    closes_field = np.isin(after, bounds) | (after == 34)
    return bool(np.all(np.where(opening, opens_field, closes_field)))


class _Lines:
    """The buffer's lines as the ``csv`` module reads a file opened with ``newline=""`` (ended by \\r\\n, \\r or
    \\n), decoded as ``read_records`` decodes; ``done`` takes the lines read from the buffer."""

    def __init__(self, source: _Buffer) -> None:
        self.source = source
        self.taken = 0  # bytes of the lines handed out
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        source = self.source
        match = _NEWLINE.search(source.storage, source.start + self.taken, source.stop)
        # a line is whole once its end is in the buffer (a \r at the very end may yet be followed by \n)
        while (match is None or match.group() == b"\r" and match.end() == source.stop) and source.fill():
            match = _NEWLINE.search(source.storage, source.start + self.taken, source.stop)
        end = (match.end() if match is not None else source.stop) - source.start
        if end == self.taken:
            raise StopIteration
        text = source.storage[source.start + self.taken:source.start + end].decode("utf-8", errors="surrogateescape")
        self.taken = end
        self.count += 1
        return text

    def done(self) -> int:
        """Drop the lines read from the buffer; returns how many there were."""
        self.source.take(self.taken)
        self.taken = 0
        return self.count
