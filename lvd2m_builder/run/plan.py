"""What a build would do, worked out without writing anything: ``lvd2m build --dry-run`` and ``lvd2m info``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from lvd2m_builder.config import BuildConfig
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.run.build import same_names
from lvd2m_builder.run.rebuild import changed_fields
from lvd2m_builder.store.manifest import Manifest, settings_hash
from lvd2m_builder.store.output_dir import check_output
from lvd2m_builder.store.shards import read_keys


@dataclass
class BuildPlan:
    """``action``: ``new`` (nothing there), ``resume`` (same settings), ``redecide`` (settings changed: stored rows
    are re-decided first), or ``overwrite`` (``--overwrite`` deletes what is there)."""

    out: str
    action: str
    inputs: int  # clips the inputs name
    done: int  # of those, already in a recorded shard
    todo: int  # to build now (an upper bound under ``redecide``: re-decided rows may add reruns)
    shards: int  # shard files this run would write (one train and one rejects file each)
    shard_size: int
    changed: list[str] = field(default_factory=list)  # settings that differ from the stored ones
    recorded: int = 0  # clips in recorded shards, the inputs' or not

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        lines = [f"{self.out}: {self.action}",
                 f"  inputs:  {self.inputs} clip{'s' * (self.inputs != 1)} ({self.done} already built)",
                 f"  to build: {self.todo} clip{'s' * (self.todo != 1)} in {self.shards} "
                 f"shard{'s' * (self.shards != 1)} of up to {self.shard_size}"]
        if self.changed:
            lines.append(f"  settings changed: {', '.join(self.changed)}")
        return "\n".join(lines)


def plan_build(inputs: Iterable[str], out: str | Path, config: BuildConfig, overwrite: bool = False) -> BuildPlan:
    """The build ``lvd2m build`` would run now; reads the inputs' listing and the output's manifest only."""
    out = Path(out)
    check_output(out, overwrite)  # the refusals the build would make
    refs = list_refs(inputs, config.dataset_src, exclude=str(out))
    settings = config.settings()
    manifest: Optional[Manifest] = None if overwrite else Manifest.load(out)
    recorded: set[str] = set()
    changed: list[str] = []
    if manifest is not None:
        same_names(out, manifest, settings)  # the refusal the build would make
        recorded = {key for path in manifest.files() if (out / path).exists() for key in read_keys(out / path)}
        if manifest.settings_hash != settings_hash(settings):
            changed = sorted(changed_fields(manifest.settings, json.loads(json.dumps(settings))))
    done = sum(ref.key in recorded for ref in refs)
    todo = len(refs) - done
    if overwrite and out.exists():
        action = "overwrite"
    elif manifest is None:
        action = "new"
    else:
        action = "redecide" if changed else "resume"
    shards = -(-todo // config.shard_size)
    return BuildPlan(str(out), action, len(refs), done, todo, shards, config.shard_size, changed, len(recorded))
