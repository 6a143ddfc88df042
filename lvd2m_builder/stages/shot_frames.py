"""The ``shot_frames`` stage (cuts.on_cut=split): the model stages' frames of a video's shots, in one pass.

The decode stage read the whole video once for the scorers whose results divide among shots (cuts, motion).
The model stages (embed, semantic, captions) want uniform frames of each shot and of its caption segments,
which depend on the shot's bounds, known only after the cut check. So once a video's shots are out of the
motion check, the frames every surviving shot needs are decoded together, in one sparse pass over the file
(the sampler's ``run_group``), never one decode per shot. Without an enabled model stage nothing is decoded.
"""

from __future__ import annotations

import logging
from typing import Iterable, Iterator

from lvd2m_builder.media.sampler import FrameSampler, GridTask
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import FrameScorer, Stage

log = logging.getLogger(__name__)


class ShotFrames(Stage):
    """Holds each video's shots until its last one arrives (they come in a row), then reads their frames."""

    stage = "shot_frames"
    batched = True  # it holds several clips at once, and turns its own failures into rejects

    def __init__(self, scorers: list[FrameScorer], sampler: FrameSampler) -> None:
        self.scorers = scorers  # shared with the build context: the model stages add theirs after this is built
        self.sampler = sampler

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        group: list[Clip] = []
        for clip in clips:
            shot = clip.ref.shot
            if shot is None:  # a video rejected before it was split
                yield clip
                continue
            group.append(clip)
            if shot.index == shot.count - 1:
                yield from self._read(group)
                group = []
        yield from self._read(group)

    def _read(self, group: list[Clip]) -> list[Clip]:
        scorers = [scorer for scorer in self.scorers if not scorer.divisible]
        items: list[tuple[Clip, list[GridTask]]] = []
        for clip in group:
            if clip.rejected or not scorers:
                continue
            try:
                items.append((clip, [scorer.task(clip) for scorer in scorers]))
            except Exception as e:  # a task that cannot be planned for this shot rejects it alone
                clip.reject(self.stage, f"{type(e).__name__}: {e}")
        if items:
            try:
                failed = self.sampler.run_group(items)
            except Exception as e:  # the file would not open, say: every shot waiting for frames is rejected
                log.warning("reading shot frames of %s failed: %s", items[0][0].ref.uri, e)
                failed = {n: (None, getattr(e, "why", f"{type(e).__name__}: {e}")) for n in range(len(items))}
            for n, (stage, why) in failed.items():
                items[n][0].reject(stage or self.stage, why)
        return group
