"""Release spans past the first hour: clock times with hours become the right seconds."""

from __future__ import annotations

import pytest

from lvd2m_builder.errors import MalformedRowError
from lvd2m_builder.release.spans import hdvg_span, parse_span, seconds


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


def test_a_span_from_the_first_frame_starts_at_zero():
    assert seconds("0:00:00.000", "span") == seconds(0, "span") == 0.0
    assert parse_span("['00:00:00.000', '00:00:12.000']") == (0.0, 12.0)


@pytest.mark.parametrize("text", [" -0:00:01.5", "-00:00:00.500"])
def test_a_negative_clock_time_is_refused_as_negative(text):
    with pytest.raises(MalformedRowError) as caught:
        seconds(text, "span")
    assert (caught.value.column, caught.value.value, caught.value.why) == ("span", text, "negative span")


@pytest.mark.parametrize("value", ["12:3x", "X0:00:01", "0:60:00", "", None, True],
                         ids=["letters", "leading-letter", "minute-60", "empty", "none", "bool"])
def test_what_is_not_a_time_is_refused_naming_the_column_and_the_value(value):
    with pytest.raises(MalformedRowError) as caught:
        seconds(value, "orig_span")
    assert (caught.value.column, caught.value.value) == ("orig_span", value)
    assert caught.value.why == "not a time (expected 'HH:MM:SS.mmm')"


@pytest.mark.parametrize("value", [float("inf"), float("nan")], ids=["inf", "nan"])
def test_a_time_that_is_not_finite_is_refused_naming_the_column(value):
    with pytest.raises(MalformedRowError) as caught:
        seconds(value, "span")
    assert (caught.value.column, caught.value.why) == ("span", "not a finite time")
    assert caught.value.value is value
