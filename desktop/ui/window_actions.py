"""The main window's menus, shortcuts and the dialogs they open.

``WindowActions`` is a mixin of MainWindow. Every dialog is opened with ``open()`` and its
request signal runs a ChatClient coroutine through ``run_task``; errors land inside the
dialog in plain words. Risky actions ask first: leaving a room says what it means (a
private room cannot be rejoined without an invite), closing one asks for its name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QMenu
from shiboken6 import isValid

from desktop.net.client import ChatClient
from desktop.settings import AppSettings
from desktop.state.types import Room
from desktop.ui import theme
from desktop.ui.dialogs import (
    AboutDialog,
    BrowseRoomsDialog,
    ConfirmDialog,
    CreateRoomDialog,
    FormDialog,
    PromptDialog,
)
from desktop.ui.people import ProfilePopover
from desktop.ui.search_panel import SearchController, SearchPanel
from desktop.ui.switcher import QuickSwitcher
from server import __version__

logger = logging.getLogger(__name__)

LICENCE = "MIT"

if TYPE_CHECKING:
    from desktop.ui.window_layout import WindowLayout as _Base
else:
    _Base = object


class WindowActions(_Base):
    """Mixin: see the module docstring."""

    client: ChatClient
    settings: AppSettings

    if TYPE_CHECKING:  # provided by MainWindow
        current_room: str | None
        signInRequested: Any
        signOutRequested: Any

        def run_task(
            self,
            coro: Coroutine[Any, Any, Any],
            on_done: Callable[[Any], None] | None = None,
            on_error: Callable[[str], None] | None = None,
        ) -> asyncio.Future[Any]: ...

        def show_room(self, room_id: str) -> None: ...

    # ------------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        bar = self.menuBar()
        app_menu = bar.addMenu("&Parley")
        self.sign_in_action = QAction("Sign in or host a server…", self)
        self.sign_in_action.triggered.connect(self.signInRequested)
        app_menu.addAction(self.sign_in_action)
        self.sign_out_action = QAction("Sign out…", self)
        self.sign_out_action.triggered.connect(self.confirm_sign_out)
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
        self.switch_action = QAction("Find a room or person…", self)
        self.switch_action.setShortcut(QKeySequence("Ctrl+K"))
        self.switch_action.triggered.connect(self.open_quick_switcher)
        self.leave_action = QAction("Leave this room…", self)
        self.leave_action.triggered.connect(
            lambda: self.current_room is not None and self.leave_room(self.current_room)
        )
        for action in (self.create_room_action, self.browse_action, self.dm_action):
            rooms.addAction(action)
        rooms.addSeparator()
        rooms.addAction(self.switch_action)
        self.search_action = QAction("Search this room…", self)
        self.search_action.setShortcut(QKeySequence("Ctrl+F"))
        self.search_action.triggered.connect(lambda: self.open_search(False))
        self.search_all_action = QAction("Search all rooms…", self)
        self.search_all_action.setShortcut(QKeySequence("Ctrl+Shift+F"))
        self.search_all_action.triggered.connect(lambda: self.open_search(True))
        rooms.addAction(self.search_action)
        rooms.addAction(self.search_all_action)
        rooms.addAction(self.leave_action)

        view = bar.addMenu("&View")
        self.members_action = QAction("Show members", self)
        self.members_action.setShortcut(QKeySequence("Ctrl+Shift+M"))
        self.members_action.setCheckable(True)
        self.members_action.setChecked(True)
        view.addAction(self.members_action)
        theme_menu = view.addMenu("Theme")
        self.theme_group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for key, label in (("system", "System"), ("light", "Light"), ("dark", "Dark")):
            action = QAction(label, self)
            action.setCheckable(True)
            action.setChecked(self.settings.theme == key)
            action.triggered.connect(lambda _checked=False, k=key: self.set_theme(k))
            self.theme_group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[key] = action
        for action in (self.switch_action, self.members_action, self.dm_action,
                       self.search_action, self.search_all_action):
            self.addAction(action)

        add_menu = QMenu(self)
        add_menu.addAction(self.create_room_action)
        add_menu.addAction(self.browse_action)
        add_menu.addAction(self.dm_action)
        self.add_button.setMenu(add_menu)

        help_menu = bar.addMenu("&Help")
        about = QAction("About Parley", self)
        about.triggered.connect(self.open_about)
        help_menu.addAction(about)

        self.prev_room_shortcut = QShortcut(QKeySequence("Alt+Up"), self)
        self.next_room_shortcut = QShortcut(QKeySequence("Alt+Down"), self)
        # Escape closes the members overlay (enabled only while it is open)
        self.close_overlay_shortcut = QShortcut(QKeySequence("Escape"), self)
        self.close_overlay_shortcut.setEnabled(False)

    # ------------------------------------------------------------------ preferences
    def set_theme(self, choice: str) -> None:
        """System, Light or Dark; applied at once and remembered."""
        self.settings.theme = choice
        self.settings.sync()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply_theme(app, choice)
        action = self.theme_actions.get(choice)
        if action is not None and not action.isChecked():
            action.setChecked(True)

    def set_room_muted(self, room_id: str, muted: bool) -> None:
        """The one way the UI mutes a room's notifications (the notifier reads the same
        setting through ``AppSettings.is_room_muted``)."""
        self.settings.set_room_muted(room_id, muted)
        self.settings.sync()
        self.room_list.viewport().update()

    def is_room_muted(self, room_id: str) -> bool:
        return self.settings.is_room_muted(room_id)

    def on_notify_action_toggled(self, on: bool) -> None:
        self.settings.notifications_enabled = on

    # ------------------------------------------------------------------ dialogs
    def _dialog_task(
        self,
        dialog: FormDialog,
        coro: Coroutine[Any, Any, Any],
        then: Callable[[Any], None] | None = None,
    ) -> None:
        def ok(result: Any) -> None:
            if isValid(dialog):  # the user may have closed it meanwhile
                dialog.accept()
            if then is not None:
                then(result)

        self.run_task(coro, ok, lambda message: _if_open(dialog, dialog.show_error, message))

    def known_people(self) -> list[str]:
        """Everyone we have seen in a member list or a DM, except ourselves."""
        own = (self.client.username or "").lower()
        seen: dict[str, str] = {}
        for room in self.client.rooms.joined():
            if room.kind == "dm":
                seen.setdefault(room.name.lower(), room.name)
            for member in self.client.members.members(room.id):
                seen.setdefault(member.name.lower(), member.name)
        seen.pop(own, None)
        return sorted(seen.values(), key=str.casefold)

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
        self.run_task(
            self.client.browse_rooms(),
            lambda rooms: _if_open(dialog, dialog.set_rooms, rooms),
            lambda message: _if_open(dialog, dialog.show_error, message),
        )
        dialog.open()
        return dialog

    def open_new_message(self) -> PromptDialog:
        dialog = PromptDialog(
            "New message",
            "Send a direct message to (username):",
            self,
            action="Open",
            username=True,
            known_users=self.known_people(),
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.submitted.connect(
            lambda user: self._dialog_task(
                dialog, self.client.open_dm(user), lambda room: self.show_room(room.id)
            )
        )
        dialog.open()
        return dialog

    def open_dm_with(self, user: str) -> None:
        """Open (or create) the DM with ``user`` and show it."""
        self.run_task(self.client.open_dm(user), lambda room: self.show_room(room.id))

    def open_invite(self, room_id: str) -> PromptDialog:
        dialog = PromptDialog(
            "Invite",
            "Add this person to the room (username):",
            self,
            action="Invite",
            username=True,
            known_users=self.known_people(),
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
        switcher = QuickSwitcher(
            self.client.room_model.rooms(), self.known_people(), self.client.username, self
        )
        switcher.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        switcher.roomChosen.connect(self.show_room)
        switcher.personChosen.connect(self.open_dm_with)
        switcher.joinChosen.connect(
            lambda room_id: self.run_task(
                self.client.join_room(room_id), lambda room: self.show_room(room.id)
            )
        )
        if self.client.is_connected:
            # the answer may come after the switcher closed (and deleted itself)
            self.run_task(
                self.client.browse_rooms(),
                lambda rooms: switcher.add_public_rooms(rooms) if isValid(switcher) else None,
                lambda _message: None,  # the switcher still finds what we have
            )
        switcher.open()
        return switcher

    def open_search(self, all_rooms: bool) -> SearchPanel:
        """Ctrl+F searches the room on screen, Ctrl+Shift+F every room (the panel is
        made on first use)."""
        search: SearchController | None = getattr(self, "search", None)
        if search is None:
            search = self.search = SearchController(self)  # type: ignore[arg-type]
        return search.open(all_rooms)

    def open_profile(self, name: str, at: QPoint) -> ProfilePopover:
        own = (self.client.username or "").lower()
        popover = ProfilePopover(
            name, self.client.members.is_online(name), name.lower() == own, self
        )
        popover.messageRequested.connect(self.open_dm_with)
        popover.popup_at(at)
        return popover

    def open_about(self) -> AboutDialog:
        url = self.client.url or "not connected"
        name = str(self.client.server_info.get("name") or "")
        server = f"{name} ({url})" if name else url
        dialog = AboutDialog(__version__, server, LICENCE, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def confirm_sign_out(self) -> ConfirmDialog:
        """Ask before signing out; say how to come back."""
        who = self.client.username or "you"
        where = self.client.url or "this server"
        dialog = ConfirmDialog(
            "Sign out",
            f"Sign {who} out of {where}? You can sign in again with your password, "
            "or start chatting on this computer's own server.",
            "Sign out",
            self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.confirmed.connect(dialog.accept)
        dialog.confirmed.connect(self.signOutRequested)
        dialog.open()
        return dialog

    # ------------------------------------------------------------------ leaving
    def leave_room(self, room_id: str) -> ConfirmDialog:
        """Ask, then leave. A private room cannot be rejoined without an invite: say so."""
        room = self.client.rooms.get(room_id)
        dialog = ConfirmDialog(*_leave_words(room, room_id), parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.confirmed.connect(lambda: self._dialog_task(dialog, self.client.leave_room(room_id)))
        dialog.open()
        return dialog

    def close_room(self, room_id: str) -> PromptDialog:
        room = self.client.rooms.get(room_id)
        name = room.name if room else room_id
        dialog = PromptDialog(
            "Close room",
            f"Closing #{name} deletes it and all its messages for everyone. "
            "Type the room name to confirm:",
            self,
            action="Close room",
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def confirmed(text: str) -> None:
            if text.strip().lstrip("#") != name:
                dialog.show_error("That is not the room's name.")
                return
            self.run_task(
                self.client.close_room(room_id),
                lambda _r: _if_open(dialog, lambda _x: dialog.accept(), None),
                lambda message: _if_open(dialog, dialog.show_error, message),
            )

        dialog.submitted.connect(confirmed)
        dialog.open()
        return dialog


def _if_open(dialog: Any, slot: Callable[[Any], None], value: Any) -> None:
    """Call ``slot(value)`` unless ``dialog`` was closed and deleted while we waited."""
    if isValid(dialog):
        slot(value)


def _leave_words(room: Room | None, room_id: str) -> tuple[str, str, str]:
    """(title, sentence, button) for leaving ``room``."""
    if room is not None and room.kind == "dm":
        return (
            "Leave conversation",
            f"Leave your conversation with {room.name}? It disappears from your list "
            "until one of you starts it again.",
            "Leave",
        )
    name = f"#{room.name}" if room is not None else f"#{room_id}"
    if room is not None and room.kind == "private":
        return (
            "Leave private room",
            f"Leave {name}? It is a private room: you cannot rejoin it unless "
            "someone in it invites you again.",
            "Leave room",
        )
    return (
        "Leave room",
        f"Leave {name}? You stop getting its messages. You can join it again any time "
        "from Browse rooms.",
        "Leave room",
    )
