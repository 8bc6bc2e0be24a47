"""Work around PySide6 6.12.0 dropping a reference to ``None`` on every void call.

On CPython < 3.12 (where ``None`` is not yet immortal) PySide6/shiboken 6.12.0 returns
``None`` from wrapped C++ methods that return ``void`` without taking a reference. Each
``painter.setPen()``, ``label.setText()``... lowers ``None``'s reference count by one, so
a painting app aborts with "none_dealloc: deallocating None" after a few thousand calls.

Python 3.12 made ``None`` immortal (PEP 683); this gives it the same property on 3.11 by
raising its count far beyond what any run can consume. It does nothing on other versions
and is safe to call more than once. Remove it once PySide6 is pinned to a fixed release.
"""

from __future__ import annotations

import ctypes
import logging
import sys

logger = logging.getLogger(__name__)

AFFECTED_PYSIDE = ("6.12.0",)
_HEADROOM = 1 << 40
_applied = False


def needs_workaround() -> bool:
    if sys.version_info >= (3, 12):
        return False
    try:
        import PySide6
    except ImportError:
        return False
    return PySide6.__version__ in AFFECTED_PYSIDE


def protect_none_refcount() -> bool:
    """Make ``None`` effectively immortal if this PySide6/CPython pair needs it."""
    global _applied
    if _applied or not needs_workaround():
        return _applied
    refcnt = ctypes.c_ssize_t.from_address(id(None))
    refcnt.value += _HEADROOM
    _applied = True
    logger.debug(
        "PySide6 %s on Python %s: None's reference count protected",
        "6.12.0",
        sys.version.split()[0],
    )
    return True
