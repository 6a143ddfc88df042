"""validate compares the card's features with every shard's by name and type, not by count."""

from __future__ import annotations

import pytest
import yaml

from fakes.synthetic_dataset import reject, row, write_dataset
from lvd2m_builder.validate.run import validate


def _retype(out, config: str, column: str, dtype: str) -> None:
    """Change one feature's dtype in the card's YAML, as a hand edit or another tool's card would."""
    path = out / "README.md"
    _, front, body = path.read_text().split("---", 2)
    data = yaml.safe_load(front)
    (info,) = [i for i in data["dataset_info"] if i.get("config_name", "default") == config]
    (feature,) = [f for f in info["features"] if f["name"] == column]
    assert feature["dtype"] != dtype
    feature["dtype"] = dtype
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False) + "---" + body)


@pytest.mark.parametrize("config, column, shard", [
    ("default", "flow_score", "data/train-00000-of-00001.parquet"),
    ("rejects", "duration", "rejects/train-00000-of-00001.parquet"),
], ids=["accepted-flow_score", "rejects-duration"])
def test_a_card_whose_dtype_changed_fails_validate(tmp_path, config, column, shard):
    out = write_dataset(tmp_path / "out", [[row(0), row(1)]], [[reject(0)]], plots=False)
    assert validate(str(out)).ok
    _retype(out, config, column, "float64")
    report = validate(str(out))
    assert not report.ok
    (finding,) = report.findings
    assert (finding.code, finding.shard) == ("features_mismatch", shard)
    assert f"other type: {column}" in finding.message
