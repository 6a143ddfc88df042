"""Probing reads the packets' own times (PyAV), not decord's, which some files get wrong.

The fault is real and made here: an AVI of MPEG-4 video with B-frames and an MP3 track, as DivX/Xvid files are.
decord (FFmpeg 4) gives some of its packets no timestamp, counts them at -2^63 ticks, and reports about 7e-16 fps
over 4e17 s; its seeks then land on the wrong frames. Such a file must be probed right and decided by its content.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lvd2m_builder.config import preset
from lvd2m_builder.media.cutting import cut, source_info
from lvd2m_builder.media.encode import write_video
from lvd2m_builder.media.probe import open_reader, probe
from lvd2m_builder.media.sampler import FrameSampler, GridTask, grid
from lvd2m_builder.media.timing import implausible
from lvd2m_builder.records import Clip, ClipRef
from lvd2m_builder.run.build import build
from lvd2m_builder.testing import samples

FPS = 24
DIVX = {"bf": "2", "b": "3M"}  # MPEG-4 part 2 with two B-frames between references


def divx_avi(path: Path, frames) -> Path:
    return write_video(path, frames, FPS, codec="mpeg4", options=DIVX, tone_hz=440.0)


@pytest.fixture(scope="module")
def avis(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("avi")
    cut = (f for shot in (samples.pattern_frames(6.0, FPS, (320, 240)), samples.pan_frames(6.0, FPS, 2, (320, 240), 2))
           for f in shot)
    return {
        "counter": divx_avi(d / "counter.avi", samples.counter_frames(12 * FPS)),
        "pan": divx_avi(d / "pan.avi", samples.pan_frames(12.0, FPS, 2, (320, 240))),
        "hard_cut": divx_avi(d / "hard_cut.avi", cut),
    }


def test_decord_gets_the_file_wrong(avis):
    """The file carries the fault the probe must survive (else the tests below would prove nothing)."""
    reader = open_reader(str(avis["counter"]))
    stamps = reader.get_frame_timestamp(np.arange(len(reader)))
    assert len(reader) / (stamps[-1, 1] - stamps[0, 0]) < 1e-12  # ~7e-16 fps
    assert samples.counter_index(reader[150].asnumpy()) != 150  # and its seeks land elsewhere


def test_probe_takes_the_packets_times_and_decodes_with_pyav(avis):
    info, starts = probe(str(avis["counter"]))
    assert (info.num_frames, info.width, info.height) == (12 * FPS, 180, 96)
    assert info.fps == pytest.approx(FPS) and info.duration == pytest.approx(12.0)
    assert np.diff(starts) == pytest.approx(np.full(12 * FPS - 1, 1 / FPS))
    assert source_info(str(avis["counter"])).fps == Fraction(FPS)  # the cutter reads the container alike


def test_every_sampled_frame_is_the_one_shown_at_its_time(avis):
    path = str(avis["counter"])
    clip = Clip(ref=ClipRef(uri=path, video_id="counter"), path=path)
    clip.info, clip.frame_starts = probe(path)
    fed = []

    class Keep(GridTask):
        stage = "keep"

        def times(self):
            return grid(12.0, 2.0)

        def feed(self, t, frame, shown):
            fed.append((t, samples.counter_index(frame)))

        def finish(self):
            pass

    FrameSampler(96, 180).run(clip, [Keep()])
    assert fed == [(t, round(t * FPS)) for t in grid(12.0, 2.0)]


def test_an_accurate_cut_starts_at_the_spans_frame(avis, tmp_path):
    """AVI seeks by decode order: with B-frames a seek can land on a keyframe shown after the span's start."""
    info = source_info(str(avis["counter"]))
    done = cut(str(avis["counter"]), tmp_path / "clip.mp4", 3.02, 7.52, info.fps)
    reader = open_reader(str(tmp_path / "clip.mp4"))
    shown = [samples.counter_index(reader[i].asnumpy()) for i in range(len(reader))]
    assert shown == list(range(73, 73 + 108)) and done.frames == 108  # ceil(3.02 x 24) = 73, round(4.5 x 24)


def test_the_build_decides_such_files_by_their_content(avis, clips_dir, tmp_path):
    stats = build([str(avis["pan"]), str(avis["hard_cut"]), str(clips_dir / "pan_long_take.mp4")], tmp_path / "o",
                  preset("paper"), progress=False)
    assert stats["accepted"] == 2 and stats["rejected_by_stage"] == {"cuts": 1}
    from lvd2m_builder.store.shards import read_table

    def rows(folder: str) -> dict[str, dict]:
        found = [r for path in (tmp_path / "o" / folder).glob("*.parquet") for r in read_table(path).to_pylist()]
        return {Path(r["url"]).name: r for r in found}

    accepted, rejected = rows("data"), rows("rejects")
    pan, same_pan = accepted["pan.avi"], accepted["pan_long_take.mp4"]
    assert pan["duration"] == pytest.approx(12.0) and pan["num_frames"] == 12 * FPS
    assert pan["flow_score"] == pytest.approx(same_pan["flow_score"], rel=0.1)  # the content, whatever the file
    cut = rejected["hard_cut.avi"]
    assert cut["stage"] == "cuts" and len(cut["cut_times"]) == 1 and abs(cut["cut_times"][0] - 6.0) <= 0.25


# --- the rule, on numbers ----------------------------------------------------------------------------------------

GOOD = np.arange(250) / 25


def test_times_no_video_could_have_are_named():
    assert implausible(GOOD, 10.0) is None
    broken = GOOD.copy()
    broken[0] = -3.7e17
    assert implausible(broken, 10.0) == "6.76e-16 fps (250 frames over 3.7e+17s)"
    assert implausible(GOOD, 0.0) == "250 frames over 0s"
    assert implausible(np.zeros(0), 1.0) == "0 frames over 0s"
    assert implausible(np.arange(5) * 3600.0, 18000.0) == "0.000278 fps (5 frames over 1.8e+04s)"
