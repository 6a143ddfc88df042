"""Synthetic raw footage with many shots of known length: for the split tests and ``bench/split.py``.

A montage is a run of shots, each a pan at a known speed over one of a few textured stills
(``transitions.texture``), joined by hard cuts or by fades through black or white or dissolves of a known
length. Its truth is exact to the frame: each shot's clean frames (no transition frame), each boundary (the new
shot's first frame for a cut, the transition's middle otherwise) and each transition's frames. Frames are drawn
in numpy and encoded with PyAV one at a time, so a montage of an hour needs no more memory than one of a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from lvd2m_builder.media.encode import write_video
from lvd2m_builder.testing.transitions import Transition as Join
from lvd2m_builder.testing.transitions import _mix, texture  # fades and dissolves as the two-shot clips make them


@dataclass(frozen=True)
class Shot:
    """``seconds`` of a pan moving ``px_per_frame`` pixels a frame (0: a still shot), entered by ``join``; a
    gradual join lasts ``join_s`` seconds, in frames of its own between the two shots (before the first shot:
    a fade in from a solid colour, black for a dissolve)."""

    seconds: float
    px_per_frame: float = 2.0
    join: Join = "cut"
    join_s: float = 1.0


@dataclass(frozen=True)
class Montage:
    """What a montage holds, in frames: each shot's clean frames ``[first, end)``, each boundary between shots,
    and each transition's frames ``[first, end)`` (empty for a cut)."""

    path: Path
    fps: int
    frames: int
    shots: tuple[tuple[int, int], ...]
    boundaries: tuple[int, ...]
    transitions: tuple[tuple[int, int], ...]
    joins: tuple[Join, ...]
    lead_in: tuple[int, int] = (0, 0)  # the fade in before the first shot, if any

    def seconds(self, frame: int) -> float:
        return frame / self.fps


def _stills(directory: Path, count: int, width: int, height: int) -> list[np.ndarray]:
    """``count`` textured stills twice as wide as the picture, made once per directory."""
    directory.mkdir(parents=True, exist_ok=True)
    stills = []
    for seed in range(1, count + 1):
        path = directory / f"still{seed}-{2 * width}x{height}.png"
        if not path.exists():
            texture(path, 2 * width, height, seed)
        stills.append(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))
    return stills


def _pan(still: np.ndarray, width: int, px: float, start: int) -> Iterator[np.ndarray]:
    """A window ``width`` wide moving ``px`` a frame over ``still``, bouncing at its edges, from offset ``start``."""
    room = still.shape[1] - width
    n = 0
    while True:
        x = int(abs((start + n * px) % (2 * room) - room))
        yield still[:, x : x + width]
        n += 1


def montage(out: Path, shots: list[Shot], fps: int = 24, size: tuple[int, int] = (320, 240),
            stills: int = 4) -> Montage:
    """Encode ``shots`` into ``out`` (media/encode.py: the same shots give the same bytes); returns the truth.

    Consecutive shots pan over different stills (``stills`` of them, in turn) from different offsets.
    """
    width, height = size
    pictures = _stills(out.parent / ".stills", max(2, stills), width, height)
    layout, frame = [], 0
    for shot in shots:
        gradual = round(shot.join_s * fps) if shot.join != "cut" else 0
        layout.append(((frame, frame + gradual), (frame + gradual, frame + gradual + round(shot.seconds * fps))))
        frame += gradual + round(shot.seconds * fps)
    pans = [_pan(pictures[i % len(pictures)], width, shot.px_per_frame, 37 * i) for i, shot in enumerate(shots)]
    solid = np.full((height, width, 3), 255 if shots[0].join == "fade_white" else 0, dtype=np.uint8)
    pans.append(repeat(solid))  # pans[-1]: what the first shot fades in from

    def frames() -> Iterator[np.ndarray]:
        for i, ((t0, t1), (first, end)) in enumerate(layout):
            for n in range(t0, t1):  # the transition: the old shot's pan goes on while the new one's starts
                yield _mix(shots[i].join, next(pans[i - 1]), next(pans[i]), (n - t0 + 0.5) / (t1 - t0))
            for _ in range(first, end):
                yield next(pans[i])

    write_video(out, frames(), fps)
    transitions = tuple(gradual for gradual, _ in layout[1:])
    boundaries = tuple(first if t0 == first else (t0 + first) // 2 for (t0, first), _ in layout[1:])
    return Montage(out, fps, frame, tuple(clean for _, clean in layout), boundaries, transitions,
                   tuple(shot.join for shot in shots[1:]), layout[0][0])
