"""The ``transformers`` backend: a vision-language model or a text LLM in this process, batched across clips.

Any model id or local path the Auto classes load works: a model whose type has an image-text-to-text class
(LLaVA-NeXT, Qwen2-VL, Qwen2.5-VL, ...) loads with its processor and chat template; any other loads as a causal
LM with its tokenizer (a GGUF file through the gguf package). bf16 on a GPU, float32 on the CPU; weights only
from local files. Requests run greedy, left-padded, ``batch_size`` per generate call.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Sequence

import numpy as np

from lvd2m_builder.config import ModelConfig
from lvd2m_builder.errors import MissingDependencyError
from lvd2m_builder.models.interface import Reply, Request

log = logging.getLogger(__name__)

_MODELS: dict[tuple[str, str, str], tuple[Any, Any, bool]] = {}
_LOCK = threading.Lock()


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_model(model: str, gguf_file: str = "", device: str = "auto") -> tuple[Any, Any, bool]:
    """(model, processor or tokenizer, is_vision), cached per process: stages naming one model share it."""
    try:
        import torch
        import transformers
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
    except ImportError as e:
        raise MissingDependencyError("transformers", "captions") from e
    device = resolve_device(device)
    key = (model, gguf_file, device)
    with _LOCK:
        if key not in _MODELS:
            kwargs: dict[str, Any] = {"local_files_only": True}
            if gguf_file:
                kwargs["gguf_file"] = gguf_file
            # GGUF checkpoints load as text models in transformers (and parsing one for its config alone is slow)
            vision = not gguf_file and (transformers.AutoConfig.from_pretrained(model, **kwargs).model_type
                                        in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
            if vision:
                processor = transformers.AutoProcessor.from_pretrained(model, **kwargs)
                net = transformers.AutoModelForImageTextToText.from_pretrained(model, dtype=dtype, **kwargs)
            else:
                processor = transformers.AutoTokenizer.from_pretrained(model, **kwargs)
                net = transformers.AutoModelForCausalLM.from_pretrained(model, dtype=dtype, **kwargs)
            tokenizer = getattr(processor, "tokenizer", processor)
            tokenizer.padding_side = "left"  # generation continues every row from its last real token
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            _MODELS[key] = (net.to(device).eval(), processor, vision)
            log.info("loaded %s%s on %s (%s, %s)", model, f" ({gguf_file})" if gguf_file else "", device,
                     "vision-language" if vision else "text", str(dtype).replace("torch.", ""))
        return _MODELS[key]


class TransformersBackend:
    """Batched greedy generation with the model's own chat template."""

    prefill = True

    def __init__(self, config: ModelConfig, loaded: tuple[Any, Any, bool] | None = None) -> None:
        self.model = config.model
        self.batch_size = config.batch_size
        self.net, self.processor, self.vision = loaded or load_model(config.model, config.gguf_file, config.device)
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.device = next(self.net.parameters()).device
        eos = self.net.generation_config.eos_token_id
        self.stop_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None} | {self.tokenizer.pad_token_id}

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        replies: list[Reply | None] = [None] * len(requests)
        order = sorted(range(len(requests)), key=lambda i: requests[i].max_new_tokens)  # one length per call
        for lo in range(0, len(order), self.batch_size):
            part = order[lo : lo + self.batch_size]
            for i, reply in zip(part, self._batch([requests[i] for i in part])):
                replies[i] = reply
        return replies  # type: ignore[return-value]

    def _batch(self, requests: list[Request]) -> list[Reply]:
        import torch

        if any(r.images for r in requests) and not self.vision:
            raise ValueError(f"{self.model} is a text model and cannot take images")
        texts = [self._prompt(r) for r in requests]
        if self.vision:
            images = [[_pil(im) for im in r.images] for r in requests]
            has_images = any(images)
            inputs = self.processor(text=texts, images=images if has_images else None, padding=True,
                                    return_tensors="pt", add_special_tokens=False)
        else:
            inputs = self.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=False)
        inputs = inputs.to(self.device)
        with torch.inference_mode():
            out = self.net.generate(**inputs, max_new_tokens=max(r.max_new_tokens for r in requests),
                                    do_sample=False, temperature=None, top_p=None, top_k=None)
        new = out[:, inputs["input_ids"].shape[1]:].cpu()
        texts_out = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [Reply(text=r.prefix + text, tokens=self._count(row)) for r, text, row in zip(requests, texts_out, new)]

    def _prompt(self, request: Request) -> str:
        """The chat template's text for one request, ending where the reply begins (after any prefix)."""
        if self.vision:
            content: Any = [{"type": "image"} for _ in request.images] + [{"type": "text", "text": request.prompt}]
            system: Any = [{"type": "text", "text": request.system}] if request.system else None
        else:
            content, system = request.prompt, request.system
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return text + request.prefix

    def _count(self, row) -> int:
        """Generated tokens up to and including the first stop token."""
        for i, token in enumerate(row.tolist()):
            if token in self.stop_ids:
                return i + 1
        return len(row)


def _pil(image: np.ndarray):
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(image))
