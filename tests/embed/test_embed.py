"""The CLIP model layer: finding weights offline, image and text embeddings, long-caption chunks, frame crops.

Every model here is the tiny random-weight CLIP of lvd2m_builder.testing.tiny_clip, written to tmp; nothing downloads.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("open_clip", reason="open_clip_torch is not installed: pip install 'lvd2m-builder[embed]'")

from lvd2m_builder.config import EmbedConfig  # noqa: E402
from lvd2m_builder.config import load as load_config
from lvd2m_builder.errors import MissingWeightsError  # noqa: E402
from lvd2m_builder.models.clip import ClipModel, load  # noqa: E402
from lvd2m_builder.models.clip_text import chunks, sentences  # noqa: E402
from lvd2m_builder.models.clip_weights import locate  # noqa: E402
from lvd2m_builder.stages.frames.embed import square  # noqa: E402
from lvd2m_builder.stages.pipeline import Pipeline  # noqa: E402
from lvd2m_builder.testing.tiny_clip import TINY, write_tiny_model  # noqa: E402

LONG = " ".join(f"Sentence {i} tells how the red kite circles above the grey harbour at dawn." for i in range(12))


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="module")
def model(tiny_dir) -> ClipModel:
    return load(EmbedConfig(enabled=True, model=f"local-dir:{tiny_dir}", batch_size=4, device="cpu"))


def frames(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_image_embeddings_have_the_model_dimension_and_unit_norm(model):
    out = model.encode_images(frames(6, model.image_size))
    assert out.shape == (6, TINY["embed_dim"]) and out.dtype == np.float32
    assert np.linalg.norm(out, axis=1) == pytest.approx(np.ones(6), abs=1e-5)
    assert model.image_size == TINY["vision_cfg"]["image_size"] and model.dim == TINY["embed_dim"]


@pytest.mark.parametrize("batch_size", [1, 3, 64], ids=["batch1", "batch3", "batch64"])
def test_batching_does_not_change_embeddings(tiny_dir, model, batch_size):
    images = frames(7, model.image_size, seed=1)
    other = load(EmbedConfig(enabled=True, model=f"local-dir:{tiny_dir}", batch_size=batch_size,
                                 device="cpu"))
    assert other.batch_size == batch_size
    np.testing.assert_allclose(other.encode_images(images), model.encode_images(images), atol=1e-5)


def test_embeddings_are_deterministic_across_loads(tiny_dir, model):
    images = frames(3, model.image_size, seed=2)
    fresh = ClipModel(locate(EmbedConfig(model=f"local-dir:{tiny_dir}")), "cpu", "fp32")
    np.testing.assert_array_equal(fresh.encode_images(images), model.encode_images(images))
    np.testing.assert_array_equal(fresh.encode_texts(["a dog"]), model.encode_texts(["a dog"]))
    assert not np.allclose(model.encode_images(images[:1]), model.encode_images(frames(1, model.image_size, 9)))


def test_long_caption_is_chunked_by_sentence_within_the_context(model):
    pieces = model.chunks(LONG)
    assert len(pieces) > 1
    assert all(len(model.tokenizer.encode(p)) <= model.context_length - 2 for p in pieces)
    assert " ".join(pieces) == " ".join(LONG.split())
    assert all(p.endswith(".") for p in pieces)  # whole sentences


def test_long_caption_embedding_reads_past_77_tokens(model):
    tail_a = LONG + " A child waves a yellow flag."
    tail_b = LONG + " Thunder rolls over black mountains."
    a, b = model.encode_texts([tail_a, tail_b])
    assert not np.allclose(a, b, atol=1e-4)  # truncation at 77 tokens would make them equal
    parts = model.encode_texts(model.chunks(tail_a))
    mean = parts.mean(axis=0)
    np.testing.assert_allclose(a, mean / np.linalg.norm(mean), atol=1e-5)
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    "text,limit,expected",
    [
        ("One two. Three four. Five.", 2, ["One two.", "Three four.", "Five."]),
        ("One two. Three four. Five.", 4, ["One two. Three four.", "Five."]),
        ("One two. Three four. Five.", 20, ["One two. Three four. Five."]),
        ("a b c d e f g", 3, ["a b c", "d e f", "g"]),
        ("", 5, [""]),
    ],
    ids=["each", "pack", "one-chunk", "split-words", "empty"],
)
def test_chunks_with_a_word_counter(text, limit, expected):
    assert chunks(text, lambda s: len(s.split()), limit) == expected


def test_sentences_keep_their_punctuation():
    assert sentences("A cat sits.  Then it jumps!\nWhy? no end") == ["A cat sits.", "Then it jumps!", "Why?", "no end"]


@pytest.mark.parametrize("width,height", [(400, 300), (300, 400), (320, 320)], ids=["wide", "tall", "square"])
def test_square_crops_the_true_picture_before_the_stretch(width, height):
    picture = np.zeros((height, width, 3), np.uint8)
    side = min(width, height)
    x0, y0 = (width - side) // 2, (height - side) // 2
    picture[:, :, 0] = 255  # red outside the centre square
    picture[y0 : y0 + side, x0 : x0 + side] = (0, 255, 0)
    import cv2

    stretched = cv2.resize(picture, (960, 520), interpolation=cv2.INTER_NEAREST)  # what the sampler hands over
    out = square(stretched, width / height, 32)
    assert out.shape == (32, 32, 3)
    assert out[..., 0].mean() < 8 and out[..., 1].min() > 200  # at most a pixel row of the stretch's rounding
    assert square(stretched, 1.0, 32)[..., 0].mean() > 30 or width == height  # no crop: the red margins show


def test_a_named_checkpoint_file_loads_like_the_directory(tmp_path, tiny_dir, model):
    import json

    import open_clip

    (tmp_path / "lvd2m-tiny-test.json").write_text(json.dumps(TINY))
    open_clip.add_model_config(tmp_path / "lvd2m-tiny-test.json")
    config = EmbedConfig(model="lvd2m-tiny-test", pretrained=str(tiny_dir / "open_clip_pytorch_model.bin"))
    located = locate(config)
    assert located.checkpoint == config.pretrained and "lvd2m-tiny-test" in located.label
    images = frames(2, model.image_size, seed=3)
    np.testing.assert_allclose(ClipModel(located, "cpu", "fp32").encode_images(images), model.encode_images(images),
                               atol=1e-6)


@pytest.mark.parametrize(
    "model_name,pretrained,message",
    [
        ("ViT-B-32", "laion2b_s34b_b79k", "not in the local caches"),
        ("ViT-B-32", "openai", "not in the local caches"),
        ("ViT-B-32", "no_such_tag", "unknown pretrained tag"),
        ("ViT-B-32", "/nowhere/weights.pt", "no such checkpoint file"),
        ("ViT-B-32", "", "random weights are never used"),
        ("NoSuchNet-1", "x", "not an open_clip model name"),
        ("hf-hub:nobody/no-such-clip", "", "not in the local Hugging Face cache"),
    ],
    ids=["hf-tag", "url-tag", "bad-tag", "missing-file", "no-weights", "bad-name", "hf-hub"],
)
def test_missing_weights_are_reported_never_downloaded(tmp_path, model_name, pretrained, message):
    with pytest.raises(MissingWeightsError, match=message):
        locate(EmbedConfig(model=model_name, pretrained=pretrained, cache_dir=str(tmp_path)))


def test_local_dir_without_a_checkpoint_is_missing(tmp_path):
    (tmp_path / "open_clip_config.json").write_text("{}")
    with pytest.raises(MissingWeightsError, match="no checkpoint"):
        locate(EmbedConfig(model=f"local-dir:{tmp_path}"))


def test_stage_is_skipped_with_a_log_line_when_weights_are_absent(tmp_path, caplog):
    overrides = {"embed.enabled": True, "embed.cache_dir": str(tmp_path), "prefilter.enabled": True}
    with caplog.at_level(logging.WARNING, logger="lvd2m_builder.stages.registry"):
        run = Pipeline(load_config(None, "paper", overrides))
    assert not _clip_stages(run) and {"embed", "prefilter"} <= set(run.skipped)
    assert "embed stage skipped (and with it prefilter)" in caplog.text and "not in the local caches" in caplog.text
    with pytest.raises(MissingWeightsError):
        Pipeline(load_config(None, "paper", {**overrides, "embed.on_missing": "error"}))


def test_embed_is_off_in_the_presets():
    for name in ("paper", "robust"):
        config = load_config(None, name)
        assert not (config.embed.enabled or config.prefilter.enabled or config.dedup.enabled)
        assert not _clip_stages(Pipeline(config))


def _clip_stages(run: Pipeline) -> set[str]:
    """The CLIP stages (or their frame scorers) a pipeline holds."""
    return {"embed", "prefilter", "align"} & {part.stage for part in [*run.stages, *run.scorers]}
