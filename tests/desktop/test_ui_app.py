# ruff: noqa: F811  (pytest fixtures imported from ui_helpers are injected by name)
"""The entry point: command line, first run on the embedded server, the sign-in dialog
(join a server, errors in plain words) and ``parley --self-test`` as a real process."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QPushButton

from desktop import __version__
from desktop.app import main
from desktop.cli import parse_args
from desktop.net.client import ChatClient
from desktop.settings import AppSettings
from desktop.ui.dialogs import ConfirmDialog, FirstRunDialog, SignInDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.startup import LOCAL_ACCOUNT_FILE, StartupController

REPO = Path(__file__).resolve().parents[2]


def _default_button(dialog) -> QPushButton:
    return next(b for b in dialog.findChildren(QPushButton) if b.isDefault())


def test_cli_version_help_and_usage_errors(capsys, tmp_path):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"parley {__version__}"
    assert main(["--help"]) == 0
    assert "--password-file" in capsys.readouterr().out
    assert main(["--server", "http://h:1"]) == 2  # needs --user and --password-file
    assert "--user" in capsys.readouterr().err
    pw = tmp_path / "pw"
    pw.write_text("s3cret pass\n")
    opts = parse_args(
        [
            "--server",
            "http://h:1/",
            "--user",
            "ann",
            "--password-file",
            str(pw),
            "--data-dir",
            str(tmp_path),
        ]
    )
    assert opts.server == "http://h:1" and opts.user == "ann" and opts.data_dir == tmp_path
    assert opts.read_password() == "s3cret pass"
    assert (
        main(
            [
                "--server",
                "http://h:1",
                "--user",
                "ann",
                "--password-file",
                str(tmp_path / "missing"),
            ]
        )
        == 2
    )


def _app(tmp_path: Path, qtbot, remote=None):
    settings = AppSettings(tmp_path / "data")
    client = ChatClient(settings.data_dir)
    window = MainWindow(client, settings)
    window.show()
    controller = StartupController(client, settings, window, remote)
    return settings, client, window, controller


def test_first_run_on_the_embedded_server_then_signed_in_again_without_asking(run, qtbot, tmp_path):
    settings, client, window, controller = _app(tmp_path, qtbot)
    try:
        run(controller.start())
        dialog = controller.dialog
        assert isinstance(dialog, FirstRunDialog) and dialog.isVisible()
        dialog.name_edit.setText("!!!")
        _default_button(dialog).click()
        assert dialog.error_label.isVisible()
        assert "Latin letters" in dialog.error_label.text()
        dialog.name_edit.setText("dana")
        _default_button(dialog).click()
        qtbot.waitUntil(
            lambda: client.is_connected and window.current_room == "general", timeout=15_000
        )
        assert controller.dialog is None  # closed (and deleted) on success
        account = tmp_path / "data" / LOCAL_ACCOUNT_FILE
        assert json.loads(account.read_text())["username"] == "dana"
        assert stat.S_IMODE(account.stat().st_mode) == 0o600
        assert settings.embedded_server and settings.token
        assert controller.embedded is not None and controller.embedded.url.startswith(
            "http://127.0.0.1:"
        )
    finally:
        run(controller.shutdown())
        window.close()
    assert controller.embedded is None

    # The next launch signs in by itself.
    settings2, client2, window2, controller2 = _app(tmp_path, qtbot)
    try:
        run(controller2.start())
        assert controller2.dialog is None
        qtbot.waitUntil(lambda: client2.is_connected and client2.username == "dana", timeout=15_000)
        qtbot.waitUntil(lambda: window2.current_room == "general")
    finally:
        run(controller2.shutdown())
        window2.close()


def test_sign_in_dialog_joins_a_server_and_explains_failures(
    server_url, make_peer, run, qtbot, tmp_path
):
    make_peer(server_url, "erin")  # registers erin with the conftest password
    settings, client, window, controller = _app(tmp_path, qtbot)
    try:
        window.sign_in_action.trigger()
        dialog = controller.dialog
        assert isinstance(dialog, SignInDialog) and dialog.isVisible()

        dialog.url_edit.setText(server_url)
        dialog.user_edit.setText("erin")
        dialog.password_edit.setText("wrong password")
        _default_button(dialog).click()
        qtbot.waitUntil(dialog.error_label.isVisible, timeout=15_000)
        assert dialog.error_label.text()
        assert dialog.isVisible()

        dialog.url_edit.setText("http://127.0.0.1:9")  # nothing listens there
        dialog.password_edit.setText("correct horse battery")
        _default_button(dialog).click()
        qtbot.waitUntil(
            lambda: dialog.error_label.isVisible() and "127.0.0.1:9" in dialog.error_label.text(),
            timeout=15_000,
        )

        dialog.url_edit.setText(server_url)
        _default_button(dialog).click()
        qtbot.waitUntil(lambda: client.is_connected and client.username == "erin", timeout=15_000)
        assert controller.dialog is None  # closed (and deleted) on success
        assert settings.server_url == server_url and not settings.embedded_server and settings.token
    finally:
        run(controller.shutdown())
        window.close()


@pytest.mark.timeout(180)
def test_self_test_command_passes(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-m", "desktop", "--self-test"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "self-test passed" in proc.stdout
    assert "FAIL" not in proc.stdout
    assert proc.stderr.strip() == ""  # a clean run prints no warnings


def test_host_a_server_for_the_network_from_the_sign_in_dialog(run, qtbot, tmp_path):
    from tests.support.server_process import free_port

    settings, client, window, controller = _app(tmp_path, qtbot)
    port = free_port()
    try:
        dialog = controller.open_sign_in()
        dialog.tabs.setCurrentIndex(1)
        assert _default_button(dialog).text() == "Start hosting"
        dialog.host_user_edit.setText("gus")
        dialog.port_spin.setValue(port)
        assert f":{port}" in dialog.share_label.text()
        _default_button(dialog).click()
        qtbot.waitUntil(lambda: client.is_connected and client.username == "gus", timeout=15_000)
        assert controller.embedded is not None and controller.embedded.host == "0.0.0.0"
        assert window.toast.isVisible() and f":{port}" in window.toast.text()
        account = json.loads((tmp_path / "data" / LOCAL_ACCOUNT_FILE).read_text())
        assert (account["username"], account["host"], account["port"]) == ("gus", "0.0.0.0", port)
    finally:
        run(controller.shutdown())
        window.close()


def test_dismissing_the_welcome_leaves_a_way_forward(run, qtbot, tmp_path):
    settings, client, window, controller = _app(tmp_path, qtbot)
    try:
        run(controller.start())
        dialog = controller.dialog
        assert isinstance(dialog, FirstRunDialog)
        dialog.reject()  # Escape / the close box
        qtbot.waitUntil(lambda: controller.dialog is None)
        assert window.empty_state.isVisible()
        assert window.empty_state.state == "signed_out"
        window.empty_state.buttons["local"].click()  # "Start chatting here"
        qtbot.waitUntil(lambda: isinstance(controller.dialog, FirstRunDialog))
        controller.dialog.name_edit.setText("Ann Lee")
        _default_button(controller.dialog).click()
        qtbot.waitUntil(lambda: client.is_connected and window.current_room == "general",
                        timeout=15_000)
        assert client.username == "Ann-Lee"
        assert not window.empty_state.isVisible()

        # signing out of the embedded server: the window says so and offers the way back
        window.sign_out_action.trigger()  # asks first
        confirm = window.findChild(ConfirmDialog)
        assert confirm is not None and "Sign Ann-Lee out" in confirm.text_label.text()
        confirm.action_button.click()
        qtbot.waitUntil(lambda: controller.dialog is not None and window.empty_state.isVisible(),
                        timeout=15_000)
        assert window.empty_state.state == "signed_out"
        controller.dialog.reject()
        window.empty_state.buttons["local"].click()
        qtbot.waitUntil(lambda: client.is_connected and window.current_room == "general",
                        timeout=15_000)
    finally:
        run(controller.shutdown())
        window.close()
