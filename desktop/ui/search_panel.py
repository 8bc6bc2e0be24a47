"""The search panel: search-as-you-type over ``message:search`` (protocol v2, section 16).

:class:`SearchPanel` is a field, a scope switch ("All rooms") and a list of results
painted by :class:`desktop.ui.search_delegate.SearchDelegate` over a thin
:class:`desktop.models.search_list.SearchListModel`:

- typing restarts a ``DEBOUNCE_MS`` timer; when it fires the query goes out with a new
  generation number, and an answer for any older generation (or page) is dropped, so a
  slow answer to "rep" never replaces the results for "report";
- scrolling near the end asks for the next page (the protocol's ``before`` cursor),
  and so does a first page too short to fill the list;
- a sentence says what is going on when there are no rows: what is searched, "Searching…",
  no results, or why it failed;
- keyboard only: Up/Down/PageUp/PageDown move through the results from the field, Enter
  opens one, Esc closes.

:class:`SearchController` docks the panel at the right edge of the main window. In the
wide layout it is a column of its own, full height: the conversation narrows beside it
(as Telegram's side column does), so an opened result and the composer's Send button are
never under it. In the narrow layout it lies over the conversation under the room header.
It opens for the room (Ctrl+F) or for all rooms (Ctrl+Shift+F), and opens
a chosen result: its room, the history around it loaded, scrolled to and flashed by the
reply jump (``ConversationController.jump_to``). In the narrow layout the panel closes
then so the message is not under it.

Signals (SearchPanel): ``resultActivated(str room, int message_id)``, ``closed()``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.models.message_list import MessageRoles
from desktop.models.search_list import SearchListModel, SearchRoles
from desktop.net.core import RequestError
from desktop.net.search import SearchPage
from desktop.state.search import SearchResults
from desktop.ui.search_delegate import SearchDelegate

if TYPE_CHECKING:
    from desktop.net.client import ChatClient
    from desktop.ui.main_window import MainWindow

logger = logging.getLogger(__name__)

DEBOUNCE_MS = 250
PAGE_ROWS = 20
MORE_WHEN_ROWS_LEFT = 4  # ask for the next page this many rows before the end
PANEL_MIN_WIDTH = 320
PANEL_MAX_WIDTH = 440
CONVERSATION_MIN_WIDTH = 300  # the conversation's own minimum: narrower, the panel lies over it


class SearchPanel(QFrame):
    """Search field, scope and results (see the module docstring)."""

    resultActivated = Signal(str, int)
    closed = Signal()

    def __init__(self, client: ChatClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.setObjectName("searchPanel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setAccessibleName("Search messages")
        self.room: str | None = None  # the room searched when not "All rooms"
        self.results = SearchResults()
        self.generation = 0  # of the query on screen; older answers are dropped
        self.requests_sent = 0
        self.dropped = 0
        self._loading_more = False
        self._tasks: set[asyncio.Future[Any]] = set()

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 8, 0, 0)
        outer.setSpacing(6)
        row = QHBoxLayout()
        row.setContentsMargins(10, 0, 6, 0)
        row.setSpacing(4)
        self.field = QLineEdit(self)
        self.field.setObjectName("searchField")
        self.field.setClearButtonEnabled(True)
        self.field.setAccessibleName("Search")
        self.field.setMaxLength(200)
        row.addWidget(self.field, 1)
        self.all_rooms = QToolButton(self)
        self.all_rooms.setObjectName("searchAllRooms")
        self.all_rooms.setText("All rooms")
        self.all_rooms.setCheckable(True)
        self.all_rooms.setToolTip("Search every room you are in (Ctrl+Shift+F)")
        self.all_rooms.setAutoRaise(True)
        row.addWidget(self.all_rooms)
        self.close_button = QToolButton(self)
        self.close_button.setObjectName("searchClose")
        self.close_button.setText("✕")
        self.close_button.setAccessibleName("Close search")
        self.close_button.setToolTip("Close (Esc)")
        self.close_button.setAutoRaise(True)
        row.addWidget(self.close_button)
        outer.addLayout(row)
        self.status = QLabel(self)
        self.status.setObjectName("searchStatus")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.status.setContentsMargins(12, 4, 12, 4)
        self.status.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        outer.addWidget(self.status)
        self.model = SearchListModel(self.results, self._room_name, self)
        self.list = QListView(self)
        self.list.setObjectName("searchResults")
        self.list.setAccessibleName("Search results")
        self.list.setModel(self.model)
        self.delegate = SearchDelegate(self._room_name, self.list)
        self.list.setItemDelegate(self.delegate)
        self.list.setUniformItemSizes(True)
        self.list.setFrameShape(QFrame.Shape.NoFrame)
        self.list.setMouseTracking(True)
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        outer.addWidget(self.list, 1)
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(DEBOUNCE_MS)
        self._connect_signals()
        self._show_state()

    def _connect_signals(self) -> None:
        # --- typing
        self.field.textChanged.connect(self.on_field_text_changed)
        self.debounce.timeout.connect(self.on_debounce_timeout)
        self.field.installEventFilter(self)
        # --- scope and closing
        self.all_rooms.toggled.connect(self.on_all_rooms_toggled)
        self.close_button.clicked.connect(self.close_panel)
        # --- results
        self.list.installEventFilter(self)
        self.list.clicked.connect(self.activate)
        self.list.verticalScrollBar().valueChanged.connect(self.on_list_scrolled)
        self.list.verticalScrollBar().rangeChanged.connect(self.on_list_scrolled)
        self.results.listeners.append(self.on_results_change)

    # ------------------------------------------------------------------ scope
    def set_scope(self, room: str | None, all_rooms: bool) -> None:
        """Search ``room`` (the room on screen), or every room when ``all_rooms``."""
        self.room = room
        blocked = self.all_rooms.blockSignals(True)
        self.all_rooms.setChecked(all_rooms or room is None)
        self.all_rooms.blockSignals(blocked)
        self.all_rooms.setEnabled(room is not None)
        self._update_placeholder()
        self.restart()

    @property
    def scope_room(self) -> str | None:
        """The room searched; None for all rooms."""
        return None if self.all_rooms.isChecked() else self.room

    def on_all_rooms_toggled(self, _on: bool) -> None:
        self._update_placeholder()
        self.restart()

    def _update_placeholder(self) -> None:
        room = self.scope_room
        self.field.setPlaceholderText(
            f"Search {self._room_label(room)}" if room is not None else "Search all rooms")

    def _room_name(self, room: str) -> str:
        info = self.client.rooms.get(room)
        if info is None:
            return room
        return info.name if info.kind == "dm" else f"#{info.name}"

    def _room_label(self, room: str | None) -> str:
        return self._room_name(room) if room is not None else "all your rooms"

    # ------------------------------------------------------------------ querying
    def on_field_text_changed(self, _text: str) -> None:
        self.debounce.start()

    def on_debounce_timeout(self) -> None:
        self.restart()

    def restart(self) -> None:
        """Search for the field's text now (a new generation: older answers are dropped)."""
        self.debounce.stop()
        self.generation += 1
        query = self.field.text().strip()
        self._loading_more = False
        if not query:
            self.results.reset("", self.scope_room, "idle")
            return
        self.results.reset(query, self.scope_room, "searching")
        self._request(self.generation, query, self.scope_room, None)

    def load_more(self) -> bool:
        """Ask for the next (older) page of the query on screen; False if there is none
        or one is on its way."""
        results = self.results
        if self._loading_more or not results.has_more or results.state != "results":
            return False
        self._loading_more = True
        self._request(self.generation, results.query, results.room, results.cursor)
        return True

    def _request(self, generation: int, query: str, room: str | None,
                 before: int | None) -> None:
        self.requests_sent += 1
        task = asyncio.ensure_future(self.client.search(query, room, before, PAGE_ROWS))
        self._tasks.add(task)

        def done(t: asyncio.Future[Any]) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                return
            if not shiboken6.isValid(self) or generation != self.generation:
                self.dropped += 1  # the user has typed on since: not for the screen
                t.exception()  # retrieved: a dropped failure is not an unhandled one
                return
            if before is not None:
                self._loading_more = False
            exc = t.exception()
            if exc is None:
                page: SearchPage = t.result()
                self.results.add_page(page.messages, page.has_more)
            elif isinstance(exc, RequestError):
                self.results.fail(exc.message)
            else:
                logger.error("search failed", exc_info=exc)
                self.results.fail("The search failed. Try again in a moment.")

        task.add_done_callback(done)

    def on_results_change(self, kind: str, _first: int, _last: int) -> None:
        if kind == "inserted" and not self.list.currentIndex().isValid():
            self.list.setCurrentIndex(self.model.index(0, 0))  # Enter opens the newest
        self._show_state()
        if kind != "reset":
            QTimer.singleShot(0, self.on_list_scrolled)  # a short page may not fill the list

    def on_list_scrolled(self, *_args: Any) -> None:
        """Near the end of the list (or a list not yet full): the next page."""
        if self.results.state != "results" or not self.results.has_more:
            return
        bar = self.list.verticalScrollBar()
        row_h = self.delegate.row_height(self.list.font())
        if bar.maximum() - bar.value() <= row_h * MORE_WHEN_ROWS_LEFT:
            self.load_more()

    def _show_state(self) -> None:
        results = self.results
        room = self._room_label(results.room if results.query else self.scope_room)
        sentence = {
            "idle": f"Type to search the messages in {room}. Words match from their "
                    "start; put a phrase in quotes.",
            "searching": "Searching…",
            "empty": f"No messages in {room} match “{results.query}”.",
            "error": results.error,
            "results": results.error,  # a later page failed: said above the results
        }.get(results.state, "")
        self.status.setText(sentence)
        self.status.setVisible(bool(sentence))
        self.list.setVisible(results.state == "results")

    @property
    def status_text(self) -> str:
        """The sentence shown instead of results ("" while results are shown)."""
        return self.status.text() if self.status.isVisibleTo(self) else ""

    # ------------------------------------------------------------------ keyboard, opening
    def open_panel(self) -> None:
        self.show()
        self.raise_()
        self.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.field.selectAll()

    def close_panel(self) -> None:
        self.debounce.stop()
        self.generation += 1  # answers still on their way are not wanted any more
        self.hide()
        self.closed.emit()

    def activate(self, index: QModelIndex | None = None) -> bool:
        """Open a result (the current one by default)."""
        index = index if index is not None and index.isValid() else self.list.currentIndex()
        if not index.isValid() and self.model.rowCount() > 0:
            index = self.model.index(0, 0)
        if not index.isValid():
            return False
        room = index.data(SearchRoles.RoomRole)
        message_id = index.data(SearchRoles.MessageIdRole)
        if not isinstance(room, str) or not isinstance(message_id, int):
            return False
        self.list.setCurrentIndex(index)
        self.resultActivated.emit(room, message_id)
        return True

    def step(self, steps: int) -> None:
        """Move the current result by ``steps`` rows (the next page comes near the end)."""
        rows = self.model.rowCount()
        if rows == 0:
            return
        row = self.list.currentIndex().row()
        row = max(0, min(rows - 1, (row if row >= 0 else -1) + steps))
        index = self.model.index(row, 0)
        self.list.setCurrentIndex(index)
        self.list.scrollTo(index)
        if row >= rows - MORE_WHEN_ROWS_LEFT:
            self.load_more()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Overrides QObject.eventFilter: the field and the list share the keys."""
        if event.type() != QEvent.Type.KeyPress or watched not in (self.field, self.list):
            return False
        assert isinstance(event, QKeyEvent)
        key = event.key()
        page = max(1, self.list.viewport().height()
                   // max(1, self.delegate.row_height(self.list.font())) - 1)
        steps = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1,
                 Qt.Key.Key_PageDown: page, Qt.Key.Key_PageUp: -page}.get(Qt.Key(key))
        if steps is not None:
            self.step(steps)
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if self.debounce.isActive():
                self.restart()  # Enter searches now; a second Enter opens
                return True
            self.activate()
            return True
        if key == Qt.Key.Key_Escape:
            self.close_panel()
            return True
        return False


class SearchController(QObject):
    """Docks the search panel in the main window and opens results (see the module doc)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.client = window.client
        self.panel = SearchPanel(window.client, window.central)
        self.panel.hide()
        self.panel.resultActivated.connect(self.on_panel_result_activated)
        self.panel.closed.connect(self.on_panel_closed)
        window.central.installEventFilter(self)
        self.opened: int | None = None  # the result last opened from the panel

    def open(self, all_rooms: bool) -> SearchPanel:
        """Ctrl+F (the room on screen) or Ctrl+Shift+F (every room)."""
        window = self.window
        if window.narrow and window.members_visible():
            window.set_members_visible(False)
        self.opened = None
        self.panel.set_scope(window.current_room, all_rooms)
        self.panel.open_panel()
        self.place()
        return self.panel

    def place(self) -> None:
        """At the right edge of the window: a column beside the narrowed conversation
        when there is room, else over it under the room header (see the module doc)."""
        window = self.window
        central = window.central
        width = max(PANEL_MIN_WIDTH, min(PANEL_MAX_WIDTH, int(central.width() * 0.42)))
        width = min(width, central.width())
        left = central.width() - width
        conversation = window.conversation
        conv_left = conversation.mapTo(central, QPoint(0, 0)).x()
        overlap = conv_left + conversation.width() - left
        column = self.panel.isVisible() and not window.narrow and left - conv_left >= CONVERSATION_MIN_WIDTH
        if column:
            self.panel.setGeometry(left, 0, width, central.height())
        else:
            top = conversation.mapTo(central, window.header.geometry().bottomLeft()).y() + 1
            self.panel.setGeometry(left, top, width, central.height() - top)
        self._inset(max(0, overlap) if column else 0)

    def _inset(self, right: int) -> None:
        """Narrow the conversation by ``right`` pixels (0: its full width again)."""
        layout = self.window.conversation.layout()
        if layout is not None and layout.contentsMargins().right() != right:
            layout.setContentsMargins(0, 0, right, 0)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Overrides QObject.eventFilter: follow the window's size."""
        if watched is self.window.central and event.type() == QEvent.Type.Resize \
                and self.panel.isVisible():
            self.place()
        return False

    def on_panel_closed(self) -> None:
        """Esc: back to the message just opened (R replies to it, the Menu key acts on
        it), else to the composer."""
        window = self.window
        self._inset(0)
        if window.current_room is None:
            return
        current = window.timeline.currentIndex()
        if self.opened is not None and current.isValid() \
                and current.data(MessageRoles.IdRole) == self.opened:
            window.timeline.setFocus(Qt.FocusReason.ShortcutFocusReason)
        else:
            window.composer.setFocus()

    def on_panel_result_activated(self, room: str, message_id: int) -> None:
        """Open the result's room at the message: the history around it loaded, flashed."""
        window = self.window
        self.opened = message_id
        if window.narrow:
            self.panel.close_panel()
        if window.current_room != room:
            window.show_room(room)
        if self.panel.isVisible():
            self.panel.list.setFocus()
        else:
            window.timeline.setFocus()
        if self.client.messages.get(room, message_id) is not None:
            window.replies.jump_to(message_id)
            return

        def done(found: bool) -> None:
            if window.current_room != room:
                return  # the user went elsewhere meanwhile
            if found:
                window.replies.jump_to(message_id)
            else:
                window.show_toast("That message can no longer be opened: it was deleted.")

        window.run_task(self.client.load_around(room, message_id), done)
