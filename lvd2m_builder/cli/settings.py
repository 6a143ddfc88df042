"""The options that make a build's config (preset, file, ``--set``, shortcuts), shared by ``build`` and ``config``
so that ``lvd2m config`` prints exactly what ``lvd2m build`` with the same options would use."""

from __future__ import annotations

import argparse

from lvd2m_builder.cli.env import workers as env_workers
from lvd2m_builder.config import MODEL_PRESETS, PRESETS, BuildConfig, load, parse_override

#: Shortcut flags: argparse dest -> the config field it sets.
SHORTCUTS = (("workers", "workers"), ("clip_timeout", "clip_timeout_s"), ("shard_size", "shard_size"),
             ("motion_backend", "motion.backend"), ("dataset_src", "dataset_src"), ("executor", "executor"),
             ("address", "ray_address"))


def add_settings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=PRESETS, default="paper", help="settings to start from (default: paper)")
    p.add_argument("--config", help="YAML file over the preset; keys are config field names (lvd2m config prints one)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                   help="override one setting, e.g. --set motion.min_score=15 (repeatable)")
    p.add_argument("--models", choices=sorted(MODEL_PRESETS), default="open",
                   help="model ids for the semantic check and captions: open (default) or the paper's open models")
    p.add_argument("--workers", type=int, help="worker processes (default 1, or $LVD2M_WORKERS)")
    p.add_argument("--executor", choices=("local", "ray"),
                   help="local processes (default), or a Ray Data stream: CPU stages and each model stage on actor "
                   "pools of their own, on one machine or a cluster (pip install 'lvd2m-builder[ray]')")
    p.add_argument("--address", metavar="RAY_ADDRESS",
                   help="--executor ray: the cluster to join, e.g. ray://head:10001 or auto (default: RAY_ADDRESS, "
                   "else a new local Ray)")
    p.add_argument("--clip-timeout", type=float, metavar="SECONDS",
                   help="reject a clip whose worker makes no progress for this long (runs a watched process pool)")
    p.add_argument("--shard-size", type=int, help="clips per shard (default 16)")
    p.add_argument("--motion-backend", choices=("dis", "raft"), help="optical flow backend (default dis)")
    p.add_argument("--dataset-src", help="value of the dataset_src column (default local)")


def config_from(args: argparse.Namespace) -> BuildConfig:
    """Preset, then ``--models``, then the YAML file, then ``--set``, then the shortcut flags (and the environment)."""
    overrides = {**MODEL_PRESETS[args.models], **dict(parse_override(text) for text in args.overrides)}
    if args.workers is None and env_workers() is not None:
        overrides.setdefault("workers", env_workers())
    for flag, name in SHORTCUTS:
        if getattr(args, flag) is not None:
            overrides[name] = getattr(args, flag)
    return load(args.config, args.preset, overrides)
