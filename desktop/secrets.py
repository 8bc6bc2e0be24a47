"""SecretStore: the session token, kept out of every readable file.

It goes into the OS keyring (Secret Service, KWallet, macOS Keychain, Windows Credential
Locker) through the ``keyring`` package. Where no keyring backend is available (a bare
server, a CI box, a desktop without one) it falls back to ``<data_dir>/secrets.json``
written with mode 0600 in a 0700 data dir. Each data dir has its own entry, so two
profiles on one machine never share a session. Values are never logged.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SERVICE = "Parley"
SECRETS_FILE = "secrets.json"


def _usable_keyring() -> Any | None:
    """The keyring backend if a real one is there, else None (checked once per store)."""
    if os.environ.get("PARLEY_KEYRING", "").lower() in ("0", "off", "no", "file"):
        return None
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:  # pragma: no cover - a dependency, but a frozen build may lack it
        return None
    try:
        backend = keyring.get_keyring()
        # priority is computed: it raises when the backend cannot work here (for example
        # the Secret Service without a session bus)
        if isinstance(backend, fail.Keyring) or backend.priority <= 0:
            return None
    except Exception:  # noqa: BLE001 - any backend trouble means "no keyring"
        logger.info("no usable keyring backend")
        return None
    return backend


class SecretStore:
    """``get(name)``, ``set(name, value)``, ``delete(name)`` for one data dir."""

    def __init__(self, data_dir: Path, backend: Any | None = None, use_keyring: bool = True
                 ) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / SECRETS_FILE
        self._backend = backend if backend is not None else (
            _usable_keyring() if use_keyring else None)
        self._account_prefix = f"{self.data_dir.resolve()}:"

    @property
    def in_keyring(self) -> bool:
        return self._backend is not None

    def get(self, name: str) -> str | None:
        if self._backend is not None:
            try:
                value = self._backend.get_password(SERVICE, self._account_prefix + name)
            except Exception:  # noqa: BLE001 - a locked or broken keyring: use the file
                self._keyring_failed("read")
            else:
                if value:
                    return str(value)
        return self._read_file().get(name) or None

    def set(self, name: str, value: str | None) -> None:
        if not value:
            self.delete(name)
            return
        if self._backend is not None:
            try:
                self._backend.set_password(SERVICE, self._account_prefix + name, value)
            except Exception:  # noqa: BLE001
                self._keyring_failed("written")  # and on into the file, below
            else:
                self._drop_from_file(name)  # never two copies
                return
        data = self._read_file()
        data[name] = value
        self._write_file(data)

    def _keyring_failed(self, what: str) -> None:
        """Say it once, then stay with the file for the rest of this run."""
        logger.warning("the system keyring could not be %s; keeping the session in %s (0600)",
                       what, self.path)
        self._backend = None

    def delete(self, name: str) -> None:
        if self._backend is not None:
            try:
                self._backend.delete_password(SERVICE, self._account_prefix + name)
            except Exception:  # noqa: BLE001 - not there (or no keyring): nothing to delete
                logger.debug("no keyring entry to delete")
        self._drop_from_file(name)

    # ----- the fallback file
    def _read_file(self) -> dict[str, str]:
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}

    def _drop_from_file(self, name: str) -> None:
        data = self._read_file()
        if name in data:
            del data[name]
            self._write_file(data)

    def _write_file(self, data: dict[str, str]) -> None:
        """Write 0600 from the first byte (the mode is set before anything is written)."""
        ensure_private_dir(self.data_dir)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, self.path)


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700: only this user may look inside."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if (path.stat().st_mode & 0o777) != 0o700:
            path.chmod(0o700)
    except OSError:
        logger.warning("could not make %s private", path)
    return path


def make_private_file(path: Path) -> None:
    """0600 for a file someone else (QSettings) wrote."""
    try:
        if path.exists() and (path.stat().st_mode & 0o777) != 0o600:
            path.chmod(0o600)
    except OSError:
        logger.warning("could not make %s private", path)
