"""The ``openai`` backend against a loopback server: concurrency, retries, timeouts, malformed replies, images,
the API key's handling, and the retry-once rule for replies without the CAPTION: prefix or with nothing in them."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from fakes.chat_server import ChatServer, Scripted, images, user_text
from lvd2m_builder.config import ModelConfig
from lvd2m_builder.models import parse, prompts
from lvd2m_builder.models.ask import ask
from lvd2m_builder.models.interface import Request
from lvd2m_builder.models.openai_api import OpenAIBackend


def backend(server: ChatServer, **kw) -> OpenAIBackend:
    settings = dict(backend="openai", model="scripted", base_url=server.url, retries=2, backoff_s=0.01,
                    timeout_s=5.0, concurrency=4)
    return OpenAIBackend(ModelConfig(**{**settings, **kw}))


def test_keeps_concurrency_requests_in_flight_and_answers_in_order():
    with ChatServer(lambda body, _: Scripted(text=f"echo {user_text(body)}", delay=0.4)) as server:
        started = time.perf_counter()
        replies = backend(server, concurrency=4).generate([Request(f"q{i}") for i in range(8)])
        elapsed = time.perf_counter() - started
    assert [r.text for r in replies] == [f"echo q{i}" for i in range(8)]
    assert all(r.error is None and r.tokens == 7 for r in replies)
    assert server.max_in_flight == 4
    assert elapsed < 8 * 0.4 * 0.75  # two waves of four, not eight requests one after another


@pytest.mark.parametrize("status, headers", [(500, {}), (503, {}), (429, {"Retry-After": "0"})],
                         ids=["500", "503", "429-retry-after"])
def test_retries_server_errors_and_rate_limits(status, headers):
    def respond(body, attempt):
        return Scripted(status=status, raw=b'{"error": "busy"}', headers=headers) if attempt < 2 else Scripted(text="ok")

    with ChatServer(respond) as server:
        (reply,) = backend(server, retries=2).generate([Request("q")])
    assert reply.error is None and reply.text == "ok"
    assert len(server.requests) == 3


def test_gives_up_after_the_retries_with_the_status_in_the_error():
    with ChatServer(lambda body, attempt: Scripted(status=500, raw=b"overloaded")) as server:
        (reply,) = backend(server, retries=2).generate([Request("q")])
    assert len(server.requests) == 3
    assert "HTTP 500" in reply.error and "overloaded" in reply.error and "after 3 attempts" in reply.error


def test_client_errors_are_not_retried():
    with ChatServer(lambda body, attempt: Scripted(status=400, raw=b'{"error": "bad model"}')) as server:
        (reply,) = backend(server, retries=3).generate([Request("q")])
    assert len(server.requests) == 1
    assert "HTTP 400" in reply.error and "bad model" in reply.error


def test_a_slow_server_times_out_and_is_retried():
    def respond(body, attempt):
        return Scripted(text="late", delay=1.5) if attempt == 0 else Scripted(text="on time")

    with ChatServer(respond) as server:
        started = time.perf_counter()
        (reply,) = backend(server, timeout_s=0.3, retries=1).generate([Request("q")])
        elapsed = time.perf_counter() - started
    assert reply.text == "on time" and len(server.requests) == 2
    assert elapsed < 1.4


def test_a_server_that_never_answers_in_time_gives_a_timeout_error():
    with ChatServer(lambda body, attempt: Scripted(text="late", delay=1.0)) as server:
        (reply,) = backend(server, timeout_s=0.2, retries=1).generate([Request("q")])
    assert reply.text == "" and "within 0.2s" in reply.error


@pytest.mark.parametrize("raw", [b"not json at all", b'{"choices": []}', b'{"id": "x"}'],
                         ids=["not-json", "no-choices", "no-message"])
def test_malformed_json_is_retried_then_reported(raw):
    def respond(body, attempt):
        return Scripted(raw=raw) if attempt == 0 else Scripted(text="fine")

    with ChatServer(respond) as server:
        (good,) = backend(server, retries=1).generate([Request("q")])
    assert good.text == "fine"
    with ChatServer(lambda body, attempt: Scripted(raw=raw)) as server:
        (bad,) = backend(server, retries=1).generate([Request("q")])
    assert "malformed JSON" in bad.error and len(server.requests) == 2


def test_an_unreachable_server_is_an_error_not_a_crash():
    with ChatServer(lambda body, attempt: Scripted(text="x")) as server:
        url = server.url
    (reply,) = OpenAIBackend(ModelConfig(backend="openai", model="m", base_url=url, retries=1, backoff_s=0.01,
                                         timeout_s=1.0)).generate([Request("q")])
    assert "cannot reach" in reply.error or "within" in reply.error


def test_images_travel_as_jpeg_data_urls_before_the_prompt_with_the_system_message():
    frame = np.zeros((60, 80, 3), np.uint8)
    frame[:, :40] = (200, 30, 30)
    with ChatServer(lambda body, attempt: Scripted(text="seen")) as server:
        backend(server).generate([Request("what is this?", (frame, frame), system="be brief", max_new_tokens=9)])
    (body,) = server.requests
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    parts = body["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    assert body["max_tokens"] == 9 and body["model"] == "scripted" and body["temperature"] == 0
    decoded = images(body)
    assert decoded[0].shape == (60, 80, 3)
    assert np.abs(decoded[0].astype(int) - frame.astype(int)).mean() < 4  # JPEG, so close, not equal


def test_the_api_key_is_sent_but_never_stored_logged_or_reported(monkeypatch, caplog):
    secret = "sk-test-3f9a1c0ffee"
    monkeypatch.setenv("LVD2M_TEST_KEY", secret)
    caplog.set_level(logging.DEBUG)
    with ChatServer(lambda body, attempt: Scripted(status=401, raw=b'{"error": "no"}')) as server:
        api = backend(server, api_key_env="LVD2M_TEST_KEY")
        (reply,) = api.generate([Request("q")])
    assert server.headers[0]["Authorization"] == f"Bearer {secret}"
    assert secret not in reply.error and secret not in repr(api) and secret not in str(api.config)
    assert secret not in caplog.text


def test_no_key_in_the_environment_sends_no_authorization(monkeypatch):
    monkeypatch.delenv("LVD2M_ABSENT_KEY", raising=False)
    with ChatServer(lambda body, attempt: Scripted(text="ok")) as server:
        backend(server, api_key_env="LVD2M_ABSENT_KEY").generate([Request("q")])
    assert "Authorization" not in server.headers[0]


def test_a_reply_without_the_prefix_is_asked_again_with_a_reminder():
    def respond(body, attempt):
        if prompts.CAPTION_REMINDER in user_text(body):
            return Scripted(text="CAPTION: A dog runs across a wide beach at sunset.")
        return Scripted(text="Sure! A dog runs across a beach.")

    with ChatServer(respond) as server:
        (answer,) = ask(backend(server), [Request("merge these")], parse.caption, prompts.CAPTION_REMINDER, "CAPTION:")
    assert answer.value == "A dog runs across a wide beach at sunset."
    assert len(server.requests) == 2 and answer.tokens == 14


@pytest.mark.parametrize("text, problem", [("", "empty reply"), ("   ", "empty reply"),
                                           ("Here you go: a dog.", "no CAPTION: prefix"),
                                           ("CAPTION: " + "the dog " * 20, "degenerate")],
                         ids=["empty", "blank", "no-prefix", "loop"])
def test_a_reply_unusable_twice_is_refused_with_the_reason_and_the_raw_text(text, problem):
    with ChatServer(lambda body, attempt: Scripted(text=text)) as server:
        (answer,) = ask(backend(server), [Request("merge these")], parse.caption, prompts.CAPTION_REMINDER, "CAPTION:")
    assert answer.value is None and len(server.requests) == 2
    assert problem in answer.problem and "after one retry" in answer.problem
    assert repr(text[:20]).strip("'") in answer.reason()


def test_a_null_content_reply_counts_as_empty():
    with ChatServer(lambda body, attempt: Scripted(text=None)) as server:
        (reply,) = backend(server).generate([Request("q")])
    assert reply.error is None and reply.text == ""


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_the_key_never_reaches_the_other_origin(status, monkeypatch):
    secret = "sk-redirect-5ea1"
    monkeypatch.setenv("LVD2M_TEST_KEY", secret)
    with ChatServer(lambda body, attempt: Scripted(text="stolen")) as elsewhere:
        target = elsewhere.url + "/chat/completions"
        with ChatServer(lambda body, attempt: Scripted(status=status, raw=b"", headers={"Location": target})) as server:
            (reply,) = backend(server, api_key_env="LVD2M_TEST_KEY", retries=2).generate([Request("q")])
    assert elsewhere.requests == [] and elsewhere.gets == []  # nothing went there, so no key either
    assert len(server.requests) == 1  # a redirect is refused, not retried
    assert reply.text == "" and f"HTTP {status}" in reply.error and "not followed" in reply.error
    assert secret not in reply.error


def test_a_reply_that_trickles_in_past_the_deadline_is_a_timeout():
    # each byte arrives well within timeout_s, so only a deadline on the whole exchange ends it
    with ChatServer(lambda body, attempt: Scripted(text="slow " * 40, trickle=0.02)) as server:
        (reply,) = backend(server, timeout_s=0.5, retries=0).generate([Request("q")])
    assert reply.text == "" and "within 0.5s" in reply.error


def test_a_reply_over_the_size_cap_is_refused(monkeypatch):
    from lvd2m_builder.models import openai_api

    monkeypatch.setattr(openai_api, "MAX_REPLY_BYTES", 4096)
    with ChatServer(lambda body, attempt: Scripted(text="x" * 10_000)) as server:
        (big,) = backend(server, retries=2).generate([Request("q")])
    assert big.text == "" and "larger than 4096 bytes" in big.error and len(server.requests) == 1
    with ChatServer(lambda body, attempt: Scripted(text="small enough")) as server:
        (small,) = backend(server).generate([Request("q")])
    assert small.text == "small enough"


@pytest.mark.parametrize("usage", ['"seven"', "[]", '{"completion_tokens": "x"}', '{"completion_tokens": [3]}',
                                   '{"completion_tokens": -2}', '{"completion_tokens": null}', "7"],
                         ids=["string", "list", "count-string", "count-list", "negative", "null", "number"])
def test_a_malformed_usage_counts_no_tokens_and_keeps_the_text(usage):
    raw = ('{"choices": [{"message": {"role": "assistant", "content": "fine"}}], "usage": %s}' % usage).encode()
    with ChatServer(lambda body, attempt: Scripted(raw=raw)) as server:
        (reply,) = backend(server).generate([Request("q")])
    assert reply.error is None and reply.text == "fine" and reply.tokens == 0


def test_content_parts_that_are_not_text_are_skipped():
    raw = b'{"choices": [{"message": {"content": [{"text": "a "}, {"text": 5}, "junk", {"text": "dog"}]}}]}'
    with ChatServer(lambda body, attempt: Scripted(raw=raw)) as server:
        (reply,) = backend(server).generate([Request("q")])
    assert reply.error is None and reply.text == "a dog"


def test_credentials_in_base_url_are_sent_but_never_shown(monkeypatch, caplog):
    import base64

    monkeypatch.delenv("LVD2M_ABSENT_KEY", raising=False)
    caplog.set_level(logging.DEBUG)
    with ChatServer(lambda body, attempt: Scripted(status=503, raw=b"busy")) as server:
        url = server.url.replace("http://", "http://alice:pw-7731@") + "?api-key=qk-5512"
        api = backend(server, base_url=url, api_key_env="LVD2M_ABSENT_KEY", retries=1)
        (reply,) = api.generate([Request("q")])
    assert server.headers[0]["Authorization"] == "Basic " + base64.b64encode(b"alice:pw-7731").decode()
    assert server.paths[0] == "/v1/chat/completions?api-key=qk-5512"
    shown = [reply.error, repr(api), repr(api.config), caplog.text]
    assert "HTTP 503" in reply.error and "127.0.0.1" in reply.error
    assert not any(secret in text for text in shown for secret in ("alice", "pw-7731", "qk-5512"))


def test_credentials_in_base_url_reach_no_output_of_a_build(tmp_path):
    """Settings go into the manifest, every row's provenance and the card: all of them get the masked URL."""
    from lvd2m_builder.config import preset
    from lvd2m_builder.run.build import build

    (tmp_path / "zero.mp4").write_bytes(b"")  # rejected at probe: a row with provenance, and fast
    url = "https://alice:pw-7731@models.example:8443/v1?api-key=qk-5512"
    config = preset("paper").replace({"captions.vlm.backend": "openai", "captions.vlm.base_url": url,
                                      "semantic.vlm.backend": "openai", "semantic.vlm.base_url": url})
    out = tmp_path / "out"
    stats = build([str(tmp_path / "zero.mp4")], out, config, progress=False)
    assert stats["rejected"] == 1
    written = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert {"_manifest.json", "README.md", "stats.json"} <= written.keys()
    assert any(b"models.example:8443/v1" in data for data in written.values())  # where it ran is still said
    leaks = [name for name, data in written.items() for secret in (b"alice", b"pw-7731", b"qk-5512") if secret in data]
    assert leaks == []
