"""Shared fixtures: clips the tests make with PyAV (session-scoped, made once), the real sample videos, and the
check that torchcodec (the decoder ``datasets.Video`` uses) can load the system's FFmpeg libraries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lvd2m_builder.testing import samples

#: ``../shared/data`` beside the repository root, found upwards so a copy of the tests one level deeper (mutmut
#: runs them from ``mutants/``) still finds it.
SHARED_VIDEOS = next((p / "shared" / "data" / "videos" for p in Path(__file__).resolve().parents[2:]
                      if (p / "shared" / "data" / "videos").is_dir()),
                     Path(__file__).resolve().parents[2] / "shared" / "data" / "videos")
SHARED_MANIFEST = SHARED_VIDEOS.parent / "manifest.json"


@pytest.fixture(scope="session")
def torchcodec() -> None:
    """Skip, in one line, where torchcodec cannot load FFmpeg's shared libraries (it takes them from the system:
    everything else here uses PyAV's own copy)."""
    try:
        import torchcodec  # it tries every FFmpeg major version it supports, once, on import
    except (ImportError, OSError, RuntimeError) as e:
        pytest.skip(f"torchcodec does not import: {(str(e).strip().splitlines() or [type(e).__name__])[0][:160]}")
    if torchcodec.ffmpeg_major_version is None:
        pytest.skip("torchcodec finds no FFmpeg shared libraries on this system (Debian 12: apt-get install "
                    "libavdevice59)")


@pytest.fixture(scope="session")
def clips_dir(tmp_path_factory) -> Path:
    """Synthetic clips with exact ground truth: see lvd2m_builder.testing.samples."""
    directory = tmp_path_factory.mktemp("clips")
    samples.make_demo_set(directory)
    return directory


@pytest.fixture(scope="session")
def many(tmp_path_factory, clips_dir) -> Path:
    """Twelve small clips: pans of several speeds and lengths, stills and cuts."""
    d = tmp_path_factory.mktemp("many")
    for i in range(4):
        samples.pan(d / f"pan{i}.mp4", seconds=10.5 + i, px_per_frame=1 + i)
        samples.static(d / f"still{i}.mp4", seconds=10.5 + i)
    for name in ("hard_cut.mp4", "short_pan.mp4", "corrupt.mp4", "pan_long_take.mp4"):
        shutil.copy(clips_dir / name, d / name)
    return d


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    if not SHARED_VIDEOS.is_dir():
        pytest.skip(f"real sample videos not found at {SHARED_VIDEOS} (a fresh clone has no ../shared)")
    return SHARED_VIDEOS


@pytest.fixture(scope="session")
def manifest(shared_videos) -> dict:
    return json.loads(SHARED_MANIFEST.read_text())["videos"]
