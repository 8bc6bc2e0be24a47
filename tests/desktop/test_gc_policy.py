"""GcSteward: long-lived objects leave the automatic collections; full ticks still reclaim."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from desktop.gc_policy import GcSteward


class Node:
    other: Any = None


def test_steward_freezes_survivors_and_a_full_tick_reclaims_frozen_cycles(qtbot: Any) -> None:
    steward = GcSteward(interval_ms=10, full_every=3)
    try:
        qtbot.waitUntil(lambda: steward.ticks >= 1)
        assert gc.get_freeze_count() > 0
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        seen = steward.ticks
        qtbot.waitUntil(lambda: steward.ticks > seen)  # the live cycle is frozen now
        del a, b
        gc.collect(1)
        assert ref() is not None, "automatic young collections skip frozen objects"
        qtbot.waitUntil(lambda: ref() is None, timeout=5000)  # the next full tick frees it
    finally:
        steward.stop()
    assert gc.get_freeze_count() == 0


def test_while_the_steward_lives_no_collection_runs_on_another_thread(qtbot: Any) -> None:
    """A Qt object in a cycle must die on the GUI thread: worker threads never collect."""
    import threading

    main = threading.main_thread()
    foreign: list[str] = []

    def watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and threading.current_thread() is not main:
            foreign.append(threading.current_thread().name)

    before = gc.isenabled()
    steward = GcSteward(interval_ms=50, full_every=2, young_ms=10)
    gc.callbacks.append(watch)
    try:
        assert not gc.isenabled()

        def churn() -> None:  # far past every automatic threshold, all of it cycles
            for _ in range(50_000):
                a, b = Node(), Node()
                a.other, b.other = b, a

        worker = threading.Thread(target=churn, name="churn")
        worker.start()
        worker.join()
        seen = steward.ticks
        qtbot.waitUntil(lambda: steward.ticks > seen + 1)  # the GUI thread collects instead
    finally:
        gc.callbacks.remove(watch)
        steward.stop()
    assert foreign == []
    assert gc.isenabled() == before  # given back as it was
