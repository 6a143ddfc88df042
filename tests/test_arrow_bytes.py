"""Byte-level checks on Arrow string arrays answer as a look at each value's own text does: slices, empty and
null values, control bytes and other bytes, every byte value."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from lvd2m_builder.arrow_bytes import first_bytes, rows_holding

PIECES = ["a", "bc", " ", "\t", "\n", "\r", "\x00", "\x0b", "\x1c", "\x1f", "\\", '"', "é", "\u3000", ""]


def _texts(seed: int, count: int = 400) -> list:
    rng = random.Random(seed)
    return [None if rng.random() < 0.05 else "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6)))
            for _ in range(count)]


def _arrays(texts: list) -> dict[str, pa.Array]:
    array = pa.array(texts, pa.string())
    return {"whole": array, "slice": array.slice(37, 250), "empty": array.slice(5, 0), "tail": array.slice(390)}


@pytest.mark.parametrize("wanted", [[0x00, 0x0B, 0x1C, 0x1F], [*range(0, 9), 11, 12, *range(14, 32)],
                                    [92, 34, 10, 13, 9], [ord("a")], [0xC3], [0xE3, 0x80]])
def test_rows_holding_finds_the_values_whose_bytes_hold_a_wanted_byte(wanted):
    for name, values in _arrays(_texts(1)).items():
        expected = [text is not None and any(b in wanted for b in text.encode()) for text in values.to_pylist()]
        assert rows_holding(values, wanted).tolist() == expected, name


def test_first_bytes_are_each_values_first_byte_and_minus_one_for_an_empty_value():
    for name, values in _arrays(_texts(2)).items():
        expected = [text.encode()[0] if text else -1 for text in values.to_pylist()]
        assert first_bytes(values).tolist() == expected, name
    assert first_bytes(pa.array(["", ""], pa.string())).tolist() == [-1, -1]  # no data buffer at all
