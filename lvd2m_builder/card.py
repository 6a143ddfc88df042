"""The dataset card: YAML (configs, features from ``schema.py``) that makes ``load_dataset(out)`` work, and prose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData

from . import schema

TEMPLATE = Path(__file__).parent / "cards" / "dataset_card.md"


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def _pipeline(settings: dict[str, Any]) -> list[tuple[str, str]]:
    d, c, m = settings["duration"], settings["cuts"], settings["motion"]
    rows = [("preset", settings["preset"]), ("duration", f"> {d['min_s']} s" + (f", <= {d['max_s']} s" if d["max_s"] else ""))]
    if c["enabled"]:
        rows.append(("scene cuts", f"ContentDetector threshold {c['threshold']}, min_scene_len {c['min_scene_len']}, "
                                   f"frames at {c['fps']} fps; any cut rejects"))
    if m["enabled"]:
        rows.append(("motion", f"{m['backend']} optical flow at {m['fps']} fps on {m['height']}x{m['width']} frames; "
                               f"mean magnitude >= {m['min_score']}"))
    return rows


def render_card(stats: dict[str, Any], settings: dict[str, Any], repo_id: str = "lvd2m") -> DatasetCard:
    data = DatasetCardData(
        pretty_name="LVD-2M-style long-take video clips",
        license="other",
        task_categories=["text-to-video"],
        size_categories=[_size_category(stats["accepted"])],
        tags=["video", "long-take", "dense-captions", "lvd2m"],
        configs=schema.configs(),
        dataset_info=schema.dataset_info(),
    )
    return DatasetCard.from_template(
        data,
        template_path=str(TEMPLATE),
        repo_id=repo_id,
        min_duration=settings["duration"]["min_s"],
        pipeline=_pipeline(settings),
        funnel=stats["funnel"],
        total_clips=stats["clips"],
        accepted=stats["accepted"],
        accept_percent=round(100 * stats["accept_rate"], 1),
    )


def write_card(out: Path, stats: dict[str, Any], settings: dict[str, Any]) -> Path:
    card = render_card(stats, settings, repo_id=out.name)
    path = out / "README.md"
    tmp = path.with_name(".README.md.tmp")
    card.save(tmp)
    tmp.replace(path)
    return path
