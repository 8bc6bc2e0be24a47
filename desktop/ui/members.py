"""The members panel: who is in the room, with a green dot for those online.

``MemberListView`` (objectName ``memberList``) is a QListView over MemberListModel.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QListView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from desktop.models.member_list import MemberRoles
from desktop.models.row_sync import AnyIndex
from desktop.ui import theme

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
        avatar = QRectF(r.left() + 12, r.top() + (r.height() - 22) / 2, 22, 22)
        painter.setPen(Qt.PenStyle.NoPen)
        colour = theme.name_colour(name, palette)
        if not online:
            colour = theme.mix(colour, palette.color(palette.ColorRole.Base), 0.45)
        painter.setBrush(colour)
        painter.drawEllipse(avatar)
        font = QFont(option.font)
        font.setBold(True)
        font.setPixelSize(11)
        painter.setFont(font)
        painter.setPen(Qt.GlobalColor.white)
        painter.drawText(avatar, Qt.AlignmentFlag.AlignCenter, name[:1].upper())
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
    """The members list of the current room."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("memberList")
        self.setAccessibleName("memberList")
        self.setItemDelegate(MemberDelegate(self))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setUniformItemSizes(True)
