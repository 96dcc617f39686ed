"""The pages' memo: bounded, least recently used, one computation per key at a time."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from recops.server.ui.memo import Memo


def test_concurrent_callers_of_one_key_compute_it_once() -> None:
    memo: Memo[int] = Memo(8)
    calls: list[int] = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.2)
        return 42

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: memo.get("k", slow), range(4)))
    assert results == [42] * 4 and len(calls) == 1
    assert memo.get("k", lambda: 0) == 42  # cached


def test_the_least_recently_used_key_goes_first() -> None:
    memo: Memo[str] = Memo(2)
    memo.get("a", lambda: "A")
    memo.get("b", lambda: "B")
    memo.get("a", lambda: "x")  # a is now the most recent
    memo.get("c", lambda: "C")  # evicts b
    assert memo.get("a", lambda: "new") == "A" and memo.get("b", lambda: "new") == "new"


def test_a_failed_computation_is_not_cached_and_waiters_try_again() -> None:
    memo: Memo[int] = Memo(2)
    started = threading.Event()

    def failing() -> int:
        started.set()
        time.sleep(0.1)
        raise RuntimeError("boom")

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(memo.get, "k", failing)
        started.wait(5)
        second = pool.submit(memo.get, "k", lambda: 7)  # waits, then computes itself
        with pytest.raises(RuntimeError, match="boom"):
            first.result(5)
        assert second.result(5) == 7
