"""Decide a video's frame times by cross-checking decord against the container and the packets (PyAV).

decord builds its frame times from packet timestamps with FFmpeg 4; a packet without one counts as -2^63 stream
ticks. On an AVI with B-frames (MPEG-4 ASP, as DivX/Xvid wrote them; ``tests/media/test_timing.py`` makes one) that
gives about 7e-16 fps and 4e17 s, and its seeks, which go by those times, land on the wrong frames. So no single
number is trusted: decord's times stand when they agree with the stream's header (frame rate, frame count,
duration); when they do not, the packets' own times (PyAV, FFmpeg 8) decide. If the packets agree with decord,
the header was wrong and decord stands; if they do not, the packet times replace decord's and the clip is decoded
through PyAV, which seeks by them. Nothing implausible survives: a duration must be finite and positive and the
rate between :data:`MIN_FPS` and :data:`MAX_FPS`, or the file is rejected before anything is sized from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from lvd2m_builder.errors import DecodeError
from lvd2m_builder.media.streams import StreamFacts

log = logging.getLogger(__name__)

#: Frame rates outside this range are not video timing but broken timestamps (a slideshow at one frame a minute
#: and 1000 fps high-speed footage both fit).
MIN_FPS, MAX_FPS = 1 / 60, 1000.0
#: How far decord's duration may stray from the header's: seconds, and a fraction of the header's.
DURATION_SLACK_S, DURATION_SLACK = 1.0, 0.1
#: How far decord's frame rate and count may stray from the header's, as a fraction.
RATE_SLACK, COUNT_SLACK = 0.25, 0.02
#: Two sources agree on a frame's start within this many seconds (decord stores float32).
SAME_TIME_S = 2e-3


@dataclass(frozen=True)
class Timing:
    """Frame start times (s from the stream's start, one per frame), the span they cover, and who decodes."""

    starts: np.ndarray
    duration: float
    decoder: str  # "decord", or "pyav" when decord's own times were wrong (its seeks would be too)


def implausible(starts: np.ndarray, end: float, facts: Optional[StreamFacts] = None) -> Optional[str]:
    """Why frame times ``starts`` ending at ``end`` cannot be this video's; None when they can.

    Without ``facts`` only the physics is checked; with them, also agreement with the container's header.
    """
    count = len(starts)
    duration = float(end - starts[0]) if count else 0.0
    if not count or not np.isfinite(starts).all() or not np.isfinite(duration) or duration <= 0:
        return f"{count} frames over {duration:.3g}s"
    fps = count / duration
    if not MIN_FPS <= fps <= MAX_FPS:
        return f"{fps:.3g} fps ({count} frames over {duration:.3g}s)"
    if facts is None:
        return None
    if facts.duration and abs(duration - facts.duration) > max(DURATION_SLACK_S, DURATION_SLACK * facts.duration):
        return f"{duration:.3g}s where the container says {facts.duration:.3g}s"
    if facts.fps and abs(fps / float(facts.fps) - 1) > RATE_SLACK:
        return f"{fps:.3g} fps where the stream says {float(facts.fps):.3g}"
    if facts.frames and abs(count - facts.frames) > max(2, COUNT_SLACK * facts.frames):
        return f"{count} frames where the header says {facts.frames}"
    return None


def reconcile(path: str, starts: np.ndarray, end: float, facts: StreamFacts,
              packets: Callable[[], tuple[np.ndarray, float]]) -> Timing:
    """decord's frame ``starts`` (and last frame's ``end``) checked against ``facts``; ``packets()`` is asked
    only when they disagree. Raises DecodeError when no source gives plausible times."""
    doubt = implausible(starts, end, facts)
    if doubt is None:
        return Timing(starts, float(end - starts[0]), "decord")
    times, last = packets()
    if len(times) == len(starts) and np.allclose(times, starts, rtol=0, atol=SAME_TIME_S):
        log.debug("%s: the header disagrees (%s) but the packets confirm decord's times", path, doubt)
        return Timing(starts, float(end - starts[0]), "decord")
    problem = implausible(times, last)
    if problem is not None:
        raise DecodeError(path, f"impossible timing: decord says {doubt}; the packets say {problem}")
    log.info("%s: decord's frame times are wrong (%s); using the packets' (%d frames over %.3fs), decoding with "
             "PyAV", path, doubt, len(times), last - times[0])
    return Timing(times, float(last - times[0]), "pyav")
