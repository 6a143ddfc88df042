"""The release's rows mapped a block at a time: ``ReleaseRow``'s mapping done on whole columns with pyarrow
compute, for rows in the forms the release uses.

A row is mapped here only where the vectorised reading is provably the same as ``ReleaseRow``'s: numbers and
clock times in plain ASCII forms (pyarrow parses decimals to the same doubles as Python's ``float``), no
character that Python and RE2 class differently (Unicode whitespace), no control character that ``json.dumps``
would escape as ``\\uXXXX``. Any other row (a malformed one, an HD-VG span, an odd character) is left to
``ReleaseRow``: the importer maps it alone, so both paths give the same rows, rejects and provenance. Segment
captions are split by the same Python function (``captions.split_captions``) and timed by the same vectorised
one (``captions.windows``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lvd2m_builder import __version__
from lvd2m_builder.arrow_bytes import first_bytes, rows_holding, views
from lvd2m_builder.release.captions import split_column, windows
from lvd2m_builder.release.rows import (
    CAPTION_COLUMNS,
    KNOWN_COLUMNS,
    RELEASE_FLOW_BACKEND,
    SPAN_COLUMNS,
    YOUTUBE_SOURCES,
    default_source,
)
from lvd2m_builder.schema import ROW_FEATURES

#: Python's ``str.isspace`` characters: a value of only these is blank for ``ReleaseRow`` (RE2's \s is ASCII).
_SPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"
_BLANK = f"^[{_SPACE}]*$"
_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?$"
_WS = r"[ \t\n\r\f]*"
_CLOCK = r"(?P<h{0}>[0-9]{{1,6}}):(?P<m{0}>[0-5]?[0-9]):(?P<s{0}>[0-5]?[0-9](?:\.[0-9]*)?)"
_SPAN = rf"^{_WS}\[{_WS}'{_WS}{_CLOCK.format(0)}{_WS}'{_WS},{_WS}'{_WS}{_CLOCK.format(1)}{_WS}'{_WS}\]{_WS}$"
_SCHEMA = ROW_FEATURES.arrow_schema
_SEGMENTS = _SCHEMA.field("segments").type


@dataclass
class Mapped:
    """``fast``: the rows mapped here (the rest are ``ReleaseRow``'s); ``rows``: those rows, in order, in the
    shards' schema; ``rules``: each one's segment rule."""

    fast: np.ndarray
    rows: pa.Table
    rules: np.ndarray


def _column(table: pa.Table, name: str) -> pa.Array:
    if name in table.column_names:
        return table.column(name).combine_chunks()
    return pa.array([""] * table.num_rows, pa.string())


def _blank(values: pa.Array) -> np.ndarray:
    """Where the value is empty or all spaces. A value that starts with a printable ASCII character is not; only
    the others are matched with RE2 (which over every caption was the costliest check of the import)."""
    first = first_bytes(values)
    maybe = np.flatnonzero((first <= 32) | (first >= 127))
    blank = np.zeros(len(values), dtype=bool)
    if len(maybe):
        blank[maybe] = pc.match_substring_regex(values.take(pa.array(maybe)), _BLANK).to_numpy(zero_copy_only=False)
    return blank


def _text(values: pa.Array, blank: np.ndarray) -> pa.Array:
    """``ReleaseRow._text``: the value itself, or null when blank."""
    if not blank.any():
        return values
    return pc.if_else(pa.array(blank), pa.nulls(len(values), pa.string()), values)


def _numbers(values: pa.Array, blank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, plain): the numbers (NaN when blank) and where the text is a plain decimal or blank."""
    plain = pc.match_substring_regex(values, _NUMBER).to_numpy(zero_copy_only=False)
    parsed = pc.cast(pc.if_else(pa.array(plain), values, pa.nulls(len(values), pa.string())), pa.float64())
    numbers = parsed.to_numpy(zero_copy_only=False).astype(np.float64)
    with np.errstate(invalid="ignore"):
        return numbers, (plain & np.isfinite(numbers)) | blank


#: Control characters ``json.dumps`` writes as \\uXXXX (the usual ones, which ``_json`` escapes, excluded).
_ODD_CONTROLS = [*range(0, 9), 11, 12, *range(14, 32)]
#: What ``_json`` escapes: backslash, quote, newline, carriage return, tab.
_ESCAPED = [92, 34, 10, 13, 9]


def _json(values: pa.Array) -> pa.Array:
    """Each value as ``json.dumps`` writes a string (``ensure_ascii=False``; odd control characters excluded)."""
    if rows_holding(values, _ESCAPED).any():  # spans rarely hold any: five passes saved
        for char, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
            values = pc.replace_substring(values, char, escaped)
    return pc.binary_join_element_wise('"', values, '"', "")


def _join(pieces: list[pa.Array], size: int) -> pa.Array:
    """The non-null pieces of each row joined by ", "; null where there are none.

    (Each piece carries its own separator: pyarrow 26's ``null_handling="skip"`` drops the rows whose pieces
    are all null instead of returning an empty string for them.)
    """
    pieces = [piece for piece in pieces if piece.null_count < len(piece)]  # null on every row: nothing to join
    if not pieces:
        return pa.nulls(size, pa.string())
    if not any(piece.null_count for piece in pieces):  # the usual block: one join (every piece is non-empty)
        return pc.binary_join_element_wise(*pieces, ", ")
    filled = [pc.fill_null(pc.binary_join_element_wise(piece, ", ", ""), "") for piece in pieces]
    joined = pc.utf8_slice_codeunits(pc.binary_join_element_wise(*filled, ""), 0, -2)  # the last ", "
    return pc.if_else(pc.equal(joined, ""), pa.nulls(size, pa.string()), joined)


def _members(items: list[tuple[str, pa.Array]], size: int) -> pa.Array:
    """``"name": value`` pairs, sorted by name, joined by ", " (null items left out); null when none is there."""
    return _join([pc.binary_join_element_wise(json.dumps(name) + ": ", value, "") for name, value in sorted(items)],
                 size)


def _object(name: str, members: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(json.dumps(name) + ": {", members, "}", "")


def _provenance(col: dict[str, pa.Array], blank: dict[str, np.ndarray], extra: list[str], lines: np.ndarray,
                file_name: str, fast: np.ndarray, kept: Callable[[pa.Array], pa.Array], rules: pa.Array) -> pa.Array:
    """Each mapped row's provenance as ``ReleaseRow`` writes it (``json.dumps(..., sort_keys=True)``: extra,
    imported, lvd2m_builder, release, segment_times, source; null members left out). ``kept``: a column's values
    at the mapped rows (``fast``)."""
    size = len(fast)
    imported = f'"imported": {{"file": {json.dumps(file_name, ensure_ascii=False)}, "line": '
    version = f'"lvd2m_builder": {json.dumps(__version__)}'
    source = '", "source": "LVD-2M release"}'
    present = {name: not blank[name][fast].any() for name in SPAN_COLUMNS}
    if not extra and all(present[name] or blank[name][fast].all() for name in SPAN_COLUMNS):
        # the release's own blocks: each span column on every mapped row or on none, so every row has the same
        # members and the whole text is one join (piece by piece below, the joins took a fifth of the mapping)
        pieces: list = ["{" + imported, pc.cast(kept(pa.array(lines)), pa.string()), "}, " + version]
        members = sorted(name for name in SPAN_COLUMNS if present[name])
        for i, name in enumerate(members):
            pieces += [(", " if i else ', "release": {') + f"{json.dumps(name)}: ", _json(kept(col[name]))]
        pieces += ["}" if members else "", ', "segment_times": "', rules, source]
        return pc.binary_join_element_wise(*pieces, "")
    release = _members([(name, _json(_text(col[name], blank[name]))) for name in SPAN_COLUMNS], size)
    extras = _members([(name, _json(pc.if_else(pc.equal(col[name], ""), pa.nulls(size, pa.string()), col[name])))
                       for name in extra], size)
    head = kept(_join([_object("extra", extras),
                       pc.binary_join_element_wise(imported, pc.cast(pa.array(lines), pa.string()), "}", ""),
                       pa.array([version] * size), _object("release", release)], size))
    return pc.binary_join_element_wise("{", head, ', "segment_times": "', rules, source, "")


def _spans(values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end, matched): the seconds of each span in ``_SPAN``'s form (NaN elsewhere) and where it is. The
    release's own form, ``['HH:MM:SS.fff', 'HH:MM:SS.fff']``, is read from its bytes (``_release_spans``); any other
    by ``_SPAN``."""
    start, end, matched = _release_spans(values)
    other = np.flatnonzero(~matched)
    if len(other):
        spans = pc.extract_regex(values.take(pa.array(other)), _SPAN)
        parts = [pc.struct_field(spans, [i]) for i in range(6)]  # null where the span is not in this form
        hours = [pc.cast(parts[k], pa.int64()).to_numpy(zero_copy_only=False) for k in (0, 3)]
        minutes = [pc.cast(parts[k], pa.int64()).to_numpy(zero_copy_only=False) for k in (1, 4)]
        secs = [pc.cast(parts[k], pa.float64()).to_numpy(zero_copy_only=False) for k in (2, 5)]
        start[other], end[other] = (_clock_seconds(h, m, s) for h, m, s in zip(hours, minutes, secs))
        matched[other] = pc.is_valid(spans).to_numpy(zero_copy_only=False)
    return start, end, matched


#: The form every span of the release has, a case of ``_SPAN`` (two digits of hours, milliseconds), byte by byte:
#: each byte's lowest and highest value (a digit's range, the tens of minutes and seconds 0-5, or the character).
_RELEASE_FORM = "['00:00:00.000', '00:00:00.000']"
_LOWEST = np.frombuffer(_RELEASE_FORM.encode(), dtype=np.uint8)
_HIGHEST = np.frombuffer(_RELEASE_FORM.replace("0", "9").encode(), dtype=np.uint8).copy()
#: Where each ``HH:MM:SS.fff`` starts in a span of that form, and where its digits are from there.
_CLOCKS = (2, 18)
_CLOCK_DIGITS = np.array([0, 1, 3, 4, 6, 7, 9, 10, 11])
_HIGHEST[[clock + tens for clock in _CLOCKS for tens in (3, 6)]] = ord("5")  # the tens of minutes and of seconds


def _release_spans(values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end, matched) of the spans in ``_RELEASE_FORM`` (NaN elsewhere), read at fixed places from
    their bytes: every value of that length is compared byte by byte with the form and its digits are summed
    (RE2's match, and then its six groups extracted, took four times as long). The seconds are whole milliseconds
    over 1000, which IEEE division rounds as ``float`` rounds the decimal: the bits ``_SPAN``'s reading gives."""
    start, end = np.full(len(values), np.nan), np.full(len(values), np.nan)
    offsets, data = views(values)
    width = len(_LOWEST)
    at = np.flatnonzero(np.diff(offsets) == width)
    if len(at) == len(values):  # every value of that length (the release's blocks): the data as rows, no copy
        form = data[offsets[0]:offsets[-1]].reshape(-1, width)
    else:
        form = data[offsets[at, None] + np.arange(width)]
    fits = np.all((form >= _LOWEST) & (form <= _HIGHEST), axis=1)
    at, form = at[fits], form[fits]
    for seconds, clock in zip((start, end), _CLOCKS):
        digits = form[:, clock + _CLOCK_DIGITS].astype(np.int64) - ord("0")
        hours, minutes = digits[:, 0] * 10 + digits[:, 1], digits[:, 2] * 10 + digits[:, 3]
        millis = digits[:, 4:] @ np.array([10_000, 1_000, 100, 10, 1])
        seconds[at] = _clock_seconds(hours, minutes, millis / 1000)
    matched = np.zeros(len(values), dtype=bool)
    matched[at] = True
    return start, end, matched


def _clock_seconds(hours: np.ndarray, minutes: np.ndarray, secs: np.ndarray) -> np.ndarray:
    """Seconds of a clock time, summed in the one order both readings of a span use, so they give the same bits."""
    return (hours * 3600 + minutes * 60).astype(np.float64) + secs


def map_columns(table: pa.Table, lines: np.ndarray, file_name: str) -> Mapped:
    """Map the rows of one block (string columns named by the header; ``lines``: where each row starts)."""
    size = table.num_rows
    col = {name: _column(table, name) for name in {*KNOWN_COLUMNS, *table.column_names}}
    blank = {name: _blank(values) for name, values in col.items()}
    odd = np.zeros(size, dtype=bool)
    extra = [name for name in table.column_names if name not in KNOWN_COLUMNS]
    for name in [*SPAN_COLUMNS, *extra]:
        odd |= rows_holding(col[name], _ODD_CONTROLS)

    score, score_ok = _numbers(col["total score"], blank["total score"])
    video_time, time_ok = _numbers(col["video_time"], blank["video_time"])
    with np.errstate(invalid="ignore"):
        score_ok &= blank["total score"] | (score >= 0)
        time_ok &= blank["video_time"] | (video_time > 0)

    start, end, matched = _spans(col["span"])
    with np.errstate(invalid="ignore"):
        span_ok = blank["span"] | (matched & (end > start))

    default = default_source(file_name) or ""
    src = pc.if_else(pa.array(blank["dataset_src"]), default, col["dataset_src"])
    src_ok = pc.match_substring_regex(src, "^[ -~]*$").to_numpy(zero_copy_only=False)
    src = pc.utf8_lower(pc.utf8_trim(src, " "))
    src = pc.if_else(pc.equal(src, ""), pa.nulls(size, pa.string()), src)
    youtube = pc.is_in(src, pa.array(sorted(YOUTUBE_SOURCES))).to_numpy(zero_copy_only=False)
    hdvg = ~blank["orig_span"] | ~blank["scene_cut"]

    captions, counts, unparsed, exact = split_column(col["raw_caption"], blank["raw_caption"])
    fast = (~blank["key"] & score_ok & time_ok & span_ok & src_ok & ~hdvg & ~odd & exact
            & ~(blank["span"] & youtube))
    every = bool(fast.all())
    take = pa.array(np.flatnonzero(fast))

    def kept(values: pa.Array) -> pa.Array:
        return values if every else values.take(take)  # no copy in the usual block, where every row is here

    span_start = np.where(blank["span"], 0.0, start)
    span_end = np.where(blank["span"], video_time, end)
    duration = np.where(blank["video_time"], span_end - span_start, video_time)
    flow = np.where(blank["total score"], np.nan, score)

    captions = captions if every else captions.filter(pa.array(np.repeat(fast, counts)))
    counts = counts[fast]
    starts, ends, rules = windows(counts, duration[fast])
    rules = np.where(unparsed[fast], "unparsed", np.where(counts == 0, "none", rules))
    segments = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(counts)]), pa.int32()),
        pa.StructArray.from_arrays([pa.array(starts, pa.float32(), from_pandas=True),
                                    pa.array(ends, pa.float32(), from_pandas=True), captions],
                                   fields=list(_SEGMENTS.value_type)),
    ).cast(_SEGMENTS)

    provenance = _provenance(col, blank, extra, lines, file_name, fast, kept, pa.array(rules, pa.string()))
    rows = {
        "key": kept(col["key"]),
        "source_key": kept(col["key"]),  # each release row is its own input, as rows.py maps it
        "video_id": kept(_text(col["video_id"], blank["video_id"])),
        "url": kept(_text(col["url"], blank["url"])),
        "dataset_src": kept(src),
        "span_start": kept(pa.array(span_start, from_pandas=True)),
        "span_end": kept(pa.array(span_end, from_pandas=True)),
        "duration": kept(pa.array(duration, from_pandas=True)),
        "flow_score": kept(pa.array(flow, from_pandas=True)),
        "flow_backend": kept(pc.if_else(pa.array(np.isnan(flow)), pa.nulls(size, pa.string()), RELEASE_FLOW_BACKEND)),
        "cut_times": pa.array([[]] * len(take), pa.list_(pa.float32())),
        "segments": segments,
        **{name: kept(_text(col[name], blank[name])) for name in CAPTION_COLUMNS},
        "provenance": provenance,
    }
    count = len(take)
    columns = [rows[f.name].cast(f.type, safe=False) if f.name in rows else pa.nulls(count, f.type) for f in _SCHEMA]
    return Mapped(fast, pa.Table.from_arrays(columns, schema=_SCHEMA), rules)
