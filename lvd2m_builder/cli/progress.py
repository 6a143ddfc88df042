"""Progress bars: on a terminal by default, off with ``--no-progress`` (or on with ``--progress``, e.g. under CI)."""

from __future__ import annotations

import argparse


def progress_options(p: argparse.ArgumentParser) -> None:
    """``args.progress``: True, False, or None (tqdm's own rule: a bar only when stderr is a terminal)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--progress", dest="progress", action="store_true", default=None,
                       help="always show progress bars (default: only on a terminal)")
    group.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
