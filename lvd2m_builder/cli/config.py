"""``lvd2m config``: print the effective config (preset, file, ``--set``) as YAML that ``--config`` takes back."""

from __future__ import annotations

import argparse

import yaml

from lvd2m_builder.cli.settings import add_settings, config_from


def add(sub) -> None:
    p = sub.add_parser("config", help="print the effective build config as YAML",
                       description="Print the config a build with these options would use: the preset, then "
                       "--config, then --set and the shortcut flags. The YAML is what --config accepts back.")
    add_settings(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    data = config_from(args).to_dict()
    print(yaml.safe_dump(_plain(data), sort_keys=False, allow_unicode=True), end="")
    return 0


def _plain(value):
    """Tuples as lists: YAML's safe dumper knows no tuples, and from_dict reads lists back as tuples."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
