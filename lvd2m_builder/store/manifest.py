"""``_manifest.json``: which rows are finished, with their stats, so a rerun resumes and stats merge.

Two kinds of finished files: ``shards``, the work units a build has finished since the last compaction (each a
train and a rejects Arrow file in ``data/`` and ``rejects/``, as outputs of older versions held all their rows),
and ``published``, the Parquet files the card names, with the merged stats of every row they hold. Compaction
(``reshard.compact``) turns units into published files and lists the units it ``consumed``, deleted once the
new manifest is in place.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from lvd2m_builder.config import RUN_SETTINGS
from lvd2m_builder.errors import ManifestError
from lvd2m_builder.run.stats import ShardStats
from lvd2m_builder.store.atomic import write_json_atomic
from lvd2m_builder.store.shards import ShardResult

MANIFEST = "_manifest.json"


def settings_hash(settings: dict[str, Any]) -> str:
    """What must match for finished shards to be reused: ``BuildConfig.settings()``, which holds no run settings
    and no card fields (the manifest keeps those apart, under ``card``).

    Outputs written before run settings left ``settings()`` stored them; they never counted in the hash.
    """
    relevant = {k: v for k, v in settings.items() if k not in RUN_SETTINGS and k != "card"}
    return hashlib.sha1(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


KINDS = ("train", "rejects")


@dataclass
class Manifest:
    """``settings``: what shapes the rows (``BuildConfig.settings()``); ``run``: where the last build ran
    (workers, executor, ...), kept for people and tools that look at an output, never hashed. ``published``:
    {"train": [paths], "rejects": [paths], "stats": ShardStats dict, "max_shard_size": bytes}."""

    settings_hash: str
    settings: dict[str, Any]
    shards: dict[str, dict[str, Any]] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)  # the card fields a user set (config ``card.*``)
    published: Optional[dict[str, Any]] = None
    consumed: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, out: Path, path: Path | None = None) -> "Manifest | None":
        """The manifest, None when there is none; ``ManifestError`` when it does not parse (see adopt.py)."""
        path = path or out / MANIFEST
        if not path.exists():
            return None
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as e:  # torn or hand-broken JSON, or not the manifest's shape
            raise ManifestError(str(path), f"does not parse ({type(e).__name__}: {e})") from e

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Manifest":
        return cls(data["settings_hash"], data["settings"], dict(data["shards"]), dict(data.get("run") or {}),
                   dict(data.get("card") or {}), data.get("published"), list(data.get("consumed") or []))

    def to_dict(self) -> dict[str, Any]:
        data = {"settings_hash": self.settings_hash, "settings": self.settings, "shards": self.shards, "run": self.run}
        optional = {"card": self.card, "published": self.published, "consumed": self.consumed}
        return {**data, **{name: value for name, value in optional.items() if value}}

    def save(self, out: Path) -> None:
        write_json_atomic(out / MANIFEST, self.to_dict())

    def record(self, result: ShardResult) -> None:
        self.shards[result.shard_id] = {
            "index": result.index,
            "train": result.train_path,
            "rejects": result.rejects_path,
            "stats": result.stats.to_dict(),
        }

    def unit_files(self) -> set[str]:
        """The work units' files (relative paths)."""
        return {entry[kind] for entry in self.shards.values() for kind in KINDS}

    def kind_files(self, kind: str) -> list[str]:
        """Every finished ``train`` or ``rejects`` file, in row order: the published ones, then the units."""
        units = sorted(self.shards.values(), key=lambda entry: entry["index"])
        return [*(self.published or {}).get(kind, []), *(entry[kind] for entry in units)]

    def files(self) -> set[str]:
        """Every file the manifest vouches for (relative paths)."""
        return {rel for kind in KINDS for rel in self.kind_files(kind)}

    def next_index(self) -> int:
        return max((entry["index"] for entry in self.shards.values()), default=-1) + 1

    def stats(self) -> list[ShardStats]:
        published = [ShardStats.from_dict(self.published["stats"])] if self.published else []
        return published + [ShardStats.from_dict(entry["stats"]) for entry in self.shards.values()]
