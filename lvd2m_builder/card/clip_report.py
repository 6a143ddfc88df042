"""What the CLIP stages did, for the card and ``lvd2m validate``: the clip_score distribution, rows below
``embed.min_clip_score``, clips the pre-filter kept from the VLM (and the calls saved) and near-duplicates."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from lvd2m_builder import schema
from lvd2m_builder.card.stats import Bucket, buckets
from lvd2m_builder.store.reader import open_shard, open_source

SCORE_EDGES = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35)
#: The semantic check asks the VLM two questions per clip (content variation, visual diversity).
SEMANTIC_CALLS = 2


def min_clip_score(settings: Optional[dict[str, Any]]) -> Optional[float]:
    """The threshold of a build whose embed stage was on, else None."""
    section = (settings or {}).get("embed")
    if isinstance(section, dict) and section.get("enabled") and isinstance(section.get("min_clip_score"), (int, float)):
        return float(section["min_clip_score"])
    return None


@dataclass
class ClipScores:
    """clip_score values seen, and how many fall below ``threshold``."""

    threshold: Optional[float] = None
    values: list[float] = field(default_factory=list)

    def add(self, score: Optional[float]) -> bool:
        """Count one row's score; True when it is below the threshold (the row should be flagged)."""
        if score is None:
            return False
        self.values.append(float(score))
        return self.threshold is not None and score < self.threshold

    @property
    def below(self) -> int:
        return 0 if self.threshold is None else int(sum(v < self.threshold for v in self.values))

    def summary(self) -> dict[str, Any]:
        if not self.values:
            return {"rows": 0}
        v = np.asarray(self.values)
        p5, p50, p95 = np.percentile(v, [5, 50, 95])
        return {"rows": len(v), "mean": round(float(v.mean()), 4), "p5": round(float(p5), 4),
                "median": round(float(p50), 4), "p95": round(float(p95), 4), "threshold": self.threshold,
                "below": self.below}

    def buckets(self) -> list[Bucket]:
        return buckets(np.asarray(self.values), SCORE_EDGES, "")


def read_scores(out: Path, threshold: Optional[float]) -> ClipScores:
    scores = ClipScores(threshold)
    source = open_source(str(out))
    for rel in source.glob(schema.TRAIN_PATTERN):
        with open_shard(source, rel) as (features, batches):
            if "clip_score" not in features:  # a shard from before the embed stage existed
                continue
            for batch in batches:
                for score in batch.column("clip_score").drop_null().to_pylist():
                    scores.add(score)
    return scores


def vlm_calls_saved(stats: dict[str, Any], settings: dict[str, Any], out: Optional[Path] = None) -> int:
    """VLM calls the pre-filter's rejects did not cost: two per clip for the semantic check when it ran, else
    (captions only) one per caption segment. A lower bound: clips passing the check would be captioned too."""
    from lvd2m_builder.stages.segments import split

    rejected = int(stats.get("rejected_by_stage", {}).get("prefilter", 0))
    seconds = stats.get("seconds", {})
    if not rejected:
        return 0
    if (settings.get("semantic") or {}).get("enabled") and "semantic" in seconds:
        return SEMANTIC_CALLS * rejected
    captions = settings.get("captions") or {}
    if not (captions.get("enabled") and "captions" in seconds) or out is None:
        return 0
    source = open_source(str(out))
    calls = 0
    for rel in source.glob(schema.REJECTS_PATTERN):
        with open_shard(source, rel, ["stage", "duration"]) as (_, batches):
            for batch in batches:
                for stage, duration in zip(batch.column("stage").to_pylist(), batch.column("duration").to_pylist()):
                    if stage == "prefilter" and duration:
                        calls += len(split(duration, captions["segment_s"], captions["min_tail_s"]))
    return calls


def card_section(out: Path, stats: dict[str, Any], settings: dict[str, Any]) -> str:
    """The card's "CLIP embeddings" section (markdown), or "" when the embed stage was off."""
    embed = settings.get("embed") or {}
    if not embed.get("enabled"):
        return ""
    model = embed["model"] + (f" ({embed['pretrained']})" if ":" not in embed["model"] else "")
    if "embed" not in stats.get("seconds", {}):
        return ("## CLIP embeddings\n\nThe embed stage was on but ran on no clip (no weights for the open_clip "
                f"{model} on the build machine, or no clip passed the filters before it): the CLIP fields are empty, "
                "and neither the zero-shot pre-filter nor the near-duplicate pass had anything to work on.\n")
    scores = read_scores(out, min_clip_score(settings))
    lines = [
        "## CLIP embeddings", "",
        f"`clip_embedding`: the open_clip {model} image embeddings of {embed['frames_per_segment']} uniform frames "
        "per caption segment, mean-pooled and L2-normalised (float16). `clip_score`: its cosine similarity with "
        "the text embedding of `refined_caption`; `segment_clip_scores`: each segment's caption against that "
        "segment's frames. CLIP's text encoder reads at most 77 tokens, so a longer caption is embedded in "
        "chunks of whole sentences and the chunks' embeddings are averaged; nothing is truncated.", "",
    ]
    if scores.values:
        s = scores.summary()
        lines += ["| clip_score | clips | share |", "|---|---:|---:|"]
        lines += [f"| {b.label} | {b.clips} | {b.percent}% |" for b in scores.buckets()]
        lines += ["", f"{s['rows']} captioned clips: mean {s['mean']}, median {s['median']}, 5th-95th percentile "
                  f"{s['p5']}-{s['p95']}. {s['below']} below {scores.threshold:g} (flagged by `lvd2m validate`: "
                  "the caption may not describe its clip).", ""]
    else:
        lines += ["No accepted clip has a clip_score (no captions, or no embedding weights on the build machine).", ""]
    by_stage = stats.get("rejected_by_stage", {})
    if (settings.get("prefilter") or {}).get("enabled"):
        prompts = ", ".join(f"\"{p}\" (p >= {t:g})" for p, t in settings["prefilter"]["prompts"].items())
        lines += [f"Zero-shot pre-filter before the VLM check: {prompts}. It rejected {by_stage.get('prefilter', 0)} "
                  f"clip(s), saving at least {vlm_calls_saved(stats, settings, out)} VLM calls.", ""]
    if (settings.get("dedup") or {}).get("enabled") or by_stage.get("dedup"):
        lines += [f"Near-duplicates (clip embeddings at or above the dedup cosine threshold; the longest clip "
                  f"kept): {by_stage.get('dedup', 0)} moved to the rejects, each naming the key it duplicates and "
                  "the cosine.", ""]
    return "\n".join(lines)
