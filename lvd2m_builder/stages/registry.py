"""Every stage, registered once, in pipeline order: the pipeline, rebuild, the executors, stats and the card all
read what they need to know about stages from here.

Each entry's ``build`` imports its stage's module only when a pipeline is assembled, so that reading the
registry (stats, the card, validate) loads no decoder or model code.
"""

from __future__ import annotations

import logging
from typing import Optional

from lvd2m_builder.config import BuildConfig, ModelConfig
from lvd2m_builder.errors import MissingDependencyError, MissingWeightsError
from lvd2m_builder.stages.base import BuildContext, Built, StageSpec

log = logging.getLogger(__name__)


def _source(ctx: BuildContext) -> Built:
    from lvd2m_builder.stages.fetch import Fetch

    return Built(Fetch(ctx.scratch))


def _probe(ctx: BuildContext) -> Built:
    from lvd2m_builder.stages.probe import Probe

    return Built(Probe())


def _duration(ctx: BuildContext) -> Built:
    from lvd2m_builder.stages.duration import DurationFilter

    return Built(DurationFilter(ctx.config.duration))


def _duration_recheck(row: dict, config: BuildConfig) -> Optional[str]:
    from lvd2m_builder.stages.duration import duration_reason

    return duration_reason(row["duration"], config.duration)


def _decode(ctx: BuildContext) -> Built:
    from lvd2m_builder.stages.decode import FramePass

    return Built(FramePass(ctx.scorers, ctx.sampler))


def _cuts(ctx: BuildContext) -> Built:
    if not ctx.config.cuts.enabled:
        return Built()
    from lvd2m_builder.stages.cuts.select import cut_check

    check = cut_check(ctx.config.cuts)
    ctx.residual = check.residual
    return Built(check.filter, [check.scorer])


def _motion(ctx: BuildContext) -> Built:
    motion = ctx.config.motion
    if not motion.enabled and ctx.residual is None:
        return Built()
    from lvd2m_builder.stages.motion import MotionFilter, MotionScorer

    # the robust cut check needs the flow even when the motion filter is off
    return Built(MotionFilter(motion) if motion.enabled else None, [MotionScorer(motion, ctx.residual)])


def _motion_recheck(row: dict, config: BuildConfig) -> Optional[str]:
    from lvd2m_builder.stages.motion import low_motion_reason

    if not config.motion.enabled or row["flow_score"] is None:
        return None
    return low_motion_reason(row["flow_score"], config.motion)


def _motion_device(config: BuildConfig) -> Optional[str]:
    return config.motion.device if config.motion.enabled and config.motion.backend == "raft" else None


def _skip(stage: str, why: str, on_missing: str, error: Exception, also: tuple[str, ...] = ()) -> Built:
    """An enabled stage whose model cannot run here: skipped with one log line, or the build fails.

    ``also``: enabled stages that need this one and are skipped with it.
    """
    if on_missing == "error":
        raise error
    with_it = f" (and with it {' and '.join(also)})" if also else ""
    log.warning("%s stage skipped%s: %s (set %s.enabled=false to silence this)", stage, with_it, why, stage)
    return Built(skipped=why)


def _embed(ctx: BuildContext) -> Built:
    embed = ctx.config.embed
    if not embed.enabled:
        return Built()
    from lvd2m_builder.models.clip import load

    try:
        model = load(embed)
    except (MissingWeightsError, MissingDependencyError) as e:
        also = tuple(name for name in ("prefilter", "dedup") if getattr(ctx.config, name).enabled)
        return _skip("embed", str(e), embed.on_missing, e, also)
    from lvd2m_builder.stages.embed import EmbedStage
    from lvd2m_builder.stages.frames.embed import EmbedFrames

    ctx.clip_model = model
    return Built(EmbedStage(model, embed.batch_size), [EmbedFrames(embed, ctx.config.captions, model.image_size)])


def _embed_device(config: BuildConfig) -> Optional[str]:
    return config.embed.device if config.embed.enabled else None


def _prefilter(ctx: BuildContext) -> Built:
    if not ctx.config.prefilter.enabled:
        return Built()
    if ctx.clip_model is None:
        return Built(skipped="needs the embed stage, which did not run")
    from lvd2m_builder.stages.prefilter import Prefilter

    return Built(Prefilter(ctx.config.prefilter, ctx.clip_model))


def _model_missing(stage: str, models: list[ModelConfig], on_missing: str) -> Optional[Built]:
    """The skip of a model stage whose model cannot run here, or None when every model can."""
    from lvd2m_builder.models.backends import missing

    for model in models:
        why = missing(model)
        if why is not None:
            error = MissingWeightsError(model.model, model.model, f"{why}; or set {stage}.on_missing=skip")
            return _skip(stage, why, on_missing, error)
    return None


def _semantic(ctx: BuildContext) -> Built:
    semantic = ctx.config.semantic
    if not semantic.enabled:
        return Built()
    skipped = _model_missing("semantic", [semantic.vlm], semantic.on_missing)
    if skipped is not None:
        return skipped
    from lvd2m_builder.models.backends import load
    from lvd2m_builder.stages.frames.captions import SemanticFrames
    from lvd2m_builder.stages.semantic import SemanticFilter

    return Built(SemanticFilter(semantic, load(semantic.vlm)), [SemanticFrames(semantic)])


def _captions(ctx: BuildContext) -> Built:
    captions = ctx.config.captions
    if not captions.enabled:
        return Built()
    skipped = _model_missing("captions", [captions.vlm, captions.llm], captions.on_missing)
    if skipped is not None:
        return skipped
    from lvd2m_builder.models.backends import load
    from lvd2m_builder.stages.captions import CaptionStage
    from lvd2m_builder.stages.frames.captions import CaptionFrames

    return Built(CaptionStage(captions, load(captions.vlm), load(captions.llm)), [CaptionFrames(captions)])


def _local_device(models: list[ModelConfig]) -> Optional[str]:
    """The device of the models that run in this process (an OpenAI-compatible server holds its own GPU)."""
    local = [m.device for m in models if m.backend == "transformers"]
    return next((d for d in local if d.startswith("cuda")), local[0]) if local else None


def _align(ctx: BuildContext) -> Built:
    if ctx.clip_model is None:
        return Built()
    from lvd2m_builder.stages.align import Align

    return Built(Align(ctx.clip_model, ctx.config.embed.batch_size))


def _dataset_pass(ctx: BuildContext) -> Built:
    return Built()  # dedup runs over the finished dataset (run/build.py), not clip by clip


REGISTRY: tuple[StageSpec, ...] = (
    StageSpec("source", _source, frames="none: fetches remote inputs to scratch"),
    StageSpec("probe", _probe, frames="none: container and stream metadata"),
    StageSpec("duration", _duration, section="duration", redecide="threshold", thresholds=("min_s", "max_s"),
              recheck=_duration_recheck),
    StageSpec("decode", _decode, frames="the union of every scorer's frames, decoded once"),
    StageSpec("cuts", _cuts, section="cuts", frames="cuts.fps frames (content), or every frame tiny (robust, transnetv2)"),
    StageSpec("motion", _motion, section="motion", redecide="threshold", thresholds=("min_score",),
              recheck=_motion_recheck, frames="motion.fps frames at motion.height x motion.width",
              device=_motion_device),
    StageSpec("embed", _embed, section="embed", redecide="model", frames="embed.frames_per_segment per segment",
              device=_embed_device),
    StageSpec("prefilter", _prefilter, section="prefilter", redecide="model"),
    StageSpec("semantic", _semantic, section="semantic", redecide="model", frames="semantic.frames uniform",
              device=lambda c: _local_device([c.semantic.vlm]) if c.semantic.enabled else None, prefetch=True),
    StageSpec("captions", _captions, section="captions", redecide="model",
              frames="grid_cols x grid_rows per captions.segment_s segment",
              device=lambda c: _local_device([c.captions.vlm, c.captions.llm]) if c.captions.enabled else None,
              prefetch=True),
    StageSpec("align", _align, section="embed", redecide="model"),
    StageSpec("dedup", _dataset_pass, section="dedup", redecide="model", per_clip=False),
)

#: Stage names in pipeline order: a reject's ``stage`` is one of these, or an executor's (``EXECUTOR_STAGES``).
STAGES: tuple[str, ...] = tuple(spec.name for spec in REGISTRY)
#: Rejects the executors make themselves: a clip that hung its worker, or killed it twice.
EXECUTOR_STAGES = ("timeout", "worker")
BY_NAME = {spec.name: spec for spec in REGISTRY}


def gpu_stages(config: BuildConfig) -> dict[str, str]:
    """Enabled stages that run on a GPU when their worker has one: stage -> its device setting."""
    devices = {spec.name: spec.device(config) for spec in REGISTRY}
    return {name: d for name, d in devices.items() if d is not None and (d == "auto" or d.startswith("cuda"))}
