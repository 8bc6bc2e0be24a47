"""The main window: room sidebar, timeline, composer, members panel, connection state.

It owns no networking: it shows ChatClient's models, forwards user actions to its
methods and coroutines, and reacts to its signals (all wired in ``_connect_signals``).
Sign-in and server hosting belong to the startup controller; the window only asks for
them through ``signInRequested`` / ``signOutRequested``.

Signals: ``signInRequested()``, ``signOutRequested()``, ``closed()`` (the window was closed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.media.decoder import ImageDecoder
from desktop.models.room_list import RoomRoles
from desktop.net.client import ChatClient, RequestError
from desktop.settings import AppSettings
from desktop.state.types import Message, Room
from desktop.ui import icons, theme
from desktop.ui.attachments import Attachment
from desktop.ui.composer import ComposerPanel
from desktop.ui.connection_status import ConnectionStatus, ReconnectBanner, RefusedBanner
from desktop.ui.dialogs import (
    BrowseRoomsDialog,
    CreateRoomDialog,
    FormDialog,
    PromptDialog,
    QuickSwitcher,
)
from desktop.ui.image_viewer import ImageViewer
from desktop.ui.members import MemberListView
from desktop.ui.notifier import Notifier
from desktop.ui.sidebar import RoomListView
from desktop.ui.timeline import TimelineView
from server import __version__
from server.protocol import GENERAL_ROOM

logger = logging.getLogger(__name__)

DEFAULT_SIZE = QSize(1200, 760)
TOAST_MS = 7000


class MainWindow(QMainWindow):
    """See the module docstring."""

    signInRequested = Signal()
    signOutRequested = Signal()
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
        self.decoder = decoder if decoder is not None else ImageDecoder(parent=self)
        self.current_room: str | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._loading_older: set[str] = set()
        self._no_more_history: set[str] = set()
        self._member_model_room: str | None = None
        self.viewers: list[ImageViewer] = []
        self._repainting = False
        self.setWindowIcon(icons.icon("parley"))
        self._build()
        self._build_menus()
        self.notifier = Notifier(self, self, settings=settings)
        self._connect_signals()
        self._restore_geometry()
        self.update_title()
        # The client may already be signed in (tests, the self-test, a re-created window).
        self.connection_status.set_state(client.state, 0)
        if client.username and client.is_connected:
            self.on_client_session_started(client.username)
        self._select_initial_room()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setHandleWidth(1)
        self.splitter.setChildrenCollapsible(False)

        # --- sidebar
        self.sidebar = QFrame(self.splitter)
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setAutoFillBackground(True)
        side = QVBoxLayout(self.sidebar)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(0)
        head = QHBoxLayout()
        head.setContentsMargins(16, 14, 10, 8)
        title_col = QVBoxLayout()
        title_col.setSpacing(1)
        self.server_label = QLabel("Parley", self.sidebar)
        self.server_label.setObjectName("serverName")
        self.server_label.setTextFormat(Qt.TextFormat.PlainText)
        f = self.server_label.font()
        f.setBold(True)
        f.setPointSizeF(f.pointSizeF() * 1.2)
        self.server_label.setFont(f)
        self.user_label = QLabel("", self.sidebar)
        self.user_label.setObjectName("userName")
        self.user_label.setTextFormat(Qt.TextFormat.PlainText)
        title_col.addWidget(self.server_label)
        title_col.addWidget(self.user_label)
        head.addLayout(title_col, 1)
        self.add_button = QToolButton(self.sidebar)
        self.add_button.setObjectName("addButton")
        self.add_button.setAccessibleName("New room or message")
        self.add_button.setToolTip("Create a room, browse rooms, or start a direct message")
        self.add_button.setIcon(icons.icon("add"))
        self.add_button.setIconSize(QSize(18, 18))
        self.add_button.setAutoRaise(True)
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        head.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignTop)
        side.addLayout(head)
        self.room_list = RoomListView(self.sidebar)
        self.room_list.setModel(self.client.room_model)
        side.addWidget(self.room_list, 1)
        foot = QHBoxLayout()
        foot.setContentsMargins(16, 8, 12, 10)
        self.connection_status = ConnectionStatus(self.sidebar)
        foot.addWidget(self.connection_status, 1)
        side.addLayout(foot)

        # --- conversation
        self.conversation = QWidget(self.splitter)
        self.conversation.setObjectName("conversation")
        self.conversation.setAutoFillBackground(True)
        conv = QVBoxLayout(self.conversation)
        conv.setContentsMargins(0, 0, 0, 0)
        conv.setSpacing(0)
        self.banner = RefusedBanner(self.conversation)
        conv.addWidget(self.banner)
        self.reconnect_banner = ReconnectBanner(self.client, self.conversation)
        conv.addWidget(self.reconnect_banner)
        header = self.header = QFrame(self.conversation)
        header.setObjectName("roomHeader")
        hl = QHBoxLayout(header)
        hl.setContentsMargins(20, 10, 12, 10)
        hcol = QVBoxLayout()
        hcol.setSpacing(1)
        self.room_title = QLabel("", header)
        self.room_title.setObjectName("roomTitle")
        self.room_title.setTextFormat(Qt.TextFormat.PlainText)
        tf = self.room_title.font()
        tf.setBold(True)
        tf.setPointSizeF(tf.pointSizeF() * 1.15)
        self.room_title.setFont(tf)
        self.room_topic = QLabel("", header)
        self.room_topic.setObjectName("roomTopic")
        self.room_topic.setTextFormat(Qt.TextFormat.PlainText)
        hcol.addWidget(self.room_title)
        hcol.addWidget(self.room_topic)
        hl.addLayout(hcol, 1)
        self.members_button = QToolButton(header)
        self.members_button.setObjectName("membersToggle")
        self.members_button.setAccessibleName("Show members")
        self.members_button.setToolTip("Members (Ctrl+Shift+M)")
        self.members_button.setIcon(icons.icon("members"))
        self.members_button.setIconSize(QSize(18, 18))
        self.members_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.members_button.setCheckable(True)
        self.members_button.setChecked(True)
        self.members_button.setAutoRaise(True)
        hl.addWidget(self.members_button)
        conv.addWidget(header)
        self.toast = QLabel(self.conversation)
        self.toast.setObjectName("errorBar")
        self.toast.setTextFormat(Qt.TextFormat.PlainText)
        self.toast.setWordWrap(True)
        self.toast.setContentsMargins(20, 6, 20, 6)
        self.toast.hide()
        conv.addWidget(self.toast)
        self.timeline = TimelineView(self.decoder, self.conversation)
        conv.addWidget(self.timeline, 1)
        self.composer_panel = ComposerPanel(self.decoder, self.conversation)
        conv.addWidget(self.composer_panel)
        self.composer = self.composer_panel.edit
        self.send_button = self.composer_panel.send_button
        self.attach_button = self.composer_panel.attach_button

        # --- members
        self.members_panel = QFrame(self.splitter)
        self.members_panel.setObjectName("membersPanel")
        self.members_panel.setAutoFillBackground(True)
        ml = QVBoxLayout(self.members_panel)
        ml.setContentsMargins(0, 14, 0, 0)
        ml.setSpacing(4)
        self.members_title = QLabel("Members", self.members_panel)
        self.members_title.setContentsMargins(14, 0, 0, 4)
        mf = self.members_title.font()
        mf.setBold(True)
        self.members_title.setFont(mf)
        ml.addWidget(self.members_title)
        self.member_list = MemberListView(self.members_panel)
        ml.addWidget(self.member_list, 1)

        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.conversation)
        self.splitter.addWidget(self.members_panel)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.sidebar.setMinimumWidth(200)
        self.members_panel.setMinimumWidth(170)
        self.splitter.setSizes([260, 740, 200])
        self.setCentralWidget(self.splitter)

        self._apply_palette()

        self._toast_timer = QTimer(self)
        self._toast_timer.setSingleShot(True)
        self._toast_timer.setInterval(TOAST_MS)
        self._toast_timer.timeout.connect(self.toast.hide)

    def _apply_palette(self) -> None:
        """Colour the chrome from the application palette (again when it changes)."""
        palette = QApplication.palette()
        side = QPalette(palette)
        side.setColor(QPalette.ColorRole.Window, theme.sidebar_background(palette))
        side.setColor(QPalette.ColorRole.Base, theme.sidebar_background(palette))
        for widget in (self.sidebar, self.room_list, self.members_panel, self.member_list):
            widget.setPalette(side)
        conv = QPalette(palette)
        conv.setColor(QPalette.ColorRole.Window, palette.color(QPalette.ColorRole.Base))
        self.conversation.setPalette(conv)
        muted = theme.muted(palette).name()
        self.user_label.setStyleSheet(f"color: {muted};")
        self.room_topic.setStyleSheet(f"color: {muted};")
        border = theme.subtle_border(palette).name()
        self.header.setStyleSheet(f"QFrame#roomHeader {{ border-bottom: 1px solid {border}; }}")
        self.members_button.setStyleSheet(
            "QToolButton { border: none; border-radius: 6px; padding: 4px 8px; }"
            f" QToolButton:checked {{ background: {theme.other_bubble(palette).name()}; }}"
            f" QToolButton:hover {{ background: {theme.selection(palette).name()}; }}"
        )
        self.composer_panel.apply_palette(palette)
        for name, button in (
            ("add", self.add_button),
            ("members", self.members_button),
        ):
            button.setIcon(icons.icon(name))
        self.timeline.viewport().update()

    def _build_menus(self) -> None:
        bar = self.menuBar()
        app_menu = bar.addMenu("&Parley")
        self.sign_in_action = QAction("Sign in or host a server…", self)
        self.sign_in_action.triggered.connect(self.signInRequested)
        app_menu.addAction(self.sign_in_action)
        self.sign_out_action = QAction("Sign out", self)
        self.sign_out_action.triggered.connect(self.signOutRequested)
        app_menu.addAction(self.sign_out_action)
        app_menu.addSeparator()
        self.notify_action = QAction("Show notifications", self)
        self.notify_action.setCheckable(True)
        self.notify_action.setChecked(self.settings.notifications_enabled)
        self.notify_action.toggled.connect(self.on_notify_action_toggled)
        app_menu.addAction(self.notify_action)
        app_menu.addSeparator()
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        app_menu.addAction(quit_action)

        rooms = bar.addMenu("&Rooms")
        self.create_room_action = QAction("Create room…", self)
        self.create_room_action.triggered.connect(self.open_create_room)
        self.browse_action = QAction("Browse rooms…", self)
        self.browse_action.triggered.connect(self.open_browse_rooms)
        self.dm_action = QAction("New message…", self)
        self.dm_action.setShortcut(QKeySequence("Ctrl+N"))
        self.dm_action.triggered.connect(self.open_new_message)
        self.switch_action = QAction("Quick switcher…", self)
        self.switch_action.setShortcut(QKeySequence("Ctrl+K"))
        self.switch_action.triggered.connect(self.open_quick_switcher)
        self.members_action = QAction("Show members", self)
        self.members_action.setShortcut(QKeySequence("Ctrl+Shift+M"))
        self.members_action.setCheckable(True)
        self.members_action.setChecked(True)
        for action in (self.create_room_action, self.browse_action, self.dm_action):
            rooms.addAction(action)
        rooms.addSeparator()
        rooms.addAction(self.switch_action)
        rooms.addAction(self.members_action)
        for action in (self.switch_action, self.members_action, self.dm_action):
            self.addAction(action)

        add_menu = QMenu(self)
        add_menu.addAction(self.create_room_action)
        add_menu.addAction(self.browse_action)
        add_menu.addAction(self.dm_action)
        self.add_button.setMenu(add_menu)

        help_menu = bar.addMenu("&Help")
        about = QAction("About Parley", self)
        about.triggered.connect(self.on_about_action_triggered)
        help_menu.addAction(about)

        self.prev_room_shortcut = QShortcut(QKeySequence("Alt+Up"), self)
        self.next_room_shortcut = QShortcut(QKeySequence("Alt+Down"), self)

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
        # --- room list
        model = client.room_model
        model.rowsInserted.connect(self.on_room_model_changed)
        model.rowsRemoved.connect(self.on_room_model_changed)
        model.modelReset.connect(self.on_room_model_changed)
        model.dataChanged.connect(self.on_room_model_data_changed)
        self.room_list.roomActivated.connect(self.show_room)
        self.room_list.leaveRequested.connect(self.leave_room)
        self.room_list.inviteRequested.connect(self.open_invite)
        self.room_list.topicRequested.connect(self.open_set_topic)
        self.room_list.closeRequested.connect(self.close_room)
        self.prev_room_shortcut.activated.connect(lambda: self.room_list.step(-1))
        self.next_room_shortcut.activated.connect(lambda: self.room_list.step(1))
        # --- timeline
        self.timeline.loadOlderRequested.connect(self.on_timeline_load_older_requested)
        self.timeline.imageActivated.connect(self.open_image)
        self.timeline.retryRequested.connect(self.client.retry)
        self.timeline.discardRequested.connect(self.client.discard)
        self.timeline.mimeDropped.connect(self.composer_panel.add_mime)
        self.timeline.seenUpTo.connect(self.client.mark_seen)
        self.client.reads_follow_view = True  # `read` only up to what the timeline showed
        self.timeline.animations.fetcher = self.client.fetch_media
        # --- composer
        self.composer_panel.sendRequested.connect(self.on_composer_send_requested)
        self.composer_panel.typingActivity.connect(self.on_composer_typing_activity)
        # --- chrome
        self.members_button.toggled.connect(self.set_members_visible)
        self.members_action.toggled.connect(self.set_members_visible)
        self.banner.signInRequested.connect(self.signInRequested)

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
        """Show ``room_id`` in the timeline, members panel and header."""
        if room_id == self.current_room:
            return
        if self.current_room is not None:
            self.client.set_typing(self.current_room, False)
        self.current_room = room_id
        self.room_list.select_room(room_id)
        model = self.client.message_model(room_id)
        room = self.client.rooms.get(room_id)
        self.timeline.setModel(model)
        self.timeline.set_unread(room.unread if room is not None else 0)
        self.timeline.more_history = room_id not in self._no_more_history
        self.member_list.setModel(self.client.member_model(room_id))
        self.client.set_active_room(room_id)
        self.client.mark_read(room_id)
        self.settings.last_room = room_id
        self.composer_panel.set_typing_users(self.client.typing_users(room_id))
        self._update_header()
        self.update_title()
        if model.rowCount() == 0:
            self.on_timeline_load_older_requested()
        self.composer.setFocus()

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
            return
        prefix = "# " if room.kind == "public" else ""
        self.room_title.setText(prefix + room.name)
        topic = room.topic or ("Direct message" if room.kind == "dm" else "No topic yet")
        if room.kind == "private":
            topic = f"Private room · {topic}"
        self.room_topic.setText(topic)
        self.members_button.setText(str(room.members) if room.members else "")
        self.composer.setPlaceholderText(
            f"Message {room.name}" if room.kind == "dm" else f"Message #{room.name}"
        )

    def on_room_model_changed(self, *_args: object) -> None:
        self.update_title()
        if self.current_room is None:
            self._select_initial_room()
        elif self.client.room_model.row_of(self.current_room) is not None:
            self.room_list.select_room(self.current_room)

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

    def _mark_current_read(self) -> None:
        if self.current_room is not None and self.isActiveWindow():
            self.client.mark_read(self.current_room)

    @property
    def busy(self) -> bool:
        """True while a request started from the window is still running."""
        return any(not t.done() for t in self._tasks)

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

    def on_client_room_closed(self, room_id: str) -> None:
        self._no_more_history.discard(room_id)
        if room_id == self.current_room:
            self.current_room = None
            self.timeline.setModel(None)
            self.member_list.setModel(None)
            self._update_header()
            self._select_initial_room()
        self.update_title()

    def leave_room(self, room_id: str) -> None:
        self.run_task(self.client.leave_room(room_id))

    def close_room(self, room_id: str) -> None:
        room = self.client.rooms.get(room_id)
        name = room.name if room else room_id
        dialog = PromptDialog(
            "Close room",
            f"Closing #{name} deletes it and all its messages for everyone. Type the room name to confirm:",
            self,
            action="Close room",
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def confirmed(text: str) -> None:
            if text.strip().lstrip("#") != name:
                dialog.show_error("That is not the room's name.")
                return
            self.run_task(
                self.client.close_room(room_id), lambda _r: dialog.accept(), dialog.show_error
            )

        dialog.submitted.connect(confirmed)
        dialog.open()

    # ------------------------------------------------------------------ dialogs
    def _dialog_task(
        self,
        dialog: FormDialog,
        coro: Coroutine[Any, Any, Any],
        then: Callable[[Any], None] | None = None,
    ) -> None:
        def ok(result: Any) -> None:
            dialog.accept()
            if then is not None:
                then(result)

        self.run_task(coro, ok, dialog.show_error)

    def open_create_room(self) -> CreateRoomDialog:
        dialog = CreateRoomDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.createRequested.connect(
            lambda name, topic, private: self._dialog_task(
                dialog,
                self.client.create_room(name, topic, private),
                lambda room: self.show_room(room.id),
            )
        )
        dialog.open()
        return dialog

    def open_browse_rooms(self) -> BrowseRoomsDialog:
        dialog = BrowseRoomsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.joinRequested.connect(
            lambda room_id: self._dialog_task(
                dialog, self.client.join_room(room_id), lambda room: self.show_room(room.id)
            )
        )
        self.run_task(self.client.browse_rooms(), dialog.set_rooms, dialog.show_error)
        dialog.open()
        return dialog

    def open_new_message(self) -> PromptDialog:
        dialog = PromptDialog(
            "New message",
            "Send a direct message to (username):",
            self,
            action="Open",
            username=True,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.submitted.connect(
            lambda user: self._dialog_task(
                dialog, self.client.open_dm(user), lambda room: self.show_room(room.id)
            )
        )
        dialog.open()
        return dialog

    def open_invite(self, room_id: str) -> PromptDialog:
        dialog = PromptDialog(
            "Invite",
            "Add this person to the room (username):",
            self,
            action="Invite",
            username=True,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.submitted.connect(
            lambda user: self._dialog_task(dialog, self.client.invite(room_id, user))
        )
        dialog.open()
        return dialog

    def open_set_topic(self, room_id: str) -> PromptDialog:
        room = self.client.rooms.get(room_id)
        dialog = PromptDialog(
            "Set topic", "Topic:", self, text=room.topic if room else "", action="Save"
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.edit.setMaxLength(200)
        dialog.submitted.connect(
            lambda topic: self._dialog_task(dialog, self.client.set_topic(room_id, topic))
        )
        dialog.open()
        return dialog

    def open_quick_switcher(self) -> QuickSwitcher:
        switcher = QuickSwitcher(self.client.room_model, self)
        switcher.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        switcher.roomChosen.connect(self.show_room)
        switcher.open()
        return switcher

    def on_about_action_triggered(self) -> None:
        self.show_toast(f"Parley {__version__}: team chat with a bundled server.", error=False)

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

    def on_composer_send_requested(self, text: str, items: list[tuple[Attachment, str]]) -> None:
        room = self.current_room
        if room is None:
            self.composer_panel.show_error("Pick a room or a person on the left first.")
            return
        if len(items) == 1 and not items[0][1] and text:
            # One image and a typed line: the line is the image's caption.
            items = [(items[0][0], text)]
            text = ""
        for attachment, caption in items:
            self.client.send_image(room, attachment.data, attachment.name, caption)
        if text:
            self.client.send_text(room, text)
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

    def set_members_visible(self, visible: bool) -> None:
        self.members_panel.setVisible(visible)
        for control in (self.members_button, self.members_action):
            if control.isChecked() != visible:
                control.setChecked(visible)

    # ------------------------------------------------------------------ client state
    def on_client_connection_state_changed(self, state: str, retry_in_s: int) -> None:
        self.connection_status.set_state(state, retry_in_s)
        if state == "connected":
            self.banner.hide()

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

    def on_client_session_refused(self, _code: str, message: str) -> None:
        self.connection_status.set_state("refused", 0)
        self.banner.show_message(f"The server refused the session: {message}")

    def on_client_error_occurred(self, message: str) -> None:
        self.show_toast(message)

    def on_client_notice_received(self, text: str, level: str) -> None:
        self.show_toast(f"Notice: {text}", error=level == "warning")

    def on_client_message_received(self, room_id: str, msg: Message) -> None:
        on_screen = self.isActiveWindow() and room_id == self.current_room
        self.notifier.on_message(
            msg, self.client.rooms.get(room_id), self.client.username, on_screen
        )

    def on_notify_action_toggled(self, on: bool) -> None:
        self.settings.notifications_enabled = on

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
    def _restore_geometry(self) -> None:
        geometry = self.settings.window_geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(DEFAULT_SIZE)
        state = self.settings.window_state
        if state is not None:
            self.splitter.restoreState(state)

    def save_geometry(self) -> None:
        self.settings.window_geometry = self.saveGeometry()
        self.settings.window_state = self.splitter.saveState()
        self.settings.sync()

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
        """Overrides QWidget.closeEvent: remember the geometry; the app then quits."""
        self.save_geometry()
        self.notifier.hide()
        for task in list(self._tasks):
            task.cancel()
        for viewer in list(self.viewers):
            viewer.close()
        super().closeEvent(event)
        if event.isAccepted():
            self.closed.emit()
