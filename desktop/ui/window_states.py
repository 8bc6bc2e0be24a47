"""What the conversation area shows when there is no conversation: the empty states.

``WindowStates`` is a mixin of MainWindow. Every state offers a way forward: signed out
or never signed in ("Start chatting here", "Sign in to a server…"), connecting, or signed
in without rooms ("Browse rooms…", "Create a room…", "New message…"). Nothing of the
last session stays on screen after signing out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop.net.client import ChatClient

if TYPE_CHECKING:
    from desktop.ui.window_actions import WindowActions as _Base
else:
    _Base = object

logger = logging.getLogger(__name__)


class WindowStates(_Base):
    """Mixin: see the module docstring."""

    client: ChatClient
    starting: bool

    if TYPE_CHECKING:  # provided by MainWindow
        localRequested: Any

    # ------------------------------------------------------------------ empty states
    def set_starting(self, starting: bool) -> None:
        """The startup controller is signing in (the empty state says "Connecting…")."""
        self.starting = starting
        self._update_empty_state()

    def _update_empty_state(self) -> None:
        """Show the conversation, or an empty state that offers the next step."""
        client = self.client
        # never signed in, dismissed the welcome, or signed out (logout forgets the token
        # before it disconnects)
        signed_out = client.state in ("offline", "refused") and not (
            client.username and client.token
        )
        if signed_out:
            self.user_label.setText("Not signed in")
            self.server_label.setText("Parley")
        if self.current_room is not None and not signed_out:
            self._show_conversation(True)
            return
        if signed_out and not self.starting:
            state = (
                "signed_out",
                "You are not signed in",
                "Chat on this computer's own server right away, or sign in to your team's server.",
                [("local", "Start chatting here"), ("sign_in", "Sign in to a server…")],
            )
        elif not client.is_connected:
            state = (
                "connecting",
                "Connecting…",
                "Your conversations appear as soon as the server answers.",
                [("sign_in", "Sign in to another server…")],
            )
        else:
            state = (
                "no_rooms",
                "No conversations yet",
                "Join a room, create one, or send someone a direct message.",
                [
                    ("browse", "Browse rooms…"),
                    ("create", "Create a room…"),
                    ("dm", "New message…"),
                ],
            )
        changed = self.empty_state.state != state[0]
        if changed:
            self.empty_state.set_state(*state)
        self._show_conversation(False, refocus=changed)

    def _show_conversation(self, shown: bool, refocus: bool = False) -> None:
        was_empty = self.empty_state.isVisibleTo(self)
        for widget in (self.header, self.timeline, self.composer_panel):
            widget.setVisible(shown)
        self.empty_state.setVisible(not shown)
        self.leave_action.setEnabled(shown)
        # no room, no members: the panel comes back with a room (as the user left it)
        wanted = shown and (self.members_button.isChecked() if self.narrow else self.members_wanted)
        if self.members_panel.isVisibleTo(self) != wanted:
            self.members_panel.setVisible(wanted)
        if not shown:
            focus = QApplication.focusWidget()
            if refocus or focus is None or not focus.isVisible() or not was_empty:
                buttons = list(self.empty_state.buttons.values())
                if buttons and self.isVisible():
                    buttons[0].setFocus(Qt.FocusReason.OtherFocusReason)

    def on_empty_state_action_triggered(self, key: str) -> None:
        actions: dict[str, Callable[[], object]] = {
            "local": self.localRequested.emit,
            "sign_in": self.signInRequested.emit,
            "browse": self.open_browse_rooms,
            "create": self.open_create_room,
            "dm": self.open_new_message,
        }
        action = actions.get(key)
        if action is not None:
            action()
