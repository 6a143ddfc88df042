"""Per-stage counts, rejects by reason and seconds; merged across shards and across resumed runs."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from lvd2m_builder.records import Clip
from lvd2m_builder.stages.registry import STAGES

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
    clips: int = 0
    accepted: int = 0
    rejected_by_stage: dict[str, int] = field(default_factory=dict)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    not_run: dict[str, str] = field(default_factory=dict)  # stage -> why it did not run (weights absent, off)

    def add(self, clip: Clip) -> None:
        if clip.rejected:
            self.add_outcome(clip.rejection.stage, clip.rejection.reason)
        else:
            self.add_outcome()
        for stage, seconds in clip.seconds.items():
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def add_outcome(self, stage: str | None = None, reason: str = "", count: int = 1) -> None:
        """Count ``count`` clips: accepted when ``stage`` is None, else rejected there (rows made without a Clip)."""
        self.clips += count
        if stage is None:
            self.accepted += count
            return
        self.rejected_by_stage[stage] = self.rejected_by_stage.get(stage, 0) + count
        key = f"{stage}: {reason_class(reason)}"
        self.rejected_by_reason[key] = self.rejected_by_reason.get(key, 0) + count

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ShardStats":
        return cls(**data)


def merge(parts: list[ShardStats]) -> dict[str, Any]:
    """The run's ``stats.json``: totals, the funnel in stage order, rejects by reason, seconds per stage."""
    by_stage: Counter = Counter()
    by_reason: Counter = Counter()
    seconds: Counter = Counter()
    not_run: dict[str, str] = {}
    for part in parts:
        by_stage.update(part.rejected_by_stage)
        for key, count in part.rejected_by_reason.items():  # classes recorded by older versions join theirs
            stage, _, reason = key.partition(": ")
            by_reason[f"{stage}: {reason_class(reason)}"] += count
        seconds.update(part.seconds)
        not_run.update(part.not_run)
    ran = {stage for part in parts for stage in set(part.seconds) | set(part.rejected_by_stage)}
    not_run = {stage: why for stage, why in not_run.items() if stage not in ran}  # ran in another run: it ran
    clips = sum(p.clips for p in parts)
    funnel, remaining = [], clips
    for stage in [*STAGES, *sorted(set(by_stage) - set(STAGES))]:
        rejected = by_stage.get(stage, 0)
        step = {"stage": stage, "in": remaining, "rejected": rejected, "out": remaining - rejected}
        if stage in not_run:
            step["skipped"] = not_run[stage]
        funnel.append(step)
        remaining -= rejected
    accepted = sum(p.accepted for p in parts)
    return {
        "clips": clips,
        "accepted": accepted,
        "rejected": clips - accepted,
        "accept_rate": round(accepted / clips, 4) if clips else 0.0,
        "funnel": funnel,
        "rejected_by_stage": dict(by_stage.most_common()),
        "rejected_by_reason": dict(by_reason.most_common()),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "wall_seconds": round(sum(p.wall_seconds for p in parts), 3),
        "shards": len(parts),
        "not_run": not_run,
    }
