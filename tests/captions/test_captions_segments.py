"""Segment timing, frame selection per segment, and the 2 x 3 grid, down to which decoded frame lands where."""

from __future__ import annotations

import numpy as np
import pytest

from lvd2m_builder.config import CaptionConfig, SemanticConfig
from lvd2m_builder.media.encode import write_video
from lvd2m_builder.media.probe import probe
from lvd2m_builder.media.sampler import FrameSampler
from lvd2m_builder.models.grid import WHITE, tile, tile_size
from lvd2m_builder.records import Clip, ClipRef
from lvd2m_builder.stages.frames.captions import CaptionFrames, SemanticFrames
from lvd2m_builder.stages.segments import frame_times, split


@pytest.mark.parametrize("duration, expected", [
    (10.0, [(0, 10)]),
    (30.0, [(0, 30)]),
    (31.0, [(0, 31)]),  # a 1 s remainder joins the segment before it
    (39.9, [(0, 39.9)]),
    (40.0, [(0, 30), (30, 40)]),  # a 10 s remainder is a segment of its own
    (75.0, [(0, 30), (30, 60), (60, 75)]),
    (90.0, [(0, 30), (30, 60), (60, 90)]),
], ids=["10s", "30s", "31s", "39.9s", "40s", "75s", "90s"])
def test_segments_are_30s_from_the_start_and_a_short_remainder_joins_the_last(duration, expected):
    bounds = split(duration, 30.0, 10.0)
    assert np.array(bounds) == pytest.approx(np.array(expected, dtype=float))


def test_segments_cover_the_clip_without_gaps_for_any_setting():
    for duration in np.arange(0.5, 200, 3.7):
        for segment_s, tail in ((30.0, 10.0), (20.0, 0.0), (15.0, 15.0)):
            bounds = split(float(duration), segment_s, tail)
            assert bounds[0][0] == 0 and bounds[-1][1] == pytest.approx(duration)
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            assert all(end - start <= segment_s + tail + 1e-6 for start, end in bounds)


def test_a_clip_with_no_duration_has_nothing_to_caption():
    with pytest.raises(ValueError, match="nothing to caption"):
        split(0.0)


def test_six_uniform_frames_per_segment_centred_in_equal_parts():
    times = frame_times(split(75.0), 6)
    assert len(times) == 18
    assert times[:6] == pytest.approx([2.5, 7.5, 12.5, 17.5, 22.5, 27.5])
    assert times[6:12] == pytest.approx(times[:6] + 30)
    assert times[12:] == pytest.approx([61.25, 63.75, 66.25, 68.75, 71.25, 73.75])  # the 15 s tail


def test_grid_reads_left_to_right_top_to_bottom_with_white_borders():
    frames = [np.full((20, 30, 3), 10 * (i + 1), np.uint8) for i in range(6)]
    grid = tile(frames, cols=2, rows=3, border=4)
    assert grid.shape == (3 * 20 + 4 * 4, 2 * 30 + 3 * 4, 3)
    for i in range(6):
        row, col = divmod(i, 2)
        top, left = 4 + row * 24, 4 + col * 34
        assert (grid[top : top + 20, left : left + 30] == 10 * (i + 1)).all()
    assert (grid[:4] == WHITE).all() and (grid[:, :4] == WHITE).all() and (grid[:, 34:38] == WHITE).all()
    assert (grid[24:28] == WHITE).all() and (grid[-4:] == WHITE).all()


def test_grid_refuses_the_wrong_number_or_mixed_sizes_of_frames():
    with pytest.raises(ValueError, match="needs 6 frames, got 5"):
        tile([np.zeros((4, 4, 3), np.uint8)] * 5)
    with pytest.raises(ValueError, match="differ in size"):
        tile([np.zeros((4, 4, 3), np.uint8)] * 5 + [np.zeros((4, 6, 3), np.uint8)])


def test_tile_size_keeps_the_aspect():
    assert tile_size(520, 960, 480) == (260, 480)
    assert tile_size(520, 960, 448) == (242, 448)


@pytest.fixture(scope="module")
def ramp(tmp_path_factory):
    """A 75 s grey clip whose brightness is 3 x the time in seconds: every frame says when it was taken."""
    frames = (np.full((48, 64, 3), round(3 * n / 10), dtype=np.uint8) for n in range(750))  # 10 fps
    return write_video(tmp_path_factory.mktemp("ramp") / "ramp.mp4", frames, 10, crf=0)


def test_one_decode_feeds_the_semantic_frames_and_each_segments_grid_in_order(ramp):
    info, starts = probe(str(ramp))
    clip = Clip(ref=ClipRef(uri=str(ramp), video_id="ramp"), path=str(ramp), info=info, frame_starts=starts)
    captions = CaptionConfig(tile_width=32, border=2)
    semantic = SemanticConfig(frame_width=48)
    FrameSampler(26, 48).run(clip, [SemanticFrames(semantic).task(clip), CaptionFrames(captions).task(clip)])

    kept = clip.frames["semantic"]
    assert [t for t, _ in kept] == pytest.approx((np.arange(8) + 0.5) * 75 / 8)
    assert [f.shape for _, f in kept] == [(26, 48, 3)] * 8
    for t, frame in kept:
        assert frame.mean() == pytest.approx(3 * t, abs=3)

    grids = clip.frames["captions"]
    assert [start for start, _ in grids] == [0, 30, 60]
    times = frame_times(split(75.0), 6).reshape(3, 6)
    height, width = tile_size(26, 48, 32)
    for (start, grid), want in zip(grids, times):
        assert grid.shape == (3 * height + 4 * 2, 2 * width + 3 * 2, 3)
        for i, t in enumerate(want):
            row, col = divmod(i, 2)
            top, left = 2 + row * (height + 2), 2 + col * (width + 2)
            assert grid[top : top + height, left : left + width].mean() == pytest.approx(3 * t, abs=3)


def test_semantic_grid_mode_tiles_the_eight_frames_in_time_order(ramp):
    info, starts = probe(str(ramp))
    clip = Clip(ref=ClipRef(uri=str(ramp), video_id="ramp"), path=str(ramp), info=info, frame_starts=starts)
    FrameSampler(26, 48).run(clip, [SemanticFrames(SemanticConfig(frame_width=48, grid_cols=2)).task(clip)])
    ((_t, grid),) = clip.frames["semantic"]
    assert grid.shape == (4 * 26 + 5 * 8, 2 * 48 + 3 * 8, 3)
    for i, t in enumerate((np.arange(8) + 0.5) * 75 / 8):
        row, col = divmod(i, 2)
        top, left = 8 + row * (26 + 8), 8 + col * (48 + 8)
        assert grid[top : top + 26, left : left + 48].mean() == pytest.approx(3 * t, abs=3)
