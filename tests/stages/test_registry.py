"""The stage registry: one declaration per stage, from which the pipeline, rebuild and the executors derive."""

from __future__ import annotations

import pytest

from lvd2m_builder.config import preset
from lvd2m_builder.run.rebuild import MODEL_SECTIONS, THRESHOLDS, redecide
from lvd2m_builder.stages.base import BatchedStage, FrameScorer, Resources, Stage
from lvd2m_builder.stages.pipeline import Pipeline
from lvd2m_builder.stages.registry import REGISTRY, STAGES, gpu_stages, segments

QUIET = {"semantic.enabled": False, "captions.enabled": False}


def test_the_pipeline_runs_the_registered_stages_in_registry_order():
    run = Pipeline(preset("paper").replace(QUIET))
    names = [stage.stage for stage in run.stages]
    assert names == ["source", "probe", "duration", "decode", "cuts", "motion"]
    assert all(isinstance(stage, Stage) for stage in run.stages)
    assert [scorer.stage for scorer in run.scorers] == ["cuts", "motion"]
    assert all(isinstance(scorer, FrameScorer) for scorer in run.scorers)
    assert STAGES == tuple(spec.name for spec in REGISTRY) and STAGES[:6] == tuple(names)


def test_the_robust_cut_check_gets_the_motion_flow_even_with_the_motion_filter_off():
    run = Pipeline(preset("robust").replace({**QUIET, "motion.enabled": False}))
    assert [stage.stage for stage in run.stages] == ["source", "probe", "duration", "decode", "cuts"]
    assert [scorer.stage for scorer in run.scorers] == ["cuts", "motion"]
    assert run.scorers[1].residual is not None


def test_skipped_stages_say_why():
    run = Pipeline(preset("paper").replace({"embed.enabled": True, "embed.cache_dir": "/nonexistent"}))
    assert {"embed", "semantic", "captions"} <= set(run.skipped)
    assert not any(isinstance(stage, BatchedStage) for stage in run.stages)


def test_rebuild_sets_come_from_the_registry():
    assert THRESHOLDS == {"duration.min_s", "duration.max_s", "motion.min_score"}
    assert MODEL_SECTIONS == {"embed", "prefilter", "semantic", "captions", "dedup"}


def test_redecide_walks_the_stages_in_order():
    config = preset("paper").replace({"duration.min_s": 15.0})
    row = {"duration": 12.0, "flow_score": 30.0, "reason": "frames 3-5 do not decode"}
    # the pipeline would now stop this clip at duration, before it ever reached the decoder
    assert redecide(row, "decode", config)[1][0] == "duration"
    assert redecide({**row, "duration": 20.0}, "decode", config) == ("keep", ("decode", row["reason"]))
    assert redecide({**row, "reason": "worker died twice"}, "worker", config) == ("keep", ("worker", "worker died twice"))
    assert redecide({**row, "duration": 20.0}, None, config) == ("keep", None)
    assert redecide({**row, "duration": 20.0}, None, config, models_changed=True) == ("rerun", None)
    low = preset("paper").replace({"motion.min_score": 40.0})
    assert redecide({**row, "duration": 20.0}, None, low)[1][0] == "motion"


def test_gpu_stages_are_the_stages_whose_model_runs_here_on_a_gpu():
    config = preset("paper").replace({"motion.backend": "raft", "embed.enabled": True, "embed.device": "cuda:1",
                                      "semantic.vlm.backend": "openai", "captions.vlm.device": "cpu",
                                      "captions.llm.device": "cpu"})
    assert gpu_stages(config) == {"motion": "auto", "embed": "cuda:1", "align": "cuda:1"}  # align runs CLIP too


def test_segments_cut_the_stages_where_a_model_stage_wants_a_process_of_its_own():
    config = preset("paper").replace({"embed.enabled": True, "prefilter.enabled": True, "motion.backend": "raft",
                                      "semantic.vlm.backend": "openai"})
    cut = segments(config)
    assert [(s.stages, s.device) for s in cut] == [
        (("source", "probe", "duration", "decode", "cuts", "motion"), "auto"),  # RAFT decodes where it runs
        (("embed", "prefilter"), "auto"),  # the pre-filter uses embed's model
        (("semantic",), None),  # served elsewhere
        (("captions",), "auto"),
        (("align",), "auto"),
    ]
    assert cut[0].resources is None and cut[1].resources == Resources(gpu_share=0.1, batch=64)
    assert [s.stages for s in segments(preset("paper").replace(QUIET))] == [STAGES[:6]]  # model stages off


def test_a_segment_that_decodes_keeps_the_frames_of_later_model_stages_without_loading_them(tmp_path, monkeypatch):
    pytest.importorskip("open_clip", reason="open_clip is not installed: pip install 'lvd2m-builder[embed]'")
    from lvd2m_builder.models import clip
    from lvd2m_builder.testing.tiny_clip import write_tiny_model

    tiny = write_tiny_model(tmp_path / "tiny")
    config = preset("paper").replace({**QUIET, "embed.enabled": True, "embed.model": f"local-dir:{tiny}"})
    monkeypatch.setattr(clip, "load", lambda *_: pytest.fail("a decoding segment loaded the CLIP model"))
    first = Pipeline(config, only=STAGES[:6])
    assert [stage.stage for stage in first.stages] == list(STAGES[:6])
    assert [scorer.stage for scorer in first.scorers] == ["cuts", "motion", "embed"]
    assert first.scorers[2].size == 32  # the model's input side, read from its config
    monkeypatch.undo()
    assert [stage.stage for stage in Pipeline(config, only=("embed",)).stages] == ["embed"]
    assert [stage.stage for stage in Pipeline(config, only=("align",)).stages] == ["align"]  # loads CLIP itself
