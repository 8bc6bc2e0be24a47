"""Choosing a reaction: the "React" menu (quick emoji) and the searchable emoji picker.

The picker is one QListWidget in icon mode over :mod:`desktop.state.emoji_data`, with
the recently used emoji first; typing filters it by name, the arrows move and Enter
picks. The recent list lives in ``EmojiPicker.recent`` and is saved by whoever owns the
settings (the main window) through ``recentChanged``.

Signals (EmojiPicker): ``picked(str emoji)``, ``recentChanged(list recent)``.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QAction, QFont, QFontDatabase, QKeyEvent, QRawFont
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from desktop.state import emoji_data
from desktop.state.types import Message

# the app's recent emoji (loaded from the settings by the main window, which also sets
# SAVE_RECENT to write them back)
RECENT: list[str] = []
SAVE_RECENT: Callable[[list[str]], None] | None = None


def add_react_menu(menu: QMenu, msg: Message, toggle: Callable[[Message, str], None]) -> None:
    """A "React…" submenu: the quick six, then "More emoji…" (the picker)."""
    sub = menu.addMenu("React…")
    for emoji in emoji_data.QUICK:
        action = QAction(f"{emoji}  {emoji_data.name_of(emoji).capitalize()}", sub)
        action.triggered.connect(lambda _=False, e=emoji: toggle(msg, e))
        sub.addAction(action)
    sub.addSeparator()
    more = QAction("More emoji…", sub)
    parent = menu.parentWidget()

    def open_picker() -> None:
        picker = EmojiPicker(parent)
        picker.picked.connect(lambda e: toggle(msg, e))
        picker.open()

    more.triggered.connect(open_picker)
    sub.addAction(more)


_drawable: set[str] | None = None


def drawable(emoji: list[str]) -> list[str]:
    """``emoji`` without those the colour emoji font cannot draw (Unicode's blocks also
    hold text dingbats and symbols no font has: they would show as empty boxes). With no
    colour emoji font installed, all of them."""
    global _drawable
    if _drawable is None:
        families = [f for f in QFontDatabase.families() if "emoji" in f.lower()]
        raw = QRawFont.fromFont(QFont(families[0])) if families else None
        if raw is None or not raw.isValid():
            _drawable = {e for e, _n in emoji_data.all_emoji()}
        else:
            # (the str overload takes a QChar: code points beyond the BMP need the int one)
            _drawable = {e for e, _n in emoji_data.all_emoji()
                         if raw.supportsCharacter(ord(e[0]))}
    known = emoji_data.names()
    return [e for e in emoji if e in _drawable or e not in known]


class EmojiPicker(QDialog):
    """A searchable grid of emoji (see the module docstring)."""

    picked = Signal(str)
    recentChanged = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose a reaction")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search emoji (e.g. heart, party, thumbs)")
        self.search.setClearButtonEnabled(True)
        self.grid = QListWidget(self)
        # a wrapping left-to-right list of fixed cells: icon mode would elide an emoji
        # whose advance it misjudges to nothing
        self.grid.setFlow(QListView.Flow.LeftToRight)
        self.grid.setWrapping(True)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)
        self.grid.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.grid.setGridSize(QSize(40, 40))
        font = QFont(self.font())
        font.setPointSizeF(max(14.0, font.pointSizeF() * 1.6))
        self.grid.setFont(font)
        self.empty = QLabel("No emoji match that search.", self)
        self.empty.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.grid)
        layout.addWidget(self.empty)
        self.resize(420, 360)
        self._connect_signals()
        self.search.installEventFilter(self)
        self.fill("")

    def _connect_signals(self) -> None:
        self.search.textChanged.connect(self.fill)
        self.grid.itemActivated.connect(self.on_grid_item_activated)
        self.grid.itemClicked.connect(self.on_grid_item_activated)

    def fill(self, query: str) -> None:
        self.grid.clear()
        for emoji in drawable(emoji_data.search(query, RECENT)):
            item = QListWidgetItem(emoji)
            item.setToolTip(emoji_data.name_of(emoji))
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            self.grid.addItem(item)
        self.empty.setVisible(self.grid.count() == 0)
        if self.grid.count():
            self.grid.setCurrentRow(0)

    def emoji(self) -> list[str]:
        return [self.grid.item(i).text() for i in range(self.grid.count())]

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Overrides QObject.eventFilter: arrows and Enter in the search act on the grid."""
        if watched is self.search and isinstance(event, QKeyEvent) and (
            event.type() == QEvent.Type.KeyPress
        ):
            key = event.key()
            if key in (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_Left, Qt.Key.Key_Right,
                       Qt.Key.Key_PageUp, Qt.Key.Key_PageDown):
                self.grid.keyPressEvent(event)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                item = self.grid.currentItem()
                if item is not None:
                    self.on_grid_item_activated(item)
                return True
        return super().eventFilter(watched, event)

    def on_grid_item_activated(self, item: QListWidgetItem) -> None:
        emoji = item.text()
        RECENT[:] = emoji_data.used(RECENT, emoji)
        if SAVE_RECENT is not None:
            SAVE_RECENT(list(RECENT))
        self.recentChanged.emit(list(RECENT))
        self.picked.emit(emoji)
        self.accept()
