"""Compose the registered stages into one generator: ClipRefs in, finished Clips (accepted or rejected) out.

The order is the registry's (stages/registry.py): fetch -> probe -> duration -> one frame pass (every scorer
shares one decode) -> cuts -> motion -> [CLIP embed -> zero-shot pre-filter] -> semantic check -> captions (model
stages, fed by a prefetch thread) -> [caption alignment]. Every clip comes out exactly once; exceptions inside a
stage become rejects of that stage.
"""

from __future__ import annotations

import logging
from typing import Iterable, Iterator

from lvd2m_builder.config import BuildConfig
from lvd2m_builder.media.sampler import FrameSampler
from lvd2m_builder.records import Clip, ClipRef, Rejection
from lvd2m_builder.stages.base import BatchedStage, BuildContext, Stage
from lvd2m_builder.stages.batching import Prefetch
from lvd2m_builder.stages.fetch import Fetch
from lvd2m_builder.stages.registry import REGISTRY

log = logging.getLogger(__name__)

PREFETCH_WINDOWS = 2  # windows of clips decoded ahead of the slow model stages
OFF = "off in this build's settings"


class Pipeline:
    """The whole clip pipeline for one config, or one segment of it; built once per worker process (models
    load here).

    ``scorers`` read frames from the one decode of each clip; ``skipped`` names the enabled stages that cannot
    run here (model weights absent, ...) and why; ``not_run`` every registered stage of this pipeline that will
    not run, and why (those, and the ones the config turns off), for stats, the card and the preview. ``only``
    builds just those stages, for an executor that runs the pipeline as segments in separate processes
    (registry.segments): a segment that decodes also builds the later stages' frame scorers, without their
    models, so the frames they take travel with the clip.
    """

    def __init__(self, config: BuildConfig, scratch: str | None = None, only: tuple[str, ...] | None = None) -> None:
        self.config = config
        ctx = BuildContext(config, scratch, FrameSampler(config.motion.height, config.motion.width, config.decode_chunk))
        self.stages: list[Stage] = []
        self.skipped: dict[str, str] = {}
        self.not_run: dict[str, str] = {}
        self.scorers = ctx.scorers
        slow: list[Stage] = []
        names = [spec.name for spec in REGISTRY]
        later = names.index(only[-1]) + 1 if only is not None and "decode" in only else len(names)
        for position, spec in enumerate(REGISTRY):
            mine = only is None or spec.name in only
            if not spec.per_clip:
                if only is None and not getattr(config, spec.section).enabled:
                    self.not_run[spec.name] = OFF
                continue
            if not (mine or position >= later):
                continue
            ctx.frames_only = not mine
            built = spec.build(ctx)
            ctx.scorers.extend(built.scorers)
            if built.skipped is not None:
                self.skipped[spec.name] = built.skipped
            if not mine:
                continue
            if built.stage is None:
                self.not_run[spec.name] = built.skipped or OFF
                continue
            if spec.prefetch and only is None:  # a segment's clips arrive decoded already: nothing to run ahead
                if not slow:
                    self.stages.append(Prefetch(0))  # its depth is known once every slow stage is built
                slow.append(built.stage)
            self.stages.append(built.stage)
        for stage in self.stages:
            if isinstance(stage, Prefetch):
                stage.depth = PREFETCH_WINDOWS * max(s.window if isinstance(s, BatchedStage) else 1 for s in slow)

    def __call__(self, refs: Iterable[ClipRef], forced: dict[str, Rejection] | None = None) -> Iterator[Clip]:
        """Run every stage; ``forced`` rejects named keys up front (a clip that hung or killed a worker before)."""
        forced = forced or {}
        return self.run(Clip(ref=ref, rejection=forced.get(ref.key)) for ref in refs)

    def run(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        """Run this pipeline's stages over clips that may have passed earlier segments already."""
        stream: Iterable[Clip] = clips
        for stage in self.stages:
            stream = stage(stream) if stage.batched else _guarded(stage, stream)
        for clip in stream:
            Fetch.release(clip)
            yield clip


def _guarded(stage: Stage, clips: Iterable[Clip]) -> Iterator[Clip]:
    """Run a per-clip stage one clip at a time, so an unexpected error rejects that clip and the rest go on.

    Batched stages (``Stage.batched``) turn their own failures into rejects.
    """
    for clip in clips:
        try:
            yield from stage([clip])
        except Exception as e:  # the last line of defence: one clip's failure must not end the build
            log.exception("stage %s failed on %s", stage.stage, clip.ref.uri)
            clip.reject(stage.stage, f"{type(e).__name__}: {e}")
            yield clip
