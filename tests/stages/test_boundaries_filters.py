"""The paper's filters at their exact boundaries, and the secondary paths a user relies on.

The duration gate keeps clips *longer* than ``min_s`` (a clip of exactly 10 s is out); the motion check keeps
scores *at least* ``min_score``; a clip too short for one flow pair is a motion reject, never an accepted row
without a score; DIS computed at half size gives scores in full-size pixels on both of its paths.
"""

from __future__ import annotations

import numpy as np
import pytest

from lvd2m_builder.config import DurationConfig, MotionConfig, preset
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.models.flow import DisFlow, mean_magnitude
from lvd2m_builder.records import Clip, ClipRef, VideoInfo
from lvd2m_builder.stages.duration import DurationFilter, duration_reason
from lvd2m_builder.stages.motion import MotionFilter, low_motion_reason
from lvd2m_builder.stages.pipeline import Pipeline
from lvd2m_builder.testing import samples

QUIET = {"semantic.enabled": False, "captions.enabled": False}


def _clip(duration: float = 12.0, flow_score: float | None = None) -> Clip:
    clip = Clip(ref=ClipRef(uri=f"/v/{duration}.mp4", video_id="v"))
    clip.info = VideoInfo(fps=24.0, num_frames=round(24 * duration), duration=duration, width=320, height=240)
    clip.flow_score = flow_score
    return clip


@pytest.fixture(scope="module")
def boundary_clips(tmp_path_factory):
    """A pan of exactly 10.0 s (240 frames at 24 fps) and one of 0.4 s (10 frames: a single 2 fps sample)."""
    directory = tmp_path_factory.mktemp("boundaries")
    return {"ten": samples.pan(directory / "ten.mp4", seconds=10.0),
            "blink": samples.pan(directory / "blink.mp4", seconds=0.4)}


def test_a_clip_of_exactly_min_s_is_rejected_at_duration():
    assert duration_reason(10.0, DurationConfig()) == "duration 10.00s <= min 10s"
    assert duration_reason(10.001, DurationConfig()) is None
    out = list(DurationFilter(DurationConfig(min_s=10.0))([_clip(10.0), _clip(10.5)]))
    assert out[0].rejection.stage == "duration" and not out[1].rejected


def test_a_real_ten_second_clip_is_rejected_at_duration(boundary_clips):
    (clip,) = Pipeline(preset("paper").replace(QUIET))(list_refs([str(boundary_clips["ten"])]))
    assert clip.info.duration == 10.0
    assert clip.rejection.stage == "duration" and "<= min 10s" in clip.rejection.reason


def test_max_s_keeps_a_clip_of_exactly_max_s():
    config = DurationConfig(min_s=10.0, max_s=20.0)
    assert duration_reason(20.0, config) is None
    assert duration_reason(20.5, config) == "duration 20.50s > max 20s"


def test_a_video_to_be_split_is_held_to_min_s_only():
    """Its shots are gated one by one after the split: a video longer than max_s may hold shots that pass."""
    config = DurationConfig(min_s=10.0, max_s=20.0)
    clips = [_clip(9.0), _clip(15.0), _clip(600.0)]
    assert [c.rejected for c in DurationFilter(config)(clips)] == [True, False, True]
    clips = [_clip(9.0), _clip(15.0), _clip(600.0)]
    assert [c.rejected for c in DurationFilter(config, split=True)(clips)] == [True, False, False]


def test_a_score_equal_to_min_score_is_kept():
    config = MotionConfig(min_score=20.0)
    assert low_motion_reason(20.0, config) is None
    assert low_motion_reason(19.99, config) == "flow score 19.99 < min 20"
    out = list(MotionFilter(config)([_clip(flow_score=20.0), _clip(flow_score=19.99)]))
    assert not out[0].rejected
    assert out[1].rejection.stage == "motion"


def test_a_clip_with_no_flow_pair_is_rejected_at_motion(boundary_clips):
    config = preset("paper").replace({**QUIET, "duration.min_s": 0.0})
    (clip,) = Pipeline(config)(list_refs([str(boundary_clips["blink"])]))
    assert clip.info.duration < 0.5 and clip.flow_score is None
    assert clip.rejection is not None
    assert (clip.rejection.stage, clip.rejection.reason) == ("motion", "too few frames for a flow pair")


def _texture(seed: int, height: int, width: int) -> np.ndarray:
    import cv2

    noise = np.random.default_rng(seed).uniform(0, 255, (height, width, 3)).astype(np.float32)
    return np.clip((cv2.GaussianBlur(noise, (0, 0), 3) - 127.5) * 4 + 127.5, 0, 255).astype(np.uint8)


def test_dis_at_half_size_scores_in_full_size_pixels_on_both_paths():
    """A window moved 12 px right: mean_magnitudes() and flows() both say about 12 at dis_scale=0.5."""
    big = _texture(7, 240, 360)
    pair = (np.ascontiguousarray(big[:, :320]), np.ascontiguousarray(big[:, 12:332]))
    dis = DisFlow("medium", scale=0.5)
    (score,) = dis.mean_magnitudes([pair])
    (field,) = dis.flows([pair])
    assert field.shape == (240, 320, 2)
    assert score == pytest.approx(12.0, rel=0.15)
    assert mean_magnitude(field) == pytest.approx(score, rel=0.05)
    centre = field[40:-40, 40:-40]
    assert float(np.median(centre[..., 0])) == pytest.approx(-12.0, rel=0.15)  # first -> second: content moved left


def test_dis_by_default_is_the_ultrafast_preset_on_full_size_frames():
    big = _texture(7, 240, 360)
    pair = (np.ascontiguousarray(big[:, :320]), np.ascontiguousarray(big[:, 12:332]))
    assert DisFlow().mean_magnitudes([pair]) == DisFlow("ultrafast", scale=1.0).mean_magnitudes([pair])


@pytest.mark.parametrize("name", ["ultrafast", "fast", "medium"])
def test_each_dis_preset_is_opencvs_own(name):
    import cv2

    big = _texture(7, 240, 360)
    pair = (np.ascontiguousarray(big[:, :320]), np.ascontiguousarray(big[:, 12:332]))
    grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in pair]
    own = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{name.upper()}")).calc(*grey, None)
    (flow,) = DisFlow(name).flows([pair])
    np.testing.assert_array_equal(flow, own)


def test_robust_preset_scores_the_known_pan_right(clips_dir):
    """The robust cut check takes the motion score from flows(): 2 px/frame at 24 fps over a 320 px window,
    resized to 960 wide, is 2 * 12 * 3 = 72 px between 2 fps samples, as under the paper preset."""
    truth = 2 * (24 / 2) * (960 / 320)
    refs = list_refs([str(clips_dir / "pan_long_take.mp4")])
    (robust,) = Pipeline(preset("robust").replace(QUIET))(refs)
    (paper,) = Pipeline(preset("paper").replace(QUIET))(refs)
    assert robust.flow_residuals  # the flows() path ran
    assert robust.flow_score == pytest.approx(truth, rel=0.10)
    assert robust.flow_score == pytest.approx(paper.flow_score, rel=0.05)
