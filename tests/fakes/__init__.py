"""Fakes the tests share: a loopback Hub, a scripted OpenAI-compatible server, synthetic datasets."""

from pathlib import Path

#: The repository's root: child processes get it on PYTHONPATH.
REPO_ROOT = Path(__file__).resolve().parents[2]
