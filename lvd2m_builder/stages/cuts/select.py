"""Which cut check a config asks for: the scorer that feeds on frames, the filter that thresholds its scores,
and (robust only) the residual scorer the motion stage runs on its flow for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from lvd2m_builder.config import CutConfig
from lvd2m_builder.stages.base import FrameScorer, Stage
from lvd2m_builder.stages.cuts.content import CutFilter, CutScorer
from lvd2m_builder.stages.cuts.residual import ResidualScorer
from lvd2m_builder.stages.cuts.robust import RobustCutFilter, RobustCutScorer


@dataclass(frozen=True)
class CutCheck:
    scorer: FrameScorer
    filter: Stage
    residual: Optional[ResidualScorer] = None


def cut_check(config: CutConfig) -> CutCheck:
    """The check for ``config.detector``; TransNetV2 is imported only when asked for (an optional extra)."""
    if config.detector == "robust":
        scorer = RobustCutScorer(config)
        return CutCheck(scorer, RobustCutFilter(config), scorer.residual)
    if config.detector == "transnetv2":
        from lvd2m_builder.stages.cuts.transnet import TransNetFilter, TransNetScorer

        return CutCheck(TransNetScorer(config), TransNetFilter(config))
    return CutCheck(CutScorer(config), CutFilter())
