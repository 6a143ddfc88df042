"""``lvd2m import``: the released LVD-2M tables (fixture CSVs in the release's column layout) into shards."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import fsspec
import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

from lvd2m_builder import schema
from lvd2m_builder.card.plots import draw_plots
from lvd2m_builder.card.stats import Summary, combine
from lvd2m_builder.card.write import refresh_card
from lvd2m_builder.cli import main
from lvd2m_builder.errors import MalformedRowError, OutputError, SourceError
from lvd2m_builder.release.captions import segments
from lvd2m_builder.release.importer import ImportConfig, _Card, import_tables
from lvd2m_builder.release.spans import hdvg_span, parse_span
from lvd2m_builder.release.tally import FirstSeen, HashTally, digest, digests
from lvd2m_builder.threads import ahead

COLUMNS = ["key", "video_id", "url", "dataset_src", "orig_caption", "raw_caption", "refined_caption",
           "rewritten_caption", "total score", "span", "video_time", "orig_span", "scene_cut"]
SHARED = "The video shows a scene."  # the release's kind of caption repeated across many rows


def record(key, src="panda70m", span="['00:00:17.759', '00:00:43.279']", video_time="25.52", score="31.5",
           refined=None, raw="Caption 1: A dog runs. Caption 2: The dog jumps.", **extra) -> dict:
    row = {"key": key, "video_id": f"vid{key}", "url": f"https://www.youtube.com/watch?v=vid{key}",
           "dataset_src": src, "orig_caption": "a dog", "raw_caption": raw,
           "refined_caption": refined or f"A dog runs and jumps ({key}).", "rewritten_caption": "dog jumping",
           "total score": score, "span": span, "video_time": video_time, "orig_span": "", "scene_cut": ""}
    row.update(extra)
    return row


def write_csv(path: Path, rows: list[dict], columns=COLUMNS) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def ytb_rows() -> list[dict]:
    return [
        record("ok1"),  # line 2
        record("ok2", src="internvid", span="['0:01:20.880', '0:01:35.000']", video_time="14.12",
               raw='Caption 1: A man says "hello,\nworld", then waves.'),  # lines 3-4: quotes and a newline
        record("badlit", span="['00:00:17.759', "),  # line 5
        record("neg", span="['-00:00:01.000', '00:00:12.000']"),  # line 6
        record("rev", span="['00:00:40.000', '00:00:20.000']"),  # line 7
        record("score", score="high"),  # line 8
        record("", video_id="nokey"),  # line 9: missing key
        record("nospan", span=""),  # line 10: a YouTube clip without a span
    ]


def hdvg_rows() -> list[dict]:
    return [
        record("hd_whole", src="hdvg", span="", video_time="30.0",
               orig_span="['00:01:00.000', '00:01:30.000']", scene_cut="[0, -1]", raw="One caption, no markers."),
        record("hd_cut", src="hdvg", span="", video_time="12.0",
               orig_span="['00:01:00.000', '00:01:30.000']", scene_cut="[50, 350]", raw=""),
        record("hd_bad", src="hdvg", span="", video_time="12.0",
               orig_span="['00:01:00.000', '00:01:30.000']", scene_cut="[350, 50]"),
    ]


def webvid_rows() -> list[dict]:
    rows = [record("wv1", src="webvid", span="", video_time="14.5", raw="Caption 1: x Caption 3: y")]
    rows += [record(f"rep{i}", src="webvid", span="", video_time="11", refined=SHARED) for i in range(7)]
    return rows


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> list[Path]:
    directory = tmp_path_factory.mktemp("tables")
    return [write_csv(directory / "ytb_600k_720p.csv", ytb_rows()),
            write_csv(directory / "hdvg_300k_720p.csv", hdvg_rows()),
            write_csv(directory / "webvid_1200k_336_short.csv", webvid_rows())]


@pytest.fixture(scope="module")
def imported(tables, tmp_path_factory):
    """Imported once for the module; tests that write elsewhere use their own tmp_path."""
    out = tmp_path_factory.mktemp("imported") / "out"
    stats = import_tables([str(t) for t in tables], out, ImportConfig(shard_size=4), progress=False)
    return out, stats


@pytest.fixture(scope="module")
def rejects(imported) -> dict[str, dict]:
    return _rows(imported[0], "rejects")


def _rows(out: Path, config: str = "default") -> dict[str, dict]:
    return {r["key"]: r for r in load_dataset(str(out), config, streaming=True)["train"]}


def test_accepted_rows_map_onto_the_schema(imported):
    out, stats = imported
    rows = _rows(out)
    assert set(rows) == {"ok1", "ok2", "hd_whole", "hd_cut", "wv1", *(f"rep{i}" for i in range(7))}
    ok1 = rows["ok1"]
    assert ok1["span_start"] == pytest.approx(17.759) and ok1["span_end"] == pytest.approx(43.279)
    assert ok1["duration"] == pytest.approx(25.52) and ok1["flow_score"] == pytest.approx(31.5)
    assert ok1["flow_backend"] == "raft" and ok1["dataset_src"] == "panda70m" and ok1["video_id"] == "vidok1"
    assert [s["caption"] for s in ok1["segments"]] == ["A dog runs.", "The dog jumps."]
    assert rows["ok2"]["span_start"] == pytest.approx(80.88) and rows["ok2"]["span_end"] == pytest.approx(95.0)
    assert rows["ok2"]["raw_caption"] == 'Caption 1: A man says "hello,\nworld", then waves.'
    assert rows["ok2"]["segments"][0]["caption"] == 'A man says "hello,\nworld", then waves.'
    assert (rows["hd_whole"]["span_start"], rows["hd_whole"]["span_end"]) == pytest.approx((60.0, 90.0))
    # scene_cut [50, 350] over 12 s -> 25 fps -> starts 2 s into orig_span
    assert (rows["hd_cut"]["span_start"], rows["hd_cut"]["span_end"]) == pytest.approx((62.0, 74.0))
    assert rows["hd_cut"]["segments"] == []
    assert (rows["wv1"]["span_start"], rows["wv1"]["span_end"]) == pytest.approx((0.0, 14.5))
    assert {r["dataset_src"] for r in rows.values()} == {"panda70m", "internvid", "hdvg", "webvid"}
    assert stats["import"]["by_dataset_src"] == {"webvid": 8, "hdvg": 2, "panda70m": 1, "internvid": 1}
    provenance = json.loads(rows["hd_cut"]["provenance"])
    assert provenance["release"]["scene_cut"] == "[50, 350]"
    assert provenance["imported"] == {"file": "hdvg_300k_720p.csv", "line": 3}


@pytest.mark.parametrize(
    "key, line, reason",
    [("badlit", 5, "bad span literal"), ("neg", 6, "negative span"), ("rev", 7, "reversed span"),
     ("score", 8, "total score: not a number"), ("ytb_600k_720p.csv:9", 9, "missing key"),
     ("nospan", 10, "missing span"), ("hd_bad", 4, "reversed span")],
    ids=["bad-literal", "negative", "reversed", "non-numeric-score", "missing-key", "missing-span", "hdvg-reversed"],
)
def test_malformed_rows_become_rejects_with_file_and_line(rejects, key, line, reason):
    reject = rejects[key]
    assert reject["stage"] == "source"
    assert f"line {line}:" in reject["reason"] and reason in reject["reason"]
    assert reject["reason"].startswith("hdvg_300k_720p.csv" if key.startswith("hd") else "ytb_600k_720p.csv")


def test_every_row_leaves_once_in_parquet_files_of_at_most_shard_size_rows(imported):
    out, stats = imported
    assert stats["clips"] == 8 + 3 + 8 and stats["accepted"] == 12 and stats["rejected"] == 7
    train = sorted(p.name for p in (out / "data").glob("*"))
    rejects = sorted(p.name for p in (out / "rejects").glob("*"))
    assert train == [f"train-{i:05d}-of-00003.parquet" for i in range(3)]  # 12 accepted rows, 4 a file
    assert rejects == [f"train-{i:05d}-of-00002.parquet" for i in range(2)]  # 7 rejects
    assert [pq.ParquetFile(out / "data" / name).metadata.num_rows for name in train] == [4, 4, 4]
    assert not list(out.rglob(".*tmp*"))
    assert [f["rows"] for f in stats["import"]["files"]] == [8, 3, 8]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["shards"] == {} and manifest["published"]["stats"]["clips"] == 19
    assert manifest["published"]["train"] == [f"data/{name}" for name in train]


def test_an_import_is_one_file_per_config_by_default_and_says_where_it_comes_from(tables, tmp_path):
    out = tmp_path / "out"
    import_tables([str(t) for t in tables], out, progress=False)
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.parquet")) == [
        "data/train-00000-of-00001.parquet", "rejects/train-00000-of-00001.parquet"]
    card = (out / "README.md").read_text()
    assert "source_datasets:\n- extended|lvd2m\n" in card


def test_repeated_refined_caption_is_flagged(imported, tables, tmp_path):
    _, stats = imported
    repeated = stats["repeated_refined_captions"]
    assert repeated["captions"] == 1 and repeated["rows"] == 7
    assert repeated["top"] == [{"rows": 7, "first_key": "rep0", "caption": SHARED}]
    assert json.loads((imported[0] / "stats.json").read_text())["repeated_refined_captions"] == repeated
    loose = import_tables([str(t) for t in tables], tmp_path / "loose", ImportConfig(max_caption_repeats=7),
                          progress=False)
    assert loose["repeated_refined_captions"]["captions"] == 0


def test_segment_rules_and_unparsable_numbering(imported):
    _, stats = imported
    rules = stats["import"]["segment_times"]
    assert rules["unparsed"] == 1  # wv1: "Caption 1 ... Caption 3"
    assert rules["none"] == 1  # hd_cut has no raw caption
    assert segments("Caption 1: a Caption 2: b", 40.0)[0] == [
        {"start": 0.0, "end": 30.0, "caption": "a"}, {"start": 30.0, "end": 40.0, "caption": "b"}]
    assert segments("Caption 1: a Caption 2: b", 20.0)[0][1] == {"start": 10.0, "end": 20.0, "caption": "b"}


def test_extra_columns_kept_in_provenance(tmp_path):
    columns = [*COLUMNS, "aesthetic"]
    path = write_csv(tmp_path / "ytb.csv", [record("x", aesthetic="5.1")], columns)
    stats = import_tables([str(path)], tmp_path / "out", progress=False)
    (row,) = _rows(tmp_path / "out").values()
    assert json.loads(row["provenance"])["extra"] == {"aesthetic": "5.1"}
    assert stats["import"]["extra_columns"] == ["aesthetic"]


def test_reads_fsspec_urls_and_compressed_files(tmp_path):
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows([record("m1"), record("m2", span="[1, 0.5]")])
    with fsspec.open("memory://lvd2m-test/ytb_600k_720p.csv.gz", "wb") as f:
        f.write(gzip.compress(buffer.getvalue().encode()))
    stats = import_tables(["memory://lvd2m-test/ytb_600k_720p.csv.gz"], tmp_path / "out", progress=False)
    assert (stats["accepted"], stats["rejected"]) == (1, 1)
    assert "ytb_600k_720p.csv.gz line 3: span: reversed span" in _rows(tmp_path / "out", "rejects")["m2"]["reason"]


def test_surplus_fields_and_duplicate_keys(tmp_path):
    path = tmp_path / "ytb.csv"
    write_csv(path, [record("a"), record("a")])
    with open(path, "a", newline="") as f:
        csv.writer(f).writerow([*record("b").values(), "surplus"])
    stats = import_tables([str(path)], tmp_path / "out", progress=False)
    assert stats["import"]["duplicate_keys"] == 1
    rejects = _rows(tmp_path / "out", "rejects")
    assert "line 4: row: 1 more field(s) than the header" in rejects["b"]["reason"]
    assert rejects["ytb.csv:3"]["reason"] == "ytb.csv line 3: key: repeats the key of ytb.csv line 2 ('a')"


def test_a_repeated_key_is_a_reject_naming_both_lines_and_the_first_row_stays(tmp_path):
    first = write_csv(tmp_path / "ytb_a.csv", [record("k1", refined="The first k1."), record("k2"), record("k3")])
    second = write_csv(tmp_path / "ytb_b.csv", [record("k2", refined="Another k2."), record("k1"), record("k4")])
    stats = import_tables([str(first), str(second)], tmp_path / "out", progress=False)
    assert (stats["accepted"], stats["rejected"], stats["import"]["duplicate_keys"]) == (4, 2, 2)
    train, rejects = _rows(tmp_path / "out"), _rows(tmp_path / "out", "rejects")
    assert sorted(train) == ["k1", "k2", "k3", "k4"] and train["k1"]["refined_caption"] == "The first k1."
    assert {key: r["reason"] for key, r in rejects.items()} == {
        "ytb_b.csv:2": "ytb_b.csv line 2: key: repeats the key of ytb_a.csv line 3 ('k2')",
        "ytb_b.csv:3": "ytb_b.csv line 3: key: repeats the key of ytb_a.csv line 2 ('k1')",
    }
    assert not set(train) & set(rejects)  # so validate finds no key both accepted and rejected


def test_first_seen_answers_across_merges():
    seen = FirstSeen(batch=3)
    places = [seen.first(f"key{i % 7}", i) for i in range(20)]
    assert places == [None] * 7 + [i % 7 for i in range(7, 20)]


def test_missing_table_fails_before_writing(tables, tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        import_tables([str(tables[0]), str(tmp_path / "nope.csv")], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_refuses_to_mix_into_existing_shards_unless_overwrite(tables, tmp_path):
    out = tmp_path / "out"
    import_tables([str(tables[2])], out, progress=False)
    with pytest.raises(OutputError, match="--overwrite"):
        import_tables([str(tables[0])], out, progress=False)
    stats = import_tables([str(tables[0])], out, overwrite=True, progress=False)
    assert stats["clips"] == 8 and len(_rows(out)) == 2


def test_cli_import_prints_counts_and_card_loads(tables, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["import", *map(str, tables), "--out", str(out), "--no-progress"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["rows"] == 19 and printed["repeated_refined_captions"] == 1
    card = (out / "README.md").read_text()
    assert schema.TRAIN_PATTERN in card and schema.REJECTS_PATTERN in card
    assert main(["import", str(tables[0]), "--out", str(out), "--shard-size", "0", "--overwrite"]) == 2


@pytest.mark.parametrize(
    "text, error",
    [("['00:00:01.000']", "expected a list of 2"), ("[1, 2", "bad span literal"), ("['1:00', '2:00']", "not a time"),
     ("[float('nan'), 2]", "bad span literal"), ("['0:00:05.0', '0:00:05.0']", "empty span")],
    ids=["one-element", "unclosed", "no-seconds", "call", "empty"],
)
def test_span_parser_rejects(text, error):
    with pytest.raises(MalformedRowError, match=error):
        parse_span(text)


def test_hdvg_whole_clip_not_at_frame_zero_uses_video_time():
    assert hdvg_span("['0:00:10.0', '0:00:40.0']", "[100, -1]", 20.0) == pytest.approx((20.0, 40.0))
    with pytest.raises(MalformedRowError, match="needs video_time"):
        hdvg_span("['0:00:10.0', '0:00:40.0']", "[100, -1]", None)
    with pytest.raises(MalformedRowError, match="runs past orig_span"):
        hdvg_span("['0:00:10.0', '0:00:20.0']", "[0, 300]", 30.0 * 2)


def test_hash_tally_counts_exactly():
    tally = HashTally()
    tally.extend(digests(["a", "b", "a"]))
    tally.extend(digests(["c", "a", "b", "d"]))
    assert [(r.count, r.first) for r in tally.repeats(2)] == [(3, 0), (2, 1)]
    assert tally.repeats(4) == [] and len(tally) == 7


def test_a_blocks_digests_are_each_texts_digest():
    texts = [f"caption {i}" for i in range(200)] + ["", "é", "a" * 5000]
    got = digests(texts)
    assert got.dtype == np.uint64 and got.tolist() == [digest(text) for text in texts]
    assert any(hash(text) < 0 for text in texts) and any(hash(text) > 0 for text in texts)  # both signs met


def test_a_field_past_the_limit_is_one_reject_and_reading_goes_on(tmp_path):
    from lvd2m_builder.inputs.csv_stream import FIELD_LIMIT

    rows = [record("before"), record("huge", refined="x" * (FIELD_LIMIT + 10)), record("after")]
    path = write_csv(tmp_path / "ytb.csv", rows)
    stats = import_tables([str(path)], tmp_path / "out", progress=False)
    assert (stats["accepted"], stats["rejected"]) == (2, 1)
    (reject,) = _rows(tmp_path / "out", "rejects").values()
    assert "ytb.csv line 3: row: unparsable CSV record" in reject["reason"]
    assert "field larger than field limit" in reject["reason"]
    assert set(_rows(tmp_path / "out")) == {"before", "after"}


def test_bytes_that_are_not_utf8_reject_their_row_instead_of_changing_the_key(tmp_path):
    path = write_csv(tmp_path / "ytb.csv", [record("fine")])
    with open(path, "ab") as f:
        f.write(b"caf\xe9" + ",".join([""] + list(record("x").values())[1:]).encode() + b"\n")
    stats = import_tables([str(path)], tmp_path / "out", progress=False)
    assert (stats["accepted"], stats["rejected"]) == (1, 1)
    (reject,) = _rows(tmp_path / "out", "rejects").values()
    assert reject["reason"] == "ytb.csv line 3: row: bytes that are not UTF-8 in key"


def test_the_card_the_import_sums_up_as_it_writes_is_the_card_of_the_rows_written(imported, tmp_path):
    out = Path(shutil.copytree(imported[0], tmp_path / "out"))
    written = (out / "README.md").read_text()
    plots = {path.name: path.read_bytes() for path in (out / "plots").glob("*.png")}
    assert "mean caption words" in written and len(plots) == 3
    refresh_card(out)  # the card again, from the rows read back from the published files
    assert (out / "README.md").read_text() == written
    assert {path.name: path.read_bytes() for path in (out / "plots").glob("*.png")} == plots


def test_a_repeated_caption_among_rows_without_one_names_its_first_row(tmp_path):
    rows = []
    for i in range(8):
        empty = record(f"none{i}")
        empty["refined_caption"] = ""  # no caption: not tallied, but a row all the same
        rows += [empty, record(f"rep{i}", refined=SHARED)]
    stats = import_tables([str(write_csv(tmp_path / "ytb.csv", rows))], tmp_path / "out", progress=False)
    assert stats["accepted"] == 16
    assert stats["repeated_refined_captions"]["top"] == [{"rows": 8, "first_key": "rep0", "caption": SHARED}]


def test_the_cards_plots_are_drawn_once_the_last_block_is_tallied_before_the_writer_has_it():
    parts = [Summary(durations=np.array([12.0 + i, 40.0]), flow_scores=np.array([25.0 + i]),
                     caption_words=np.array([60 + i])) for i in range(3)]
    blocks = [SimpleNamespace(tally=SimpleNamespace(summary=part)) for part in parts]
    with ThreadPoolExecutor(1) as pool:
        card = _Card(pool)
        stream = ahead(card.collect(iter(blocks)), 3)
        first = next(stream)  # the writer has the first block; the tallying thread has run out
        deadline = time.monotonic() + 10
        while card.drawn is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first is blocks[0] and card.drawn is not None  # drawn while two blocks still wait for the writer
        assert list(stream) == blocks[1:]
        assert card.drawn.result() == draw_plots(combine(parts))
