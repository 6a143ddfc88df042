"""How the published Parquet files are encoded: zstd, content-defined chunking, a dictionary and statistics only
where they serve; row groups written on the writer's thread, in order, its errors raised to the caller."""

from __future__ import annotations

import os
import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fakes.synthetic_dataset import captioned
from lvd2m_builder.schema import FREE_TEXT_LEAVES, MEASURE_LEAVES, ROW_FEATURES, TRAIN_DIR
from lvd2m_builder.store import parquet
from lvd2m_builder.store.parquet import ParquetSeries, ParquetShardWriter


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
    assert MEASURE_LEAVES <= set(encodings) and not dictionary & MEASURE_LEAVES
    assert {"dataset_src", "video_id", "url", "flow_backend"} <= dictionary
    assert {group.column(i).compression for i in range(metadata.num_columns)} == {"ZSTD"}
    assert b"content_defined_chunking" in pq.ParquetFile(tmp_path / path).metadata.metadata


def test_statistics_are_kept_for_the_columns_a_filter_prunes_by_and_not_for_free_text(tmp_path):
    series = ParquetSeries(tmp_path, TRAIN_DIR, ROW_FEATURES)
    for i in range(20):
        series.write(captioned(i, duration=12.0 + i))
    (path,) = series.publish()
    group = pq.ParquetFile(tmp_path / path).metadata.row_group(0)
    stats = {group.column(i).path_in_schema: group.column(i).statistics for i in range(group.num_columns)}
    assert all(stats[leaf] is None or not stats[leaf].has_min_max for leaf in FREE_TEXT_LEAVES)
    assert (stats["duration"].min, stats["duration"].max) == (12.0, 31.0)
    assert stats["dataset_src"].has_min_max and stats["flow_score"].has_min_max
    assert all(stats[leaf].has_min_max for leaf in MEASURE_LEAVES - {"clip_score"})  # the captioned rows have none


def test_row_groups_written_on_the_writers_thread_keep_their_order_and_size(tmp_path):
    rows = [captioned(i, words=30, duration=12.0 + i) for i in range(60)]
    table = pa.Table.from_pylist(rows, schema=ROW_FEATURES.arrow_schema)
    writer = ParquetShardWriter(tmp_path / "t.parquet", ROW_FEATURES, max_group_bytes=table.slice(0, 10).nbytes)
    for start in range(0, 60, 3):
        writer.write_table(table.slice(start, 3))
    writer.finalize()
    written = pq.ParquetFile(tmp_path / "t.parquet")
    assert written.read().column("key").to_pylist() == table.column("key").to_pylist()
    assert written.metadata.num_row_groups >= 5
    assert max(written.metadata.row_group(g).num_rows for g in range(written.metadata.num_row_groups)) <= 12


def test_an_error_writing_a_row_group_on_the_thread_is_raised_to_the_caller(tmp_path):
    table = pa.Table.from_pylist([captioned(i) for i in range(8)], schema=ROW_FEATURES.arrow_schema)
    writer = ParquetShardWriter(tmp_path / "t.parquet", ROW_FEATURES, max_group_bytes=1)
    writer.write_table(table.slice(0, 4))  # the first row group: written, and the Parquet writer built

    def failing(*args, **kwargs):
        raise OSError("disk full")

    writer.pa_writer.write_table = failing
    writer.write_table(table.slice(4, 4))  # handed to the thread, which fails
    with pytest.raises(OSError, match="disk full"):
        writer.finalize()
    writer.close()


def test_an_abort_while_a_row_group_is_being_written_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet, "row_group_budget", lambda features: (1, None))  # every table is a row group
    series = ParquetSeries(tmp_path, TRAIN_DIR, ROW_FEATURES)
    started, release = threading.Event(), threading.Event()
    write_table = pq.ParquetWriter.write_table

    def slow(self, *args, **kwargs):
        started.set()
        release.wait(10)
        return write_table(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", slow)
    series.write_batch(pa.Table.from_pylist([captioned(0)], schema=ROW_FEATURES.arrow_schema))
    assert started.wait(10)  # the row group is being written on the writer's thread
    threading.Timer(0.2, release.set).start()
    series.abort()
    assert release.is_set()  # the abort let the write finish before it closed the file
    assert not list((tmp_path / TRAIN_DIR).iterdir())


def test_row_groups_are_a_quarter_of_datasets_budget_and_a_files_first_ones_smaller(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet.config, "MAX_ROW_GROUP_SIZE", "400KB")  # budget: 100 KB, the first group 12.5 KB
    blocks = [pa.Table.from_pylist([captioned(i, words=60)], schema=ROW_FEATURES.arrow_schema) for i in range(200)]
    series = ParquetSeries(tmp_path, TRAIN_DIR, ROW_FEATURES)
    for block in blocks:
        series.write_batch(block)
    (path,) = series.publish()
    metadata = pq.ParquetFile(tmp_path / path).metadata
    rows = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
    assert sum(rows) == 200, rows
    ends = np.cumsum(rows)
    sizes = [sum(block.nbytes for block in blocks[end - n:end]) for n, end in zip(rows, ends)]
    assert [round(size / 12_500) for size in sizes[:4]] == [1, 2, 4, 8], sizes  # 1/8, 1/4, 1/2, the budget
    assert max(sizes) <= 100_000 and min(sizes[3:-1]) > 100_000 - 2 * max(b.nbytes for b in blocks), sizes  # no slivers


def test_each_row_group_reaches_the_disk_on_the_writers_thread_as_it_is_written(tmp_path, monkeypatch):
    synced = []

    def sync(fd):  # what the file holds on the disk's side at each sync, and who asked
        synced.append((threading.current_thread().name, os.fstat(fd).st_size))

    monkeypatch.setattr(parquet, "sync_written", sync)
    table = pa.Table.from_pylist([captioned(i, words=30) for i in range(40)], schema=ROW_FEATURES.arrow_schema)
    writer = ParquetShardWriter(tmp_path / "t.parquet", ROW_FEATURES, max_group_bytes=table.slice(0, 10).nbytes)
    for start in range(0, 40, 5):
        writer.write_table(table.slice(start, 5))
    writer.finalize()
    assert len(synced) >= 4 and all(name.startswith("lvd2m-parquet") for name, _ in synced)  # as it goes
    sizes = [size for _, size in synced]
    assert sizes == sorted(set(sizes)) and sizes[0] > 0
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    columns = [meta.row_group(g).column(c) for g in range(meta.num_row_groups) for c in range(meta.num_columns)]
    groups_end = max((c.dictionary_page_offset or c.data_page_offset) + c.total_compressed_size for c in columns)
    assert sizes[-1] == groups_end  # every row group synced; only the page index and footer left to ``commit``


def test_a_file_is_written_through_pyarrows_own_stream_which_finalize_and_an_abort_close(tmp_path):
    table = pa.Table.from_pylist([captioned(i) for i in range(8)], schema=ROW_FEATURES.arrow_schema)
    writer = ParquetShardWriter(tmp_path / "t.parquet", ROW_FEATURES, max_group_bytes=1)
    assert isinstance(writer.stream, pa.NativeFile)  # written on the writer's thread without taking the GIL
    writer.write_table(table.slice(0, 4))
    writer.write_table(table.slice(4, 4))
    writer.finalize()
    assert writer.stream.closed
    assert pq.read_table(tmp_path / "t.parquet").column("key").to_pylist() == table.column("key").to_pylist()
    aborted = ParquetShardWriter(tmp_path / "a.parquet", ROW_FEATURES, max_group_bytes=1)
    aborted.write_table(table)
    aborted.close()
    assert aborted.stream.closed


def test_a_row_group_goes_to_the_writers_thread_with_the_table_after_which_one_more_would_not_fit(tmp_path,
                                                                                                  monkeypatch):
    tables = [pa.Table.from_pylist([captioned(4 * b + i, words=30) for i in range(4)], schema=ROW_FEATURES.arrow_schema)
              for b in range(8)]
    size = max(t.nbytes for t in tables)
    assert min(t.nbytes for t in tables) > 0.95 * size
    started: list[int] = []
    write_table = pq.ParquetWriter.write_table

    def recorded(self, table, *args, **kwargs):
        started.append(table.num_rows)
        return write_table(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", recorded)
    # a file's first row groups: 1/8 of the budget (2.4 tables), then 1/4 (4.8 tables)
    monkeypatch.setattr(parquet, "row_group_budget", lambda features: (int(8 * 2.4 * size), None))
    series = ParquetSeries(tmp_path, TRAIN_DIR, ROW_FEATURES)
    handed = []
    for table in tables:
        series.write_batch(table)
        series.writers[-1]._wait()  # whatever went to the writer's thread is written
        handed.append(list(started))
    # a group goes with the table after which one more would not fit, not when that one comes
    assert handed[1] == handed[4] == [8] and handed[5] == handed[7] == [8, 16], handed
    series.flush()  # the rows held go to the writer's thread; publish waits for them
    series.writers[-1]._wait()
    assert started == [8, 16, 8]
    (path,) = series.publish()
    assert pq.read_table(tmp_path / path).num_rows == 32 and started == [8, 16, 8]
