"""Duration gate: the paper's candidates are clips longer than 10 s, with no upper bound."""

from __future__ import annotations

from typing import Iterable, Iterator, Optional

from lvd2m_builder.config import DurationConfig
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import Stage


def duration_reason(duration: float, config: DurationConfig) -> Optional[str]:
    """Why the gate rejects a clip of ``duration`` seconds, or None when it passes."""
    if duration <= config.min_s:
        return f"duration {duration:.2f}s <= min {config.min_s:g}s"
    if config.max_s is not None and duration > config.max_s:
        return f"duration {duration:.2f}s > max {config.max_s:g}s"
    return None


class DurationFilter(Stage):
    stage = "duration"

    def __init__(self, config: DurationConfig) -> None:
        self.config = config

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if not clip.rejected:
                reason = duration_reason(clip.info.duration, self.config)
                if reason is not None:
                    clip.reject(self.stage, reason)
            yield clip
