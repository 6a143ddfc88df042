"""Whether a video's frame times can be real: nothing implausible is sized from or sampled by.

Broken timestamps happen: decord (FFmpeg 4) counts a packet without a timestamp at -2^63 stream ticks, which on an
AVI with B-frames (MPEG-4 ASP, as DivX/Xvid wrote them; ``tests/media/test_timing.py`` makes one) gave about
7e-16 fps over 4e17 s. The probe reads the packets' own times with PyAV (FFmpeg 8), which get such files right,
and decodes by the same times; these checks still reject what no video could be, before anything is sized
from it: a duration must be finite and positive and the rate between :data:`MIN_FPS` and :data:`MAX_FPS`.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

#: Frame rates outside this range are not video timing but broken timestamps (a slideshow at one frame a minute
#: and 1000 fps high-speed footage both fit).
MIN_FPS, MAX_FPS = 1 / 60, 1000.0


def implausible(starts: np.ndarray, end: float) -> Optional[str]:
    """Why frame times ``starts`` ending at ``end`` cannot be a video's; None when they can."""
    count = len(starts)
    duration = float(end - starts[0]) if count else 0.0
    if not count or not np.isfinite(starts).all() or not np.isfinite(duration) or duration <= 0:
        return f"{count} frames over {duration:.3g}s"
    fps = count / duration
    if not MIN_FPS <= fps <= MAX_FPS:
        return f"{fps:.3g} fps ({count} frames over {duration:.3g}s)"
    return None
