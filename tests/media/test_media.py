from __future__ import annotations

import numpy as np
import pytest

from lvd2m_builder.errors import DecodeError
from lvd2m_builder.media import sampler
from lvd2m_builder.media.encode import write_tone
from lvd2m_builder.media.probe import probe
from lvd2m_builder.media.sampler import FrameSampler, GridTask, grid, uniform
from lvd2m_builder.records import Clip, ClipRef


class Keep(GridTask):
    """A grid task that keeps what it is fed."""

    stage = "keep"

    def __init__(self, times):
        self._times = np.asarray(times, dtype=float)
        self.fed: list[tuple[float, tuple]] = []
        self.finished = False

    def times(self):
        return self._times

    def feed(self, t, frame, shown):
        self.fed.append((t, frame.shape))

    def finish(self):
        self.finished = True


def _clip(path) -> Clip:
    clip = Clip(ref=ClipRef(uri=str(path), video_id=path.stem), path=str(path))
    clip.info, clip.frame_starts = probe(str(path))
    return clip


def test_probe_synthetic_pan(clips_dir):
    info, starts = probe(str(clips_dir / "pan_long_take.mp4"))
    assert (info.width, info.height, info.num_frames) == (320, 240, 288)
    assert info.fps == pytest.approx(24.0, rel=1e-3) and info.duration == pytest.approx(12.0, abs=0.05)
    assert len(starts) == 288 and np.all(np.diff(starts) > 0)


def test_grid_and_uniform_times():
    assert grid(10.0, 0.5).tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert grid(2.0, 2.0).tolist() == [0.0, 0.5, 1.0, 1.5]
    assert uniform(8.0, 4).tolist() == [1.0, 3.0, 5.0, 7.0]


def test_sampler_decodes_the_union_once_and_feeds_each_task_its_subset(clips_dir, monkeypatch):
    clip = _clip(clips_dir / "pan_long_take.mp4")
    motion, cuts, semantic = Keep(grid(12.0, 2.0)), Keep(grid(12.0, 0.5)), Keep(uniform(12.0, 8))
    decoded, converted = [], []
    real_decoded, real_scale = sampler.decoded, sampler.Scaler.__call__

    def spy_decoded(*args, **kwargs):
        for index, frame in real_decoded(*args, **kwargs):
            decoded.append(index)
            yield index, frame

    def spy_scale(self, frame, view):
        converted.append(frame.pts)
        return real_scale(self, frame, view)

    monkeypatch.setattr(sampler, "decoded", spy_decoded)
    monkeypatch.setattr(sampler.Scaler, "__call__", spy_scale)
    FrameSampler(52, 96).run(clip, [motion, cuts, semantic])
    assert decoded == sorted(set(decoded)), "a frame was decoded twice"
    assert len(decoded) < clip.info.num_frames  # frames nobody wants or references (B-frames) are skipped
    assert len(converted) == len(set(converted)) == 24 + 8  # the 2 fps grid (0.5 fps is a subset) + 8 uniform
    assert [t for t, _ in motion.fed] == grid(12.0, 2.0).tolist()
    assert [t for t, _ in cuts.fed] == grid(12.0, 0.5).tolist()
    assert len(semantic.fed) == 8 and all(shape == (52, 96, 3) for _, shape in semantic.fed)
    assert motion.finished and cuts.finished and semantic.finished


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, clips_dir):
    d = tmp_path_factory.mktemp("bad")
    (d / "zero.mp4").write_bytes(b"")
    (d / "text.mp4").write_text("not a video at all\n" * 100)
    good = (clips_dir / "pan_long_take.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(good[: len(good) // 3])
    write_tone(d / "audio.m4a", 12.0)
    return d


@pytest.mark.parametrize("name", ["zero.mp4", "text.mp4", "truncated.mp4", "audio.m4a"])
def test_probe_rejects_non_videos_with_a_clear_error(bad_files, name):
    with pytest.raises(DecodeError) as info:
        probe(str(bad_files / name))
    assert info.value.uri.endswith(name) and info.value.why


def test_vfr_file_is_sampled_by_timestamp(shared_videos):
    path = shared_videos / "goldeneye-vfr-drop3.mp4"
    clip = _clip(path)
    task = Keep(grid(clip.info.duration, 2.0))
    FrameSampler(52, 96).run(clip, [task])
    assert clip.info.duration == pytest.approx(9.97, abs=0.05)
    assert len(task.fed) == len(grid(clip.info.duration, 2.0))


def test_rotated_file_reports_display_size_and_rotation(shared_videos):
    info, _ = probe(str(shared_videos / "issue-134-rotate.mp4"))
    assert info.rotation in (90, 270)
    assert (info.width, info.height) == (544, 1280)  # display orientation: portrait


def test_synthetic_clips_are_the_same_bytes_for_the_same_seed(tmp_path):
    from lvd2m_builder.testing import samples

    made = [samples.hard_cut(tmp_path / f"cut{i}.mp4", seed=seed) for i, seed in enumerate((2, 2, 3))]
    first, again, other = (p.read_bytes() for p in made)
    assert first == again and first != other
