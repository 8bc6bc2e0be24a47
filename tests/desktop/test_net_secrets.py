"""No secret in a readable file: the session token lives in the OS keyring (or a 0600 file
without one), an old token is moved out of settings.ini, and everything the app writes
sits in 0700 directories, with every file that holds a secret 0600."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from keyring.backend import KeyringBackend

from desktop.net.client import ChatClient
from desktop.secrets import SECRETS_FILE, SecretStore
from desktop.settings import AppSettings
from desktop.ui.main_window import MainWindow
from desktop.ui.startup import LOCAL_ACCOUNT_FILE, LocalAccount, StartupController


class DictKeyring(KeyringBackend):
    """A keyring backend held in memory: stands in for the desktop's Secret Service,
    which a headless test machine does not run. The code under test goes through the
    ``keyring`` backend API exactly as with the real one."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_token_left_in_settings_ini_moves_into_the_keyring(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    ini = data / "settings.ini"
    ini.write_text("[connection]\nusername=alice\ntoken=old-secret-token\n")
    ini.chmod(0o644)
    ring = DictKeyring()
    settings = AppSettings(data, secrets=SecretStore(data, backend=ring))
    assert settings.token == "old-secret-token" and settings.username == "alice"
    assert "old-secret-token" not in ini.read_text()
    assert list(ring.entries.values()) == ["old-secret-token"]
    assert not (data / SECRETS_FILE).exists()
    assert _mode(data) == 0o700 and _mode(ini) == 0o600
    settings.token = "new-token"
    settings.sync()
    assert "new-token" not in ini.read_text() and list(ring.entries.values()) == ["new-token"]
    settings.clear_token()
    assert ring.entries == {} and AppSettings(data, SecretStore(data, backend=ring)).token is None


def test_without_a_keyring_the_token_goes_to_a_0600_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data).mkdir()
    (data / "settings.ini").write_text("[connection]\ntoken=old-secret-token\n")
    settings = AppSettings(data, secrets=SecretStore(data, use_keyring=False))
    assert settings.token == "old-secret-token"
    secrets = data / SECRETS_FILE
    assert _mode(secrets) == 0o600 and "old-secret-token" in secrets.read_text()
    assert "old-secret-token" not in (data / "settings.ini").read_text()
    settings.clear_token()
    assert "old-secret-token" not in secrets.read_text()


def test_every_file_the_app_writes_keeps_its_secrets_private(
    run: Any, qtbot: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("PARLEY_KEYRING", "file")  # the fallback: secrets on disk, 0600
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)  # an older version made it world-readable
    old = LocalAccount("dana", "local-password-0123456789")
    old.save(data)
    (data / LOCAL_ACCOUNT_FILE).chmod(0o644)  # ... and this too
    settings = AppSettings(data)
    client = ChatClient(settings.data_dir)
    window = MainWindow(client, settings)
    window.show()
    controller = StartupController(client, settings, window)
    try:
        run(controller.start())
        qtbot.waitUntil(lambda: client.is_connected and window.current_room == "general",
                        timeout=15_000)
        old.save(data)  # saved again as every sign-in to the local server does
        token = settings.token
        assert token
        run(client.disconnect())
        client.send_text("general", "queued while offline")  # the outbox is on disk
        client.send_image("general", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "x.png")
        client.outbox.flush()
        window.save_geometry()
    finally:
        run(controller.shutdown())
        window.close()
    secrets = [token.encode(), old.password.encode()]
    checked = 0
    for path in [data, *data.rglob("*")]:
        if path.is_dir():
            if path == data or path.parent == data:
                assert _mode(path) == 0o700, path
            continue
        body = path.read_bytes()
        if any(s in body for s in secrets) or path.parent.name == "outbox":
            assert _mode(path) & 0o077 == 0, f"{path} is readable by others"
            checked += 1
        assert not any(s in body for s in secrets) or path.name in (
            SECRETS_FILE, LOCAL_ACCOUNT_FILE), f"a secret in {path}"
    assert checked >= 4  # secrets.json, local-account.json, outbox.json, the image
    assert token.encode() not in (data / "settings.ini").read_bytes()


class LockedKeyring(DictKeyring):
    """A keyring that is there but refuses (locked, or its daemon gone)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("the keyring is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("the keyring is locked")


def test_a_keyring_that_refuses_falls_back_to_the_private_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = AppSettings(data, secrets=SecretStore(data, backend=LockedKeyring()))
    settings.token = "tok-123"
    assert settings.token == "tok-123" and not settings.secrets.in_keyring
    assert _mode(data / SECRETS_FILE) == 0o600
    settings.server_url = "http://chat.example:8765"
    settings.sync()
    assert "tok-123" not in (data / "settings.ini").read_text()
