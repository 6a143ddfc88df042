"""Synthetic sample clips with exact ground truth, drawn in numpy and encoded with PyAV (``media/encode.py``).

Used by ``lvd2m build --demo`` (the README's first command), the tests and the benchmarks, so a fresh clone
needs no downloaded media and no ``ffmpeg`` program. Each clip's expected fate is known: a pan at a known speed
(accepted), a still (rejected for motion), a hard cut (rejected for cuts), a short clip (rejected for duration),
a corrupt file. The same arguments and seed give the same bytes (libx264 on one thread).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from lvd2m_builder.media.encode import write_video

log = logging.getLogger(__name__)

#: 75% colour bars, as broadcast test patterns draw them: grey, yellow, cyan, green, magenta, red, blue.
BARS = np.array([[191, 191, 191], [191, 191, 0], [0, 191, 191], [0, 191, 0], [191, 0, 191], [191, 0, 0],
                 [0, 0, 191]], dtype=np.uint8)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a float image along both axes, edges repeated.

    Plain numpy in float64 (a sum of shifted copies) so the result, and the clip's bytes, depend on nothing
    but the input: OpenCV's SIMD paths may round differently from one CPU to the next.
    """
    radius = int(3 * sigma + 0.5)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    for axis in (0, 1):
        padded = np.pad(image, [(radius, radius) if a == axis else (0, 0) for a in range(image.ndim)], mode="edge")
        size = image.shape[axis]
        image = sum(w * np.take(padded, np.arange(k, k + size), axis=axis) for k, w in enumerate(kernel))
    return image


def still(width: int, height: int, seed: int = 1) -> np.ndarray:
    """Grey smoothed random noise (RGB): texture at every pixel, so optical flow is well posed everywhere.

    (Flat colour bars leave DIS guessing: its mean flow on a 72 px pan came out 62-84 px.)
    """
    noise = blur(np.random.default_rng(seed).random((height, width)), sigma=4.0)
    grey = np.clip((noise - noise.mean()) / noise.std() * 40 + 128, 0, 255).round().astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def pan_frames(seconds: float, fps: int, px_per_frame: int, size: tuple[int, int],
               seed: int = 1) -> Iterator[np.ndarray]:
    """A window of ``size`` moving right by ``px_per_frame`` whole pixels a frame over a :func:`still`."""
    width, height = size
    frames = round(seconds * fps)
    picture = still(width + px_per_frame * frames + 8, height, seed)
    for n in range(frames):
        yield picture[:, n * px_per_frame : n * px_per_frame + width]


def pattern_frames(seconds: float, fps: int, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Colour bars over a grey band that brightens with time and a white box that slides along it.

    Every frame differs from the others (the band's level says the time), but far less than from any other
    footage: a long take for the cut detector, a shot whose frames tell apart for the preview's thumbnails.
    """
    width, height = size
    frames = round(seconds * fps)
    band = 2 * height // 3
    bars = BARS[np.arange(width) * len(BARS) // width]
    box = max(height // 8, 2)
    for n in range(frames):
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[:band] = bars
        frame[band:] = round(255 * n / max(frames - 1, 1))
        left = (n * 2) % (width - box)
        frame[band + (height - band - box) // 2 :][:box, left : left + box] = 255 - frame[band, 0]
        yield frame


def counter_frames(count: int, bits: int = 9, stripe: int = 20, height: int = 96) -> Iterator[np.ndarray]:
    """Frames that show their own index in binary: bit b white or black in columns [b x stripe, (b+1) x stripe).

    Read back with :func:`counter_index`: which frame a decoder returned, whatever its timestamps say.
    """
    column = np.arange(bits * stripe) // stripe
    for n in range(count):
        row = ((n >> column) & 1).astype(np.uint8) * 255
        yield np.repeat(np.repeat(row[None, :, None], height, axis=0), 3, axis=2)


def counter_index(frame: np.ndarray, bits: int = 9, stripe: int = 20) -> int:
    """The index a :func:`counter_frames` frame shows (H x W x C, or C x H x W as torchcodec gives it)."""
    row = frame[frame.shape[0] // 2, :, 0] if frame.shape[-1] in (1, 3) else frame[0, frame.shape[1] // 2, :]
    return sum(1 << b for b in range(bits) if row[b * stripe + stripe // 2] > 128)


def pan(out: Path, seconds: float = 12.0, fps: int = 24, px_per_frame: int = 2, size: tuple[int, int] = (320, 240),
        seed: int = 1) -> Path:
    """A long take with known motion: ``px_per_frame`` pixels a frame across a still of noise."""
    return write_video(out, pan_frames(seconds, fps, px_per_frame, size, seed), fps)


def static(out: Path, seconds: float = 12.0, fps: int = 24, seed: int = 1) -> Path:
    """A still picture held for ``seconds``: a long take with zero motion."""
    return pan(out, seconds, fps, px_per_frame=0, seed=seed)


def hard_cut(out: Path, seconds: float = 12.0, fps: int = 24, at: float = 6.0, seed: int = 2) -> Path:
    """Two unrelated shots joined at ``at`` seconds: colour bars, then a pan over grey noise. One hard cut."""
    size = (320, 240)
    first = pattern_frames(at, fps, size)
    second = pan_frames(seconds - at, fps, 2, size, seed)
    return write_video(out, (frame for shot in (first, second) for frame in shot), fps)


def corrupt(out: Path) -> Path:
    """Bytes that look like an mp4 by name only."""
    out.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4096))
    return out


def make_demo_set(directory: Path) -> list[Path]:
    """The demo's inputs: one clip for each fate the pipeline can give; made once and reused."""
    directory.mkdir(parents=True, exist_ok=True)
    makers = {
        "pan_long_take.mp4": pan,
        "still_long_take.mp4": static,
        "hard_cut.mp4": hard_cut,
        "short_pan.mp4": lambda p: pan(p, seconds=5.0),
        "corrupt.mp4": corrupt,
    }
    paths = []
    for name, make in makers.items():
        path = directory / name
        if not path.exists():
            log.info("making sample %s", path)
            make(path)
        paths.append(path)
    return paths


def default_samples_dir() -> Path:
    """``$LVD2M_CACHE/samples``, else the user's cache folder (``$XDG_CACHE_HOME/lvd2m``)."""
    cache = os.environ.get("LVD2M_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lvd2m"
    return Path(cache) / "samples"
