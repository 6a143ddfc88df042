"""Fuzz the inputs: a corpus of broken, absurd and hostile files (``fuzz_corpus``) built in one run of the CLI, on
the watched worker pool with a clip timeout. Every clip the inputs list leaves exactly once, as a row or as a
reject with a reason; the build exits 0 and no worker grows past a memory bound.

Run with ``--log-cli-level=INFO`` to see the report: cases, rejects by stage, the slowest clips.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from datasets import load_dataset

from fakes import REPO_ROOT
from fakes.fuzz_corpus import Case
from lvd2m_builder.inputs.listing import list_refs

log = logging.getLogger(__name__)

CLIP_TIMEOUT_S = 10  # a valid clip takes about a second; one that times out is still a reject with a reason
#: Far above a worker's need (models are off: ~1 GB) and far below what a 16384x16384 frame or a sampler asked for
#: billions of timestamps would take.
MAX_RSS_BYTES = 4 << 30


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")])}
    made = subprocess.run([sys.executable, "-m", "fakes.fuzz_corpus", str(root / "in")], capture_output=True,
                          text=True, timeout=300, env=env, check=True)
    cases = [Case(c["family"], c["name"], Path(c["path"]), c["clips"]) for c in json.loads(made.stdout)]
    out = root / "out"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(
        [sys.executable, "-m", "lvd2m_builder.cli", "build", *(str(c.path) for c in cases), "--out", str(out),
         "--workers", "2", "--clip-timeout", str(CLIP_TIMEOUT_S), "--shard-size", "4", "--no-progress"],
        capture_output=True, text=True, timeout=600,
        env=env,
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux; the largest child
    return cases, out, done, max(peak, before * 1024)


def _outcomes(out: Path) -> list[dict]:
    rows = [{**r, "stage": None} for r in load_dataset(str(out), streaming=True)["train"]]
    return rows + list(load_dataset(str(out), "rejects", streaming=True)["train"])


def test_the_build_exits_0_within_the_memory_bound(fuzzed):
    _, _, done, peak = fuzzed
    assert done.returncode == 0, done.stderr[-3000:]
    assert peak < MAX_RSS_BYTES


def test_every_listed_clip_leaves_exactly_once_with_a_reason_if_rejected(fuzzed):
    cases, out, done, _ = fuzzed
    assert done.returncode == 0, done.stderr[-3000:]
    outcomes = _outcomes(out)
    keys = Counter(o["key"] for o in outcomes)
    assert [k for k, n in keys.items() if n > 1] == []
    listed = {}
    for case in cases:
        case_keys = {ref.key for ref in list_refs([str(case.path)])}
        assert len(case_keys) == case.clips, case.name
        listed.update(dict.fromkeys(case_keys, case.name))
    assert set(keys) == set(listed)
    unexplained = [o["key"] for o in outcomes if o["stage"] is not None and not (o["reason"] or "").strip()]
    assert unexplained == []
    _report(cases, outcomes, listed)


def test_hostile_inputs_are_rejected_where_they_should_be(fuzzed):
    _, out, _, _ = fuzzed
    rejects = {(r["video_id"], r["stage"]): r["reason"] for r in _outcomes(out) if r["stage"] is not None}
    reasons = "\n".join(rejects.values())
    assert "'a::b.mp4' has '::' in its name" in reasons
    assert "'link.mp4' is a symlink, not a file" in reasons and "'folder.mp4' is a directory" in reasons
    assert "'dup.mp4' is one of 2 members with that name" in reasons
    assert "over the 1048576-byte cap for metadata" in reasons
    assert "unparsable CSV record (lines 11-13, 3 lines not read): unexpected end of data" in reasons
    assert "bytes that are not UTF-8 in caption" in reasons
    assert "not JSON: nested too deeply" in reasons
    accepted = {r["video_id"] for r in _outcomes(out) if r["stage"] is None}
    assert "padded" in accepted and " padded " not in accepted  # a table's spaces around video_id are not kept
    for empty in ("mp4", "mkv", "webm", "avi", "mov"):
        assert any(vid == "empty" and stage == "probe" for vid, stage in rejects), empty


def _seconds(outcome: dict) -> float:
    """Time spent on the clip; a clip that hung is charged the whole timeout its worker was given."""
    if outcome["stage"] == "timeout":
        return float(CLIP_TIMEOUT_S)
    return sum(json.loads(outcome["provenance"] or "{}").get("seconds", {}).values())


def _report(cases, outcomes: list[dict], listed: dict[str, str]) -> None:
    by_stage = Counter(o["stage"] or "accepted" for o in outcomes)
    timed = sorted(((_seconds(o), listed[o["key"]], o["stage"] or "accepted") for o in outcomes), reverse=True)
    log.info("fuzz: %d cases, %d clips listed; outcomes by stage: %s", len(cases), len(listed), dict(by_stage))
    log.info("fuzz: slowest clips (seconds in stages, case, fate): %s", [(round(s, 2), c, f) for s, c, f in timed[:5]])
