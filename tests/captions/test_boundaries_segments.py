"""Caption segments at their edges: 30 s segments, a tail shorter than ``min_tail_s`` joins the segment before it,
and no segment is ever empty."""

from __future__ import annotations

import pytest

from lvd2m_builder.stages.segments import split


def test_a_tail_of_at_least_ten_seconds_is_a_segment_of_its_own():
    assert split(40.5) == [(0.0, 30.0), (30.0, 40.5)]  # the default min_tail_s is 10 s
    assert split(39.5) == [(0.0, 39.5)]  # a 9.5 s tail joins the segment before it


def test_whole_segments_leave_no_empty_one_even_without_a_tail_minimum():
    assert split(60.0, 30.0, min_tail_s=0.0) == [(0.0, 30.0), (30.0, 60.0)]
    assert split(30.0, 30.0, min_tail_s=0.0) == [(0.0, 30.0)]


def test_a_clip_shorter_than_a_segment_is_one_segment_and_nothing_is_refused():
    assert split(12.0) == [(0.0, 12.0)]
    with pytest.raises(ValueError, match="nothing to caption"):
        split(0.0)
