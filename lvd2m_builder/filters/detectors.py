"""Which cut check a config asks for: the scorer that feeds on frames and the filter that thresholds its scores."""

from __future__ import annotations

from ..config import CutConfig
from .cuts import CutFilter, CutScorer
from .robust_cuts import RobustCutFilter, RobustCutScorer


def cut_stages(config: CutConfig) -> tuple:
    """(scorer, filter) for ``config.detector``; TransNetV2 is imported only when asked for (an optional extra)."""
    if config.detector == "robust":
        return RobustCutScorer(config), RobustCutFilter(config)
    if config.detector == "transnetv2":
        from .transnet import TransNetFilter, TransNetScorer

        return TransNetScorer(config), TransNetFilter(config)
    return CutScorer(config), CutFilter()
