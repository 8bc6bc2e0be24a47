"""Work around PySide6 6.12.0 dropping references to ``None``, ``True`` and ``False``.

On CPython < 3.12 (where these are not yet immortal) PySide6/shiboken 6.12.0 returns
``None`` from wrapped C++ methods that return ``void`` without taking a reference, and
emitting a Python signal carrying ``True``/``False`` drops one as well. Each
``painter.setPen()``, ``label.setText()``, ``signal.emit(True)``... lowers a count by one,
so a painting app aborts with "none_dealloc: deallocating None" (or ``bool_dealloc``)
after a few thousand calls. 6.11.3 does not have the bug.

Python 3.12 made these objects immortal (PEP 683); this gives them the same property on
3.11 by raising their counts far beyond what any run can consume. It does nothing on
other versions and is safe to call more than once. Remove it once PySide6 is pinned to a
fixed release.
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
    """Make ``None``, ``True`` and ``False`` effectively immortal if PySide6 needs it."""
    global _applied
    if _applied or not needs_workaround():
        return _applied
    for singleton in (None, True, False):
        refcnt = ctypes.c_ssize_t.from_address(id(singleton))
        refcnt.value += _HEADROOM
    _applied = True
    logger.debug(
        "PySide6 %s on Python %s: None's reference count protected",
        "6.12.0",
        sys.version.split()[0],
    )
    return True
