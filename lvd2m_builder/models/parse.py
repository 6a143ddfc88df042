"""Reading model replies: a GOOD/BAD verdict, a ``CAPTION:``-prefixed caption, and degenerate-text checks.

Each parser returns the usable value or raises :class:`Unusable` saying why, so the caller can retry once and
then reject the clip with that reason and the raw reply.
"""

from __future__ import annotations

import re
from collections import Counter

_VERDICT = re.compile(r"\b(GOOD|BAD)\b")
_LEAD = re.compile(r"^[\s*_#>\"'`.:\-]*")  # markdown and punctuation a model may put first
# The lead and the gap before the colon stay on one line: a lead that could span newlines is retried from every
# line start over all the blank lines after it, which is quadratic (20k newlines: seconds; 1 MB: hours).
_PREFIX = re.compile(r"(?im)^(?:[^\S\n]|[*_#>\"'`])*CAPTION[^\S\n]*:[\s*_\"'`]*")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")

MIN_WORDS = 3
MAX_NGRAM = 8
MAX_REPEATS = 4  # an n-gram repeated this many times in a row is a generation loop
MAX_SENTENCE_REPEATS = 3


class Unusable(ValueError):
    """A reply that cannot be used; the message says why."""


def verdict(text: str) -> str:
    """GOOD or BAD, capitalized, as the prompts ask; the first word decides when both words occur."""
    found = set(_VERDICT.findall(text))
    if len(found) == 1:
        return found.pop()
    if not found:
        raise Unusable("no capitalized GOOD or BAD in the answer")
    first = _VERDICT.match(_LEAD.sub("", text, count=1))
    if first is None:
        raise Unusable("the answer says both GOOD and BAD")
    return first.group(1)


def caption(text: str) -> str:
    """The text after a ``CAPTION:`` prefix (at the start of a line), cleaned and checked for degeneration."""
    match = _PREFIX.search(text)
    if match is None:
        raise Unusable("the reply has no CAPTION: prefix" if text.strip() else "empty reply")
    return description(text[match.end():])


def description(text: str) -> str:
    """Free text (a segment's caption): stripped, non-empty, at least a few words, and not a generation loop."""
    body = text.strip().strip("*_\"'` ").strip()
    if not body:
        raise Unusable("empty reply")
    problem = degenerate(body)
    if problem:
        raise Unusable(problem)
    return body


def degenerate(text: str) -> str | None:
    """Why ``text`` looks like a generation loop or a non-answer, or None when it reads as text."""
    words = text.split()
    if len(words) < MIN_WORDS:
        return f"too short ({len(words)} word{'s' * (len(words) != 1)})"
    lowered = [w.lower() for w in words]
    for n in range(1, MAX_NGRAM + 1):
        run = _longest_run(lowered, n)
        if run >= MAX_REPEATS:
            return f"degenerate: a {n}-word sequence repeats {run} times in a row"
    sentences = Counter(s.strip().lower() for s in _SENTENCE.findall(text) if len(s.split()) >= 3)
    if sentences:
        sentence, count = sentences.most_common(1)[0]
        if count >= MAX_SENTENCE_REPEATS:
            return f"degenerate: a sentence repeats {count} times ({sentence[:60]!r})"
    return None


def _longest_run(words: list[str], n: int) -> int:
    """The most times any ``n``-word sequence occurs back to back."""
    best = 1
    for start in range(n):  # runs of period n lie on one of n phase offsets
        run = 1
        for i in range(start + n, len(words) - n + 1, n):
            run = run + 1 if words[i : i + n] == words[i - n : i] else 1
            best = max(best, run)
    return best
