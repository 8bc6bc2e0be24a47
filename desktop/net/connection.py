"""The connection concern of ChatClient: signing in, staying connected, switching servers.

It owns the ``socketio.AsyncClient``. Reconnecting is its own loop (so it can count down,
switch to the session token and be woken early): after a loss it tries at once, then
backs off along ``reconnect_delays`` with jitter, never waiting more than
``RECONNECT_CAP_S``. It also retries at once when the user asks (``reconnect_now``), the
window regains focus, or the OS reports the network back (QNetworkInformation).

Switching to another server or account (``switch_to``) first signs in on a separate trial
socket; only once that worked is the current session dropped. A failure leaves the
working session exactly as it was and is returned to the caller (one error, where the
user asked), not broadcast.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import socketio
from PySide6.QtNetwork import QNetworkInformation

from desktop.net.core import ClientCore, RequestError
from desktop.net.tasks import cancel_and_wait
from server.protocol import ErrorCode, Event

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
# First retry after a loss is immediate; then these, each +-20 % jitter, capped.
RECONNECT_DELAYS_S: tuple[float, ...] = (1, 2, 4, 7, 10)
RECONNECT_CAP_S = 10.0
RECONNECT_JITTER = 0.2

Handler = Callable[..., Awaitable[None]]


class Refused(Exception):
    """The server refused these credentials (not worth retrying)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ConnectionMixin(ClientCore):
    """Connect, reconnect, sign in and out, switch servers (see the module doc)."""

    def _init_connection(self) -> None:
        self.reconnect_delays: tuple[float, ...] = RECONNECT_DELAYS_S
        self.reconnect_cap_s = RECONNECT_CAP_S
        # the delays the reconnect loop actually scheduled (newest last), for the UI/tests
        self.scheduled_delays: deque[float] = deque(maxlen=200)
        self._want_connected = False
        self._announced_session = False
        self._session_future: asyncio.Future[dict[str, Any]] | None = None
        self._refusal: tuple[str, str] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._wake_reconnect = asyncio.Event()
        self._watch_network()

    # ------------------------------------------------------------------ public
    async def connect_to(self, url: str, auth: dict[str, str]) -> bool:
        """Connect and sign in with ``{"username", "password"}`` or ``{"token"}`` (both:
        the token first, the password if the token is no longer accepted).

        Returns True once the session is up and caught up. On a refusal it emits
        sessionRefused and returns False. If the server cannot be reached it emits
        errorOccurred, keeps retrying in the background (state "reconnecting"), and
        returns False.
        """
        await self._disconnect()
        url = url.rstrip("/")
        if self._url is not None and url != self._url:
            self._forget_account()  # another server: its rooms and messages are not ours
        self._url = url
        self._auth = {k: v for k, v in auth.items() if k != "token"}
        self.token = auth.get("token") or None
        self._want_connected = True
        self._announced_session = False
        first: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._supervisor = asyncio.ensure_future(self._run(first))
        # a supervisor cancelled before its first step never runs _run's except clause
        self._supervisor.add_done_callback(lambda _task: _resolve(first, False))
        return await first

    async def switch_to(self, url: str, auth: dict[str, str]) -> str | None:
        """Sign in at ``url`` without losing the session we have; None on success, else
        the sentence to show. The current session is dropped only once a trial sign-in
        worked, so a wrong password or a dead server changes nothing."""
        url = url.rstrip("/")
        try:
            session = await self._probe(url, auth)
        except Refused as refused:
            return refused.message
        except RequestError as exc:
            return self._unreachable_text(exc, url)
        except (TimeoutError, OSError, socketio.exceptions.SocketIOError) as exc:
            return self._unreachable_text(exc, url)
        user = session.get("user") or {}
        name = str(user.get("name") or auth.get("username") or "")
        if self.username is not None and name.lower() != self.username.lower():
            self._forget_account()
        new_auth = {k: v for k, v in auth.items() if k != "token"}
        token = session.get("token")
        if token:
            new_auth["token"] = str(token)
        refusals: list[str] = []

        def on_refused(_code: str, message: str) -> None:
            refusals.append(message)

        self.sessionRefused.connect(on_refused)
        try:
            await self.connect_to(url, new_auth)
        finally:
            self.sessionRefused.disconnect(on_refused)
        if refusals:  # refused right after the trial said yes (revoked meanwhile)
            return refusals[0]
        return None  # up, or reconnecting to the new server (the status says so)

    async def _disconnect(self) -> None:
        """Close the connection and stop reconnecting; the outbox stays on disk.
        (``ChatClient.disconnect`` is the public name: PySide6 finds a ``disconnect``
        override only on the class itself, not on a mixin.)"""
        await self._flush_receipts_before_leaving()
        self._want_connected = False
        self._wake_reconnect.set()
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            # not one cancel() and gather(): a cancel that lands as the session comes up
            # is swallowed by a wait_for (desktop.net.tasks) and the supervisor then
            # waited for the connection to drop, and this for the supervisor, forever
            await cancel_and_wait(supervisor)
        await self._drop_connection()
        await self._cancel_tasks()
        self._stop_typing_timer()
        # unsent messages must be on disk before the app may exit (waited for off the loop)
        await asyncio.get_running_loop().run_in_executor(None, self.outbox.flush)
        if self.state != "offline":
            self._set_state("offline")

    async def logout(self) -> None:
        """Revoke this session's token on the server, then disconnect and forget it."""
        try:
            await self._call(Event.SESSION_LOGOUT, {})
        except RequestError as exc:
            logger.info("logout request failed (%s); forgetting the token anyway", exc.code)
        self.token = None
        self._auth = {}
        await self._disconnect()
        self.username = None
        self.messages.own_username = None
        self.messages.clear()
        self.rooms.replace_all([])

    def reconnect_now(self) -> None:
        """Skip the rest of the reconnect countdown (the banner's "Reconnect now")."""
        self._wake_reconnect.set()

    def next_reconnect_delay(self, failures: int) -> float:
        """The wait before attempt ``failures + 1``: the ladder, +-jitter, capped."""
        delays = self.reconnect_delays
        base = float(delays[min(failures, len(delays)) - 1]) if failures else 0.0
        jittered = base * random.uniform(1 - RECONNECT_JITTER, 1 + RECONNECT_JITTER)  # noqa: S311
        return min(self.reconnect_cap_s, jittered)

    # ------------------------------------------------------------------ immediate retries
    def _watch_network(self) -> None:
        """Retry at once when the OS says the network is back (where Qt can tell)."""
        try:
            if QNetworkInformation.instance() is None:
                QNetworkInformation.loadBackendByFeatures(
                    QNetworkInformation.Feature.Reachability)
            info = QNetworkInformation.instance()
        except RuntimeError:  # no backend on this platform
            info = None
        if info is not None:
            info.reachabilityChanged.connect(self.on_network_reachability_changed)

    def on_network_reachability_changed(self, reachability: QNetworkInformation.Reachability
                                        ) -> None:
        """Back online: reconnect now. Gone: say so now, rather than after the ping
        timeout (the socket of a vanished network can look open for most of a minute)."""
        if reachability in (QNetworkInformation.Reachability.Online,
                            QNetworkInformation.Reachability.Site,
                            QNetworkInformation.Reachability.Local):
            if self.state == "reconnecting":
                logger.info("network is back: reconnecting now")
                self.reconnect_now()
        elif reachability == QNetworkInformation.Reachability.Disconnected:
            if self._lost is not None and not self._lost.done() and self._ready:
                logger.info("the network is gone: connection lost")
                self._ready = False
                self._lost.set_result(None)

    def _on_window_focus_regained(self) -> None:
        if self.state == "reconnecting":
            self.reconnect_now()

    # ------------------------------------------------------------------ the loop
    async def _run(self, first: asyncio.Future[bool]) -> None:
        """Connect, wait for the connection to drop, count down, repeat."""
        failures = 0
        try:
            while self._want_connected:
                try:
                    await self._connect_once()
                except Refused as refused:
                    await self._drop_connection()
                    self._set_state("refused")
                    self._want_connected = False
                    self.sessionRefused.emit(refused.code, refused.message)
                    _resolve(first, False)
                    return
                except (TimeoutError, OSError, socketio.exceptions.SocketIOError,
                        RequestError) as exc:
                    logger.info("connection attempt failed: %s", type(exc).__name__)
                    await self._drop_connection()
                    if failures == 0 and not first.done():
                        self.errorOccurred.emit(self._unreachable_text(exc, self._url or ""))
                    failures += 1
                    _resolve(first, False)
                else:
                    failures = 0
                    _resolve(first, True)
                    if not self._want_connected:  # disconnecting: its cancel was swallowed
                        return
                    assert self._lost is not None
                    await asyncio.shield(self._lost)
                    await self._drop_connection()
                    if not self._want_connected:
                        break
                    # while away, nobody's presence is known: no stale green dots (the
                    # member lists are fetched again after the reconnect)
                    self.members.set_all_offline()
                    # the first retry after a loss is immediate: a restarted server or a
                    # blip needs no wait, and a dead one fails fast into the backoff
                    continue
                await self._count_down(failures)
        except asyncio.CancelledError:
            _resolve(first, False)
            raise

    async def _count_down(self, failures: int) -> None:
        delay = self.next_reconnect_delay(failures)
        self.scheduled_delays.append(delay)
        self._wake_reconnect.clear()
        remaining = delay
        while remaining > 0 and self._want_connected:
            self._set_state("reconnecting", max(1, round(remaining)))
            step = min(1.0, remaining)
            try:
                await asyncio.wait_for(self._wake_reconnect.wait(), step)
                return
            except TimeoutError:
                remaining -= step

    def _auth_payload(self) -> dict[str, str]:
        return {"token": self.token} if self.token else dict(self._auth)

    async def _connect_once(self) -> None:
        assert self._url is not None
        self._set_state("connecting")
        # catch-up anchors are taken before connecting: live messages that arrive while
        # we catch up must not move them, or the messages in between would be skipped
        anchors = {room: self.messages.newest_id(room) for room in self.messages.rooms()}
        self._seq_anchors = {room: self.messages.held_seq(room) for room in anchors}
        loop = asyncio.get_running_loop()
        sio = new_socket()
        self._sio = sio
        self._lost = loop.create_future()
        self._session_future = loop.create_future()
        self._refusal = None
        self._register_handlers(sio)
        auth = self._auth_payload()
        try:
            await sio.connect(self._url, auth=auth, transports=["websocket"],
                              wait_timeout=CONNECT_TIMEOUT_S)
        except socketio.exceptions.ConnectionError:
            refusal = self._refusal
            if refusal is not None and refusal[0] == ErrorCode.RATE_LIMITED:
                raise RequestError(refusal[0], refusal[1] or "Too many sign-in attempts") from None
            if refusal is not None:
                if "token" in auth and "password" in self._auth:
                    # the stored token expired or was revoked: fall back to the password
                    self.token = None
                    await self._drop_connection()
                    await self._connect_once()
                    return
                raise Refused(refusal[0], refusal_text(refusal, auth)) from None
            raise
        session = await asyncio.wait_for(asyncio.shield(self._session_future),
                                         CONNECT_TIMEOUT_S)
        self._on_session(session)
        await self._catch_up(anchors)
        self._ready = True
        self._set_state("connected")
        self._resume_receipts()
        self._start_typing_timer()
        self._start_flushing()
        self._send_read_if_visible()

    async def _drop_connection(self) -> None:
        self._ready = False
        await self._stop_flushing()
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        sio, self._sio = self._sio, None
        if sio is not None:
            await close_socket(sio)
        self._forget_typing()

    async def _probe(self, url: str, auth: dict[str, str]) -> dict[str, Any]:
        """Sign in on a separate socket and return the session (raises Refused or a
        connection error); the socket is closed again either way."""
        loop = asyncio.get_running_loop()
        session: asyncio.Future[dict[str, Any]] = loop.create_future()
        refusal: list[tuple[str, str]] = []
        sio = new_socket()

        async def on_session(data: Any = None) -> None:
            if isinstance(data, dict) and not session.done():
                session.set_result(data)

        async def on_connect_error(data: Any = None) -> None:
            found = _refusal_of(data)
            if found is not None:
                refusal.append(found)

        sio.on(str(Event.SESSION), on_session)
        sio.on("connect_error", on_connect_error)
        try:
            try:
                await sio.connect(url, auth=dict(auth), transports=["websocket"],
                                  wait_timeout=CONNECT_TIMEOUT_S)
            except socketio.exceptions.ConnectionError:
                if refusal and refusal[0][0] == ErrorCode.RATE_LIMITED:
                    raise RequestError(refusal[0][0], refusal[0][1]) from None
                if refusal:
                    raise Refused(refusal[0][0], refusal_text(refusal[0], auth)) from None
                raise
            return await asyncio.wait_for(session, CONNECT_TIMEOUT_S)
        finally:
            await close_socket(sio)

    def _on_session(self, session: dict[str, Any]) -> None:
        user = session.get("user") or {}
        username = str(user.get("name") or self._auth.get("username") or "")
        if self.username is not None and self.username.lower() != username.lower():
            self._forget_account()
        self.username = username
        self.messages.own_username = username
        for model in self._message_models.values():
            model.own_username = username
        self.token = session.get("token") or self.token
        self._apply_server_info(session)
        self._restore_outbox_echoes()
        if not self._announced_session:
            self._announced_session = True
            self.sessionStarted.emit(username)

    def _apply_server_info(self, session: dict[str, Any]) -> None:
        """Server name and limits from a ``session`` event: on every (re)connect, since
        the server may have been restarted with other limits."""
        server = session.get("server") or {}
        self._server_info = dict(server)
        self._limits = dict(server.get("limits") or {})
        self.limitsChanged.emit(dict(self._limits))

    def _forget_account(self) -> None:
        """Another server or account: drop what we know of the old one (not the outbox)."""
        self.messages.clear()
        self.rooms.replace_all([])
        for room in list(self._members_loaded):
            self.members.drop_room(room)
        self._members_loaded.clear()
        self._forget_typing()
        self._forget_state()

    # ------------------------------------------------------------------ server events
    def _event_handlers(self) -> dict[str, Handler]:
        return {
            **super()._event_handlers(),
            "connect_error": self._on_connect_error,
            "disconnect": self._on_disconnect,
            str(Event.SESSION): self._on_session_event,
            str(Event.NOTICE): self._on_notice_event,
        }

    def _register_handlers(self, sio: socketio.AsyncClient) -> None:
        for name, handler in self._event_handlers().items():
            sio.on(name, self._guarded(sio, handler))

    def _guarded(self, sio: socketio.AsyncClient, handler: Handler
                 ) -> Callable[..., Coroutine[Any, Any, None]]:
        """Ignore events from a socket we already dropped, and never let one raise."""

        async def run(*args: Any) -> None:
            if sio is not self._sio:
                return
            try:
                await handler(*args)
            except Exception:
                logger.exception("handler %s failed", getattr(handler, "__name__", handler))

        return run

    async def _on_connect_error(self, data: Any = None) -> None:
        found = _refusal_of(data)
        if found is not None:
            self._refusal = found

    async def _on_disconnect(self, reason: Any = None) -> None:
        logger.info("disconnected from server (%s)", reason)
        self._ready = False
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    async def _on_session_event(self, data: dict[str, Any]) -> None:
        if self._session_future is not None and not self._session_future.done():
            self._session_future.set_result(data)
        elif isinstance(data, dict):
            self._apply_server_info(data)  # the server re-announced itself mid-session

    async def _on_notice_event(self, data: dict[str, Any]) -> None:
        self.noticeReceived.emit(str(data.get("text") or ""), str(data.get("level") or "info"))

    # ------------------------------------------------------------------ words
    def _unreachable_text(self, exc: BaseException, url: str) -> str:
        if isinstance(exc, RequestError) and exc.code == ErrorCode.RATE_LIMITED:
            return f"The server at {url} is busy: {exc.message}. Retrying shortly."
        if isinstance(exc, RequestError):
            return f"The server at {url} did not answer: {exc.message}"
        return f"Could not reach server at {url}"


def new_socket() -> socketio.AsyncClient:
    """A Socket.IO client that leaves Ctrl+C to the app.

    By default python-socketio and engine.io take over SIGINT (a ``signal.signal`` handler
    and one on the running loop) and on Ctrl+C cancel every task and stop the loop under
    the app: the window never closes cleanly, the outbox flush is skipped, and quitting
    spills tracebacks and "packet queue is empty" errors onto stderr. The app has its
    own handler that closes the window, which disconnects cleanly.
    """
    return socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False,
                                handle_sigint=False)


async def close_socket(sio: socketio.AsyncClient) -> None:
    """Disconnect a socket (bounded: a server that stopped answering cannot hold us)."""
    try:
        await asyncio.wait_for(sio.disconnect(), 5)
    except (TimeoutError, OSError, socketio.exceptions.SocketIOError):
        logger.debug("socket disconnect did not finish cleanly")


def _refusal_of(data: Any) -> tuple[str, str] | None:
    """python-socketio hands a refusal over as {"message", "data": {"code", "message"}}
    or as the data itself."""
    if not isinstance(data, dict):
        return None
    nested = data.get("data")
    inner: dict[str, Any] = nested if isinstance(nested, dict) else data
    code = str(inner.get("code") or "")
    message = str(inner.get("message") or data.get("message") or "")
    return (code, message) if code else None


def refusal_text(refusal: tuple[str, str], auth: dict[str, str]) -> str:
    """The refusal in words a person understands."""
    code, message = refusal
    user = auth.get("username")
    if code == ErrorCode.UNAUTHORIZED:
        if "token" in auth:
            return "Your session has expired. Please sign in again."
        if user and (not message or "password" in message.lower()):
            return f"Wrong password for {user}"
        return f"Could not sign in as {user}: {message}" if user else message
    if code == ErrorCode.BAD_REQUEST:
        return message or "The server did not accept these sign-in details"
    return message or code


def _resolve(fut: asyncio.Future[bool], value: bool) -> None:
    if not fut.done():
        fut.set_result(value)

