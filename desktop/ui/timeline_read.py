"""What the user has actually seen in the timeline, and where the unread divider goes.

A message counts as seen once its row was wholly inside the viewport (or, for a row
taller than the viewport, once it filled it) while the timeline was visible in the active
window. :class:`SeenTracker` reports the highest such message id per room, so the client
sends ``read`` only up to it: scrolled far up with "3 new messages ↓" showing, nothing
below the viewport is read.

The checks are coalesced on a short timer: scrolling and layout passes only schedule one.

Signals: ``seenUpTo(str room, int message_id)``.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QPoint, QTimer, Signal
from PySide6.QtWidgets import QListView

from desktop.models.message_list import MessageRoles

logger = logging.getLogger(__name__)

CHECK_DELAY_MS = 30


class SeenTracker(QObject):
    """Reports the newest message id on screen; see the module docstring."""

    seenUpTo = Signal(str, int)

    def __init__(self, view: QListView) -> None:
        super().__init__(view)
        self._view = view
        self._reported: dict[str, int] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self.check)

    def schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def reported(self, room: str) -> int:
        """The highest id reported for ``room`` so far (0 if none)."""
        return self._reported.get(room, 0)

    def on_screen(self) -> bool:
        view = self._view
        return view.isVisible() and view.window().isActiveWindow()

    def last_seen_row(self) -> int:
        """The lowest row wholly on screen (-1 if none)."""
        view = self._view
        model = view.model()
        if model is None or model.rowCount() == 0:
            return -1
        vp = view.viewport().rect()
        index = view.indexAt(QPoint(vp.center().x(), vp.bottom()))
        if not index.isValid():
            return model.rowCount() - 1  # the rows end above the viewport's bottom
        rect = view.visualRect(index)
        if rect.bottom() <= vp.bottom() + 1 or (rect.height() > vp.height() and rect.top() <= 0):
            return index.row()
        return index.row() - 1

    def check(self) -> None:
        """Report the newest confirmed message on screen, if it moved up."""
        self._timer.stop()
        if not self.on_screen():
            return
        model = self._view.model()
        room = getattr(getattr(model, "source", lambda: model)(), "room", None)
        if model is None or not isinstance(room, str):
            return
        row = self.last_seen_row()
        while row >= 0:
            message_id = model.index(row, 0).data(MessageRoles.IdRole)
            if isinstance(message_id, int):
                if message_id > self._reported.get(room, 0):
                    self._reported[room] = message_id
                    logger.debug("seen %s up to %s", room, message_id)
                    self.seenUpTo.emit(room, message_id)
                return
            row -= 1  # a pending echo has no id yet
