"""The model stages: the semantic GOOD/BAD check and hierarchical captions, on swappable model backends.

:func:`model_stages` gives the pipeline the frame tasks these stages hand the shared sampler and the stages
themselves, for whatever can run on this machine. A stage whose model cannot run here (weights not on disk,
transformers not installed) is skipped with one log line (``on_missing: skip``, the default) or fails the
build (``on_missing: error``); it is never faked. Nothing is downloaded at run time.
"""

from __future__ import annotations

import logging

from ..config import BuildConfig, ModelConfig
from ..errors import MissingWeightsError
from .backends import load, missing

log = logging.getLogger(__name__)

PREFETCH_WINDOWS = 2  # windows of clips decoded ahead of the model


def model_stages(config: BuildConfig) -> tuple[list, list]:
    """(frame tasks for the sampler, stages to run after the cheap filters), in pipeline order."""
    from .batching import Prefetch  # here, so that the backends alone import neither cv2 nor decord
    from .frames import CaptionFrames, SemanticFrames
    from .semantic import SemanticFilter
    from .stage import CaptionStage

    scorers: list = []
    stages: list = []
    semantic, captions = config.semantic, config.captions
    if semantic.enabled and _runnable("semantic", semantic.vlm, semantic.on_missing):
        scorers.append(SemanticFrames(semantic))
        stages.append(SemanticFilter(semantic, load(semantic.vlm)))
    if captions.enabled and all(_runnable("captions", m, captions.on_missing) for m in (captions.vlm, captions.llm)):
        scorers.append(CaptionFrames(captions))
        stages.append(CaptionStage(captions, load(captions.vlm), load(captions.llm)))
    if stages:
        stages.insert(0, Prefetch(PREFETCH_WINDOWS * max(stage.window for stage in stages)))
    return scorers, stages


def _runnable(stage: str, model: ModelConfig, on_missing: str) -> bool:
    why = missing(model)
    if why is None:
        return True
    if on_missing == "error":
        raise MissingWeightsError(model.model, model.model, f"{why}; or set {stage}.on_missing=skip")
    log.warning("%s stage skipped: %s (set %s.enabled=false to silence this)", stage, why, stage)
    return False

