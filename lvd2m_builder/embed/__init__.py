"""CLIP embeddings with open_clip (not in the paper): per-clip embeddings, caption-video alignment, a zero-shot
pre-filter before the VLM check, and near-duplicate removal over a finished dataset.

:func:`embed_stages` gives the pipeline the embed stage's frame task for the shared sampler, the stages that run
before the VLM check (embed, then the pre-filter) and the one after captions (alignment). When the weights are
not on this machine (nothing is downloaded at run time) or open_clip is not installed, the stages are skipped
with one log line (``embed.on_missing: skip``, the default) or the build fails (``error``); never faked.
"""

from __future__ import annotations

import logging

from ..config import BuildConfig
from ..errors import MissingDependencyError, MissingWeightsError

log = logging.getLogger(__name__)


def embed_stages(config: BuildConfig) -> tuple[list, list, list]:
    """(frame tasks for the sampler, stages before the VLM check, stages after captions)."""
    embed = config.embed
    if not embed.enabled:
        return [], [], []
    from .model import load

    try:
        model = load(embed)
    except (MissingWeightsError, MissingDependencyError) as e:
        if embed.on_missing == "error":
            raise
        also = [name for name in ("prefilter", "dedup") if getattr(config, name).enabled]
        log.warning("embed stage skipped%s: %s (set embed.enabled=false to silence this)",
                    f" (and with it {' and '.join(also)})" if also else "", e)
        return [], [], []
    from .align import Align
    from .frames import EmbedFrames
    from .prefilter import Prefilter
    from .stage import EmbedStage

    before: list = [EmbedStage(model, embed.batch_size)]
    if config.prefilter.enabled:
        before.append(Prefilter(config.prefilter, model))
    return [EmbedFrames(embed, config.captions, model.image_size)], before, [Align(model, embed.batch_size)]
