"""The ``transformers`` backend on a GPU: ``device: auto`` picks CUDA and loads in bf16, and batched generation
runs there. Skipped on machines without a CUDA GPU (CI has none); run on one with pytest tests/test_captions_gpu.py."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch extra is not installed")
pytest.importorskip("transformers", reason="the captions extra is not installed")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

from lvd2m_builder.config import ModelConfig  # noqa: E402
from lvd2m_builder.models.backends import load  # noqa: E402
from lvd2m_builder.models.interface import Request  # noqa: E402
from lvd2m_builder.testing.tiny_models import tiny_vlm  # noqa: E402


def test_auto_device_is_the_gpu_in_bf16_and_batches_generate_there(tmp_path):
    backend = load(ModelConfig(model=str(tiny_vlm(tmp_path / "vlm")), device="auto", batch_size=4))
    parameter = next(backend.net.parameters())
    assert parameter.device.type == "cuda" and parameter.dtype == torch.bfloat16
    frames = [np.random.default_rng(i).integers(0, 255, (60, 112, 3), dtype=np.uint8) for i in range(3)]
    requests = [Request("Describe the video.", (frames[0],), max_new_tokens=8),
                Request("GOOD or BAD?", tuple(frames), system="Answer briefly.", max_new_tokens=8),
                Request("Text only.", max_new_tokens=8, prefix="CAPTION:")]
    replies = backend.generate(requests)
    assert all(r.error is None and 1 <= r.tokens <= 8 for r in replies)
    assert replies[2].text.startswith("CAPTION:")
