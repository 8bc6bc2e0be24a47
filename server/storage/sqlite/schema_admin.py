"""Schema version 5: account states and the account event feed (``parley-server admin``).

``users.disabled`` refuses an account's sign-ins and tokens; ``users.deleted_ms`` marks the
tombstone a deleted account leaves (its messages keep their sender and its name stays
taken); ``users.last_seen_ms`` is its last sign-in or token resume. ``account_events`` is
the feed running servers poll to end sessions and reload rooms (see
:mod:`server.storage.base_admin`).
"""

from __future__ import annotations

import sqlite3

from server.storage.sqlite.schema_v3 import split_script

ADMIN_SCHEMA = """
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN deleted_ms INTEGER;
ALTER TABLE users ADD COLUMN last_seen_ms INTEGER;
CREATE TABLE account_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ts INTEGER NOT NULL
);
CREATE INDEX tokens_by_user ON tokens(user_id);
"""


def migrate_account_states(conn: sqlite3.Connection) -> None:
    """Add the account columns and the event table (inside the migration's transaction)."""
    for statement in split_script(ADMIN_SCHEMA):
        conn.execute(statement)
