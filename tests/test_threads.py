"""``threads.ordered_map``: work spread over threads comes back in the items' order, errors included; ``ahead`` and
``ordered_map`` run their threads below the main thread's priority when asked."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from lvd2m_builder.threads import ahead, ordered_map


def test_results_come_in_order_though_they_finish_out_of_order():
    names = set()

    def slow_first(i: int) -> int:
        names.add(threading.current_thread().name)
        time.sleep(0.05 if i % 3 == 0 else 0.0)
        return i * i

    assert list(ordered_map(slow_first, range(20), workers=3, name="t-map")) == [i * i for i in range(20)]
    assert len(names) > 1 and all(name.startswith("t-map") for name in names)


def test_an_error_reaches_the_consumer_at_its_item_after_the_items_before_it():
    def fail_at_five(i: int) -> int:
        if i == 5:
            raise ValueError(f"item {i}")
        return i

    seen = []
    with pytest.raises(ValueError, match="item 5"):
        for value in ordered_map(fail_at_five, range(10), workers=2):
            seen.append(value)
    assert seen == [0, 1, 2, 3, 4]


def test_a_consumer_that_stops_early_leaves_at_most_a_window_of_work_started():
    started = []

    def record(i: int) -> int:
        started.append(i)
        return i

    mapped = ordered_map(record, range(1000), workers=2)
    assert next(mapped) == 0
    mapped.close()
    assert len(started) <= 4


def _own_nice(_: object = None) -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="only Linux threads have a priority of their own")
def test_threads_asked_to_run_lower_run_that_far_below_the_main_thread_and_the_caller_stays():
    main = os.getpriority(os.PRIO_PROCESS, os.getpid())
    if main + 3 > 19:
        pytest.skip("this process already runs at the lowest priority")
    assert set(ordered_map(_own_nice, range(4), workers=2, nice=3)) == {main + 3}
    assert list(ahead((_own_nice() for _ in range(3)), 1, nice=3)) == [main + 3] * 3
    # a lowered thread's own helpers start as low as it, and are set from the main thread, not from it
    nested = list(ahead((list(ahead((_own_nice() for _ in range(2)), 1, nice=3)) for _ in range(1)), 1, nice=3))
    assert nested == [[main + 3] * 2]
    assert list(ahead((_own_nice() for _ in range(2)), 1)) == [main] * 2  # not asked: as the caller
    assert _own_nice() == main
