"""The ``transformers`` backend's real loading path on a tiny random-weight Qwen2-VL saved to tmp_path, the model
stages on it (random weights answer nonsense, which must become rejects, never captions), and what happens when
weights are absent. Nothing downloads: HF_HUB_OFFLINE is set and every load is local_files_only."""

from __future__ import annotations

import logging
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the captions extra is not installed")

from lvd2m_builder.config import CaptionConfig, ModelConfig, preset
from lvd2m_builder.errors import MissingWeightsError
from lvd2m_builder.models.backends import load, missing
from lvd2m_builder.models.hf import _MODELS, TransformersBackend
from lvd2m_builder.models.interface import Request
from lvd2m_builder.records import Clip, ClipRef, VideoInfo
from lvd2m_builder.run.build import build
from lvd2m_builder.stages.captions import CaptionStage
from lvd2m_builder.stages.pipeline import Pipeline
from lvd2m_builder.stages.segments import split
from lvd2m_builder.testing import samples
from lvd2m_builder.testing.tiny_models import tiny_vlm


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory):
    return str(tiny_vlm(tmp_path_factory.mktemp("tiny-qwen2-vl")))


@pytest.fixture(scope="module")
def vlm(vlm_dir):
    return load(ModelConfig(model=vlm_dir, device="cpu", batch_size=4))


def frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (60, 112, 3), dtype=np.uint8)


def test_loads_a_vision_language_model_with_its_processor_on_the_cpu_in_float32(vlm):
    assert isinstance(vlm, TransformersBackend) and vlm.vision and vlm.prefill
    assert str(vlm.device) == "cpu" and next(vlm.net.parameters()).dtype.is_floating_point
    assert str(next(vlm.net.parameters()).dtype) == "torch.float32"
    assert vlm.tokenizer.padding_side == "left"


def test_batched_generation_equals_one_request_at_a_time(vlm):
    requests = [
        Request("Describe the video.", (frame(1),), max_new_tokens=10),
        Request("GOOD or BAD?", (frame(2), frame(3), frame(4)), system="Answer briefly.", max_new_tokens=10),
        Request("A text-only question to a vision model.", max_new_tokens=10),
        Request("Describe the video.", (frame(5),), max_new_tokens=10, prefix="CAPTION:"),
    ]
    together = vlm.generate(requests)
    alone = [vlm.generate([r])[0] for r in requests]
    assert [r.text for r in together] == [r.text for r in alone]
    assert all(r.error is None and 1 <= r.tokens <= 10 for r in together)
    assert together[3].text.startswith("CAPTION:")


def test_models_named_by_two_roles_load_once(vlm_dir, vlm):
    again = load(ModelConfig(model=vlm_dir, device="cpu", batch_size=2))
    assert again is not vlm and again.net is vlm.net and again.batch_size == 2
    assert sum(1 for key in _MODELS if key[0] == vlm_dir) == 1


def test_a_text_model_cannot_take_images(vlm):
    text_only = TransformersBackend(ModelConfig(model="text", batch_size=1), (vlm.net, vlm.processor, False))
    with pytest.raises(ValueError, match="text model"):
        text_only.generate([Request("x", (frame(1),))])


def test_random_weights_never_become_a_caption(vlm):
    c = Clip(ref=ClipRef(uri="/v/x.mp4", video_id="x"), info=VideoInfo(24.0, 960, 40.0, 96, 64))
    c.frames["captions"] = [(start, frame(i)) for i, (start, _) in enumerate(split(40.0))]
    config = CaptionConfig(segment_max_new_tokens=12, merge_max_new_tokens=12)
    (out,) = CaptionStage(config, vlm, vlm)([c])
    assert out.rejection.stage == "captions"
    assert "(after one retry)" in out.rejection.reason
    assert out.refined_caption is None


def test_weights_on_disk_are_found_without_the_network(vlm_dir, tmp_path):
    assert missing(ModelConfig(model=vlm_dir)) is None
    assert "holds no loadable model" in missing(ModelConfig(model=str(tmp_path)))
    assert missing(ModelConfig(backend="openai", model="anything")) is None
    snapshot = tmp_path / "cache" / "models--org--tiny" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (tmp_path / "cache" / "models--org--tiny" / "refs").mkdir()
    (tmp_path / "cache" / "models--org--tiny" / "refs" / "main").write_text("abc123")
    (snapshot / "config.json").write_text("{}")
    assert "not in the local Hugging Face cache" in missing(ModelConfig(model="org/tiny"), cache_dir=str(tmp_path / "cache"))
    (snapshot / "model.safetensors").write_bytes(b"")
    assert missing(ModelConfig(model="org/tiny"), cache_dir=str(tmp_path / "cache")) is None


def test_absent_weights_skip_the_stages_with_a_log_line_or_fail_when_asked(tmp_path, monkeypatch, caplog):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache: nothing is there
    caplog.set_level(logging.WARNING)
    run = Pipeline(preset("paper"))
    assert not _model_stages(run) and set(run.skipped) == {"semantic", "captions"}
    assert "semantic stage skipped: Qwen/Qwen2.5-VL-7B-Instruct is not in the local Hugging Face cache" in caplog.text
    assert "captions stage skipped" in caplog.text
    with pytest.raises(MissingWeightsError, match="hf download"):
        Pipeline(preset("paper").replace({"semantic.on_missing": "error"}))
    run = Pipeline(preset("paper").replace({"semantic.enabled": False, "captions.enabled": False}))
    assert not _model_stages(run) and not run.skipped


def _model_stages(run: Pipeline) -> set[str]:
    """The semantic and captions stages (or their frame scorers) a pipeline holds."""
    return {"semantic", "captions"} & {part.stage for part in [*run.stages, *run.scorers]}


def test_a_build_runs_the_model_stages_on_a_local_model_and_rejects_its_nonsense(vlm_dir, tmp_path):
    from datasets import load_dataset

    inputs = tmp_path / "in"
    inputs.mkdir()
    samples.pan(inputs / "pan.mp4", seconds=12.0, fps=8, px_per_frame=6)
    model = {"model": vlm_dir, "device": "cpu", "batch_size": 4}
    config = preset("paper").replace({"semantic.vlm": model, "captions.vlm": model, "captions.llm": model,
                                      "semantic.max_new_tokens": 8})
    stats = build([str(inputs)], tmp_path / "out", config, progress=False)
    assert stats["rejected_by_stage"] == {"semantic": 1}  # the pan passed the filters, then met the model
    (reject,) = [r for r in load_dataset(str(tmp_path / "out"), "rejects", streaming=True)["train"]
                 if r["stage"] == "semantic"]
    assert reject["video_id"] == "pan" and "(after one retry)" in reject["reason"]
