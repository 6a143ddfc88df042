"""The `lvd2m` entry point in a child process, and what tests compare around it (checksum listings, keys)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

from datasets import load_dataset

from fakes import REPO_ROOT


def lvd2m(*args, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """``lvd2m ARGS`` run as a user runs it, against this checkout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "lvd2m_builder.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env)


def checksums(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` with its sha256: equal listings mean nothing was deleted or replaced."""
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The single stderr line of a usage error (exit 2); fails the test otherwise."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, (result.returncode, result.stderr)
    return lines[0]


def keys(out: Path, config: Optional[str] = None) -> list[str]:
    """The sorted keys of one of ``out``'s configs, streamed as a user streams them."""
    return sorted(row["key"] for row in load_dataset(str(out), config, streaming=True)["train"])
