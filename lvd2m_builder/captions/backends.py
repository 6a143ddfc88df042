"""One small interface for the models behind the semantic check and the captions, and where to find them.

A backend takes a list of :class:`Request` (a prompt, optional images, an optional system message) and returns
one :class:`Reply` per request, in order. Failures of one request come back as that reply's ``error``; the stage
turns them into a reject of that clip. Two backends: ``transformers`` (in this process) and ``openai`` (any
OpenAI-compatible server). Backends are built once per process and shared by the stages that name the same model.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Optional, Protocol, Sequence

import numpy as np

from ..config import ModelConfig


@dataclass(frozen=True)
class Request:
    prompt: str
    images: tuple[np.ndarray, ...] = ()  # RGB uint8, shown before the prompt, in order
    system: Optional[str] = None
    max_new_tokens: int = 256
    prefix: str = ""  # the reply starts with this text (used by backends that can prefill a reply)


@dataclass(frozen=True)
class Reply:
    text: str = ""  # the reply, ``prefix`` included when the backend prefilled it
    error: Optional[str] = None  # why no reply came (server error after retries, ...); never a secret
    tokens: int = 0  # generated tokens


class Backend(Protocol):
    model: str
    batch_size: int  # how many requests it usefully takes at once
    prefill: bool  # whether it honours Request.prefix

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        """One reply per request, in order."""


def describe(config: ModelConfig) -> str:
    """``backend:model`` (plus the GGUF file): what a row's provenance records for a model role."""
    name = f"{config.backend}:{config.model}"
    return f"{name}#{config.gguf_file}" if config.gguf_file else name


_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def missing(config: ModelConfig, cache_dir: Optional[str] = None) -> Optional[str]:
    """Why ``config``'s model cannot run on this machine, or None when it can. Never touches the network.

    ``transformers``: the package must be installed and the weights must be in a local directory or in the
    local Hugging Face cache. ``openai``: the server is remote; nothing to check here.
    """
    if config.backend == "openai":
        return None
    if importlib.util.find_spec("transformers") is None:
        return "transformers is not installed: pip install 'lvd2m-builder[captions]'"
    if config.gguf_file and importlib.util.find_spec("gguf") is None:
        return "gguf is not installed: pip install 'lvd2m-builder[captions]'"
    wanted = [config.gguf_file] if config.gguf_file else ["config.json"]
    if os.path.isdir(config.model):
        found = [name for name in (*wanted, *_WEIGHT_FILES) if os.path.exists(os.path.join(config.model, name))]
        if not all(name in found for name in wanted) or (not config.gguf_file and len(found) < 2):
            return f"{config.model} holds no loadable model ({' or '.join(wanted)} and weights)"
        return None
    from huggingface_hub import try_to_load_from_cache

    def cached(name: str) -> bool:
        return isinstance(try_to_load_from_cache(config.model, name, cache_dir=cache_dir), str)

    if not all(cached(name) for name in wanted) or (not config.gguf_file and not any(map(cached, _WEIGHT_FILES))):
        return (f"{config.model} is not in the local Hugging Face cache; nothing is downloaded at run time "
                f"(fetch it first: hf download {config.model})")
    return None


_BACKENDS: dict[ModelConfig, Backend] = {}


def load(config: ModelConfig) -> Backend:
    """The backend for ``config``, built once per process (a model named by two stages loads once)."""
    if config not in _BACKENDS:
        if config.backend == "openai":
            from .openai_api import OpenAIBackend

            _BACKENDS[config] = OpenAIBackend(config)
        else:
            from .hf import TransformersBackend

            _BACKENDS[config] = TransformersBackend(config)
    return _BACKENDS[config]
