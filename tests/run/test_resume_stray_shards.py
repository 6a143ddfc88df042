"""A rerun over an output that holds work units the manifest never recorded: no duplicate keys, nothing lost.

With two workers shards finish out of order, so a build killed between a work unit's rename and the manifest's
update leaves a finished work unit the manifest does not know: the next run checks it and adopts it (never
deletes it), so its clips are not built again, and publishes its rows with the others.
"""

from __future__ import annotations

import json
import shutil

import pytest

from lvd2m_builder.config import preset
from lvd2m_builder.run import build as build_module
from lvd2m_builder.run.build import build
from lvd2m_builder.store.shards import read_table
from lvd2m_builder.testing import samples
from lvd2m_builder.validate.run import validate


def _keys(out, pattern: str) -> list[str]:
    return [key for path in sorted(out.glob(pattern)) for key in read_table(path, ["key"]).column("key").to_pylist()]


@pytest.fixture
def inputs(tmp_path, clips_dir):
    """Three clips that the duration gate and the probe decide without decoding: a build takes seconds."""
    directory = tmp_path / "in"
    directory.mkdir()
    shutil.copy(clips_dir / "short_pan.mp4", directory / "short_pan.mp4")
    shutil.copy(clips_dir / "corrupt.mp4", directory / "corrupt.mp4")
    samples.pan(directory / "short_still.mp4", seconds=3.0, px_per_frame=0)
    return directory


def test_a_stray_finished_shard_beside_recorded_ones_gives_no_duplicates(inputs, tmp_path, monkeypatch):
    out = tmp_path / "out"
    config = preset("paper").replace({"shard_size": 1})
    with monkeypatch.context() as patched:
        patched.setattr(build_module, "compact", lambda out, manifest, max_bytes: manifest)  # killed before its end
        first = build([str(inputs)], out, config, progress=False)
    keys = sorted(_keys(out, "data/*.arrow") + _keys(out, "rejects/*.arrow"))
    assert first["clips"] == len(keys) == 3
    # shard 1's files were renamed into place, then the build died before the manifest recorded them
    manifest = json.loads((out / "_manifest.json").read_text())
    (stray,) = [sid for sid, entry in manifest["shards"].items() if entry["index"] == 1]
    stray_files = [out / manifest["shards"][stray][kind] for kind in ("train", "rejects")]
    del manifest["shards"][stray]
    (out / "_manifest.json").write_text(json.dumps(manifest))
    (out / "data" / ".train-00009-of-00010.arrow.tmp-4242").write_bytes(b"half a shard")
    stray_rows = {r["key"]: r for path in stray_files for r in read_table(path).to_pylist()}

    again = build([str(inputs)], out, config, progress=False)
    assert sorted(_keys(out, "data/*.parquet") + _keys(out, "rejects/*.parquet")) == keys  # each key once, none lost
    assert again["clips"] == 3
    published = {r["key"]: r for pattern in ("data/*.parquet", "rejects/*.parquet")
                 for path in out.glob(pattern) for r in read_table(path).to_pylist()}
    assert {key: published[key] for key in stray_rows} == stray_rows  # adopted as they were, not rebuilt
    assert not any(path.exists() for path in stray_files)  # their rows are in the published files now
    assert not list(out.glob("*/.*.tmp-*"))
    report = validate(str(out))
    assert report.ok, report.text()
