"""Duration gate: the paper's candidates are clips longer than 10 s, with no upper bound."""

from __future__ import annotations

from typing import Iterable, Iterator

from ..config import DurationConfig
from ..records import Clip


class DurationFilter:
    stage = "duration"

    def __init__(self, config: DurationConfig) -> None:
        self.config = config

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if not clip.rejected:
                duration = clip.info.duration
                if duration <= self.config.min_s:
                    clip.reject(self.stage, f"duration {duration:.2f}s <= min {self.config.min_s:g}s")
                elif self.config.max_s is not None and duration > self.config.max_s:
                    clip.reject(self.stage, f"duration {duration:.2f}s > max {self.config.max_s:g}s")
            yield clip
