"""``@`` autocompletion in the composer: the room's members and ``@room``.

Typing ``@`` and the start of a name (at the start of the text or after a character that
cannot be part of a username, as the server reads mentions) opens a small list under the
cursor; Up/Down choose, Enter or Tab insert ``@name `` and Escape closes it. The list is
a frameless tool window that never takes the keyboard: the keys reach it through an
event filter on the text box, which sees them before the box's own Enter-sends.

Signals: ``completed(str name)`` after a name was inserted.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import QListWidget, QPlainTextEdit

# "@" not preceded by a username character, then the partial name up to the cursor
_TOKEN = re.compile(r"(?<![\w.\-@])@([\w.\-]{0,32})$")
MAX_SHOWN = 8


def candidates(names: list[str], prefix: str, own: str | None = None) -> list[str]:
    """Names starting with ``prefix`` (any case), "room" first when it matches; never
    oneself. Those whose name starts with it come before those merely containing it."""
    p = prefix.lower()
    others = sorted({n for n in names if not own or n.lower() != own.lower()}, key=str.lower)
    starts = [n for n in others if n.lower().startswith(p)]
    inside = [n for n in others if p and p in n.lower() and n not in starts]
    head = ["room"] if "room".startswith(p) else []
    return (head + starts + inside)[:MAX_SHOWN]


class MentionCompleter(QObject):
    """Autocompletes ``@name`` in ``edit`` (see the module docstring)."""

    completed = Signal(str)

    def __init__(self, edit: QPlainTextEdit, names: Callable[[], list[str]],
                 own: Callable[[], str | None] = lambda: None) -> None:
        super().__init__(edit)
        self._edit = edit
        self._names = names
        self._own = own
        self.popup = QListWidget(edit)
        self.popup.setWindowFlags(Qt.WindowType.ToolTip | Qt.WindowType.FramelessWindowHint)
        self.popup.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.popup.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.popup.itemClicked.connect(lambda item: self._insert(item.text()))
        edit.installEventFilter(self)
        edit.textChanged.connect(self.refresh)
        edit.cursorPositionChanged.connect(self.refresh)

    def _token(self) -> re.Match[str] | None:
        cursor = self._edit.textCursor()
        if cursor.hasSelection():
            return None
        block = cursor.block().text()[: cursor.positionInBlock()]
        return _TOKEN.search(block)

    def refresh(self) -> None:
        match = self._token()
        found = candidates(self._names(), match.group(1), self._own()) if match else []
        if not found:
            self.popup.hide()
            return
        current = self.popup.currentItem().text() if self.popup.currentItem() else None
        self.popup.clear()
        self.popup.addItems([f"@{n}" for n in found])
        row = next((i for i, n in enumerate(found) if f"@{n}" == current), 0)
        self.popup.setCurrentRow(row)
        rect = self._edit.cursorRect()
        height = self.popup.sizeHintForRow(0) * len(found) + 6
        width = max(160, self.popup.sizeHintForColumn(0) + 24)
        self.popup.resize(width, height)
        self.popup.move(self._edit.viewport().mapToGlobal(rect.topLeft() - QPoint(0, height + 4)))
        self.popup.show()

    def _insert(self, label: str) -> None:
        match = self._token()
        if match is None:
            self.popup.hide()
            return
        cursor = self._edit.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.Left, QTextCursor.MoveMode.KeepAnchor,
                            len(match.group(0)))
        cursor.insertText(f"{label} ")
        self._edit.setTextCursor(cursor)
        self.popup.hide()
        self.completed.emit(label[1:])

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Overrides QObject.eventFilter: the list's keys, before the box's Enter-sends."""
        if (watched is self._edit and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent) and self.popup.isVisible()):
            key = event.key()
            row, count = self.popup.currentRow(), self.popup.count()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up) and count:
                step = 1 if key == Qt.Key.Key_Down else -1
                self.popup.setCurrentRow((row + step) % count)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab):
                item = self.popup.currentItem()
                if item is not None:
                    self._insert(item.text())
                    return True
            if key == Qt.Key.Key_Escape:
                self.popup.hide()
                return True
        if watched is self._edit and event.type() == QEvent.Type.FocusOut:
            self.popup.hide()
        return super().eventFilter(watched, event)
