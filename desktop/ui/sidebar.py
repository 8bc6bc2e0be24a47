"""The room list: section headers, unread badges, bold unread names, per-room actions.

``RoomListView`` is a QListView over RoomListModel painted by ``RoomDelegate`` (the
section header is painted above the first row of each section, so the model stays a flat
list). Its context menu offers what the protocol allows: leave, invite (private rooms),
set topic, close (owner only, never ``general``).

Rows are two lines: name and the last message's time, then a preview of that message; a
DM shows the person's avatar with a presence dot. A right click (or the Menu key) opens
the menu without switching rooms, and rows moving as rooms get busy never switch either.

Signals: ``roomActivated(str room_id)``, ``leaveRequested(str)``, ``inviteRequested(str)``,
``topicRequested(str)``, ``closeRequested(str)``, ``muteToggled(str room_id, bool)``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import datetime

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
from PySide6.QtGui import (
    QAction,
    QContextMenuEvent,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPalette,
    QPen,
)
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
from desktop.state.markdown import plain_text
from desktop.state.types import Room
from desktop.ui import icons, theme
from server.protocol import GENERAL_ROOM

logger = logging.getLogger(__name__)


ROW_H = 50
SECTION_H = 30
SIDE_PAD = 8
AVATAR = 34


def starts_section(index: AnyIndex) -> bool:
    if index.row() == 0:
        return True
    prev = index.model().index(index.row() - 1, 0)
    return prev.data(RoomRoles.SectionRole) != index.data(RoomRoles.SectionRole)


def preview_text(room: Room, own_username: str | None) -> str:
    """The last message in a few words: "bob: see you", "You: ok", "Photo"."""
    msg = room.last_message
    if msg is None:
        return room.topic or ""
    if msg.deleted:
        body = "Message deleted"
    elif msg.kind == "image":
        body = f"Photo · {plain_text(msg.text)}" if msg.text else "Photo"
    elif msg.file is not None:  # "report.pdf · the caption" (a glyph may be missing)
        name = msg.file.name
        body = f"{name} · {plain_text(msg.text)}" if msg.text else name
    elif msg.kind == "system":
        body = msg.text or "Room updated"
    else:
        body = plain_text(msg.text)  # as the timeline shows it: no Markdown markers
    body = " ".join(body.split())
    sender = msg.sender or ""
    if msg.kind == "system" or not sender:
        return body
    if own_username and sender.lower() == own_username.lower():
        return f"You: {body}"
    if room.kind == "dm":
        return body
    return f"{sender}: {body}"


def short_time(ts_ms: int, now: datetime | None = None) -> str:
    """ "14:05" today, "Mon" this week, "3 Mar" this year, else "3 Mar 2024"."""
    if ts_ms <= 0:
        return ""
    when = datetime.fromtimestamp(ts_ms / 1000)
    now = now or datetime.now()
    if when.date() == now.date():
        return when.strftime("%H:%M")
    if (now.date() - when.date()).days < 7 and when <= now:
        return when.strftime("%a")
    if when.year == now.year:
        return f"{when.day} {when.strftime('%b')}"
    return f"{when.day} {when.strftime('%b %Y')}"


class RoomDelegate(QStyledItemDelegate):
    """Paints a room row (and its section header when it starts a section): the glyph or
    avatar (with a presence dot for a DM), the name, the last message's time, a one-line
    preview and the unread badge. ``is_online(name)`` and ``own_username`` come from the
    view."""

    def __init__(self, view: RoomListView) -> None:
        super().__init__(view)
        self._view = view

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
                rect.left() + SIDE_PAD + 8, rect.top(), rect.width() - 2 * SIDE_PAD, SECTION_H
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
        row = rect.adjusted(SIDE_PAD - 2, 1, -(SIDE_PAD - 2), -1)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        focused = bool(option.state & QStyle.StateFlag.State_HasFocus) and self._view.hasFocus()
        if selected or hovered:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.selection(palette) if selected else theme.other_bubble(palette))
            painter.drawRoundedRect(QRectF(row), 8, 8)
        if focused:
            painter.setPen(QPen(theme.ACCENT, 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(row).adjusted(1, 1, -1, -1), 8, 8)

        # The room's glyph: "#" for public, a lock for private, an avatar for a DM.
        glyph = QRectF(row.left() + 8, row.top() + (row.height() - AVATAR) / 2, AVATAR, AVATAR)
        if room.kind == "dm":
            icons.paint_avatar(painter, glyph, room.name, palette)
            online = self._view.is_online(room.name)
            dot = QRectF(glyph.right() - 10, glyph.bottom() - 10, 11, 11)
            painter.setPen(QPen(theme.sidebar_background(palette), 2))
            painter.setBrush(theme.ONLINE if online else theme.muted(palette))
            if online:
                painter.drawEllipse(dot)
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.other_bubble(palette))
            painter.drawEllipse(glyph)
            icons.room_icon(room.kind, room.name, palette).paint(
                painter, glyph.adjusted(8, 8, -8, -8).toRect()
            )

        left = int(glyph.right()) + 10
        right = row.right() - 8
        top_line = QRect(left, row.top() + 6, right - left, (row.height() - 12) // 2)
        bottom_line = QRect(left, top_line.bottom() + 1, right - left, top_line.height())

        unread = int(room.unread or 0)
        # time, top right
        sfont = QFont(option.font)
        if sfont.pointSizeF() > 0:
            sfont.setPointSizeF(sfont.pointSizeF() * 0.86)
        sfm = QFontMetrics(sfont)
        when = short_time(room.last_message.ts if room.last_message else 0)
        time_w = sfm.horizontalAdvance(when) + 6 if when else 0
        if when:
            painter.setFont(sfont)
            painter.setPen(theme.ACCENT if unread else theme.muted(palette))
            painter.drawText(
                top_line, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, when
            )
        # unread badge, bottom right
        badge_w = 0
        if unread:
            bfont = QFont(option.font)
            bfont.setBold(True)
            bfont.setPixelSize(11)
            label = str(unread) if unread < 1000 else "999+"
            badge_w = max(20, QFontMetrics(bfont).horizontalAdvance(label) + 12) + 6
            badge = QRectF(right - badge_w + 6, bottom_line.center().y() - 9, badge_w - 6, 18)
            painter.setPen(Qt.PenStyle.NoPen)
            # a muted room still counts, in grey, as Telegram shows it
            muted = self._view.is_muted(room.id)
            painter.setBrush(
                theme.mix(theme.muted(palette), theme.text(palette), 0.1) if muted else theme.ACCENT
            )
            painter.drawRoundedRect(badge, 9, 9)
            painter.setPen(Qt.GlobalColor.white)
            painter.setFont(bfont)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, label)
        mentioned = int(room.mentions or 0)
        if mentioned:
            # "@3" beside the unread badge: always in the accent, muted room or not
            mfont = QFont(option.font)
            mfont.setBold(True)
            mfont.setPixelSize(11)
            mlabel = f"@{mentioned}" if mentioned < 100 else "@99+"
            mw = max(20, QFontMetrics(mfont).horizontalAdvance(mlabel) + 12)
            mbadge = QRectF(right - badge_w - mw, bottom_line.center().y() - 9, mw, 18)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.ACCENT)
            painter.drawRoundedRect(mbadge, 9, 9)
            painter.setPen(Qt.GlobalColor.white)
            painter.setFont(mfont)
            painter.drawText(mbadge, Qt.AlignmentFlag.AlignCenter, mlabel)
            badge_w += mw + 4
        # name
        nfont = QFont(option.font)
        nfont.setBold(unread > 0)
        painter.setFont(nfont)
        painter.setPen(theme.text(palette))
        name_rect = top_line.adjusted(0, 0, -time_w, 0)
        name = QFontMetrics(nfont).elidedText(
            room.name, Qt.TextElideMode.ElideRight, max(0, name_rect.width())
        )
        painter.drawText(
            name_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, name
        )
        # preview: the unsent draft first (as Telegram shows it), else the last message
        prect = bottom_line.adjusted(0, 0, -badge_w, 0)
        draft = " ".join(self._view.draft_of(room.id).split())
        if draft:
            painter.setFont(sfont)
            painter.setPen(theme.DANGER)
            label = "Draft: "
            painter.drawText(
                prect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, label
            )
            prect = prect.adjusted(sfm.horizontalAdvance(label), 0, 0, 0)
        preview = draft or preview_text(room, self._view.own_username)
        if preview:
            painter.setFont(sfont)
            painter.setPen(theme.muted(palette))
            painter.drawText(
                prect,
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                sfm.elidedText(preview, Qt.TextElideMode.ElideRight, max(0, prect.width())),
            )
        painter.restore()


class RoomListView(QListView):
    """The sidebar's room list; see the module docstring."""

    roomActivated = Signal(str)
    leaveRequested = Signal(str)
    inviteRequested = Signal(str)
    topicRequested = Signal(str)
    closeRequested = Signal(str)
    muteToggled = Signal(str, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("roomList")
        self.setAccessibleName("Conversations")
        self.setItemDelegate(RoomDelegate(self))
        self._driving = False  # True while the user (or select_room/step) moves the row
        self.is_online: Callable[[str], bool] = lambda _name: False
        self.is_muted: Callable[[str], bool] = lambda _room: False
        self.draft_of: Callable[[str], str] = lambda _room: ""
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
        # Rows move as rooms get busy (remove + insert); Qt then moves the current row by
        # itself, which must not switch rooms. Only the user and select_room/step do.
        if current.isValid() and self._driving:
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
                if self.currentIndex() != index or not self.selectionModel().isSelected(index):
                    with self._user_driving():
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
        with self._user_driving():
            self.selectionModel().setCurrentIndex(
                model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
            )

    @contextlib.contextmanager
    def _user_driving(self) -> Iterator[None]:
        was, self._driving = self._driving, True
        try:
            yield
        finally:
            self._driving = was

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Overrides QAbstractItemView.mousePressEvent: a right click opens the room's
        menu without switching to the room."""
        if event.button() != Qt.MouseButton.LeftButton:
            event.accept()
            return
        with self._user_driving():
            super().mousePressEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        """Overrides QAbstractItemView.keyPressEvent: arrows switch rooms; the Menu key
        (or Shift+F10) opens the room's menu."""
        if event.key() == Qt.Key.Key_Menu or (
            event.key() == Qt.Key.Key_F10 and event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            rect = self.visualRect(self.currentIndex())
            menu = self.context_menu_at(rect.center())
            if menu is not None:
                menu.popup(self.viewport().mapToGlobal(rect.center()))
            event.accept()
            return
        with self._user_driving():
            super().keyPressEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802
        """Overrides QAbstractScrollArea.contextMenuEvent (the current room stays)."""
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
        mute = QAction("Mute notifications", menu)
        mute.setCheckable(True)
        mute.setChecked(self.is_muted(room_id))
        mute.toggled.connect(lambda on: self.muteToggled.emit(room_id, on))
        menu.addAction(mute)
        menu.addSeparator()
        if room.kind != "dm":
            if room.kind == "private":
                invite = QAction("Invite someone…", menu)
                invite.triggered.connect(lambda: self.inviteRequested.emit(room_id))
                menu.addAction(invite)
            topic = QAction("Set topic…", menu)
            topic.triggered.connect(lambda: self.topicRequested.emit(room_id))
            menu.addAction(topic)
            menu.addSeparator()
        leave = QAction("Leave conversation…" if room.kind == "dm" else "Leave room…", menu)
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
