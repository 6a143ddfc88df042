"""Optical-flow backends behind one call: mean flow magnitude for each (frame, next frame) pair.

``dis``: OpenCV's DIS flow on the CPU (the default; no weights). ``raft``: torchvision's RAFT-large, the
paper's model, on the GPU when there is one; it needs its weights in the local torch cache and never downloads.
"""

from __future__ import annotations

import logging
import os
from typing import Optional, Protocol, Sequence

import cv2
import numpy as np

from lvd2m_builder.config import MotionConfig
from lvd2m_builder.errors import MissingDependencyError, MissingWeightsError

log = logging.getLogger(__name__)

Pair = tuple[np.ndarray, np.ndarray]

_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class FlowBackend(Protocol):
    batch_size: int

    def mean_magnitudes(self, pairs: Sequence[Pair]) -> list[float]:
        """Mean flow magnitude (pixels) over all pixels of each pair of RGB uint8 frames."""

    def flows(self, pairs: Sequence[Pair]) -> list[np.ndarray]:
        """The flow field (H x W x 2 float32, first -> second) of each pair: for scores beyond the magnitude."""


def mean_magnitude(flow: np.ndarray) -> float:
    return float(cv2.magnitude(flow[..., 0], flow[..., 1]).mean())  # 4x np.hypot's speed, same value


class DisFlow:
    """OpenCV DIS on grey frames, one pair at a time (batching buys nothing on the CPU).

    ``scale`` < 1 computes the flow on frames shrunk by that factor and divides it by the factor, so scores stay
    in pixels of the full-size frame: at 0.5 it costs about a quarter, and on the sample videos it moved scores by
    under 5% against full size (bench/filters.py measures the cost).
    """

    batch_size = 1

    def __init__(self, preset: str = "ultrafast", scale: float = 1.0) -> None:
        self.dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[preset])
        self.scale = scale
        # the last frame made grey, with its grey copy: consecutive pairs share a frame (a, b), (b, c), so each
        # frame is converted and shrunk once, not twice
        self.last: tuple[Optional[np.ndarray], Optional[np.ndarray]] = (None, None)

    def mean_magnitudes(self, pairs: Sequence[Pair]) -> list[float]:
        return [mean_magnitude(self._small_flow(first, second)) / self.scale for first, second in pairs]

    def flows(self, pairs: Sequence[Pair]) -> list[np.ndarray]:
        """Full-size fields in full-size pixels, whatever ``scale`` the flow was computed at."""
        out = []
        for first, second in pairs:
            flow = self._small_flow(first, second)
            if self.scale != 1.0:
                flow = cv2.resize(flow, (first.shape[1], first.shape[0]), interpolation=cv2.INTER_LINEAR) / self.scale
            out.append(flow)
        return out

    def _small_flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return self.dis.calc(self._grey(first), self._grey(second), None)

    def _grey(self, frame: np.ndarray) -> np.ndarray:
        if frame is self.last[0]:
            return self.last[1]
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if self.scale != 1.0:
            grey = cv2.resize(grey, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
        self.last = (frame, grey)
        return grey


RAFT_CHECKPOINT = "raft_large_C_T_SKHT_V2-ff5fadd5.pth"


def raft_weights_path() -> str:
    """Where torchvision keeps RAFT-large's weights: $TORCH_HOME/hub/checkpoints (torch's own cache)."""
    import torch

    return os.path.join(torch.hub.get_dir(), "checkpoints", RAFT_CHECKPOINT)


class RaftFlow:
    """torchvision RAFT-large, batched over pairs; bf16-free float32 for stable flow."""

    def __init__(self, batch_size: int = 8, updates: int = 12, device: str = "auto") -> None:
        try:
            import torch
            from torchvision.models.optical_flow import raft_large
        except ImportError as e:
            raise MissingDependencyError("torchvision", "torch") from e
        path = raft_weights_path()
        if not os.path.exists(path):
            raise MissingWeightsError(
                "RAFT-large",
                path,
                "copy torchvision's raft_large_C_T_SKHT_V2 checkpoint there (or set TORCH_HOME), "
                "or use --motion-backend dis",
            )
        self.torch = torch
        self.device = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                                   ("cpu" if device == "auto" else device))
        model = raft_large(weights=None, progress=False)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.model = model.eval().to(self.device)
        self.batch_size = batch_size
        self.updates = updates
        log.info("RAFT-large loaded from %s on %s", path, self.device)

    def mean_magnitudes(self, pairs: Sequence[Pair]) -> list[float]:
        torch = self.torch
        first = self._tensor([p[0] for p in pairs])
        second = self._tensor([p[1] for p in pairs])
        with torch.inference_mode():
            flow = self.model(first, second, num_flow_updates=self.updates)[-1]
        return torch.linalg.vector_norm(flow, dim=1).mean(dim=(1, 2)).float().cpu().tolist()

    def flows(self, pairs: Sequence[Pair]) -> list[np.ndarray]:
        with self.torch.inference_mode():
            flow = self.model(self._tensor([p[0] for p in pairs]), self._tensor([p[1] for p in pairs]),
                              num_flow_updates=self.updates)[-1]
        return list(flow.permute(0, 2, 3, 1).float().cpu().numpy())

    def _tensor(self, frames: list[np.ndarray]):
        batch = self.torch.from_numpy(np.stack(frames)).to(self.device).permute(0, 3, 1, 2).float()
        return batch / 127.5 - 1.0  # RAFT's input range [-1, 1]


def make_backend(config: MotionConfig) -> FlowBackend:
    if config.backend == "raft":
        return RaftFlow(config.batch_size, config.raft_updates, config.device)
    return DisFlow(config.dis_preset, config.dis_scale)
