"""Cut checks at their settings: the paper's detector keeps its exact verdicts on the labelled sample videos, and
the robust check calls a short black run that does not return a fade, not a flash."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lvd2m_builder.config import RobustCutConfig, preset
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.records import Clip, ClipRef, VideoInfo
from lvd2m_builder.stages.cuts.content import CutScorer
from lvd2m_builder.stages.cuts.frame_signals import FrameSignals
from lvd2m_builder.stages.cuts.robust import decide
from lvd2m_builder.stages.pipeline import Pipeline

#: Cuts the paper's ContentDetector (threshold 50, min_scene_len 0, 0.5 fps) finds in each sample video. Long
#: takes: chaplin and flipping_a_pancake get none; cockatoo gets its two known false cuts (the wing over the lens).
#: Cut videos: every label found once, except two labels inside one 2 s step (issue-195), two low-scoring cuts
#: (test_video, which also fires at 0.25 s) and both ends of testvideo's slow fades. At threshold 30 pancake gets
#: 2 false cuts and cockatoo 6, issue-195 8: a changed threshold shows here.
PAPER_CUT_COUNTS = {
    "audrey.mp4": 2, "chaplin.mp4": 0, "cockatoo.mp4": 2, "fades.mp4": 1, "flipping_a_pancake.mkv": 0,
    "goldeneye-vfr-drop3.mp4": 1, "issue-134-rotate.mp4": 2, "issue-195-aspect-ratio.mp4": 4, "test_video.mp4": 5,
    "testvideo.mp4": 6,
}


@pytest.fixture(scope="module")
def paper_cuts(shared_videos) -> dict[str, list[float]]:
    config = preset("paper").replace({"duration.min_s": 0.0, "motion.enabled": False, "semantic.enabled": False,
                                      "captions.enabled": False})
    return {Path(c.ref.uri).name: c.cut_times for c in Pipeline(config)(list_refs([str(shared_videos)]))}


def test_paper_detector_keeps_long_takes_clean_and_cut_counts_exact(paper_cuts, manifest):
    assert set(paper_cuts) == set(manifest) == set(PAPER_CUT_COUNTS)
    for name in ("chaplin.mp4", "flipping_a_pancake.mkv"):
        assert paper_cuts[name] == [], (name, paper_cuts[name])
    assert {name: len(times) for name, times in paper_cuts.items()} == PAPER_CUT_COUNTS


def test_paper_detector_places_the_rotated_videos_cuts_at_their_labels(paper_cuts, manifest):
    spec = manifest["issue-134-rotate.mp4"]
    labels = [frame / spec["fps"] for frame in spec["cuts"]]
    assert paper_cuts["issue-134-rotate.mp4"] == pytest.approx(labels, abs=0.25)


def _texture(seed: int, height: int = 48, width: int = 128) -> np.ndarray:
    noise = np.random.default_rng(seed).uniform(0, 255, (height, width, 3)).astype(np.float32)
    return np.clip((cv2.GaussianBlur(noise, (0, 0), 3) - 127.5) * 6 + 127.5, 0, 255).astype(np.uint8)


def _pan(seed: int, count: int) -> list[np.ndarray]:
    big = _texture(seed)
    return [np.ascontiguousarray(big[:, i : i + 64]) for i in range(count)]


def _candidates(frames: list[np.ndarray], fps: float = 24.0):
    signals = FrameSignals(RobustCutConfig(), fps)
    for i, frame in enumerate(frames):
        signals.add(i / fps, frame)
    return signals.finish()


def test_two_black_frames_between_two_shots_are_one_fade_through_black():
    """Short like a flash, but the picture after is another shot: a cut at the run's middle, not a flash."""
    black = np.zeros((48, 64, 3), np.uint8)
    frames = _pan(1, 30) + [black, black] + _pan(2, 30)
    candidates = _candidates(frames)
    (run,) = [c for c in candidates if c.kind == "blank"]
    assert (run.frame, run.scores["frames"]) == (30, 2) and run.scores["returns"] < RobustCutConfig().return_ncc
    cuts, ignored = decide(candidates, [], len(frames) / 24, RobustCutConfig())
    assert [(e["signal"], e["t"]) for e in cuts] == [("fade through black", round(31 / 24, 3))]
    assert not any(e["signal"] == "black flash" for e in ignored)


def test_two_black_frames_inside_one_shot_are_a_flash():
    """The same run with the same shot on both sides: the picture returns, so it is not a cut."""
    black = np.zeros((48, 64, 3), np.uint8)
    frames = _pan(1, 62)
    frames[30:32] = [black, black]
    candidates = _candidates(frames)
    cuts, ignored = decide(candidates, [], len(frames) / 24, RobustCutConfig())
    assert cuts == []
    assert [e["signal"] for e in ignored if e["signal"].endswith("flash")] == ["black flash"]


def test_paper_detector_records_one_score_per_step_high_only_at_the_cut():
    """Provenance keeps ContentDetector's score of each 2 s step (``cut_scores``): one per pair of neighbouring
    0.5 fps frames, above the threshold at the cut, zero across identical frames."""
    config = preset("paper").cuts
    clip = Clip(ClipRef("mem://cut", "cut"), info=VideoInfo(fps=24.0, num_frames=192, duration=8.0, width=256,
                                                              height=96))
    task = CutScorer(config).task(clip)
    first, second = (cv2.cvtColor(_texture(seed, 96, 256), cv2.COLOR_BGR2RGB) for seed in (1, 2))
    for t in task.times().tolist():
        task.feed(t, first if t < 3.0 else second, t)
    task.finish()
    assert len(clip.cut_scores) == 3  # frames at 0, 2, 4, 6 s
    assert clip.cut_scores[0] == clip.cut_scores[2] == 0.0 and clip.cut_scores[1] > config.threshold
    assert clip.cut_times == [2.75]  # the 2 fps step with the change: (2.5, 3.0]
