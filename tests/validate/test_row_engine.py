"""The column-wise row checks pick out every row the row-by-row checks find fault with, and read provenance and
captions exactly as the row-by-row functions do."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pytest

from fakes.synthetic_dataset import CAPTION_SETTINGS, SETTINGS, captioned, write_dataset
from lvd2m_builder.schema import ROW_FEATURES
from lvd2m_builder.validate.rows import ProvenanceRules, check_accepted, rules_for, squeeze, suspects
from lvd2m_builder.validate.run import ValidateConfig, validate

NO_MIN = {**SETTINGS, "duration": {"max_s": 30.0}}


def _provenances() -> list[str]:
    ran = {"models": {"segments": "v", "merge": "l"}, "seconds": {"captions": 1.0}}
    canonical = [json.dumps({"lvd2m_builder": "x", "settings": s, **extra}, sort_keys=True)
                 for s in (CAPTION_SETTINGS, SETTINGS, NO_MIN, {"duration": {"min_s": 3, "max_s": None}})
                 for extra in ({}, ran, {"seconds": {"captions": None}}, {"models": {"segments": 1}})]
    return canonical + [
        json.dumps({"settings": CAPTION_SETTINGS, **ran}),  # settings first
        json.dumps({"models": {"settings": {"duration": {"min_s": 1}}}}),  # a nested "settings"
        json.dumps({"a": 1, "settings": {"duration": {"min_s": 2}, "settings": {"x": 1}}}),  # one inside settings
        '{"a": 1, "settings": 5}', '{"settings": {"duration": {"min_s": 4}}}', '{"settings": []}',
        '{"a": [1, 2, "settings": {"duration": {"min_s": 1}}}',  # cut inside an array: not JSON
        '{"a": "x, \\"settings\\": {", "settings": {"duration": {"min_s": 6}}}',  # the key inside a string
        '{"a": 1,, "settings": {"duration": {"min_s": 1}}}', '{"a": NaN, "settings": {"duration": {"min_s": 7}}}',
        '{"settings": {"duration": {"min_s": 1}}} ', "[]", "", "{not json", "null",
        '{"settings": {"duration": {"min_s": 1}}, "settings": {"duration": {"min_s": 2}}}',
    ]


def _outcome(call):
    try:
        return call()
    except ValueError as e:  # json's decode error included
        return "error", str(e)


@pytest.mark.parametrize("order", [1, -1], ids=["forward", "backward"])
def test_provenance_rules_are_rules_for_whatever_the_text(order):
    texts = _provenances()[::order] * 2  # twice: the second time through the caches
    rules = ProvenanceRules(SETTINGS)
    assert [_outcome(lambda t=t: rules(t)) for t in texts] == [_outcome(lambda t=t: rules_for(t, SETTINGS))
                                                                  for t in texts]
    column = ProvenanceRules(SETTINGS).column(pa.array(texts))
    for text, (found, own, why) in zip(texts, column):
        want = _outcome(lambda: rules_for(text, SETTINGS))
        assert ((found, own) if why is None else ("error", why)) == want, text


def test_squeeze_is_split_and_join():
    rng = random.Random(0)
    pieces = ["a", "bc", " ", "  ", "\t", "\n", "\u00a0", "\u3000", "\x1c", "é", "\u2028", "x y"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 8))) for _ in range(2000)]
    assert squeeze(pa.array(texts)).to_pylist() == [" ".join(t.split()) for t in texts]
    assert squeeze(pa.array(texts).slice(100, 50)).to_pylist() == [" ".join(t.split()) for t in texts[100:150]]


def _random_row(rng: random.Random, i: int) -> dict:
    row = captioned(i)
    maybe = rng.random
    if maybe() < 0.15:
        row["duration"] = rng.choice([None, 5.0, 9.9995, 10.0, 31.0, float("nan"), 30.0009])
    if maybe() < 0.15:
        row["span_start"], row["span_end"] = rng.choice([(None, 5.0), (5.0, None), (5.0, 5.0), (6.0, 5.0),
                                                         (0.0, float("nan"))])
    if maybe() < 0.1:
        row["cut_times"] = rng.choice([[], [1.0], None])
    if maybe() < 0.15:
        row["refined_caption"] = rng.choice([None, "", " ", "\u3000\n", "ok"])
    if maybe() < 0.3:
        row["segments"] = [{"start": rng.choice([None, -0.5, -0.0005, 0.0, 3.0, 6.0, 20.0]),
                            "end": rng.choice([None, 0.0, 2.0, 6.0, 5.999, 12.0, 40.0]), "caption": "s"}
                           for _ in range(rng.randint(0, 4))]
    if maybe() < 0.1:
        row["clip_score"] = rng.choice([None, 0.1, 0.3])
    return row


def test_every_row_with_a_finding_is_a_suspect():
    rng = random.Random(1)
    rows = [_random_row(rng, i) for i in range(3000)]
    batch = pa.RecordBatch.from_pylist(rows, schema=ROW_FEATURES.arrow_schema)
    rules = [rules_for(r["provenance"], SETTINGS)[0] for r in rows]
    min_s = np.array([r.min_s for r in rules], dtype=float)
    max_s = np.array([np.nan if r.max_s is None else r.max_s for r in rules], dtype=float)
    captions = np.array([r.captions for r in rules])
    flagged = suspects(batch, min_s, max_s, captions, 0.2)
    decoded = batch.to_pylist()  # values as the shards give them back (float32)
    faulty = [i for i, (row, r) in enumerate(zip(decoded, rules))
              if list(check_accepted(row, r)) or (row["clip_score"] is not None and row["clip_score"] < 0.2)]
    assert faulty and all(flagged[faulty])
    assert flagged.sum() < 2 * len(faulty)  # and not much more: suspects are few


def test_repeats_are_reported_in_the_order_they_pass_the_limit(tmp_path):
    rows = [captioned(i) for i in range(8)]
    for i in (0, 5, 6):  # first seen first, passes the limit (2) last
        rows[i]["refined_caption"] = "first caption"
    for i in (1, 2, 3):
        rows[i]["refined_caption"] = "second  caption "
    out = write_dataset(tmp_path / "out", [rows[:4], rows[4:]], settings=CAPTION_SETTINGS, plots=False)
    report = validate(str(out), ValidateConfig(max_caption_repeats=2))
    found = [(f.code, f.shard, f.row, f.key, f.message) for f in report.findings]
    assert found == [
        ("caption_repeated", "data/train-00000-of-00002.parquet", 1, "clip-0001",
         "refined_caption on 3 clips (limit 2), first here: 'second caption'"),
        ("caption_repeated", "data/train-00000-of-00002.parquet", 0, "clip-0000",
         "refined_caption on 3 clips (limit 2), first here: 'first caption'"),
    ]
