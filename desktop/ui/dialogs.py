"""Small dialogs: sign in / host, first run, create room, browse rooms, new message,
one-line prompts (invite, topic), confirmations and About. (The Ctrl+K switcher lives in
``switcher.py``.)

None of them does network work: each emits a request signal, and whoever opened it runs
the coroutine and calls ``show_error()`` (plain words, inside the dialog) or ``accept()``.
They are opened with ``open()``/``show()``, never ``exec()``, so no nested event loop runs
inside a coroutine.
"""

from __future__ import annotations

import logging
import re
import socket

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.state.types import Room
from desktop.ui import icons, theme
from desktop.ui.elided_label import ElidedLabel
from server.protocol import PASSWORD_MAX, PASSWORD_MIN, is_valid_username, slug_room_name

logger = logging.getLogger(__name__)

USERNAME_HINT = "1 to 32 letters, digits, dots, dashes or underscores"


def username_from(text: str) -> str:
    """The username a person typing ``text`` as their name gets ("Ann Lee" -> "Ann-Lee").

    Usernames are slugs (``USERNAME_RE``): runs of anything else become one dash. Returns
    "" when nothing usable is left (a name in another script, only symbols).
    """
    slug = re.sub(r"[^A-Za-z0-9_.\-]+", "-", text.strip()).strip("-._")
    return slug[:32].rstrip("-._")


def username_problem(text: str) -> str:
    """Why ``text`` cannot give a username, in words ("" when it can)."""
    if not text.strip():
        return "Type the name others should see."
    if not username_from(text):
        return (
            f"Usernames use Latin letters, digits, dots, dashes or underscores, and "
            f"“{text.strip()[:40]}” has none of them. Try a name such as “ann” or “ann.lee”."
        )
    return ""


def lan_address() -> str:
    """This machine's address on the local network (for "others can join at …")."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent, it only picks a route
            return str(s.getsockname()[0])
    except OSError:
        try:
            return socket.gethostbyname(socket.gethostname())
        except OSError:
            return "127.0.0.1"


class FormDialog(QDialog):
    """A dialog with an inline error line and a busy state."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setWindowIcon(icons.icon("parley"))
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(18, 16, 18, 14)
        self.layout_.setSpacing(10)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("dialogError")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {theme.DANGER.name()};")
        self.error_label.hide()

    def add_error_line(self) -> None:
        self.layout_.addWidget(self.error_label)

    def show_error(self, text: str) -> None:
        self.set_busy(False)
        self.error_label.setText(text)
        self.error_label.show()
        self._fit_height()

    def _fit_height(self) -> None:
        """Grow to fit wrapped text (a long error must not be cut off at the bottom)."""
        layout = self.layout_
        layout.activate()
        needed = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() else -1
        needed = max(needed, layout.totalMinimumSize().height())
        if needed > self.height():
            self.resize(self.width(), needed)

    def clear_error(self) -> None:
        self.error_label.hide()
        self.error_label.clear()

    def set_busy(self, busy: bool) -> None:
        for button in self.findChildren(QPushButton):
            button.setEnabled(not busy)


class SignInDialog(FormDialog):
    """Join a remote server, host one on this machine that others can join, or go back
    to this computer's own server.

    Signals: ``joinRequested(str url, str username, str password)``,
    ``hostRequested(int port, str username)``, ``localRequested(str username)``.
    """

    JOIN_TAB, HOST_TAB, LOCAL_TAB = 0, 1, 2

    joinRequested = Signal(str, str, str)
    hostRequested = Signal(int, str)
    localRequested = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        url: str = "",
        username: str = "",
        local_username: str = "",
    ) -> None:
        super().__init__("Sign in to Parley", parent)
        self.setObjectName("signInDialog")
        self.setMinimumWidth(440)
        self.tabs = QTabWidget(self)
        join = QWidget()
        form = QFormLayout(join)
        self.url_edit = QLineEdit(url or "http://", join)
        self.url_edit.setObjectName("serverUrl")
        self.user_edit = QLineEdit(username, join)
        self.user_edit.setObjectName("username")
        self.password_edit = QLineEdit(join)
        self.password_edit.setObjectName("password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Server address", self.url_edit)
        form.addRow("Username", self.user_edit)
        form.addRow("Password", self.password_edit)
        note = QLabel("New usernames are registered on first sign-in.", join)
        note.setStyleSheet(f"color: {theme.muted(self.palette()).name()};")
        form.addRow(note)
        self.tabs.addTab(join, "Join a server")

        host = QWidget()
        hform = QFormLayout(host)
        self.host_user_edit = QLineEdit(username, host)
        self.host_user_edit.setObjectName("hostUsername")
        self.port_spin = QSpinBox(host)
        self.port_spin.setRange(1024, 65535)
        self.port_spin.setValue(8765)
        hform.addRow("Your name", self.host_user_edit)
        hform.addRow("Port", self.port_spin)
        self.share_label = QLabel(host)
        self.share_label.setObjectName("shareAddress")
        self.share_label.setTextFormat(Qt.TextFormat.PlainText)
        self.share_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.share_label.setWordWrap(True)
        hform.addRow(self.share_label)
        self.port_spin.valueChanged.connect(self._update_share)
        self._update_share()
        self.tabs.addTab(host, "Host a server")

        local = QWidget()
        lform = QFormLayout(local)
        local_note = QLabel(
            "Chat on the server built into Parley, on this computer only. "
            "Nobody else can join it.",
            local,
        )
        local_note.setWordWrap(True)
        lform.addRow(local_note)
        self.local_user_edit = QLineEdit(local_username or username, local)
        self.local_user_edit.setObjectName("localUsername")
        lform.addRow("Your name", self.local_user_edit)
        self.tabs.addTab(local, "This computer")
        self.layout_.addWidget(self.tabs)
        self.add_error_line()

        self.buttons = QDialogButtonBox(self)
        self.ok_button = self.buttons.addButton("Sign in", QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok_button.setDefault(True)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        self.layout_.addWidget(self.buttons)
        self.tabs.currentChanged.connect(self.on_tabs_current_changed)

    def _update_share(self) -> None:
        self.share_label.setText(
            "Others on your network can join at "
            f"http://{lan_address()}:{self.port_spin.value()} once you start hosting."
        )

    def on_tabs_current_changed(self, index: int) -> None:
        labels = {self.HOST_TAB: "Start hosting", self.LOCAL_TAB: "Use this computer"}
        self.ok_button.setText(labels.get(index, "Sign in"))
        self.clear_error()

    def on_buttons_accepted(self) -> None:
        self.clear_error()
        if self.tabs.currentIndex() == self.LOCAL_TAB:
            name = self.local_user_edit.text().strip()
            if not is_valid_username(name):
                self.show_error(f"Choose a name: {USERNAME_HINT}.")
                return
            self.set_busy(True)
            self.localRequested.emit(name)
            return
        if self.tabs.currentIndex() == self.HOST_TAB:
            name = self.host_user_edit.text().strip()
            if not is_valid_username(name):
                self.show_error(f"Choose a name: {USERNAME_HINT}.")
                return
            self.set_busy(True)
            self.hostRequested.emit(self.port_spin.value(), name)
            return
        url = self.url_edit.text().strip()
        user = self.user_edit.text().strip()
        password = self.password_edit.text()
        if not url.startswith(("http://", "https://")) or len(url) < 10:
            self.show_error("Enter the server address, like http://192.168.1.20:8765.")
            return
        if not is_valid_username(user):
            self.show_error(f"The username must be {USERNAME_HINT}.")
            return
        if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
            self.show_error(f"The password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters.")
            return
        self.set_busy(True)
        self.joinRequested.emit(url.rstrip("/"), user, password)


class FirstRunDialog(FormDialog):
    """Asks once for the display name of the local user. Signals: ``nameChosen(str)``,
    ``joinInstead()``."""

    nameChosen = Signal(str)
    joinInstead = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Welcome to Parley", parent)
        self.setObjectName("firstRunDialog")
        self.setMinimumWidth(400)
        title = QLabel("Welcome to Parley", self)
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        title.setFont(font)
        self.layout_.addWidget(title)
        intro = QLabel(
            "Parley runs a chat server on this computer for you. What name should others see?",
            self,
        )
        intro.setWordWrap(True)
        self.layout_.addWidget(intro)
        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("displayName")
        self.name_edit.setPlaceholderText("e.g. Ann Lee")
        self.name_edit.setAccessibleName("Your name")
        self.name_edit.setMaxLength(64)
        self.layout_.addWidget(self.name_edit)
        self.username_label = QLabel(self)
        self.username_label.setObjectName("derivedUsername")
        self.username_label.setTextFormat(Qt.TextFormat.PlainText)
        self.username_label.setWordWrap(True)
        self.username_label.setStyleSheet(f"color: {theme.muted(self.palette()).name()};")
        self.layout_.addWidget(self.username_label)
        self.name_edit.textChanged.connect(self.on_name_edit_text_changed)
        self.on_name_edit_text_changed("")
        self.add_error_line()
        buttons = QDialogButtonBox(self)
        self.start_button = buttons.addButton(
            "Start chatting", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.start_button.setDefault(True)
        other = buttons.addButton("Join another server…", QDialogButtonBox.ButtonRole.ActionRole)
        other.clicked.connect(self.joinInstead)
        buttons.accepted.connect(self.on_buttons_accepted)
        self.layout_.addWidget(buttons)

    def on_name_edit_text_changed(self, text: str) -> None:
        """Show the username the typed name becomes (spaces and symbols become dashes)."""
        slug = username_from(text)
        self.username_label.show()
        if slug and slug != text.strip():
            self.username_label.setText(f"Your username will be {slug}.")
        elif slug:
            self.username_label.setText("")
        else:
            self.username_label.setText(f"Usernames are {USERNAME_HINT}.")
        self.clear_error()

    def on_buttons_accepted(self) -> None:
        problem = username_problem(self.name_edit.text())
        if problem:
            self.username_label.hide()  # the error says it all; no second hint under it
            self.show_error(problem)
            return
        self.set_busy(True)
        self.nameChosen.emit(username_from(self.name_edit.text()))


class CreateRoomDialog(FormDialog):
    """Signals: ``createRequested(str room_id, str topic, bool private)``."""

    createRequested = Signal(str, str, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Create a room", parent)
        self.setObjectName("createRoomDialog")
        self.setMinimumWidth(400)
        form = QFormLayout()
        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("roomName")
        self.name_edit.setAccessibleName("Room name")
        self.name_edit.setPlaceholderText("e.g. Design review")
        self.topic_edit = QLineEdit(self)
        self.topic_edit.setObjectName("roomTopic")
        self.topic_edit.setAccessibleName("Topic")
        self.topic_edit.setMaxLength(200)
        self.private_box = QCheckBox("Private: only people you invite can join", self)
        self.private_box.setObjectName("roomPrivate")
        self.slug_label = QLabel(self)
        self.slug_label.setStyleSheet(f"color: {theme.muted(self.palette()).name()};")
        form.addRow("Name", self.name_edit)
        form.addRow("", self.slug_label)
        form.addRow("Topic", self.topic_edit)
        form.addRow("", self.private_box)
        self.layout_.addLayout(form)
        self.add_error_line()
        buttons = QDialogButtonBox(self)
        create = buttons.addButton("Create", QDialogButtonBox.ButtonRole.AcceptRole)
        create.setDefault(True)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        self.layout_.addWidget(buttons)
        self.name_edit.textChanged.connect(self._update_slug)
        self._update_slug()

    def _update_slug(self) -> None:
        slug = slug_room_name(self.name_edit.text())
        self.slug_label.setText(f"Room id: #{slug}" if slug else "Letters, digits, - and _")

    def on_buttons_accepted(self) -> None:
        slug = slug_room_name(self.name_edit.text())
        if not slug:
            self.show_error("Give the room a name with at least one letter or digit.")
            return
        self.set_busy(True)
        self.createRequested.emit(
            slug, self.topic_edit.text().strip(), self.private_box.isChecked()
        )


class BrowseRoomsDialog(FormDialog):
    """Public rooms the user has not joined. Signals: ``joinRequested(str room_id)``."""

    joinRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Browse rooms", parent)
        self.setObjectName("browseRoomsDialog")
        self.resize(440, 380)
        self.list = QListWidget(self)
        self.list.setObjectName("browseRoomList")
        self.list.setAccessibleName("Public rooms")
        self.list.itemDoubleClicked.connect(self.on_list_item_double_clicked)
        self.layout_.addWidget(self.list)
        self.empty_label = QLabel("Loading rooms…", self)
        self.layout_.addWidget(self.empty_label)
        self.add_error_line()
        buttons = QDialogButtonBox(self)
        self.join_button = buttons.addButton("Join", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.accepted.connect(self.on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        self.layout_.addWidget(buttons)

    def set_rooms(self, rooms: list[Room]) -> None:
        self.list.clear()
        for room in rooms:
            label = f"#{room.name}  ·  {room.members} member{'s' if room.members != 1 else ''}"
            if room.topic:
                label += f"\n{room.topic}"
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, room.id)
            self.list.addItem(item)
        self.empty_label.setText("" if rooms else "You are in every public room already.")
        self.empty_label.setVisible(not rooms)
        if rooms:
            self.list.setCurrentRow(0)

    def on_list_item_double_clicked(self, item: QListWidgetItem) -> None:
        self.set_busy(True)
        self.joinRequested.emit(str(item.data(Qt.ItemDataRole.UserRole)))

    def on_buttons_accepted(self) -> None:
        item = self.list.currentItem()
        if item is None:
            self.show_error("Pick a room first.")
            return
        self.set_busy(True)
        self.joinRequested.emit(str(item.data(Qt.ItemDataRole.UserRole)))


class PromptDialog(FormDialog):
    """One line of input (a username for a DM or an invite, a topic).

    Signals: ``submitted(str text)``.
    """

    submitted = Signal(str)

    def __init__(
        self,
        title: str,
        label: str,
        parent: QWidget | None = None,
        text: str = "",
        action: str = "OK",
        username: bool = False,
        known_users: list[str] | None = None,
    ) -> None:
        super().__init__(title, parent)
        self.setMinimumWidth(380)
        self._username = username
        prompt = QLabel(label, self)
        prompt.setWordWrap(True)
        self.layout_.addWidget(prompt)
        self.edit = QLineEdit(text, self)
        self.edit.setObjectName("promptInput")
        self.edit.setAccessibleName(label.rstrip(":"))
        self.layout_.addWidget(self.edit)
        if known_users:
            # offer the people we know as the user types (Ctrl+N, invites)
            completer = QCompleter(sorted(set(known_users), key=str.casefold), self)
            completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
            completer.setFilterMode(Qt.MatchFlag.MatchContains)
            completer.setObjectName("peopleCompleter")
            self.edit.setCompleter(completer)
        self.add_error_line()
        buttons = QDialogButtonBox(self)
        ok = buttons.addButton(action, QDialogButtonBox.ButtonRole.AcceptRole)
        ok.setDefault(True)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        self.layout_.addWidget(buttons)

    def on_buttons_accepted(self) -> None:
        value = self.edit.text().strip()
        if self._username and not is_valid_username(value):
            self.show_error(
                f"“{value[:40]}” is not a username: a username is {USERNAME_HINT}"
                + (f" (perhaps {username_from(value)}?)" if username_from(value) else ".")
            )
            return
        self.set_busy(True)
        self.submitted.emit(value)


class ConfirmDialog(FormDialog):
    """A yes/no question in words, with the risky choice named on its button.

    Signals: ``confirmed()``.
    """

    confirmed = Signal()

    def __init__(self, title: str, text: str, action: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.setObjectName("confirmDialog")
        self.setMinimumWidth(380)
        self.text_label = QLabel(text, self)
        self.text_label.setObjectName("confirmText")
        self.text_label.setTextFormat(Qt.TextFormat.PlainText)
        self.text_label.setWordWrap(True)
        self.layout_.addWidget(self.text_label)
        self.add_error_line()
        buttons = QDialogButtonBox(self)
        self.action_button = buttons.addButton(action, QDialogButtonBox.ButtonRole.AcceptRole)
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setDefault(True)  # Enter must not leave a room by accident
        buttons.accepted.connect(self.on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        self.layout_.addWidget(buttons)

    def on_buttons_accepted(self) -> None:
        self.set_busy(True)
        self.confirmed.emit()


class AboutDialog(QDialog):
    """Help → About: version, the server signed in to, the licence."""

    def __init__(
        self, version: str, server: str, licence: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About Parley")
        self.setWindowIcon(icons.icon("parley"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(8)
        logo = QLabel(self)
        logo.setPixmap(icons.icon("parley").pixmap(64, 64))
        logo.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(logo)
        title = QLabel(f"Parley {version}", self)
        title.setObjectName("aboutTitle")
        font = title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.3)
        title.setFont(font)
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(title)
        self.lines: list[QLabel] = []
        for text in (
            "Team chat with its own server.",
            f"Server: {server}",
            f"Licence: {licence}",
        ):
            # the server's name is the server's to choose: elide it, never widen the dialog
            line = ElidedLabel(text, self)
            line.setAlignment(Qt.AlignmentFlag.AlignHCenter)
            line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(line)
            self.lines.append(line)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(340)
