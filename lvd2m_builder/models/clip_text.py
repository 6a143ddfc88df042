"""Cut long captions into pieces the CLIP text encoder reads whole.

CLIP's text encoder stops at 77 tokens (start and end tokens included): whatever follows is silently dropped,
which is how the paper's text-to-video model lost most of its long captions. A caption is split into sentences,
sentences are packed greedily into chunks of at most ``limit`` tokens, and a sentence longer than that is cut
between words. The caller embeds every chunk and averages them.
"""

from __future__ import annotations

import re
from typing import Callable

_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, whitespace collapsed, terminal punctuation kept."""
    return [" ".join(s.split()) for s in _SENTENCE.findall(text) if s.strip()]


def chunks(text: str, count: Callable[[str], int], limit: int) -> list[str]:
    """``text`` as consecutive chunks of whole sentences, each at most ``limit`` tokens by ``count``.

    An empty text gives one empty chunk, so every text has at least one embedding.
    """
    if limit < 1:
        raise ValueError(f"chunk limit must be >= 1 token, got {limit}")
    out: list[str] = []
    current = ""
    for sentence in sentences(text):
        joined = f"{current} {sentence}" if current else sentence
        if count(joined) <= limit:
            current = joined
            continue
        if current:
            out.append(current)
        if count(sentence) <= limit:
            current = sentence
        else:
            pieces = _split_words(sentence, count, limit)
            out.extend(pieces[:-1])
            current = pieces[-1]
    if current or not out:
        out.append(current)
    return out


def _split_words(sentence: str, count: Callable[[str], int], limit: int) -> list[str]:
    """A sentence too long for one chunk, cut between words; a single word too long is left to truncation."""
    pieces: list[str] = []
    current = ""
    for word in sentence.split():
        joined = f"{current} {word}" if current else word
        if current and count(joined) > limit:
            pieces.append(current)
            current = word
        else:
            current = joined
    pieces.append(current)
    return pieces
