"""lvd2m validate: every finding names its shard, row and key; exit 1 on any error."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from fakes.synthetic_dataset import (
    CAPTION_SETTINGS,
    SETTINGS,
    captioned,
    demo_build,
    provenance,
    reject,
    row,
    write_dataset,
    write_legacy,
)
from lvd2m_builder.cli import main
from lvd2m_builder.errors import ConfigError
from lvd2m_builder.validate.rows import RowRules, rules_for
from lvd2m_builder.validate.run import ValidateConfig, validate

TRAIN0, TRAIN1 = "data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"
REJECTS0 = "rejects/train-00000-of-00002.parquet"


def _dataset(out, replace=None, reject_replace=None, settings=CAPTION_SETTINGS):
    """Five captioned clips in two shards, two rejects; ``replace`` maps (shard, row) -> a row to put there."""
    train = [[captioned(0), captioned(1), captioned(2)], [captioned(3), captioned(4)]]
    rejects = [[reject(0)], [reject(1)]]
    for (shard, index), value in (replace or {}).items():
        train[shard][index] = value
    for (shard, index), value in (reject_replace or {}).items():
        rejects[shard][index] = value
    return write_dataset(out, train, rejects, settings, plots=False)


def _segments(*spans):
    return [{"start": a, "end": b, "caption": f"part {a}"} for a, b in spans]


CORRUPTIONS = {  # id -> (train replacements, reject replacements, expected (code, shard, row, key))
    "too-short": ({(0, 1): captioned(1, duration=8.0)}, {}, ("duration_below_min", TRAIN0, 1, "clip-0001")),
    "empty-span": ({(0, 1): captioned(1, span_start=5.0, span_end=5.0)}, {}, ("span_invalid", TRAIN0, 1, "clip-0001")),
    "cut": ({(1, 0): captioned(3, cut_times=[3.5])}, {}, ("cuts_in_accepted", TRAIN1, 0, "clip-0003")),
    "no-caption": ({(0, 2): captioned(2, refined_caption=" ")}, {}, ("caption_missing", TRAIN0, 2, "clip-0002")),
    "overlap": ({(0, 0): captioned(0, segments=_segments((0, 6), (5, 12)))}, {},
                ("segments_overlap", TRAIN0, 0, "clip-0000")),
    "unordered": ({(0, 0): captioned(0, segments=_segments((6, 12), (0, 6)))}, {},
                  ("segments_unordered", TRAIN0, 0, "clip-0000")),
    "outside": ({(0, 1): captioned(1, segments=_segments((0, 20)))}, {}, ("segment_outside", TRAIN0, 1, "clip-0001")),
    "inverted": ({(0, 1): captioned(1, segments=_segments((6, 3)))}, {}, ("segment_invalid", TRAIN0, 1, "clip-0001")),
    "duplicate-key": ({(1, 1): captioned(4, key="clip-0000")}, {}, ("key_duplicate", TRAIN1, 1, "clip-0000")),
    "accepted-and-rejected": ({}, {(0, 0): reject(0, key="clip-0002")},
                              ("key_accepted_and_rejected", REJECTS0, 0, "clip-0002")),
    "unexplained-reject": ({}, {(0, 0): reject(0, reason="")}, ("reject_unexplained", REJECTS0, 0, "reject-0000")),
    "bad-provenance": ({(0, 1): captioned(1, provenance="{not json")}, {},
                       ("provenance_invalid", TRAIN0, 1, "clip-0001")),
}


def test_a_good_dataset_has_no_findings(tmp_path):
    report = validate(str(_dataset(tmp_path / "ok")))
    assert report.ok and report.findings == []
    assert report.rows == {"default": 5, "rejects": 2} and report.shards == 4


@pytest.mark.parametrize("case", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_each_broken_promise_is_one_finding_naming_shard_row_and_key(tmp_path, case):
    replace, reject_replace, expected = CORRUPTIONS[case]
    report = validate(str(_dataset(tmp_path / "bad", replace, reject_replace)))
    assert not report.ok
    assert [(f.code, f.shard, f.row, f.key) for f in report.findings if f.severity == "error"] == [expected]


@pytest.mark.parametrize("settings, ran", [(SETTINGS, False), (CAPTION_SETTINGS, False)],
                         ids=["no-captions-section", "captions-enabled-but-skipped"])
def test_captions_are_required_only_where_the_captions_stage_ran(tmp_path, settings, ran):
    rows = [row(i, settings, provenance=provenance(settings, captions_ran=ran)) for i in range(3)]
    assert validate(str(write_dataset(tmp_path / "out", [rows], settings=settings, plots=False))).ok
    ran_rows = [row(i, CAPTION_SETTINGS, provenance=provenance(CAPTION_SETTINGS, captions_ran=True)) for i in range(3)]
    report = validate(str(write_dataset(tmp_path / "ran", [ran_rows], settings=CAPTION_SETTINGS, plots=False)))
    assert [f.code for f in report.findings] == ["caption_missing"] * 3


@pytest.mark.parametrize("provenance_extra, ran", [
    ({"seconds": {"probe": 0.1, "captions": 2.0}}, True),
    ({"models": {"segments": "vlm", "merge": "llm", "prompts": "v1"}}, True),
    ({"models": {"semantic": "vlm"}, "seconds": {"semantic": 1.0}}, False),
    ({}, False),
], ids=["caption-seconds", "caption-models", "semantic-only", "nothing"])
def test_what_shows_that_the_captions_stage_ran(provenance_extra, ran):
    text = json.dumps({"settings": CAPTION_SETTINGS, **provenance_extra})
    rules, own = rules_for(text, SETTINGS)
    assert rules.captions is ran and own and rules.min_s == CAPTION_SETTINGS["duration"]["min_s"]
    # without settings of its own a row is held to the dataset's, which here have no captions section
    assert rules_for(json.dumps(provenance_extra), SETTINGS) == (RowRules(10.0, None, False), False)


@pytest.mark.parametrize("limit, flagged", [(3, True), (4, False)], ids=["over-limit", "at-limit"])
def test_one_caption_on_many_clips_is_flagged_above_the_limit(tmp_path, limit, flagged):
    same = "A person walks along a beach at sunset."
    rows = [captioned(i) for i in range(7)]
    for i in (1, 3, 5, 6):
        rows[i]["refined_caption"] = same + ("  " if i == 5 else "")  # whitespace does not hide a repeat
    out = write_dataset(tmp_path / "out", [rows[:4], rows[4:]], settings=CAPTION_SETTINGS, plots=False)
    report = validate(str(out), ValidateConfig(max_caption_repeats=limit))
    found = [(f.code, f.shard, f.row, f.key) for f in report.findings]
    assert found == ([("caption_repeated", TRAIN0, 1, "clip-0001")] if flagged else [])
    if flagged:
        assert "on 4 clips (limit 3)" in report.findings[0].message


def test_caption_repeat_limit_must_be_positive():
    with pytest.raises(ConfigError, match="max_caption_repeats"):
        ValidateConfig(max_caption_repeats=0)


def _edit_card(out, edit):
    path = out / "README.md"
    _, front, body = path.read_text().split("---", 2)
    data = yaml.safe_load(front)
    edit(data)
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False) + "---" + body)


def test_card_yaml_that_does_not_parse(tmp_path):
    out = _dataset(tmp_path / "out")
    (out / "README.md").write_text("---\nconfigs: [default\n---\n# card\n")
    report = validate(str(out))
    assert [(f.code, f.shard) for f in report.findings] == [("card_yaml", "README.md")]
    assert report.rows == {"default": 5, "rejects": 2}  # rows are still checked, against schema.py


def test_card_features_that_differ_from_the_shards(tmp_path):
    out = _dataset(tmp_path / "out")
    _edit_card(out, lambda d: d["dataset_info"][0]["features"].pop())  # drops provenance from the card
    findings = validate(str(out)).findings
    assert [(f.code, f.shard) for f in findings] == [("features_mismatch", TRAIN0), ("features_mismatch", TRAIN1)]
    assert "unexpected: provenance" in findings[0].message


def test_configs_must_match_the_files_present(tmp_path):
    out = _dataset(tmp_path / "out")
    _edit_card(out, lambda d: d["configs"][0]["data_files"][0].update(path="data/nothing-*.parquet"))
    (out / "extra").mkdir()
    shutil.copy(out / REJECTS0, out / "extra" / "more.parquet")
    (out / "data" / ".train-00009.parquet.tmp-1").write_bytes(b"")  # a temporary file is no data file
    found = sorted((f.code, f.shard) for f in validate(str(out)).findings)
    assert found == [("config_no_files", "README.md"), ("file_not_in_config", TRAIN0),
                     ("file_not_in_config", TRAIN1), ("file_not_in_config", "extra/more.parquet"),
                     ("stats_mismatch", "stats.json")]


def test_a_truncated_parquet_file_is_a_finding_not_a_crash(tmp_path):
    out = _dataset(tmp_path / "out")
    data = (out / TRAIN1).read_bytes()
    (out / TRAIN1).write_bytes(data[: len(data) - 100])  # the footer is gone, as after a cut-short copy
    report = validate(str(out))
    assert [(f.code, f.shard) for f in report.findings if f.code != "stats_mismatch"] == [
        ("parquet_truncated", TRAIN1)]
    assert "no footer" in report.findings[0].message and report.rows["default"] == 3  # TRAIN0's rows


def test_a_parquet_file_whose_schema_differs_from_the_card(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = _dataset(tmp_path / "out")
    table = pq.read_table(out / TRAIN1)
    index = table.schema.get_field_index("flow_score")
    pq.write_table(table.set_column(index, "flow_score", table.column("flow_score").cast(pa.float64()))
                   .replace_schema_metadata(None), out / TRAIN1)  # as another tool may write it
    findings = [f for f in validate(str(out)).findings if f.code == "features_mismatch"]
    assert [f.shard for f in findings] == [TRAIN1] and "other type: flow_score" in findings[0].message


def test_a_row_group_larger_than_the_viewer_reads(tmp_path):
    import pyarrow.parquet as pq

    out = _dataset(tmp_path / "out")
    sizes = {rel: pq.ParquetFile(out / rel).metadata.row_group(0).total_byte_size for rel in (TRAIN0, TRAIN1)}
    limit = (sizes[TRAIN0] + sizes[TRAIN1]) // 2  # TRAIN0 holds three rows, TRAIN1 two: only TRAIN0 is over
    assert sizes[TRAIN0] > limit >= sizes[TRAIN1]
    report = validate(str(out), ValidateConfig(row_group_bytes=limit))
    assert [(f.code, f.shard) for f in report.findings] == [("row_group_too_large", TRAIN0)]
    assert f"row group 0 holds {sizes[TRAIN0]} uncompressed bytes, over the {limit}" in report.findings[0].message
    assert report.rows == {"default": 5, "rejects": 2}  # its rows are still checked


def test_stats_json_must_count_the_rows(tmp_path):
    out = _dataset(tmp_path / "out")
    stats = json.loads((out / "stats.json").read_text())
    (out / "stats.json").write_text(json.dumps({**stats, "rejected": 5}))
    assert [(f.code, f.message) for f in validate(str(out)).findings] == [
        ("stats_mismatch", "stats.json says 5 rejected, the rejects shards hold 2 rows")]


def test_cli_report_for_people_and_json_for_machines(tmp_path, capsys):
    good = _dataset(tmp_path / "good")
    assert main(["validate", str(good)]) == 0
    assert "OK: 4 shards (5 default, 2 rejects); 0 errors" in capsys.readouterr().out
    rows = [captioned(i, duration=5.0) for i in range(14)]
    bad = write_dataset(tmp_path / "bad", [rows], settings=CAPTION_SETTINGS, plots=False)
    assert main(["validate", str(bad)]) == 1
    text = capsys.readouterr().out
    assert "INVALID" in text and "14 errors" in text
    assert "ERROR duration_below_min: data/train-00000-of-00001.parquet, row 0, key clip-0000: duration 5.000 s" in text
    assert "... 4 more duration_below_min (all with --json)" in text
    assert main(["validate", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["errors"] == 14
    assert [(f["row"], f["key"]) for f in report["findings"]] == [(i, f"clip-{i:04d}") for i in range(14)]


def test_the_real_pipeline_output_is_valid(tmp_path_factory, clips_dir):
    report = validate(str(demo_build(tmp_path_factory, clips_dir)))
    assert report.ok, report.text()
    assert report.rows["default"] >= 1 and report.rows["rejects"] >= 1


def test_work_units_a_stopped_build_left_are_a_warning_not_data_files(tmp_path):
    from lvd2m_builder.store.manifest import Manifest

    out = _dataset(tmp_path / "out")
    unit = "data/train-00007-of-00009.arrow"  # as a build writes its work units, recorded, not yet published
    write_legacy(tmp_path / "old", [[captioned(5)]], [[]], settings=CAPTION_SETTINGS)
    shutil.copy(tmp_path / "old" / "data/train-00000-of-00001.arrow", out / unit)
    shutil.copy(tmp_path / "old" / "rejects/rejects-00000-of-00001.arrow", out / "rejects/rejects-00007-of-00009.arrow")
    assert [f.code for f in validate(str(out)).findings] == ["file_not_in_config"] * 2  # not recorded: foreign
    manifest = Manifest.load(out)
    manifest.shards["unit"] = {"index": 7, "train": unit, "rejects": "rejects/rejects-00007-of-00009.arrow",
                               "stats": {}}
    manifest.save(out)
    report = validate(str(out))
    assert report.ok and [(f.code, f.severity, f.shard) for f in report.findings] == [
        ("units_unpublished", "warning", unit)]
