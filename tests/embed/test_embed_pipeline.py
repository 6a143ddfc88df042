"""The CLIP stages in a real build: embeddings on rows, caption alignment, the zero-shot pre-filter, near-duplicate
removal of a clip's re-encoded copy, and what validate, the card and ``lvd2m dedup`` report.

The model is the tiny random-weight CLIP (lvd2m_builder.testing.tiny_clip); the VLM caption stage is replaced by one
that writes fixed captions (the captions helper tests the VLM), so everything downstream of captions is real.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("open_clip", reason="open_clip_torch is not installed: pip install 'lvd2m-builder[embed]'")

from lvd2m_builder.card.clip_report import card_section, vlm_calls_saved  # noqa: E402
from lvd2m_builder.cli import main  # noqa: E402
from lvd2m_builder.config import EmbedConfig, load  # noqa: E402
from lvd2m_builder.inputs.listing import list_refs  # noqa: E402
from lvd2m_builder.media.encode import write_video  # noqa: E402
from lvd2m_builder.models.clip import load as load_model  # noqa: E402
from lvd2m_builder.records import Clip, ClipRef, VideoInfo  # noqa: E402
from lvd2m_builder.run import shard_task
from lvd2m_builder.run.build import build  # noqa: E402
from lvd2m_builder.schema import ROW_FEATURES  # noqa: E402
from lvd2m_builder.stages import pipeline
from lvd2m_builder.stages.align import Align  # noqa: E402
from lvd2m_builder.stages.base import Built, Stage  # noqa: E402
from lvd2m_builder.stages.registry import REGISTRY, STAGES  # noqa: E402
from lvd2m_builder.stages.segments import split  # noqa: E402
from lvd2m_builder.store.shards import read_table  # noqa: E402
from lvd2m_builder.testing import samples
from lvd2m_builder.testing.tiny_clip import TINY, write_tiny_model  # noqa: E402
from lvd2m_builder.validate.run import validate  # noqa: E402

LONG_CAPTION = " ".join(f"In part {i} the camera pans slowly to the right across a grey wall." for i in range(9))


class WriteCaptions(Stage):
    """Stands in for the VLM captions stage: one caption per segment and a refined caption, as it would write."""

    stage = "captions"

    def __call__(self, clips):
        for clip in clips:
            if not clip.rejected:
                bounds = split(clip.info.duration)
                clip.segments = [{"start": s, "end": e, "caption": f"A grey wall seen from {s:.0f} to {e:.0f} s."}
                                 for s, e in bounds]
                clip.refined_caption = LONG_CAPTION if clip.ref.video_id == "pan" else "A test pattern with a clock."
                clip.models.update({"segments": "test", "merge": "test"})
                clip.seconds["captions"] = 0.0
            yield clip


def with_model_stages(stage: Stage) -> tuple:
    """The registry with ``stage`` standing in for the semantic check and captions (no VLM here)."""
    stand_in = {"semantic": lambda ctx: Built(), "captions": lambda ctx: Built(stage)}
    return tuple(dataclasses.replace(spec, build=stand_in[spec.name]) if spec.name in stand_in else spec
                 for spec in REGISTRY)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A pan, the same pan decoded and re-encoded smaller (a re-upload), and other footage (a test pattern)."""
    import av

    d = tmp_path_factory.mktemp("embed_videos")
    samples.pan(d / "pan.mp4")
    with av.open(str(d / "pan.mp4")) as container:
        smaller = [f.reformat(256, 192, "rgb24", interpolation="AREA").to_ndarray() for f in container.decode(video=0)]
    write_video(d / "pan_reupload.mp4", smaller, 24, crf=32)
    write_video(d / "testsrc.mp4", samples.pattern_frames(12.0, 24, (320, 240)), 24)
    return d


def config(tiny, **extra):
    overrides = {"embed.enabled": True, "embed.model": f"local-dir:{tiny}", "embed.min_clip_score": 0.99,
                 "embed.batch_size": 8, "embed.device": "cpu", "prefilter.enabled": True, "dedup.enabled": True,
                 "prefilter.prompts": {"a static presentation slide": 1.0}, "motion.min_score": 0.0,
                 "shard_size": 2, **extra}
    return load(None, "paper", overrides)


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny, videos):
    out = tmp_path_factory.mktemp("embed_out") / "lvd2m"
    shard_task._PIPELINES.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "REGISTRY", with_model_stages(WriteCaptions()))
        stats = build([str(videos)], out, config(tiny), progress=False)
    shard_task._PIPELINES.clear()
    return out, stats


def rows(out, folder):
    found = [r for path in sorted((out / folder).glob("*.parquet")) for r in read_table(path).to_pylist()]
    return {r["video_id"]: r for r in found}


def test_reupload_is_rejected_as_a_duplicate_of_the_original(built):
    out, stats = built
    train, rejects = rows(out, "data"), rows(out, "rejects")
    assert set(train) == {"pan", "testsrc"}  # the copy is smaller: the original is kept
    dup = rejects["pan_reupload"]
    assert dup["stage"] == "dedup" and dup["reason"].startswith(f"near-duplicate of {train['pan']['key']} (cosine ")
    assert stats["rejected_by_stage"] == {"dedup": 1} and stats["accepted"] == 2
    assert [f["stage"] for f in stats["funnel"]][-1] == "dedup"


def test_rows_carry_unit_float16_embeddings_with_the_model_in_provenance(built, tiny):
    out, _ = built
    for row in rows(out, "data").values():
        vector = np.asarray(row["clip_embedding"], np.float32)
        assert vector.shape == (TINY["embed_dim"],) and np.linalg.norm(vector) == pytest.approx(1.0, abs=2e-3)
        provenance = json.loads(row["provenance"])
        assert provenance["models"]["embed"] == f"open_clip:local-dir:{tiny}"
        assert set(provenance["prefilter"]) == {"a static presentation slide"}
        assert provenance["settings"]["embed"]["enabled"] and "embed" in provenance["seconds"]
    schema = pq.read_schema(next((out / "data").glob("*.parquet")))
    assert schema.field("clip_embedding").type == pa.list_(pa.float16()) and "clip_score" in ROW_FEATURES


def test_clip_score_is_the_cosine_of_caption_and_clip(built, tiny):
    out, _ = built
    model = load_model(EmbedConfig(enabled=True, model=f"local-dir:{tiny}", batch_size=8, device="cpu"))
    for row in rows(out, "data").values():
        text = model.encode_texts([row["refined_caption"]])[0]
        expected = float(text @ np.asarray(row["clip_embedding"], np.float32))
        assert row["clip_score"] == pytest.approx(expected, abs=5e-3)
        assert len(row["segment_clip_scores"]) == len(row["segments"]) and None not in row["segment_clip_scores"]
    assert len(model.chunks(LONG_CAPTION)) > 1  # the pan's caption went in chunks


def test_validate_reports_the_distribution_and_flags_low_scores(built):
    out, _ = built
    report = validate(str(out))
    assert report.ok, report.text()
    scores = [r["clip_score"] for r in rows(out, "data").values()]
    flagged = [f for f in report.findings if f.code == "clip_score_low"]
    assert len(flagged) == sum(s < 0.99 for s in scores) and all(f.severity == "warning" for f in flagged)
    summary = report.to_dict()["summary"]["clip_score"]
    assert summary["rows"] == 2 and summary["below"] == len(flagged) and summary["threshold"] == 0.99
    assert "clip_score: rows 2" in report.text()


def test_card_describes_embeddings_chunking_and_duplicates(built):
    out, _ = built
    card = (out / "README.md").read_text()
    assert "## CLIP embeddings" in card and "at most 77 tokens" in card and "chunks of whole sentences" in card
    assert "1 moved to the rejects" in card and "2 captioned clips" in card


def test_dedup_command_on_a_finished_build_changes_nothing(built, capsys):
    out, _ = built
    before = {p: p.read_bytes() for p in out.glob("*/*.parquet")}
    assert main(["dedup", str(out), "--block", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["duplicates"] == 0 and summary["with_embedding"] == 2
    assert {p: p.read_bytes() for p in out.glob("*/*.parquet")} == before
    assert json.loads((out / "stats.json").read_text())["rejected_by_stage"] == {"dedup": 1}


def test_a_lower_threshold_in_the_command_merges_more(built, tmp_path):
    out, _ = built
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    train = rows(copy, "data")
    pan, other = (np.asarray(train[name]["clip_embedding"], np.float32) for name in ("pan", "testsrc"))
    cosine = float(pan @ other)
    if cosine < 0.02:
        pytest.skip(f"this random model puts the two clips at cosine {cosine:.3f}: nothing to merge")
    assert main(["dedup", str(copy), "--threshold", f"{cosine - 0.01:.4f}"]) == 0
    kept = min(train.values(), key=lambda r: r["key"])  # equal duration and size: the smaller key
    (left,) = rows(copy, "data").values()
    assert left["key"] == kept["key"]
    (gone,) = [r for r in rows(copy, "rejects").values() if r["video_id"] in train and r["key"] != kept["key"]]
    assert gone["stage"] == "dedup" and gone["reason"].startswith(f"near-duplicate of {kept['key']} (cosine ")
    assert float(gone["reason"].split("(cosine ")[1].split()[0]) == pytest.approx(cosine, abs=2e-3)
    assert json.loads((copy / "stats.json").read_text())["rejected_by_stage"] == {"dedup": 2}
    assert validate(str(copy)).ok


def test_prefilter_rejects_before_the_vlm_with_its_probability(tiny, videos):
    shard_task._PIPELINES.clear()
    seen = []

    class VLM(Stage):  # records which clips would have cost a VLM call
        stage = "semantic"

        def __call__(self, clips):
            for clip in clips:
                if not clip.rejected:
                    seen.append(clip.ref.video_id)
                yield clip

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "REGISTRY", with_model_stages(VLM()))
        run = pipeline.Pipeline(config(tiny, **{"prefilter.prompts": {"a static presentation slide": 0.001}}))
    clips = list(run(list_refs([str(videos / "testsrc.mp4")], "local")))
    assert seen == [] and clips[0].rejection.stage == "prefilter"
    assert clips[0].rejection.reason.startswith("zero-shot 'a static presentation slide': p ")
    assert 0 < clips[0].prefilter_scores["a static presentation slide"] <= 1
    assert STAGES.index("prefilter") < STAGES.index("semantic") < STAGES.index("align")


@pytest.mark.parametrize(
    "settings,seconds,expected",
    [
        ({"semantic": {"enabled": True}}, {"semantic": 1.0}, 6),
        ({"semantic": {"enabled": True}}, {}, 0),  # semantic skipped (no weights): nothing saved
        ({"semantic": {"enabled": False}, "captions": {"enabled": False}}, {}, 0),
    ],
    ids=["semantic-ran", "semantic-skipped", "no-vlm"],
)
def test_vlm_calls_saved(settings, seconds, expected):
    stats = {"rejected_by_stage": {"prefilter": 3}, "seconds": seconds}
    assert vlm_calls_saved(stats, settings) == expected


def test_card_section_is_empty_when_the_stage_was_off(tmp_path):
    assert card_section(tmp_path, {"rejected_by_stage": {}}, load(None, "paper").to_dict()) == ""


def test_segment_scores_use_only_that_segments_frames(tiny):
    model = load_model(EmbedConfig(enabled=True, model=f"local-dir:{tiny}", batch_size=8, device="cpu"))
    rng = np.random.default_rng(0)
    frames = [(t, v / np.linalg.norm(v)) for t, v in zip([5.0, 20.0, 40.0, 55.0], rng.normal(size=(4, 32)))]
    clip = Clip(ClipRef("x.mp4", "x"), info=VideoInfo(24.0, 1440, 60.0, 320, 240))
    clip.frame_embeddings = frames
    clip.clip_embedding = np.mean([v for _, v in frames], axis=0)
    clip.refined_caption = "A fox."
    clip.segments = [{"start": 0.0, "end": 30.0, "caption": "A red fox."}, {"start": 30.0, "end": 60.0, "caption": ""}]
    (out,) = Align(model, 8)([clip])
    first = frames[0][1] + frames[1][1]
    text = model.encode_texts(["A red fox."])[0]
    assert out.segment_clip_scores[0] == pytest.approx(float(text @ (first / np.linalg.norm(first))), abs=1e-5)
    assert out.segment_clip_scores[1] is None  # an empty caption has nothing to align
    assert out.clip_score == pytest.approx(float(model.encode_texts(["A fox."])[0] @ clip.clip_embedding), abs=1e-5)
    assert out.frame_embeddings == []  # released once scored
