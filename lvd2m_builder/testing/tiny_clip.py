"""A tiny random-weight open_clip model built offline, for the tests and the benchmark: nothing is downloaded.

``write_tiny_model`` saves open_clip's ``local-dir`` layout (``open_clip_config.json`` plus a checkpoint), which
``embed.model: local-dir:PATH`` loads like any released model. Random weights carry no meaning, but they are a
fixed function of the pixels: the class token and position embeddings are zeroed, so the embedding depends on
the picture (with them, a random ViT maps every picture to nearly one vector), and a clip and its re-encoded
copy stay close while different footage does not.
"""

from __future__ import annotations

import json
from pathlib import Path

#: ViT with 8 px patches on 32 px inputs, 32-d embeddings; the text tower keeps CLIP's tokenizer and 77 tokens.
TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def write_tiny_model(directory: str | Path, seed: int = 0) -> Path:
    """Save a tiny random CLIP to ``directory``; returns it (use ``local-dir:`` + its path as embed.model)."""
    import torch

    from lvd2m_builder.models.clip_weights import open_clip_module

    open_clip = open_clip_module()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY, "preprocess_cfg": {}}))
    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY)
    with torch.no_grad():
        model.visual.class_embedding.zero_()
        model.visual.positional_embedding.zero_()
    torch.save(model.state_dict(), directory / "open_clip_pytorch_model.bin")
    return directory
