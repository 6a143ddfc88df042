"""``lvd2m info PATH_OR_REPO``: what a dataset is, without writing a report: rows, rejects, configs, settings."""

from __future__ import annotations

import argparse
import json
from typing import Any, Optional

import yaml

from lvd2m_builder.store.manifest import MANIFEST, Manifest, settings_hash
from lvd2m_builder.store.reader import open_source, read_settings


def add(sub) -> None:
    p = sub.add_parser("info", help="summarise a dataset (local output or Hub repo): rows, rejects, configs, settings",
                       description="Print what a dataset holds: rows and rejects (by stage), its configs and files, "
                       "the settings it was built with and their hash, the lvd2m-builder version, and what a rerun "
                       "of lvd2m build over it would do. Reads only; a Hub repo needs no token when it is public.")
    p.add_argument("source", metavar="PATH_OR_REPO", help="an output directory, or a Hub dataset repo NAME/REPO")
    p.add_argument("--revision", help="a branch, tag or commit of the Hub repo")
    p.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    facts = describe(args.source, args.revision)
    print(json.dumps(facts, indent=2) if args.json else _text(facts))
    return 0


def describe(path_or_repo: str, revision: Optional[str] = None) -> dict[str, Any]:
    source = open_source(path_or_repo, revision)
    stats = json.loads(source.read_text("stats.json")) if source.exists("stats.json") else {}
    settings = read_settings(source)
    facts: dict[str, Any] = {
        "source": source.label,
        "rows": stats.get("accepted"),
        "rejects": stats.get("rejected"),
        "rejected_by_stage": stats.get("rejected_by_stage", {}),
        "not_run": stats.get("not_run", {}),
        "configs": _configs(source),
        "files": len(source.data_files()),
        "preset": (settings or {}).get("preset"),
        "settings_hash": settings_hash(settings) if settings else None,
        "lvd2m_builder": _version(source),
    }
    try:
        manifest = Manifest.from_dict(json.loads(source.read_text(MANIFEST))) if source.exists(MANIFEST) else None
        clips = sum(part.clips for part in manifest.stats()) if manifest else 0
    except (ValueError, KeyError, TypeError):  # torn: the next build rebuilds it from the shards
        manifest, facts["resume"] = None, "_manifest.json does not parse: the next build rebuilds it from the shards"
    if manifest is not None:
        waiting = f" ({len(manifest.shards)} work units not published yet)" if manifest.shards else ""
        facts["resume"] = (f"{len(manifest.files())} finished shards hold {clips} clips{waiting}: a rerun with these "
                           f"settings skips them and builds only new inputs; other thresholds re-decide the stored "
                           f"rows; other scoring settings need --overwrite")
        facts["last_run"] = manifest.run
    elif "resume" not in facts:
        facts["resume"] = ("no _manifest.json here (a published copy): lvd2m build checks its shards and adopts "
                           "them, then builds only new inputs")
    return facts


def _configs(source) -> dict[str, list[str]]:
    """The card's configs and the files each names, from README.md's YAML header."""
    if not source.exists("README.md"):
        return {}
    text = source.read_text("README.md")
    if not text.startswith("---"):
        return {}
    header = yaml.safe_load(text.split("---", 2)[1]) or {}
    return {c["config_name"]: [f["path"] for f in c.get("data_files", [])] for c in header.get("configs", [])}


def _version(source) -> Optional[str]:
    """The lvd2m-builder version that wrote the first row carrying provenance."""
    from lvd2m_builder.store.reader import open_shard

    for rel in source.data_files():
        with open_shard(source, rel, ["provenance"]) as (_features, batches):
            for batch in batches:
                for text in batch.column("provenance").to_pylist():
                    if text:
                        return json.loads(text).get("lvd2m_builder")
    return None


def _text(facts: dict[str, Any]) -> str:
    lines = [f"{facts['source']}",
             f"  rows:      {facts['rows']}",
             f"  rejects:   {facts['rejects']}" + (
                 f" ({', '.join(f'{stage} {n}' for stage, n in facts['rejected_by_stage'].items())})"
                 if facts["rejected_by_stage"] else "")]
    if facts["not_run"]:
        lines.append("  not run:   " + "; ".join(f"{stage} ({why})" for stage, why in facts["not_run"].items()))
    lines += [f"  configs:   {', '.join(facts['configs']) or '-'} ({facts['files']} data files)",
              f"  preset:    {facts['preset']}, settings hash {facts['settings_hash']}",
              f"  built by:  lvd2m-builder {facts['lvd2m_builder']}",
              f"  resume:    {facts['resume']}"]
    return "\n".join(lines)
