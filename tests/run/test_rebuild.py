"""A settings change reruns only what depends on it: thresholds are re-decided from stored scores."""

from __future__ import annotations

import json
import shutil

import pytest
from datasets import load_dataset

from lvd2m_builder.config import preset
from lvd2m_builder.errors import OutputError
from lvd2m_builder.media.sampler import FrameSampler
from lvd2m_builder.run.build import build
from lvd2m_builder.run.rebuild import changed_fields
from lvd2m_builder.validate.run import validate


def _fates(out):
    rows = {r["video_id"]: (None, r) for r in load_dataset(str(out), streaming=True)["train"]}
    rows |= {r["video_id"]: (r["stage"], r) for r in load_dataset(str(out), "rejects", streaming=True)["train"]}
    return rows


@pytest.fixture
def decoded(monkeypatch):
    """Records which clips the sampler decodes."""
    seen = []
    real = FrameSampler.run

    def run(self, clip, tasks):
        seen.append(clip.ref.video_id)
        return real(self, clip, tasks)

    monkeypatch.setattr(FrameSampler, "run", run)
    return seen


@pytest.fixture(scope="module")
def built(tmp_path_factory, clips_dir):
    out = tmp_path_factory.mktemp("built") / "out"
    build([str(clips_dir)], out, preset("paper").replace({"shard_size": 2}), progress=False)
    return out


def _errors(out):
    return [f for f in validate(str(out)).findings if f.severity == "error"]


def test_threshold_changes_redecide_without_decoding(built, clips_dir, tmp_path, decoded):
    out = tmp_path / "out"
    shutil.copytree(built, out)
    before = _fates(out)
    stats = build([str(clips_dir)], out, preset("paper").replace({"shard_size": 2, "motion.min_score": 100.0}),
                  progress=False)
    assert decoded == []  # nothing needed new scores
    after = _fates(out)
    assert after["pan_long_take"][0] == "motion" and "< min 100" in after["pan_long_take"][1]["reason"]
    assert after["pan_long_take"][1]["flow_score"] == before["pan_long_take"][1]["flow_score"]
    for name in ("still_long_take", "hard_cut", "short_pan", "corrupt"):
        assert after[name][0] == before[name][0], name
    assert json.loads(after["hard_cut"][1]["provenance"])["settings"]["motion"]["min_score"] == 100.0
    assert stats["accepted"] == 0 and stats["clips"] == 5
    assert _errors(out) == []

    # Lower the gate and the threshold again: the short clip was never scored and the pan is promoted, so
    # exactly those two go through the pipeline; nothing else is decoded.
    stats = build([str(clips_dir)], out,
                  preset("paper").replace({"shard_size": 2, "duration.min_s": 4.0}), progress=False)
    assert sorted(decoded) == ["pan_long_take", "short_pan"]
    final = _fates(out)
    assert final["pan_long_take"][0] is None and final["short_pan"][0] is None
    assert final["still_long_take"][0] == "motion" and final["hard_cut"][0] == "cuts"
    assert stats["clips"] == 5 and stats["accepted"] == 2
    assert len({r["key"] for _, r in final.values()}) == 5
    assert _errors(out) == []


def test_a_scoring_change_needs_overwrite(built, clips_dir, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(built, out)
    with pytest.raises(OutputError, match=r"cuts\.threshold changed.*--overwrite"):
        build([str(clips_dir)], out, preset("paper").replace({"shard_size": 2, "cuts.threshold": 30.0}),
              progress=False)


def test_changed_fields_ignores_executor_knobs():
    old = preset("paper").to_dict()
    new = preset("paper").replace({"workers": 4, "motion.min_score": 5.0}).to_dict()
    assert changed_fields(old, new) == {"motion.min_score"}


def test_model_settings_rerun_only_clips_past_the_filters(built, clips_dir, tmp_path, decoded):
    out = tmp_path / "out"
    shutil.copytree(built, out)
    before = _fates(out)
    stats = build([str(clips_dir)], out,
                  preset("paper").replace({"shard_size": 4, "captions.segment_s": 20.0}), progress=False)
    assert decoded == ["pan_long_take"]  # the one clip the filters kept; their rejects are reused as they are
    after = _fates(out)
    assert {name: fate[0] for name, fate in after.items()} == {name: fate[0] for name, fate in before.items()}
    assert stats["clips"] == 5
    assert json.loads(after["still_long_take"][1]["provenance"])["settings"]["captions"]["segment_s"] == 20.0
    assert _errors(out) == []
