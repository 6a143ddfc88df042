"""Per-frame shot-boundary candidates from tiny grey frames at the native frame rate, found online in one pass.

Three kinds, each located to the frame (the decision, in robust_cuts.py, weighs them against the flow):

- ``spike``: the change into frame k (mean colour difference) stands far above the changes around it (the
  median of ``spike_window`` frames each side, and both neighbours): a hard cut, or the edge of a flash. A
  steady pan changes every frame alike and a whip pan ramps up over several frames, so neither spikes. Colour
  sees a cut between two shots of like brightness that grey misses (a synthetic cut: 8.3x against 4.0x).
- ``blank``: a run of near-uniform dark or bright frames: a fade through black or white, or a flash.
- ``blend``: frame k is the average of the frames ``dissolve_s`` / 2 before and after it, which differ a lot:
  a dissolve, or a fade that never reaches black. Tested in colour, where a fast pan over smooth shading looks
  less like a blend than in grey. Over 0.25 s each side the blend error was >= 0.36 on every synthetic pan and
  >= 0.40 on the real long takes, <= 0.29 on the real dissolves and fades; dissolves between two moving shots
  (0.31-0.35 on the synthetic ones) are missed. A slow pan is nearly linear in time too, so a blend must also
  beat motion: frame k warped from either end by (tiny) optical flow must match worse than the blend does.

Spikes and blank runs also record whether the picture returns afterwards, as a flash does and a cut does not.
For a spike: the smallest difference between a frame just before it and one just after, as a share of the
spike (a flash: a few %; a cut: about 1). For a blank run, whose neighbours may be faded: the normalised
correlation of the (blurred) frames on either side. Memory stays flat: only the last few frames are kept.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import cv2
import numpy as np

from lvd2m_builder.config import RobustCutConfig


@dataclass
class Candidate:
    """One possible shot boundary at clip frame ``frame``, ``t`` seconds from the clip's start."""

    kind: Literal["spike", "blank", "blend"]
    frame: int
    t: float
    scores: dict[str, Any] = field(default_factory=dict)


def ncc(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> float:
    """Normalised cross-correlation of two grey frames, blurred so a pixel of motion does not matter; 0 when
    either is flat (no picture to compare)."""
    if a is None or b is None:
        return 0.0
    a, b = (cv2.GaussianBlur(x, (0, 0), 2.0) for x in (a, b))
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 1e-3 * a.size else 0.0


class FrameSignals:
    """Feed tiny RGB frames in order with :meth:`add`; :meth:`finish` returns the candidates."""

    def __init__(self, config: RobustCutConfig, fps: float) -> None:
        self.config = config
        self.half = max(1, round(config.dissolve_s * fps / 2))
        self.frames: deque[tuple[np.ndarray, np.ndarray]] = deque(  # (grey, colour), float32
            maxlen=max(config.spike_window + config.flash_frames + 2, 2 * self.half + 1))
        self.times: list[float] = []
        self.change: list[float] = []  # mean |colour difference| into each frame (0 for the first)
        self.blank: list[bool] = []
        self.candidates: list[Candidate] = []
        self._run: Optional[tuple[int, Optional[np.ndarray], list[float]]] = None  # start, frame before, levels
        self._blend: Optional[tuple[int, int, dict]] = None  # a run of blend frames: first, last, best scores
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def add(self, t: float, frame: np.ndarray) -> None:
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        colour = frame.astype(np.float32)
        i = len(self.times)
        level, spread = float(grey.mean()), float(grey.std())
        c = self.config
        self.times.append(t)
        self.change.append(float(np.abs(colour - self.frames[-1][1]).mean()) if self.frames else 0.0)
        self.blank.append(spread <= c.blank_std and (level <= c.black_level or level >= c.white_level))
        self._track_blank(i, grey, level)
        self.frames.append((grey, colour))
        self._spike(i - c.spike_window)
        self._dissolve(i - self.half)

    def finish(self) -> list[Candidate]:
        n = len(self.times)
        for k in range(max(1, n - self.config.spike_window), n):
            self._spike(k)
        if self._run is not None:
            self._close_blank(n, None)
        self._close_blend()
        self.candidates.sort(key=lambda cand: cand.t)
        return self.candidates

    def _frame(self, k: int, colour: bool = False) -> Optional[np.ndarray]:
        back = len(self.times) - 1 - k
        return self.frames[-1 - back][colour] if 0 <= back < len(self.frames) and k >= 0 else None

    def _spike(self, k: int) -> None:
        if k < 1:
            return
        d, w, n = self.change, self.config.spike_window, len(self.change)
        around = d[max(1, k - w) : k] + d[k + 1 : min(n, k + w + 1)]
        background = max(float(np.median(around)) if around else 0.0, d[k - 1] if k > 1 else 0.0,
                         d[k + 1] if k + 1 < n else 0.0)
        ratio = d[k] / (background + 1.0)
        if ratio >= self.config.spike_ratio:
            j = self.config.flash_frames
            pairs = [(self._frame(a, colour=True), self._frame(b, colour=True))
                     for a in range(k - 1 - j, k) for b in range(k, k + j + 1)]
            closest = min(float(np.abs(a - b).mean()) for a, b in pairs if a is not None and b is not None)
            self.candidates.append(Candidate("spike", k, self.times[k], {
                "ratio": round(ratio, 2), "change": round(d[k], 2), "return_ratio": round(closest / d[k], 3)}))

    def _track_blank(self, i: int, grey: np.ndarray, level: float) -> None:
        if self.blank[i]:
            if self._run is None:
                self._run = (i, self.frames[-1][0] if self.frames else None, [])
            self._run[2].append(level)
        elif self._run is not None:
            self._close_blank(i, grey)

    def _close_blank(self, end: int, after: Optional[np.ndarray]) -> None:
        start, before, levels = self._run
        self._run = None
        n = len(self.times)
        step = self.times[-1] - self.times[-2] if n > 1 else 0.0
        self.candidates.append(Candidate("blank", start, self.times[start], {
            "frames": end - start,
            "end_t": self.times[end] if end < n else self.times[-1] + step,
            "level": "black" if np.mean(levels) <= self.config.black_level else "white",
            "from_start": start == 0,
            "to_end": end >= n,
            "returns": round(ncc(before, after), 3),
        }))

    def _dissolve(self, k: int) -> None:
        h = self.half
        if k - h < 0 or self.blank[k - h] or self.blank[k + h]:
            self._close_blend()
            return
        first, middle, last = (self._frame(j, colour=True) for j in (k - h, k, k + h))
        across = float(np.abs(first - last).mean())
        error = float(np.abs(middle - (first + last) / 2).mean()) / max(across, 1e-6)
        motion = 0.0
        if across >= self.config.dissolve_across and error <= self.config.dissolve_blend:
            motion = min(self._warp_error(k, k - h), self._warp_error(k, k + h)) / across
        if error < motion:
            scores = {"blend": round(error, 3), "across": round(across, 1), "motion": round(motion, 3)}
            first, _, best = self._blend or (k, k, scores)
            self._blend = (first, k, scores if error < best["blend"] else best)
        else:
            self._close_blend()

    def _warp_error(self, target: int, source: int) -> float:
        """Mean colour error left after warping frame ``source`` onto frame ``target`` with their optical flow."""
        flow = self._dis.calc(self._frame(target).astype(np.uint8), self._frame(source).astype(np.uint8), None)
        height, width = flow.shape[:2]
        x, y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        warped = cv2.remap(self._frame(source, colour=True), x + flow[..., 0], y + flow[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        return float(np.abs(self._frame(target, colour=True) - warped).mean())

    def _close_blend(self) -> None:
        """One candidate per run of blend frames, at its middle: the middle of the dissolve."""
        if self._blend is not None:
            first, last, scores = self._blend
            middle = (first + last) // 2
            self.candidates.append(Candidate("blend", middle, self.times[middle], scores))
            self._blend = None
