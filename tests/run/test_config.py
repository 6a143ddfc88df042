from __future__ import annotations

import pytest

from lvd2m_builder import config as cfg
from lvd2m_builder.errors import ConfigError


def test_paper_preset_holds_the_lvd2m_settings():
    c = cfg.preset("paper")
    assert (c.duration.min_s, c.duration.max_s) == (10.0, None)
    assert (c.cuts.threshold, c.cuts.min_scene_len, c.cuts.fps) == (50.0, 0, 0.5)
    assert (c.motion.fps, c.motion.height, c.motion.width, c.motion.min_score) == (2.0, 520, 960, 20.0)


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("motion:\n  min_score: 12\n  backend: dis\nshard_size: 4\n")
    c = cfg.load(path, overrides={"cuts.threshold": 40})
    assert c.motion.min_score == 12.0 and c.shard_size == 4 and c.cuts.threshold == 40.0
    assert c.motion.height == 520  # untouched fields keep the preset's value


@pytest.mark.parametrize(
    "yaml_text, field",
    [
        ("motion:\n  min_scor: 12\n", "motion.min_scor"),
        ("motion:\n  backend: farneback\n", "motion.backend"),
        ("cuts:\n  threshold: high\n", "cuts.threshold"),
        ("shard_size: 0\n", "shard_size"),
        ("duration:\n  min_s: 10\n  max_s: 5\n", "duration.max_s"),
    ],
    ids=["unknown-key", "bad-literal", "not-a-number", "out-of-range", "max-below-min"],
)
def test_bad_config_names_the_field(tmp_path, yaml_text, field):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        cfg.load(path)
    assert info.value.field == field


def test_override_parsing_and_unknown_names():
    assert cfg.parse_override("motion.min_score=15") == ("motion.min_score", 15)
    assert cfg.parse_override("duration.max_s=null") == ("duration.max_s", None)
    with pytest.raises(ConfigError):
        cfg.parse_override("motion.min_score")
    with pytest.raises(ConfigError) as info:
        cfg.preset("paper").replace({"motion.nope": 1})
    assert info.value.field == "motion.nope"


def test_config_errors_survive_pickling():
    import pickle

    error = ConfigError("motion.fps", -1, "must be > 0")
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, ValueError) and again.field == "motion.fps" and str(again) == str(error)


@pytest.mark.parametrize(
    "override, field",
    [
        ({"captions.llm.batch_size": 0}, "captions.llm.batch_size"),
        ({"semantic.vlm.timeout_s": -1}, "semantic.vlm.timeout_s"),
        ({"captions.vlm.backend": "vllm"}, "captions.vlm.backend"),
        ({"cuts.robust.spike_ratio": 0.5}, "cuts.robust.spike_ratio"),
        ({"embed.enabled": True, "prefilter.enabled": True, "prefilter.prompts": {"a slide": 2}},
         "prefilter.prompts['a slide']"),
        ({"prefilter.prompts": ["a slide"]}, "prefilter.prompts"),
        ({"prefilter.contrast": "a landscape"}, "prefilter.contrast"),
        ({"prefilter.contrast": ["a landscape", 3]}, "prefilter.contrast[1]"),
    ],
    ids=["nested-model-section", "other-model-role", "nested-literal", "robust-section", "dict-value", "dict-type",
         "tuple-type", "tuple-item"],
)
def test_errors_name_the_full_dotted_path_also_inside_mappings_and_lists(override, field):
    with pytest.raises(ConfigError) as info:
        cfg.preset("paper").replace(override)
    assert info.value.field == field


def test_literal_values_are_checked_however_a_section_is_built():
    with pytest.raises(ConfigError, match="must be one of dis, raft"):
        cfg.MotionConfig(backend="farneback")
    with pytest.raises(ConfigError) as info:
        cfg.from_dict({"motion": {"backend": "farneback"}})
    assert info.value.field == "motion.backend"


def test_run_settings_stay_out_of_what_shapes_the_rows():
    config = cfg.preset("paper").replace({"workers": 8, "executor": "ray", "clip_timeout_s": 30.0,
                                          "ray_cpu_actors": 12, "ray_gpus": {"semantic": 0.5}})
    assert cfg.RUN_SETTINGS == {"workers", "clip_timeout_s", "executor", "ray_address", "ray_cpu_actors", "ray_gpus"}
    assert not cfg.RUN_SETTINGS & set(config.settings())
    assert config.settings() == cfg.preset("paper").settings()  # more workers: the same build
    assert cfg.from_dict(config.to_dict()) == config  # to_dict keeps them, for --config round trips
