"""The PySide6 emit() refcount workaround keeps True alive through many emits."""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, Signal

from desktop.net import pyside_fix


class _Emitter(QObject):
    changed = Signal(str, int)


def test_many_emits_do_not_drain_the_refcount_of_true() -> None:
    pyside_fix.install()
    emitter = _Emitter()
    seen: list[int] = []
    emitter.changed.connect(lambda _s, n: seen.append(n))
    gc.collect()
    before = sys.getrefcount(True)
    for i in range(5000):
        emitter.changed.emit("x", i)
    gc.collect()
    assert len(seen) == 5000
    assert sys.getrefcount(True) >= before
    assert pyside_fix.emit_leaks_true() == 0
