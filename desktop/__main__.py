"""``python -m desktop``: the same as the ``parley`` command."""

from __future__ import annotations

import signal

if __name__ == "__main__":
    # Loading Qt and the app takes a second or more on a busy machine: a Ctrl+C or SIGTERM
    # meanwhile is noted (the window closes as soon as it exists), not a KeyboardInterrupt
    # traceback or a kill. desktop.app.catch_quit_signals does the same, after the imports.
    quit_signals: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _frame: quit_signals.append(number))

    from desktop.app import run

    run(quit_signals)
