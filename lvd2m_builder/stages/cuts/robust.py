"""The ``robust`` cut check: tells camera motion from cuts, locates cuts to the frame, keeps dynamic long takes.

The paper's setting compares frames 2 s apart, so a fast pan looks like a cut and a cut's time is only known
to the 2 s grid. Here two signals from the one decode are weighed together:

- per-frame candidates on tiny frames at the native rate (frame_signals.py): spikes, blank runs, blends;
- what the motion stage's optical flow cannot explain in each 2 fps pair (residual.py), from the flow it
  computes anyway: a pan, a zoom or a moving subject leaves few unmatched pixels, a cut many.

A spike is a hard cut unless the picture returns (a flash, an occlusion) or the flow explains the pair around
it. A blank run is a fade through black or white unless it is a flash (short, and the picture returns). A
blend is a dissolve unless it is the ramp into or out of a blank run (that fade is reported once, by the run);
the flow's verdict on its pairs is recorded but not required, since on the synthetic pans the 2 fps flow left
more pixels unmatched at 8 px/frame (up to 0.58) than around dissolves (0.25-0.31). Events within ``edge_s``
of the clip's ends are stray frames, not shots; events within ``merge_s`` of a kept cut are the same
transition. Scoring happens in the frame pass; this stage only thresholds, so a new threshold needs no decode.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional

import numpy as np

from lvd2m_builder.config import CutConfig, RobustCutConfig
from lvd2m_builder.media.sampler import NativeTask
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import FrameScorer, Stage
from lvd2m_builder.stages.cuts.frame_signals import Candidate, FrameSignals
from lvd2m_builder.stages.cuts.residual import ResidualScorer

#: How many ignored candidates a row's provenance keeps (the count of all of them is kept too).
MAX_IGNORED = 20


class _RobustTask(NativeTask):
    """Every frame, tiny, at the native rate (the flow it weighs them against comes from the motion stage)."""

    stage = "cuts"

    def __init__(self, clip: Clip, config: RobustCutConfig) -> None:
        self.clip = clip
        info = clip.info
        self.native_size = (config.tiny_width, max(8, round(config.tiny_width * info.height / max(info.width, 1))))
        self.signals = FrameSignals(config, info.fps)

    def feed_native(self, t: float, frame: np.ndarray) -> None:
        self.signals.add(t, frame)

    def finish(self) -> None:
        self.clip.cut_candidates = self.signals.finish()


class RobustCutScorer(FrameScorer):
    """Gives the sampler one per-frame task per clip; ``residual`` goes to the motion scorer."""

    stage = "cuts"

    def __init__(self, config: CutConfig) -> None:
        self.config = config.robust
        self.residual = ResidualScorer(config.robust.match_tol)

    def task(self, clip: Clip) -> _RobustTask:
        return _RobustTask(clip, self.config)


def _event(cand: Candidate, signal: str, t: Optional[float] = None, why: Optional[str] = None, **extra: Any) -> dict:
    scores = {k: v for k, v in cand.scores.items() if k not in ("from_start", "to_end", "end_t")}
    event = {"t": round(cand.t if t is None else t, 3), "signal": signal, "frame": cand.frame, **scores, **extra}
    return {**event, "why": why} if why else event


def decide(candidates: list[Candidate], pairs: list[tuple[float, float, float, float]], duration: float,
           config: RobustCutConfig) -> tuple[list[dict], list[dict]]:
    """(cuts, ignored candidates), each an event dict with its time, signal, scores and (if ignored) why."""

    def unmatched(lo: float, hi: float) -> Optional[float]:
        """The largest unmatched share of the 2 fps pairs that overlap [lo, hi]; None without pairs."""
        shares = [share for t0, t1, _, share in pairs if t0 < hi and t1 >= lo]
        return round(max(shares), 3) if shares else None

    blanks = [(c.t - config.dissolve_s, c.scores["end_t"] + config.dissolve_s) for c in candidates if c.kind == "blank"]
    cuts, ignored = [], []
    for cand in candidates:
        s, t = cand.scores, cand.t
        if cand.kind == "spike":
            share = unmatched(t, t)
            if s["return_ratio"] <= config.return_ratio:
                ignored.append(_event(cand, "spike", why="the picture returns (flash or occlusion)", unmatched=share))
            elif share is not None and share < config.min_unmatched:
                ignored.append(_event(cand, "spike", why="the flow explains the change", unmatched=share))
            else:
                cuts.append(_event(cand, "hard cut", unmatched=share))
        elif cand.kind == "blank":
            level = s["level"]
            if s["from_start"] and s["to_end"]:
                ignored.append(_event(cand, f"all {level}", why="no picture to cut from"))
            elif s["from_start"]:  # a lead-in shorter than edge_s is a stray frame: _merge drops it
                cuts.append(_event(cand, f"{level} lead-in ends", t=s["end_t"]))
            elif s["to_end"]:
                cuts.append(_event(cand, f"fade to {level}"))
            elif s["frames"] <= config.flash_frames and s["returns"] >= config.return_ncc:
                ignored.append(_event(cand, f"{level} flash", why="short, and the picture returns"))
            else:
                cuts.append(_event(cand, f"fade through {level}", t=(t + s["end_t"]) / 2))
        else:
            share = unmatched(t - config.dissolve_s / 2, t + config.dissolve_s / 2)
            if any(lo <= t <= hi for lo, hi in blanks):
                ignored.append(_event(cand, "blend", why="the ramp of a fade through a blank run"))
            else:  # the flow's verdict is recorded, not used: a fast pan defeats it more often than a dissolve
                cuts.append(_event(cand, "dissolve", unmatched=share))
    return _merge(cuts, ignored, duration, config)


def _merge(cuts: list[dict], ignored: list[dict], duration: float,
           config: RobustCutConfig) -> tuple[list[dict], list[dict]]:
    """Drop stray edge frames and cuts within ``merge_s`` of a kept one (the same transition, seen twice)."""
    kept: list[dict] = []
    for event in sorted(cuts, key=lambda e: e["t"]):
        if not config.edge_s <= event["t"] <= duration - config.edge_s:
            ignored.append({**event, "why": "a stray frame at the clip's edge"})
        elif kept and event["t"] - kept[-1]["t"] <= config.merge_s:
            ignored.append({**event, "why": f"same transition as the cut at {kept[-1]['t']:.2f}s"})
        else:
            kept.append(event)
    return kept, sorted(ignored, key=lambda e: e["t"])


def describe(cuts: list[dict]) -> str:
    """A reject reason naming each cut's signal, time and the scores that fired (how many cuts: ``cut_times``)."""
    def scores(event: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in event.items() if k not in ("t", "signal", "frame", "why", "level")
                         and v is not None)

    return "; ".join(f"{e['signal']} at {e['t']:.2f}s ({scores(e)})" for e in cuts)


def evidence(detector: str, cuts: list[dict], ignored: list[dict], **summary: Any) -> dict[str, Any]:
    """What a row's provenance records of the cut check."""
    return {"detector": detector, "cuts": cuts, "ignored": ignored[:MAX_IGNORED], "ignored_total": len(ignored),
            **summary}


class RobustCutFilter(Stage):
    """Thresholds the candidates against the flow residuals; any cut rejects, naming its signal and time."""

    stage = "cuts"

    def __init__(self, config: CutConfig) -> None:
        self.config = config.robust

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if not clip.rejected:
                pairs = clip.flow_residuals
                cuts, ignored = decide(clip.cut_candidates, pairs, clip.info.duration, self.config)
                clip.cut_candidates = []
                clip.cut_times = [e["t"] for e in cuts]
                clip.cut_evidence = evidence("robust", cuts, ignored, pairs=len(pairs), max_unmatched=round(
                    max((p[3] for p in pairs), default=0.0), 3))
                if cuts:
                    clip.reject(self.stage, describe(cuts))
            yield clip
