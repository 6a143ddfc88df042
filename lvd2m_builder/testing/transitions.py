"""Synthetic clips with exact shot-boundary ground truth, drawn in numpy: for the cut tests and bench/cuts.py.

Every clip is built from camera moves over still pictures, so its truth is known to the frame: pans at a known
speed (long takes), hard cuts, fades through black or white and dissolves between two pans, and white flashes
(one or two frames) inside a pan, which are not cuts. Stills come from :func:`texture` (seeded noise at three
scales, coloured at the coarsest, so optical flow is well posed) or from any picture the caller has. Clips are
encoded with PyAV (``media/encode.py``): the same stills give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal, Optional

import numpy as np
from PIL import Image

from lvd2m_builder.media.encode import write_video

Transition = Literal["cut", "fade_black", "fade_white", "dissolve"]


@dataclass(frozen=True)
class Truth:
    """What a synthetic clip holds: its shot boundaries (seconds from clip start) and what made it."""

    path: Path
    kind: str
    cuts: tuple[float, ...]

    @property
    def long_take(self) -> bool:
        return not self.cuts


def texture(out: Path, width: int, height: int, seed: int) -> Path:
    """A PNG of seeded colour blobs under grey noise at two finer scales: texture everywhere, layout by seed.

    Each layer is uniform noise on a coarse grid scaled up bicubically (Pillow's fixed-point resampler, so the
    same seed gives the same pixels), then a fine grain on top.
    """
    rng = np.random.default_rng(seed)

    def layer(cells: int, channels: int) -> np.ndarray:
        small = rng.integers(0, 256, (max(height // cells, 2), max(width // cells, 2), channels), dtype=np.uint8)
        picture = Image.fromarray(small if channels == 3 else small[:, :, 0])
        return np.asarray(picture.resize((width, height), Image.BICUBIC), dtype=np.float64).reshape(height, width, -1)

    colour = layer(64, 3)
    grey = (layer(16, 1) + layer(4, 1)) / 2
    # overlay blend: the grey noise lightens or darkens the colour blobs
    mixed = np.where(colour < 128, 2 * colour * grey / 255, 255 - 2 * (255 - colour) * (255 - grey) / 255)
    mixed += rng.uniform(-30, 30, (height, width, 1))
    Image.fromarray(np.clip(mixed, 0, 255).round().astype(np.uint8)).save(out)
    return out


def _picture(still: Path) -> np.ndarray:
    return np.asarray(Image.open(still).convert("RGB"))


def _shot(picture: np.ndarray, frames: int, size: tuple[int, int], px: float) -> Iterator[np.ndarray]:
    """A window of ``size`` panning ``px`` pixels a frame over ``picture``, bouncing back at its edges.

    The window starts at the right edge and moves left, as a camera sweeping a scene and back would.
    """
    width, height = size
    room = max(picture.shape[1] - width, 1)
    for n in range(frames):
        x = int(abs((n * px) % (2 * room) - room))
        yield picture[:height, x : x + width]


def pan(out: Path, still: Path, still_width: int, seconds: float = 12.0, fps: int = 24, px_per_frame: float = 4,
        size: tuple[int, int] = (320, 240), flash_at: Optional[int] = None, flash_frames: int = 1) -> Truth:
    """One long take: a pan over ``still``; ``flash_at`` whites out ``flash_frames`` frames from that index."""
    picture = _picture(still)[:, :still_width]
    frames = _shot(picture, round(seconds * fps), size, px_per_frame)
    kind = f"pan {px_per_frame:g}px/frame"
    if flash_at is not None:
        white = np.full((size[1], size[0], 3), 255, dtype=np.uint8)
        frames = (white if flash_at <= n < flash_at + flash_frames else frame for n, frame in enumerate(frames))
        kind += f" + {flash_frames}-frame flash"
    write_video(out, frames, fps)
    return Truth(out, kind, ())


def _blend(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """``a`` x (1 - weight) + ``b`` x weight, rounded."""
    return (a * (1.0 - weight) + b.astype(np.float64) * weight).round().astype(np.uint8)


def _mix(transition: Transition, a: np.ndarray, b: np.ndarray, progress: float) -> np.ndarray:
    """The frame ``progress`` (0..1) of the way through a transition from ``a`` to ``b``.

    Fades go to the colour over the first half and come out of it over the second, so the boundary is the
    middle; a dissolve crosses linearly.
    """
    if transition == "dissolve":
        return _blend(a, b, progress)
    colour = np.zeros_like(a) if transition == "fade_black" else np.full_like(a, 255)
    return _blend(a, colour, 2 * progress) if progress < 0.5 else _blend(colour, b, 2 * progress - 1)


def joined(out: Path, stills: tuple[Path, Path], still_width: int, transition: Transition, at: float = 6.0,
           seconds: float = 12.0, fps: int = 24, px_per_frame: float = 3, size: tuple[int, int] = (320, 240),
           length: float = 1.0) -> Truth:
    """Two pans over different stills joined at ``at`` seconds by a hard cut or a ``length``-second transition.

    The truth is the first frame of the second shot for a cut, the middle of the transition otherwise.
    """
    boundary, total = round(at * fps), round(seconds * fps)
    overlap = 0 if transition == "cut" else round(length * fps / 2)
    begin = boundary - overlap  # the second shot's first frame, seen from here on (through the transition)
    first = _shot(_picture(stills[0])[:, :still_width], boundary + overlap, size, px_per_frame)
    second = _shot(_picture(stills[1])[:, :still_width], total - begin, size, px_per_frame)

    def frames() -> Iterator[np.ndarray]:
        for n in range(total):
            a = next(first) if n < boundary + overlap else None
            b = next(second) if n >= begin else None
            if b is None:
                yield a
            elif a is None:
                yield b
            else:
                yield _mix(transition, a, b, (n - begin + 0.5) / (2 * overlap))

    write_video(out, frames(), fps)
    truth = boundary / fps
    return Truth(out, f"{transition.replace('_', ' ')} at {truth:.2f}s", (truth,))


def suite(directory: Path, stills: tuple[Path, Path], still_width: int, fps: int = 24, seconds: float = 12.0,
          size: tuple[int, int] = (320, 240), speeds: tuple[float, ...] = (2, 4, 8),
          transitions: tuple[Transition, ...] = ("cut", "fade_black", "fade_white", "dissolve")) -> list[Truth]:
    """Pans at ``speeds``, a one-frame and a two-frame flash (long takes), and one clip per transition."""
    directory.mkdir(parents=True, exist_ok=True)
    common = {"still_width": still_width, "fps": fps, "seconds": seconds, "size": size}
    made = [pan(directory / f"pan{s:g}.mp4", stills[0], px_per_frame=s, **common) for s in speeds]
    made.append(pan(directory / "flash1.mp4", stills[0], px_per_frame=4, flash_at=round(0.44 * seconds * fps),
                    **common))
    made.append(pan(directory / "flash2.mp4", stills[1], px_per_frame=2, flash_at=round(0.59 * seconds * fps),
                    flash_frames=2, **common))
    for transition in transitions:
        made.append(joined(directory / f"{transition}.mp4", stills, transition=transition, at=seconds / 2, **common))
    return made


def texture_pair(directory: Path, width: int, height: int) -> tuple[Path, Path]:
    """Two unrelated textured stills (seeds 1 and 2), made once per directory."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in (1, 2):
        path = directory / f"texture{seed}-{width}x{height}.png"
        if not path.exists():
            texture(path, width, height, seed)
        paths.append(path)
    return paths[0], paths[1]

