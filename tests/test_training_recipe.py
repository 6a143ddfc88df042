"""The README's training recipe, run as it is written there, over a real build of uncaptioned clips."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from datasets import load_dataset
from torch.utils.data import default_collate

from fakes import REPO_ROOT
from fakes.cli_runner import keys, lvd2m

README = REPO_ROOT / "README.md"


def recipe_blocks() -> list[str]:
    section = README.read_text().split("## Train on it")[1].split("\n## ")[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, clips_dir) -> Path:
    """A folder holding ``lvd2m/``: two accepted clips with their videos, and no captions (no model here)."""
    work = tmp_path_factory.mktemp("train")
    result = lvd2m("build", clips_dir, "--out", work / "lvd2m", "--embed-videos", "--set", "motion.min_score=0",
                   "--no-progress")
    assert result.returncode == 0, result.stderr
    return work


def run(block: str, workdir: Path, monkeypatch, rank: int = 0, world_size: int = 1, namespace=None) -> dict:
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", str(world_size))
    namespace = {"__name__": "recipe"} if namespace is None else namespace
    exec(compile(block, str(README), "exec"), namespace)
    return namespace


def test_the_rows_need_a_null_safe_collate(workdir):
    rows = list(load_dataset(str(workdir / "lvd2m"), streaming=True)["train"])
    assert len(rows) == 2 and all(row["refined_caption"] is None for row in rows)
    with pytest.raises(TypeError):
        default_collate(rows)


def test_the_dataloader_recipe_streams_every_row(workdir, monkeypatch):
    namespace = run(recipe_blocks()[0], workdir, monkeypatch)
    batches = list(namespace["loader"])
    assert sorted(key for batch in batches for key in batch["key"]) == keys(workdir / "lvd2m")
    assert all(caption == "" for batch in batches for caption in batch["refined_caption"])
    assert all(batch["duration"].dtype == torch.float32 and (batch["duration"] > 10).all() for batch in batches)


def test_split_dataset_by_node_gives_each_rank_its_own_rows(workdir, monkeypatch):
    seen = []
    for rank in (0, 1):
        namespace = run(recipe_blocks()[0], workdir, monkeypatch, rank=rank, world_size=2)
        seen.append([key for batch in namespace["loader"] for key in batch["key"]])
    assert all(len(part) == 1 for part in seen) and sorted(seen[0] + seen[1]) == keys(workdir / "lvd2m")


def test_the_videos_recipe_decodes_frames_with_torchcodec(workdir, monkeypatch):
    try:
        from torchcodec.decoders import VideoDecoder

        VideoDecoder(next((workdir / "lvd2m" / "clips").glob("*.mp4")).read_bytes())[0]
    except (ImportError, OSError, RuntimeError) as e:  # torchcodec without the system's FFmpeg libraries
        pytest.skip(f"torchcodec cannot decode here: {type(e).__name__}: {e}")
    namespace = run(recipe_blocks()[0], workdir, monkeypatch)
    run(recipe_blocks()[1], workdir, monkeypatch, namespace=namespace)
    ((frames, captions),) = list(namespace["clip_loader"])
    assert frames.shape == (2, 16, 3, 256, 256) and frames.dtype == torch.uint8 and captions == ["", ""]
    assert frames.float().std() > 5  # real pictures, not a blank tensor
