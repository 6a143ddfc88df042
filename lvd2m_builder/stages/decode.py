"""The ``decode`` stage: one decode per clip feeds every frame scorer (cuts, motion, CLIP, the model stages)."""

from __future__ import annotations

from typing import Iterable, Iterator

from lvd2m_builder.errors import DecodeError, StageError
from lvd2m_builder.media.sampler import FrameSampler
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import FrameScorer, Stage


class FramePass(Stage):
    """Decode each surviving clip once and feed every scorer's task from that single decode.

    ``scorers`` is shared with the pipeline's build context: later stages add theirs before the first clip runs.
    """

    stage = "decode"

    def __init__(self, scorers: list[FrameScorer], sampler: FrameSampler) -> None:
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
