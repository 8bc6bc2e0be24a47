"""Reply, edit and delete in the window (protocol v2 sections 11 and 12).

:class:`ConversationController` adds to the timeline and the composer, without owning
either:

- the timeline's context menu gains Reply, Edit and Delete (Delete only where the user
  may: own messages, and others' in a room they own); the focused message answers R
  (reply), E (edit) and Delete; a small bar of hover actions sits on the bubble under
  the mouse;
- the composer shows a bar above the text box, "Replying to bob: …" or "Editing
  message", with ✕ (and Esc) to cancel; Up in an empty composer edits the user's last
  message; sending in edit mode edits, in reply mode sends a reply;
- a click on a reply's quote scrolls to the parent (loading older history until it is
  there) and flashes it;
- deleting asks first.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, Qt, QTimer
from PySide6.QtGui import QAction, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.models.message_list import MessageRoles
from desktop.state.types import Message, ReplyPreview
from desktop.ui.dialogs import ConfirmDialog
from desktop.ui.elided_label import ElidedLabel
from desktop.ui.message_quote import quote_line

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

logger = logging.getLogger(__name__)

FLASH_MS = 1600


class ComposerModeBar(QFrame):
    """"Replying to bob: …" or "Editing message" above the composer, with ✕."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composerModeBar")
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 2, 4, 2)
        row.setSpacing(6)
        self.title = QLabel(self)
        self.title.setObjectName("composerModeTitle")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        row.addWidget(self.title)
        self.detail = ElidedLabel("", self)
        self.detail.setObjectName("composerModeDetail")
        row.addWidget(self.detail, 1)
        self.close_button = QToolButton(self)
        self.close_button.setObjectName("composerModeClose")
        self.close_button.setText("✕")
        self.close_button.setAccessibleName("Cancel")
        self.close_button.setToolTip("Cancel (Esc)")
        self.close_button.setAutoRaise(True)
        row.addWidget(self.close_button)
        self.hide()

    def show_mode(self, title: str, detail: str) -> None:
        self.title.setText(title)
        self.detail.setText(detail)
        self.setAccessibleName(f"{title} {detail}".strip())
        self.show()


class HoverActions(QFrame):
    """The small bar of actions on the bubble under the mouse."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("hoverActions")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        row = QHBoxLayout(self)
        row.setContentsMargins(2, 0, 2, 0)
        row.setSpacing(0)
        self.reply_button = self._button("↩", "Reply (R)", "hoverReply")
        self.edit_button = self._button("✎", "Edit (E)", "hoverEdit")
        row.addWidget(self.reply_button)
        row.addWidget(self.edit_button)
        self.message: Message | None = None
        self.hide()

    def _button(self, text: str, tip: str, name: str) -> QToolButton:
        button = QToolButton(self)
        button.setObjectName(name)
        button.setText(text)
        button.setToolTip(tip)
        button.setAccessibleName(tip.split(" (")[0])
        button.setAutoRaise(True)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        return button


class ConversationController(QObject):
    """Reply/edit/delete for one main window (see the module doc)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.client = window.client
        self.timeline = window.timeline
        self.panel = window.composer_panel
        self.composer = window.composer
        self.mode: str | None = None  # "reply" | "edit"
        self.target: Message | None = None
        self._saved_draft = ""
        self.flash_id: int | None = None
        self._flash_timer = QTimer(self)
        self._flash_timer.setSingleShot(True)
        self._flash_timer.setInterval(FLASH_MS)
        self._flash_timer.timeout.connect(self.on_flash_timer_timeout)
        self._jumping: int | None = None

        self.bar = ComposerModeBar(self.panel)
        outer = self.panel.layout()
        assert isinstance(outer, QVBoxLayout)
        outer.insertWidget(outer.indexOf(self.panel.box), self.bar)
        self.bar.close_button.clicked.connect(self.cancel)

        self._viewport = self.timeline.viewport()
        self.hover = HoverActions(self._viewport)
        self.hover.reply_button.clicked.connect(self.on_hover_reply_clicked)
        self.hover.edit_button.clicked.connect(self.on_hover_edit_clicked)
        self._viewport.setMouseTracking(True)
        self._viewport.installEventFilter(self)
        self.timeline.verticalScrollBar().valueChanged.connect(self._hide_hover)

        self.timeline.menu_extenders.append(self.extend_menu)
        self.timeline.key_handlers.append(self.on_timeline_key)
        self.timeline.quoteActivated.connect(self.jump_to)
        self.composer.installEventFilter(self)
        self.client.messages.subscribe(self.on_messages_change)
        self.client.mediaDropped.connect(self.on_client_media_dropped)

    # ------------------------------------------------------------------ what may be done
    def can_reply(self, msg: Message) -> bool:
        return msg.id is not None and msg.kind != "system" and not msg.deleted

    # ------------------------------------------------------------------ modes
    def start_reply(self, msg: Message) -> None:
        if not self.can_reply(msg):
            return
        if self.mode == "edit":
            self.cancel()
        self.mode, self.target = "reply", msg
        self.bar.show_mode(f"Replying to {msg.sender or 'someone'}",
                           quote_line(self.client._quote_of(msg.room, msg.id)
                                      or _preview(msg)))
        self.composer.setFocus()

    def start_edit(self, msg: Message) -> None:
        if not self.client.can_edit(msg):
            return
        if self.mode != "edit":
            self._saved_draft = self.composer.toPlainText()
        self.mode, self.target = "edit", msg
        self.bar.show_mode("Editing message", "Esc to cancel")
        self.composer.setPlainText(msg.shown_text)
        cursor = self.composer.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        self.composer.setTextCursor(cursor)
        self.composer.setFocus()

    def cancel(self) -> None:
        """Leave reply or edit mode (an edit's text gives way to the draft before it)."""
        was_edit = self.mode == "edit"
        self.mode, self.target = None, None
        self.bar.hide()
        if was_edit:
            self.composer.setPlainText(self._saved_draft)
            self._saved_draft = ""

    def take_text(self, room: str, text: str) -> str:
        """The window's send: in edit mode the text edits, in reply mode it replies.

        Returns the text left for an ordinary send ("" when it was used here).
        """
        target, mode = self.target, self.mode
        if target is None or mode is None or not text:
            return text
        if target.room != room:
            self.cancel()
            return text
        if mode == "edit":
            self.mode, self.target = None, None
            self.bar.hide()
            self.client.edit_message(target, text)
            saved, self._saved_draft = self._saved_draft, ""
            if saved:
                self.composer.setPlainText(saved)
            return ""
        self.cancel()
        self.client.send_text(room, text, reply_to=target.id)
        return ""

    def edit_last(self) -> bool:
        """Up in an empty composer: edit the user's newest message in this room."""
        room = self.window.current_room
        if room is None:
            return False
        for msg in reversed(self.client.messages.messages(room)):
            if self.client.can_edit(msg):
                self.start_edit(msg)
                return True
        return False

    def confirm_delete(self, msg: Message) -> ConfirmDialog | None:
        if not self.client.can_delete(msg):
            return None
        own = self.client._is_own(msg)
        text = ("Delete this message for everyone? This cannot be undone." if own else
                f"Delete {msg.sender or 'this person'}'s message for everyone? "
                "This cannot be undone.")
        dialog = ConfirmDialog("Delete message", text, "Delete", self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.confirmed.connect(dialog.accept)
        dialog.confirmed.connect(lambda: self.client.delete_message(msg))
        dialog.open()
        return dialog

    # ------------------------------------------------------------------ timeline
    def extend_menu(self, menu: QMenu, msg: Message) -> None:
        actions: list[QAction] = []
        if self.can_reply(msg):
            reply = QAction("Reply", menu)
            reply.setShortcut("R")
            reply.triggered.connect(lambda: self.start_reply(msg))
            actions.append(reply)
        if msg.id is not None and self.client.can_edit(msg):
            edit = QAction("Edit", menu)
            edit.setShortcut("E")
            edit.triggered.connect(lambda: self.start_edit(msg))
            actions.append(edit)
        if self.client.can_delete(msg):
            delete = QAction("Delete for everyone…", menu)
            delete.setShortcut("Delete")
            delete.triggered.connect(lambda: self.confirm_delete(msg))
            actions.append(delete)
        if actions:
            if not menu.isEmpty():
                menu.addSeparator()
            for action in actions:
                menu.addAction(action)

    def on_timeline_key(self, event: QKeyEvent, msg: Message) -> bool:
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if mods not in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier):
            return False
        key = event.key()
        if key == Qt.Key.Key_R and self.can_reply(msg):
            self.start_reply(msg)
            return True
        if key == Qt.Key.Key_E and msg.id is not None and self.client.can_edit(msg):
            self.start_edit(msg)
            return True
        if key == Qt.Key.Key_Delete and self.client.can_delete(msg):
            self.confirm_delete(msg)
            return True
        return False

    def jump_to(self, message_id: int) -> None:
        """Scroll to a message (loading the history around it when it is not held,
        however far back) and flash it."""
        room = self.window.current_room
        if room is None:
            return
        if self.client.messages.get(room, message_id) is not None:
            self._scroll_to(message_id)
            return
        self._jumping = message_id

        def done(found: bool) -> None:
            if self._jumping != message_id or room != self.window.current_room:
                return
            self._jumping = None
            if found:
                self._scroll_to(message_id)
            else:
                self.window.show_toast("That message is no longer available.")

        self.window.run_task(self.client.load_around(room, message_id), done)

    def _scroll_to(self, message_id: int) -> None:
        """Bring the message to the middle with the keyboard focus (the view's
        ``show_message``), then flash it."""
        if not self.timeline.show_message(message_id).isValid():
            return
        self.flash_id = message_id
        self.timeline.delegate.flash_id = message_id
        self.timeline.viewport().update()
        self._flash_timer.start()

    def on_flash_timer_timeout(self) -> None:
        self.flash_id = None
        self.timeline.delegate.flash_id = None
        self.timeline.viewport().update()

    # ------------------------------------------------------------------ hover
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Overrides QObject.eventFilter: hover actions on the timeline; Up and Esc in
        the composer."""
        if watched is self.composer and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() == Qt.Key.Key_Escape and self.mode is not None:
                self.cancel()
                return True
            if (event.key() == Qt.Key.Key_Up and event.modifiers()
                    == Qt.KeyboardModifier.NoModifier and not self.composer.toPlainText()
                    and self.mode is None and not self.panel.attachments):
                return self.edit_last()
            return False
        if watched is self._viewport and shiboken6.isValid(self.timeline):
            if event.type() == QEvent.Type.MouseMove:
                self._place_hover(event.position().toPoint())  # type: ignore[attr-defined]
            elif event.type() == QEvent.Type.Leave:
                if not self.hover.underMouse():
                    self._hide_hover()
        return False

    def _place_hover(self, pos: QPoint) -> None:
        if self.hover.geometry().contains(pos):
            return
        index = self.timeline.indexAt(pos)
        msg = index.data(MessageRoles.ItemRole) if index.isValid() else None
        if not isinstance(msg, Message) or not self.can_reply(msg):
            self._hide_hover()
            return
        lay = self.timeline.delegate.layout_for(self.timeline.option_for(index), index)
        if lay.bubble_rect is None:
            self._hide_hover()
            return
        bubble = lay.bubble_rect.translated(self.timeline.visualRect(index).topLeft())
        self.hover.message = msg
        self.hover.edit_button.setVisible(self.client.can_edit(msg))
        self.hover.adjustSize()
        size = self.hover.sizeHint()
        own = bool(index.data(MessageRoles.IsOwnRole))
        x = bubble.left() - size.width() - 4 if own else bubble.right() + 4
        x = max(0, min(x, self.timeline.viewport().width() - size.width()))
        y = max(0, bubble.top())
        self.hover.setGeometry(x, y, size.width(), size.height())
        self.hover.show()
        self.hover.raise_()

    def _hide_hover(self, *_args: Any) -> None:
        self.hover.hide()
        self.hover.message = None

    def on_hover_reply_clicked(self) -> None:
        if self.hover.message is not None:
            self.start_reply(self.hover.message)

    def on_hover_edit_clicked(self) -> None:
        if self.hover.message is not None:
            self.start_edit(self.hover.message)

    def on_client_media_dropped(self, media_id: str) -> None:
        """A deleted message's picture leaves the decoded caches and the GIF bytes."""
        self.window.decoder.drop_media(media_id)
        self.timeline.animations.drop_media(media_id)

    # ------------------------------------------------------------------ store
    def on_messages_change(self, change: Any) -> None:
        """The message being replied to or edited was deleted: leave the mode, say so."""
        target = self.target
        if target is None or change.kind not in ("updated", "reset"):
            return
        if target.deleted or (change.kind == "reset" and change.key == target.room):
            self.cancel()
            self.window.show_toast("The message was deleted meanwhile.")
        elif self.mode == "reply" and "text" in change.fields:
            self.bar.detail.setText(quote_line(_preview(target)))


def _preview(msg: Message) -> ReplyPreview:
    return ReplyPreview(id=msg.id or 0, sender=msg.sender, kind=msg.kind,
                        text=msg.shown_text[:200], deleted=msg.deleted)


def row_index(view: QAbstractItemView, message_id: int) -> QModelIndex:
    """The view index of a held message (for tests and tools)."""
    source = getattr(view, "source_model", lambda: None)()
    row = getattr(source, "row_for_id", lambda _i: None)(message_id)
    if row is None:
        return QModelIndex()
    window = getattr(view, "window_model", None)
    first = window.first if window is not None else 0
    model = view.model()
    return model.index(row - first, 0) if model is not None and row >= first else QModelIndex()
