from __future__ import annotations

import numpy as np
import pytest

from lvd2m_builder.config import MotionConfig
from lvd2m_builder.errors import MissingWeightsError
from lvd2m_builder.media.probe import probe
from lvd2m_builder.media.sampler import FrameSampler
from lvd2m_builder.models import flow
from lvd2m_builder.records import Clip, ClipRef
from lvd2m_builder.stages.motion import MotionFilter, MotionScorer
from lvd2m_builder.testing import samples


def _score(path, config: MotionConfig) -> Clip:
    clip = Clip(ref=ClipRef(uri=str(path), video_id=path.stem), path=str(path))
    clip.info, clip.frame_starts = probe(str(path))
    FrameSampler(config.height, config.width).run(clip, [MotionScorer(config).task(clip)])
    return clip


@pytest.mark.parametrize("preset", ["ultrafast", "fast", "medium"])
def test_dis_score_matches_the_known_pan(clips_dir, preset):
    # 2 px/frame in a 320 px wide window at 24 fps: 24 px between 2 fps samples, x3 once resized to 960 wide.
    clip = _score(clips_dir / "pan_long_take.mp4", MotionConfig(dis_preset=preset))
    truth = 2 * (24 / 2) * (960 / 320)
    assert clip.flow_score == pytest.approx(truth, rel=0.10)
    assert clip.flow_backend == "dis"


def test_dis_score_of_a_still_is_about_zero(clips_dir):
    clip = _score(clips_dir / "still_long_take.mp4", MotionConfig())
    assert clip.flow_score < 0.5


def test_motion_filter_threshold(clips_dir):
    fast = _score(clips_dir / "pan_long_take.mp4", MotionConfig())
    still = _score(clips_dir / "still_long_take.mp4", MotionConfig())
    out = list(MotionFilter(MotionConfig(min_score=20))([fast, still]))
    assert not out[0].rejected
    assert out[1].rejection.stage == "motion" and "< min 20" in out[1].rejection.reason


def test_raft_without_weights_says_where_they_must_be(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError) as info:
        MotionScorer(MotionConfig(backend="raft"))
    assert info.value.path == str(tmp_path / "hub" / "checkpoints" / flow.RAFT_CHECKPOINT)
    assert "dis" in str(info.value)


def test_raft_loads_a_local_checkpoint_and_scores(tmp_path, monkeypatch):
    """Proves loading, not scoring: the checkpoint is found under $TORCH_HOME, fits torchvision's RAFT-large and a
    real clip runs through it on the CPU. Random weights give an arbitrary flow, so the score is only checked to
    exist; test_motion_raft_scoring.py checks the scoring against a model whose output is known."""
    import torch
    from torchvision.models.optical_flow import raft_large

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoint = tmp_path / "hub" / "checkpoints" / flow.RAFT_CHECKPOINT
    checkpoint.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(raft_large(weights=None).state_dict(), checkpoint)  # random weights: tests the loading path
    clip_path = samples.pan(tmp_path / "pan.mp4", seconds=2.0)
    config = MotionConfig(backend="raft", height=128, width=256, raft_updates=2, batch_size=2, device="cpu")
    clip = _score(clip_path, config)
    assert clip.flow_backend == "raft"
    assert clip.flow_score is not None and clip.flow_score >= 0


class _Positions:
    """A flow backend whose 'flow' is how far a frame's marker moved: frames carry their pan position."""

    batch_size = 4

    def mean_magnitudes(self, pairs):
        return [abs(float(second[0, 0, 0]) - float(first[0, 0, 0])) for first, second in pairs]


def test_each_pair_is_scored_per_step_asked_for_not_per_the_time_between_the_frames_shown():
    """A pan at 10 px per 0.5 s step: samples that got a neighbouring frame (shown early or late) still score 10
    a step, pair by pair, and two samples on one frame make no pair (no zero, and no double step after it)."""
    clip = Clip(ref=ClipRef(uri="pan.mp4", video_id="pan"))
    scorer = MotionScorer.__new__(MotionScorer)  # the real task, with a backend that reads the pan's positions
    scorer.config, scorer.backend, scorer.residual = MotionConfig(), _Positions(), None
    motion = scorer.task(clip)
    asked = np.arange(12) * 0.5
    shown = asked.copy()
    shown[[3, 7, 11]] -= 1 / 24  # took the frame before
    shown[9] += 1 / 24  # took the frame after
    shown[5] = shown[4]  # one frame served two samples
    for t, s in zip(asked, shown):
        motion.feed(float(t), np.full((2, 2, 3), 20 * s, dtype=np.float32), float(s))
    motion.finish()
    assert [m for _t0, _t1, m in clip.flow_pairs] == pytest.approx([10.0] * 10)  # 11 pairs, less one on a single frame
    assert clip.flow_score == pytest.approx(10.0)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_dis_makes_each_frame_grey_once_and_scores_as_if_it_did_not(scale, monkeypatch):
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)
    frames = [np.ascontiguousarray(np.roll(base, 3 * i, axis=1)) for i in range(5)]
    pairs = list(zip(frames[:-1], frames[1:]))
    fresh = [flow.DisFlow(scale=scale).mean_magnitudes([pair])[0] for pair in pairs]  # a new backend per pair
    calls = []
    convert = flow.cv2.cvtColor
    monkeypatch.setattr(flow.cv2, "cvtColor", lambda *args: calls.append(1) or convert(*args))
    backend = flow.DisFlow(scale=scale)
    shared = [backend.mean_magnitudes([pair])[0] for pair in pairs]  # pairs one by one, as the motion task feeds
    assert shared == fresh and len(calls) == len(frames)
    assert backend.mean_magnitudes([(frames[0].copy(), frames[1])])[0] == fresh[0]  # an equal copy is converted
