"""``_manifest.json``: which shards are finished, with their stats, so a rerun resumes and stats merge."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .shards import ShardResult
from .stats import ShardStats

MANIFEST = "_manifest.json"
EXECUTOR_KNOBS = ("workers", "clip_timeout_s", "executor", "ray_address")  # where it runs, not what it makes


def settings_hash(settings: dict[str, Any]) -> str:
    """What must match for finished shards to be reused (executor-only knobs such as workers excluded)."""
    relevant = {k: v for k, v in settings.items() if k not in EXECUTOR_KNOBS}
    return hashlib.sha1(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


@dataclass
class Manifest:
    settings_hash: str
    settings: dict[str, Any]
    shards: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, out: Path) -> "Manifest | None":
        path = out / MANIFEST
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(data["settings_hash"], data["settings"], data["shards"])

    def save(self, out: Path) -> None:
        write_json_atomic(
            out / MANIFEST, {"settings_hash": self.settings_hash, "settings": self.settings, "shards": self.shards}
        )

    def record(self, result: ShardResult) -> None:
        self.shards[result.shard_id] = {
            "index": result.index,
            "train": result.train_path,
            "rejects": result.rejects_path,
            "stats": result.stats.to_dict(),
        }

    def files(self) -> set[str]:
        """Every shard file the manifest vouches for (relative paths)."""
        return {entry[kind] for entry in self.shards.values() for kind in ("train", "rejects")}

    def next_index(self) -> int:
        return max((entry["index"] for entry in self.shards.values()), default=-1) + 1

    def stats(self) -> list[ShardStats]:
        return [ShardStats.from_dict(entry["stats"]) for entry in self.shards.values()]
