"""Spans of the LVD-2M release, in seconds of the source video.

YouTube rows (Panda-70M, InternVid) carry ``span``: a Python-literal list ``['HH:MM:SS.mmm', 'HH:MM:SS.mmm']``.
HD-VG rows carry ``orig_span`` (a larger clip of the YouTube video, same literal form) and ``scene_cut`` (frame
indices inside it, ``[start, end]``; ``end == -1`` means to the end of ``orig_span``). Frame indices need the
source's frame rate, which the release does not give; it follows from ``video_time`` (the clip's length):
``fps = (end - start) / video_time``, the inverse of how the release's own script computes ``video_time``.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any, Optional

from lvd2m_builder.errors import MalformedRowError

_CLOCK = re.compile(r"^(\d+):([0-5]?\d):([0-5]?\d(?:\.\d*)?)$")
#: The release's usual form, ``['00:00:17.759', '00:00:23.279']``, read without ``ast`` (3x faster).
_PAIR = re.compile(r"^\[\s*'([^'\\]*)'\s*,\s*'([^'\\]*)'\s*\]$")

#: How far an HD-VG clip may run past its ``orig_span`` (rounding of ``video_time``) before the row is malformed.
ORIG_SPAN_SLACK_S = 0.5


def seconds(value: Any, column: str) -> float:
    """``'0:01:20.880'`` / ``'00:01:20.880'`` / a number -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        result = float(value)
    elif isinstance(value, str) and (match := _CLOCK.match(value.strip().lstrip("-"))):
        hours, minutes, secs = match.groups()
        result = int(hours) * 3600 + int(minutes) * 60 + float(secs)
        if value.strip().startswith("-"):
            result = -result
    else:
        raise MalformedRowError(column, value, "not a time (expected 'HH:MM:SS.mmm')")
    if not math.isfinite(result):
        raise MalformedRowError(column, value, "not a finite time")
    if result < 0:
        raise MalformedRowError(column, value, "negative span")
    return result


def _literal(text: str, column: str, length: int) -> list:
    if length == 2 and (match := _PAIR.match(text.strip())):
        return list(match.groups())
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
        raise MalformedRowError(column, text, f"bad span literal ({type(e).__name__})") from e
    if not isinstance(value, (list, tuple)) or len(value) != length:
        raise MalformedRowError(column, text, f"bad span literal (expected a list of {length})")
    return list(value)


def parse_span(text: str, column: str = "span") -> tuple[float, float]:
    """A span literal -> (start, end) seconds; negative, empty and reversed spans are malformed."""
    start_text, end_text = _literal(text, column, 2)
    start, end = seconds(start_text, column), seconds(end_text, column)
    if end <= start:
        raise MalformedRowError(column, text, "reversed span" if end < start else "empty span")
    return start, end


def parse_scene_cut(text: str) -> tuple[int, int]:
    start, end = _literal(text, "scene_cut", 2)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        raise MalformedRowError("scene_cut", text, "frame indices must be integers")
    if start < 0 or (end != -1 and end <= start):
        raise MalformedRowError("scene_cut", text, "reversed span" if end != -1 and end < start else "bad frame range")
    return start, end


def hdvg_span(orig_span: str, scene_cut: str, video_time: Optional[float]) -> tuple[float, float]:
    """HD-VG's nested span resolved to seconds of the YouTube video."""
    orig_start, orig_end = parse_span(orig_span, "orig_span")
    first, last = parse_scene_cut(scene_cut)
    if last == -1:
        if first == 0:
            return orig_start, orig_end
        if video_time is None:
            raise MalformedRowError("scene_cut", scene_cut, "a clip not starting at frame 0 needs video_time")
        return max(orig_start, orig_end - video_time), orig_end
    if video_time is None:
        raise MalformedRowError("scene_cut", scene_cut, "frame indices need video_time to become seconds")
    fps = (last - first) / video_time
    start = orig_start + first / fps
    end = start + video_time
    if end > orig_end + ORIG_SPAN_SLACK_S:
        raise MalformedRowError("scene_cut", scene_cut, f"runs past orig_span ({end:.3f}s > {orig_end:.3f}s)")
    return start, min(end, orig_end)
