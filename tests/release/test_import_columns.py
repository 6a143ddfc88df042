"""The column-wise import gives the very rows, rejects and provenance the row-by-row mapping (the loading
script's) gives, and maps column-wise only the rows in the forms it reads exactly."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from test_import import COLUMNS, hdvg_rows, record, webvid_rows, write_csv, ytb_rows

from lvd2m_builder.inputs.csv_stream import read_blocks
from lvd2m_builder.release.columns import _release_spans, map_columns
from lvd2m_builder.release.importer import ImportConfig, import_tables, iter_release
from lvd2m_builder.release.spans import seconds
from lvd2m_builder.release.tally import FirstSeen
from lvd2m_builder.schema import REJECT_FEATURES, ROW_FEATURES
from lvd2m_builder.store.shards import read_table

NUMBERS = ["", " ", "\t", "\u3000", "12", " 12", "1e3", "1_000", "inf", "nan", "-1", "0", "+5", ".5", "5.", "1e999",
           "abc", "\x0b3", "25.52", "14.12", "31"]
SPANS = ["", "['00:00:17.759', '00:00:43.279']", " ['0:01:20.880','0:01:35'] ", "['00:00:40', '00:00:20']", "[1, 2]",
         "['-00:00:01.000', '00:00:12.000']", "['00:00:01.000', '00:00:01.000']", "['1:00', '2:00']",
         "['\u0661:00:00', '2:00:00']", "[ '00:00:05.5' , '00:00:09.25' ]", "['999999:00:00', '999999:00:01']",
         "['00:00:05\x0b', '00:00:09']", "['00:00:17.759', '00:00:43.279']\n", "['00:09:09.415', '00:09:60.000']",
         "['100:00:00.000', '100:00:30.000']", "['01:59:59.999', '02:00:00.000']", "['00:00:17.759','00:00:43.279']",
         "['07:08:09.010', '10:20:30.405']", "['23:59:59.999', '99:00:00.001']", "['00:00:00.000', '00:00:00.100']"]
SOURCES = ["", "panda70m", "HDVG", " WebVid ", "internvid", "other", "\u00c9x", "\t"]
RAW = ["", "Caption 1: a. Caption 2: b.", "caption 1:x CAPTION 2 : y", "Caption 1: a Caption 3: b", "just text",
       "Caption 2: a", "Caption\u00a01: a", "Caption 1: \u0662", "x Caption 1: a", "Caption 1: a\nCaption 2: b\r\n",
       'Caption 1: "q"\\ and \t tab', "Caption 01: a", "Caption 1:  Caption 2: b", "CAPT\u0130ON 1: a",
       "Caption\u20031: a", "Caption 1: a caption 2: b caption 2: c", "  Caption 1: a", "Caption 1:a\x0bCaption 2:b",
       "Caption \u0661: a", "caption1:x caption2:y caption3:z", "Caption 1: \u00e9t\u00e9 Caption 2: \u2014",
       "Caption 1 : a Caption 2: ", "Caption 2: a Caption 1: b", "Caption 99999999999999999999: a", "Captions",
       "Caption 1: the caption reads 9:00 Caption 2:3 dogs", "Caption 1: a\x00b Caption 2: c", "\x00Caption 1: a",
       "Caption 1: a Caption 000000000000000000002: b", "caption caption 1: a"]


def _odd_rows(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        row = record(f"k{i}" if rng.random() > 0.05 else rng.choice(["", " ", "\u3000"]), src=rng.choice(SOURCES),
                     span=rng.choice(SPANS), video_time=rng.choice(NUMBERS), score=rng.choice(NUMBERS),
                     raw=rng.choice(RAW))
        if rng.random() < 0.1:
            row.update(dataset_src="hdvg", span="", orig_span="['00:01:00.000', '00:01:30.000']",
                       scene_cut=rng.choice(["[0, -1]", "[50, 350]", "[350, 50]"]))
        if rng.random() < 0.05:
            row["url"] = "\u2003"
        rows.append(row)
    return rows


def _shards(out, directory: str) -> list[dict]:
    return [row for path in sorted((out / directory).glob("*.parquet")) for row in read_table(path).to_pylist()]


def test_column_wise_import_gives_the_row_by_row_mapping_exactly(tmp_path):
    rng = random.Random(0)
    extra = [*COLUMNS, "aesthetic", "note"]
    tables = [
        write_csv(tmp_path / "ytb_600k_720p.csv", ytb_rows() + _odd_rows(rng, 1500)),
        write_csv(tmp_path / "hdvg_300k_720p.csv", hdvg_rows()),
        write_csv(tmp_path / "webvid_1200k_336_short.csv", webvid_rows() + _odd_rows(rng, 300)),
        write_csv(tmp_path / "extra.csv", [{**record("e1"), "aesthetic": "5", "note": ""},
                                           {**record("e2"), "aesthetic": "", "note": 'a "b"\n\\c'}], extra),
        # blocks in the release's own forms, whose provenance is one join: span and video_time on every row, or
        # one of them on none (and a malformed span, a reject: the rows mapped still share their members)
        write_csv(tmp_path / "plain.csv", [record(f"p{i}") for i in range(30)] + [record("q", span="['0:0\\1', '\"']")]),
        write_csv(tmp_path / "webvid_plain.csv", [record(f"w{i}", src="webvid", span="") for i in range(30)]),
        write_csv(tmp_path / "no_time.csv", [record(f"t{i}", video_time="") for i in range(30)]),
    ]
    out = tmp_path / "out"
    import_tables([str(t) for t in tables], out, ImportConfig(shard_size=400), progress=False)
    rows = [row for row in iter_release([str(t) for t in tables])]
    want = pa.Table.from_pylist([r.row() for r in rows if r.error is None], schema=ROW_FEATURES.arrow_schema)
    rejects = pa.Table.from_pylist([r.reject() for r in rows if r.error is not None], schema=REJECT_FEATURES.arrow_schema)
    assert _shards(out, "data") == want.to_pylist()
    assert _shards(out, "rejects") == rejects.to_pylist()


def test_only_the_plain_forms_are_mapped_column_wise(tmp_path):
    path = write_csv(tmp_path / "ytb.csv", [record("plain"), record("webvid", src="webvid", span=""),
                                            record("padded", score=" 12"), record("hdvg", src="hdvg", span="",
                                            orig_span="['00:01:00.000', '00:01:30.000']", scene_cut="[0, -1]"),
                                            record("nbsp", raw="Caption\u00a01: a"), record("", video_id="nokey")])
    (block,) = list(read_blocks(str(path)))
    mapped = map_columns(block.table, block.lines, "ytb.csv")
    assert mapped.fast.tolist() == [True, True, False, False, False, False]
    assert mapped.rows.column("key").to_pylist() == ["plain", "webvid"]
    assert np.array_equal(mapped.rules, ["even", "even"])  # two captions over 25.52 s


def test_the_releases_span_form_is_read_from_its_bytes_as_re2_and_the_row_mapping_read_it():
    clock = r"[0-9]{2}:[0-5][0-9]:[0-5][0-9]\.[0-9]{3}"
    form = rf"^\['{clock}', '{clock}'\]$"  # the form, as a regular expression
    spans = [*SPANS, "['00:00:17.759', '00:00:43.279'] ", "['00:60:00.000', '00:00:43.279']",
             "['00:00:17.759', '00:00:43.27\u0669']", "['00:00:17.759', \"00:00:43.279\"]", "['0a:00:17.759', '00:00:43.279']",
             "['00:00:17.759'; '00:00:43.279']", "['99:59:59.999', '00:00:00.000']", "{'00:00:17.759', '00:00:43.279'}"]
    values = pa.array(spans)
    start, end, matched = _release_spans(values)
    assert matched.tolist() == pc.match_substring_regex(values, form).to_pylist()
    assert 5 <= matched.sum() < len(spans)
    for span, a, b in zip(np.array(spans)[matched], start[matched], end[matched]):
        want = [seconds(t, "span") for t in span[1:-1].replace("'", "").split(", ")]
        assert [a, b] == want  # the same bits as the row-by-row reading
    assert np.isnan(start[~matched]).all() and np.isnan(end[~matched]).all()
    same = [i for i, span in enumerate(spans) if len(span.encode()) == 32]  # read as rows of the data, no gather
    assert len(same) > 8 and not all(matched[same])
    for values, at in ((pa.array([spans[i] for i in same]), same), (pa.array([spans[i] for i in same]).slice(2), same[2:])):
        for got, want in zip(_release_spans(values), (start[at], end[at], matched[at])):
            np.testing.assert_array_equal(got, want)  # NaN where not matched, on both sides


def _answers(firsts: np.ndarray) -> list:
    """``firsts``' array as ``first`` answers each value (None for a first time)."""
    return [None if answer < 0 else answer for answer in firsts.tolist()]


def test_first_seen_answers_a_block_at_a_time_as_one_at_a_time():
    rng = random.Random(2)
    keys = [f"v{i // 3}.{i % 3}" for i in range(3000)]
    keys += [rng.choice(keys) for _ in range(600)]
    rng.shuffle(keys)
    one = FirstSeen(batch=100)
    want = [one.first(key, i) for i, key in enumerate(keys)]
    blocks, got = FirstSeen(batch=100), []
    for lo in range(0, len(keys), 250):
        got += _answers(blocks.firsts(keys[lo:lo + 250], list(range(lo, min(lo + 250, len(keys))))))
    assert got == want and sum(answer is not None for answer in got) == 600


def test_first_seen_answers_the_same_when_rows_come_one_at_a_time_and_in_blocks_by_turns():
    rng = random.Random(3)
    keys = [f"k{rng.randrange(900)}" for _ in range(4000)]
    one = FirstSeen(batch=1 << 20)
    want = [one.first(key, i) for i, key in enumerate(keys)]
    mixed, got, at = FirstSeen(batch=150), [], 0
    while at < len(keys):
        size = rng.choice([1, 7, 60])
        chunk = keys[at:at + size]
        if size == 1:
            got.append(mixed.first(chunk[0], at))
        else:
            got += _answers(mixed.firsts(chunk, list(range(at, at + len(chunk)))))
        at += len(chunk)
    assert got == want
    assert len(mixed.digests) > 0  # merged along the way
