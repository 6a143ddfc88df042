"""The paper's filters on the real sample videos and their labels (../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lvd2m_builder.config import preset
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.stages.pipeline import Pipeline


@pytest.fixture(scope="module")
def clips(shared_videos):
    """Every sample through the paper pipeline, duration gate off so short labelled clips reach the cut check."""
    config = preset("paper").replace({"duration.min_s": 0.0})
    return {Path(c.ref.uri).name: c for c in Pipeline(config)(list_refs([str(shared_videos)]))}


def _labelled_cuts(manifest):
    return [(name, spec) for name, spec in manifest.items() if spec.get("cuts")]


def test_every_video_with_hard_cuts_is_rejected_at_the_cut_stage(clips, manifest):
    for name, spec in _labelled_cuts(manifest):
        clip = clips[name]
        assert clip.rejected and clip.rejection.stage == "cuts", (name, clip.rejection)


def test_cut_times_lie_within_2s_of_the_labels(clips, manifest):
    """The paper's detector decides; its cuts are placed with the 2 fps frames, so a found cut is within 0.5 s.

    The paper's detector cannot see every cut: two cuts inside one 2 s step (issue-195 at 16.8 s and 19.4 s)
    or a cut whose neighbouring samples score under 50 (test_video at 4.2 s and 7.1 s) are missed. So every
    video must match some label, at least 80% of all labels (13 of 16 here) must be found within 2 s, and each
    label found is found within 0.5 s.
    """
    matched, total = 0, 0
    for name, spec in _labelled_cuts(manifest):
        found = clips[name].cut_times
        errors = [min(abs(t - frame / spec["fps"]) for t in found) for frame in spec["cuts"]]
        hits = [error <= 2.0 for error in errors]
        assert any(hits), (name, found)
        assert all(error <= 0.5 for error in errors if error <= 2.0), (name, found, errors)
        matched, total = matched + sum(hits), total + len(hits)
    assert matched / total >= 0.8, (matched, total)


def test_duration_gate_rejects_chaplin_and_long_takes_get_a_motion_score(shared_videos):
    clips = {c.ref.video_id: c for c in Pipeline(preset("paper"))(list_refs([str(shared_videos)]))}
    assert clips["chaplin"].rejection.stage == "duration"
    for name in ("cockatoo", "flipping_a_pancake"):
        assert clips[name].flow_score is not None and clips[name].flow_score > 0, name
