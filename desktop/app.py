"""Entry point of the desktop app: ``main(argv) -> int`` and ``run()`` for the gui-script.

It creates (or reuses) the QApplication, runs everything on a ``qasync.QEventLoop``,
shows the main window, lets the startup controller sign in, and when the window closes
it disconnects, stops the embedded server and returns the exit code. Qt's own messages
are routed into ``logging`` so a clean run prints nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    from desktop.net.tasks import cancel_and_wait

    current = asyncio.current_task()
    await cancel_and_wait(*(t for t in asyncio.all_tasks() if t is not current))


async def _session(app: QApplication, opts: Options, password: str | None,
                   quit_signals: list[int]) -> int:
    from desktop.net.client import ChatClient
    from desktop.net.tasks import cancel_and_wait
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
    if quit_signals:  # Ctrl+C or SIGTERM while the app was still loading
        logger.debug("quit signal received while starting; closing the window")
        window.close()
    starting = asyncio.ensure_future(controller.start())
    try:
        await closed.wait()
    finally:
        await cancel_and_wait(starting)  # not one cancel(): see desktop.net.tasks
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


def catch_quit_signals(quit_signals: list[int]) -> None:
    """Until the window exists, Ctrl+C and SIGTERM are only noted in ``quit_signals``
    (the window then closes at once): no KeyboardInterrupt traceback from the middle of
    an import, no SIGTERM kill in the middle of a write. ``python -m desktop`` does this
    before it imports Qt (desktop/__main__.py); the ``parley`` script does it here."""
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda number, _frame: quit_signals.append(number))
    except ValueError:  # not the main thread (embedded use)
        pass


def main(argv: list[str] | None = None, quit_signals: list[int] | None = None) -> int:
    """Parse the command line and run the app (or the self-test); returns the exit code.

    ``quit_signals``: the list ``catch_quit_signals`` fills (a quit asked for already)."""
    try:
        opts = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse printed already
        return int(exc.code) if isinstance(exc.code, int) else 0 if exc.code is None else 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # the embedded server may host a LAN: a client's newline must not forge a log line here too
    logsafe.install()
    if opts.self_test:
        from desktop.selftest import run_self_test

        if quit_signals is not None:  # no window to close: Ctrl+C stops it the usual way
            if quit_signals:
                return 130
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
        return run_self_test(opts)
    password: str | None = None
    if opts.server:
        try:
            password = opts.read_password()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"parley: cannot read the password file: {exc}", file=sys.stderr)
            return 2
    app = ensure_application()
    return run_on_qasync(app, _session(app, opts, password,
                                       quit_signals if quit_signals is not None else []))


def run(quit_signals: list[int] | None = None) -> None:
    """The ``parley`` gui-script entry point (and ``python -m desktop``'s, which has
    caught the quit signals earlier, into ``quit_signals``)."""
    if quit_signals is None:
        quit_signals = []
        catch_quit_signals(quit_signals)
    sys.exit(main(sys.argv[1:], quit_signals))
