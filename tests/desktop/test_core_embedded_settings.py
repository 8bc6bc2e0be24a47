"""EmbeddedServer on the qasync loop, and AppSettings round trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray

from desktop.net.embedded import EmbeddedServer
from desktop.settings import AppSettings, default_data_dir


def test_embedded_server_serves_a_chat_client_and_stops(
    run: Any, make_client: Any, tmp_path: Path
) -> None:
    server = EmbeddedServer(tmp_path / "embedded")
    url = run(server.start())
    try:
        assert url.startswith("http://127.0.0.1:") and server.running
        client = make_client(url, "alice")
        assert client.rooms.get("general") is not None
        run(client.disconnect())
    finally:
        run(server.stop())
    assert not server.running and (tmp_path / "embedded" / "parley.sqlite3").exists()


def test_settings_round_trip_in_the_data_dir(tmp_path: Path) -> None:
    settings = AppSettings(tmp_path)
    assert settings.token is None and settings.notifications_enabled is True
    settings.server_url = "http://chat.example:8765"
    settings.username = "alice"
    settings.token = "secret-token"
    settings.last_room = "dev"
    settings.window_geometry = QByteArray(b"\x01\x02geom")
    settings.notifications_enabled = False
    settings.sync()
    assert (tmp_path / "settings.ini").exists()

    again = AppSettings(tmp_path)
    assert again.server_url == "http://chat.example:8765"
    assert again.username == "alice" and again.token == "secret-token"
    assert again.last_room == "dev" and again.notifications_enabled is False
    assert again.window_geometry == QByteArray(b"\x01\x02geom")
    again.clear_token()
    again.sync()
    assert AppSettings(tmp_path).token is None


def test_default_data_dir_is_named_for_the_app() -> None:
    assert default_data_dir().name == "Parley"
