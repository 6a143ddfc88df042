"""The openai backend's waits between retries: the server's Retry-After wins over the backoff, capped at 30 s.

The waits are read from the backend's own calls to time.sleep (replaced by a recorder), so nothing is timed.
"""

from __future__ import annotations

import pytest

from fakes.chat_server import ChatServer, Scripted
from lvd2m_builder.config import ModelConfig
from lvd2m_builder.models import openai_api
from lvd2m_builder.models.interface import Request
from lvd2m_builder.models.openai_api import OpenAIBackend


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """Every delay the backend asks time.sleep for, without sleeping."""
    asked: list[float] = []

    class Clock:
        sleep = staticmethod(asked.append)

    monkeypatch.setattr(openai_api, "time", Clock)
    return asked


def _busy_then_ok(headers: dict[str, str], busy: int = 1):
    def respond(body, attempt):
        return Scripted(status=429, raw=b'{"error": "slow down"}', headers=headers) if attempt < busy else Scripted(text="ok")
    return respond


def _ask(server: ChatServer, retries: int = 2) -> str:
    config = ModelConfig(backend="openai", model="m", base_url=server.url, retries=retries, backoff_s=0.001,
                         timeout_s=5.0, concurrency=1)
    (reply,) = OpenAIBackend(config).generate([Request("q")])
    assert reply.error is None, reply.error
    return reply.text


@pytest.mark.parametrize("header, wait", [("1", 1.0), ("2.5", 2.5), ("120", 30.0), ("-3", 0.0)],
                         ids=["one-second", "fractional", "capped-at-30", "negative-is-zero"])
def test_retry_after_sets_the_wait_over_a_tiny_backoff(waits, header, wait):
    with ChatServer(_busy_then_ok({"Retry-After": header})) as server:
        assert _ask(server) == "ok"
    assert waits == [wait] and len(server.requests) == 2


def test_without_retry_after_the_backoff_doubles(waits):
    with ChatServer(_busy_then_ok({}, busy=2)) as server:
        assert _ask(server) == "ok"
    assert waits == [0.001, 0.002]


def test_an_unreadable_retry_after_falls_back_to_the_backoff(waits):
    """Retry-After may also be an HTTP date; that form is not read, and the backoff applies."""
    with ChatServer(_busy_then_ok({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) as server:
        assert _ask(server) == "ok"
    assert waits == [0.001]


@pytest.mark.parametrize("retries, said", [(0, "after 1 attempt)"), (1, "after 2 attempts)"), (2, "after 3 attempts)")])
def test_giving_up_waits_only_between_attempts_and_counts_them(waits, retries, said):
    """No wait after the last attempt: the failure is reported at once, with the number of attempts it took."""
    with ChatServer(lambda body, attempt: Scripted(status=503, raw=b"down")) as server:
        config = ModelConfig(backend="openai", model="m", base_url=server.url, retries=retries, backoff_s=0.001,
                             timeout_s=5.0, concurrency=1)
        (reply,) = OpenAIBackend(config).generate([Request("q")])
    assert len(server.requests) == retries + 1
    assert waits == [0.001 * 2 ** n for n in range(retries)]
    assert reply.error.endswith(said)
