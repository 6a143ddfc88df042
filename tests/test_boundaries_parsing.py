"""Parsing at its edges: a CAPTION: prefix only counts at the start of a line, and release spans with hours."""

from __future__ import annotations

import pytest

from lvd2m_builder.captions import parse
from lvd2m_builder.importers.spans import hdvg_span, parse_span, seconds


@pytest.mark.parametrize("text", [
    "Here is my caption: A dog runs along the beach at sunset.",
    "Sure! The caption: a dog runs along the beach at sunset.",
    "I would write this CAPTION: A dog runs along the beach at sunset.",
], ids=["lowercase-mid-line", "after-a-label", "uppercase-mid-line"])
def test_a_caption_word_inside_a_line_is_not_a_prefix(text):
    with pytest.raises(parse.Unusable, match="no CAPTION: prefix"):
        parse.caption(text)


def test_a_prefix_on_a_later_line_still_counts():
    assert parse.caption("Here is my caption:\nCAPTION: A dog runs along the beach.") == "A dog runs along the beach."


@pytest.mark.parametrize("text, expected", [
    ("1:00:00.000", 3600.0), ("01:02:03.250", 3723.25), ("2:00:05", 7205.0), ("0:59:59.5", 3599.5),
], ids=["one-hour", "h-m-s", "two-hours", "under-an-hour"])
def test_clock_times_with_hours_become_seconds(text, expected):
    assert seconds(text, "span") == pytest.approx(expected)


def test_a_span_past_the_first_hour_parses_to_the_right_seconds():
    assert parse_span("['01:00:10.500', '01:00:40.000']") == pytest.approx((3610.5, 3640.0))
    assert parse_span("['0:59:50.000', '1:00:20.000']") == pytest.approx((3590.0, 3620.0))
    # HD-VG: scene_cut [0, 300] over 12 s of video -> 25 fps, starting at the hour of orig_span
    assert hdvg_span("['01:00:00.000', '01:01:00.000']", "[0, 300]", 12.0) == pytest.approx((3600.0, 3612.0))


@pytest.mark.parametrize("text, reason", [
    ("A dog runs along the beach.", "the reply has no CAPTION: prefix"),
    ("  \n", "empty reply"),
    ("CAPTION: **  **", "empty reply"),
], ids=["no-prefix", "blank", "only-markdown"])
def test_unusable_caption_reasons_are_exact(text, reason):
    """The reason is what the reject row and the retry reminder carry: pinned word for word."""
    with pytest.raises(parse.Unusable) as info:
        parse.caption(text)
    assert str(info.value) == reason


def test_only_markdown_and_quotes_are_stripped_from_a_caption():
    assert parse.caption("CAPTION: X-rays of a hand appear one by one, then fade.") == (
        "X-rays of a hand appear one by one, then fade.")
    assert parse.caption('CAPTION: **"A dog runs along the beach."**') == "A dog runs along the beach."
