"""Settings people set once per machine, read from the environment; the flags on a command still win."""

from __future__ import annotations

import os
from typing import Optional

#: name -> what it sets; printed in ``lvd2m --help``.
VARIABLES = {
    "LVD2M_WORKERS": "default --workers of build (worker processes)",
    "LVD2M_CACHE": "where lvd2m keeps its own files (demo clips); default $XDG_CACHE_HOME/lvd2m or ~/.cache/lvd2m",
    "LVD2M_LOG_FORMAT": "default --log-format (text or json)",
    "LVD2M_LOG_FILE": "default --log-file",
    "HF_TOKEN": "the Hugging Face token push and info use (huggingface_hub reads it; never printed)",
    "ARROW_DEFAULT_MEMORY_POOL": "Arrow's memory pool; lvd2m sets jemalloc when unset (Linux x86-64)",
}


def epilog() -> str:
    return "environment:\n" + "\n".join(f"  {name:<17} {why}" for name, why in VARIABLES.items())


def workers() -> Optional[int]:
    """``LVD2M_WORKERS`` as a number, or None when unset; a value that is not a whole number >= 1 is an error."""
    from lvd2m_builder.errors import ConfigError

    raw = os.environ.get("LVD2M_WORKERS")
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError("LVD2M_WORKERS", raw, "must be a whole number >= 1")
    return value
