"""Hit tests and tooltips of the timeline's rows: what is under the mouse, and what it says.

:class:`MessageHitsMixin` is part of :class:`desktop.ui.message_delegate.MessageDelegate`
(kept apart so the delegate stays about caching, layout and painting). ``hit_test`` names
the part of a row under a point (a link, the image, a file card's action, a reaction
chip, the quick-reaction bar, the reply quote, the time and receipt, the bubble);
``helpEvent`` turns that into the tooltip, ``text_cursor_at`` into a text position for
selection, and the view's clicks and context menu use it too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QDateTime, QEvent, QPoint, QPointF
from PySide6.QtGui import QFontMetrics, QHelpEvent
from PySide6.QtWidgets import QAbstractItemView, QStyledItemDelegate, QStyleOptionViewItem, QToolTip

from desktop.models.message_list import MessageRoles
from desktop.models.row_sync import AnyIndex
from desktop.state.emoji_data import QUICK, name_of
from desktop.state.format import human_size
from desktop.state.types import DeliveryStatus, Message
from desktop.ui.file_bubble import ACTION_TIPS, FileView, action_rects, card_parts, describe
from desktop.ui.message_layout import RowLayout, fonts
from desktop.ui.message_text import link_at
from desktop.ui.reaction_chips import chip_tooltip, quick_bar


class MessageHitsMixin(QStyledItemDelegate):
    """Hit tests and tooltips of :class:`MessageDelegate` (see the module docstring)."""

    if TYPE_CHECKING:  # set up by MessageDelegate.__init__
        hover_msg: Message | None
        file_state: Callable[[Message, bool], FileView] | None

        def layout_for(self, option: QStyleOptionViewItem, index: AnyIndex) -> RowLayout: ...

        @staticmethod
        def message(index: AnyIndex) -> Message | None: ...

    # ----- interaction
    def hit_test(
        self, option: QStyleOptionViewItem, index: AnyIndex, pos: QPoint
    ) -> tuple[str, Any]:
        """What is under ``pos`` (viewport coordinates): ("link", url), ("image", Message),
        ("file", (Message, action)),
        ("retry", client_id), ("status", tooltip), ("quote", parent id),
        ("reaction", (Message, Chip)), ("quick", (Message, emoji)), ("bubble", Message)
        or ("", None)."""
        msg = index.data(MessageRoles.ItemRole)
        if not isinstance(msg, Message):
            return "", None
        lay = self.layout_for(option, index)
        local = pos - option.rect.topLeft()
        own = bool(index.data(MessageRoles.IsOwnRole))
        if (own and msg.status == DeliveryStatus.FAILED and msg.retryable
                and lay.bubble_rect is not None):
            if lay.meta_rect is not None and lay.meta_rect.adjusted(-4, -4, 4, 4).contains(local):
                return "retry", msg.client_id
        for chip in lay.chips:
            if chip.rect.contains(local):
                return "reaction", (msg, chip)
        if (msg is self.hover_msg and lay.bubble_rect is not None and msg.id is not None
                and not msg.deleted):
            for rect, emoji in quick_bar(lay.bubble_rect, own, QUICK):
                if rect.contains(local):
                    return "quick", (msg, emoji)
        if lay.file_rect is not None and lay.file_rect.contains(local) and msg.file is not None:
            found = self._file_hit(option, lay.file_rect, msg, own, local)
            if found is not None:
                return "file", (msg, found)
        if lay.image_rect is not None and lay.image_rect.contains(local):
            return "image", msg
        if lay.quote_rect is not None and lay.quote_rect.contains(local) and msg.reply_to:
            return "quote", msg.reply_to.id
        if lay.text_layout is not None and lay.text_origin is not None and lay.links:
            rel = QPointF(local) - lay.text_origin
            url = link_at(lay.text_layout, lay.links, rel.x(), rel.y())
            if url is not None:
                return "link", url
        if lay.meta_rect is not None and lay.meta_rect.adjusted(-4, -4, 4, 4).contains(local):
            return "status", index.data(MessageRoles.ReceiptTextRole) or ""
        if lay.bubble_rect is not None and lay.bubble_rect.contains(local):
            return "bubble", msg
        return "", None

    def text_cursor_at(
        self, option: QStyleOptionViewItem, index: AnyIndex, pos: QPoint, clamp: bool = False
    ) -> int | None:
        """The character position in the row's text under ``pos`` (viewport coordinates).

        None when the row has no text, or (unless ``clamp``) when ``pos`` is off the text;
        with ``clamp`` a point above the text is its start and one below it its end.
        """
        msg = self.message(index)
        lay = self.layout_for(option, index)
        if msg is None or lay.text_layout is None or lay.text_origin is None:
            return None
        rel = QPointF(pos - option.rect.topLeft()) - lay.text_origin
        text_layout = lay.text_layout
        bounds = text_layout.boundingRect()
        if not clamp and not bounds.adjusted(-2, -2, 2, 2).contains(rel):
            return None
        if rel.y() < 0:
            return 0
        for i in range(text_layout.lineCount()):
            line = text_layout.lineAt(i)
            if rel.y() < line.y() + line.height():
                return int(line.xToCursor(rel.x()))
        return len(text_layout.text())

    def helpEvent(
        self,
        event: QHelpEvent,
        view: QAbstractItemView,
        option: QStyleOptionViewItem,
        index: AnyIndex,
    ) -> bool:
        """Overrides QStyledItemDelegate.helpEvent: receipts on the status, dates on times."""
        if event is None or event.type() != QEvent.Type.ToolTip or not index.isValid():
            return super().helpEvent(event, view, option, index)
        kind, value = self.hit_test(option, index, event.pos())
        tip = ""
        msg = index.data(MessageRoles.ItemRole)
        if kind in ("status", "retry") and isinstance(msg, Message):
            receipt = str(index.data(MessageRoles.ReceiptTextRole) or "")
            when = QDateTime.fromMSecsSinceEpoch(msg.ts).toString("dddd d MMMM yyyy, HH:mm")
            tip = f"{receipt}\n{when}" if receipt else when
            if msg.edited_ts and not msg.deleted:
                edited = QDateTime.fromMSecsSinceEpoch(msg.edited_ts).toString(
                    "dddd d MMMM yyyy, HH:mm")
                tip += f"\nEdited {edited}"
        elif kind == "quote" and isinstance(msg, Message):
            tip = "Click to see the message this replies to"
        elif kind == "link":
            tip = str(value)
        elif kind == "reaction":
            tip = chip_tooltip(value[1])
        elif kind == "quick":
            tip = f"React with {value[1]} ({name_of(value[1])})"
        elif kind == "file" and isinstance(msg, Message) and msg.file is not None:
            tip = ACTION_TIPS.get(value[1], "")
        elif kind == "image" and isinstance(msg, Message) and msg.image is not None:
            size = f" · {human_size(msg.image.size)}" if msg.image.size > 0 else ""
            tip = f"{msg.image.name}{size} — click to open"
        if isinstance(msg, Message) and msg.file is not None and kind in ("file", "bubble"):
            lay = self.layout_for(option, index)
            local = event.pos() - option.rect.topLeft()
            if lay.file_rect is not None and lay.file_rect.contains(local):
                about = f"{msg.file.name} · {human_size(msg.file.size)}"
                tip = f"{about}\n{tip}" if tip else about
        if tip:
            QToolTip.showText(event.globalPos(), tip, view)
            return True
        QToolTip.hideText()
        return True

    # ----- files
    def file_view(self, msg: Message, own: bool) -> FileView:
        """What ``msg``'s file card shows now (see ``file_state``)."""
        if self.file_state is not None:
            return self.file_state(msg, own)
        return describe(msg, None, None, False, own)

    def _file_hit(self, option: QStyleOptionViewItem, card: Any, msg: Message, own: bool,
                  local: QPoint) -> str | None:
        """The action under ``local`` on a file card: one of its words, or the icon (the
        card's first action)."""
        _text, name_font, meta_font = fonts(option.font)
        view = self.file_view(msg, own)
        name_fm = QFontMetrics(name_font)
        for action, rect in action_rects(card, view.actions, name_fm, meta_font):
            if rect.contains(local):
                return action
        if view.primary and card_parts(card, name_fm, QFontMetrics(meta_font)).icon.contains(
                local.toPointF()):
            return view.primary
        return None
