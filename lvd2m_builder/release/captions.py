"""Split the release's ``raw_caption`` ("Caption 1: ... Caption 2: ...") into timed ``segments``.

The release gives no segment times. LVD-2M captions a long clip in consecutive 30 s segments, so when the number
of captions matches ``ceil(duration / 30)`` the segments get those 30 s windows (the last one shorter); otherwise
the clip is divided evenly. Which rule applied is returned so the row's provenance can say so.
"""

from __future__ import annotations

import re
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lvd2m_builder.arrow_bytes import rows_past_ascii

SEGMENT_S = 30.0

_MARKER = re.compile(r"Caption\s*(\d+)\s*:\s*", re.IGNORECASE)
#: ``_MARKER`` in RE2, for ``split_column``, which reads only rows where RE2 and Python agree on it: none of the
#: characters that Python's \s, \d or case folding take and RE2's do not (Unicode spaces, digits, dotted and
#: dotless i), and no NUL (``split_column`` marks the markers with it).
_SPACE = "[\t\n\f\r ]"
_RE2_MARKER = f"(?i)Caption{_SPACE}*([0-9]+){_SPACE}*:{_SPACE}*"
#: Digits of a marker's number that int64 holds whatever they are (a longer one is left to ``split_captions``).
_NUMBER_DIGITS = 18
_DIFFERENT = ("[\\x0b\\x1c-\\x1f\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}"
              "\\x{3000}\\x{130}\\x{131}]|[^\\P{Nd}0-9]")
#: What ``str.strip`` removes from text with none of those characters.
_STRIP = "\t\n\x0c\r "


def split_captions(raw: Optional[str]) -> Optional[list[str]]:
    """The segment captions in order; a caption without markers is one segment; None when numbering is broken."""
    if not raw or not raw.strip():
        return []
    markers = list(_MARKER.finditer(raw))
    if not markers:
        return [raw.strip()]
    if raw[: markers[0].start()].strip() or [int(m.group(1)) for m in markers] != list(range(1, len(markers) + 1)):
        return None
    bounds = [m.end() for m in markers]
    ends = [m.start() for m in markers[1:]] + [len(raw)]
    texts = [raw[b:e].strip() for b, e in zip(bounds, ends)]
    return None if any(not t for t in texts) else texts


def split_column(raw: pa.Array, blank: np.ndarray) -> tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray]:
    """``split_captions`` over a column at once: (every row's captions one after another, how many each row has,
    where the numbering is broken, where this reading is ``split_captions``' own). ``blank``: rows whose value
    is blank (or null); rows not read exactly must be split by ``split_captions`` instead."""
    text = pc.fill_null(raw, "")
    exact = ~_different(text)
    # one RE2 pass puts each marker's number between NULs, then a plain split gives, row by row,
    # [before the first marker, number 1, caption 1, number 2, caption 2, ...]
    parts = pc.split_pattern(pc.replace_substring_regex(text, _RE2_MARKER, "\0\\1\0"), "\0")
    markers = (pc.list_value_length(parts).to_numpy(zero_copy_only=False) - 1) // 2
    pieces = pc.list_flatten(parts)
    parent = pc.list_parent_indices(parts).to_numpy(zero_copy_only=False)
    first = parts.offsets.to_numpy()[:-1]  # every row has at least one piece
    place = np.arange(len(parent)) - first[parent]
    prefix = pc.utf8_trim(pieces.take(pa.array(first)), _STRIP)
    numbered = place % 2 == 1
    digits = pieces.filter(pa.array(numbered))
    owner = parent[numbered]
    long = pc.greater(pc.binary_length(digits), _NUMBER_DIGITS).to_numpy(zero_copy_only=False)
    exact &= ~np.bincount(owner, long, len(text)).astype(bool)  # a number past int64
    unread = ~exact[owner]  # in a row with a NUL of its own, a piece here may be any text
    number = pc.cast(pc.if_else(pa.array(unread), "0", digits), pa.int64()).to_numpy(zero_copy_only=False)
    rank = np.arange(len(owner)) - np.searchsorted(owner, owner)  # 0 for a row's first marker, 1 for its next
    misnumbered = np.bincount(owner[number != rank + 1], minlength=len(text)).astype(bool)
    broken = (markers > 0) & (~pc.equal(prefix, "").to_numpy(zero_copy_only=False) | misnumbered)
    # captions: the whole text where there is no marker, else what follows each marker's number
    caption = np.where(markers[parent] == 0, place == 0, (place >= 2) & ~numbered)
    values = pc.utf8_trim(pieces.filter(pa.array(caption)), _STRIP)
    parent = parent[caption]
    empty = pc.equal(values, "").to_numpy(zero_copy_only=False)
    broken |= np.bincount(parent[empty], minlength=len(text)).astype(bool) & (markers > 0)
    keep = ~blank & ~broken
    counts = np.where(keep, np.bincount(parent, minlength=len(text)), 0)
    kept = keep[parent]
    return values if kept.all() else values.filter(pa.array(kept)), counts, broken & ~blank, exact


def _different(text: pa.Array) -> np.ndarray:
    """Rows holding a character that ``_DIFFERENT`` names, or a NUL: looked for with RE2 only in rows that are not
    plain ASCII, and among ASCII bytes in the column's data directly (5-10x faster than RE2 on every row)."""
    found, controls = rows_past_ascii(text, [0x00, 0x0B, 0x1C, 0x1D, 0x1E, 0x1F])
    if found.any():
        subset = np.flatnonzero(found)
        found[subset] = pc.match_substring_regex(text.take(pa.array(subset)), _DIFFERENT).to_numpy(zero_copy_only=False)
    return found | controls


def windows(counts: np.ndarray, durations: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment windows of many clips at once: ``counts[i]`` windows over ``[0, durations[i]]`` (NaN: unknown),
    one after another in clip order, as (starts, ends) rounded to the millisecond (NaN where unknown), and each
    clip's rule (``30s``, ``even`` or ``unknown``). One function for a row and for a block of rows, so an import
    and the loading script give the same times."""
    counts = np.asarray(counts, dtype=np.int64)
    durations = np.asarray(durations, dtype=np.float64)
    known = np.isfinite(durations) & (durations > 0)
    with np.errstate(invalid="ignore"):
        thirty = known & (counts == np.ceil(durations / SEGMENT_S))
    rules = np.where(known, np.where(thirty, "30s", "even"), "unknown")
    clip = np.repeat(np.arange(len(counts)), counts)
    i = np.arange(len(clip)) - np.repeat(np.cumsum(counts) - counts, counts)  # index inside the clip
    d, c, fixed = durations[clip], counts[clip], thirty[clip]
    with np.errstate(invalid="ignore", divide="ignore"):
        step = np.where(fixed, SEGMENT_S, d / c)
        starts = i * step
        ends = np.where(fixed, np.minimum((i + 1) * SEGMENT_S, d), np.where(i == c - 1, d, (i + 1) * step))
    unknown = ~known[clip]
    starts[unknown] = ends[unknown] = np.nan
    return np.round(starts, 3), np.round(ends, 3), rules


def segments(raw: Optional[str], duration: Optional[float]) -> tuple[list[dict], str]:
    """``segments`` rows for the schema and the rule used; ``unparsed`` (and no segments) when markers are broken."""
    texts = split_captions(raw)
    if texts is None:
        return [], "unparsed"
    if not texts:
        return [], "none"
    starts, ends, (rule,) = windows(np.array([len(texts)]), np.array([np.nan if duration is None else duration]))
    return [
        {"start": None if np.isnan(s) else float(s), "end": None if np.isnan(e) else float(e), "caption": text}
        for s, e, text in zip(starts.tolist(), ends.tolist(), texts)
    ], str(rule)
