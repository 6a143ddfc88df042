"""What rows call an input (inputs/public.py): relative to the input the user gave, never the machine's full path."""

from __future__ import annotations

import os

import pytest

from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.inputs.public import candidates, input_roots, public_name, public_reason, root_of
from lvd2m_builder.materialize.sources import SourceIndex


@pytest.fixture
def footage(tmp_path):
    """footage/trip/a.mp4, footage/trip/deep/b.mp4, footage/c.mp4 (empty files: only listing is tested)."""
    (tmp_path / "footage" / "trip" / "deep").mkdir(parents=True)
    for rel in ("trip/a.mp4", "trip/deep/b.mp4", "c.mp4"):
        (tmp_path / "footage" / rel).write_bytes(b"")
    return tmp_path / "footage"


def _urls(refs) -> set[str]:
    return {ref.name for ref in refs}


def test_a_directory_names_its_files_relative_to_itself(footage):
    assert _urls(list_refs([str(footage)])) == {"trip/a.mp4", "trip/deep/b.mp4", "c.mp4"}


def test_a_file_given_directly_is_named_by_its_name(footage):
    assert _urls(list_refs([str(footage / "trip" / "deep" / "b.mp4"), "file://" + str(footage / "c.mp4")])) == {
        "b.mp4", "c.mp4"}


def test_a_glob_names_files_relative_to_its_fixed_part(footage):
    assert _urls(list_refs([str(footage) + "/trip/**/*.mp4"])) == {"a.mp4", "deep/b.mp4"}


def test_nested_inputs_name_a_file_relative_to_the_deepest_one(footage):
    assert _urls(list_refs([str(footage), str(footage / "trip")])) == {"a.mp4", "deep/b.mp4", "c.mp4"}


def test_a_relative_input_is_named_the_same_as_its_absolute_form(footage, monkeypatch):
    monkeypatch.chdir(footage.parent)
    assert _urls(list_refs(["footage/"])) == _urls(list_refs([str(footage)]))


def test_absolute_paths_keep_the_path_and_no_setting_changes_a_key(footage):
    relative, absolute = list_refs([str(footage)]), list_refs([str(footage)], relative=False)
    assert _urls(absolute) == {str(footage / rel) for rel in ("trip/a.mp4", "trip/deep/b.mp4", "c.mp4")}
    assert [r.key for r in relative] == [r.key for r in absolute]


def test_input_roots_of_each_kind_of_input(footage, monkeypatch):
    monkeypatch.chdir(footage)
    assert input_roots([str(footage), "trip/a.mp4", "trip/*/b.mp4", "*.mp4", "s3://bucket/x", "file://" + str(footage)]) \
        == sorted({str(footage), str(footage / "trip")})


def test_root_of_a_file_outside_every_root_is_its_own_directory():
    assert root_of("/data/clips/x.mp4", ["/home/a/footage"]) == "/data/clips"
    assert root_of("/home/a/footage2/x.mp4", ["/home/a/footage"]) == "/home/a/footage2"  # a prefix is not a root
    assert root_of("https://host/x.mp4", ["/home/a/footage"]) is None


@pytest.mark.parametrize("uri, root, name", [
    ("/home/a/footage/trip/x.mp4", "/home/a/footage", "trip/x.mp4"),
    ("tar://k.mp4::file:///home/a/footage/shards/s.tar", "/home/a/footage", "tar://k.mp4::shards/s.tar"),
    ("/home/a/footage/t.csv#line=3", "/home/a/footage", "t.csv#line=3"),
    ("/home/a/x.mp4", "/", "home/a/x.mp4"),
    ("https://user:secret@host/v/x.mp4?sig=abc", None, "https://***@host/v/x.mp4?sig=***"),
    ("tar://k.mp4::https://user:secret@host/s.tar", None, "tar://k.mp4::https://***@host/s.tar"),
    ("/home/a/footage/trip/x.mp4", None, "/home/a/footage/trip/x.mp4"),
])
def test_public_name(uri, root, name):
    assert public_name(uri, root) == name


def test_a_reason_names_the_source_and_other_paths_under_its_root_relatively():
    root = "/home/a/footage"
    reason = ("cannot decode /tmp/fetch-1/x.mp4: see /home/a/footage/trip/x.mp4 and /home/a/footage/t.csv, "
              "not /home/a/footage2/y.mp4")
    assert public_reason(reason, "/home/a/footage/trip/x.mp4", root, copy="/tmp/fetch-1/x.mp4") == (
        "cannot decode trip/x.mp4: see trip/x.mp4 and t.csv, not /home/a/footage2/y.mp4")
    assert public_reason("cannot read https://u:p@h/x.mp4: 403", "https://u:p@h/x.mp4", None) == \
        "cannot read https://***@h/x.mp4: 403"


def test_candidates_find_a_relative_name_under_the_roots(footage, tmp_path):
    other = tmp_path / "other"
    (other / "trip").mkdir(parents=True)
    (other / "trip" / "a.mp4").write_bytes(b"")
    roots = [str(footage), str(other)]
    assert candidates("trip/a.mp4", roots) == [str(footage / "trip/a.mp4"), str(other / "trip/a.mp4")]
    assert candidates("c.mp4", roots) == [str(footage / "c.mp4")]
    assert candidates("tar://k.mp4::c.mp4", roots) == ["tar://k.mp4::file://" + str(footage / "c.mp4")]
    assert candidates("tar://k.mp4::file:///abs/s.tar", roots) == ["tar://k.mp4::file:///abs/s.tar"]
    assert candidates("gone.mp4", roots) == []
    assert candidates("/abs/x.mp4", roots) == ["/abs/x.mp4"]  # an older output's absolute path: as it is
    assert candidates("s3://b/x.mp4", roots) == ["s3://b/x.mp4"]
    assert os.path.isabs(candidates("trip/deep/b.mp4", roots)[0])


def test_a_name_two_roots_hold_is_read_from_the_one_its_key_was_made_from(footage, tmp_path):
    other = tmp_path / "other"
    (other / "trip").mkdir(parents=True)
    (other / "trip" / "a.mp4").write_bytes(b"")
    index = SourceIndex(roots=[str(footage), str(other)])
    for root in (footage, other):
        (ref,) = [r for r in list_refs([str(root)]) if r.name == "trip/a.mp4"]
        row = {"url": ref.name, "key": ref.key, "span_start": 0.0, "span_end": 12.0}
        assert index.lookup(row) == str(root / "trip" / "a.mp4")
    assert index.lookup({"url": "trip/gone.mp4", "key": "k"}) is None
    assert index.public("cannot read " + str(other / "trip/a.mp4"), str(other / "trip/a.mp4")) == "cannot read trip/a.mp4"
    assert SourceIndex(roots=[str(other)], absolute_paths=True).public("x " + str(other), str(other)) == "x " + str(other)
