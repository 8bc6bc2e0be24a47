"""The members panel: who is in the room, with a green dot for those online.

``MemberListView`` (objectName ``memberList``) is a QListView over MemberListModel. A click,
or Enter on the focused row, emits ``memberActivated(str name, QPoint global_pos)``; the
window opens the person's profile popover there.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QModelIndex, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QFocusEvent, QFontMetrics, QKeyEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from desktop.models.member_list import MemberRoles
from desktop.models.row_sync import AnyIndex
from desktop.ui import icons, theme

logger = logging.getLogger(__name__)

ROW_H = 30


class MemberDelegate(QStyledItemDelegate):
    """Avatar initial, name, and an online dot (hollow when offline)."""

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        """Overrides QStyledItemDelegate.sizeHint."""
        return QSize(option.rect.width(), ROW_H)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        """Overrides QStyledItemDelegate.paint."""
        name = str(index.data(MemberRoles.NameRole) or "")
        online = bool(index.data(MemberRoles.OnlineRole))
        palette = option.palette
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = option.rect
        if option.state & QStyle.StateFlag.State_MouseOver or (
            option.state & QStyle.StateFlag.State_HasFocus
        ):
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.other_bubble(palette))
            painter.drawRoundedRect(QRectF(r.adjusted(6, 1, -6, -1)), 6, 6)
        if option.state & QStyle.StateFlag.State_HasFocus:
            painter.setPen(QPen(theme.ACCENT, 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(r.adjusted(7, 2, -7, -2)), 6, 6)
        avatar = QRectF(r.left() + 12, r.top() + (r.height() - 22) / 2, 22, 22)
        icons.paint_avatar(painter, avatar, name, palette, dim=not online)
        dot = QRectF(avatar.right() - 7, avatar.bottom() - 7, 9, 9)
        painter.setPen(palette.color(palette.ColorRole.Base))
        painter.setBrush(theme.ONLINE if online else theme.muted(palette))
        painter.drawEllipse(dot)
        painter.setFont(option.font)
        painter.setPen(theme.text(palette) if online else theme.muted(palette))
        text_rect = QRect(
            int(avatar.right()) + 10, r.top(), r.right() - int(avatar.right()) - 16, r.height()
        )
        painter.drawText(
            text_rect,
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            QFontMetrics(option.font).elidedText(
                name, Qt.TextElideMode.ElideRight, text_rect.width()
            ),
        )
        painter.restore()


class MemberListView(QListView):
    """The members list of the current room; see the module docstring."""

    memberActivated = Signal(str, QPoint)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("memberList")
        self.setAccessibleName("Members")
        self.setItemDelegate(MemberDelegate(self))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setUniformItemSizes(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.clicked.connect(self.on_self_clicked)

    def on_self_clicked(self, index: QModelIndex) -> None:
        self._activate(index)

    def _activate(self, index: QModelIndex) -> None:
        if not index.isValid():
            return
        name = str(index.data(MemberRoles.NameRole) or "")
        if name:
            rect = self.visualRect(index)
            self.memberActivated.emit(name, self.viewport().mapToGlobal(rect.topLeft()))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        """Overrides QAbstractItemView.keyPressEvent: Enter/Space open the profile."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            index = self.currentIndex()
            if not index.isValid() and self.model() is not None and self.model().rowCount():
                index = self.model().index(0, 0)
            self._activate(index)
            event.accept()
            return
        super().keyPressEvent(event)

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802
        """Overrides QAbstractItemView.focusInEvent: a row is current, so focus shows."""
        super().focusInEvent(event)
        model = self.model()
        if not self.currentIndex().isValid() and model is not None and model.rowCount():
            self.setCurrentIndex(model.index(0, 0))
