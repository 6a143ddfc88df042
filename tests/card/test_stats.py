"""The card's numbers: caption lengths counted as ``str.split`` counts words, and a summary built block by block
equal to one of the whole."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from fakes.synthetic_dataset import captioned
from lvd2m_builder import arrow_bytes
from lvd2m_builder.card.stats import batch_summary, combine, word_counts
from lvd2m_builder.schema import ROW_FEATURES

#: ASCII spaces, control bytes Python does not split on, Unicode spaces, other non-ASCII text.
PIECES = ["a", "bc", " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x1c", "\x1f", "\x00", "\x01", "\x0e", "\x1b", "!",
          "\u00a0", "\u2003", "\u3000", "\u0085", "é", "漢字", "x y"]


@pytest.fixture(scope="module")
def texts() -> list:
    rng = random.Random(7)
    values = ["".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 14))) for _ in range(4000)]
    return values + [None, "", " ", "word", " word ", "\x01", "a\x01b c"]


@pytest.mark.parametrize("window", [1, 13, arrow_bytes.WINDOW_BYTES])  # counted a few bytes at a time, or at once
@pytest.mark.parametrize("shape", ["whole", "slice", "chunked", "large", "empty", "nulls"])
def test_word_counts_are_str_split_word_counts(texts, shape, window, monkeypatch):
    monkeypatch.setattr(arrow_bytes, "WINDOW_BYTES", window)
    array = pa.array(texts, pa.string())
    values = {"whole": array, "slice": array.slice(333, 2000), "large": array.cast(pa.large_string()),
              "chunked": pa.chunked_array([array.slice(5, 700), array.slice(1900, 900)]),
              "empty": array.slice(0, 0), "nulls": pa.array([None, None], pa.string())}[shape]
    expected = [0 if text is None else len(text.split()) for text in values.to_pylist()]
    assert word_counts(values).tolist() == expected


def test_leading_and_trailing_spaces_are_no_words():
    # pyarrow's utf8_split_whitespace gives ["", "two", "words", ""] here
    assert word_counts(pa.array(["  two words \n", " \t "])).tolist() == [2, 0]


def test_a_summary_of_blocks_is_the_summary_of_the_whole():
    rows = [captioned(i, words=1 + 7 * i, duration=11.0 + 3 * i) for i in range(30)]
    rows[4]["refined_caption"] = None
    rows[5]["refined_caption"] = "   "
    rows[6].update(width=1280, height=720)
    rows[9].update(width=1280, height=720)
    rows[12].update(width=640, height=360)
    rows[13].update(width=640, height=None)  # a size half known, or 0, is no resolution
    rows[14].update(width=0, height=360)
    table = pa.Table.from_pylist(rows, schema=ROW_FEATURES.arrow_schema)
    whole = batch_summary(table)
    parts = combine([batch_summary(table.slice(start, 7)) for start in range(0, 30, 7)])
    for name in ("durations", "flow_scores", "caption_words"):
        assert np.array_equal(getattr(parts, name), getattr(whole, name))
    assert parts.resolutions == whole.resolutions
    expected = Counter(f"{r['width']}x{r['height']}" for r in rows if r.get("width") and r.get("height"))
    assert whole.resolutions == expected and expected["1280x720"] >= 2 and expected["640x360"] >= 1
    assert len(whole.caption_words) == 28  # the missing and the blank caption count no words
    assert whole.caption_words.tolist() == [1 + 7 * i for i in range(30) if i not in (4, 5)]
