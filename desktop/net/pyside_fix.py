"""Work around a PySide6 6.12.0 bug: ``SignalInstance.emit()`` returns a borrowed ``True``.

Every ``signal.emit(...)`` made from Python drops one reference to ``True`` that it never
took. On Python 3.11, where ``True`` is not immortal, a busy app (every incoming message
emits signals) eventually frees ``True`` and aborts with "Fatal Python error:
bool_dealloc". ``install()`` measures whether the running PySide6 has the bug and, only
then, wraps ``emit`` to take the missing reference. It is idempotent and a no-op on fixed
PySide6 versions and on Python >= 3.12 (immortal bools).
"""

from __future__ import annotations

import ctypes
import logging
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance

logger = logging.getLogger(__name__)

_PROBE_EMITS = 16
_installed = False


class _Probe(QObject):
    ping = Signal()


def _incref(obj: object, times: int = 1) -> None:
    for _ in range(times):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def emit_leaks_true() -> int:
    """How many references to True ``_PROBE_EMITS`` emits lost (0 when unaffected).

    The lost references are given back, so probing is harmless.
    """
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBE_EMITS):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    if lost > 0:
        _incref(True, lost)
    return max(lost, 0)


def install() -> bool:
    """Patch ``SignalInstance.emit`` if this PySide6 leaks; True if the patch is active."""
    global _installed
    if _installed:
        return True
    if emit_leaks_true() < _PROBE_EMITS:
        return False
    original = SignalInstance.emit

    def emit(self: SignalInstance, *args: Any) -> Any:
        result = original(self, *args)
        if result is True or result is False:
            _incref(result)  # the reference emit() forgot to give us
        return result

    SignalInstance.emit = emit  # type: ignore[method-assign]
    _installed = True
    logger.debug("PySide6 emit() refcount workaround installed")
    return True
