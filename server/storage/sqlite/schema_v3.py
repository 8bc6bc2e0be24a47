"""Schema version 3: the search index (PROTOCOL.md section 16) and uploads (section 17).

One migration step, :func:`migrate_search_and_files`, appended to
``server.storage.sqlite.schema.MIGRATIONS``. It runs inside the step's transaction, and
indexes every message already stored, so an upgraded server finds old messages too.
"""

from __future__ import annotations

import sqlite3

# A message is searchable when this holds for its row (``{r}`` is NEW or OLD).
_SEARCHABLE = "{r}.kind != 'system' AND {r}.deleted = 0 AND {r}.text != ''"
# The values a row is indexed under. The index is contentless (it keeps no copy of the
# text), so taking a row out means telling FTS5 exactly these values again ('delete').
_VALUES = "{r}.id, {r}.text, 'r' || hex({r}.room_id), 'u' || COALESCE({r}.sender_id, 0)"

SEARCH_SCHEMA = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS message_search USING fts5(
    body, rk, sk,
    content = '',
    columnsize = 0,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3 4 5 6'
);
CREATE TRIGGER IF NOT EXISTS message_search_ai AFTER INSERT ON messages
WHEN {_SEARCHABLE.format(r="NEW")}
BEGIN
    INSERT INTO message_search (rowid, body, rk, sk) VALUES ({_VALUES.format(r="NEW")});
END;
CREATE TRIGGER IF NOT EXISTS message_search_ad AFTER DELETE ON messages
WHEN {_SEARCHABLE.format(r="OLD")}
BEGIN
    INSERT INTO message_search (message_search, rowid, body, rk, sk)
    VALUES ('delete', {_VALUES.format(r="OLD")});
END;
CREATE TRIGGER IF NOT EXISTS message_search_au
AFTER UPDATE OF text, kind, deleted, room_id, sender_id ON messages
BEGIN
    INSERT INTO message_search (message_search, rowid, body, rk, sk)
    SELECT 'delete', {_VALUES.format(r="OLD")} WHERE {_SEARCHABLE.format(r="OLD")};
    INSERT INTO message_search (rowid, body, rk, sk)
    SELECT {_VALUES.format(r="NEW")} WHERE {_SEARCHABLE.format(r="NEW")};
END;
"""

_BACKFILL = f"""
INSERT INTO message_search (rowid, body, rk, sk)
SELECT {_VALUES.format(r="messages")} FROM messages
WHERE {_SEARCHABLE.format(r="messages")}
"""

UPLOADS_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    mime TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    message_id INTEGER UNIQUE,
    room_id TEXT
);
CREATE INDEX IF NOT EXISTS uploads_unused ON uploads(created_ms) WHERE message_id IS NULL;
CREATE INDEX IF NOT EXISTS uploads_by_user ON uploads(user_id) WHERE message_id IS NULL;
CREATE INDEX IF NOT EXISTS uploads_by_room ON uploads(room_id) WHERE room_id IS NOT NULL;
-- bytes to erase: filled by the transaction that deletes the message, emptied once erased
CREATE TABLE IF NOT EXISTS doomed_files (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS uploads_message_gone AFTER DELETE ON messages
BEGIN
    INSERT OR IGNORE INTO doomed_files (id) SELECT id FROM uploads WHERE message_id = OLD.id;
    DELETE FROM uploads WHERE message_id = OLD.id;
END;
CREATE TRIGGER IF NOT EXISTS uploads_message_deleted AFTER UPDATE OF deleted ON messages
WHEN NEW.deleted != 0
BEGIN
    INSERT OR IGNORE INTO doomed_files (id) SELECT id FROM uploads WHERE message_id = NEW.id;
    DELETE FROM uploads WHERE message_id = NEW.id;
END;
"""


# A new message is indexed by the insert itself (MessageStore._insert_one), in the same
# transaction: an AFTER INSERT trigger made SQLite open a statement journal for every insert,
# and FTS5 writes its pending index out at each one, so every message became an index segment
# of its own (twice the writer's CPU per message). Edits and deletes keep their triggers.
INDEX_NEW_MESSAGE = (
    "INSERT INTO message_search (rowid, body, rk, sk)"
    " VALUES (?, ?, 'r' || hex(?), 'u' || COALESCE(?, 0))"
)


def migrate_explicit_index_insert(conn: sqlite3.Connection) -> None:
    """Schema 4: new messages are indexed by the insert, not by a trigger (see above)."""
    conn.execute("DROP TRIGGER IF EXISTS message_search_ai")


def split_script(script: str) -> list[str]:
    """Statements of ``script``; a trigger body's inner ``;`` stays inside its statement."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        current += line
        if current.strip() and sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def migrate_search_and_files(conn: sqlite3.Connection) -> None:
    """Create the uploads table, the search index and the triggers; index stored messages."""
    for statement in split_script(UPLOADS_SCHEMA) + split_script(SEARCH_SCHEMA):
        conn.execute(statement)
    conn.execute("INSERT INTO message_search (message_search) VALUES ('delete-all')")
    conn.execute(_BACKFILL)
