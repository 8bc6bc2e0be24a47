"""AppSettings: the desktop app's preferences in ``<data_dir>/settings.ini`` (QSettings).

Holds the server URL, username, last room, window geometry/state, whether notifications
are on and which rooms are muted. The session token (so the user stays signed in) is a
secret: it lives in the OS keyring, or a 0600 file without one (``desktop.secrets``),
never in settings.ini; a token an older version left there is moved out on start. The
data dir is made 0700 and settings.ini 0600.
"""

from __future__ import annotations

import logging
from pathlib import Path

from platformdirs import user_data_dir
from PySide6.QtCore import QByteArray, QSettings

from desktop.secrets import SecretStore, ensure_private_dir, make_private_file

logger = logging.getLogger(__name__)

APP_NAME = "Parley"
DEFAULT_SERVER_URL = "http://127.0.0.1:8765"
_LEGACY_TOKEN_KEY = "connection/token"


def default_data_dir() -> Path:
    """The per-user data dir (``~/.local/share/Parley`` on Linux)."""
    return Path(user_data_dir(APP_NAME, appauthor=False))


class AppSettings:
    """Typed accessors over an ini-format QSettings file."""

    def __init__(self, data_dir: Path | None = None, secrets: SecretStore | None = None) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        ensure_private_dir(self.data_dir)
        self.path = self.data_dir / "settings.ini"
        self._qs = QSettings(str(self.path), QSettings.Format.IniFormat)
        self.secrets = secrets if secrets is not None else SecretStore(self.data_dir)
        self._migrate_token()
        make_private_file(self.path)

    def _migrate_token(self) -> None:
        """Move a token an older version kept in settings.ini into the secret store."""
        legacy = self._qs.value(_LEGACY_TOKEN_KEY)
        if legacy is None:
            return
        if legacy and not self.secrets.get("token"):
            self.secrets.set("token", str(legacy))
        self._qs.remove(_LEGACY_TOKEN_KEY)
        self.sync()
        logger.info("moved the session token out of settings.ini")

    # ----- connection
    @property
    def server_url(self) -> str:
        return self._str("connection/server_url", DEFAULT_SERVER_URL)

    @server_url.setter
    def server_url(self, value: str) -> None:
        self._qs.setValue("connection/server_url", value)

    @property
    def username(self) -> str:
        return self._str("connection/username", "")

    @username.setter
    def username(self, value: str) -> None:
        self._qs.setValue("connection/username", value)

    @property
    def token(self) -> str | None:
        return self.secrets.get("token")

    @token.setter
    def token(self, value: str | None) -> None:
        self.secrets.set("token", value or None)

    def clear_token(self) -> None:
        self.token = None

    @property
    def embedded_server(self) -> bool:
        """Whether the app runs its own server in-process (the "host a server" choice)."""
        return self._bool("connection/embedded_server", False)

    @embedded_server.setter
    def embedded_server(self, value: bool) -> None:
        self._qs.setValue("connection/embedded_server", bool(value))

    # ----- ui
    @property
    def last_room(self) -> str | None:
        return self._str("ui/last_room", "") or None

    @last_room.setter
    def last_room(self, value: str | None) -> None:
        if value:
            self._qs.setValue("ui/last_room", value)
        else:
            self._qs.remove("ui/last_room")

    @property
    def window_geometry(self) -> QByteArray | None:
        return self._bytes("ui/window_geometry")

    @window_geometry.setter
    def window_geometry(self, value: QByteArray) -> None:
        self._qs.setValue("ui/window_geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        return self._bytes("ui/window_state")

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self._qs.setValue("ui/window_state", value)

    @property
    def notifications_enabled(self) -> bool:
        return self._bool("ui/notifications", True)

    @notifications_enabled.setter
    def notifications_enabled(self, value: bool) -> None:
        self._qs.setValue("ui/notifications", bool(value))

    @property
    def theme(self) -> str:
        """The chosen theme: system, light or dark (View → Theme)."""
        value = self._str("ui/theme", "system")
        return value if value in ("system", "light", "dark") else "system"

    @theme.setter
    def theme(self, value: str) -> None:
        self._qs.setValue("ui/theme", value if value in ("system", "light", "dark") else "system")

    # ----- per-room notifications
    def is_room_muted(self, room: str) -> bool:
        """Whether ordinary messages in ``room`` stay quiet (DMs and mentions never do)."""
        return room in self.muted_rooms()

    def set_room_muted(self, room: str, muted: bool) -> None:
        rooms = self.muted_rooms()
        if muted:
            rooms.add(room)
        else:
            rooms.discard(room)
        if rooms:
            self._qs.setValue("notifications/muted_rooms", sorted(rooms))
        else:
            self._qs.remove("notifications/muted_rooms")
        self.sync()

    def muted_rooms(self) -> set[str]:
        value = self._qs.value("notifications/muted_rooms", [])
        if isinstance(value, str):  # QSettings hands a one-item list back as a string
            return {value} if value else set()
        if isinstance(value, list | tuple):
            return {str(v) for v in value if v}
        return set()

    def sync(self) -> None:
        """Write to disk now (QSettings also does it on its own) and keep the file 0600."""
        self._qs.sync()
        make_private_file(self.path)

    # ----- helpers
    @property
    def recent_emoji(self) -> list[str]:
        """The emoji picker's recently used reactions, most recent first."""
        return [e for e in self._str("ui/recent_emoji", "").split(" ") if e][:24]

    @recent_emoji.setter
    def recent_emoji(self, value: list[str]) -> None:
        self._qs.setValue("ui/recent_emoji", " ".join(e for e in value if e and " " not in e))

    def _str(self, key: str, default: str) -> str:
        value = self._qs.value(key, default)
        return str(value) if value is not None else default

    def _bool(self, key: str, default: bool) -> bool:
        value = self._qs.value(key, default)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)

    def _bytes(self, key: str) -> QByteArray | None:
        value = self._qs.value(key)
        if isinstance(value, QByteArray) and not value.isEmpty():
            return value
        if isinstance(value, bytes | bytearray) and value:
            return QByteArray(bytes(value))
        return None
