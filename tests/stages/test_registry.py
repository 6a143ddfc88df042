"""The stage registry: one declaration per stage, from which the pipeline, rebuild and the executors derive."""

from __future__ import annotations

from lvd2m_builder.config import preset
from lvd2m_builder.run.rebuild import MODEL_SECTIONS, THRESHOLDS, redecide
from lvd2m_builder.stages.base import BatchedStage, FrameScorer, Stage
from lvd2m_builder.stages.pipeline import Pipeline
from lvd2m_builder.stages.registry import REGISTRY, STAGES, gpu_stages

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
    assert gpu_stages(config) == {"motion": "auto", "embed": "cuda:1"}
