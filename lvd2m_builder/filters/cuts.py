"""Scene-cut check: PySceneDetect's ContentDetector on the shared sampler's frames at ``cuts.fps``.

The paper samples at 0.5 fps (frames 2 s apart), which is what lets it catch fades, with threshold 50 and
min_scene_len 0. A cut found between two samples is reported at their midpoint, so its time is within half the
sampling step of the truth. Frames are shrunk to about 256 px wide first, as PySceneDetect's own SceneManager
does by default (integer factor width // 256, linear interpolation), which keeps its scores comparable.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import cv2
import numpy as np
from scenedetect import ContentDetector
from scenedetect.common import FrameTimecode

from ..config import CutConfig
from ..media.sampler import grid
from ..records import Clip


class _CutTask:
    stage = "cuts"

    def __init__(self, clip: Clip, config: CutConfig) -> None:
        self.clip = clip
        self.config = config
        self.detector = ContentDetector(threshold=config.threshold, min_scene_len=config.min_scene_len)
        self.index = 0
        self.previous_t = 0.0
        self.cuts: list[float] = []
        self.scores: list[float] = []

    def times(self) -> np.ndarray:
        return grid(self.clip.info.duration, self.config.fps)

    def feed(self, t: float, frame: np.ndarray) -> None:
        timecode = FrameTimecode(self.index, fps=self.config.fps)
        found = self.detector.process_frame(timecode, _downscale(frame[:, :, ::-1]))  # it expects BGR
        if self.index:
            self.scores.append(float(self.detector._frame_score or 0.0))
        if found:
            self.cuts.append((self.previous_t + t) / 2)
        self.index += 1
        self.previous_t = t

    def finish(self) -> None:
        self.clip.cut_times = self.cuts
        self.clip.cut_scores = self.scores


def _downscale(frame: np.ndarray) -> np.ndarray:
    """SceneManager's default: shrink by the integer factor width // 256."""
    factor = max(1, frame.shape[1] // 256)
    if factor == 1:
        return np.ascontiguousarray(frame)
    size = (round(frame.shape[1] / factor), round(frame.shape[0] / factor))
    return cv2.resize(np.ascontiguousarray(frame), size, interpolation=cv2.INTER_LINEAR)


class CutScorer:
    """Gives the sampler one ContentDetector task per clip."""

    stage = "cuts"

    def __init__(self, config: CutConfig) -> None:
        self.config = config

    def task(self, clip: Clip) -> _CutTask:
        return _CutTask(clip, self.config)


class CutFilter:
    """Any detected cut rejects: the paper drops clips with a cut rather than splitting them."""

    stage = "cuts"

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if not clip.rejected and clip.cut_times:
                times = ", ".join(f"{t:.2f}s" for t in clip.cut_times)
                clip.reject(self.stage, f"{len(clip.cut_times)} scene cut(s) at {times}")
            yield clip
