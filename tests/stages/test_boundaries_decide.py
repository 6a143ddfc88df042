"""The robust cut check's verdicts, one candidate kind and one branch at a time, at the thresholds' edges.

``decide`` only thresholds what the frame pass scored, so each case hands it candidates and 2 fps flow pairs as
that pass would and reads back every field of the cuts and ignored events a row's provenance records.
"""

from __future__ import annotations

import pytest

from lvd2m_builder.config import RobustCutConfig
from lvd2m_builder.stages.cuts.frame_signals import Candidate
from lvd2m_builder.stages.cuts.robust import decide

CONFIG = RobustCutConfig()  # min_unmatched 0.2, return_ratio 0.5, flash_frames 2, return_ncc 0.8, dissolve_s 0.5
DURATION = 10.0
SPIKE = {"ratio": 6.5, "change": 40.0}


def spike(return_ratio: float, t: float = 5.0) -> Candidate:
    return Candidate("spike", round(t * 24), t, {**SPIKE, "return_ratio": return_ratio})


def blank(t: float, end_t: float, frames: int, returns: float = 0.1, level: str = "black",
          from_start: bool = False, to_end: bool = False) -> Candidate:
    return Candidate("blank", round(t * 24), t, {"frames": frames, "end_t": end_t, "level": level,
                                                 "from_start": from_start, "to_end": to_end, "returns": returns})


def blend(t: float) -> Candidate:
    return Candidate("blend", round(t * 24), t, {"blend": 0.1, "across": 60.0, "motion": 0.4})


def spike_event(signal: str, unmatched, return_ratio: float = 0.9, **why) -> dict:
    return {"t": 5.0, "signal": signal, "frame": 120, **SPIKE, "return_ratio": return_ratio, "unmatched": unmatched,
            **why}


def blank_event(signal: str, t: float, candidate_t: float, frames: int, returns: float = 0.1, **why) -> dict:
    return {"t": t, "signal": signal, "frame": round(candidate_t * 24), "frames": frames, "level": "black",
            "returns": returns, **why}


CASES = {
    # the pair ending at the spike covers it; one starting there, or later, does not; shares are kept to 3 places
    "spike-the-flow-explains": (
        [spike(0.9)], [(4.5, 5.0, 2.0, 0.12345), (5.0, 5.5, 2.0, 0.9), (7.0, 7.5, 2.0, 0.95)],
        [], [spike_event("spike", 0.123, why="the flow explains the change")]),
    "spike-exactly-min-unmatched-is-a-cut": (
        [spike(0.9)], [(4.5, 5.0, 2.0, 0.2)], [spike_event("hard cut", 0.2)], []),
    "spike-without-flow-is-a-cut": ([spike(0.9)], [], [spike_event("hard cut", None)], []),
    "spike-whose-picture-returns-exactly": (
        [spike(0.5)], [(4.5, 5.0, 3.0, 0.71234)], [],
        [spike_event("spike", 0.712, return_ratio=0.5, why="the picture returns (flash or occlusion)")]),
    "all-black": (
        [blank(0.0, 10.0, 240, from_start=True, to_end=True)], [], [],
        [blank_event("all black", 0.0, 0.0, 240, why="no picture to cut from")]),
    "black-lead-in": ([blank(0.0, 1.0, 24, from_start=True)], [], [blank_event("black lead-in ends", 1.0, 0.0, 24)], []),
    "fade-to-black-at-the-end": ([blank(9.0, 10.0, 24, to_end=True)], [], [blank_event("fade to black", 9.0, 9.0, 24)], []),
    "flash-at-both-limits": (
        [blank(5.0, 5.083, 2, returns=0.8)], [], [],
        [blank_event("black flash", 5.0, 5.0, 2, returns=0.8, why="short, and the picture returns")]),
    "three-frames-is-a-fade": (
        [blank(5.0, 5.2, 3, returns=0.8)], [], [blank_event("fade through black", 5.1, 5.0, 3, returns=0.8)], []),
    "two-frames-another-picture-is-a-fade": (
        [blank(5.0, 5.2, 2, returns=0.79)], [], [blank_event("fade through black", 5.1, 5.0, 2, returns=0.79)], []),
}


@pytest.mark.parametrize("candidates, pairs, cuts, ignored", CASES.values(), ids=CASES.keys())
def test_each_candidate_is_decided_and_recorded_with_its_scores(candidates, pairs, cuts, ignored):
    assert decide(candidates, pairs, DURATION, CONFIG) == (cuts, ignored)


def test_blends_within_dissolve_s_of_a_blank_run_are_its_ramps_others_are_dissolves():
    """A fade through black ramps down and up: blends from dissolve_s before the run to dissolve_s after it are
    that fade (reported once, by the run); a blend further out is a dissolve, with the flow's share recorded."""
    candidates = [blend(2.0), blend(4.5), blank(5.0, 5.5, 12), blend(6.0), blend(8.0)]
    cuts, ignored = decide(candidates, [], DURATION, CONFIG)
    assert [(e["signal"], e["t"]) for e in cuts] == [("dissolve", 2.0), ("fade through black", 5.25), ("dissolve", 8.0)]
    ramp = "the ramp of a fade through a blank run"
    assert [(e["signal"], e["t"], e["why"]) for e in ignored] == [("blend", 4.5, ramp), ("blend", 6.0, ramp)]


def test_a_dissolve_records_the_largest_share_of_the_pairs_within_half_dissolve_s():
    """The pairs that overlap [t - dissolve_s / 2, t + dissolve_s / 2], even by their last or first instant; the
    largest share sits at the lower edge for the first dissolve and at the upper edge for the second."""
    pairs = [(1.0, 1.5, 9.0, 0.8), (1.3, 1.8, 9.0, 0.35), (2.2, 2.7, 9.0, 0.3),  # around 2.0: [1.75, 2.25]
             (7.3, 7.8, 9.0, 0.3), (8.2, 8.7, 9.0, 0.35), (8.3, 8.8, 9.0, 0.9)]  # around 8.0: [7.75, 8.25]
    cuts, _ = decide([blend(2.0), blend(8.0)], pairs, DURATION, CONFIG)
    assert [(e["t"], e["unmatched"]) for e in cuts] == [(2.0, 0.35), (8.0, 0.35)]
