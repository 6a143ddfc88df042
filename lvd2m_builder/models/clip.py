"""One open_clip model per process: image and text embeddings, L2-normalised, batched, on the GPU when present.

Images arrive as square RGB uint8 frames at the model's input size (embed/frames.py crops and resizes them in
the decoding thread); here they are only normalised with the model's mean and std. Texts longer than the text
encoder's context (77 tokens for CLIP) are embedded in sentence chunks and averaged (embed/text.py).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Sequence

import numpy as np

from lvd2m_builder.config import EmbedConfig
from lvd2m_builder.models.clip_text import chunks
from lvd2m_builder.models.clip_weights import Located, locate, open_clip_module

log = logging.getLogger(__name__)

_MODELS: dict[tuple, "ClipModel"] = {}
_LOCK = threading.Lock()


def resolve(device: str, precision: str) -> tuple[str, str]:
    """(device, precision) with ``auto`` decided: cuda and bf16 when a GPU is present, else cpu and fp32."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if precision == "auto":
        precision = "bf16" if device.startswith("cuda") else "fp32"
    return device, precision


def load(config: EmbedConfig) -> "ClipModel":
    """The model ``config`` names, loaded once per process from local files (raises MissingWeightsError)."""
    device, precision = resolve(config.device, config.precision)
    key = (config.model, config.pretrained, config.cache_dir, device, precision, config.batch_size)
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = ClipModel(locate(config), device, precision, config.batch_size)
        return _MODELS[key]


class ClipModel:
    """``encode_images`` and ``encode_texts`` return float32 arrays of unit rows, one per input."""

    def __init__(self, located: Located, device: str, precision: str, batch_size: int = 64,
                 random_weights: bool = False) -> None:
        """``random_weights`` only for benchmarks of speed: the embeddings mean nothing."""
        import torch

        open_clip = open_clip_module()
        self.label = located.label
        self.batch_size = batch_size
        self.net = open_clip.create_model(
            located.name, pretrained=None if random_weights else located.checkpoint, precision=precision,
            device=device, force_quick_gelu=located.quick_gelu, force_preprocess_cfg=located.preprocess or None,
            require_pretrained=not random_weights, load_weights=not random_weights,
        ).eval()
        self.tokenizer = open_clip.get_tokenizer(located.name)
        self.device = torch.device(device)
        self.input_dtype = open_clip.get_input_dtype(precision) or torch.float32
        cfg = open_clip.get_model_preprocess_cfg(self.net)
        size = cfg.get("size", 224)
        self.image_size = int(size if isinstance(size, int) else size[0])
        self.mean = torch.tensor(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN), device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.get("std", open_clip.OPENAI_DATASET_STD), device=self.device).view(1, 3, 1, 1)
        self.context_length = int(getattr(self.tokenizer, "context_length", None) or 77)
        self.logit_scale = float(self.net.logit_scale.exp().item()) if hasattr(self.net, "logit_scale") else 100.0
        self._count = _token_counter(self.tokenizer)
        self.dim = int(getattr(self.net.visual, "output_dim", 0) or self.encode_texts([""]).shape[1])
        log.info("loaded %s on %s (%s, %d px)", self.label, device, precision, self.image_size)

    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        """(N, size, size, 3) uint8 RGB -> (N, D) unit float32 rows."""
        import torch

        if not len(frames):
            return np.zeros((0, self.dim), np.float32)
        cuda = self.device.type == "cuda"
        out = []
        with torch.inference_mode():
            for lo in range(0, len(frames), self.batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(frames[lo : lo + self.batch_size]))
                # on a GPU: pinned memory and an async copy, and no sync until the end, so the next batch's copy
                # and launches overlap this batch's compute
                batch = batch.pin_memory().to(self.device, non_blocking=True) if cuda else batch
                x = (batch.permute(0, 3, 1, 2).float() / 255.0 - self.mean) / self.std
                out.append(self.net.encode_image(x.to(self.input_dtype), normalize=True).float())
        return _unit(torch.cat(out).cpu().numpy())

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """One unit row per text: the mean of its chunks' embeddings (texts over the context are chunked)."""
        import torch

        pieces, owner = [], []
        for i, text in enumerate(texts):
            for piece in self.chunks(text):
                pieces.append(piece)
                owner.append(i)
        out = []
        with torch.inference_mode():
            for lo in range(0, len(pieces), self.batch_size):
                tokens = self.tokenizer(pieces[lo : lo + self.batch_size]).to(self.device)
                out.append(self.net.encode_text(tokens, normalize=True).float().cpu().numpy())
        if not out:
            return np.zeros((0, self.dim), np.float32)
        embedded = np.concatenate(out)
        sums = np.zeros((len(texts), embedded.shape[1]), np.float32)
        np.add.at(sums, np.asarray(owner), embedded)
        return _unit(sums)

    def chunks(self, text: str) -> list[str]:
        """``text`` in chunks that fit the context with its start and end tokens."""
        return chunks(text, self._count, self.context_length - 2)


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def _token_counter(tokenizer: Any) -> Callable[[str], int]:
    """Tokens in a text, start and end tokens excluded, for open_clip's SimpleTokenizer or a HF tokenizer."""
    if hasattr(tokenizer, "encode") and not hasattr(tokenizer, "tokenizer"):
        return lambda text: len(tokenizer.encode(text))
    inner = tokenizer.tokenizer
    return lambda text: len(inner(text, add_special_tokens=False)["input_ids"])
