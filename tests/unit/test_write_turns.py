"""The process's SQLite write turns (``storage.write_turns``): first come first served, reentrant, bounded."""

from __future__ import annotations

import threading
import time

from hospes.storage.write_turns import WriteTurns, hand_back, take


def _wait_queued(turns: WriteTurns, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(turns._queue) < count:
        assert time.monotonic() < deadline, "the waiters never queued"
        time.sleep(0.005)


def test_waiters_get_the_turn_in_the_order_they_asked() -> None:
    turns = WriteTurns()
    assert turns.acquire()
    order: list[int] = []

    def writer(n: int) -> None:
        assert turns.acquire()
        order.append(n)
        turns.release()

    threads = []
    for n in range(6):
        thread = threading.Thread(target=writer, args=(n,))
        thread.start()
        threads.append(thread)
        _wait_queued(turns, n + 1)  # each asks after the one before: the arrival order is known
    turns.release()
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2, 3, 4, 5]
    assert turns._owner is None and not turns._queue


def test_the_holding_thread_passes_again_and_releases_at_the_outermost_level() -> None:
    turns = WriteTurns()
    assert turns.acquire() and turns.acquire(timeout=0) and turns.held_by_me()
    turns.release()
    other = threading.Thread(target=lambda: got.append(turns.acquire(timeout=0)))
    got: list[bool] = []
    other.start()
    other.join(5)
    assert got == [False]  # still held once by this thread
    turns.release()
    assert not turns.held_by_me()
    other = threading.Thread(target=lambda: got.append(turns.acquire(timeout=0)))
    other.start()
    other.join(5)
    assert got == [False, True]


def test_a_wait_past_its_timeout_gives_up_and_leaves_no_trace_in_the_queue() -> None:
    turns = WriteTurns()
    assert turns.acquire()
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(turns.acquire(timeout=0.05)))
    waiter.start()
    waiter.join(5)
    assert result == [False] and not turns._queue
    turns.release()
    assert turns._owner is None  # nobody was handed a turn it no longer waits for


def test_a_connection_takes_the_turn_once_and_hands_it_back_once() -> None:
    turns = WriteTurns()
    info: dict[str, object] = {}
    take(info, turns, 1.0)
    take(info, turns, 1.0)  # a second BEGIN event on the same connection does not count twice
    assert turns._depth == 1
    hand_back(info)
    hand_back(info)  # commit, then the pool's reset: only the first gives the turn back
    assert turns._owner is None and turns._depth == 0
