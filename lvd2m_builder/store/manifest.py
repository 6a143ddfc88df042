"""``_manifest.json``: which shards are finished, with their stats, so a rerun resumes and stats merge."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lvd2m_builder.config import RUN_SETTINGS
from lvd2m_builder.run.stats import ShardStats
from lvd2m_builder.store.atomic import write_json_atomic
from lvd2m_builder.store.shards import ShardResult

MANIFEST = "_manifest.json"


def settings_hash(settings: dict[str, Any]) -> str:
    """What must match for finished shards to be reused: ``BuildConfig.settings()``, which holds no run settings.

    Outputs written before run settings left ``settings()`` stored them; they never counted in the hash.
    """
    relevant = {k: v for k, v in settings.items() if k not in RUN_SETTINGS}
    return hashlib.sha1(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Manifest:
    """``settings``: what shapes the rows (``BuildConfig.settings()``); ``run``: where the last build ran
    (workers, executor, ...), kept for people and tools that look at an output, never hashed."""

    settings_hash: str
    settings: dict[str, Any]
    shards: dict[str, dict[str, Any]] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, out: Path) -> "Manifest | None":
        path = out / MANIFEST
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(data["settings_hash"], data["settings"], data["shards"], data.get("run", {}))

    def save(self, out: Path) -> None:
        write_json_atomic(
            out / MANIFEST,
            {"settings_hash": self.settings_hash, "settings": self.settings, "shards": self.shards, "run": self.run},
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
