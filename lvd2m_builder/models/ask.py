"""Ask a backend a batch of questions, parse the replies, and retry each unusable one exactly once.

The retry adds a reminder of the expected form to the prompt, or, on a backend that can prefill a reply, starts
the reply with the expected prefix (a small model that ignores "start with CAPTION:" still writes the caption).
A reply still unusable after the retry comes back with ``value`` None and the reason; a transport failure (the
backend already retried it) is not asked again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from lvd2m_builder.models.interface import Backend, Request
from lvd2m_builder.models.parse import Unusable


@dataclass
class Answer:
    value: Optional[str]  # the parsed value, None when the reply stayed unusable
    raw: str  # the last raw reply
    problem: str = ""  # why it is unusable
    tokens: int = 0  # generated tokens over both attempts

    def reason(self, limit: int = 200) -> str:
        """The problem and the raw reply, for a reject's reason."""
        raw = self.raw if len(self.raw) <= limit else self.raw[: limit - 3] + "..."
        return f"{self.problem}: {raw!r}" if self.raw else self.problem


def ask(backend: Backend, requests: Sequence[Request], parse: Callable[[str], str], reminder: str,
        prefix: str = "") -> list[Answer]:
    """One Answer per request; unusable replies are asked once more (see the module doc)."""
    answers = [_read(reply, parse) for reply in backend.generate(requests)]
    again = [i for i, a in enumerate(answers) if a.value is None and not a.problem.startswith("backend: ")]
    if again:
        retries = [_retry(requests[i], reminder, prefix, backend.prefill) for i in again]
        for i, reply in zip(again, backend.generate(retries)):
            spent = answers[i].tokens
            answers[i] = _read(reply, parse)
            answers[i].tokens += spent
            if answers[i].value is None:
                answers[i].problem += " (after one retry)"
    return answers


def _retry(request: Request, reminder: str, prefix: str, prefill: bool) -> Request:
    if prefill and prefix:
        return dataclasses.replace(request, prefix=prefix)
    return dataclasses.replace(request, prompt=f"{request.prompt}\n{reminder}")


def _read(reply, parse: Callable[[str], str]) -> Answer:
    if reply.error is not None:
        return Answer(None, "", f"backend: {reply.error}", reply.tokens)
    try:
        return Answer(parse(reply.text), reply.text, "", reply.tokens)
    except Unusable as e:
        return Answer(None, reply.text, str(e), reply.tokens)
