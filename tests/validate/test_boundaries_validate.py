"""validate compares the card's features with every shard's by name and type, not by count; a shard that does not read,
clip scores and rows without settings are reported, not skipped."""

from __future__ import annotations

import pytest
import yaml

from fakes.synthetic_dataset import reject, row, write_dataset, write_legacy
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


def _five(out, **values):
    """Five accepted rows in two shards, two rejects."""
    train = [[row(i, **values) for i in range(3)], [row(i, **values) for i in range(3, 5)]]
    return write_dataset(out, train, [[reject(0)], [reject(1)]], plots=False)


def test_a_shard_whose_pages_do_not_read_is_one_finding_on_one_line(tmp_path):
    """Footer intact, pages garbled (a bad disk, a bad copy): the read error becomes a finding naming the shard, its
    type and message squeezed onto one line, and the other shard's rows are still checked."""
    out = _five(tmp_path / "out")
    broken = out / "data" / "train-00001-of-00002.parquet"
    data = bytearray(broken.read_bytes())
    data[8:3000] = bytes(b ^ 0x5A for b in data[8:3000])  # past the leading magic, well before the footer
    broken.write_bytes(bytes(data))
    report = validate(str(out))
    (finding,) = [f for f in report.findings if f.code == "shard_unreadable"]
    assert finding.shard == "data/train-00001-of-00002.parquet" and finding.severity == "error"
    assert finding.message.startswith("OSError: ") and "page header" in finding.message
    assert "\n" not in finding.message and "  " not in finding.message
    assert report.rows["default"] == 3


def test_clip_scores_are_summarised(tmp_path):
    out = _five(tmp_path / "out", clip_score=0.25)
    summary = validate(str(out)).summary["clip_score"]
    assert (summary["rows"], summary["mean"], summary["median"]) == (5, 0.25, 0.25)


def test_rows_naming_no_settings_are_checked_against_the_dataset_and_said_so(tmp_path):
    """Imported rows carry no settings in their provenance: the build's settings stand in, with one warning."""
    out = _five(tmp_path / "out", provenance='{"lvd2m_builder": "import"}')
    findings = [(f.code, f.severity, f.message) for f in validate(str(out)).findings]
    assert findings == [("settings_from_dataset", "warning", "5 accepted rows name no settings in their provenance: "
                         "checked against the build's settings (manifest, else the paper preset)")]


def test_a_truncated_file_does_not_stop_the_check_of_the_files_after_it(tmp_path):
    out = _five(tmp_path / "out")
    first = out / "data" / "train-00000-of-00002.parquet"
    first.write_bytes(first.read_bytes()[:-100])
    report = validate(str(out))
    assert [(f.code, f.shard) for f in report.findings if f.code != "stats_mismatch"] == [
        ("parquet_truncated", "data/train-00000-of-00002.parquet")]
    assert report.rows["default"] == 2  # the second file's rows


def test_rows_are_numbered_through_a_shard_of_many_batches(tmp_path):
    """An Arrow shard (the layout before Parquet) streamed one row per batch: each row keeps its own number."""
    import pyarrow as pa

    train = [[row(0), row(1), row(2, duration=8.0)], [row(3), row(4)]]
    out = write_legacy(tmp_path / "out", train, [[reject(0)], [reject(1)]])
    path = out / "data" / "train-00000-of-00002.arrow"
    table = pa.ipc.open_stream(path.read_bytes()).read_all()  # in memory: the file is rewritten below
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=1):
            writer.write_batch(batch)
    report = validate(str(out))
    assert [(f.code, f.shard, f.row) for f in report.findings if f.code != "arrow_format"] == [
        ("duration_below_min", "data/train-00000-of-00002.arrow", 2)]
    assert report.rows["default"] == 5
