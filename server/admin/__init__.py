"""``parley-server admin …``: operator commands that talk to the database only.

They work on both backends (SQLite in ``--data-dir``, PostgreSQL with ``--database``) and
may run while servers run: what a running server must act on (a disabled user, revoked
tokens) reaches it through the database's account events, never through the server.

- :mod:`server.admin.commands`: the argument parser and the dispatch;
- :mod:`server.admin.users`: ``users …`` and ``tokens revoke``;
- :mod:`server.admin.data`: ``backup`` and ``export``.
"""

from __future__ import annotations

from server.admin.commands import main

__all__ = ["main"]
