"""How the published Parquet files are encoded: zstd, content-defined chunking, and a dictionary only where
values repeat."""

from __future__ import annotations

import pyarrow.parquet as pq

from fakes.synthetic_dataset import captioned
from lvd2m_builder.schema import FREE_TEXT_LEAVES, ROW_FEATURES, TRAIN_DIR
from lvd2m_builder.store.parquet import ParquetSeries


def test_free_text_is_written_without_a_dictionary_and_repeated_names_with_one(tmp_path):
    series = ParquetSeries(tmp_path, TRAIN_DIR, ROW_FEATURES)
    for i in range(50):
        series.write(captioned(i, words=40 + i, duration=12.0 + i))
    (path,) = series.publish()
    metadata = pq.ParquetFile(tmp_path / path).metadata
    group = metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(metadata.num_columns)}
    dictionary = {leaf for leaf, used in encodings.items() if "RLE_DICTIONARY" in used}
    free_text = {leaf for leaf in encodings if leaf in FREE_TEXT_LEAVES}
    assert free_text == set(FREE_TEXT_LEAVES)  # every name there is a leaf of the schema
    assert not dictionary & free_text
    assert {"dataset_src", "video_id", "url", "flow_backend"} <= dictionary
    assert {group.column(i).compression for i in range(metadata.num_columns)} == {"ZSTD"}
    assert b"content_defined_chunking" in pq.ParquetFile(tmp_path / path).metadata.metadata
