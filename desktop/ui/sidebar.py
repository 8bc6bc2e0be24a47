"""The room list: section headers, unread badges, bold unread names, per-room actions.

``RoomListView`` is a QListView over RoomListModel painted by ``RoomDelegate`` (the
section header is painted above the first row of each section, so the model stays a flat
list). Its context menu offers what the protocol allows: leave, invite (private rooms),
set topic, close (owner only, never ``general``).

Signals: ``roomActivated(str room_id)``, ``leaveRequested(str)``, ``inviteRequested(str)``,
``topicRequested(str)``, ``closeRequested(str)``.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QContextMenuEvent, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QListView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from desktop.models.room_list import RoomRoles
from desktop.models.row_sync import AnyIndex
from desktop.state.types import Room
from desktop.ui import theme
from server.protocol import GENERAL_ROOM

logger = logging.getLogger(__name__)


ROW_H = 32
SECTION_H = 34
SIDE_PAD = 10


def starts_section(index: AnyIndex) -> bool:
    if index.row() == 0:
        return True
    prev = index.model().index(index.row() - 1, 0)
    return prev.data(RoomRoles.SectionRole) != index.data(RoomRoles.SectionRole)


class RoomDelegate(QStyledItemDelegate):
    """Paints a room row (and its section header when it starts a section)."""

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        """Overrides QStyledItemDelegate.sizeHint."""
        return QSize(option.rect.width(), ROW_H + (SECTION_H if starts_section(index) else 0))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        """Overrides QStyledItemDelegate.paint."""
        room = index.data(RoomRoles.ItemRole)
        if not isinstance(room, Room):
            return
        palette: QPalette = option.palette
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRect(option.rect)
        if starts_section(index):
            header = QRect(
                rect.left() + SIDE_PAD + 6, rect.top(), rect.width() - 2 * SIDE_PAD, SECTION_H
            )
            font = QFont(option.font)
            font.setBold(True)
            size = font.pointSizeF()
            if size > 0:
                font.setPointSizeF(size * 0.88)
            painter.setFont(font)
            painter.setPen(theme.muted(palette))
            painter.drawText(
                header.adjusted(0, 0, 0, -5),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
                str(index.data(RoomRoles.SectionRole) or ""),
            )
            rect.setTop(rect.top() + SECTION_H)
        row = rect.adjusted(SIDE_PAD - 4, 1, -(SIDE_PAD - 4), -1)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        if selected or hovered:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.selection(palette) if selected else theme.other_bubble(palette))
            painter.drawRoundedRect(QRectF(row), 7, 7)

        # The room's glyph: "#" for public, a lock for private, an initial for a DM.
        glyph = QRect(row.left() + 8, row.top() + (row.height() - 20) // 2, 20, 20)
        painter.setPen(theme.muted(palette))
        gfont = QFont(option.font)
        if room.kind == "dm":
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.name_colour(room.name, palette))
            painter.drawEllipse(QRectF(glyph).adjusted(1, 1, -1, -1))
            painter.setPen(Qt.GlobalColor.white)
            gfont.setBold(True)
            gfont.setPixelSize(11)
            painter.setFont(gfont)
            painter.drawText(glyph, Qt.AlignmentFlag.AlignCenter, room.name[:1].upper())
        elif room.kind == "private":
            painter.setPen(QPen(theme.muted(palette), 1.6))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            body = QRectF(glyph.left() + 4, glyph.top() + 9, 12, 9)
            painter.drawRoundedRect(body, 2, 2)
            painter.drawArc(QRectF(glyph.left() + 6, glyph.top() + 3, 8, 11), 0, 180 * 16)
        else:
            gfont.setPixelSize(16)
            painter.setFont(gfont)
            painter.drawText(glyph, Qt.AlignmentFlag.AlignCenter, "#")

        unread = int(room.unread or 0)
        badge_w = 0
        if unread:
            bfont = QFont(option.font)
            bfont.setBold(True)
            bfont.setPixelSize(11)
            label = str(unread) if unread < 1000 else "999+"
            badge_w = max(20, QFontMetrics(bfont).horizontalAdvance(label) + 12)
            badge = QRectF(row.right() - 8 - badge_w, row.center().y() - 9, badge_w, 18)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.ACCENT)
            painter.drawRoundedRect(badge, 9, 9)
            painter.setPen(Qt.GlobalColor.white)
            painter.setFont(bfont)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, label)

        name_rect = QRect(
            glyph.right() + 8,
            row.top(),
            row.right() - glyph.right() - 16 - badge_w - 8,
            row.height(),
        )
        nfont = QFont(option.font)
        nfont.setBold(unread > 0)
        painter.setFont(nfont)
        painter.setPen(
            theme.text(palette)
            if unread or selected
            else theme.mix(theme.text(palette), theme.muted(palette), 0.35)
        )
        name = QFontMetrics(nfont).elidedText(
            room.name, Qt.TextElideMode.ElideRight, name_rect.width()
        )
        painter.drawText(
            name_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, name
        )
        painter.restore()


class RoomListView(QListView):
    """The sidebar's room list; see the module docstring."""

    roomActivated = Signal(str)
    leaveRequested = Signal(str)
    inviteRequested = Signal(str)
    topicRequested = Signal(str)
    closeRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("roomList")
        self.setAccessibleName("roomList")
        self.setItemDelegate(RoomDelegate(self))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setUniformItemSizes(False)
        self.setMouseTracking(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.own_username: str | None = None
        self.viewport().setAutoFillBackground(False)

    def setModel(self, model) -> None:  # type: ignore[no-untyped-def]  # noqa: N802
        """Overrides QListView.setModel: follow the current row."""
        super().setModel(model)
        self.selectionModel().currentChanged.connect(self.on_selection_current_changed)

    def on_selection_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            room_id = current.data(RoomRoles.IdRole)
            if room_id:
                self.roomActivated.emit(str(room_id))

    def current_room_id(self) -> str | None:
        index = self.currentIndex()
        return str(index.data(RoomRoles.IdRole)) if index.isValid() else None

    def select_room(self, room_id: str) -> bool:
        """Make ``room_id`` the current row (emits roomActivated if it changed)."""
        model = self.model()
        if model is None:
            return False
        for row in range(model.rowCount()):
            index = model.index(row, 0)
            if index.data(RoomRoles.IdRole) == room_id:
                if self.currentIndex() != index:
                    self.selectionModel().setCurrentIndex(
                        index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                    )
                self.scrollTo(index)
                return True
        return False

    def step(self, delta: int) -> None:
        """Move the selection ``delta`` rows, wrapping around (Alt+Up / Alt+Down)."""
        model = self.model()
        if model is None or model.rowCount() == 0:
            return
        row = self.currentIndex().row() if self.currentIndex().isValid() else -1
        row = (row + delta) % model.rowCount()
        self.selectionModel().setCurrentIndex(
            model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
        )

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802
        """Overrides QAbstractScrollArea.contextMenuEvent."""
        menu = self.context_menu_at(event.pos())
        if menu is not None:
            menu.popup(event.globalPos())

    def context_menu_at(self, pos: QPoint) -> QMenu | None:
        index = self.indexAt(pos)
        room = index.data(RoomRoles.ItemRole) if index.isValid() else None
        if not isinstance(room, Room):
            return None
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        room_id = room.id
        if room.kind != "dm":
            if room.kind == "private":
                invite = QAction("Invite someone…", menu)
                invite.triggered.connect(lambda: self.inviteRequested.emit(room_id))
                menu.addAction(invite)
            topic = QAction("Set topic…", menu)
            topic.triggered.connect(lambda: self.topicRequested.emit(room_id))
            menu.addAction(topic)
            menu.addSeparator()
        leave = QAction("Leave conversation" if room.kind == "dm" else "Leave room", menu)
        leave.triggered.connect(lambda: self.leaveRequested.emit(room_id))
        menu.addAction(leave)
        own = (self.own_username or "").lower()
        if (
            room.kind != "dm"
            and room.id != GENERAL_ROOM
            and room.owner
            and room.owner.lower() == own
        ):
            close = QAction("Close room for everyone…", menu)
            close.triggered.connect(lambda: self.closeRequested.emit(room_id))
            menu.addAction(close)
        return menu
