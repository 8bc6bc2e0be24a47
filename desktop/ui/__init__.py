"""Widgets and delegates of the Parley desktop app.

Everything here talks to the network only through ``ChatClient`` signals, slots and
coroutines; no widget touches the socket.
"""

from __future__ import annotations

from desktop.ui.pyside_workaround import protect_none_refcount

# Before any widget paints: see pyside_workaround for the PySide6 6.12.0 bug it covers.
protect_none_refcount()
