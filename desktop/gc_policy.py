"""Garbage collection on the GUI thread only, and rarely a full one.

Two reasons to steer CPython's collector in a Qt app:

- **The thread a collection runs on.** An automatic collection runs on whichever thread
  happens to allocate past the threshold: in Parley often a worker thread of the embedded
  server's storage, or a qasync executor thread. A Qt object caught in a reference cycle is
  then destroyed on that thread, which Qt does not allow (a QObject must die on its own
  thread) and which crashed the test suite now and then with a segmentation fault inside
  the event loop. So :class:`GcSteward` switches automatic collection off and collects
  itself, from a timer on the GUI thread: the young generation every ``young_ms``.
- **Full collections stall floods.** A chat client keeps tens of thousands of long-lived
  objects (messages, cached layouts, Qt wrappers). A full (generation 2) collection walks
  every one of them: about 80 ms with 10,000 messages loaded, a visible stall in a message
  flood (bench/gui_timeline.py measured it). Every ``interval_ms`` the steward collects
  generation 1 and ``gc.freeze()``\\ s the survivors into the permanent generation, which
  young collections skip. Once every ``full_every`` of those (about every ten minutes) it
  unfreezes and runs one full collection, so a cycle among long-lived objects is still
  reclaimed.
- **A generation-1 collection costs what survived since the last one.** At 5 s apart it
  walked 5 s of a flood's survivors (about 1,900 messages with their layouts): 45 ms, the
  flood's worst stall. At 1 s apart each walks a fifth of that.

Objects without cycles are freed by reference counting at once, as always; only cyclic
garbage waits for the next tick. This module uses QtCore only.
"""

from __future__ import annotations

import gc
import logging

from PySide6.QtCore import QObject, QTimer

logger = logging.getLogger(__name__)


class GcSteward(QObject):
    """Owns garbage collection while it lives: all of it on the GUI thread, full ones rare."""

    def __init__(
        self,
        parent: QObject | None = None,
        interval_ms: int = 1_000,
        full_every: int = 600,
        young_ms: int = 100,
    ) -> None:
        super().__init__(parent)
        self.full_every = full_every
        self.ticks = 0  # generation-1 ticks (each freezes the survivors)
        self._young_ms = max(1, min(young_ms, interval_ms))
        self._per_tick = max(1, round(interval_ms / self._young_ms))
        self._young_ticks = 0
        self._was_enabled = gc.isenabled()
        gc.disable()  # no collection on whatever thread allocates next
        self._timer = QTimer(self)
        self._timer.setInterval(self._young_ms)
        self._timer.timeout.connect(self.on_timer_timeout)
        self._timer.start()

    def on_timer_timeout(self) -> None:
        self._young_ticks += 1
        if self._young_ticks % self._per_tick:
            gc.collect(0)
            return
        self.ticks += 1
        if self.ticks % self.full_every == 0:
            gc.unfreeze()
            found = gc.collect()
            logger.debug("full collection: %d unreachable objects", found)
        else:
            gc.collect(1)
        gc.freeze()

    def stop(self) -> None:
        """Stop ticking, hand every frozen object back, collect once here, and give
        automatic collection back as it was."""
        self._timer.stop()
        gc.unfreeze()
        gc.collect()
        if self._was_enabled:
            gc.enable()
