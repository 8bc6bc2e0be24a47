"""Selecting part of one message's text in the timeline, without a widget per row.

A press on a message's text anchors a selection, dragging extends it (within that
message), a double-click selects a word; the delegate paints the range highlighted and
Ctrl+C (or "Copy selection" in the context menu) copies exactly that part, as plain text.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPersistentModelIndex, QPoint
from PySide6.QtGui import QGuiApplication

from desktop.models.message_list import MessageRoles
from desktop.state.markdown import plain_text
from desktop.state.types import Message

if TYPE_CHECKING:
    from desktop.ui.message_delegate import MessageDelegate
    from desktop.ui.timeline import TimelineView

logger = logging.getLogger(__name__)

_WORD = re.compile(r"\w+|[^\w\s]+", re.UNICODE)


class TextSelection(QObject):
    """The timeline's text selection; see the module docstring."""

    def __init__(self, view: TimelineView) -> None:
        super().__init__(view)
        self._view = view
        self._msg: Message | None = None
        self._anchor = 0
        self._row = QPersistentModelIndex()
        self.dragging = False

    @property
    def message(self) -> Message | None:
        return self._msg

    def _delegate(self) -> MessageDelegate:
        return self._view.delegate

    def _set(self, msg: Message | None, start: int, end: int) -> None:
        lo, hi = sorted((start, end))
        self._delegate().selection = (msg, lo, hi - lo) if msg is not None else None
        self._view.viewport().update()

    def press(self, pos: QPoint) -> bool:
        """Anchor a selection at ``pos``; True if it is over a message's text."""
        index = self._view.indexAt(pos)
        self.clear()
        if not index.isValid():
            return False
        cursor = self._delegate().text_cursor_at(self._view.option_for(index), index, pos)
        msg = index.data(MessageRoles.ItemRole)
        if cursor is None or not isinstance(msg, Message):
            return False
        self._msg = msg
        self._row = QPersistentModelIndex(index)
        self._anchor = cursor
        self.dragging = True
        return True

    def move(self, pos: QPoint) -> None:
        if not self.dragging or self._msg is None:
            return
        model = self._view.model()
        if model is None or not self._row.isValid():
            return
        index = model.index(self._row.row(), 0)
        if index.data(MessageRoles.ItemRole) is not self._msg:
            self.clear()
            return
        cursor = self._delegate().text_cursor_at(
            self._view.option_for(index), index, pos, clamp=True
        )
        if cursor is not None:
            self._set(self._msg, self._anchor, cursor)

    def release(self) -> None:
        self.dragging = False

    def select_word(self, pos: QPoint) -> bool:
        """Select the word under ``pos`` (a double-click); True if there was one."""
        if not self.press(pos) or self._msg is None:
            return False
        self.dragging = False
        text = plain_text(self._msg.text)
        for m in _WORD.finditer(text):
            if m.start() <= self._anchor <= m.end():
                self._anchor = m.start()
                self._set(self._msg, m.start(), m.end())
                return True
        return False

    def select_all(self, msg: Message) -> None:
        self._msg = msg
        self._anchor = 0
        self._set(msg, 0, len(plain_text(msg.text)))

    def text(self) -> str:
        sel = self._delegate().selection
        if sel is None or sel[0] is not self._msg or sel[2] <= 0:
            return ""
        msg, start, length = sel
        return plain_text(msg.text)[start:start + length]

    def copy(self) -> bool:
        """Copy the selected text; False if nothing is selected."""
        text = self.text()
        if not text:
            return False
        QGuiApplication.clipboard().setText(text)
        return True

    def clear(self) -> None:
        had = self._delegate().selection is not None
        self._msg = None
        self._row = QPersistentModelIndex()
        self.dragging = False
        self._delegate().selection = None
        if had:
            self._view.viewport().update()
