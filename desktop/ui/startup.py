"""Getting signed in: the embedded server by default, a remote one when configured.

``StartupController.start()`` decides once at launch:

- ``--server/--user/--password-file`` on the command line: sign in to that server;
- a remote server remembered from an earlier sign-in (with its token): resume there;
- otherwise run the embedded server on 127.0.0.1 in the data dir and sign in as the local
  user, asking once for a display name (non-modal first-run dialog). The local user's
  random password lives in ``local-account.json`` in the data dir (mode 0600); the
  session token is kept in AppSettings.

The sign-in dialog (menu or refused-session banner) can switch to a remote server, host
one on the network (binds 0.0.0.0), or go back to this computer's own server. Every
switch tries the new connection first (``ChatClient.switch_to``) and keeps the working
session, and the running embedded server, until the new one is up, and for good if it
fails: the one error then shows in the dialog. Dialogs are opened with ``open()`` and
their signals drive coroutines, never ``exec()`` inside a coroutine.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt

from desktop.net.client import ChatClient
from desktop.net.embedded import EmbeddedServer
from desktop.net.tasks import cancel_and_wait
from desktop.settings import AppSettings
from desktop.ui.dialogs import FirstRunDialog, FormDialog, SignInDialog, lan_address
from desktop.ui.main_window import MainWindow

logger = logging.getLogger(__name__)

LOCAL_ACCOUNT_FILE = "local-account.json"
LOOPBACK = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - hosting for the LAN is the point


@dataclass
class LocalAccount:
    """The embedded server's local user and how the server is exposed."""

    username: str
    password: str
    host: str = LOOPBACK
    port: int = 0

    @classmethod
    def load(cls, data_dir: Path) -> LocalAccount | None:
        path = data_dir / LOCAL_ACCOUNT_FILE
        try:
            raw = json.loads(path.read_text("utf-8"))
            return cls(
                username=str(raw["username"]),
                password=str(raw["password"]),
                host=str(raw.get("host") or LOOPBACK),
                port=int(raw.get("port") or 0),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, data_dir: Path) -> None:
        path = data_dir / LOCAL_ACCOUNT_FILE
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file that was there
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "username": self.username,
                    "password": self.password,
                    "host": self.host,
                    "port": self.port,
                },
                fh,
            )


@dataclass
class RemoteLogin:
    url: str
    username: str
    password: str


class _Outcome(QObject):
    """Collects what went wrong during one connect attempt, in the client's own words."""

    def __init__(self, client: ChatClient) -> None:
        super().__init__()
        self.message = ""
        self.refused = False
        self._client = client
        client.sessionRefused.connect(self.on_client_session_refused)
        client.errorOccurred.connect(self.on_client_error_occurred)

    def on_client_session_refused(self, _code: str, message: str) -> None:
        self.message = message
        self.refused = True

    def on_client_error_occurred(self, message: str) -> None:
        self.message = self.message or message

    def close(self) -> None:
        self._client.sessionRefused.disconnect(self.on_client_session_refused)
        self._client.errorOccurred.disconnect(self.on_client_error_occurred)


class StartupController(QObject):
    """See the module docstring. ``embedded`` is the running EmbeddedServer, if any."""

    def __init__(
        self,
        client: ChatClient,
        settings: AppSettings,
        window: MainWindow,
        remote: RemoteLogin | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.client = client
        self.settings = settings
        self.window = window
        self.remote = remote
        self.embedded: EmbeddedServer | None = None
        self.dialog: FormDialog | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        window.signInRequested.connect(self.open_sign_in)
        window.signOutRequested.connect(self.on_window_sign_out_requested)
        window.localRequested.connect(self.on_window_local_requested)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                logger.error("sign-in step failed", exc_info=t.exception())

        task.add_done_callback(done)
        return task

    # ------------------------------------------------------------------ launch
    async def start(self) -> None:
        """Connect the way the command line and the settings say (see module docstring)."""
        self.window.set_starting(True)
        try:
            await self._start()
        finally:
            self.window.set_starting(False)

    async def _start(self) -> None:
        if self.remote is not None:
            ok, message = await self._sign_in_remote(
                self.remote.url, self.remote.username, self.remote.password
            )
            if not ok:
                self.window.show_toast(message or "Could not sign in.")
            return
        if not self.settings.embedded_server and self.settings.token and self.settings.username:
            # An unreachable server keeps being retried (the status shows the countdown).
            await self._connect(
                {"token": self.settings.token}, self.settings.server_url, keep_trying=True
            )
            return
        await self.start_embedded()

    async def start_embedded(self) -> None:
        account = LocalAccount.load(self.data_dir)
        url = await self._ensure_embedded(
            account.host if account else LOOPBACK, account.port if account else 0
        )
        if account is None:
            self.open_first_run()
            return
        if self.settings.token and self.settings.embedded_server:
            ok, _msg = await self._connect({"token": self.settings.token}, url)
            if ok:
                return
        ok, message = await self._connect(
            {"username": account.username, "password": account.password}, url
        )
        if ok:
            self._remember(url, embedded=True)
        else:
            self.window.show_toast(message or "Could not sign in to the local server.")

    async def _ensure_embedded(self, host: str, port: int) -> str:
        if self.embedded is not None and self.embedded.running:
            if self.embedded.host == host and (port == 0 or self.embedded.port == port):
                return str(self.embedded.url)
            await self.embedded.stop()
        self.embedded = EmbeddedServer(self.data_dir / "server", host=host, port=port)
        url = await self.embedded.start()
        if host == ALL_INTERFACES:
            # the server binds every interface; the client still talks over loopback
            url = url.replace(ALL_INTERFACES, LOOPBACK)
        return url

    async def _connect(
        self, auth: dict[str, str], url: str, keep_trying: bool = False
    ) -> tuple[bool, str]:
        """Connect; on failure stop retrying unless ``keep_trying`` and it was not a refusal."""
        outcome = _Outcome(self.client)
        try:
            ok = await self.client.connect_to(url, auth)
        finally:
            outcome.close()
        if not ok and (outcome.refused or not keep_trying):
            await self.client.disconnect()
        return ok, outcome.message

    def _remember(self, url: str, embedded: bool) -> None:
        self.settings.embedded_server = embedded
        self.settings.server_url = url
        self.settings.username = self.client.username or ""
        self.settings.token = self.client.token
        self.settings.sync()

    async def _sign_in_remote(self, url: str, username: str, password: str) -> tuple[bool, str]:
        ok, message = await self._connect({"username": username, "password": password}, url)
        if ok:
            self._remember(url, embedded=False)
            await self._stop_embedded()
        return ok, message

    async def _stop_embedded(self, keep: EmbeddedServer | None = None) -> None:
        """Stop the embedded server we ran, unless it is ``keep``."""
        embedded = self.embedded
        if embedded is not None and embedded is not keep:
            self.embedded = keep
            await embedded.stop()
        self.embedded = keep

    async def _switch(self, dialog: FormDialog, url: str, auth: dict[str, str]) -> bool:
        """Sign in at ``url`` keeping the working session until the new one is up (and
        for good if it fails); a failure is shown once, in the dialog."""
        error = await self.client.switch_to(url, auth)
        if error is not None:
            dialog.show_error(error)
            return False
        return True

    def _track(self, dialog: FormDialog) -> None:
        """Remember the open dialog until it closes (it deletes itself then)."""
        self.dialog = dialog
        dialog.finished.connect(lambda _result: self._forget(dialog))

    def _forget(self, dialog: FormDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    # ------------------------------------------------------------------ first run
    def open_first_run(self) -> FirstRunDialog:
        dialog = FirstRunDialog(self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.nameChosen.connect(lambda name: self._spawn(self._first_run_sign_in(dialog, name)))
        dialog.joinInstead.connect(lambda: (dialog.close(), self.open_sign_in()))
        self._track(dialog)
        dialog.open()
        return dialog

    async def _first_run_sign_in(self, dialog: FirstRunDialog, name: str) -> None:
        account = LocalAccount(username=name, password=secrets.token_urlsafe(24))
        url = await self._ensure_embedded(LOOPBACK, 0)
        error = await self.client.switch_to(
            url, {"username": account.username, "password": account.password}
        )
        if error is not None:
            if "password" in error.lower() or "refused" in error.lower():
                error = f"The name {name} is already taken on this computer's server. Choose another."
            dialog.show_error(error)
            return
        account.save(self.data_dir)
        self._remember(url, embedded=True)
        dialog.accept()

    # ------------------------------------------------------------------ sign-in dialog
    def open_sign_in(self) -> SignInDialog:
        if isinstance(self.dialog, SignInDialog) and self.dialog.isVisible():
            self.dialog.raise_()
            return self.dialog
        account = LocalAccount.load(self.data_dir)
        dialog = SignInDialog(
            self.window,
            url="" if self.settings.embedded_server else self.settings.server_url,
            username=self.settings.username,
            local_username=account.username if account else self.settings.username,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.joinRequested.connect(
            lambda url, user, pw: self._spawn(self._join(dialog, url, user, pw))
        )
        dialog.hostRequested.connect(lambda port, user: self._spawn(self._host(dialog, port, user)))
        dialog.localRequested.connect(lambda user: self._spawn(self._use_local(dialog, user)))
        self._track(dialog)
        dialog.open()
        return dialog

    async def _join(self, dialog: SignInDialog, url: str, username: str, password: str) -> None:
        if not await self._switch(dialog, url, {"username": username, "password": password}):
            return
        self._remember(url, embedded=False)
        await self._stop_embedded()
        dialog.accept()

    async def _start_embedded_server(self, host: str, port: int
                                     ) -> tuple[EmbeddedServer, str, bool]:
        """(server, client url, is new): the running embedded server if it already is
        bound that way, else a new one started beside it (the old one keeps serving the
        current session until the switch is done)."""
        running = self.embedded
        if running is not None and running.running and running.host == host and (
            port == 0 or running.port == port
        ):
            return running, str(running.url).replace(ALL_INTERFACES, LOOPBACK), False
        server = EmbeddedServer(self.data_dir / "server", host=host, port=port)
        url = await server.start()
        # the server binds every interface; the client still talks over loopback
        return server, url.replace(ALL_INTERFACES, LOOPBACK), True

    async def _sign_in_embedded(
        self, dialog: FormDialog, account: LocalAccount, host: str, port: int
    ) -> bool:
        """Start (or reuse) the embedded server as ``host:port`` and switch to it; on any
        failure the current session and server stay as they were."""
        try:
            server, url, new = await self._start_embedded_server(host, port)
        except OSError as exc:
            dialog.show_error(_bind_error_text(exc, port))
            return False
        auth = {"username": account.username, "password": account.password}
        if not await self._switch(dialog, url, auth):
            if new:
                await server.stop()
            return False
        await self._stop_embedded(keep=server)
        account.host, account.port = host, port
        account.save(self.data_dir)
        self._remember(url, embedded=True)
        return True

    async def _host(self, dialog: SignInDialog, port: int, username: str) -> None:
        account = LocalAccount.load(self.data_dir)
        if account is None or account.username.lower() != username.lower():
            account = LocalAccount(username=username, password=secrets.token_urlsafe(24))
        if not await self._sign_in_embedded(dialog, account, ALL_INTERFACES, port):
            return
        dialog.accept()
        self.window.show_toast(
            f"Hosting: others on your network can join at http://{lan_address()}:{port}",
            error=False,
        )

    def on_window_local_requested(self) -> None:
        """Start chatting here: the embedded server (asking for a name the first time)."""
        if self.dialog is not None:
            self.dialog.raise_()
            self.dialog.activateWindow()
            return
        self._spawn(self._start_local())

    async def _start_local(self) -> None:
        self.window.set_starting(True)
        try:
            await self.start_embedded()
        finally:
            self.window.set_starting(False)

    async def _use_local(self, dialog: SignInDialog, username: str) -> None:
        """Back to this computer's own server, only for this user (loopback)."""
        account = LocalAccount.load(self.data_dir)
        if account is None or account.username.lower() != username.lower():
            account = LocalAccount(username=username, password=secrets.token_urlsafe(24))
        if await self._sign_in_embedded(dialog, account, LOOPBACK, 0):
            dialog.accept()

    def on_window_sign_out_requested(self) -> None:
        self._spawn(self._sign_out())

    async def _sign_out(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.logout()
        self.settings.clear_token()
        self.settings.sync()
        self.open_sign_in()

    # ------------------------------------------------------------------ shutdown
    async def shutdown(self) -> None:
        """Disconnect, then stop the embedded server; safe to call twice."""
        await cancel_and_wait(*self._tasks)  # one cancel() may be swallowed: desktop.net.tasks
        with contextlib.suppress(Exception):
            await self.client.disconnect()
        if self.embedded is not None:
            embedded, self.embedded = self.embedded, None
            with contextlib.suppress(Exception):
                await embedded.stop()


def _bind_error_text(exc: OSError, port: int) -> str:
    """Why the embedded server could not start, in words (not the socket's jargon)."""
    if not port:
        return f"The server on this computer could not start ({exc.strerror or exc})."
    if exc.errno == errno.EADDRINUSE:
        return f"Port {port} is already in use on this computer. Try another port."
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"Port {port} needs administrator rights here. Try a port above 1024."
    return f"Port {port} cannot be used ({exc.strerror or exc}). Try another port."
