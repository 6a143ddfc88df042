"""Every stage, registered once, in pipeline order: the pipeline, rebuild, the executors, stats and the card all
read what they need to know about stages from here.

Each entry's ``build`` imports its stage's module only when a pipeline is assembled, so that reading the
registry (stats, the card, validate) loads no decoder or model code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from lvd2m_builder.config import BuildConfig, ModelConfig
from lvd2m_builder.errors import MissingDependencyError, MissingWeightsError
from lvd2m_builder.stages.base import BuildContext, Built, Resources, StageSpec

if TYPE_CHECKING:
    from lvd2m_builder.models.clip import ClipModel

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


def _clip_model(ctx: BuildContext) -> "ClipModel":
    """The one CLIP model of this process, loaded by the first stage that needs it (embed, or align when it
    runs in a process of its own); raises MissingWeightsError or MissingDependencyError."""
    if ctx.clip_model is None:
        from lvd2m_builder.models.clip import load

        ctx.clip_model = load(ctx.config.embed)
    return ctx.clip_model


def _embed(ctx: BuildContext) -> Built:
    embed = ctx.config.embed
    if not embed.enabled:
        return Built()
    from lvd2m_builder.models.clip_weights import input_size, locate

    try:
        located = locate(embed)
        model = None if ctx.frames_only else _clip_model(ctx)
    except (MissingWeightsError, MissingDependencyError) as e:
        also = tuple(name for name in ("prefilter", "dedup") if getattr(ctx.config, name).enabled)
        return _skip("embed", str(e), embed.on_missing, e, also)
    from lvd2m_builder.stages.frames.embed import EmbedFrames

    frames = EmbedFrames(embed, ctx.config.captions, input_size(located) if model is None else model.image_size)
    if model is None:
        return Built(scorers=[frames])
    from lvd2m_builder.stages.embed import EmbedStage

    return Built(EmbedStage(model, embed.batch_size), [frames])


def _embed_device(config: BuildConfig) -> Optional[str]:
    return config.embed.device if config.embed.enabled else None


def _prefilter(ctx: BuildContext) -> Built:
    if not ctx.config.prefilter.enabled or ctx.frames_only:
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
    from lvd2m_builder.stages.frames.captions import SemanticFrames

    if ctx.frames_only:
        return Built(scorers=[SemanticFrames(semantic)])
    from lvd2m_builder.models.backends import load
    from lvd2m_builder.stages.semantic import SemanticFilter

    return Built(SemanticFilter(semantic, load(semantic.vlm)), [SemanticFrames(semantic)])


def _captions(ctx: BuildContext) -> Built:
    captions = ctx.config.captions
    if not captions.enabled:
        return Built()
    skipped = _model_missing("captions", [captions.vlm, captions.llm], captions.on_missing)
    if skipped is not None:
        return skipped
    from lvd2m_builder.stages.frames.captions import CaptionFrames

    if ctx.frames_only:
        return Built(scorers=[CaptionFrames(captions)])
    from lvd2m_builder.models.backends import load
    from lvd2m_builder.stages.captions import CaptionStage

    return Built(CaptionStage(captions, load(captions.vlm), load(captions.llm)), [CaptionFrames(captions)])


def _local_device(models: list[ModelConfig]) -> Optional[str]:
    """The device of the models that run in this process (an OpenAI-compatible server holds its own GPU)."""
    local = [m.device for m in models if m.backend == "transformers"]
    return next((d for d in local if d.startswith("cuda")), local[0]) if local else None


def _requests_at_once(models: list[ModelConfig]) -> int:
    """Clips per call of a model stage: what its backends take at once (``Backend.batch_size``)."""
    return max(m.batch_size if m.backend == "transformers" else m.concurrency for m in models)


# Shares of one GPU per actor: every model stage's first actor fits on one GPU together (0.1 + 0.4 + 0.4 + 0.1),
# and a GPU holds two 7B VLM actors (H100/H200); set ``ray_gpus`` for smaller GPUs or other models.
def _embed_resources(config: BuildConfig) -> Optional[Resources]:
    return Resources(gpu_share=0.1, batch=config.embed.batch_size) if config.embed.enabled else None


def _semantic_resources(config: BuildConfig) -> Optional[Resources]:
    semantic = config.semantic
    return Resources(gpu_share=0.4, batch=_requests_at_once([semantic.vlm])) if semantic.enabled else None


def _captions_resources(config: BuildConfig) -> Optional[Resources]:
    captions = config.captions
    return Resources(gpu_share=0.4, batch=_requests_at_once([captions.vlm, captions.llm])) if captions.enabled else None


def _align(ctx: BuildContext) -> Built:
    if not ctx.config.embed.enabled or ctx.frames_only:
        return Built()
    try:
        model = _clip_model(ctx)
    except (MissingWeightsError, MissingDependencyError):
        return Built()  # the embed stage said why (and was skipped) already
    from lvd2m_builder.stages.align import Align

    return Built(Align(model, ctx.config.embed.batch_size))


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
              device=_embed_device, resources=_embed_resources),
    StageSpec("prefilter", _prefilter, section="prefilter", redecide="model"),
    StageSpec("semantic", _semantic, section="semantic", redecide="model", frames="semantic.frames uniform",
              device=lambda c: _local_device([c.semantic.vlm]) if c.semantic.enabled else None, prefetch=True,
              resources=_semantic_resources),
    StageSpec("captions", _captions, section="captions", redecide="model",
              frames="grid_cols x grid_rows per captions.segment_s segment",
              device=lambda c: _local_device([c.captions.vlm, c.captions.llm]) if c.captions.enabled else None,
              prefetch=True, resources=_captions_resources),
    StageSpec("align", _align, section="embed", redecide="model", device=_embed_device, resources=_embed_resources),
    StageSpec("dedup", _dataset_pass, section="dedup", redecide="model", per_clip=False),
)

#: Stage names in pipeline order: a reject's ``stage`` is one of these, or an executor's (``EXECUTOR_STAGES``).
STAGES: tuple[str, ...] = tuple(spec.name for spec in REGISTRY)
#: Rejects the executors make themselves: a clip that hung its worker, or killed it twice.
EXECUTOR_STAGES = ("timeout", "worker")
BY_NAME = {spec.name: spec for spec in REGISTRY}


def gpu_stages(config: BuildConfig) -> dict[str, str]:
    """Enabled stages that run on a GPU when their process has one: stage -> its device setting."""
    devices = {spec.name: spec.device(config) for spec in REGISTRY}
    return {name: d for name, d in devices.items() if d is not None and (d == "auto" or d.startswith("cuda"))}


@dataclass(frozen=True)
class Segment:
    """Consecutive stages that can run in one process. The first holds the cheap stages and the one decode
    (``resources`` None: CPU work, plus RAFT when motion runs on a GPU); each later one a model stage with its
    declared :class:`Resources` and the stages after it that declare none (prefilter uses embed's model)."""

    stages: tuple[str, ...]
    resources: Optional[Resources] = None
    device: Optional[str] = None  # where its model runs ("auto", "cuda", "cpu"), or None: no model here


def segments(config: BuildConfig) -> list[Segment]:
    """The per-clip stages cut where a stage declares a process of its own, in pipeline order; model stages
    that are off are left out."""
    cut: list[Segment] = []
    for spec in REGISTRY:
        if not spec.per_clip or (spec.redecide == "model" and not getattr(config, spec.section).enabled):
            continue
        resources = spec.resources(config)
        if resources is not None or not cut:
            cut.append(Segment((spec.name,), resources, spec.device(config)))
        else:
            last = cut[-1]
            cut[-1] = Segment((*last.stages, spec.name), last.resources, last.device or spec.device(config))
    return cut
