"""The Parley chat server: protocol v1 over aiohttp + python-socketio.

This package must never import Qt or anything from ``desktop``: it runs on its own
(``parley-server``) as well as embedded in the desktop app.
"""

from __future__ import annotations

__version__ = "0.1.0"
