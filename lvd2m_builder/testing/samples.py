"""Synthetic sample clips with exact ground truth, made with ffmpeg's lavfi sources.

Used by ``lvd2m build --demo`` (the README's first command), the tests and the benchmarks, so a fresh clone
needs no downloaded media. Each clip's expected fate is known: a pan at a known speed (accepted), a still
(rejected for motion), a hard cut (rejected for cuts), a short clip (rejected for duration), a corrupt file.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from lvd2m_builder.errors import MissingDependencyError
from lvd2m_builder.store.atomic import atomic_path

log = logging.getLogger(__name__)

ENCODE = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-threads", "1", "-bitexact", "-an"]


def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise MissingDependencyError("ffmpeg (system package, e.g. apt-get install ffmpeg)", "test")
    return path


#: Containers by file extension: ffmpeg picks the container from the name, which the temporary name hides.
FORMATS = {".mp4": "mp4", ".png": "image2"}


def _run(args: list[str], out: Path) -> Path:
    with atomic_path(out) as tmp:
        subprocess.run([ffmpeg(), "-v", "error", "-y", *args, "-f", FORMATS[out.suffix.lower()], str(tmp)], check=True)
    return out


def still(out: Path, width: int = 1280, height: int = 240) -> Path:
    """A still of smoothed random noise: texture at every pixel, so optical flow is well posed everywhere.

    (testsrc2's flat colour bars leave DIS guessing: its mean flow on a 72 px pan came out 62-84 px.)
    """
    return _run(
        ["-f", "lavfi", "-i", f"color=c=gray:size={width}x{height}", "-vf",
         "format=gray,geq=lum='random(1)*255',gblur=sigma=4", "-frames:v", "1"],
        out,
    )


def pan(out: Path, seconds: float = 12.0, fps: int = 24, px_per_frame: int = 2, size: tuple[int, int] = (320, 240)) -> Path:
    """A window of ``size`` moving right by ``px_per_frame`` over a still: a long take with known motion."""
    width, height = size
    source = still(out.with_name(f".{out.stem}-still.png"), width + int(px_per_frame * fps * seconds) + 8, height)
    try:
        return _run(
            ["-loop", "1", "-framerate", str(fps), "-i", str(source), "-t", str(seconds),
             "-vf", f"crop={width}:{height}:'{px_per_frame}*n':0", *ENCODE],
            out,
        )
    finally:
        source.unlink(missing_ok=True)


def static(out: Path, seconds: float = 12.0, fps: int = 24) -> Path:
    """A still picture held for ``seconds``: a long take with zero motion."""
    return pan(out, seconds, fps, px_per_frame=0)


def hard_cut(out: Path, seconds: float = 12.0, fps: int = 24, at: float = 6.0) -> Path:
    """Two unrelated shots (testsrc2 then mandelbrot) joined at ``at`` seconds: one hard cut."""
    return _run(
        ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={fps}:duration={at}",
         "-f", "lavfi", "-i", f"mandelbrot=size=320x240:rate={fps}",
         "-filter_complex", f"[1:v]trim=duration={seconds - at},setpts=PTS-STARTPTS[b];[0:v][b]concat=n=2:v=1[v]",
         "-map", "[v]", *ENCODE],
        out,
    )


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
