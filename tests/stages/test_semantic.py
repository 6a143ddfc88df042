"""The semantic GOOD/BAD check, against a loopback server that judges the frames it is sent like a model would:
identical frames are BAD for content variation, a mostly white frame ("text only") is BAD for diversity."""

from __future__ import annotations

import numpy as np
import pytest

from fakes.chat_server import ChatServer, Scripted, images, user_text
from lvd2m_builder.config import ModelConfig, SemanticConfig
from lvd2m_builder.models import prompts
from lvd2m_builder.models.openai_api import OpenAIBackend
from lvd2m_builder.records import Clip, ClipRef, VideoInfo, to_reject
from lvd2m_builder.schema import REJECT_FEATURES
from lvd2m_builder.stages.batching import windows
from lvd2m_builder.stages.semantic import SemanticFilter


def clip(name: str, frames: list[np.ndarray], rejected: str | None = None) -> Clip:
    c = Clip(ref=ClipRef(uri=f"/videos/{name}.mp4", video_id=name), info=VideoInfo(24.0, 288, 12.0, 96, 64))
    c.frames["semantic"] = [(float(i), f) for i, f in enumerate(frames)]
    if rejected:
        c.reject("motion", rejected)
    return c


def moving(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 200, (24, 32, 3), dtype=np.uint8) for _ in range(8)]


def still() -> list[np.ndarray]:
    return [np.full((24, 32, 3), 90, np.uint8)] * 8


def text_card() -> list[np.ndarray]:
    return [np.full((24, 32, 3), 250, np.uint8) for _ in range(8)]


def judge(body: dict, attempt: int) -> Scripted:
    """A scripted VLM: it looks at the frames, and answers in the form the prompt asks for."""
    frames = images(body)
    question = user_text(body)
    if "variation" in question:
        return Scripted(text="BAD" if np.ptp([f.mean() for f in frames]) < 1 and frames[0].mean() < 200 else "GOOD")
    return Scripted(text="**BAD**, mostly text." if frames[0].mean() > 200 else "GOOD.")


def semantic(server: ChatServer, concurrency: int = 4) -> SemanticFilter:
    config = SemanticConfig(vlm=ModelConfig(backend="openai", model="judge", base_url=server.url,
                                            concurrency=concurrency, retries=0, backoff_s=0.0))
    return SemanticFilter(config, OpenAIBackend(config.vlm))


def test_keeps_clips_judged_good_twice_and_records_both_verdicts():
    clips = [clip("pan", moving(1)), clip("still", still()), clip("slides", text_card())]
    with ChatServer(judge) as server:
        out = list(semantic(server)(clips))
    assert [c.ref.video_id for c in out] == ["pan", "still", "slides"]
    pan, static, slides = out
    assert not pan.rejected and pan.semantic == {"content_variation": "GOOD", "visual_diversity": "GOOD"}
    assert static.rejection.stage == "semantic" and static.rejection.reason == "content_variation judged BAD"
    assert slides.semantic == {"content_variation": "GOOD", "visual_diversity": "BAD"}
    assert slides.rejection.reason == "visual_diversity judged BAD"
    assert pan.models["semantic"] == "openai:judge" and pan.models["prompts"] == prompts.VERSION
    assert all("semantic" not in c.frames for c in out)  # frames are let go once judged
    assert len(server.requests) == 6
    assert all(len(images(body)) == 8 and "8 images" in user_text(body) for body in server.requests)


def test_a_reject_keeps_its_verdicts_in_the_rejects_schema():
    with ChatServer(judge) as server:
        (static,) = semantic(server)([clip("still", still())])
    row = to_reject(static, {})
    assert row["semantic"] == {"content_variation": "BAD", "visual_diversity": "GOOD"}
    REJECT_FEATURES.encode_example(row)


def test_rejected_clips_pass_through_unasked_and_in_order():
    clips = [clip("a", moving(1)), clip("b", moving(2), rejected="flow too low"), clip("c", moving(3))]
    with ChatServer(judge) as server:
        out = list(semantic(server)(clips))
    assert [c.ref.video_id for c in out] == ["a", "b", "c"]
    assert out[1].rejection.stage == "motion" and out[1].semantic is None
    assert len(server.requests) == 4


def test_an_unreadable_answer_is_asked_once_more_then_rejected_with_the_answer():
    def respond(body, attempt):
        return Scripted(text="GOOD") if prompts.VERDICT_REMINDER in user_text(body) else Scripted(text="I think so.")

    with ChatServer(respond) as server:
        (ok,) = semantic(server)([clip("a", moving(1))])
    assert not ok.rejected and len(server.requests) == 4

    with ChatServer(lambda body, attempt: Scripted(text="The video is nice and good.")) as server:
        (bad,) = semantic(server)([clip("a", moving(1))])
    assert bad.rejection.stage == "semantic"
    assert "no capitalized GOOD or BAD in the answer (after one retry)" in bad.rejection.reason
    assert "'The video is nice and good.'" in bad.rejection.reason
    assert bad.semantic == {"content_variation": None, "visual_diversity": None}


def test_a_failing_server_rejects_the_clip_with_the_error():
    with ChatServer(lambda body, attempt: Scripted(status=500, raw=b"boom")) as server:
        (c,) = semantic(server)([clip("a", moving(1))])
    assert c.rejection.stage == "semantic" and "backend: HTTP 500" in c.rejection.reason
    assert len(server.requests) == 2  # no second ask: the backend already retried (here 0 times)


def test_a_clip_without_frames_is_rejected_not_sent():
    c = clip("a", moving(1))
    c.frames.clear()
    with ChatServer(judge) as server:
        (out,) = semantic(server)([c])
    assert out.rejection.reason == "no frames were sampled for the semantic check" and not server.requests


@pytest.mark.parametrize("size, rejected, expected", [
    (2, [], [2, 2, 1]), (2, [1, 2], [4, 1]), (1, [0, 1, 2, 3, 4], [4, 1]),
], ids=["even", "rejects-ride-along", "window-cap"])
def test_windows_hold_size_live_clips_and_keep_order(size, rejected, expected):
    clips = [clip(str(i), moving(i), rejected="x" if i in rejected else None) for i in range(5)]
    got = list(windows(clips, size))
    assert [len(w) for w in got] == expected
    assert [c for w in got for c in w] == clips


def test_grid_mode_sends_one_image_and_says_so():
    grid = np.full((100, 80, 3), 120, np.uint8)
    c = clip("a", [grid])
    with ChatServer(lambda body, attempt: Scripted(text="GOOD")) as server:
        config = SemanticConfig(grid_cols=2, vlm=ModelConfig(backend="openai", model="judge", base_url=server.url))
        (out,) = SemanticFilter(config, OpenAIBackend(config.vlm))([c])
    assert not out.rejected
    assert all(len(images(b)) == 1 and "This image is a grid of 8 frames" in user_text(b) for b in server.requests)
