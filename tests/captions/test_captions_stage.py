"""The caption stage against a loopback server: one grid per segment to the VLM, the chronological list to the
LLM, the optional rewrite, the row's fields, and the rejects for unusable replies."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from fakes.chat_server import ChatServer, Scripted, images, user_text
from lvd2m_builder.config import CaptionConfig, ModelConfig
from lvd2m_builder.models import prompts
from lvd2m_builder.models.openai_api import OpenAIBackend
from lvd2m_builder.records import Clip, ClipRef, VideoInfo, to_row
from lvd2m_builder.schema import ROW_FEATURES
from lvd2m_builder.stages.captions import CaptionStage
from lvd2m_builder.stages.segments import split

SHADES = {0: "black", 60: "dark grey", 120: "grey", 180: "light grey"}


def clip(name: str, duration: float, shade0: int = 0) -> Clip:
    """A clip whose segment grids are solid shades, 60 apart, so the scripted VLM can tell them apart."""
    c = Clip(ref=ClipRef(uri=f"/v/{name}.mp4", video_id=name), info=VideoInfo(24.0, int(duration * 24), duration, 96, 64))
    bounds = split(duration)
    c.frames["captions"] = [(start, np.full((40, 30, 3), shade0 + 60 * i, np.uint8)) for i, (start, _) in enumerate(bounds)]
    return c


def model(body: dict, attempt: int) -> Scripted:
    """A scripted VLM + LLM: it names the shade of the grid it sees, and merges what it is given."""
    text = user_text(body)
    grids = images(body)
    if grids:
        seconds = re.search(r"a (\d+)-second segment", text).group(1)
        shade = SHADES[min(SHADES, key=lambda s: abs(s - grids[0].mean()))]
        return Scripted(text=f"A {shade} wall fills the view for {seconds} seconds while the camera holds still.")
    if body["messages"][0]["content"] == prompts.REWRITE_SYSTEM:
        return Scripted(text="CAPTION: A wall changes shade.")
    found = re.findall(r"A ([a-z ]+) wall", text)
    return Scripted(text="CAPTION: The wall turns from " + " to ".join(found) + " over the video.")


def stage(server: ChatServer, **kw) -> CaptionStage:
    api = ModelConfig(backend="openai", model="scripted", base_url=server.url, concurrency=4, retries=0, backoff_s=0.0)
    config = CaptionConfig(vlm=api, llm=ModelConfig(**{**api.__dict__, "model": "scripted-llm"}), **kw)
    return CaptionStage(config, OpenAIBackend(config.vlm), OpenAIBackend(config.llm))


def test_each_segment_gets_its_own_grid_and_the_llm_merges_them_in_order():
    with ChatServer(model) as server:
        (c,) = stage(server)([clip("long", 75.0)])
    assert not c.rejected
    assert c.segments == [
        {"start": 0.0, "end": 30.0, "caption": "A black wall fills the view for 30 seconds while the camera holds still."},
        {"start": 30.0, "end": 60.0, "caption": "A dark grey wall fills the view for 30 seconds while the camera holds still."},
        {"start": 60.0, "end": 75.0, "caption": "A grey wall fills the view for 15 seconds while the camera holds still."},
    ]
    assert c.raw_caption == prompts.raw_caption([s["caption"] for s in c.segments])
    assert c.raw_caption.startswith("Caption 1: A black wall") and " Caption 3: A grey wall" in c.raw_caption
    assert c.refined_caption == "The wall turns from black to dark grey to grey over the video."
    assert c.rewritten_caption is None
    merge = server.requests[-1]
    assert merge["messages"][0] == {"role": "system", "content": prompts.MERGE_SYSTEM}
    assert c.raw_caption in user_text(merge)
    assert c.models == {"segments": "openai:scripted", "merge": "openai:scripted-llm", "prompts": prompts.VERSION}
    assert "captions" not in c.frames


def test_a_one_segment_clip_is_refined_not_merged_and_the_rewrite_is_optional():
    with ChatServer(model) as server:
        (c,) = stage(server, rewrite=True)([clip("short", 12.0, shade0=120)])
    assert [s["end"] for s in c.segments] == [12.0]
    refine = server.requests[1]
    assert refine["messages"][0]["content"] == prompts.REFINE_SYSTEM
    assert c.segments[0]["caption"] in user_text(refine)
    assert c.refined_caption == "The wall turns from grey over the video."
    assert c.rewritten_caption == "A wall changes shade."
    assert c.models["rewrite"] == "openai:scripted-llm"


def test_an_accepted_clip_makes_a_row_of_the_schema_with_its_models_in_provenance():
    with ChatServer(model) as server:
        (c,) = stage(server)([clip("long", 40.0)])
    row = to_row(c, {"captions": "settings"})
    ROW_FEATURES.encode_example(row)
    assert [s["start"] for s in row["segments"]] == [0.0, 30.0] and row["refined_caption"]
    assert json.loads(row["provenance"])["models"]["merge"] == "openai:scripted-llm"


def test_batches_segments_across_clips_and_keeps_clip_order():
    clips = [clip("a", 75.0), clip("b", 12.0), clip("c", 40.0)]
    with ChatServer(model) as server:
        out = list(stage(server)(clips))
    assert [c.ref.video_id for c in out] == ["a", "b", "c"]
    assert [len(c.segments) for c in out] == [3, 1, 2]
    assert len(server.requests) == 6 + 3
    assert server.max_in_flight > 1


def test_a_segment_that_loops_twice_rejects_the_clip_and_skips_its_merge():
    def respond(body, attempt):
        if images(body) and "a 30-second segment" in user_text(body) and images(body)[0].mean() > 30:
            return Scripted(text="wall wall wall wall wall wall wall wall")
        return model(body, attempt)

    with ChatServer(respond) as server:
        bad, good = list(stage(server)([clip("loops", 75.0), clip("fine", 12.0)]))
    assert bad.rejection.stage == "captions"
    assert bad.rejection.reason.startswith("segment 2 (30.0-60.0s): degenerate: a 1-word sequence repeats 8 times")
    assert "(after one retry)" in bad.rejection.reason and "'wall wall" in bad.rejection.reason
    assert bad.segments == [] and bad.refined_caption is None
    assert not good.rejected and good.refined_caption
    merges = [b for b in server.requests if not images(b)]
    assert len(merges) == 1 and "A black wall fills the view for 12 seconds" in user_text(merges[0])


@pytest.mark.parametrize("reply, why", [
    ("The wall turns grey.", "the reply has no CAPTION: prefix (after one retry)"),
    ("", "empty reply (after one retry)"),
    ("CAPTION: grey grey grey grey grey", "degenerate"),
], ids=["no-prefix", "empty", "loop"])
def test_an_unusable_merge_twice_rejects_the_clip_with_the_reason(reply, why):
    def respond(body, attempt):
        return model(body, attempt) if images(body) else Scripted(text=reply)

    with ChatServer(respond) as server:
        (c,) = stage(server)([clip("x", 40.0)])
    assert c.rejection.stage == "captions" and c.rejection.reason.startswith("merge: ")
    assert why in c.rejection.reason
    assert c.refined_caption is None
    merges = [b for b in server.requests if not images(b)]
    assert len(merges) == 2 and prompts.CAPTION_REMINDER in user_text(merges[1])


def test_a_failing_llm_rejects_that_clip_and_the_next_window_still_runs():
    def respond(body, attempt):  # the LLM is down for the one clip whose segment is dark grey
        if not images(body) and "dark grey" in user_text(body):
            return Scripted(status=503, raw=b"down")
        return model(body, attempt)

    clips = [clip("0", 12.0, shade0=60)] + [clip(str(i), 12.0) for i in range(1, 6)]
    with ChatServer(respond) as server:
        out = list(stage(server)(clips))  # 4 clips per window: two windows
    assert [c.rejected for c in out] == [True, False, False, False, False, False]
    assert out[0].rejection.reason.startswith("refine: backend: HTTP 503") and "down" in out[0].rejection.reason


def test_mismatched_grids_are_a_reject_not_a_crash():
    c = clip("x", 75.0)
    c.frames["captions"] = c.frames["captions"][:2]
    with ChatServer(model) as server:
        (out,) = stage(server)([c])
    assert out.rejection.reason == "2 frame grids for 3 segments" and not server.requests
