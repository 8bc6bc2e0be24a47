"""The timeline: a QListView over one room's MessageListModel, painted by MessageDelegate.

It keeps the view steady while history is prepended, follows the bottom when the user is
there, offers a "jump to latest" button when new messages arrive while scrolled up, asks
for older history when the top is reached, and turns clicks into links, image viewer
requests and retries. Drops of images are handed to whoever owns the composer.

The view never lays out a whole room: ``setModel()`` wraps the room's model in a
:class:`TimelineWindowModel` showing its newest rows. Reaching the top first grows that
window from memory; only when it already shows the oldest row in memory does the view
emit ``loadOlderRequested``. Jumping to (or sitting at) the bottom trims it back.
``visualRect()`` also accepts indexes of the room's own model.

Signals: ``loadOlderRequested()``, ``imageActivated(object message)``,
``retryRequested(str client_id)``, ``discardRequested(str client_id)``,
``mimeDropped(object QMimeData)``.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import (
    QAbstractItemModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
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
    QGuiApplication,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QListView,
    QMenu,
    QStyleOptionViewItem,
    QToolButton,
    QWidget,
)

from desktop.media.decoder import ImageDecoder
from desktop.models.message_list import MessageRoles
from desktop.models.timeline_window import WINDOW_ROWS, TimelineWindowModel
from desktop.state.types import DeliveryStatus, Message
from desktop.ui import theme
from desktop.ui.message_delegate import MessageDelegate

logger = logging.getLogger(__name__)

LOAD_OLDER_THRESHOLD_PX = 160
BOTTOM_SLACK_PX = 24


def mime_has_droppable(mime: QMimeData | None) -> bool:
    """True if the drag carries files, an image, or bytes that might be one."""
    if mime is None:
        return False
    if mime.hasUrls() or mime.hasImage():
        return True
    return any(f.startswith("image/") or f == "application/octet-stream" for f in mime.formats())


class TimelineView(QListView):
    """Message list; see the module docstring."""

    loadOlderRequested = Signal()
    imageActivated = Signal(object)
    retryRequested = Signal(str)
    discardRequested = Signal(str)
    mimeDropped = Signal(object)

    def __init__(self, decoder: ImageDecoder, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._stick = True
        self._anchor: QPersistentModelIndex | None = None
        self._anchor_top = 0
        self._adjusting = False
        self._new_below = 0
        self.more_history = True
        self.drop_hint = False
        self.window_rows = WINDOW_ROWS
        self._window: TimelineWindowModel | None = None
        self._window_source: QAbstractItemModel | None = None
        self.setObjectName("timeline")
        self.setAccessibleName("timeline")
        self.delegate = MessageDelegate(decoder, self)
        self.setItemDelegate(self.delegate)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.verticalScrollBar().setSingleStep(24)

        self.jump_button = QToolButton(self.viewport())
        self.jump_button.setObjectName("jumpToLatest")
        self.jump_button.setAccessibleName("Jump to latest")
        self.jump_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.jump_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.jump_button.setStyleSheet(
            "QToolButton { background: #3d7be0; color: white; border: none;"
            " border-radius: 14px; padding: 0px 14px; font-weight: 600; }"
        )
        self.jump_button.setFixedHeight(28)
        self.jump_button.hide()
        self.jump_button.clicked.connect(self.on_jump_button_clicked)

        self.delegate.imageReady.connect(self.viewport().update)
        self.verticalScrollBar().valueChanged.connect(self.on_scrollbar_value_changed)
        self.verticalScrollBar().rangeChanged.connect(self.on_scrollbar_range_changed)

    # ----- model wiring
    def setModel(self, model: QAbstractItemModel | None) -> None:  # noqa: N802
        """Overrides QListView.setModel: show a window of ``model``'s newest rows, rewire
        insert tracking and start at the bottom."""
        old = self.model()
        if old is not None:
            try:
                old.rowsAboutToBeInserted.disconnect(self.on_model_rows_about_to_be_inserted)
                old.rowsInserted.disconnect(self.on_model_rows_inserted)
            except (RuntimeError, TypeError):
                pass
        old_source = self._window_source or old
        if old_source is not None:
            try:
                old_source.dataChanged.disconnect(self.on_model_data_changed)
            except (RuntimeError, TypeError):
                pass
        old_window = self._window
        self._window = None
        shown = model
        if model is not None and not isinstance(model, TimelineWindowModel):
            self._window = TimelineWindowModel(model, self.window_rows, self)
            shown = self._window
        elif isinstance(model, TimelineWindowModel):
            self._window = model
        self._window_source = self._window.source() if self._window is not None else None
        super().setModel(shown)
        if (
            old_window is not None
            and old_window is not self._window
            and old_window.parent() is self
        ):
            old_window.deleteLater()
        self._stick_bottom = True
        self._anchor = None
        self._new_below = 0
        self.more_history = True
        self.jump_button.hide()
        if shown is not None:
            shown.rowsAboutToBeInserted.connect(self.on_model_rows_about_to_be_inserted)
            shown.rowsInserted.connect(self.on_model_rows_inserted)
            # from the room's model: rows outside the window can change too
            (self._window_source or shown).dataChanged.connect(self.on_model_data_changed)
        self.scrollToBottom()

    @property
    def window_model(self) -> TimelineWindowModel | None:
        """The window the view shows (None without a room)."""
        return self._window

    def source_model(self) -> QAbstractItemModel | None:
        """The room's model behind the window."""
        return self._window.source() if self._window is not None else self.model()

    def visualRect(self, index: QModelIndex | QPersistentModelIndex) -> QRect:  # noqa: N802
        """Overrides QListView.visualRect: also takes an index of the room's model (a row
        appended but not announced yet is announced first)."""
        window = self._window
        if window is not None and index.model() is self._window_source:
            source_row = index.row()
            index = window.mapFromSource(index)
            if not index.isValid() and source_row >= window.first + window.rowCount():
                window.release()  # asked about a row of the batch not announced yet
                index = window.mapFromSource(window.source().index(source_row, 0))
            if not index.isValid():
                return QRect()
        return super().visualRect(index)

    def _reached_top(self) -> None:
        """The user is at the top: show older rows from memory, else ask for history."""
        model = self.model()
        if model is None or model.rowCount() == 0:
            return
        window = self._window
        if window is not None and not window.at_source_top():
            window.grow()
            return
        if self.more_history:
            self.loadOlderRequested.emit()

    def _can_go_older(self) -> bool:
        window = self._window
        return self.more_history or (window is not None and not window.at_source_top())

    @property
    def _stick_bottom(self) -> bool:
        """Following the newest message (the window then trims its top as rows arrive)."""
        return self._stick

    @_stick_bottom.setter
    def _stick_bottom(self, on: bool) -> None:
        self._stick = on
        if self._window is not None:
            self._window.follow_latest = on

    def is_at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.maximum() - bar.value() <= BOTTOM_SLACK_PX

    def on_model_rows_about_to_be_inserted(
        self, _parent: QModelIndex, _first: int, _last: int
    ) -> None:
        if self._stick_bottom or self._anchor is not None:
            return
        # Remember which row is at the top of the viewport and where: after the insert
        # (history prepended above, or new messages below) that row stays put.
        index = self.indexAt(QPoint(self.viewport().width() // 2, 1))
        if index.isValid():
            self._anchor = QPersistentModelIndex(index)
            self._anchor_top = self.visualRect(index).top()

    def on_model_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex) -> None:
        """A row's data (or its neighbours) changed: its cached layout is stale."""
        model = top_left.model()
        if model is None:
            return
        for row in range(top_left.row(), bottom_right.row() + 1):
            msg = self.delegate.message(model.index(row, 0))
            if msg is not None:
                self.delegate.forget(msg)

    def on_model_rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        model = self.model()
        if model is None:
            return
        appended = last == model.rowCount() - 1 and first > 0
        if appended and not self._stick_bottom:
            others = 0
            for row in range(first, last + 1):
                if not model.index(row, 0).data(MessageRoles.IsOwnRole):
                    others += 1
            if others:
                self._new_below += others
                self._show_jump_button()
        if appended and self._stick_bottom:
            # No scrollToBottom() here: it would lay out at once for every batch; the
            # view's delayed layout ends in updateGeometries(), which pins the bottom.
            pass

    def _restore_anchor(self) -> None:
        if self._anchor is None:
            return
        if not self._anchor.isValid():
            self._anchor = None
            return
        index = (
            self.model().index(self._anchor.row(), 0) if self.model() is not None else QModelIndex()
        )
        delta = self.visualRect(index).top() - self._anchor_top
        if delta:
            self._adjusting = True
            try:
                bar = self.verticalScrollBar()
                bar.setValue(bar.value() + delta)
            finally:
                self._adjusting = False

    def updateGeometries(self) -> None:  # noqa: N802
        """Overrides QListView.updateGeometries: re-apply the scroll anchor after layout."""
        super().updateGeometries()
        if self._stick_bottom:
            self._adjusting = True
            try:
                self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())
            finally:
                self._adjusting = False
        else:
            self._restore_anchor()

    def on_scrollbar_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._stick_bottom:
            self._adjusting = True
            try:
                self.verticalScrollBar().setValue(maximum)
            finally:
                self._adjusting = False
        else:
            self._restore_anchor()

    def on_scrollbar_value_changed(self, value: int) -> None:
        if not self._adjusting:
            self._stick_bottom = self.is_at_bottom()
            self._anchor = None
        if self.is_at_bottom():
            self._new_below = 0
            self.jump_button.hide()
        elif (
            not self.jump_button.isVisible()
            and self.verticalScrollBar().maximum() - value > self.viewport().height()
        ):
            self._show_jump_button()
        if value <= LOAD_OLDER_THRESHOLD_PX and not self._adjusting and self._can_go_older():
            self._reached_top()

    def scroll_to_latest(self) -> None:
        self._stick_bottom = True
        self._anchor = None
        self._new_below = 0
        self.jump_button.hide()
        if self._window is not None:
            self._window.release()
            self._window.trim(self.window_rows)
        self.scrollToBottom()

    def on_jump_button_clicked(self) -> None:
        self.scroll_to_latest()

    def _show_jump_button(self) -> None:
        label = "Jump to latest ↓"
        if self._new_below:
            label = f"{self._new_below} new message{'s' if self._new_below != 1 else ''} ↓"
        self.jump_button.setText(label)
        self.jump_button.adjustSize()
        self._place_jump_button()
        self.jump_button.show()
        self.jump_button.raise_()

    def _place_jump_button(self) -> None:
        vp = self.viewport()
        size: QSize = self.jump_button.sizeHint()
        self.jump_button.move(vp.width() - size.width() - 20, vp.height() - size.height() - 14)

    @property
    def new_below(self) -> int:
        return self._new_below

    # ----- QWidget / QAbstractItemView overrides
    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        """Overrides QListView.resizeEvent: widths change layouts, keep the bottom pinned."""
        stick = self._stick_bottom
        super().resizeEvent(event)
        self._place_jump_button()
        if stick:
            self.scrollToBottom()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        """Overrides QListView.paintEvent: a hint instead of an empty white page."""
        super().paintEvent(event)
        if self.drop_hint:
            self._paint_drop_hint()
            return
        model = self.model()
        if model is not None and model.rowCount() > 0:
            return
        hint = (
            "No messages yet. Say hello!"
            if model is not None
            else "Pick a room or a person on the left."
        )
        painter = QPainter(self.viewport())
        painter.setPen(theme.muted(self.palette()))
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, hint)
        painter.end()

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
        painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "Drop images to attach them")
        painter.end()

    def _set_drop_hint(self, on: bool) -> None:
        if self.drop_hint != on:
            self.drop_hint = on
            self.viewport().update()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        """Overrides QListView.dragLeaveEvent: hide the drop hint."""
        self._set_drop_hint(False)
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        """Overrides QAbstractScrollArea.wheelEvent: scrolling up at the top loads more."""
        super().wheelEvent(event)
        bar = self.verticalScrollBar()
        if event.angleDelta().y() > 0 and bar.value() == bar.minimum() and self._can_go_older():
            self._reached_top()

    def option_for(self, index: QModelIndex) -> QStyleOptionViewItem:
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        option.rect = self.visualRect(index)
        return option

    def hit(self, pos: QPoint) -> tuple[QModelIndex, str, object]:
        """(index, kind, value) of what is at viewport position ``pos``."""
        index = self.indexAt(pos)
        if not index.isValid():
            return index, "", None
        kind, value = self.delegate.hit_test(self.option_for(index), index, pos)
        return index, kind, value

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Overrides QListView.mouseMoveEvent: a hand cursor over clickable things."""
        _index, kind, _value = self.hit(event.position().toPoint())
        if kind in ("link", "image", "retry"):
            self.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        else:
            self.viewport().unsetCursor()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Overrides QListView.mouseReleaseEvent: open links/images, retry failed sends."""
        if event.button() == Qt.MouseButton.LeftButton:
            _index, kind, value = self.hit(event.position().toPoint())
            if kind == "link" and isinstance(value, str):
                QDesktopServices.openUrl(QUrl(value))
            elif kind == "image":
                self.imageActivated.emit(value)
            elif kind == "retry" and isinstance(value, str):
                self.retryRequested.emit(value)
        super().mouseReleaseEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802
        """Overrides QAbstractScrollArea.contextMenuEvent: copy, open, retry."""
        menu = self.context_menu_at(event.pos())
        if menu is not None:
            menu.popup(event.globalPos())

    def context_menu_at(self, pos: QPoint) -> QMenu | None:
        """The context menu for the row at viewport ``pos`` (None over empty space)."""
        index, kind, value = self.hit(pos)
        if not index.isValid():
            return None
        msg = index.data(MessageRoles.ItemRole)
        if not isinstance(msg, Message):
            return None
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        text = (
            msg.text if msg.kind != "system" else str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        )
        if text:
            copy = QAction("Copy text", menu)
            copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(text))
            menu.addAction(copy)
        if kind == "link" and isinstance(value, str):
            url = value
            copy_link = QAction("Copy link", menu)
            copy_link.triggered.connect(lambda: QGuiApplication.clipboard().setText(url))
            menu.addAction(copy_link)
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
