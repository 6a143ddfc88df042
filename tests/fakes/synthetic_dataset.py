"""Build-output directories written straight from rows, for the card, validator and Hub tests.

Writing Parquet files with the writer ``lvd2m build`` publishes with skips decoding, so a test controls every value
(durations, captions, keys) and runs in milliseconds; the layout, stats.json, manifest and card are the ones
``lvd2m build`` writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from datasets.arrow_writer import ArrowWriter

from lvd2m_builder.card.write import card_markdown, write_card
from lvd2m_builder.config import BuildConfig
from lvd2m_builder.run.stats import ShardStats, combine, merge
from lvd2m_builder.schema import (
    LEGACY_PATTERNS,
    REJECT_FEATURES,
    REJECTS_DIR,
    ROW_FEATURES,
    TRAIN_DIR,
    VIDEO_FEATURES,
    VIDEOS_DIR,
)
from lvd2m_builder.store.atomic import write_json_atomic, write_text_atomic
from lvd2m_builder.store.manifest import Manifest, settings_hash
from lvd2m_builder.store.output_dir import sign_card
from lvd2m_builder.store.parquet import ParquetShardWriter

#: A build before captioning existed (no captions section), and one whose captions stage ran.
SETTINGS = {k: v for k, v in BuildConfig().to_dict().items() if k not in ("semantic", "captions")}
CAPTION_SETTINGS = BuildConfig().to_dict()


def provenance(settings: dict[str, Any], captions_ran: bool = False) -> str:
    ran = {"models": {"segments": "test-vlm", "merge": "test-llm"}, "seconds": {"captions": 0.5}}
    extra = ran if captions_ran else {}
    return json.dumps({"lvd2m_builder": "test", "settings": settings, **extra}, sort_keys=True)


def row(i: int, settings: dict[str, Any] = SETTINGS, **values: Any) -> dict[str, Any]:
    """Accepted row ``i``: a valid 12 + i seconds long take unless ``values`` say otherwise."""
    duration = values.pop("duration", 12.0 + i)
    base = {
        "key": f"clip-{i:04d}", "video_id": f"video{i}", "url": f"/videos/video{i}.mp4", "dataset_src": "test",
        "span_start": 0.0, "span_end": duration, "duration": duration, "fps": 24.0, "width": 640, "height": 360,
        "num_frames": int(duration * 24), "cut_times": [], "flow_score": 25.0 + i, "flow_backend": "dis",
        "semantic": None, "segments": [], "raw_caption": None, "refined_caption": None, "rewritten_caption": None,
        "orig_caption": None, "provenance": provenance(settings),
    }
    return {**base, **values}


def captioned(i: int, words: int = 60, **values: Any) -> dict[str, Any]:
    """A row built with captions on: one segment per 6 s and a refined caption of ``words`` distinct words."""
    duration = values.pop("duration", 12.0 + i)
    starts = [float(s) for s in range(0, int(duration) - 5, 6)]
    base = {
        "segments": [{"start": s, "end": min(s + 6.0, duration), "caption": f"segment at {s}"} for s in starts],
        "refined_caption": " ".join(f"w{i}x{n}" for n in range(words)),
        "provenance": provenance(CAPTION_SETTINGS, captions_ran=True),
    }
    return row(i, CAPTION_SETTINGS, duration=duration, **{**base, **values})


def reject(i: int, stage: str = "motion", **values: Any) -> dict[str, Any]:
    base = {name: value for name, value in row(i).items() if name in REJECT_FEATURES}
    return {**base, "key": f"reject-{i:04d}", "flow_score": 3.0, "stage": stage,
            "reason": "flow score 3.0 < min 20", **values}


def write_shard(path: Path, rows: list[dict[str, Any]], features) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with ParquetShardWriter(path, features) as writer:
        for r in rows:
            writer.write({name: r.get(name) for name in features})
        writer.finalize()


def write_dataset(out: Path, train: list[list[dict]], rejects: Optional[list[list[dict]]] = None,
                  settings: dict[str, Any] = SETTINGS, plots: bool = True) -> Path:
    """``out`` as lvd2m build leaves it: one published train and one rejects file per list, stats, manifest, card.

    ``plots=False`` writes the card without statistics and plots (what the validator tests do not need).
    """
    rejects = rejects if rejects is not None else [[] for _ in train]
    parts, files = [], {"train": [], "rejects": []}
    for index, (accepted, rejected) in enumerate(zip(train, rejects)):
        name = f"train-{index:05d}-of-{len(train):05d}.parquet"
        files["train"].append(f"{TRAIN_DIR}/{name}")
        files["rejects"].append(f"{REJECTS_DIR}/{name}")
        write_shard(out / TRAIN_DIR / name, accepted, ROW_FEATURES)
        write_shard(out / REJECTS_DIR / name, rejected, REJECT_FEATURES)
        stats = ShardStats(clips=len(accepted) + len(rejected), accepted=len(accepted))
        if any('"models"' in (r["provenance"] or "") for r in accepted):
            stats.seconds["captions"] = 1.0
        for r in rejected:
            stats.rejected_by_stage[r["stage"]] = stats.rejected_by_stage.get(r["stage"], 0) + 1
        parts.append(stats)
    Manifest(settings_hash(settings), settings, published={**files, "stats": combine(parts).to_dict(),
                                                           "max_shard_size": None}).save(out)
    stats = merge(parts)
    write_json_atomic(out / "stats.json", stats)
    if plots:
        write_card(out, stats, settings)
    else:
        write_text_atomic(out / "README.md", sign_card(card_markdown(stats, settings, repo_id=out.name)))
    return out


def write_legacy(out: Path, train: list[list[dict]], rejects: list[list[dict]],
                 videos: Optional[list[dict]] = None, settings: dict[str, Any] = SETTINGS) -> Path:
    """``out`` as lvd2m build wrote it before Parquet: Arrow shards in data/ and rejects/ recorded in the manifest
    as shards, the card's configs naming them (and with ``videos``, an Arrow ``videos`` config)."""
    manifest = Manifest(settings_hash(settings), settings)
    parts = []
    for index, (accepted, rejected) in enumerate(zip(train, rejects)):
        name = f"{index:05d}-of-{len(train):05d}.arrow"
        paths = (f"{TRAIN_DIR}/train-{name}", f"{REJECTS_DIR}/rejects-{name}")
        for rel, rows, features in zip(paths, (accepted, rejected), (ROW_FEATURES, REJECT_FEATURES)):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            with ArrowWriter(features=features, path=str(out / rel)) as writer:
                for r in rows:
                    writer.write({name: r.get(name) for name in features})
                writer.finalize()
        stats = ShardStats(clips=len(accepted), accepted=len(accepted))
        for r in rejected:
            stats.add_outcome(r["stage"], r["reason"])
        parts.append(stats)
        manifest.shards[f"shard{index}"] = {"index": index, "train": paths[0], "rejects": paths[1],
                                            "stats": stats.to_dict()}
    if videos is not None:
        (out / VIDEOS_DIR).mkdir(parents=True, exist_ok=True)
        with ArrowWriter(features=VIDEO_FEATURES, path=str(out / VIDEOS_DIR / "train-00000-of-00001.arrow")) as writer:
            for r in videos:
                writer.write({name: r.get(name) for name in VIDEO_FEATURES})
            writer.finalize()
    manifest.save(out)
    stats = merge(parts)
    write_json_atomic(out / "stats.json", stats)
    card = card_markdown(stats, settings, repo_id=out.name, videos=videos is not None)
    for config, pattern in LEGACY_PATTERNS.items():
        card = card.replace(pattern.replace("rejects-", "train-").replace(".arrow", ".parquet"), pattern)
    (out / "README.md").write_text(sign_card(card), encoding="utf-8")
    return out


def demo_build(tmp_path_factory, clips_dir: Path) -> Path:
    """The real pipeline over the synthetic sample clips, built once per test session and shared read-only."""
    from lvd2m_builder.run.build import build

    out = tmp_path_factory.getbasetemp() / "demo-build" / "lvd2m"
    if not (out / "stats.json").exists():
        build([str(clips_dir)], out, BuildConfig(), overwrite=True, progress=False)
    return out
