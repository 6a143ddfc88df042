"""Shared fixtures: clips the tests make with PyAV (session-scoped, made once), the real sample videos, and the
check that torchcodec (the decoder ``datasets.Video`` uses) can load the system's FFmpeg libraries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lvd2m_builder import samples

SHARED_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
SHARED_MANIFEST = SHARED_VIDEOS.parent / "manifest.json"


@pytest.fixture(scope="session")
def torchcodec() -> None:
    """Skip, in one line, where torchcodec cannot load FFmpeg's shared libraries (it takes them from the system:
    everything else here uses PyAV's own copy)."""
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401  (loading it loads libavcodec & co.)
    except (ImportError, OSError, RuntimeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        pytest.skip(f"torchcodec finds no system FFmpeg libraries (Debian: apt-get install libavdevice59): {first}")


@pytest.fixture(scope="session")
def clips_dir(tmp_path_factory) -> Path:
    """Synthetic clips with exact ground truth: see lvd2m_builder.samples."""
    directory = tmp_path_factory.mktemp("clips")
    samples.make_demo_set(directory)
    return directory


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    if not SHARED_VIDEOS.is_dir():
        pytest.skip(f"real sample videos not found at {SHARED_VIDEOS} (a fresh clone has no ../shared)")
    return SHARED_VIDEOS


@pytest.fixture(scope="session")
def manifest(shared_videos) -> dict:
    return json.loads(SHARED_MANIFEST.read_text())["videos"]
