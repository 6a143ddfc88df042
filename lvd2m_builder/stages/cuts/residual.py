"""What optical flow cannot explain: warp the later frame of a pair onto the earlier one and score the rest.

A pan, a zoom or a moving subject is explained by the flow and leaves a small residual; a cut, a dissolve or a
fade is not, and leaves a large one. Pixels whose flow points outside the frame (content leaving the view) are
left out, and a global brightness change (auto exposure) is taken out before scoring. Scores are computed at
half the flow's size: the residual is a share of pixels, and half size halves the cost.
"""

from __future__ import annotations

import cv2
import numpy as np


class ResidualScorer:
    """(mean error in grey levels, share of pixels with error > ``match_tol``) for one frame pair and its flow."""

    def __init__(self, match_tol: float, scale: float = 0.5) -> None:
        self.match_tol = match_tol
        self.scale = scale
        self._grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, first: np.ndarray, second: np.ndarray, flow: np.ndarray) -> tuple[float, float]:
        height, width = (max(1, round(n * self.scale)) for n in first.shape[:2])
        a = _grey(first, width, height)
        b = _grey(second, width, height)
        flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_AREA) * (width / flow.shape[1])
        gx, gy = self._grid(height, width)
        mx, my = gx + flow[..., 0], gy + flow[..., 1]
        valid = (mx >= 0) & (mx <= width - 1) & (my >= 0) & (my <= height - 1)
        if valid.mean() < 0.05:  # the flow sends nearly everything out of view: nothing left to compare
            return 255.0, 1.0
        diff = a - cv2.remap(b, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        error = cv2.blur(np.abs(diff - np.median(diff[valid])), (3, 3))[valid]
        return float(error.mean()), float((error > self.match_tol).mean())

    def _grid(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        if (height, width) not in self._grids:
            self._grids[(height, width)] = tuple(
                np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)))
        return self._grids[(height, width)]


def _grey(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    small = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
