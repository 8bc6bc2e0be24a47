"""Entry point of the desktop app: ``main(argv) -> int`` and ``run()`` for the gui-script.

It creates (or reuses) the QApplication, runs everything on a ``qasync.QEventLoop``,
shows the main window, lets the startup controller sign in, and when the window closes
it disconnects, stops the embedded server and returns the exit code. Qt's own messages
are routed into ``logging`` so a clean run prints nothing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import qasync
from PySide6.QtCore import QSocketNotifier, QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

from desktop.cli import Options, parse_args
from server import logsafe

logger = logging.getLogger(__name__)
qt_logger = logging.getLogger("qt")

T = TypeVar("T")

# Harmless chatter of some platform plugins (offscreen, minimal), not worth a warning.
_QT_NOISE = ("propagateSizeHints", "QFont::setPointSizeF", "This plugin does not support")


def _qt_message_handler(mode: QtMsgType, _context: object, message: str) -> None:
    if any(noise in message for noise in _QT_NOISE):
        qt_logger.debug("%s", message)
    elif mode in (QtMsgType.QtWarningMsg,):
        qt_logger.warning("%s", message)
    elif mode in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
        qt_logger.error("%s", message)
    else:
        qt_logger.debug("%s", message)


def ensure_application() -> QApplication:
    """The running QApplication, or a new one named and iconed for Parley."""
    qInstallMessageHandler(_qt_message_handler)
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication([sys.argv[0] if sys.argv else "parley"])
    app.setApplicationName("Parley")
    app.setApplicationDisplayName("Parley")
    app.setOrganizationName("Parley")
    app.setDesktopFileName("parley")
    from desktop.ui import icons

    app.setWindowIcon(icons.icon("parley"))
    from desktop.gc_policy import GcSteward

    if app.findChild(GcSteward) is None:
        GcSteward(app)  # full GCs over a big history would stall floods (bench/gui_timeline.py)
    return app


def run_on_qasync(app: QApplication, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh qasync loop over ``app``, then close the loop."""
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    quit_on_close = app.quitOnLastWindowClosed()
    # The coroutine decides when to finish; Qt quitting under it would abort the loop.
    app.setQuitOnLastWindowClosed(False)
    try:
        return loop.run_until_complete(coro)
    finally:
        app.setQuitOnLastWindowClosed(quit_on_close)
        try:
            loop.run_until_complete(_drain())
        finally:
            loop.close()
            asyncio.set_event_loop(None)


async def _drain() -> None:
    """Cancel and await whatever tasks are left, so nothing warns at exit."""
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


async def _session(app: QApplication, opts: Options, password: str | None) -> int:
    from desktop.net.client import ChatClient
    from desktop.settings import AppSettings
    from desktop.ui.main_window import MainWindow
    from desktop.ui.startup import RemoteLogin, StartupController

    settings = AppSettings(opts.data_dir)
    from desktop.ui import theme

    theme.apply_theme(app, settings.theme)  # View → Theme: System, Light or Dark
    client = ChatClient(settings.data_dir)
    window = MainWindow(client, settings)
    remote = None
    if opts.server and opts.user and password is not None:
        remote = RemoteLogin(opts.server, opts.user, password)
    controller = StartupController(client, settings, window, remote)
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    _install_signal_handlers(window.close)
    window.show()
    starting = asyncio.ensure_future(controller.start())
    try:
        await closed.wait()
    finally:
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
        await controller.shutdown()
        window.deleteLater()
    return 0


def _install_signal_handlers(close: Any) -> None:
    """Ctrl+C / SIGTERM close the window like the Quit menu (clean shutdown).

    Python runs a signal handler only when the interpreter next gets control, and while Qt
    sleeps in its own poll() nothing gives it control. So the C-level handler's wakeup byte
    goes to a socket that a QSocketNotifier watches: Qt's poll() wakes on it at once and the
    window closes from an ordinary Qt slot, whatever the loop was doing.
    """
    app = QApplication.instance()
    try:
        signal.signal(signal.SIGINT, lambda *_: None)  # the byte on the wakeup fd does the work
        signal.signal(signal.SIGTERM, lambda *_: None)
    except ValueError:  # not the main thread (embedded use)
        return
    rsock, wsock = socket.socketpair()
    rsock.setblocking(False)
    wsock.setblocking(False)
    signal.set_wakeup_fd(wsock.fileno(), warn_on_full_buffer=False)
    notifier = QSocketNotifier(rsock.fileno(), QSocketNotifier.Type.Read, app)

    def on_wakeup() -> None:
        try:
            signals = rsock.recv(64)
        except BlockingIOError:
            return
        if signal.SIGINT in signals or signal.SIGTERM in signals:
            logger.debug("quit signal received; closing the window")
            close()

    notifier.activated.connect(on_wakeup)
    # the sockets live as long as the notifier that reads them
    _wakeup_sockets.extend((rsock, wsock))


# the signal wakeup socket pair, kept open for the life of the process
_wakeup_sockets: list[socket.socket] = []


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the app (or the self-test); returns the exit code."""
    try:
        opts = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse printed already
        return int(exc.code) if isinstance(exc.code, int) else 0 if exc.code is None else 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # the embedded server may host a LAN: a client's newline must not forge a log line here too
    logsafe.install()
    if opts.self_test:
        from desktop.selftest import run_self_test

        return run_self_test(opts)
    password: str | None = None
    if opts.server:
        try:
            password = opts.read_password()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"parley: cannot read the password file: {exc}", file=sys.stderr)
            return 2
    app = ensure_application()
    return run_on_qasync(app, _session(app, opts, password))


def run() -> None:
    """The ``parley`` gui-script entry point."""
    sys.exit(main(sys.argv[1:]))
