"""Validate's row rules at their edges: a duration exactly at a configured limit (or within the tolerance) keeps
its promise, beyond it does not; every finding has its code and message; caption repeats name the right shard
and never count a missing caption."""

from __future__ import annotations

import pyarrow as pa

from lvd2m_builder.validate.rows import TOLERANCE_S, CaptionRepeats, RowRules, check_accepted

RULES = RowRules(min_s=10.0, max_s=60.0, captions=True)


def _row(**changes) -> dict:
    row = {"duration": 20.0, "span_start": 5.0, "span_end": 25.0, "cut_times": [], "refined_caption": "a pan",
           **changes}
    row.setdefault("segments", [{"start": 0.0, "end": row["duration"] or 20.0, "caption": "a pan"}])
    return row


def _findings(**changes) -> list[tuple[str, str]]:
    return list(check_accepted(_row(**changes), RULES))


def test_a_duration_at_either_limit_or_within_the_tolerance_keeps_its_promise():
    for duration in (10.0, 10.0 - TOLERANCE_S, 60.0, 60.0 + TOLERANCE_S):
        assert _findings(duration=duration) == [], duration


def test_a_duration_beyond_a_limit_is_named_with_its_code_and_message():
    assert _findings(duration=9.99) == [("duration_below_min", "duration 9.990 s < configured minimum 10 s")]
    assert _findings(duration=60.01) == [("duration_above_max", "duration 60.010 s > configured maximum 60 s")]
    assert _findings(duration=None) == [("duration_missing", "accepted row has no duration")]


def test_a_span_missing_either_end_or_not_moving_forward_is_invalid():
    for start, end in ((None, 25.0), (5.0, None), (5.0, 5.0)):
        assert [code for code, _ in _findings(span_start=start, span_end=end)] == ["span_invalid"], (start, end)


def test_an_empty_caption_where_captions_ran_is_named():
    assert _findings(refined_caption="  ") == [
        ("caption_missing", "captions were enabled but refined_caption is empty")]
    assert list(check_accepted(_row(refined_caption=None), RowRules(10.0, None, captions=False))) == []


def _repeats(batches: list[tuple[str, list]], limit: int = 2) -> list[tuple[str, int, str]]:
    repeats, first_rows = CaptionRepeats(limit), {}
    for shard, captions in batches:
        first = first_rows.get(shard, 0)
        repeats.add(pa.array(captions, pa.string()), shard, first)
        first_rows[shard] = first + len(captions)
    return [(f.shard, f.row, f.message.split(",")[0]) for f in repeats.findings(
        lambda shard, row: {"refined_caption": "same", "key": f"{shard}:{row}"})]


def test_a_repeat_is_found_at_its_first_row_across_batches_and_shards():
    found = _repeats([("a", ["x", "same"]), ("a", ["same"]), ("b", ["y", "same"])])
    assert found == [("a", 1, "refined_caption on 3 clips (limit 2)")]
    found = _repeats([("a", ["x"]), ("b", ["y", "same"]), ("b", ["same", "same"])])
    assert found == [("b", 1, "refined_caption on 3 clips (limit 2)")]


def test_missing_and_blank_captions_are_never_a_repeat():
    assert _repeats([("a", [None, None, None, " ", ""])]) == []


def _segment_findings(segments: list[tuple], duration: float = 60.0) -> list[tuple[str, str]]:
    row = _row(duration=duration, segments=[{"start": s, "end": e, "caption": "c"} for s, e in segments])
    return list(check_accepted(row, RULES))


def test_segments_touching_each_other_and_the_clip_ends_keep_their_promise():
    assert _segment_findings([(0.0, 30.0), (30.0, 60.0)]) == []
    assert _segment_findings([(-TOLERANCE_S, 30.0), (30.0 - TOLERANCE_S, 60.0 + TOLERANCE_S)]) == []


def test_each_broken_segment_rule_is_named_with_its_segment():
    assert _segment_findings([(0.0, 30.0), (30.0, 30.0), (None, 40.0), (40.0, None)]) == [
        ("segment_invalid", "segment 1 has start 30.0 and end 30.0"),
        ("segment_invalid", "segment 2 has start None and end 40.0"),
        ("segment_invalid", "segment 3 has start 40.0 and end None")]
    assert _segment_findings([(-0.01, 30.0), (30.0, 60.01)]) == [
        ("segment_outside", "segment 0 [-0.010, 30.000] is outside [0, 60.0]"),
        ("segment_outside", "segment 1 [30.000, 60.010] is outside [0, 60.0]")]
    assert _segment_findings([(30.0, 60.0), (0.0, 30.0)]) == [
        ("segments_unordered", "segment 1 starts at 0.000 s, before segment 0")]
    assert _segment_findings([(0.0, 30.0), (29.9, 60.0)]) == [
        ("segments_overlap", "segment 1 starts at 29.900 s, before segment 0 ends")]
    assert _segment_findings([(0.0, 30.0), (0.0, 20.0)]) == [  # a second segment at the same start overlaps
        ("segments_overlap", "segment 1 starts at 0.000 s, before segment 0 ends")]


def _quoted(caption: str | None, rows: int = 3) -> list:
    repeats = CaptionRepeats(2)
    repeats.add(pa.array(["x"] * rows, pa.string()), "a", 0)
    return list(repeats.findings(lambda shard, row: {"refined_caption": caption, "key": "k"}))


def test_a_repeat_is_an_error_quoting_its_caption_whole_up_to_80_characters():
    (finding,) = _quoted("w" * 80)
    assert finding.severity == "error" and finding.message.endswith(f"first here: {'w' * 80!r}")
    (finding,) = _quoted("w" * 81)
    assert finding.message.endswith(f"first here: {'w' * 77 + '...'!r}")
    (finding,) = _quoted(None)  # a caption read back empty is quoted as empty
    assert finding.message.endswith("first here: ''")


def test_the_first_row_of_each_repeat_is_its_earliest_however_many_rows_share_it():
    captions = [f"caption {i % 3}" for i in range(3000)]  # three captions, 1,000 rows each, interleaved
    repeats = CaptionRepeats(2)
    repeats.add(pa.array(captions[:1500], pa.string()), "a", 0)
    repeats.add(pa.array(captions[1500:], pa.string()), "b", 0)
    found = list(repeats.findings(lambda shard, row: {"refined_caption": "c", "key": f"{shard}:{row}"}))
    assert [(f.shard, f.row) for f in found] == [("a", 0), ("a", 1), ("a", 2)]
    assert all("on 1000 clips" in f.message for f in found)
