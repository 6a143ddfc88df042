"""The CLIP stages on a GPU (skipped without one): bf16 on CUDA must embed like fp32 on the CPU, and the dedup
search must decide the same on both."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU on this machine", allow_module_level=True)
pytest.importorskip("open_clip", reason="open_clip_torch is not installed: pip install 'lvd2m-builder[embed]'")

from lvd2m_builder.config import EmbedConfig  # noqa: E402
from lvd2m_builder.dedup.search import find_duplicates  # noqa: E402
from lvd2m_builder.models.clip import load  # noqa: E402
from lvd2m_builder.testing.tiny_clip import write_tiny_model  # noqa: E402


def test_bf16_on_cuda_embeds_like_fp32_on_cpu(tmp_path):
    name = f"local-dir:{write_tiny_model(tmp_path)}"
    cpu = load(EmbedConfig(model=name, device="cpu"))
    gpu = load(EmbedConfig(model=name))  # auto: cuda, bf16
    assert gpu.device.type == "cuda" and gpu.input_dtype == torch.bfloat16
    images = np.random.default_rng(0).integers(0, 256, (40, cpu.image_size, cpu.image_size, 3), np.uint8)
    assert np.sum(cpu.encode_images(images) * gpu.encode_images(images), axis=1).min() > 0.99
    texts = ["a dog runs on a beach.", "A long caption. " * 40]
    assert np.sum(cpu.encode_texts(texts) * gpu.encode_texts(texts), axis=1).min() > 0.99


def test_dedup_on_cuda_decides_like_the_cpu():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((5000, 64)).astype(np.float32)
    vectors[-50:] = vectors[:50] + 0.05 * rng.standard_normal((50, 64))
    order = rng.permutation(5000)
    on_cpu = find_duplicates(vectors, order, 0.95, 1024, "cpu")
    on_gpu = find_duplicates(vectors, order, 0.95, 1024, "cuda")
    assert len(on_cpu) == 50 and [(d.index, d.kept) for d in on_gpu] == [(d.index, d.kept) for d in on_cpu]
