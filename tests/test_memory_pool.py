"""A streaming command runs with jemalloc as pyarrow's pool, and leaves the pool it found (or one the user chose);
the collector leaves the objects that were there before it out of its passes, and is as it was after."""

from __future__ import annotations

import gc
import os
import platform
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lvd2m_builder.memory_pool import frozen_heap, streaming_pool


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow is built without jemalloc")
def test_jemalloc_inside_the_block_and_the_previous_pool_after(monkeypatch):
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    before = pa.default_memory_pool().backend_name
    with streaming_pool():
        assert pa.default_memory_pool().backend_name == "jemalloc"
        made = pc.utf8_upper(pa.array(["kept past the block"] * 1000))
    assert pa.default_memory_pool().backend_name == before
    assert made[0].as_py() == "KEPT PAST THE BLOCK"  # a buffer outliving the block is still its pool's


def _pool_of_a_new_process(code: str, **env: str) -> list[str]:
    """What ``code`` prints, run in a new Python whose environment has no pool choice but ``env``'s."""
    environ = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"} | env
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
    return done.stdout.split()


_POOL = "import os, pyarrow; print(pyarrow.default_memory_pool().backend_name, os.environ.get('ARROW_DEFAULT_MEMORY_POOL'))"


@pytest.mark.skipif(not _has_jemalloc() or sys.platform != "linux" or platform.machine() != "x86_64",
                    reason="the command line asks for jemalloc only where pyarrow's wheels have it (Linux x86-64)")
def test_the_command_line_makes_jemalloc_arrows_own_default_before_pyarrow_loads():
    # Arrow's own default, which the Parquet writer's buffers come from: pyarrow's set_memory_pool cannot change it
    assert _pool_of_a_new_process("import lvd2m_builder.cli; " + _POOL) == ["jemalloc", "jemalloc"]
    assert _pool_of_a_new_process(_POOL) != ["jemalloc", "jemalloc"]  # not without the command line


def test_the_command_line_keeps_a_pool_the_user_chose_and_a_process_that_loaded_pyarrow_first():
    assert _pool_of_a_new_process("import lvd2m_builder.cli; " + _POOL, ARROW_DEFAULT_MEMORY_POOL="system") == [
        "system", "system"]
    loaded_first = _pool_of_a_new_process("import pyarrow, lvd2m_builder.cli; " + _POOL)
    assert loaded_first[1] == "None"  # too late to choose: the environment is left as it was
    assert loaded_first == _pool_of_a_new_process(_POOL)


def test_a_pool_the_user_chose_is_left_as_it_is(monkeypatch):
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
    before = pa.default_memory_pool().backend_name
    with streaming_pool():
        assert pa.default_memory_pool().backend_name == before


def test_the_previous_pool_is_back_after_an_error():
    before = pa.default_memory_pool().backend_name
    with pytest.raises(RuntimeError), streaming_pool():
        raise RuntimeError("the command failed")
    assert pa.default_memory_pool().backend_name == before


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_frozen_heap_leaves_older_objects_out_of_the_collector_and_collects_new_garbage():
    older = _Cycle()
    with frozen_heap():
        assert gc.get_freeze_count() > 0
        assert not any(obj is older for obj in gc.get_objects())  # out of every generation the collector walks
        new = _Cycle()
        del new
        assert gc.collect() > 0  # a cycle made inside is still garbage to the collector
    assert gc.get_freeze_count() == 0
    assert any(obj is older for obj in gc.get_objects())


def test_a_heap_frozen_before_stays_frozen_after():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with frozen_heap():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_the_heap_is_unfrozen_after_an_error():
    with pytest.raises(RuntimeError), frozen_heap():
        raise RuntimeError("the command failed")
    assert gc.get_freeze_count() == 0
