"""How the timeline answers the mouse, the keyboard and drops (the view's input half).

:class:`TimelineInputView` is the base of :class:`desktop.ui.timeline.TimelineView`: hit
testing, links/images/retry on click, partial text selection with the mouse, keyboard
focus and actions (Up/Down/PageUp/PageDown/Home/End, Enter, the Menu key, Shift+F10,
Ctrl+C, Escape), the context menu, and drops of images handed to the composer.

Signals: ``imageActivated(object message)``, ``retryRequested(str client_id)``,
``discardRequested(str client_id)``, ``mimeDropped(object QMimeData)``,
``quoteActivated(int message_id)`` (a click on a reply's quote).

Features add to the context menu through ``menu_extenders`` (each gets the menu and the
message) and to the keys on the focused message through ``key_handlers`` (each gets the
key event and the message, and returns True when it used the key).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRectF,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QColor,
    QContextMenuEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QFocusEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPen,
)
from PySide6.QtWidgets import QListView, QMenu, QStyleOptionViewItem

from desktop.models.message_list import MessageRoles
from desktop.state.types import DeliveryStatus, Message
from desktop.ui import theme
from desktop.ui.message_delegate import MessageDelegate
from desktop.ui.reactions import add_react_menu
from desktop.ui.timeline_read import SeenTracker
from desktop.ui.timeline_select import TextSelection

MenuExtender = Callable[[QMenu, Message], None]
KeyHandler = Callable[[QKeyEvent, Message], bool]

logger = logging.getLogger(__name__)

_NAV_KEYS = (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown,
             Qt.Key.Key_Home, Qt.Key.Key_End)


def mime_has_droppable(mime: QMimeData | None) -> bool:
    """True if the drag carries files, an image, or bytes that might be one."""
    if mime is None:
        return False
    if mime.hasUrls() or mime.hasImage():
        return True
    return any(f.startswith("image/") or f == "application/octet-stream" for f in mime.formats())


class TimelineInputView(QListView):
    """Input handling of the timeline; see the module docstring."""

    imageActivated = Signal(object)
    retryRequested = Signal(str)
    discardRequested = Signal(str)
    mimeDropped = Signal(object)
    quoteActivated = Signal(int)
    # (Message, emoji): the user clicked a reaction chip or chose one from a menu
    reactionToggled = Signal(object, str)

    # set up by TimelineView.__init__
    delegate: MessageDelegate
    selection: TextSelection
    seen: SeenTracker
    drop_hint: bool = False
    _press_pos: QPoint
    menu_extenders: list[MenuExtender]
    key_handlers: list[KeyHandler]
    _hover_index: QPersistentModelIndex | None = None

    def _mark_user_scroll(self) -> None:
        """Overridden by TimelineView: the next scroll is the user's."""

    def option_for(self, index: QModelIndex) -> QStyleOptionViewItem:
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        option.rect = self.visualRect(index)
        return option

    def hit(self, pos: QPoint) -> tuple[QModelIndex, str, object]:
        """(index, kind, value) of what is at viewport position ``pos``."""
        hover = self._hover_index
        if self.delegate.hover_msg is not None and hover is not None and hover.isValid():
            # the quick-reaction bar reaches above its row: it is tested first
            model = self.model()
            if model is not None:
                row = model.index(hover.row(), 0)
                kind, value = self.delegate.hit_test(self.option_for(row), row, pos)
                if kind == "quick":
                    return row, kind, value
        index = self.indexAt(pos)
        if not index.isValid():
            return index, "", None
        kind, value = self.delegate.hit_test(self.option_for(index), index, pos)
        return index, kind, value

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Overrides QListView.mousePressEvent: a press on text starts a selection."""
        self._set_focus_ring(False)
        if event.button() == Qt.MouseButton.LeftButton:
            pos = event.position().toPoint()
            _index, kind, _value = self.hit(pos)
            self._press_pos = pos
            if kind not in ("link", "image", "retry", "quote", "reaction", "quick", "file"):
                self.selection.press(pos)
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Overrides QAbstractItemView.mouseDoubleClickEvent: select the word."""
        if event.button() == Qt.MouseButton.LeftButton:
            self.selection.select_word(event.position().toPoint())
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Overrides QListView.mouseMoveEvent: extend a selection; a hand over links."""
        pos = event.position().toPoint()
        if self.selection.dragging and event.buttons() & Qt.MouseButton.LeftButton:
            self.selection.move(pos)
            self.viewport().setCursor(Qt.CursorShape.IBeamCursor)
            return
        self._set_hover(pos)
        _index, kind, _value = self.hit(pos)
        if kind in ("link", "image", "retry", "quote", "reaction", "quick", "file"):
            self.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        elif kind == "bubble" and self.delegate.text_cursor_at(
            self.option_for(_index), _index, pos
        ) is not None:
            self.viewport().setCursor(Qt.CursorShape.IBeamCursor)
        else:
            self.viewport().unsetCursor()
        super().mouseMoveEvent(event)

    def _set_hover(self, pos: QPoint) -> None:
        """The message under the mouse shows the quick-reaction bar (not system rows)."""
        index, kind, value = self.hit(pos)
        if kind == "quick":  # still over the bar of the hovered row
            if value[1] != self.delegate.hover_quick:  # type: ignore[index]
                self.delegate.hover_quick = value[1]  # type: ignore[index]
                self.viewport().update()
            return
        msg = self.delegate.message(index) if index.isValid() else None
        if msg is not None and (msg.kind == "system" or msg.id is None):
            msg = None
        old_msg, old_quick = self.delegate.hover_msg, self.delegate.hover_quick
        self._hover_index = QPersistentModelIndex(index) if msg is not None else None
        self.delegate.hover_msg = msg
        self.delegate.hover_quick = value[1] if kind == "quick" and isinstance(value, tuple) \
            else None
        if old_msg is not msg or old_quick != self.delegate.hover_quick:
            self.viewport().update()

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802
        """Overrides QWidget.leaveEvent: the quick-reaction bar goes with the mouse."""
        if self.delegate.hover_msg is not None:
            self.delegate.hover_msg = None
            self.viewport().update()
        super().leaveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Overrides QListView.mouseReleaseEvent: open links/images, retry failed sends
        (a drag that selected text opens nothing)."""
        if event.button() == Qt.MouseButton.LeftButton:
            pos = event.position().toPoint()
            dragged = (pos - self._press_pos).manhattanLength() > 3
            self.selection.release()
            if not dragged:
                if not self.selection.text():
                    self.selection.clear()
                _index, kind, value = self.hit(pos)
                if kind == "link" and isinstance(value, str):
                    QDesktopServices.openUrl(QUrl(value))
                elif kind == "image":
                    self.imageActivated.emit(value)
                elif kind == "retry" and isinstance(value, str):
                    self.retryRequested.emit(value)
                elif kind == "quote" and isinstance(value, int):
                    self.quoteActivated.emit(value)
                elif kind == "reaction" and isinstance(value, tuple):
                    self.reactionToggled.emit(value[0], value[1].emoji)
                elif kind == "quick" and isinstance(value, tuple):
                    self.reactionToggled.emit(value[0], value[1])
        super().mouseReleaseEvent(event)

    # ----- keyboard
    def keyboardSearch(self, search: str) -> None:  # noqa: N802
        """Overrides QAbstractItemView.keyboardSearch: typing does not jump between rows."""

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802
        """Overrides QAbstractItemView.focusInEvent: focus lands on the newest row on screen."""
        if event.reason() in (Qt.FocusReason.TabFocusReason, Qt.FocusReason.BacktabFocusReason,
                              Qt.FocusReason.ShortcutFocusReason):
            self._set_focus_ring(True)
        model = self.model()
        if model is not None and model.rowCount() and not self._current_on_screen():
            row = self.seen.last_seen_row()
            index = model.index(row if row >= 0 else model.rowCount() - 1, 0)
            self.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.NoUpdate
            )
        super().focusInEvent(event)

    def _current_on_screen(self) -> bool:
        current = self.currentIndex()
        return current.isValid() and self.viewport().rect().intersects(self.visualRect(current))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        """Overrides QAbstractItemView.keyPressEvent: Enter, the Menu key, Shift+F10, Ctrl+C."""
        key = event.key()
        current = self.currentIndex()
        focused = current.data(MessageRoles.ItemRole) if current.isValid() else None
        if isinstance(focused, Message):
            for handler in self.key_handlers:
                if handler(event, focused):
                    event.accept()
                    return
        if event.matches(QKeySequence.StandardKey.Copy):
            if not self.selection.copy() and current.isValid():
                text = self._row_text(current)
                if text:
                    QGuiApplication.clipboard().setText(text)
            event.accept()
            return
        if key == Qt.Key.Key_Escape and self.selection.text():
            self.selection.clear()
            event.accept()
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and current.isValid():
            msg = current.data(MessageRoles.ItemRole)
            if isinstance(msg, Message) and (msg.image is not None or msg.local_image):
                self.imageActivated.emit(msg)
            event.accept()
            return
        menu_key = key == Qt.Key.Key_Menu or (
            key == Qt.Key.Key_F10 and event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        )
        if menu_key:
            self.open_context_menu_for(current)
            event.accept()
            return
        before = self.currentIndex()
        if key in _NAV_KEYS:
            self._mark_user_scroll()
        super().keyPressEvent(event)
        if self.currentIndex() != before or key in _NAV_KEYS:
            self._set_focus_ring(True)
            if self.currentIndex().isValid():
                self.scrollTo(self.currentIndex())

    def _set_focus_ring(self, on: bool) -> None:
        if self.delegate.show_focus != on:
            self.delegate.show_focus = on
            self.viewport().update()

    def open_context_menu_for(self, index: QModelIndex) -> QMenu | None:
        """The actions of the message at ``index``, popped up beside its bubble."""
        if not index.isValid():
            return None
        self.scrollTo(index)
        lay = self.delegate.layout_for(self.option_for(index), index)
        rect = lay.content_rect().translated(self.visualRect(index).topLeft())
        pos = QPoint(rect.left() + 12, min(rect.bottom(), self.viewport().height() - 4))
        menu = self.context_menu_at(pos, index)
        if menu is not None:
            menu.popup(self.viewport().mapToGlobal(pos))
        return menu

    def _row_text(self, index: QModelIndex) -> str:
        msg = index.data(MessageRoles.ItemRole)
        if not isinstance(msg, Message):
            return ""
        if msg.kind == "system":
            return str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        return msg.text

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802
        """Overrides QAbstractScrollArea.contextMenuEvent: copy, open, retry (from the
        keyboard: for the focused message)."""
        if event.reason() == QContextMenuEvent.Reason.Keyboard:
            self.open_context_menu_for(self.currentIndex())
            return
        menu = self.context_menu_at(event.pos())
        if menu is not None:
            menu.popup(event.globalPos())

    def context_menu_at(self, pos: QPoint, index: QModelIndex | None = None) -> QMenu | None:
        """The context menu for the row at viewport ``pos`` (None over empty space)."""
        hit_index, kind, value = self.hit(pos)
        if index is None:
            index = hit_index
        elif hit_index != index:
            kind, value = "", None
        if not index.isValid():
            return None
        msg = index.data(MessageRoles.ItemRole)
        if not isinstance(msg, Message):
            return None
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        selected = self.selection.text() if self.selection.message is msg else ""
        if selected:
            copy_sel = QAction("Copy selection", menu)
            copy_sel.triggered.connect(
                lambda: QGuiApplication.clipboard().setText(selected)
            )
            menu.addAction(copy_sel)
        text = self._row_text(index)
        if text:
            copy = QAction("Copy text", menu)
            copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(text))
            menu.addAction(copy)
        if kind == "link" and isinstance(value, str):
            url = value
            copy_link = QAction("Copy link", menu)
            copy_link.triggered.connect(lambda: QGuiApplication.clipboard().setText(url))
            menu.addAction(copy_link)
        if msg.id is not None and msg.kind != "system" and not msg.deleted:
            add_react_menu(menu, msg, self.reactionToggled.emit)
        if msg.image is not None or msg.local_image:
            open_image = QAction("Open image", menu)
            open_image.triggered.connect(lambda: self.imageActivated.emit(msg))
            menu.addAction(open_image)
        if (
            msg.status == DeliveryStatus.FAILED
            and index.data(MessageRoles.IsOwnRole)
            and msg.client_id
        ):
            cid = msg.client_id
            if msg.retryable:
                retry = QAction("Retry sending", menu)
                retry.triggered.connect(lambda: self.retryRequested.emit(cid))
                menu.addAction(retry)
            delete = QAction("Delete message", menu)
            delete.triggered.connect(lambda: self.discardRequested.emit(cid))
            menu.addAction(delete)
        for extend in self.menu_extenders:
            extend(menu, msg)
        if menu.isEmpty():
            menu.deleteLater()
            return None
        return menu

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        """Overrides QListView.dragEnterEvent: accept files and image data."""
        if mime_has_droppable(event.mimeData()):
            event.acceptProposedAction()
            self._set_drop_hint(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        """Overrides QListView.dragMoveEvent."""
        if mime_has_droppable(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        """Overrides QListView.dropEvent: hand the data to the composer's attachments."""
        mime = event.mimeData()
        self._set_drop_hint(False)
        if mime_has_droppable(mime):
            event.acceptProposedAction()
            self.mimeDropped.emit(mime)
        else:
            event.ignore()

    def _paint_drop_hint(self) -> None:
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.viewport().rect()).adjusted(12, 12, -12, -12)
        fill = QColor(theme.ACCENT)
        fill.setAlpha(28)
        painter.setBrush(fill)
        pen = QPen(theme.ACCENT, 2, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawRoundedRect(area, 12, 12)
        font = painter.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        painter.setFont(font)
        painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "Drop files to attach them")
        painter.end()

    def _set_drop_hint(self, on: bool) -> None:
        if self.drop_hint != on:
            self.drop_hint = on
            self.viewport().update()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        """Overrides QListView.dragLeaveEvent: hide the drop hint."""
        self._set_drop_hint(False)
        event.accept()
