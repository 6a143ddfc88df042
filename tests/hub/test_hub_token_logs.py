"""The Hub token at full verbosity: ``lvd2m -vv push`` (and ``-vv validate`` of the pushed repo), each in a fresh
process, print and log every step at DEBUG, and the token appears in none of it nor in any file they write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakes import REPO_ROOT
from fakes.hub_server import HubServer
from fakes.synthetic_dataset import reject, row, write_dataset

TOKEN = "hf_carol_0123456789abcdefSECRET"


@pytest.fixture
def hub():
    with HubServer(tokens={TOKEN: "carol"}) as server:
        yield server


def _lvd2m(hub: HubServer, tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    """``python -m lvd2m_builder.cli ARGV`` in a new process whose huggingface_hub talks to the loopback Hub."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_TOKEN=TOKEN, HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HOME=str(tmp_path / "hf-home"),
               HF_DATASETS_CACHE=str(tmp_path / "hf-datasets"), HF_HUB_DISABLE_TELEMETRY="1",
               NO_PROXY="127.0.0.1", no_proxy="127.0.0.1",
               PYTHONPATH=os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "lvd2m_builder.cli", *argv], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def _files_holding(directory: Path, secret: str) -> list[str]:
    return [str(p) for p in directory.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_the_token_is_in_no_output_or_log_line_at_debug_level(hub, tmp_path):
    out = write_dataset(tmp_path / "lvd2m", [[row(0), row(1)]], [[reject(0)]], plots=False)
    pushed = _lvd2m(hub, tmp_path, "-vv", "push", str(out), "--repo-id", "carol/lvd2m")
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    checked = _lvd2m(hub, tmp_path, "-vv", "validate", "carol/lvd2m")
    assert checked.returncode == 0, checked.stderr[-3000:]
    # every step logged at DEBUG: the push's own lines and huggingface_hub's, the validation of the repo
    assert "DEBUG " in pushed.stderr and "INFO lvd2m_builder.hub: pushing" in pushed.stderr
    assert "INFO lvd2m_builder.hub: pushed: " in pushed.stderr and "DEBUG " in checked.stderr
    assert "INFO lvd2m_builder.validate.run: validated carol/lvd2m" in checked.stderr
    for done in (pushed, checked):
        assert TOKEN not in done.stdout and TOKEN not in done.stderr
        assert TOKEN[3:] not in done.stdout + done.stderr  # nor its body without the hf_ prefix
    assert _files_holding(out, TOKEN) == []
    assert TOKEN.encode() not in b"".join(hub.files("carol/lvd2m").values())
