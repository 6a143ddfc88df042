"""The card's side of validation: its YAML parses, declares configs and features, and matches the files present.

When the card fails, ``schema.py``'s configs and features stand in, so the rows are still checked.
"""

from __future__ import annotations

import re
from typing import AbstractSet, Any

import yaml
from datasets import Features

from lvd2m_builder import schema
from lvd2m_builder.store.reader import DatasetSource
from lvd2m_builder.validate.findings import Report

ACCEPTED, REJECTS, VIDEOS = "default", "rejects", "videos"
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", re.DOTALL)


def card_configs(source: DatasetSource, report: Report) -> tuple[dict[str, list[str]], dict[str, Features]]:
    """Configs and features from the card; schema.py's stand in (to still check rows) when the card fails."""
    fallback = _configs(schema.configs()), {ACCEPTED: schema.ROW_FEATURES, REJECTS: schema.REJECT_FEATURES}
    if not source.exists("README.md"):
        report.add("card_missing", "no README.md (dataset card)", shard="README.md")
        return fallback
    match = _FRONT_MATTER.match(source.read_text("README.md"))
    try:
        data = yaml.safe_load(match.group(1)) if match else None
    except yaml.YAMLError as e:
        report.add("card_yaml", f"the card's YAML does not parse: {' '.join(str(e).split())}", shard="README.md")
        return fallback
    if not isinstance(data, dict):
        report.add("card_yaml", "the card has no YAML mapping between --- lines", shard="README.md")
        return fallback
    try:
        configs = _configs(data.get("configs"))
    except (TypeError, KeyError, AttributeError) as e:
        report.add("card_configs", f"malformed configs: {e!r}", shard="README.md")
        return fallback
    infos = data.get("dataset_info") or []
    infos = [infos] if isinstance(infos, dict) else infos
    features: dict[str, Features] = {}
    for info in infos:
        name = info.get("config_name", ACCEPTED)
        try:
            features[name] = Features._from_yaml_list(info["features"])
        except (KeyError, TypeError, ValueError) as e:
            report.add("card_features", f"config {name}: features do not parse: {e!r}", shard="README.md")
    for name in configs:
        if name not in features:
            report.add("card_features", f"config {name} has no dataset_info features", shard="README.md")
    if not configs:
        report.add("card_configs", "the card declares no configs", shard="README.md")
        return fallback[0], features
    return configs, features


def _configs(raw: Any) -> dict[str, list[str]]:
    """config name -> data file patterns, from any of the forms the card's ``data_files`` may take."""
    configs = {}
    for entry in raw or []:
        data_files = entry["data_files"]
        if isinstance(data_files, dict):
            data_files = list(data_files.values())
        patterns = []
        for item in data_files if isinstance(data_files, list) else [data_files]:
            paths = item["path"] if isinstance(item, dict) else item
            patterns += paths if isinstance(paths, list) else [paths]
        configs[entry["config_name"]] = patterns
    return configs


def config_files(source: DatasetSource, configs: dict[str, list[str]], report: Report,
                 units: AbstractSet[str] = frozenset()) -> dict[str, list[str]]:
    """Each config's files; a data file no config names is a finding, unless it is one of the manifest's work
    ``units`` (rows a build has not published yet: validate warns about those)."""
    files, owner = {}, {}
    for name, patterns in configs.items():
        files[name] = sorted({rel for pattern in patterns for rel in source.glob(pattern)})
        if not files[name]:
            report.add("config_no_files", f"config {name}: no file matches {patterns}", shard="README.md")
        for rel in files[name]:
            if rel in owner:
                report.add("config_overlap", f"file is in configs {owner[rel]} and {name}", shard=rel)
            owner.setdefault(rel, name)
    for rel in source.data_files():
        if rel not in owner and rel not in units:
            report.add("file_not_in_config", "data file matched by no config: load_dataset ignores it", shard=rel)
    return files
