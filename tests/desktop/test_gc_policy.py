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
