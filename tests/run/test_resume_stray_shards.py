"""A rerun over an output that holds work units the manifest never recorded: no duplicate keys, nothing lost.

With two workers shards finish out of order, so a build killed between a work unit's rename and the manifest's
update leaves a finished-looking file whose clips the next run builds again under a new unit name.
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
    keys = sorted(_keys(out, "_work/data/*.arrow") + _keys(out, "_work/rejects/*.arrow"))
    assert first["clips"] == len(keys) == 3
    # shard 1's files were renamed into place, then the build died before the manifest recorded them
    manifest = json.loads((out / "_manifest.json").read_text())
    (stray,) = [sid for sid, entry in manifest["shards"].items() if entry["index"] == 1]
    stray_files = [out / manifest["shards"][stray][kind] for kind in ("train", "rejects")]
    del manifest["shards"][stray]
    (out / "_manifest.json").write_text(json.dumps(manifest))
    (out / "_work" / "data" / ".unit-00009.arrow.tmp-4242").write_bytes(b"half a shard")
    assert all(path.exists() for path in stray_files)

    again = build([str(inputs)], out, config, progress=False)
    assert sorted(_keys(out, "data/*.parquet") + _keys(out, "rejects/*.parquet")) == keys  # each key once, none lost
    assert again["clips"] == 3
    assert not any(path.exists() for path in stray_files)
    assert not list(out.glob("**/.*.tmp-*")) and not (out / "_work").exists()
    report = validate(str(out))
    assert report.ok, report.text()
