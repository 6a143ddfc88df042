"""Per-stage counts, rejects by reason and seconds; merged across shards and across resumed runs."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from lvd2m_builder.records import Clip
from lvd2m_builder.stages.registry import REGISTRY, STAGES

#: Stages that run only when a build splits videos into shots: other builds' funnels leave them out.
SPLIT_ONLY = frozenset(spec.name for spec in REGISTRY if spec.split_only)

_NUMBER = re.compile(r"\d+(\.\d+)?")
_LIST = re.compile(r"(#\w*)(?:, \1)+")  # "#s, #s, #s": one value per cut
_COUNT = re.compile(r"^# (?:cut\(s\): )?")  # older reasons began with the number of cuts: "# cut(s): ", "# "


def reason_class(reason: str) -> str:
    """A reason's kind, so rejects group by it: numbers masked (``duration #s <= min #s``), a list of values
    (``scene cut(s) at #s, #s``) or of like items (``hard cut at #s (...); fade at #s (...)``) shown once per kind,
    kinds sorted, and a leading count of cuts dropped: how many cuts a clip had is its ``cut_times``, not a kind.
    Kept whole: ``shorten`` is for display."""
    items = _LIST.sub(r"\1", _COUNT.sub("", _NUMBER.sub("#", reason))).split("; ")
    return "; ".join(sorted(set(items)))


def shorten(text: str, width: int = 120) -> str:
    """``text`` cut to ``width`` characters for display, on a word boundary where there is one."""
    if len(text) <= width:
        return text
    cut = text[: width - 2]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 2 else cut).rstrip(" ,;:(") + " …"


@dataclass
class ShardStats:
    """``clips`` counts what left (rows and rejects), ``inputs`` what came in: with cuts.on_cut=split a video
    leaves as its ``shots``, whose rejects are also counted apart (``shot_rejected_by_stage``) so the funnel can
    say videos in, shots out."""

    clips: int = 0
    accepted: int = 0
    rejected_by_stage: dict[str, int] = field(default_factory=dict)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    not_run: dict[str, str] = field(default_factory=dict)  # stage -> why it did not run (weights absent, off)
    inputs: int = 0
    shots: int = 0
    shot_rejected_by_stage: dict[str, int] = field(default_factory=dict)
    shot_seconds: float = 0.0  # footage in the shots (transitions trimmed)
    kept_seconds: float = 0.0  # footage in the accepted rows

    def add(self, clip: Clip) -> None:
        shot = clip.ref.shot
        rejection = clip.rejection
        self.add_outcome(rejection and rejection.stage, rejection.reason if rejection else "",
                         clip.info.duration if clip.info else None, None if shot is None else shot.index)
        for stage, seconds in clip.seconds.items():
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def add_outcome(self, stage: str | None = None, reason: str = "", duration: float | None = None,
                    shot: int | None = None, count: int = 1) -> None:
        """Count ``count`` clips alike: accepted when ``stage`` is None, else rejected there (rows made without a
        Clip too). ``shot``: their place among a split video's shots (None: inputs of their own); ``duration``:
        the seconds of each."""
        self.clips += count
        self.inputs += count if shot is None or shot == 0 else 0
        if shot is not None:
            self.shots += count
            self.shot_seconds += (duration or 0.0) * count
            if stage is not None:
                self.shot_rejected_by_stage[stage] = self.shot_rejected_by_stage.get(stage, 0) + count
        if stage is None:
            self.accepted += count
            self.kept_seconds += (duration or 0.0) * count
            return
        self.rejected_by_stage[stage] = self.rejected_by_stage.get(stage, 0) + count
        key = f"{stage}: {reason_class(reason)}"
        self.rejected_by_reason[key] = self.rejected_by_reason.get(key, 0) + count

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ShardStats":
        return cls(**data)


def combine(parts: list[ShardStats]) -> ShardStats:
    """Several shards' stats as one: what a compacted set of published files records."""
    total = ShardStats()
    for part in parts:
        total.clips += part.clips
        total.inputs += part.inputs or part.clips  # stats written before ``inputs`` counted clips only
        total.accepted += part.accepted
        total.shots += part.shots
        total.wall_seconds += part.wall_seconds
        total.shot_seconds += part.shot_seconds
        total.kept_seconds += part.kept_seconds
        for mine, theirs in ((total.rejected_by_stage, part.rejected_by_stage),
                             (total.rejected_by_reason, part.rejected_by_reason), (total.seconds, part.seconds),
                             (total.shot_rejected_by_stage, part.shot_rejected_by_stage)):
            for name, value in theirs.items():
                mine[name] = mine.get(name, 0) + value
        total.not_run.update(part.not_run)
    return total


def most_common(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Counts, the largest first and names in order on a tie: what the card and the preview list (``stats.json``
    keeps its keys sorted by name, so the order read back from it is not this)."""
    return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))


def merge(parts: list[ShardStats]) -> dict[str, Any]:
    """The run's ``stats.json``: totals, the funnel in stage order, rejects by reason, seconds per stage, and
    for a split build (cuts.on_cut=split) ``split``: videos in, shots found and kept, seconds of footage."""
    total = combine(parts)
    by_stage, shot_stage, seconds = Counter(total.rejected_by_stage), Counter(total.shot_rejected_by_stage), total.seconds
    by_reason: Counter = Counter()
    for key, count in total.rejected_by_reason.items():  # classes recorded by older versions join theirs
        stage, _, reason = key.partition(": ")
        by_reason[f"{stage}: {reason_class(reason)}"] += count
    ran = set(total.seconds) | set(total.rejected_by_stage)
    not_run = {stage: why for stage, why in total.not_run.items() if stage not in ran}  # ran in another run: it ran
    clips, inputs, shots, accepted = total.clips, total.inputs, total.shots, total.accepted
    stats = {
        "clips": clips,
        "inputs": inputs,
        "accepted": accepted,
        "rejected": clips - accepted,
        "accept_rate": round(accepted / clips, 4) if clips else 0.0,
        "funnel": _funnel(inputs, shots, by_stage - shot_stage, shot_stage, not_run),
        "rejected_by_stage": dict(most_common(by_stage)),
        "rejected_by_reason": dict(most_common(by_reason)),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "wall_seconds": round(total.wall_seconds, 3),
        "shards": len(parts),
        "not_run": not_run,
    }
    if shots:
        stats["split"] = {
            "videos": inputs,
            "videos_split": inputs - sum((by_stage - shot_stage).values()),
            "shots": shots,
            "shots_kept": accepted,
            "shot_seconds": round(total.shot_seconds, 3),
            "kept_seconds": round(total.kept_seconds, 3),
        }
    return stats


def _funnel(inputs: int, shots: int, whole: Counter, shot: Counter, not_run: dict[str, str]) -> list[dict[str, Any]]:
    """Rows of (stage, in, rejected, out), and ``skipped`` (why) for a stage that did not run. A split build's
    funnel counts videos up to the split, whose row takes videos in and gives shots out, then shots: first those
    the split itself rejected (too short; after a failed decode), then the stages after it. Executors' rejects (a
    hung or dying worker) are of whole inputs."""
    extra = sorted((set(whole) | set(shot)) - set(STAGES))
    if not shots:
        order = [s for s in STAGES if s not in SPLIT_ONLY]
        return _rows([*order, *extra], inputs, whole, not_run)
    at = STAGES.index("split")
    before = [*STAGES[:at], *[s for s in extra if whole[s]]]
    rows = [{**row, "unit": "videos"} for row in _rows(before, inputs, whole, not_run)]
    videos = rows[-1]["out"] if rows else inputs
    rows.append({"stage": "split", "in": videos, "rejected": whole["split"], "out": shots, "unit": "videos -> shots"})
    after = [s for s in STAGES[:at] if shot[s]] + list(STAGES[at + 1 :]) + [s for s in extra if shot[s]]
    return rows + [{**row, "unit": "shots"} for row in _rows(after, shots, shot, not_run)]


def _rows(stages: list[str], remaining: int, rejected: Counter, not_run: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for stage in stages:
        row = {"stage": stage, "in": remaining, "rejected": rejected[stage], "out": remaining - rejected[stage]}
        if stage in not_run:
            row["skipped"] = not_run[stage]
        rows.append(row)
        remaining -= rejected[stage]
    return rows
