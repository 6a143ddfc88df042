"""Duration gate: the paper's candidates are clips longer than 10 s, with no upper bound.

With cuts.on_cut=split the gate applies to each shot (stages/split.py); here it only turns away a video too
short to hold any shot that could pass, before it is decoded.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Optional

from lvd2m_builder.config import DurationConfig
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import Stage


def duration_reason(duration: float, config: DurationConfig, whole_video: bool = False) -> Optional[str]:
    """Why the gate rejects a clip of ``duration`` seconds, or None when it passes. ``whole_video``: a video
    about to be split, which only the lower bound concerns (its shots may be shorter than it is long)."""
    if duration <= config.min_s:
        return f"duration {duration:.2f}s <= min {config.min_s:g}s"
    if config.max_s is not None and duration > config.max_s and not whole_video:
        return f"duration {duration:.2f}s > max {config.max_s:g}s"
    return None


class DurationFilter(Stage):
    stage = "duration"

    def __init__(self, config: DurationConfig, split: bool = False) -> None:
        self.config = config
        self.split = split

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if not clip.rejected:
                reason = duration_reason(clip.info.duration, self.config, whole_video=self.split)
                if reason is not None:
                    clip.reject(self.stage, reason)
            yield clip
