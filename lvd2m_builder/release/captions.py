"""Split the release's ``raw_caption`` ("Caption 1: ... Caption 2: ...") into timed ``segments``.

The release gives no segment times. LVD-2M captions a long clip in consecutive 30 s segments, so when the number
of captions matches ``ceil(duration / 30)`` the segments get those 30 s windows (the last one shorter); otherwise
the clip is divided evenly. Which rule applied is returned so the row's provenance can say so.
"""

from __future__ import annotations

import math
import re
from typing import Optional

SEGMENT_S = 30.0

_MARKER = re.compile(r"Caption\s*(\d+)\s*:\s*", re.IGNORECASE)


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


def segment_times(count: int, duration: Optional[float]) -> tuple[list[tuple[Optional[float], Optional[float]]], str]:
    """``count`` windows over ``[0, duration]`` and the rule used (``30s``, ``even`` or ``unknown``)."""
    if duration is None or duration <= 0:
        return [(None, None)] * count, "unknown"
    if count == math.ceil(duration / SEGMENT_S):
        return [(i * SEGMENT_S, min((i + 1) * SEGMENT_S, duration)) for i in range(count)], "30s"
    step = duration / count
    return [(i * step, duration if i == count - 1 else (i + 1) * step) for i in range(count)], "even"


def segments(raw: Optional[str], duration: Optional[float]) -> tuple[list[dict], str]:
    """``segments`` rows for the schema and the rule used; ``unparsed`` (and no segments) when markers are broken."""
    texts = split_captions(raw)
    if texts is None:
        return [], "unparsed"
    if not texts:
        return [], "none"
    windows, rule = segment_times(len(texts), duration)
    return [
        {"start": None if s is None else round(s, 3), "end": None if e is None else round(e, 3), "caption": text}
        for (s, e), text in zip(windows, texts)
    ], rule
