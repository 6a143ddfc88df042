"""Synthetic clips with exact shot-boundary ground truth, made with ffmpeg: for the cut tests and bench/cuts.py.

Every clip is built from camera moves over still pictures, so its truth is known to the frame: pans at a known
speed (long takes), hard cuts, fades through black or white and dissolves (``xfade``) between two pans, and white
flashes (one or two frames) inside a pan, which are not cuts. Stills come from :func:`texture` (seeded noise at
three scales, coloured at the coarsest, so optical flow is well posed) or from any picture the caller has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from lvd2m_builder.testing.samples import ENCODE, _run

Transition = Literal["cut", "fade_black", "fade_white", "dissolve"]
_XFADE = {"fade_black": "fadeblack", "fade_white": "fadewhite", "dissolve": "fade"}


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
    """A still of seeded colour blobs under grey noise at two finer scales: texture everywhere, layout by seed.

    Every layer is ffmpeg's ``noise`` with a fixed seed, scaled up, so the same seed gives the same bytes
    (``gradients`` ignores its seed for the layout).
    """
    def noise(cells: int, noise_seed: int, colour: bool = False) -> str:
        return (f"color=c=gray:s={max(width // cells, 2)}x{max(height // cells, 2)},"
                + ("format=yuv444p," if colour else "")
                + f"noise=alls=100:allf=u:all_seed={noise_seed},scale={width}x{height}:flags=bicubic")

    return _run(
        ["-f", "lavfi", "-i", noise(64, 3 * seed, colour=True),
         "-f", "lavfi", "-i", noise(16, 3 * seed + 1), "-f", "lavfi", "-i", noise(4, 3 * seed + 2),
         "-filter_complex", "[1][2]blend=all_mode=average,format=gbrp[n];[0]format=gbrp[g];"
         f"[g][n]blend=all_mode=overlay,noise=alls=30:allf=u:all_seed={seed}", "-frames:v", "1"],
        out,
    )


def _shot(label: str, frames: int, fps: int, still_width: int, size: tuple[int, int], px: float) -> str:
    """Filter-graph text for one shot: the still held ``frames`` frames (decoded once), a window panning over it.

    The window moves ``px`` pixels right per frame and bounces back at the still's edge (a real camera can too).
    """
    width, height = size
    room = max(still_width - width, 1)
    return (f"{label}loop=loop={frames - 1}:size=1:start=0,setpts=N/{fps}/TB,"
            f"crop={width}:{height}:'abs(mod(n*{px},{2 * room})-{room})':0,format=yuv420p")


def pan(out: Path, still: Path, still_width: int, seconds: float = 12.0, fps: int = 24, px_per_frame: float = 4,
        size: tuple[int, int] = (320, 240), flash_at: Optional[int] = None, flash_frames: int = 1) -> Truth:
    """One long take: a pan over ``still``; ``flash_at`` whites out ``flash_frames`` frames from that index."""
    vf = _shot("", round(seconds * fps), fps, still_width, size, px_per_frame)
    kind = f"pan {px_per_frame:g}px/frame"
    if flash_at is not None:
        vf += f",lutyuv=y=235:u=128:v=128:enable='between(n,{flash_at},{flash_at + flash_frames - 1})'"
        kind += f" + {flash_frames}-frame flash"
    _run(["-i", str(still), "-vf", vf, "-r", str(fps), *ENCODE], out)
    return Truth(out, kind, ())


def joined(out: Path, stills: tuple[Path, Path], still_width: int, transition: Transition, at: float = 6.0,
           seconds: float = 12.0, fps: int = 24, px_per_frame: float = 3, size: tuple[int, int] = (320, 240),
           length: float = 1.0) -> Truth:
    """Two pans over different stills joined at ``at`` seconds by a hard cut or a ``length``-second transition.

    The truth is the first frame of the second shot for a cut, the middle of the transition otherwise.
    """
    overlap = 0 if transition == "cut" else round(length * fps / 2)
    first = round(at * fps) + overlap
    second = round(seconds * fps) - round(at * fps) + overlap
    graph = (_shot("[0:v]", first, fps, still_width, size, px_per_frame) + "[a];"
             + _shot("[1:v]", second, fps, still_width, size, px_per_frame) + "[b];")
    if transition == "cut":
        graph += "[a][b]concat=n=2:v=1[v]"
    else:
        offset = (first - 2 * overlap) / fps
        graph += f"[a][b]xfade=transition={_XFADE[transition]}:duration={2 * overlap / fps:.6f}:offset={offset:.6f}[v]"
    truth = round(at * fps) / fps
    _run(["-i", str(stills[0]), "-i", str(stills[1]), "-filter_complex", graph, "-map", "[v]", "-r", str(fps),
          *ENCODE], out)
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

