"""Which backend serves a model, and whether its model can run on this machine (never touching the network).

Two backends: ``transformers`` (in this process) and ``openai`` (any OpenAI-compatible server). Backends are
built once per process and shared by the stages that name the same model.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Optional

from lvd2m_builder.config import ModelConfig
from lvd2m_builder.models.interface import Backend

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
            from lvd2m_builder.models.openai_api import OpenAIBackend

            _BACKENDS[config] = OpenAIBackend(config)
        else:
            from lvd2m_builder.models.hf import TransformersBackend

            _BACKENDS[config] = TransformersBackend(config)
    return _BACKENDS[config]
