"""Caption-video alignment: does the caption describe the clip? CLIP cosine of caption and frames.

``clip_score``: the clip embedding against the text embedding of ``refined_caption``. ``segment_clip_scores``:
each segment's caption against the mean of the frames inside that segment's span (null for a segment with no
embedded frame). Long captions are embedded in sentence chunks and averaged (embed/text.py), since the text
encoder stops at 77 tokens. Scores are only measured here; validate and the card flag the low ones. Texts are
encoded for a window of clips at a time.
"""

from __future__ import annotations

import logging
import time
from typing import Iterable, Iterator, Optional

import numpy as np

from lvd2m_builder.models.clip import ClipModel
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import BatchedStage
from lvd2m_builder.stages.embed import windows

log = logging.getLogger(__name__)


def segment_vector(clip: Clip, start: float, end: float) -> Optional[np.ndarray]:
    """Mean of the unit frame embeddings inside [start, end), normalised; None when no frame lies there."""
    inside = [v for t, v in clip.frame_embeddings if start - 1e-6 <= t < end]
    if not inside:
        return None
    mean = np.mean(inside, axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


class Align(BatchedStage):
    stage = "align"

    def __init__(self, model: ClipModel, batch_size: int) -> None:
        self.model = model
        self.batch_size = batch_size

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        weight = lambda clip: 1 + len(clip.segments)
        for window in windows(clips, weight, self.batch_size):
            live = [clip for clip in window if not clip.rejected and clip.clip_embedding is not None]
            started = time.perf_counter()
            try:
                self._score([clip for clip in live if clip.refined_caption or clip.segments])
            except Exception as e:  # a model failure rejects this window's clips; the build goes on
                log.exception("caption alignment failed on %d clips", len(live))
                for clip in live:
                    clip.reject(self.stage, f"{type(e).__name__}: {e}")
            spent = (time.perf_counter() - started) / max(1, len(live))
            for clip in live:
                clip.seconds[self.stage] = clip.seconds.get(self.stage, 0.0) + spent
            for clip in window:
                clip.frame_embeddings = []
                yield clip

    def _score(self, clips: list[Clip]) -> None:
        texts: list[str] = []
        for clip in clips:
            if clip.refined_caption:
                texts.append(clip.refined_caption)
            texts.extend(segment["caption"] or "" for segment in clip.segments)
        if not texts:
            return
        vectors = iter(self.model.encode_texts(texts))
        for clip in clips:
            if clip.refined_caption:
                clip.clip_score = float(next(vectors) @ clip.clip_embedding)
            scores: list[Optional[float]] = []
            for segment in clip.segments:
                text = next(vectors)
                frames = segment_vector(clip, segment["start"], segment["end"])
                scores.append(None if frames is None or not segment["caption"] else float(text @ frames))
            clip.segment_clip_scores = scores if clip.segments else None
