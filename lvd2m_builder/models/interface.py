"""The one small interface every VLM/LLM backend implements: requests in, one reply each out, in order.

A backend takes a list of :class:`Request` (a prompt, optional images, an optional system message) and returns
one :class:`Reply` per request, in order. Failures of one request come back as that reply's ``error``; the stage
turns them into a reject of that clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol, Sequence

import numpy as np

from lvd2m_builder.config import ModelConfig


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
