"""Motion check: mean optical-flow magnitude between consecutive frames at ``motion.fps``.

Frames are resized to height x width (the paper: 520x960, RAFT's usual input) before the flow is computed, so
the score is in pixels of that size; the clip's score is the mean magnitude over all pixels and all pairs,
released by LVD-2M as ``total score``. Keep if the score is at least ``min_score`` (20 in the paper).
Each pair's magnitude is kept with its times (``clip.flow_pairs``), so a shot cut from the clip later is scored
from the same pairs. Given a ``residual`` scorer (the robust cut detector), the task also scores what each pair's flow cannot
explain, from the same flow fields, into ``clip.flow_residuals``.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Optional

import numpy as np

from lvd2m_builder.config import MotionConfig
from lvd2m_builder.media.sampler import GridTask, grid
from lvd2m_builder.models.flow import FlowBackend, make_backend, mean_magnitude
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import FrameScorer, Stage

Residual = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[float, float]]


class _MotionTask(GridTask):
    """Flow between consecutive frames; each pair's magnitude is divided by the real time between the frames
    decoded and multiplied by the time asked for, so a sample that took a neighbouring frame (media/sampler.py)
    scores the motion of one step, not of a step a frame longer or shorter."""

    stage = "motion"

    def __init__(self, clip: Clip, config: MotionConfig, backend: FlowBackend, residual: Optional[Residual] = None) -> None:
        self.clip = clip
        self.config = config
        self.backend = backend
        self.residual = residual
        self.previous: Optional[tuple[float, float, np.ndarray]] = None  # (time asked, time shown, frame)
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []
        self.pending_times: list[tuple[float, float, float]] = []  # (t0, t1, time asked / time shown)

    def times(self) -> np.ndarray:
        return grid(self.clip.info.duration, self.config.fps)

    def feed(self, t: float, frame: np.ndarray, shown: float) -> None:
        if self.previous is not None:
            t0, shown0, previous = self.previous
            if shown > shown0:  # two samples on one decoded frame say nothing about motion
                self.pending.append((previous, frame))
                self.pending_times.append((t0, t, (t - t0) / (shown - shown0)))
                if len(self.pending) >= self.backend.batch_size:
                    self._flush()
        self.previous = (t, shown, frame)

    def _flush(self) -> None:
        if self.pending and self.residual is None:
            magnitudes = self.backend.mean_magnitudes(self.pending)
            magnitudes = [m * rate for m, (_t0, _t1, rate) in zip(magnitudes, self.pending_times)]
        elif self.pending:
            magnitudes = []
            for (first, second), (t0, t1, rate), flow in zip(self.pending, self.pending_times, self.backend.flows(self.pending)):
                magnitudes.append(mean_magnitude(flow) * rate)
                self.clip.flow_residuals.append((t0, t1, *self.residual(first, second, flow)))
        else:
            magnitudes = []
        self.clip.flow_pairs.extend((t0, t1, m) for (t0, t1, _rate), m in zip(self.pending_times, magnitudes))
        self.pending = []
        self.pending_times = []

    def finish(self) -> None:
        self._flush()
        self.clip.flow_backend = self.config.backend
        self.clip.flow_score = pairs_score(self.clip.flow_pairs)


def pairs_score(pairs: list[tuple[float, float, float]], start: float = 0.0, end: float = np.inf) -> Optional[float]:
    """The mean magnitude of the pairs whose two frames both lie in [start, end] (clip seconds); None without any.

    Over a whole clip this is the clip's score; over a shot's span, the shot's (cuts.on_cut=split), with no
    second decode.
    """
    inside = [m for t0, t1, m in pairs if t0 >= start - 1e-6 and t1 <= end + 1e-6]
    return float(np.mean(inside)) if inside else None


class MotionScorer(FrameScorer):
    """Gives the sampler one flow task per clip; the backend (and its model) is built once per process.

    Its scores are per frame pair, with times, so one pass over a whole video serves each of its shots.
    """

    stage = "motion"
    divisible = True

    def __init__(self, config: MotionConfig, residual: Optional[Residual] = None) -> None:
        self.config = config
        self.backend = make_backend(config)
        self.residual = residual

    def task(self, clip: Clip) -> _MotionTask:
        return _MotionTask(clip, self.config, self.backend, self.residual)


def low_motion_reason(score: float, config: MotionConfig) -> Optional[str]:
    """Why a clip scoring ``score`` is rejected for too little motion, or None when it passes."""
    if score < config.min_score:
        return f"flow score {score:.2f} < min {config.min_score:g}"
    return None


class MotionFilter(Stage):
    stage = "motion"

    def __init__(self, config: MotionConfig) -> None:
        self.config = config

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if not clip.rejected:
                reason = ("too few frames for a flow pair" if clip.flow_score is None
                          else low_motion_reason(clip.flow_score, self.config))
                if reason is not None:
                    clip.reject(self.stage, reason)
            yield clip
