"""A cheap semantic pre-filter before the VLM check: CLIP zero-shot prompts for clips the VLM would call BAD.

For each prompt, the clip embedding's cosine similarities to that prompt and to every contrast prompt, scaled
by the model's logit scale, go through a softmax: the prompt's share is the probability that the clip is what
the prompt says rather than ordinary footage. At or above the prompt's threshold the clip is rejected here, so
it never costs a VLM call. Every prompt's probability goes into the row's provenance, to tune thresholds on.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from lvd2m_builder.config import PrefilterConfig
from lvd2m_builder.models.clip import ClipModel
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import Stage


def probabilities(embedding: np.ndarray, prompts: np.ndarray, contrast: np.ndarray, scale: float) -> np.ndarray:
    """Per prompt: softmax over (prompt, contrast prompts) of scale x cosine, the prompt's share."""
    own = prompts @ embedding  # (P,)
    others = contrast @ embedding  # (C,)
    logits = scale * np.concatenate([own[:, None], np.broadcast_to(others, (len(own), len(others)))], axis=1)
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights[:, 0] / weights.sum(axis=1)


class Prefilter(Stage):
    stage = "prefilter"

    def __init__(self, config: PrefilterConfig, model: ClipModel) -> None:
        self.config = config
        self.names = list(config.prompts)
        self.thresholds = np.array([config.prompts[name] for name in self.names])
        self.prompts = model.encode_texts(self.names)
        self.contrast = model.encode_texts(list(config.contrast))
        self.scale = model.logit_scale

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if not clip.rejected and clip.clip_embedding is not None:
                p = probabilities(clip.clip_embedding, self.prompts, self.contrast, self.scale)
                clip.prefilter_scores = {name: round(float(v), 4) for name, v in zip(self.names, p)}
                over = np.flatnonzero(p >= self.thresholds)
                if len(over):
                    i = over[np.argmax(p[over] - self.thresholds[over])]
                    clip.reject(self.stage, f"zero-shot {self.names[i]!r}: p {p[i]:.3f} >= {self.thresholds[i]:g}")
            yield clip
