"""A corpus of hostile inputs the fuzz test builds over, made on the spot with PyAV (never the ffmpeg program).

Each case is one input path and how many clips it lists (``Case.clips``): every one of them must leave the build
exactly once, as a row or a reject with a reason. Families:

- containers: a valid short take in each container we accept (MP4, MKV, WebM, AVI, MOV), and that file truncated,
  bit-flipped and empty;
- metadata: the header says something absurd (frame rate 0, 1e-9 or 90000; duration 0; 1x1 or 16384x16384; three
  hundred streams), patched into a valid file or written by the muxer as told;
- tars: webdataset shards with hostile member names (``..``, absolute, ``::``, newlines, 300 bytes), symlinks,
  directories named like videos, non-JSON and oversized ``KEY.json`` members;
- tables: CSV, Parquet and JSON Lines rows with hostile fields (NUL, bad UTF-8, unbalanced quotes, huge numbers,
  deep nesting, paths outside the table, URLs nobody answers).

Everything is seeded: the corpus is the same on every run. ``python -m fakes.fuzz_corpus ROOT`` writes it in a
process of its own and prints the cases as JSON: PyAV's VP8 encoder fails to open in a process that imported decord
first (decord's own FFmpeg libraries take its place), which a test session has usually done.
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

SIZE = (96, 64)  # small enough to encode in milliseconds, large enough for every encoder
FPS = 12
SECONDS = 10.5  # past the paper's 10 s gate, so valid takes go on to decode, cuts and motion
#: container -> (format, codec, pixel format)
CONTAINERS = {
    "mp4": ("mp4", "libx264", "yuv420p"),
    "mkv": ("matroska", "libx264", "yuv420p"),
    "webm": ("webm", "libvpx", "yuv420p"),
    "avi": ("avi", "mpeg4", "yuv420p"),
    "mov": ("mov", "libx264", "yuv420p"),
}


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    path: Path
    clips: int  # how many clips listing finds in it (videos: 1; a table: one per row or span)


def frames(count: int, size: tuple[int, int] = SIZE, seed: int = 0) -> list[np.ndarray]:
    """A texture panning right: real motion for the flow stage, no cut."""
    width, height = size
    rng = np.random.default_rng(seed)
    wide = rng.integers(0, 256, (height, width + count * 2, 3), dtype=np.uint8)
    return [wide[:, 2 * i : 2 * i + width] for i in range(count)]


def encode(path: Path, container: str = "mp4", seconds: float = SECONDS, fps: int = FPS,
           size: tuple[int, int] = SIZE, rate: int | None = None, extra_audio: int = 0) -> Path:
    """Write a short take with PyAV; ``rate`` is what the stream header claims when it differs from ``fps``."""
    import av

    fmt, codec, pix = CONTAINERS[container]
    time_base = Fraction(1, fps * 100)
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate or fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], pix
        stream.time_base = time_base
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "threads": "1"}
        audio = [out.add_stream("pcm_s16le", rate=8000) for _ in range(extra_audio)]
        for index, image in enumerate(frames(round(seconds * fps), size)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index * 100, time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
        for track in audio:
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
            samples.sample_rate, samples.pts = 8000, 0
            out.mux(track.encode(samples))
            out.mux(track.encode())
    return path


def truncated(src: Path, dst: Path, keep: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def bit_flipped(src: Path, dst: Path, share: float = 0.004, seed: int = 1) -> Path:
    """``share`` of the bytes each get one bit flipped, headers included."""
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(seed)
    for at in rng.choice(len(data), max(1, int(len(data) * share)), replace=False):
        data[at] ^= 1 << int(rng.integers(8))
    dst.write_bytes(bytes(data))
    return dst


def _boxes(data: bytes, kind: bytes) -> list[int]:
    """Offsets of the payloads of every MP4 box of type ``kind`` (found by its type code)."""
    found, at = [], data.find(kind)
    while at >= 4:
        found.append(at + 4)
        at = data.find(kind, at + 4)
    return found


def patched_mp4(src: Path, dst: Path, patch: Callable[[bytearray], None]) -> Path:
    data = bytearray(src.read_bytes())
    patch(data)
    dst.write_bytes(bytes(data))
    return dst


def _set_stts_deltas(delta: int) -> Callable[[bytearray], None]:
    def patch(data: bytearray) -> None:
        for at in _boxes(bytes(data), b"stts"):  # version/flags, entry count, then (count, delta) pairs
            (entries,) = struct.unpack_from(">I", data, at + 4)
            for entry in range(entries):
                struct.pack_into(">I", data, at + 8 + 8 * entry + 4, delta)
    return patch


def _set_timescale(scale: int) -> Callable[[bytearray], None]:
    def patch(data: bytearray) -> None:
        for at in _boxes(bytes(data), b"mdhd"):  # version 0: flags(4) created(4) modified(4) timescale(4)
            struct.pack_into(">I", data, at + 12, scale)
    return patch


def _set_durations_zero(data: bytearray) -> None:
    for kind, offset in ((b"mvhd", 16), (b"mdhd", 16), (b"tkhd", 20)):  # version 0 layouts
        for at in _boxes(bytes(data), kind):
            struct.pack_into(">I", data, at + offset, 0)


def _set_size(width: int, height: int) -> Callable[[bytearray], None]:
    def patch(data: bytearray) -> None:
        for at in _boxes(bytes(data), b"tkhd"):  # display size, 16.16 fixed point, at the end of a v0 tkhd
            struct.pack_into(">II", data, at + 76, width << 16, height << 16)
        for at in _boxes(bytes(data), b"avc1"):  # the sample entry's coded size
            struct.pack_into(">HH", data, at + 24, width, height)
    return patch


def video_cases(root: Path) -> list[Case]:
    directory = root / "videos"
    directory.mkdir(parents=True)
    cases = []
    for container in CONTAINERS:
        valid = encode(directory / f"valid.{container}", container)
        cases += [
            Case("container", f"valid-{container}", valid, 1),
            Case("container", f"truncated-{container}", truncated(valid, directory / f"trunc.{container}", 0.4), 1),
            Case("container", f"header-only-{container}", truncated(valid, directory / f"head.{container}", 0.02), 1),
            Case("container", f"bit-flipped-{container}", bit_flipped(valid, directory / f"flip.{container}"), 1),
            Case("container", f"empty-{container}", _write(directory / f"empty.{container}", b""), 1),
        ]
    base = directory / "valid.mp4"
    short = encode(directory / "short-base.mp4", seconds=1.0)
    metadata = [
        ("fps-0", patched_mp4(base, directory / "fps0.mp4", _set_stts_deltas(0))),
        ("fps-1e-9", patched_mp4(base, directory / "fps1e-9.mp4", _chain(_set_timescale(1), _set_stts_deltas(10**9)))),
        ("fps-90000-header", encode(directory / "fps90000.mkv", "mkv", rate=90000)),
        ("fps-90000-timescale", patched_mp4(base, directory / "ts90000.mp4", _set_timescale(90000 * 100))),
        ("duration-0", patched_mp4(base, directory / "dur0.mp4", _set_durations_zero)),
        ("size-1x1", patched_mp4(base, directory / "one.mp4", _set_size(1, 1))),
        ("size-16384", patched_mp4(base, directory / "huge.mp4", _set_size(16384, 16384))),
        ("tiny-2x2", encode(directory / "tiny.mp4", size=(2, 2))),
        ("300-streams", encode(directory / "streams.mkv", "mkv", seconds=1.0, extra_audio=300)),
        ("short", short),
    ]
    cases += [Case("metadata", name, path, 1) for name, path in metadata]
    return cases


def _chain(*patches: Callable[[bytearray], None]) -> Callable[[bytearray], None]:
    def patch(data: bytearray) -> None:
        for one in patches:
            one(data)
    return patch


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _member(tar: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE,
            link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname = (len(data) if kind == tarfile.REGTYPE else 0), kind, link
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def tar_cases(root: Path, video: bytes) -> list[Case]:
    directory = root / "tars"
    directory.mkdir(parents=True)
    hostile = directory / "hostile.tar"
    names = ["../../escape.mp4", "/abs/olute.mp4", "a::b.mp4", "new\nline.mp4", "k" * 300 + ".mp4",
             "dup.mp4", "dup.mp4", ".hidden.mp4", "sp ace.mp4", "ümlaut.mp4", "meta.mp4", "badjson.mp4",
             "huge.mp4", "listjson.mp4"]
    with tarfile.open(hostile, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            _member(tar, name, video)
        _member(tar, "meta.json", json.dumps({"span_start": -5, "span_end": 1e308, "video_id": " x "}).encode())
        _member(tar, "badjson.json", b"{not json")
        _member(tar, "listjson.json", b"[1, 2]")
        _member(tar, "huge.json", b'{"caption": "' + b"x" * (3 << 20) + b'"}')  # past any metadata cap
        _member(tar, "link.mp4", kind=tarfile.SYMTYPE, link="/etc/passwd")
        _member(tar, "folder.mp4", kind=tarfile.DIRTYPE)
    cases = [Case("tar", "hostile-members", hostile, len(set(names)) + 2)]  # + the symlink and the directory
    broken = _write(directory / "truncated.tar", hostile.read_bytes()[:700])  # cut inside the first header
    cases.append(Case("tar", "truncated-tar", broken, 1))
    cases.append(Case("tar", "not-a-tar", _write(directory / "junk.tar", b"junk" * 300), 1))
    return cases


def table_cases(root: Path, video: Path) -> list[Case]:
    """Each table's rows, and how many clips listing must find in them (one per row, or per span)."""
    directory = root / "tables"
    directory.mkdir(parents=True)
    good = str(video)
    cases = []
    csv_lines = [  # spans differ, so no two rows name the same clip (listing keeps such a pair once)
        "path,span_start,span_end,caption,video_id",
        f"{good},0,10.2,plain,ok",
        f"{good},0.1,1e308,too long a span,big",
        f"{good},nan,inf,not numbers,nan",
        f"{good},-3,4,negative,neg",
        f"{good},0.2,10.2,\x00nul\x00,nul",
        "../../../../etc/passwd,0,10.2,outside,passwd",
        "http://127.0.0.1:9/nobody.mp4,0,10.2,refused,refused",
        f"{good},0.3,10.2,extra,fields,surplus",
        f'{good},0.4,10.2,"unbalanced quote, then the rest:',
        f"{good},0.5,10.2,swallowed,one",
        f"{good},0.6,10.2,swallowed,two",
    ]
    not_utf8 = f"{good},0.7,10.2,caption ".encode() + b"\xff\xfe" + b",garbled\n"
    csv_path = _write(directory / "hostile.csv", ("\n".join(csv_lines[:9]) + "\n").encode() + not_utf8
                      + ("\n".join(csv_lines[9:]) + "\n").encode())
    cases.append(Case("table", "csv", csv_path, 10))  # lines 2-10 each, then one reject for the lines swallowed
    bom = _write(directory / "bom.csv", b"\xef\xbb\xbfpath,video_id\n" + f"{good}, padded \n".encode())
    cases.append(Case("table", "csv-bom", bom, 1))
    dup = _write(directory / "dupcols.csv", f"path,path\n{good},{good}\n".encode())
    cases.append(Case("table", "csv-duplicate-columns", dup, 1))

    jsonl_lines = [
        json.dumps({"path": good, "span": [0.8, 10.2]}),  # spans differ from the CSV's too
        json.dumps([good]),
        "[" * 100_000 + "]" * 100_000,
        '{"path": ' + "9" * 5000 + "}",
        json.dumps({"path": good, "timestamp": [[0, 1]] * 3, "caption": ["a", "b"]}),
        json.dumps({"path": None}),
        json.dumps({"path": {"nested": good}}),
        '{"path": "' + good + '", "span": "[' + "[0, 1], " * 2000 + '[0, 1]]"}',
    ]
    jsonl = _write(directory / "hostile.jsonl", ("\n".join(jsonl_lines) + "\n").encode())
    cases.append(Case("table", "jsonl", jsonl, len(jsonl_lines)))  # the last row's 2001 equal spans: one clip

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "path": [good, None, "", "nosuchprotocol://bucket/x.mp4", good],
        "span_start": [0.9, 0.0, 0.0, 0.0, float("nan")],
        "span_end": [10.2, 10.2, 10.2, 10.2, 1.0],
        "clips": [None, None, None, None, None],
        "video_id": [" spaced ", "none", "empty", "protocol", "nan"],
        "blob": [b"\x00" * 10, b"", None, b"\xff", b"x"],
    })
    parquet = directory / "hostile.parquet"
    pq.write_table(table, parquet)
    cases.append(Case("table", "parquet", parquet, 5))
    cases.append(Case("table", "parquet-truncated", _write(directory / "trunc.parquet", parquet.read_bytes()[:200]), 1))
    return cases


def corpus(root: Path) -> list[Case]:
    """Every case, written under ``root``."""
    videos = video_cases(root)
    short = next(c.path for c in videos if c.name == "short")
    return videos + tar_cases(root, short.read_bytes()) + table_cases(root, root / "videos" / "valid.mp4")


def main() -> None:
    import sys

    cases = corpus(Path(sys.argv[1]))
    print(json.dumps([{"family": c.family, "name": c.name, "path": str(c.path), "clips": c.clips} for c in cases]))


if __name__ == "__main__":
    main()
