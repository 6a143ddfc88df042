"""What the output-safety checks add to a rerun over a large output, against the key read every rerun does anyway.

A rerun reads the ``key`` column of every recorded shard (what is already built). Before that it now checks the
output (``check_output``: marker, README signature), makes the manifest whole (``open_manifest``: a listing of
data/ and rejects/ against the manifest), and, where an earlier materialize made a ``videos`` config or tars,
digests the accepted rows (``rows_digest``: key and provenance of every accepted row). Synthetic shards, no
decoding; each figure is the best of ``--repeat`` runs, printed as a ratio to the key read measured in the same run.

    python bench/output_checks.py [--rows 200000] [--shards 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from datasets.arrow_writer import ArrowWriter

from lvd2m_builder.config import preset
from lvd2m_builder.materialize.freshness import rows_digest
from lvd2m_builder.schema import REJECT_FEATURES, REJECTS_DIR, ROW_FEATURES, TRAIN_DIR
from lvd2m_builder.store.adopt import open_manifest
from lvd2m_builder.store.manifest import Manifest, settings_hash
from lvd2m_builder.store.output_dir import check_output, mark
from lvd2m_builder.store.shards import read_keys


def _row(i: int, provenance: str) -> dict:
    return {"key": f"clip-{i:08d}", "video_id": f"v{i}", "url": f"/videos/v{i}.mp4", "dataset_src": "bench",
            "span_start": 0.0, "span_end": 12.0, "duration": 12.0, "fps": 24.0, "width": 640, "height": 360,
            "num_frames": 288, "cut_times": [], "flow_score": 25.0, "flow_backend": "dis", "semantic": None,
            "segments": [], "raw_caption": None, "refined_caption": f"a caption for clip {i}", "rewritten_caption": None,
            "orig_caption": None, "clip_embedding": None, "clip_score": None, "segment_clip_scores": None,
            "provenance": provenance}


def make_output(out: Path, rows: int, shards: int) -> None:
    settings = preset("paper").settings()
    provenance = json.dumps({"settings": settings, "seconds": {"probe": 0.01}}, sort_keys=True)
    manifest = Manifest(settings_hash(settings), settings)
    per = rows // shards
    for s in range(shards):
        name = f"{s:05d}-of-{shards:05d}.arrow"
        for directory, prefix, features, count in ((TRAIN_DIR, "train", ROW_FEATURES, per),
                                                   (REJECTS_DIR, "rejects", REJECT_FEATURES, 0)):
            (out / directory).mkdir(parents=True, exist_ok=True)
            with ArrowWriter(features=features, path=str(out / directory / f"{prefix}-{name}")) as writer:
                for i in range(s * per, s * per + count):
                    writer.write(_row(i, provenance))
                writer.finalize()
        manifest.shards[f"s{s}"] = {"index": s, "train": f"{TRAIN_DIR}/train-{name}",
                                    "rejects": f"{REJECTS_DIR}/rejects-{name}", "stats": {}}
    manifest.save(out)
    mark(out)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--shards", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        make_output(out, args.rows, args.shards)
        manifest = Manifest.load(out)
        baseline = best(lambda: {k for rel in manifest.files() for k in read_keys(out / rel)}, args.repeat)
        figures = {
            "check_output (resume)": best(lambda: check_output(out), args.repeat),
            "open_manifest (nothing unrecorded)": best(lambda: open_manifest(out), args.repeat),
            "rows_digest (only with videos/tars)": best(lambda: rows_digest(out), args.repeat),
        }
    print(f"{args.rows} rows in {args.shards} shards; baseline: the rerun's key read, {baseline:.3f} s")
    for name, seconds in figures.items():
        print(f"  {name:<38} {seconds:8.3f} s  {seconds / baseline:6.2f}x the key read")


if __name__ == "__main__":
    main()
