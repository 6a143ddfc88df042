"""Frame tasks for the shared sampler: the model stages take their frames from the one decode of each clip.

``SemanticFrames`` keeps ``semantic.frames`` uniform frames, resized to ``frame_width`` (tiled into one grid
when ``grid_cols`` is set). ``CaptionFrames`` keeps a cols x rows set of uniform frames per segment and tiles
each set into one grid image when the clip is done (in the decoding thread, off the model's critical path).
Both copy what they keep, so the decoder's chunk is freed, and store it in ``clip.frames`` under their stage's
name for the model stage to pop.
"""

from __future__ import annotations

import numpy as np

from lvd2m_builder.config import CaptionConfig, SemanticConfig
from lvd2m_builder.media.sampler import GridTask, uniform
from lvd2m_builder.models.grid import fit, tile, tile_size
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import FrameScorer
from lvd2m_builder.stages.segments import frame_times, split


class _Keep(GridTask):
    """Keep the frames at ``times``, resized to ``width`` (aspect kept); ``done`` turns them into the result."""

    def __init__(self, stage: str, times: np.ndarray, width: int, done) -> None:
        self.stage = stage
        self._times = times
        self.width = width
        self.done = done
        self.kept: list[tuple[float, np.ndarray]] = []

    def times(self) -> np.ndarray:
        return self._times

    def feed(self, t: float, frame: np.ndarray, shown: float) -> None:
        self.kept.append((t, fit(frame, tile_size(frame.shape[0], frame.shape[1], self.width))))

    def finish(self) -> None:
        self.done(self.kept)


class SemanticFrames(FrameScorer):
    stage = "semantic"

    def __init__(self, config: SemanticConfig) -> None:
        self.config = config

    def task(self, clip: Clip) -> _Keep:
        cols = self.config.grid_cols

        def done(kept: list[tuple[float, np.ndarray]]) -> None:
            if cols:
                frames = [frame for _t, frame in kept]
                kept = [(kept[0][0], tile(frames, cols, len(frames) // cols, border=8))]
            clip.frames[self.stage] = kept

        return _Keep(self.stage, uniform(clip.info.duration, self.config.frames), self.config.frame_width, done)


class CaptionFrames(FrameScorer):
    stage = "captions"

    def __init__(self, config: CaptionConfig) -> None:
        self.config = config

    def task(self, clip: Clip) -> _Keep:
        config = self.config
        per_segment = config.grid_cols * config.grid_rows
        segments = split(clip.info.duration, config.segment_s, config.min_tail_s)

        def done(kept: list[tuple[float, np.ndarray]]) -> None:
            grids = []
            for i, (start, _end) in enumerate(segments):
                frames = [frame for _t, frame in kept[i * per_segment : (i + 1) * per_segment]]
                grids.append((start, tile(frames, config.grid_cols, config.grid_rows, config.border)))
            clip.frames[self.stage] = grids

        return _Keep(self.stage, frame_times(segments, per_segment), config.tile_width, done)
