"""Switching servers from the Sign-in dialog never costs the session that works.

A wrong password, a server that is not there, or a port that is taken leaves the user
signed in where they were (connected, same name, same rooms), with exactly one error, in
the dialog. The dialog also leads back to this computer's own server.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QPushButton

from desktop.net.client import ChatClient
from desktop.settings import AppSettings
from desktop.ui.dialogs import SignInDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.startup import StartupController
from tests.desktop.conftest import PASSWORD
from tests.support.server_process import free_port


def _default_button(dialog: Any) -> QPushButton:
    return next(b for b in dialog.findChildren(QPushButton) if b.isDefault())


def _app(tmp_path: Path) -> tuple[AppSettings, ChatClient, MainWindow, StartupController]:
    settings = AppSettings(tmp_path / "data")
    client = ChatClient(settings.data_dir)
    window = MainWindow(client, settings)
    window.show()
    return settings, client, window, StartupController(client, settings, window)


def _still_signed_in(client: ChatClient, window: MainWindow, url: str, name: str) -> None:
    assert client.is_connected and client.state == "connected"
    assert client.url == url and client.username == name
    assert window.user_label.text() == f"Signed in as {name}"
    assert window.connection_status.plain_text() == "Connected"
    assert client.rooms.get("general") is not None


def test_a_failed_sign_in_keeps_the_working_session_with_one_error_in_the_dialog(
    start_test_server: Any, make_peer: Any, run: Any, qtbot: Any, tmp_path: Path
) -> None:
    home = start_test_server()
    other = start_test_server()
    make_peer(other, "erin")  # erin exists on the other server with the conftest password
    watcher = make_peer(home, "watcher")
    settings, client, window, controller = _app(tmp_path)
    errors: list[str] = []
    client.errorOccurred.connect(errors.append)
    client.sessionRefused.connect(lambda _c, m: errors.append(m))
    try:
        dialog = controller.open_sign_in()
        dialog.url_edit.setText(home)
        dialog.user_edit.setText("alice")
        dialog.password_edit.setText(PASSWORD)
        _default_button(dialog).click()
        qtbot.waitUntil(lambda: client.is_connected and controller.dialog is None, timeout=15_000)
        _still_signed_in(client, window, home, "alice")
        run(watcher.call("message:send", {"room": "general", "client_id": "h1",
                                          "text": "from home"}))
        qtbot.waitUntil(lambda: any(m.text == "from home"
                                    for m in client.messages.messages("general")))

        def attempt(url: str, user: str, password: str) -> SignInDialog:
            dialog = controller.open_sign_in()
            dialog.url_edit.setText(url)
            dialog.user_edit.setText(user)
            dialog.password_edit.setText(password)
            _default_button(dialog).click()
            qtbot.waitUntil(dialog.error_label.isVisible, timeout=15_000)
            return dialog

        # a wrong password on another server
        dialog = attempt(other, "erin", "wrong password")
        assert dialog.error_label.text() == "Wrong password for erin"
        assert all(b.isEnabled() for b in dialog.findChildren(QPushButton))  # can try again
        _still_signed_in(client, window, home, "alice")
        # a server that is not there
        dead = f"http://127.0.0.1:{free_port()}"
        dialog.url_edit.setText(dead)
        dialog.password_edit.setText(PASSWORD)
        _default_button(dialog).click()
        qtbot.waitUntil(lambda: dead in dialog.error_label.text(), timeout=15_000)
        assert dialog.error_label.text() == f"Could not reach server at {dead}"
        _still_signed_in(client, window, home, "alice")
        # hosting on a port that is taken
        with socket.socket() as taken:
            taken.bind(("0.0.0.0", 0))  # noqa: S104 - the host tab binds every interface
            taken.listen()
            port = taken.getsockname()[1]
            dialog.tabs.setCurrentIndex(SignInDialog.HOST_TAB)
            dialog.host_user_edit.setText("alice")
            dialog.port_spin.setValue(port)
            _default_button(dialog).click()
            qtbot.waitUntil(lambda: f"Port {port}" in dialog.error_label.text(), timeout=15_000)
            assert dialog.error_label.text() == (
                f"Port {port} is already in use on this computer. Try another port.")
        _still_signed_in(client, window, home, "alice")
        assert controller.embedded is None
        # nothing of it reached the window or the client's own error signals: one error each
        assert errors == [] and not window.toast.isVisible() and not window.banner.isVisible()
        # the others still see alice online: her session never dropped
        members = run(watcher.call("room:members", {"room": "general"}))["members"]
        assert {"name": "alice", "online": True}.items() <= next(
            m for m in members if m["name"] == "alice").items()
        assert settings.server_url == home and settings.token

        # and a good sign-in then switches for real
        dialog.tabs.setCurrentIndex(SignInDialog.JOIN_TAB)
        dialog.url_edit.setText(other)
        dialog.password_edit.setText(PASSWORD)
        _default_button(dialog).click()
        qtbot.waitUntil(lambda: client.username == "erin" and client.is_connected,
                        timeout=15_000)
        assert client.url == other and window.user_label.text() == "Signed in as erin"
        assert settings.server_url == other
        # the other server's #general is not mixed with the one we left
        assert all(m.text != "from home" for m in client.messages.messages("general"))
    finally:
        run(controller.shutdown())
        window.close()


def test_the_sign_in_dialog_leads_back_to_this_computers_server(
    server_url: str, run: Any, qtbot: Any, tmp_path: Path
) -> None:
    settings, client, window, controller = _app(tmp_path)
    try:
        dialog = controller.open_sign_in()
        dialog.url_edit.setText(server_url)
        dialog.user_edit.setText("fay")
        dialog.password_edit.setText(PASSWORD)
        _default_button(dialog).click()
        qtbot.waitUntil(lambda: client.is_connected and controller.dialog is None, timeout=15_000)
        assert not settings.embedded_server

        dialog = controller.open_sign_in()
        dialog.tabs.setCurrentIndex(SignInDialog.LOCAL_TAB)
        assert _default_button(dialog).text() == "Use this computer"
        assert dialog.local_user_edit.text() == "fay"
        _default_button(dialog).click()
        qtbot.waitUntil(lambda: controller.dialog is None and client.is_connected
                        and client.url != server_url, timeout=15_000)
        assert controller.embedded is not None and controller.embedded.host == "127.0.0.1"
        assert client.url == controller.embedded.url and client.username == "fay"
        assert settings.embedded_server and settings.server_url == client.url
    finally:
        run(controller.shutdown())
        window.close()
