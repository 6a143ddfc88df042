"""Inputs beyond a local directory: clip tables, webdataset tars, memory://, HTTP and S3 (a local moto server)."""

from __future__ import annotations

import csv
import functools
import hashlib
import http.server
import io
import json
import tarfile
import threading
from pathlib import Path

import pytest
from datasets import load_dataset

from fakes.s3_server import moto_s3
from lvd2m_builder.config import preset
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.records import Clip
from lvd2m_builder.run.build import build
from lvd2m_builder.stages.fetch import Fetch
from lvd2m_builder.testing import samples

CONFIG = preset("paper").replace({"semantic.enabled": False, "captions.enabled": False, "shard_size": 64})


def _rows(out, name=None):
    return list(load_dataset(str(out), name, streaming=True)["train"])


def _fates(out) -> dict[tuple, object]:
    """(video_id, span_start) -> None when accepted, else (stage, reason)."""
    fates = {(r["video_id"], r["span_start"]): None for r in _rows(out)}
    for r in _rows(out, "rejects"):
        fates[(r["video_id"], r["span_start"])] = (r["stage"], r["reason"])
    return fates


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """A 24 s pan (long enough for spans) and a 5 s pan (too short), both 64x48 so they decode fast."""
    directory = tmp_path_factory.mktemp("videos")
    samples.pan(directory / "long.mp4", seconds=24.0, size=(64, 48))
    samples.pan(directory / "short.mp4", seconds=5.0, size=(64, 48))
    return directory


@pytest.fixture(scope="module")
def table(videos) -> Path:
    """Relative and absolute paths, seconds and clock spans, a Panda-70M row, one malformed row (line 5)."""
    return _write_csv(videos / "clips.csv", ["path", "span_start", "span_end", "caption"], [
        ["long.mp4", "2", "14", "a pan"],                            # line 2: accepted, 12 s
        ["long.mp4", "0", "0:00:06.000", "too short"],               # line 3: duration
        [str(videos / "short.mp4"), "", "", ""],                     # line 4: no span: the whole 5 s video
        ["long.mp4", "abc", "14", ""],                               # line 5: malformed
        ["long.mp4", "30", "45", "past the end"],                    # line 6: probe
    ])


@pytest.fixture(scope="module")
def shard(videos) -> Path:
    """A webdataset shard: k1 with metadata and a span, k2 without metadata, k3 with broken metadata."""
    long, short = (videos / "long.mp4").read_bytes(), (videos / "short.mp4").read_bytes()
    meta = {"caption": "a pan from a tar", "dataset_src": "wds", "span_start": 0, "span_end": 12, "clips": [[100, 124]]}
    return _tar(videos / "shard-000.tar", {"k1.mp4": long, "k1.json": json.dumps(meta).encode(),
                                           "k2.mp4": short, "k3.mp4": long, "k3.json": b"{not json"})


@pytest.fixture(scope="module")
def built(tmp_path_factory, videos, table, shard):
    bad = videos / "broken.tar"
    bad.write_bytes(b"not a tar at all" * 64)
    out = tmp_path_factory.mktemp("out") / "ds"
    stats = build([str(table), str(shard), str(bad)], out, CONFIG, progress=False)
    return out, stats


def test_table_rows_become_clips_with_their_spans_and_fates(built):
    out, stats = built
    fates = _fates(out)
    assert fates[("long", 2.0)] is None
    assert fates[("long", 0.0)][0] == "duration"
    assert fates[("short", 0.0)][0] == "duration"
    assert fates[("long", 30.0)][0] == "probe"
    assert fates[("long", 30.0)][1].startswith("span [30.0, 45.0] lies outside the video")
    (accepted,) = [r for r in _rows(out) if r["video_id"] == "long" and r["span_start"] == 2.0]
    assert accepted["span_end"] == 14.0 and accepted["duration"] == pytest.approx(12.0, abs=0.05)
    assert accepted["orig_caption"] == "a pan" and accepted["url"] == "long.mp4"  # relative to the table's folder


def test_malformed_table_row_is_a_source_reject_naming_file_and_line(built):
    out, _ = built
    (row,) = [r for r in _rows(out, "rejects") if "line 5" in r["reason"]]
    assert row["stage"] == "source" and row["url"] == "clips.csv#line=5"
    assert row["reason"].startswith("clips.csv line 5: span_start: not a time")


def test_tar_members_become_clips_with_their_metadata(built):
    out, stats = built
    rows = {r["video_id"]: r for r in _rows(out)}
    k1 = rows["k1"]
    assert k1["url"] == "tar://k1.mp4::shard-000.tar"  # the tar relative to the input given
    assert (k1["orig_caption"], k1["dataset_src"], k1["span_start"], k1["span_end"]) == ("a pan from a tar", "wds", 0.0, 12.0)
    rejects = {r["video_id"]: r for r in _rows(out, "rejects")}
    assert rejects["k2"]["stage"] == "duration"
    assert rejects["k3"]["stage"] == "source" and "k3.json: " in rejects["k3"]["reason"]
    assert rejects["broken.tar"]["reason"].startswith("cannot read tar broken.tar")
    assert stats["clips"] == 5 + 3 + 1


def test_listing_is_stable_whatever_the_input_order(table, shard):
    first = list_refs([str(table), str(shard)])
    again = list_refs([str(shard), str(table)])
    assert [r.key for r in first] == [r.key for r in again] and len({r.key for r in first}) == len(first) == 8


def test_tar_member_fetch_is_byte_exact(videos, shard, tmp_path):
    (ref,) = [r for r in list_refs([str(shard)]) if r.video_id == "k2"]
    (clip,) = Fetch(str(tmp_path))([Clip(ref=ref)])
    assert clip.path.endswith(".mp4")
    assert hashlib.sha256(Path(clip.path).read_bytes()).digest() == hashlib.sha256((videos / "short.mp4").read_bytes()).digest()
    Fetch.release(clip)
    assert list(tmp_path.iterdir()) == []


PANDA_TIMESTAMPS = "[['0:00:01.000', '0:00:13.000'], ['0:00:14.000', '0:00:20.500']]"


def test_panda70m_row_becomes_one_clip_per_timestamp(videos, tmp_path):
    path = _write_csv(tmp_path / "panda.csv", ["videoID", "url", "timestamp", "caption"],
                      [["yt123", str(videos / "long.mp4"), PANDA_TIMESTAMPS, "['a dog runs.', 'a cat sits.']"]])
    refs = list_refs([str(path)])
    assert [(r.video_id, r.span_start, r.span_end, r.orig_caption) for r in refs] == [
        ("yt123", 1.0, 13.0, "a dog runs."), ("yt123", 14.0, 20.5, "a cat sits.")]


@pytest.mark.parametrize("kind", ["parquet", "jsonl"])
def test_parquet_and_jsonl_tables_list_what_csv_lists(videos, tmp_path, kind):
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [{"video_path": "long.mp4", "span": [1.5, 13.0], "text": "one"},
               {"video_path": "long.mp4", "span": None, "text": None},
               {"video_path": "short.mp4", "span": [0.0, 4.0], "text": "two"}]
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("long.mp4", "short.mp4"):
        (copy / name).symlink_to(videos / name)
    path = copy / f"t.{kind}"
    if kind == "parquet":
        pq.write_table(pa.Table.from_pylist(records), path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    csv_path = _write_csv(copy / "t.csv", ["video_path", "span", "text"],
                          [[r["video_path"], "" if r["span"] is None else str(r["span"]), r["text"] or ""] for r in records])
    listed = [(r.key, r.uri, r.span_start, r.span_end, r.orig_caption, r.error) for r in list_refs([str(path)])]
    assert listed == [(r.key, r.uri, r.span_start, r.span_end, r.orig_caption, r.error) for r in list_refs([str(csv_path)])]
    assert [x[2:5] for x in listed] == [(None, None, None), (1.5, 13.0, "one"), (0.0, 4.0, "two")]


@pytest.mark.parametrize(
    "header, row, why",
    [
        (["path", "span"], ["long.mp4", "[['0:00:05', '0:00:02']]"], "span: reversed span"),
        (["path", "timestamp"], ["long.mp4", "[['0:00:01'"], "timestamp: bad span literal (SyntaxError)"),
        (["path", "start"], ["long.mp4", "3"], "start: start and end go together"),
        (["path", "span_start", "span_end"], ["long.mp4", "-1", "4"], "span_start: negative span"),
        (["path", "timestamp", "caption"], ["long.mp4", PANDA_TIMESTAMPS, "['only one']"], "caption: 1 captions for 2"),
        (["url", "caption"], ["", "orphan caption"], "url: empty"),
        (["name", "caption"], ["long.mp4", "x"], "path: no path column"),
        (["path", "caption"], ["long.mp4", "x", "surplus"], "row: "),
    ],
    ids=["reversed", "unparsable-literal", "start-without-end", "negative", "caption-count", "empty-path",
         "no-path-column", "surplus-field"],
)
def test_malformed_rows_are_refs_carrying_file_line_and_reason(videos, tmp_path, header, row, why):
    path = _write_csv(tmp_path / "bad.csv", header, [["long.mp4"] + [""] * (len(header) - 1), row])
    refs = list_refs([str(path)])
    bad = [r for r in refs if r.error is not None]
    if why.startswith("path: no path column"):  # every row fails the same way
        assert [r.error for r in bad] == [f"bad.csv line {n}: {why}" + " (one of path, url, video_path, video, file, filepath)"
                                          for n in (2, 3)]
        return
    (ref,) = bad
    assert ref.error.startswith(f"bad.csv line 3: {why}") and ref.uri == f"{path}#line=3"
    (clip,) = Fetch()([Clip(ref=ref)])
    assert clip.rejection.stage == "source" and clip.rejection.reason == ref.error


def test_unreadable_table_is_one_reject(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 garbage")
    (ref,) = list_refs([str(path)])
    assert ref.error.startswith("cannot read clip table: ")


def test_memory_filesystem_builds_inline(videos, tmp_path):
    """memory:// lives in one process, so it works with workers=1 (inline), never with a worker pool."""
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/lvd2m-test/long.mp4", (videos / "long.mp4").read_bytes())
    try:
        stats = build(["memory://lvd2m-test/"], tmp_path / "out", CONFIG, progress=False)
    finally:
        fs.rm("/lvd2m-test", recursive=True)
    (row,) = _rows(tmp_path / "out")
    assert stats["accepted"] == 1 and row["url"] == "memory:///lvd2m-test/long.mp4"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture
def http_root(videos, tmp_path):
    """A loopback server of a directory holding the two videos (its listing is an HTML page of links)."""
    for name in ("long.mp4", "short.mp4"):
        (tmp_path / "site" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "site" / name).symlink_to(videos / name)
    handler = functools.partial(_QuietHandler, directory=str(tmp_path / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_http_file_directory_and_missing_url(http_root, tmp_path):
    inputs = [f"{http_root}/", f"{http_root}/long.mp4", f"{http_root}/missing.mp4"]
    stats = build(inputs, tmp_path / "out", CONFIG, progress=False)
    fates = _fates(tmp_path / "out")
    assert stats["clips"] == 3  # long.mp4 is named twice (in the listing and by itself) and built once
    assert fates[("long", 0.0)] is None and fates[("short", 0.0)][0] == "duration"
    assert fates[("missing", 0.0)] == ("source", f"cannot read {http_root}/missing.mp4: no such file")


@pytest.fixture(scope="module")
def s3_endpoint(videos, table, shard):
    """A local S3 (moto's server) holding the videos, the tar and the table; spawned workers reach it too."""
    with pytest.MonkeyPatch.context() as patch, moto_s3(patch, "lvd2m-test") as (endpoint, client):
        for path, key in [(videos / "long.mp4", "pool/long.mp4"), (videos / "short.mp4", "pool/short.mp4"),
                          (shard, "pool/shards/shard-000.tar"), (videos / "long.mp4", "long.mp4"),
                          (table, "clips.csv")]:
            client.upload_file(str(path), "lvd2m-test", key)
        yield endpoint


def test_s3_prefix_tar_and_table_build_on_spawned_workers(s3_endpoint, tmp_path):
    out = tmp_path / "out"
    stats = build(["s3://lvd2m-test/pool/", "s3://lvd2m-test/clips.csv"], out, CONFIG.replace({"workers": 2}),
                  progress=False)
    fates = _fates(out)
    rows = {r["url"]: r for r in _rows(out)}
    assert stats["clips"] == 2 + 3 + 5
    assert set(rows) == {"s3://lvd2m-test/pool/long.mp4", "s3://lvd2m-test/long.mp4",  # the table's relative path
                         "tar://k1.mp4::s3://lvd2m-test/pool/shards/shard-000.tar"}
    assert rows["s3://lvd2m-test/long.mp4"]["span_start"] == 2.0 and fates[("short", 0.0)][0] == "duration"
    assert fates[("k3", 0.0)][0] == "source" and fates[("clips.csv line 5", 0.0)][0] == "source"


class _NoCredentialsError(Exception):
    """What botocore raises when no AWS credentials are found: not an OSError."""


def test_a_filesystem_error_of_its_own_type_is_a_source_reject(tmp_path):
    import fsspec
    from fsspec.spec import AbstractFileSystem

    from lvd2m_builder.records import ClipRef

    class Refusing(AbstractFileSystem):
        protocol = "lvd2mrefusing"

        def _open(self, path, mode="rb", **kwargs):
            raise _NoCredentialsError("Unable to locate credentials")

    fsspec.register_implementation("lvd2mrefusing", Refusing, clobber=True)
    (clip,) = Fetch(str(tmp_path))([Clip(ref=ClipRef("lvd2mrefusing://bucket/clip.mp4", "clip"))])
    assert clip.rejection.stage == "source"
    assert "_NoCredentialsError: Unable to locate credentials" in clip.rejection.reason
    assert list(tmp_path.iterdir()) == []  # the half-made copy is gone
