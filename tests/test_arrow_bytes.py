"""Byte-level checks on Arrow string arrays answer as a look at each value's own text does: slices, empty and
null values, control bytes and other bytes, every byte value."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from lvd2m_builder import arrow_bytes
from lvd2m_builder.arrow_bytes import first_bytes, rows_holding, rows_past_ascii, views, windows

PIECES = ["a", "bc", " ", "\t", "\n", "\r", "\x00", "\x0b", "\x1c", "\x1f", "\\", '"', "é", "\u3000", ""]


def _texts(seed: int, count: int = 400) -> list:
    rng = random.Random(seed)
    return [None if rng.random() < 0.05 else "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6)))
            for _ in range(count)]


def _arrays(texts: list) -> dict[str, pa.Array]:
    array = pa.array(texts, pa.string())
    return {"whole": array, "slice": array.slice(37, 250), "empty": array.slice(5, 0), "tail": array.slice(390)}


@pytest.mark.parametrize("window", [1, 7, arrow_bytes.WINDOW_BYTES])
@pytest.mark.parametrize("wanted", [[0x00, 0x0B, 0x1C, 0x1F], [*range(0, 9), 11, 12, *range(14, 32)],
                                    [92, 34, 10, 13, 9], [ord("a")], [0xC3], [0xE3, 0x80]])
def test_rows_holding_finds_the_values_whose_bytes_hold_a_wanted_byte(wanted, window, monkeypatch):
    monkeypatch.setattr(arrow_bytes, "WINDOW_BYTES", window)  # a value in one window or spanning several
    for name, values in _arrays(_texts(1)).items():
        expected = [text is not None and any(b in wanted for b in text.encode()) for text in values.to_pylist()]
        assert rows_holding(values, wanted).tolist() == expected, name


@pytest.mark.parametrize("window", [1, 7, arrow_bytes.WINDOW_BYTES])
@pytest.mark.parametrize("controls", [[0x00, 0x0B, 0x1C, 0x1F], [*range(0, 9), *range(14, 28)], []])
def test_rows_past_ascii_are_the_values_not_ascii_and_those_holding_a_control(controls, window, monkeypatch):
    monkeypatch.setattr(arrow_bytes, "WINDOW_BYTES", window)
    texts = _texts(2) + ["\x7f", " ~", "\x1f\x20", "\u0080"]  # the bytes next to the classes' edges
    for name, values in _arrays(texts).items():
        past, holding = rows_past_ascii(values, controls)
        texts_here = values.to_pylist()
        assert past.tolist() == [text is not None and not text.isascii() for text in texts_here], name
        assert holding.tolist() == [text is not None and any(b in controls for b in text.encode())
                                    for text in texts_here], name


def test_first_bytes_are_each_values_first_byte_and_minus_one_for_an_empty_value():
    for name, values in _arrays(_texts(2)).items():
        expected = [text.encode()[0] if text else -1 for text in values.to_pylist()]
        assert first_bytes(values).tolist() == expected, name
    assert first_bytes(pa.array(["", ""], pa.string())).tolist() == [-1, -1]  # no data buffer at all


@pytest.mark.parametrize("window", [1, 5, 64])
def test_windows_cover_every_value_once_in_order_in_runs_of_about_the_window(window, monkeypatch):
    monkeypatch.setattr(arrow_bytes, "WINDOW_BYTES", window)
    for name, values in _arrays(_texts(3) + ["x" * 200, "", None]).items():
        offsets, _ = views(values)
        runs = list(windows(offsets))
        assert [i for run in runs for i in range(*run)] == list(range(len(values))), name
        # a run starts with the value holding its window's first byte and ends before the one holding the next's
        assert all(offsets[j] - offsets[i] <= window + offsets[i + 1] - offsets[i] for i, j in runs), name
        assert len(runs) <= (offsets[-1] - offsets[0]) // window + 2, name
