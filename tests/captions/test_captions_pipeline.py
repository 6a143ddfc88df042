"""``lvd2m build`` end to end with the model stages on an OpenAI-compatible loopback server: the cheap filters
run first, the kept clips are judged and captioned, and the rows stream back with segments and captions."""

from __future__ import annotations

import json
import re

import pytest
from datasets import load_dataset

from fakes.chat_server import ChatServer, Scripted, images, user_text
from lvd2m_builder.cli import main
from lvd2m_builder.models import prompts
from lvd2m_builder.schema import ROW_FEATURES
from lvd2m_builder.testing import samples


def model(body: dict, attempt: int) -> Scripted:
    text = user_text(body)
    if images(body) and "GOOD or BAD" in text:
        return Scripted(text="GOOD")
    if images(body):
        seconds = re.search(r"a (\d+)-second segment", text).group(1)
        return Scripted(text=f"A grey textured surface slides left as the camera pans right for {seconds} seconds.")
    if body["messages"][0]["content"] == prompts.REWRITE_SYSTEM:
        return Scripted(text="CAPTION: A camera pans across a grey wall.")
    return Scripted(text=f"CAPTION: The camera pans right across a grey textured surface ({text.count('pans right')} parts).")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    samples.pan(d / "pan12.mp4", seconds=12.0, fps=8, px_per_frame=6)  # 48 px/s, like the demo's pan
    samples.pan(d / "pan40.mp4", seconds=40.0, fps=8, px_per_frame=6)
    samples.static(d / "still.mp4", seconds=12.0, fps=8)
    return d


def test_build_judges_and_captions_the_clips_the_filters_kept(clips, tmp_path, capsys):
    out = tmp_path / "out"
    with ChatServer(model) as server:
        api = [f"--set={role}.backend=openai" for role in ("semantic.vlm", "captions.vlm", "captions.llm")]
        api += [f"--set={role}.base_url={server.url}" for role in ("semantic.vlm", "captions.vlm", "captions.llm")]
        code = main(["build", str(clips), "--out", str(out), "--no-progress", "--json", "--models", "paper",
                     "--set", "captions.rewrite=true", *api])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["accepted"] == 2 and summary["rejected_by_stage"] == {"motion": 1}

    rows = {r["video_id"]: r for r in load_dataset(str(out), streaming=True)["train"]}
    assert load_dataset(str(out), streaming=True)["train"].features == ROW_FEATURES
    short, long = rows["pan12"], rows["pan40"]
    assert short["semantic"] == {"content_variation": "GOOD", "visual_diversity": "GOOD"}
    assert [(s["start"], s["end"]) for s in short["segments"]] == [(0.0, pytest.approx(12.0, abs=0.1))]
    assert [(s["start"], s["end"]) for s in long["segments"]] == [(0.0, 30.0), (30.0, pytest.approx(40.0, abs=0.1))]
    assert long["segments"][1]["caption"].endswith("for 10 seconds.")
    assert long["raw_caption"].startswith("Caption 1: A grey") and "Caption 2: A grey" in long["raw_caption"]
    assert long["refined_caption"] == "The camera pans right across a grey textured surface (2 parts)."
    assert short["refined_caption"].endswith("(1 parts).")
    assert long["rewritten_caption"] == "A camera pans across a grey wall."
    models = json.loads(long["provenance"])["models"]
    assert models == {"semantic": "openai:llava-hf/llava-v1.6-vicuna-7b-hf",
                      "segments": "openai:llava-hf/llava-v1.6-34b-hf", "merge": "openai:Qwen/Qwen2.5-7B-Instruct",
                      "rewrite": "openai:Qwen/Qwen2.5-7B-Instruct", "prompts": prompts.VERSION}

    # the still was rejected by motion and never sent: 2 clips x 2 questions, 3 segments, 2 merges, 2 rewrites
    assert len(server.requests) == 4 + 3 + 2 + 2
    grids = [images(b) for b in server.requests if "-second segment" in user_text(b)]
    # 2 columns x 3 rows of 260 x 480 tiles (the sampler's 520 x 960 frames at tile_width 480), 8 px borders
    assert [[g.shape for g in grid] for grid in grids] == [[(3 * 260 + 4 * 8, 2 * 480 + 3 * 8, 3)]] * 3
    # --models paper: LLaVA-NeXT judges one 2 x 4 grid of the 8 frames (242 x 448 each), not 8 images
    judged = [images(b) for b in server.requests if "GOOD or BAD" in user_text(b)]
    assert [[g.shape for g in grid] for grid in judged] == [[(4 * 242 + 5 * 8, 2 * 448 + 3 * 8, 3)]] * 4
    assert all("a grid of 8 frames" in user_text(b) for b in server.requests if "GOOD or BAD" in user_text(b))
