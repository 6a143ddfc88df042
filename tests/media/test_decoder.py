"""The PyAV probe and decode: decord's frame times, frames skipped only where no one needs them, exact frames."""

from __future__ import annotations

import av
import numpy as np
import pytest

from lvd2m_builder.errors import DecodeError
from lvd2m_builder.media import sampler
from lvd2m_builder.media.decoder import Scaler, View, decoded, nearest
from lvd2m_builder.media.probe import open_reader, probe
from lvd2m_builder.media.sampler import FrameSampler, GridTask, grid
from lvd2m_builder.records import Clip, ClipRef

FPS, FRAMES = 24, 96


@pytest.fixture(scope="module")
def gops(tmp_path_factory) -> str:
    """4 s at 24 fps, a keyframe every 12 frames and B-frames between: each frame's brightness is 2 x its index."""
    path = str(tmp_path_factory.mktemp("gops") / "gops.mp4")
    texture = np.random.default_rng(0).integers(0, 40, (48, 64, 3), dtype=np.uint8)
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"g": "12", "keyint_min": "12", "bf": "3", "preset": "veryfast", "threads": "1"}
        for i in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(texture + 2 * i, format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


class Keep(GridTask):
    """Keeps (time asked, time shown, frame) for the 2 fps grid of a 4 s clip."""

    stage = "keep"

    def __init__(self) -> None:
        self.fed: list[tuple[float, float, np.ndarray]] = []

    def times(self) -> np.ndarray:
        return grid(4.0, 2.0)

    def feed(self, t: float, frame: np.ndarray, shown: float) -> None:
        self.fed.append((t, shown, frame.copy()))

    def finish(self) -> None:
        pass


def _every_frame(path: str) -> list[np.ndarray]:
    """Every frame, decoded plainly (no skipping), as RGB."""
    with av.open(path) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_probe_agrees_with_decord_on_every_sample_video(shared_videos):
    for path in sorted(shared_videos.iterdir()):
        info, starts = probe(str(path))
        reader = open_reader(str(path))
        stamps = np.asarray(reader.get_frame_timestamp(np.arange(len(reader))), dtype=np.float64)
        assert len(starts) == info.num_frames == len(reader), path.name
        assert starts == pytest.approx(stamps[:, 0], abs=1e-5), path.name  # decord keeps float32
        assert info.duration == pytest.approx(stamps[-1, 1] - stamps[0, 0], abs=1e-5), path.name
        assert (info.height, info.width) == reader[0].shape[:2], path.name  # display size, rotation applied
        assert list(info.keyframes) == list(reader.get_key_indices()), path.name


def test_probe_reads_frame_times_and_keyframes_from_the_packets(gops):
    info, starts = probe(gops)
    assert info.keyframes == tuple(range(0, FRAMES, 12))
    assert (info.num_frames, info.width, info.height) == (FRAMES, 64, 48)
    assert starts == pytest.approx(np.arange(FRAMES) / FPS)
    assert info.duration == pytest.approx(FRAMES / FPS)


def test_skipped_frames_are_only_those_nobody_wants(gops):
    info, starts = probe(gops)
    reference = _every_frame(gops)
    wanted = np.arange(0, FRAMES, 5)  # lands on B-frames too
    seen = dict(decoded(gops, starts, info.keyframes, wanted, skip=True))
    assert set(wanted.tolist()) <= set(seen)
    assert len(seen) < FRAMES  # B-frames that nothing references and nobody wants were not decoded
    for index in wanted.tolist():  # the wanted frames themselves, bit-exact
        assert np.array_equal(seen[index].to_ndarray(format="rgb24"), reference[index]), index


def test_gops_without_a_wanted_frame_are_seeked_over(gops):
    info, starts = probe(gops)
    reference = _every_frame(gops)
    wanted = np.array([30, 31, 75])  # in the GOPs starting at 24 and 72 only
    seen = [index for index, _ in decoded(gops, starts, info.keyframes, wanted, skip=True)]
    assert seen[0] == 24 and seen[-1] == 75 and not any(36 <= i < 72 for i in seen)
    frames = dict(decoded(gops, starts, info.keyframes, wanted, skip=True))
    assert all(np.array_equal(frames[i].to_ndarray(format="rgb24"), reference[i]) for i in wanted.tolist())


def test_without_skipping_every_frame_of_the_range_comes_once_in_order(gops):
    info, starts = probe(gops)
    seen = [index for index, _ in decoded(gops, starts, info.keyframes, np.arange(20, 50), skip=False)]
    assert seen == list(range(12, 50))  # from the keyframe before the first wanted frame


def test_nearest_serves_each_target_once_from_the_nearest_decoded_frame():
    starts = np.arange(10) / 10
    frames = [(0, "f0"), (2, "f2"), (5, "f5"), (6, "f6")]  # 1, 3, 4, 7, 8, 9 did not decode
    served = [(d.index, d.serves) for d in nearest(iter(frames), np.array([0, 1, 3, 4, 6, 8, 9]), starts)]
    # 1 ties between 0 and 2 (the earlier wins); 3 is nearer 2, 4 nearer 5; 8 and 9 lie past the last frame
    assert served == [(0, [0, 1]), (2, [3]), (5, [4]), (6, [6, 8, 9])]


def test_a_sample_whose_frame_does_not_decode_gets_the_nearest_and_its_time(gops, monkeypatch):
    info, starts = probe(gops)
    clip = Clip(ClipRef(gops, "gops"), gops, info, starts)
    real = sampler.decoded

    def losing_frame_17(*args, **kwargs):
        return ((i, frame) for i, frame in real(*args, **kwargs) if i != 17)

    class OffKeyframes(Keep):
        def times(self):
            return (np.arange(8) * 12 + 5) / FPS  # frames 5, 17, 29, ...: none a keyframe

    monkeypatch.setattr(sampler, "decoded", losing_frame_17)
    task = OffKeyframes()
    FrameSampler(48, 64).run(clip, [task])
    assert [t for t, _, _ in task.fed] == pytest.approx(task.times())
    t, shown, frame = task.fed[1]  # asked for frame 17: got a neighbour, and is told which
    index = round(shown * FPS)
    assert index != 17 and abs(index - 17) <= 2
    assert abs(frame.mean() - (19.5 + 2 * index)) <= 3  # the frame shown then, not some other one
    assert all(round(s * FPS) == round(t * FPS) for t, s, _ in task.fed if round(t * FPS) != 17)


def test_a_decode_thread_feeds_the_same_frames_and_hands_back_its_errors(gops, monkeypatch):
    info, starts = probe(gops)
    plain, threaded = Keep(), Keep()
    FrameSampler(48, 64).run(Clip(ClipRef(gops, "g"), gops, info, starts), [plain])
    FrameSampler(48, 64, ahead=4).run(Clip(ClipRef(gops, "g"), gops, info, starts), [threaded])
    assert len(plain.fed) == len(threaded.fed) == 8
    for (t0, s0, f0), (t1, s1, f1) in zip(plain.fed, threaded.fed):
        assert (t0, s0) == (t1, s1) and np.array_equal(f0, f1)

    real = sampler.decoded

    def failing(*args, **kwargs):
        for n, item in enumerate(real(*args, **kwargs)):
            if n == 3:  # the keyframes only are decoded here: the grid's frames, with GOPs seeked over
                raise DecodeError(gops, "frames from 36 do not decode")
            yield item

    monkeypatch.setattr(sampler, "decoded", failing)
    task = Keep()
    with pytest.raises(DecodeError, match="from 36"):
        FrameSampler(48, 64, ahead=4).run(Clip(ClipRef(gops, "g"), gops, info, starts), [task])
    assert len(task.fed) == 2  # what came before the failure (the third frame waits for its successor)


def test_a_stage_failure_stops_the_decode_thread(gops):
    import threading

    from lvd2m_builder.errors import StageError

    info, starts = probe(gops)

    class Failing(Keep):
        def feed(self, t, frame, shown):
            raise ValueError("model fell over")

    before = threading.active_count()
    try:
        FrameSampler(48, 64, ahead=2).run(Clip(ClipRef(gops, "g"), gops, info, starts), [Failing()])
    except StageError as e:
        error = e  # its traceback keeps run()'s frame, and any generator it left open, alive
    assert "model fell over" in error.why
    assert threading.active_count() == before  # the decode thread stopped anyway


def test_scaler_turns_frames_as_the_display_says(gops):
    with av.open(gops) as container:
        frame = next(container.decode(video=0))
    upright = Scaler(0)(frame, View(64, 48))
    for degrees, turns in ((90, 1), (180, 2), (270, 3), (-90, 3)):
        turned = Scaler(degrees)(frame, View(48, 64) if turns % 2 else View(64, 48))
        assert turned.flags["C_CONTIGUOUS"] and np.array_equal(turned, np.rot90(upright, turns)), degrees
