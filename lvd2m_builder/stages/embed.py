"""The embed stage: CLIP image embeddings of every surviving clip's frames, batched across clips.

Runs after the cheap filters, so rejected clips cost no model time (their frames are dropped here). The frames
of a window of clips go through the model in ``batch_size`` batches; each clip gets its per-frame embeddings
(for caption alignment, in memory) and their mean, L2-normalised: ``clip_embedding``. If a window fails, its
clips are retried one by one, so only a clip that fails on its own is rejected.
"""

from __future__ import annotations

import logging
import time
from typing import Iterable, Iterator

import numpy as np

from lvd2m_builder.models.clip import ClipModel
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import BatchedStage
from lvd2m_builder.stages.frames.embed import STAGE

log = logging.getLogger(__name__)


def windows(clips: Iterable[Clip], weight, limit: int) -> Iterator[list[Clip]]:
    """Consecutive clips, in order, until the live ones' ``weight(clip)`` adds up to ``limit``; rejected clips
    ride along (a window never holds more than ``limit`` clips) so the order is kept."""
    window: list[Clip] = []
    total = 0
    for clip in clips:
        window.append(clip)
        total += 0 if clip.rejected else weight(clip)
        if total >= limit or len(window) >= limit:
            yield window
            window, total = [], 0
    if window:
        yield window


class EmbedStage(BatchedStage):
    stage = STAGE

    def __init__(self, model: ClipModel, batch_size: int) -> None:
        self.model = model
        self.batch_size = batch_size

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        weight = lambda clip: len(clip.frames.get(STAGE, ()))
        for window in windows(clips, weight, self.batch_size):
            live = [clip for clip in window if not clip.rejected]
            started = time.perf_counter()
            self._embed_or_split(live)
            spent = (time.perf_counter() - started) / max(1, len(live))
            for clip in live:
                clip.seconds[STAGE] = clip.seconds.get(STAGE, 0.0) + spent
            for clip in window:
                clip.frames.pop(STAGE, None)
                yield clip

    def _embed_or_split(self, clips: list[Clip]) -> None:
        try:
            self._embed(clips)
        except Exception as e:  # a model failure: retry each clip alone, reject those that fail alone
            if len(clips) == 1:
                log.warning("embedding failed on %s: %s", clips[0].ref.uri, e)
                clips[0].reject(self.stage, f"{type(e).__name__}: {e}")
                return
            log.warning("embedding a window of %d clips failed (%s); retrying one by one", len(clips), e)
            for clip in clips:
                self._embed_or_split([clip])

    def _embed(self, clips: list[Clip]) -> None:
        ready = []
        for clip in clips:
            if clip.frames.get(STAGE):
                ready.append(clip)
            else:
                clip.reject(self.stage, "no frames to embed")
        if not ready:
            return
        frames = np.stack([frame for clip in ready for _t, frame in clip.frames[STAGE]])
        vectors = self.model.encode_images(frames)
        at = 0
        for clip in ready:
            kept = clip.frames[STAGE]
            mine = vectors[at : at + len(kept)]
            at += len(kept)
            clip.frame_embeddings = [(t, v) for (t, _f), v in zip(kept, mine)]
            mean = mine.mean(axis=0)
            clip.clip_embedding = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
            clip.models[STAGE] = self.model.label
