"""Parley desktop app: PySide6 widgets over a qasync-driven python-socketio client."""

from __future__ import annotations

from server import __version__

__all__ = ["__version__"]
