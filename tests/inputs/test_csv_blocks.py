"""read_blocks (pyarrow, block by block) gives exactly the records and lines read_records (the csv module) gives."""

from __future__ import annotations

import csv
import random

import pytest

from lvd2m_builder.inputs import csv_stream
from lvd2m_builder.inputs.csv_stream import _Buffer, read_blocks, read_records


def _field(rng: random.Random) -> str:
    text = "".join(rng.choice(["abc", "x y", "1.5", "", " ", ",", '"', '""', "\n", "\r\n", "é", "Caption 1: hi"])
                   for _ in range(rng.randint(0, 4)))
    kind = rng.random()
    if kind < 0.6:
        return '"' + text.replace('"', '""') + '"'  # quoted, as a CSV writer quotes
    if kind < 0.9:
        return "".join(c for c in text if c not in '",\r\n')  # plain
    return text  # raw: quotes inside unquoted fields, bare carriage returns, fields split by newlines


def _table(seed: int) -> bytes:
    rng = random.Random(seed)
    lines = ["a,b,c"]
    for _ in range(rng.randint(0, 60)):
        width = 3 if rng.random() < 0.9 else rng.choice([1, 2, 4])  # rows too short or too long
        lines.append(",".join(_field(rng) for _ in range(width)))
        if rng.random() < 0.05:
            lines.append("")  # a blank line
    newline = rng.choice(["\n", "\r\n"])
    data = (newline.join(lines) + (newline if rng.random() < 0.5 else "")).encode()
    if rng.random() < 0.1:  # a byte that is not UTF-8
        at = rng.randrange(len(data))
        data = data[:at] + b"\xff" + data[at:]
    return b"\xef\xbb\xbf" + data if rng.random() < 0.1 else data


def _flat(blocks) -> tuple[list, int, int]:
    """(line, fields, error) of every record, and how many came through pyarrow and through the csv module."""
    records, fast, slow = [], 0, 0
    for block in blocks:
        if block.table is not None:
            records += [(line, row, "") for line, row in zip(block.lines.tolist(), block.table.to_pylist())]
            fast += block.table.num_rows
        else:
            records += [(r.line, r.fields, r.error) for r in block.records]
            slow += len(block.records)
    return records, fast, slow


@pytest.mark.parametrize("block_bytes", [7, 64, 1 << 20])
def test_blocks_read_every_record_and_line_as_the_csv_module_does(tmp_path, block_bytes):
    fast = slow = 0
    for seed in range(150):
        path = tmp_path / f"{seed}.csv"
        path.write_bytes(_table(seed))
        want = [(r.line, r.fields, r.error) for r in read_records(str(path))]
        got, f, s = _flat(list(read_blocks(str(path), block_bytes=block_bytes)))  # each block kept past the next
        assert got == want, seed
        fast, slow = fast + f, slow + s
    assert fast > 0 and slow > 0  # both readers were exercised


def test_a_malformed_row_sends_only_its_block_to_the_csv_module(tmp_path):
    path = tmp_path / "t.csv"
    rows = [f'k{i},"caption {i}\nsecond line",{i}' for i in range(200)]
    rows[150] = 'k150,a "quote" inside,150'  # a quote inside an unquoted field
    path.write_text("key,caption,n\n" + "\n".join(rows) + "\n")
    blocks = list(read_blocks(str(path), block_bytes=1000))
    records, fast, slow = _flat(blocks)
    lines = [2 + 2 * i for i in range(151)] + [303 + 2 * i for i in range(49)]  # two lines a row, but row 150
    assert [line for line, _, _ in records] == lines
    assert records[150][1] == {"key": "k150", "caption": 'a "quote" inside', "n": "150"}
    assert records == [(r.line, r.fields, r.error) for r in read_records(str(path))]
    assert 0 < slow < 50 and fast > 150


def test_a_record_over_two_lines_or_a_blank_line_moves_the_lines_of_the_rows_after_it(tmp_path):
    # two blocks hold one of these; the others hold one line a record
    rows = [f"k{i},caption {i}" for i in range(3000)]
    rows[1000] = 'k1000,"caption over\ntwo lines"'
    rows[2000] = "k2000,caption 2000\n"  # a blank line after it
    path = tmp_path / "t.csv"
    path.write_text("key,caption\n" + "\n".join(rows) + "\n")
    records, fast, slow = _flat(read_blocks(str(path), block_bytes=4096))
    assert records == [(r.line, r.fields, r.error) for r in read_records(str(path))]
    assert [line for line, _, _ in records] == [i + 2 + (i > 1000) + (i > 2000) for i in range(3000)]
    assert (fast, slow) == (3000, 0)


@pytest.fixture
def field_limit_100(monkeypatch):
    """A field limit of 100 bytes, for the csv module and the block reader: pyarrow's own limit (a record of 1 MB,
    its parse block) is far below the real one."""
    monkeypatch.setattr(csv_stream, "FIELD_LIMIT", 100)
    before = csv.field_size_limit(100)
    yield
    csv.field_size_limit(before)


def test_a_block_holding_a_value_past_the_field_limit_is_read_by_the_csv_module(tmp_path, field_limit_100):
    rows = [f"k{i},caption {i}" for i in range(50)]
    rows[20] = "k20," + "x" * 150
    path = tmp_path / "t.csv"
    path.write_text("key,caption\n" + "\n".join(rows) + "\n")
    records, fast, slow = _flat(read_blocks(str(path)))
    assert records == [(r.line, r.fields, r.error) for r in read_records(str(path))]
    assert "field larger than field limit" in records[20][2] and slow > 0


def test_the_first_blocks_are_smaller_so_the_first_rows_come_sooner(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("key,caption\n" + "".join(f"k{i},caption {i:06d} of some length\n" for i in range(100000)))
    blocks = list(read_blocks(str(path), block_bytes=1 << 20))
    sizes = [block.table.num_rows for block in blocks]
    assert sizes[0] * 6 < sizes[3] and max(sizes[3:-1]) - min(sizes[3:-1]) <= 1  # 1/8, 1/4, 1/2, then whole blocks
    # read after every block was: the buffer each was parsed from has been read into again since
    assert [row["key"] for block in blocks for row in block.table.to_pylist()] == [f"k{i}" for i in range(100000)]


def test_a_file_that_cannot_read_into_a_buffer_is_read_and_copied():
    class Plain:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def read(self, size: int) -> bytes:
            chunk, self.data = self.data[:size], self.data[size:]
            return chunk

    source = _Buffer(Plain(b"a,b\n1,2\n"), lambda n: None, 5)
    while source.fill():
        pass
    assert bytes(source.view()) == b"a,b\n1,2\n" and source.eof
