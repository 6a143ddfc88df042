"""Split a clip into caption segments and choose each segment's frames.

Segments are ``segment_s`` long (30 s in the paper), counted from the clip's start. The paper does not say what
happens to the last, shorter part; here a remainder shorter than ``min_tail_s`` (10 s, the shortest clip LVD-2M
keeps) joins the segment before it, and a longer one is a segment of its own. So a 10 s or 30 s clip is one
segment, 31 s is one segment of 31 s, 39 s one of 39 s, 40 s two (30 + 10), 75 s three (30 + 30 + 15).
"""

from __future__ import annotations

import numpy as np

from lvd2m_builder.media.sampler import uniform


def split(duration: float, segment_s: float = 30.0, min_tail_s: float = 10.0) -> list[tuple[float, float]]:
    """(start, end) seconds of each segment, covering [0, duration) without gaps."""
    if duration <= 0:
        raise ValueError(f"clip duration {duration:.3f}s leaves nothing to caption")
    bounds = []
    start = 0.0
    while duration - start > segment_s + 1e-6:
        bounds.append((start, start + segment_s))
        start += segment_s
    tail = duration - start
    if bounds and tail < min_tail_s - 1e-6:
        bounds[-1] = (bounds[-1][0], duration)
    else:
        bounds.append((start, duration))
    return bounds


def frame_times(segments: list[tuple[float, float]], per_segment: int) -> np.ndarray:
    """``per_segment`` uniform times inside each segment (centres of equal parts), segment after segment."""
    return np.concatenate([uniform(end - start, per_segment, start) for start, end in segments])
