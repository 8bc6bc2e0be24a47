"""The SQLite schema and its versioned migrations (``PRAGMA user_version``).

A database is brought to :data:`SCHEMA_VERSION` at open by running, in order, every step
above its ``user_version``, each in its own transaction with the version bump, so a crash
mid-upgrade leaves a database at a whole version. A fresh database runs the same steps as
an upgraded one. A later feature appends a step: ``MIGRATIONS.append(step)``; never edit
a step that has shipped.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from server.names import username_skeleton
from server.storage.sqlite.schema_admin import migrate_account_states
from server.storage.sqlite.schema_v3 import (
    migrate_explicit_index_insert,
    migrate_search_and_files,
)

logger = logging.getLogger(__name__)

Migration = Callable[[sqlite3.Connection], None]

_V1 = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL DEFAULT '',
    owner_id INTEGER REFERENCES users(id)
);
CREATE TABLE members (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id),
    delivered INTEGER NOT NULL DEFAULT 0,
    read INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members(user_id);
CREATE TABLE images (
    id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    mime TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    thumb BLOB NOT NULL,
    thumb_mime TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX images_by_room ON images(room_id);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id TEXT NOT NULL,
    sender_id INTEGER,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    client_id TEXT,
    image_id TEXT,
    system_event TEXT,
    system_user TEXT,
    UNIQUE (sender_id, client_id)
);
CREATE INDEX messages_by_room ON messages(room_id, id);
"""

# Protocol v2 (sections 10-15): the room change counter, edits, tombstones, replies,
# mentions and reactions. Messages already stored get seqs 1..n in id order per room.
_V2 = """
ALTER TABLE rooms ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN edited_ts INTEGER;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
-- the wire list of mentions, space separated ("alice @room"); names hold no spaces
ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN mention_room INTEGER NOT NULL DEFAULT 0;
CREATE TABLE message_mentions (
    message_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    PRIMARY KEY (message_id, user_id)
) WITHOUT ROWID;
-- emoji_rank orders a message's emoji by first use (kept while anyone still has it), and
-- id orders the users of one emoji by when they reacted
CREATE TABLE reactions (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL,
    emoji TEXT NOT NULL,
    emoji_rank INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    UNIQUE (message_id, emoji, user_id)
);
UPDATE messages SET seq = numbered.rn
    FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY room_id ORDER BY id) AS rn
          FROM messages) AS numbered
    WHERE numbered.id = messages.id;
UPDATE rooms SET seq = (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room_id = rooms.id);
CREATE UNIQUE INDEX messages_by_room_seq ON messages(room_id, seq);
"""


def execute_script(conn: sqlite3.Connection, sql: str) -> None:
    """Run each statement of ``sql`` inside the caller's transaction.

    ``Connection.executescript`` would commit first; statements are split where
    ``sqlite3.complete_statement`` says one ends, so a trigger body's ``;`` is safe.
    """
    pending = ""
    for line in sql.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            conn.execute(pending)
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement: {pending[:80]!r}")


def _script(sql: str) -> Migration:
    return lambda conn: execute_script(conn, sql)


# MIGRATIONS[i] takes a database from version i to version i + 1.
MIGRATIONS: list[Migration] = [
    _script(_V1),
    _script(_V2),
    migrate_search_and_files,
    migrate_explicit_index_insert,
    lambda conn: _skeletons_then_account_states(conn),
]


def schema_version() -> int:
    return len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the database to the newest version; refuse one newer than this server."""
    target = schema_version()
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > target:
        raise RuntimeError(f"database schema {version} is newer than this server ({target})")
    while version < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version](conn)
            conn.execute(f"PRAGMA user_version={version + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        version += 1
        logger.info("database schema now at version %d", version)


def ensure_user_skeletons(conn: sqlite3.Connection) -> None:
    """Add ``users.skeleton`` (look-alike key, unique) to a database that lacks it.

    Existing users get theirs computed; when two existing names already look alike, the
    later one keeps NULL (it stays usable, but still blocks no one and is blocked by none).
    Kept outside ``MIGRATIONS`` (it checks the column itself), as it landed on main.
    """
    columns = {row[1] for row in conn.execute("PRAGMA table_info(users)")}
    if "skeleton" in columns:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        _add_user_skeletons(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _add_user_skeletons(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE users ADD COLUMN skeleton TEXT")
    seen: set[str] = set()
    for user_id, name in conn.execute("SELECT id, name FROM users ORDER BY id").fetchall():
        key = username_skeleton(name)
        if key in seen:
            logger.warning("existing user %s looks like an earlier user", name)
            continue
        seen.add(key)
        conn.execute("UPDATE users SET skeleton = ? WHERE id = ?", (key, user_id))
    conn.execute("CREATE UNIQUE INDEX users_by_skeleton ON users(skeleton)")


def _skeletons_then_account_states(conn: sqlite3.Connection) -> None:
    """Step 5. ``users.skeleton`` comes first where it is still missing, so the users
    table's columns are in the PostgreSQL table's order (a copy maps them one to one)."""
    if "skeleton" not in {row[1] for row in conn.execute("PRAGMA table_info(users)")}:
        _add_user_skeletons(conn)
    migrate_account_states(conn)
