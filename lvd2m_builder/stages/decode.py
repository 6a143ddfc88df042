"""The ``decode`` stage: one decode per clip feeds every frame scorer (cuts, motion, CLIP, the model stages).

With cuts.on_cut=split the clip is a whole video: this pass feeds only the scorers whose results divide among
shots (cuts and motion: per frame, per frame pair), and a decode that fails part-way keeps what came before it
(the split stage keeps the shots that ended there). The model stages' frames depend on each shot's bounds, so
``shot_frames`` reads them once the shots are known (stages/shot_frames.py).
"""

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

    def __init__(self, scorers: list[FrameScorer], sampler: FrameSampler, split: bool = False) -> None:
        self.scorers = scorers
        self.sampler = sampler
        self.split = split

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            scorers = [scorer for scorer in self.scorers if scorer.divisible or not self.split]
            if not clip.rejected and scorers:
                try:
                    self.sampler.run(clip, [scorer.task(clip) for scorer in scorers], partial=self.split)
                except DecodeError as e:
                    clip.reject(self.stage, e.why)
                except StageError as e:
                    clip.reject(e.stage, e.why)
            yield clip
