"""The embed stage's frame task: a few frames per caption segment, from the shared sampler's one decode.

Times are ``frames_per_segment`` uniform frames inside each caption segment (the captions' own split, so with
the default 6 they are the very frames of each segment's caption grid, and the sampler decodes nothing extra).
Each frame is cut to the model's square input as open_clip's preprocessing would cut the original picture
(shortest side resized, centre crop): the sampler's frames are stretched to motion.height x width, so the crop
is taken in the clip's true aspect (its probed width x height) before the resize. Done in the decoding thread,
so the model only normalises.
"""

from __future__ import annotations

import cv2
import numpy as np

from lvd2m_builder.config import CaptionConfig, EmbedConfig
from lvd2m_builder.media.sampler import GridTask
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import FrameScorer
from lvd2m_builder.stages.segments import frame_times, split

STAGE = "embed"


def square(frame: np.ndarray, aspect: float, size: int) -> np.ndarray:
    """The centre square of the picture ``frame`` shows (true width / height = ``aspect``), ``size`` px a side."""
    height, width = frame.shape[:2]
    crop_w = width / aspect if aspect > 1 else width  # the true picture's centre square, in stretched pixels
    crop_h = height * aspect if aspect < 1 else height
    x0 = int(round((width - crop_w) / 2))
    y0 = int(round((height - crop_h) / 2))
    crop = frame[y0 : y0 + max(1, int(round(crop_h))), x0 : x0 + max(1, int(round(crop_w)))]
    shrinking = crop.shape[0] >= size and crop.shape[1] >= size
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


class _Keep(GridTask):
    stage = STAGE

    def __init__(self, clip: Clip, times: np.ndarray, size: int) -> None:
        self.clip = clip
        self._times = times
        self.size = size
        info = clip.info
        self.aspect = info.width / info.height if info.width and info.height else 1.0
        self.kept: list[tuple[float, np.ndarray]] = []

    def times(self) -> np.ndarray:
        return self._times

    def feed(self, t: float, frame: np.ndarray, shown: float) -> None:
        self.kept.append((t, square(frame, self.aspect, self.size)))

    def finish(self) -> None:
        self.clip.frames[STAGE] = self.kept


class EmbedFrames(FrameScorer):
    """Gives the sampler one task per clip; ``size`` is the model's input size."""

    stage = STAGE

    def __init__(self, config: EmbedConfig, captions: CaptionConfig, size: int) -> None:
        self.config = config
        self.captions = captions
        self.size = size

    def task(self, clip: Clip) -> _Keep:
        segments = split(clip.info.duration, self.captions.segment_s, self.captions.min_tail_s)
        return _Keep(clip, frame_times(segments, self.config.frames_per_segment), self.size)
