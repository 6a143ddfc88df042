"""Contact-sheet cost of ``lvd2m preview`` against a thumbnailer that decodes the whole clip.

(a) naive: every frame of the clip decoded (decord, in chunks of 16, resized on decode to the thumbnails' size
    where decord allows it) and 8 of them kept: what a thumbnailer that reads the clip through does;
(b) ours, one worker: fetch + probe + the frame sampler decoding only the sheet's 8 frames, JPEGs written;
(c) ours, two workers (threads; decord leaves the GIL while it decodes).
Prints seconds per clip and the ratios (a)/(b) and (b)/(c), all measured in this one run, on VIDEO_DIR (the
sample videos: short, with 3-5 keyframes each) and on a 60 s 720p test pattern made with PyAV with a keyframe
every 2.5 s (a common encoder setting, where the sheet's frames move to keyframes).

    python bench/preview.py [VIDEO_DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lvd2m_builder.inputs.listing import list_uris
from lvd2m_builder.media.encode import write_video
from lvd2m_builder.media.probe import open_reader
from lvd2m_builder.preview.origins import Origins
from lvd2m_builder.preview.rows import record
from lvd2m_builder.preview.thumbs import ContactSheets
from lvd2m_builder.testing.samples import default_samples_dir, make_demo_set, pattern_frames

DEFAULT_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
FRAMES = 8


def naive(paths: list[str]) -> None:
    for path in paths:
        height, width = open_reader(path)[0].shape[:2]
        try:
            reader = open_reader(path, width=160, height=max(2, round(160 * height / width / 2) * 2))
            reader.get_batch([0])
        except Exception:  # decord refuses to resize some sizes on decode: decode at full size then
            reader = open_reader(path)
        for lo in range(0, len(reader), 16):
            reader.get_batch(list(range(lo, min(lo + 16, len(reader))))).asnumpy()


def ours(paths: list[str], workers: int) -> None:
    recs = [record({"key": f"bench-{i}", "video_id": Path(p).stem, "url": p, "span_start": None})
            for i, p in enumerate(paths)]
    with tempfile.TemporaryDirectory() as tmp:
        sheets = ContactSheets(Path(tmp), FRAMES, 160, Origins())
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(sheets, recs))
    failed = [r["thumb_error"] for r in recs if r["thumb_error"]]
    assert not failed, failed


def best(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times) if repeat < 3 else statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="?", default=str(DEFAULT_VIDEOS))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if Path(args.videos).is_dir():
        paths = list_uris([args.videos])
    else:
        paths = [str(p) for p in make_demo_set(default_samples_dir()) if "corrupt" not in p.name]
    with tempfile.TemporaryDirectory() as tmp:
        gop = str(Path(tmp) / "gop60.mp4")
        write_video(Path(gop), pattern_frames(60.0, 24, (1280, 720)), 24, gop=60)
        for title, clips in ((args.videos if Path(args.videos).is_dir() else "demo clips", paths),
                             ("60 s 720p, keyframe every 2.5 s", [gop])):
            n = len(clips)
            a = best(lambda: naive(clips), args.repeat)
            b = best(lambda: ours(clips, 1), args.repeat)
            c = best(lambda: ours(clips, 2), args.repeat)
            print(f"{title}: {n} clip(s), {FRAMES} thumbnails each")
            print(f"  (a) naive whole-clip decode : {a / n:.3f} s/clip")
            print(f"  (b) preview, 1 worker       : {b / n:.3f} s/clip   (a)/(b) = {a / b:.1f}x")
            print(f"  (c) preview, 2 workers      : {c / n:.3f} s/clip   (b)/(c) = {b / c:.2f}x")


if __name__ == "__main__":
    main()
