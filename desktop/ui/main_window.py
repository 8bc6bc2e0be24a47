"""The main window: room sidebar, timeline, composer, members panel, connection state.

It owns no networking: it shows ChatClient's models, forwards user actions to its
methods and coroutines, and reacts to its signals (all wired in ``_connect_signals``).
Sign-in and server hosting belong to the startup controller; the window only asks for
them through ``signInRequested`` / ``signOutRequested`` / ``localRequested``.

The panels, their narrow/wide layout and the window's geometry live in
``window_layout``, menus and dialogs in ``window_actions``, the empty states in
``window_states``; this module switches rooms (with one draft per room) and follows
the client.

Signals: ``signInRequested()``, ``signOutRequested()``, ``localRequested()`` (start
chatting on this computer's own server), ``closed()`` (the window was closed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QPalette
from PySide6.QtWidgets import QMainWindow, QWidget

from desktop.media.decoder import ImageDecoder
from desktop.models.room_list import RoomRoles
from desktop.net.client import ChatClient, RequestError
from desktop.settings import AppSettings
from desktop.state.types import Change, Message, Room
from desktop.ui import icons, theme
from desktop.ui import reactions as reactions_ui
from desktop.ui.attachments import Attachment
from desktop.ui.conversation import ConversationController
from desktop.ui.drafts import Draft, DraftStore
from desktop.ui.file_actions import FileActions, send_attachment
from desktop.ui.image_viewer import ImageViewer
from desktop.ui.mention_complete import MentionCompleter
from desktop.ui.notifier import Notifier
from desktop.ui.window_actions import WindowActions
from desktop.ui.window_layout import WindowLayout
from desktop.ui.window_states import WindowStates
from server.protocol import GENERAL_ROOM

logger = logging.getLogger(__name__)

DRAFT_SAVE_MS = 800


class MainWindow(WindowStates, WindowActions, WindowLayout, QMainWindow):
    """See the module docstring."""

    signInRequested = Signal()
    signOutRequested = Signal()
    localRequested = Signal()
    closed = Signal()

    def __init__(
        self,
        client: ChatClient,
        settings: AppSettings,
        decoder: ImageDecoder | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.client = client
        self.settings = settings
        reactions_ui.RECENT[:] = settings.recent_emoji
        reactions_ui.SAVE_RECENT = lambda recent: setattr(settings, "recent_emoji", recent)
        self.decoder = decoder if decoder is not None else ImageDecoder(parent=self)
        self.current_room: str | None = None
        self.starting = False  # the startup controller is signing in
        self._tasks: set[asyncio.Future[Any]] = set()
        self._loading_older: set[str] = set()
        self._filling_gaps: set[tuple[str, int, bool]] = set()
        self._no_more_history: set[str] = set()
        self.viewers: list[ImageViewer] = []
        self._repainting = False
        self._clamped_after_show = False
        self.drafts = DraftStore(settings.data_dir)
        self._draft_timer = QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(DRAFT_SAVE_MS)
        self._draft_timer.timeout.connect(self.save_draft)
        self.setWindowIcon(icons.icon("parley"))
        self._build()
        self._build_menus()
        self._set_tab_order()
        self.notifier = Notifier(self, self, settings=settings)
        self._connect_signals()
        self.replies = ConversationController(self)  # reply, edit, delete
        self.files = FileActions(self)  # file cards: download, open, progress, cancel
        self._restore_geometry()
        self.update_title()
        # The client may already be signed in (tests, the self-test, a re-created window).
        self.connection_status.set_state(client.state, 0)
        if client.username and client.is_connected:
            self.on_client_session_started(client.username)
        self._select_initial_room()
        self._update_empty_state()

    def _set_tab_order(self) -> None:
        """Tab walks the window the way the eye does: left to right, top to bottom."""
        chain = [
            self.add_button,
            self.find_button,
            self.room_list,
            self.members_button,
            self.timeline,
            self.attach_button,
            self.composer,
            self.send_button,
            self.member_list,
        ]
        for first, second in zip(chain, chain[1:], strict=False):
            QWidget.setTabOrder(first, second)

    def _connect_signals(self) -> None:
        client = self.client
        # --- client -> window
        client.connectionStateChanged.connect(self.on_client_connection_state_changed)
        client.sessionStarted.connect(self.on_client_session_started)
        client.sessionRefused.connect(self.on_client_session_refused)
        client.errorOccurred.connect(self.on_client_error_occurred)
        client.limitsChanged.connect(self.composer_panel.set_limits)
        client.roomAdded.connect(self.on_client_room_added)
        client.roomClosed.connect(self.on_client_room_closed)
        client.typingChanged.connect(self.on_client_typing_changed)
        client.messageReceived.connect(self.on_client_message_received)
        client.noticeReceived.connect(self.on_client_notice_received)
        self._unsubscribe_members = client.members.subscribe(self.on_members_store_change)
        self.destroyed.connect(lambda *_: self._unsubscribe_members())
        # --- room list
        model = client.room_model
        model.rowsInserted.connect(self.on_room_model_changed)
        model.rowsRemoved.connect(self.on_room_model_changed)
        model.modelReset.connect(self.on_room_model_changed)
        model.dataChanged.connect(self.on_room_model_data_changed)
        self.room_list.is_online = client.members.is_online
        self.room_list.is_muted = self.is_room_muted
        self.room_list.draft_of = self.draft_preview
        self.room_list.roomActivated.connect(self.show_room)
        self.room_list.activated.connect(self.on_room_list_activated)
        self.room_list.leaveRequested.connect(self.leave_room)
        self.room_list.inviteRequested.connect(self.open_invite)
        self.room_list.topicRequested.connect(self.open_set_topic)
        self.room_list.closeRequested.connect(self.close_room)
        self.room_list.muteToggled.connect(self.set_room_muted)
        self.prev_room_shortcut.activated.connect(lambda: self.room_list.step(-1))
        self.next_room_shortcut.activated.connect(lambda: self.room_list.step(1))
        # --- members
        self.member_list.memberActivated.connect(self.open_profile)
        self.close_overlay_shortcut.activated.connect(lambda: self.set_members_visible(False))
        # --- timeline
        self.timeline.loadOlderRequested.connect(self.on_timeline_load_older_requested)
        self.timeline.fillGapRequested.connect(self.on_timeline_fill_gap_requested)
        self.timeline.imageActivated.connect(self.open_image)
        self.timeline.retryRequested.connect(self.client.retry)
        self.timeline.discardRequested.connect(self.client.discard)
        self.timeline.reactionToggled.connect(self.client.toggle_reaction)
        self.mention_completer = MentionCompleter(
            self.composer,
            lambda: [m.name for m in self.client.members.members(self.current_room or "")],
            lambda: self.client.username,
        )
        self.timeline.mimeDropped.connect(self.composer_panel.add_mime)
        self.timeline.seenUpTo.connect(self.client.mark_seen)
        self.client.reads_follow_view = True  # `read` only up to what the timeline showed
        self.timeline.animations.fetcher = self.client.fetch_media
        # --- composer
        self.composer_panel.sendRequested.connect(self.on_composer_send_requested)
        self.composer_panel.typingActivity.connect(self.on_composer_typing_activity)
        self.composer_panel.draftChanged.connect(self._draft_timer.start)
        self.composer.pageRequested.connect(self.on_composer_page_requested)
        # --- chrome
        self.members_button.toggled.connect(self.set_members_visible)
        self.members_action.toggled.connect(self.set_members_visible)
        self.banner.signInRequested.connect(self.signInRequested)
        self.find_button.clicked.connect(self.open_quick_switcher)
        self.empty_state.actionTriggered.connect(self.on_empty_state_action_triggered)

    # ------------------------------------------------------------------ async helper
    def run_task(
        self,
        coro: Coroutine[Any, Any, Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> asyncio.Future[Any]:
        """Run a ChatClient coroutine; route its result or its error in plain words."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Future[Any]) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is None:
                if on_done is not None:
                    on_done(t.result())
                return
            message = exc.message if isinstance(exc, RequestError) else "Something went wrong."
            if not isinstance(exc, RequestError):
                logger.error("UI task failed", exc_info=exc)
            (on_error or self.show_toast)(message)

        task.add_done_callback(done)
        return task

    @property
    def busy(self) -> bool:
        """True while a request started from the window is still running."""
        return any(not t.done() for t in self._tasks)

    # ------------------------------------------------------------------ rooms
    def _select_initial_room(self) -> None:
        if self.current_room is not None:
            return
        model = self.client.room_model
        if model.rowCount() == 0:
            return
        for wanted in (self.settings.last_room, GENERAL_ROOM):
            if wanted and self.room_list.select_room(wanted):
                return
        self.room_list.select_room(str(model.index(0, 0).data(RoomRoles.IdRole)))

    def show_room(self, room_id: str) -> None:
        """Show ``room_id`` in the timeline, members panel, header and composer (with the
        room's own draft: what was being written elsewhere stays there)."""
        if room_id == self.current_room:
            return
        if self.current_room is not None:
            self.client.set_typing(self.current_room, False)
            self.save_draft()
        self.current_room = room_id
        self.room_list.select_room(room_id)
        model = self.client.message_model(room_id)
        room = self.client.rooms.get(room_id)
        self.timeline.delegate.me = self.client.username
        self.timeline.setModel(model)
        unread = room.unread if room is not None else 0
        read_up_to = room.read_up_to if room is not None else None
        self.timeline.set_unread(unread, read_up_to)
        self._open_at_first_unread(room_id, unread, read_up_to)
        self.timeline.more_history = room_id not in self._no_more_history
        self.member_list.setModel(self.client.member_model(room_id))
        self.client.set_active_room(room_id)
        self.client.mark_read(room_id)
        self.settings.last_room = room_id
        self.composer_panel.set_typing_users(self.client.typing_users(room_id))
        self.composer_panel.set_draft(self.drafts.get(self._draft_key(room_id)))
        self._draft_timer.stop()
        self._update_header()
        self.update_title()
        self._update_empty_state()
        if model.rowCount() == 0:
            self.on_timeline_load_older_requested()
        self.composer.setFocus()

    def _open_at_first_unread(self, room_id: str, unread: int, read_up_to: int | None) -> None:
        """The room opens at its first unread message (as Telegram does): when that lies
        beyond the history held (more unread than the newest page), the history around
        the read position is loaded first (two requests, a gap to the rest)."""
        if not read_up_to or unread <= 0:
            return  # never read (opens at the bottom), or nothing unread
        messages = self.client.messages
        oldest = messages.oldest_id(room_id)
        if oldest is not None and oldest <= read_up_to and not messages.in_gap(
                room_id, read_up_to + 1):
            return  # the first unread message is held

        moves = self.timeline.moves

        def done(_found: bool) -> None:
            # the view goes there unless the user went elsewhere meanwhile (a search
            # result, a scroll); the divider is drawn either way
            if self.current_room == room_id:
                self.timeline.set_unread(unread, read_up_to,
                                         move=not self.timeline.moved_since(moves))

        def failed(message: str) -> None:  # offline: the room stays at the newest page
            logger.info("could not load the history at the first unread: %s", message)

        self.run_task(self.client.load_around(room_id, read_up_to), done, failed)

    def on_room_list_activated(self, _index: QModelIndex) -> None:
        """Enter on a room (or a double click): start typing there."""
        self.composer.setFocus(Qt.FocusReason.OtherFocusReason)

    def save_draft(self) -> None:
        """Keep what the composer holds as the current room's draft (on disk too)."""
        self._draft_timer.stop()
        if self.current_room is not None:
            self.drafts.set(self._draft_key(self.current_room), self.composer_panel.draft())
            self.room_list.viewport().update()

    def _draft_key(self, room_id: str) -> str:
        """Drafts belong to a room on one server for one user ("general" is everywhere)."""
        return f"{self.client.url or ''}\n{(self.client.username or '').lower()}\n{room_id}"

    def draft_preview(self, room_id: str) -> str:
        """The draft text the sidebar shows for a room not on screen ("" for none)."""
        if room_id == self.current_room:
            return ""
        draft = self.drafts.get(self._draft_key(room_id))
        return draft.text or ("Photo" if draft.attachments else "")

    def _forget_current_room(self) -> None:
        """The room on screen is gone (left, closed, signed out): show no room."""
        self.save_draft()
        self.current_room = None
        self.timeline.setModel(None)
        self.member_list.setModel(None)
        self.composer_panel.set_draft(Draft())
        self._update_header()

    def current_room_info(self) -> Room | None:
        if self.current_room is None:
            return None
        return self.client.rooms.get(self.current_room)

    def _update_header(self) -> None:
        room = self.current_room_info()
        if room is None:
            self.room_title.setText("")
            self.room_topic.setText("")
            self.members_button.setText("")
            self.composer.setPlaceholderText("Write a message…")
            return
        prefix = "# " if room.kind == "public" else ""
        self.room_title.setText(prefix + room.name)
        topic = room.topic or ("Direct message" if room.kind == "dm" else "No topic yet")
        if room.kind == "dm":
            topic = "online" if self.client.members.is_online(room.name) else topic
        if room.kind == "private":
            topic = f"Private room · {topic}"
        self.room_topic.setText(topic)
        self.members_button.setText(str(room.members) if room.members else "")
        self.composer.setPlaceholderText(
            f"Message {room.name}" if room.kind == "dm" else f"Message #{room.name}"
        )
        self.leave_action.setText(
            "Leave this conversation…" if room.kind == "dm" else f"Leave #{room.name}…"
        )

    def on_room_model_changed(self, *_args: object) -> None:
        self.update_title()
        if (
            self.current_room is not None
            and self.client.room_model.row_of(self.current_room) is None
        ):
            self._forget_current_room()
        if self.current_room is None:
            self._select_initial_room()
        else:
            self.room_list.select_room(self.current_room)
        self._update_empty_state()

    def on_room_model_data_changed(
        self, top: QModelIndex, bottom: QModelIndex, _roles: list[int]
    ) -> None:
        self.update_title()
        if self.current_room is not None:
            for row in range(top.row(), bottom.row() + 1):
                index = self.client.room_model.index(row, 0)
                if index.data(RoomRoles.IdRole) == self.current_room:
                    self._update_header()
                    # The room on screen in a focused window is read, whoever counted it.
                    if index.data(RoomRoles.UnreadRole) and self.isActiveWindow():
                        QTimer.singleShot(0, self._mark_current_read)

    def on_members_store_change(self, _change: Change) -> None:
        # presence dots in the sidebar and "online" in a DM's header
        self.room_list.viewport().update()
        room = self.current_room_info()
        if room is not None and room.kind == "dm":
            self._update_header()

    def _mark_current_read(self) -> None:
        if self.current_room is not None and self.isActiveWindow():
            self.client.mark_read(self.current_room)

    def total_unread(self) -> int:
        model = self.client.room_model
        return sum(
            int(model.index(r, 0).data(RoomRoles.UnreadRole) or 0) for r in range(model.rowCount())
        )

    def update_title(self) -> None:
        room = self.current_room_info()
        name = ""
        if room is not None:
            name = room.name if room.kind == "dm" else f"#{room.name}"
        title = f"{name} — Parley" if name else "Parley"
        unread = self.total_unread()
        if unread:
            title = f"({unread}) {title}"
        self.setWindowTitle(title)

    def on_client_room_added(self, room_id: str) -> None:
        self.update_title()
        if self.current_room is None:
            self._select_initial_room()
        self._update_empty_state()

    def on_client_room_closed(self, room_id: str) -> None:
        self._no_more_history.discard(room_id)
        if room_id == self.current_room:
            self._forget_current_room()
            self._select_initial_room()
        self.drafts.set(self._draft_key(room_id), Draft())  # the room is gone
        self.update_title()
        self._update_empty_state()

    # ------------------------------------------------------------------ timeline & composer
    def on_timeline_load_older_requested(self) -> None:
        room = self.current_room
        if room is None or room in self._loading_older or room in self._no_more_history:
            return
        if not self.client.is_connected:
            return
        self._loading_older.add(room)

        def done(count: int) -> None:
            self._loading_older.discard(room)
            if count == 0:
                self._no_more_history.add(room)
                if room == self.current_room:
                    self.timeline.more_history = False

        def failed(message: str) -> None:
            self._loading_older.discard(room)
            self.show_toast(message)

        self.run_task(self.client.load_older(room), done, failed)

    def on_timeline_fill_gap_requested(self, edge_id: int, above: bool) -> None:
        """The user reached a gap in the held history (after a far jump): load a page
        into it from that side, then let the view grow into it."""
        room = self.current_room
        if room is None or not self.client.is_connected:
            return
        key = (room, edge_id, above)
        if key in self._filling_gaps:
            return
        self._filling_gaps.add(key)

        def done(_count: int) -> None:
            self._filling_gaps.discard(key)
            if room == self.current_room:
                self.timeline.history_loaded()

        def failed(message: str) -> None:
            self._filling_gaps.discard(key)
            self.show_toast(message)

        self.run_task(self.client.fill_gap(room, edge_id, above), done, failed)

    def on_composer_page_requested(self, direction: int) -> None:
        """PageUp/PageDown in the composer scroll the timeline by a page."""
        bar = self.timeline.verticalScrollBar()
        step = max(1, bar.pageStep() - bar.singleStep() * 2)
        bar.setValue(bar.value() + direction * step)

    def on_composer_send_requested(self, text: str, items: list[tuple[Attachment, str]]) -> None:
        room = self.current_room
        if room is None:
            self.composer_panel.show_error("Pick a room or a person on the left first.")
            return
        text = self.replies.take_text(room, text)  # a reply or an edit takes it
        if len(items) == 1 and not items[0][1] and text:
            # One image and a typed line: the line is the image's caption.
            items = [(items[0][0], text)]
            text = ""
        for attachment, caption in items:
            refusal = send_attachment(self.client, room, attachment, caption,
                                      self.composer_panel.max_image_bytes)
            if refusal is not None:
                self.composer_panel.show_error(refusal)
        if text:
            self.client.send_text(room, text)
        self.save_draft()  # the composer is empty now: the draft goes
        self.timeline.scroll_to_latest()

    def on_composer_typing_activity(self, typing: bool) -> None:
        if self.current_room is not None:
            self.client.set_typing(self.current_room, typing)

    def on_client_typing_changed(self, room_id: str, users: list[str]) -> None:
        if room_id == self.current_room:
            self.composer_panel.set_typing_users(users)

    def open_image(self, msg: Message) -> ImageViewer | None:
        """Open the full image in a viewer window (fetched from the server, cached)."""
        if msg.image is not None and msg.image.id:
            viewer = ImageViewer(self.decoder, msg.image.id, msg.image.name, self, msg,
                                 self.timeline.image_messages, self.client.fetch_media)
            self.run_task(
                self.client.fetch_media(msg.image.id),
                lambda r: viewer.set_image(r[2]),
                viewer.show_error,
            )
        elif msg.local_image:
            viewer = ImageViewer(self.decoder, f"local:{msg.client_id}", "image", self, msg,
                                 self.timeline.image_messages, self.client.fetch_media)
            viewer.set_image(msg.local_image)
        else:
            return None
        self.viewers.append(viewer)
        viewer.finished.connect(lambda _result, v=viewer: self._forget_viewer(v))
        viewer.show()
        return viewer

    def _forget_viewer(self, viewer: ImageViewer) -> None:
        if viewer in self.viewers:
            self.viewers.remove(viewer)
            viewer.deleteLater()

    # ------------------------------------------------------------------ client state
    def on_client_connection_state_changed(self, state: str, retry_in_s: int) -> None:
        self.connection_status.set_state(state, retry_in_s)
        if state == "connected":
            self.banner.hide()
        self._update_empty_state()

    def on_client_session_started(self, username: str) -> None:
        self.room_list.own_username = username
        self.user_label.setText(f"Signed in as {username}")
        server = self.client.server_info
        self.server_label.setText(str(server.get("name") or "Parley"))
        self.composer_panel.set_limits(self.client.limits)
        self.banner.hide()
        self._select_initial_room()
        if self.current_room is not None:
            self.client.set_active_room(self.current_room)
        self._update_empty_state()

    def on_client_session_refused(self, _code: str, message: str) -> None:
        self.connection_status.set_state("refused", 0)
        self.banner.show_message(f"The server refused the session: {message}")
        self._update_empty_state()

    def on_client_error_occurred(self, message: str) -> None:
        self.show_toast(message)

    def on_client_notice_received(self, text: str, level: str) -> None:
        self.show_toast(f"Notice: {text}", error=level == "warning")

    def on_client_message_received(self, room_id: str, msg: Message) -> None:
        on_screen = self.isActiveWindow() and room_id == self.current_room
        self.notifier.on_message(
            msg, self.client.rooms.get(room_id), self.client.username, on_screen
        )

    def show_toast(self, text: str, error: bool = True) -> None:
        colour = theme.DANGER if error else theme.ACCENT
        bg = theme.mix(self.palette().color(QPalette.ColorRole.Base), colour, 0.14)
        self.toast.setStyleSheet(
            f"QLabel#errorBar {{ background: {bg.name()}; color: {theme.text(self.palette()).name()}; }}"
        )
        self.toast.setText(text)
        self.toast.show()
        self._toast_timer.start()

    # ------------------------------------------------------------------ window
    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        """Overrides QWidget.changeEvent: follow theme changes; tell the client whether
        the user can see us."""
        palette_events = (QEvent.Type.ApplicationPaletteChange, QEvent.Type.PaletteChange)
        if event.type() in palette_events and not self._repainting:
            self._repainting = True
            try:
                self._apply_palette()
            finally:
                self._repainting = False
        if event.type() == QEvent.Type.ActivationChange:
            focused = self.isActiveWindow()
            self.client.set_window_focused(focused)
            if focused and self.current_room is not None:
                self.client.mark_read(self.current_room)
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """Overrides QWidget.closeEvent: remember the geometry and the draft; the app
        then quits."""
        self.save_geometry()
        self.save_draft()
        self.notifier.hide()
        for task in list(self._tasks):
            task.cancel()
        for viewer in list(self.viewers):
            viewer.close()
        super().closeEvent(event)
        if event.isAccepted():
            self.closed.emit()
