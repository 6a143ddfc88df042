"""The prefetch stage: upstream work (decoding) runs ahead in a thread while the model stage works, clips keep
their order, upstream errors surface in the consumer, and a consumer that stops early stops the thread."""

from __future__ import annotations

import threading

import pytest

from lvd2m_builder.records import Clip, ClipRef
from lvd2m_builder.stages.batching import Prefetch


def refs(n: int) -> list[Clip]:
    return [Clip(ref=ClipRef(uri=f"/v/{i}.mp4", video_id=str(i))) for i in range(n)]


def test_upstream_runs_ahead_while_the_consumer_works_and_order_is_kept():
    produced = [threading.Event() for _ in range(4)]
    threads = set()

    def upstream():
        for i, clip in enumerate(refs(4)):
            threads.add(threading.current_thread().name)
            produced[i].set()
            yield clip

    out = []
    for clip in Prefetch(depth=2)(upstream()):
        i = int(clip.ref.video_id)
        if i + 1 < 4:  # while the consumer holds clip i, clip i + 1 is made without it asking
            assert produced[i + 1].wait(timeout=5)
        out.append(i)
    assert out == [0, 1, 2, 3]
    assert threads == {"lvd2m-prefetch"}


def test_an_upstream_error_reaches_the_consumer_after_the_clips_before_it():
    def upstream():
        yield from refs(2)
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for clip in Prefetch(depth=4)(upstream()):
            got.append(clip.ref.video_id)
    assert got == ["0", "1"]


def test_a_consumer_that_stops_early_stops_the_thread():
    made = []

    def upstream():
        for clip in refs(100):
            made.append(clip)
            yield clip

    stream = Prefetch(depth=2)(upstream())
    assert next(stream).ref.video_id == "0"
    stream.close()
    assert not any(t.name == "lvd2m-prefetch" for t in threading.enumerate())
    assert len(made) <= 5  # depth 2 ahead, not the whole input
