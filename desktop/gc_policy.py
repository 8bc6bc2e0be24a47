"""Keep CPython's full garbage collections from stalling the GUI thread.

A chat client keeps tens of thousands of long-lived objects (messages, cached layouts, Qt
wrappers). A full (generation 2) collection walks every one of them: about 80 ms with
10,000 messages loaded, which is a visible stall in the middle of a message flood
(bench/gui_timeline.py measured it). Those objects live for the whole session, so every few
seconds :class:`GcSteward` collects the young generations (cheap) and ``gc.freeze()``\\ s
the survivors into the permanent generation, which automatic collections skip; they stay
small and bounded by what was allocated since the last tick.

Frozen objects are still freed by reference counting as usual. Only a reference cycle
among them would outlive its use, so once every ``full_every`` ticks the steward unfreezes
and runs one full collection: the rare, known cost CPython would otherwise pay at random.
This module uses QtCore only.
"""

from __future__ import annotations

import gc
import logging

from PySide6.QtCore import QObject, QTimer

logger = logging.getLogger(__name__)


class GcSteward(QObject):
    """Freezes long-lived objects on a timer; a full collection only every ``full_every`` ticks."""

    def __init__(
        self, parent: QObject | None = None, interval_ms: int = 5_000, full_every: int = 120
    ) -> None:
        super().__init__(parent)
        self.full_every = full_every
        self.ticks = 0
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.on_timer_timeout)
        self._timer.start()

    def on_timer_timeout(self) -> None:
        self.ticks += 1
        if self.ticks % self.full_every == 0:
            gc.unfreeze()
            found = gc.collect()
            logger.debug("full collection: %d unreachable objects", found)
        else:
            gc.collect(1)
        gc.freeze()

    def stop(self) -> None:
        """Stop ticking and hand every frozen object back to the collector."""
        self._timer.stop()
        gc.unfreeze()
