"""Scene-cut check: PySceneDetect's ContentDetector on the shared sampler's frames at ``cuts.fps``.

The paper samples at 0.5 fps (frames 2 s apart), which is what lets it catch fades, with threshold 50 and
min_scene_len 0; that decides. Where the detector fires between two samples, the cut is placed using the frames
at ``cuts.refine_fps`` (the motion stage's 2 fps frames, decoded anyway): at the midpoint of the pair inside the
step whose colours change most, so the reported time is within 0.25 s of a hard cut rather than 1 s. Frames are
shrunk to about 256 px wide first, as PySceneDetect's own SceneManager does by default (integer factor
width // 256, linear interpolation), which keeps its scores comparable. Splitting a video (cuts.on_cut=split)
trims the whole detection step around each cut: the detector knows no more (the robust detector and TransNetV2
place cuts to the frame).
"""

from __future__ import annotations

from typing import Iterable, Iterator

import cv2
import numpy as np
from scenedetect import ContentDetector, StatsManager
from scenedetect.common import FrameTimecode

from lvd2m_builder.config import CutConfig
from lvd2m_builder.media.sampler import GridTask, grid
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import FrameScorer, Stage


class _CutTask(GridTask):
    stage = "cuts"

    def __init__(self, clip: Clip, config: CutConfig) -> None:
        self.clip = clip
        self.config = config
        self.detector = ContentDetector(threshold=config.threshold, min_scene_len=config.min_scene_len)
        # PySceneDetect's public way to read each frame's score: a StatsManager the detector writes its metrics to
        self.stats = StatsManager(base_timecode=FrameTimecode(0, fps=config.fps))
        self.detector.stats_manager = self.stats
        self.index = 0
        self.previous_t = 0.0
        self.found: list[tuple[float, float]] = []  # the detection step of each cut
        self.scores: list[float] = []
        self.detect_times = set(grid(clip.info.duration, config.fps).tolist())
        self.steps: list[tuple[float, float, float]] = []  # (t0, t1, colour change) between refine frames
        self.last: tuple[float, np.ndarray] | None = None

    def times(self) -> np.ndarray:
        times = grid(self.clip.info.duration, self.config.fps)
        if self.config.refine_fps:
            times = np.union1d(times, grid(self.clip.info.duration, self.config.refine_fps))
        return times

    def feed(self, t: float, frame: np.ndarray, shown: float) -> None:
        small = _downscale(frame)  # shrink first: every later step runs on ~1/9 of the pixels
        if self.config.refine_fps:
            hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
            if self.last is not None:
                self.steps.append((self.last[0], t, float(cv2.absdiff(hsv, self.last[1]).mean())))
            self.last = (t, hsv)
        if t not in self.detect_times:
            return
        bgr = np.ascontiguousarray(small[:, :, ::-1])  # PySceneDetect expects BGR
        timecode = FrameTimecode(self.index, fps=self.config.fps)
        found = self.detector.process_frame(timecode, bgr)
        if self.index:
            (score,) = self.stats.get_metrics(timecode, [ContentDetector.FRAME_SCORE_KEY])
            self.scores.append(float(score or 0.0))
        if found:
            self.found.append((self.previous_t, t))
        self.index += 1
        self.previous_t = t

    def _locate(self, start: float, end: float) -> float:
        """Midpoint of the refine step inside (start, end] with the largest change; the step's midpoint if none."""
        inside = [step for step in self.steps if start <= step[0] and step[1] <= end]
        if not inside:
            return (start + end) / 2
        t0, t1, _ = max(inside, key=lambda step: step[2])
        return (t0 + t1) / 2

    def finish(self) -> None:
        self.clip.cut_times = [self._locate(start, end) for start, end in self.found]  # every step is in by now
        # to split, the whole detection step is the transition: the detector knows no more, and on the 2 fps
        # frames a fast pan changes as much as a cut or a fade does, so the steps cannot narrow it safely
        self.clip.transitions = list(self.found)
        self.clip.cut_scores = self.scores


def _downscale(frame: np.ndarray) -> np.ndarray:
    """SceneManager's default: shrink by the integer factor width // 256."""
    factor = max(1, frame.shape[1] // 256)
    if factor == 1:
        return np.ascontiguousarray(frame)
    size = (round(frame.shape[1] / factor), round(frame.shape[0] / factor))
    return cv2.resize(np.ascontiguousarray(frame), size, interpolation=cv2.INTER_LINEAR)


class CutScorer(FrameScorer):
    """Gives the sampler one ContentDetector task per clip."""

    stage = "cuts"
    divisible = True

    def __init__(self, config: CutConfig) -> None:
        self.config = config

    def task(self, clip: Clip) -> _CutTask:
        return _CutTask(clip, self.config)


class CutFilter(Stage):
    """Any detected cut rejects: the paper drops clips with a cut rather than splitting them. With ``split``
    (cuts.on_cut=split) nothing is rejected: the cuts and their transitions say where the video's shots end."""

    stage = "cuts"

    def __init__(self, split: bool = False) -> None:
        self.split = split

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if not clip.rejected and clip.cut_times and not self.split:
                times = ", ".join(f"{t:.2f}s" for t in clip.cut_times)
                clip.reject(self.stage, f"scene cut(s) at {times}")  # how many: the row's cut_times
            yield clip
