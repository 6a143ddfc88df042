"""Compose the stages into one generator: ClipRefs in, finished Clips (accepted or rejected) out.

Order: fetch -> probe -> duration -> one frame pass (cut and motion scoring share one decode) -> cut filter ->
motion filter -> [CLIP embed -> zero-shot pre-filter] -> semantic check -> captions (model stages, fed by a
prefetch thread) -> [caption alignment]. Every clip comes out exactly once; exceptions inside a stage become
rejects of that stage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Iterable, Iterator

from .captions import model_stages
from .config import BuildConfig
from .embed import embed_stages
from .errors import DecodeError, StageError
from .filters.detectors import cut_stages
from .filters.duration import DurationFilter
from .filters.motion import MotionFilter, MotionScorer
from .media.probe import probe
from .media.sampler import FrameSampler
from .records import Clip, ClipRef, Rejection, VideoInfo
from .sources import Fetch

log = logging.getLogger(__name__)


class Probe:
    """Probe each clip once; a span from a clip table narrows the duration to the span."""

    stage = "probe"

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if not clip.rejected:
                started = time.perf_counter()
                try:
                    info, clip.frame_starts = probe(clip.path)
                    clip.info = _narrow(info, clip.ref)
                except DecodeError as e:
                    clip.reject(self.stage, e.why)
                except ValueError as e:
                    clip.reject(self.stage, str(e))
                clip.seconds[self.stage] = time.perf_counter() - started
            yield clip


def _narrow(info: VideoInfo, ref: ClipRef) -> VideoInfo:
    if ref.span_start is None:
        return info
    end = min(ref.span_end, info.duration) if ref.span_end is not None else info.duration
    if not 0 <= ref.span_start < end:
        raise ValueError(f"span [{ref.span_start}, {ref.span_end}] lies outside the video (0-{info.duration:.2f}s)")
    duration = end - ref.span_start
    return replace(info, num_frames=round(duration * info.fps), duration=duration)


class FramePass:
    """Decode each surviving clip once and feed every scorer's task from that single decode."""

    stage = "decode"

    def __init__(self, scorers: list, sampler: FrameSampler) -> None:
        self.scorers = scorers
        self.sampler = sampler

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if not clip.rejected and self.scorers:
                try:
                    self.sampler.run(clip, [scorer.task(clip) for scorer in self.scorers])
                except DecodeError as e:
                    clip.reject(self.stage, e.why)
                except StageError as e:
                    clip.reject(e.stage, e.why)
            yield clip


class Pipeline:
    """The whole clip pipeline for one config; built once per worker process (models load here)."""

    def __init__(self, config: BuildConfig, scratch: str | None = None) -> None:
        self.config = config
        scorers = []
        residual = None  # the robust cut check scores what the motion stage's flow cannot explain
        if config.cuts.enabled:
            cut_scorer, cut_filter = cut_stages(config.cuts)
            scorers.append(cut_scorer)
            residual = getattr(cut_scorer, "residual", None)
        if config.motion.enabled or residual is not None:
            scorers.append(MotionScorer(config.motion, residual))
        embed_tasks, before_vlm, after_captions = embed_stages(config)  # CLIP, where its weights are here
        frame_tasks, later = model_stages(config)  # semantic + captions, where their models can run here
        scorers.extend(embed_tasks + frame_tasks)
        sampler = FrameSampler(config.motion.height, config.motion.width, config.decode_chunk)
        self.stages = [Fetch(scratch), Probe(), DurationFilter(config.duration), FramePass(scorers, sampler)]
        if config.cuts.enabled:
            self.stages.append(cut_filter)
        if config.motion.enabled:
            self.stages.append(MotionFilter(config.motion))
        self.stages.extend(before_vlm)  # CLIP embeddings and its zero-shot pre-filter: obvious BAD clips stop here
        self.stages.extend(later)  # model stages last: they only see clips the cheap filters kept
        self.stages.extend(after_captions)  # caption-video alignment needs the captions

    def __call__(self, refs: Iterable[ClipRef], forced: dict[str, Rejection] | None = None) -> Iterator[Clip]:
        """Run every stage; ``forced`` rejects named keys up front (a clip that hung or killed a worker before)."""
        stream: Iterable = self.stages[0](refs, forced or {})
        for stage in self.stages[1:]:
            stream = stage(stream) if getattr(stage, "batched", False) else _guarded(stage, stream)
        for clip in stream:
            Fetch.release(clip)
            yield clip


def _guarded(stage, clips: Iterable[Clip]) -> Iterator[Clip]:
    """Run a per-clip stage one clip at a time, so an unexpected error rejects that clip and the rest go on.

    Stages that batch across clips set ``batched = True`` and turn their own failures into rejects.
    """
    for clip in clips:
        try:
            yield from stage([clip])
        except Exception as e:  # the last line of defence: one clip's failure must not end the build
            log.exception("stage %s failed on %s", stage.stage, clip.ref.uri)
            clip.reject(stage.stage, f"{type(e).__name__}: {e}")
            yield clip
