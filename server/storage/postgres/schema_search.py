"""The search index's schema (PROTOCOL.md section 16): a tsvector per message, GIN-indexed.

It must find what the SQLite backend's FTS5 index (``unicode61 remove_diacritics 2``)
finds for the same data, so the text is cut into words the same way before PostgreSQL's
own parser sees it. :func:`parley_search_text` (SQL) lower-cases the text (ICU rules when
the server has them, whatever the database's locale), folds diacritics and ligatures with
``unaccent`` (which also drops combining marks, so a decomposed ``é`` folds like a
precomposed one), then turns every run of characters that are neither letters nor digits
into one space. What is left is words separated by spaces, which the ``parley_search``
configuration (``simple`` plus ``unaccent``) indexes one position each, so phrases and
prefixes work as in FTS5: ``e-mail`` is two words, ``don't`` too, ``alice@example.com``
three.

Known differences from FTS5, all at the edges: ``unaccent`` also expands ligatures and
``ß`` (``straße`` is found by ``strasse`` on PostgreSQL only), and characters FTS5 counts
as word characters but are not ``[:alnum:]`` (superscripts, vulgar fractions) separate
words here; a single word over 2,047 bytes is not indexed, and past word 16,383 of a
message positions stop counting (phrases that far in may be missed).

:func:`parley_search_query` (SQL) turns the handler's terms into one tsquery: a word term
``résu`` becomes ``'resu':*``, a word term with inner punctuation ``e-ma`` the phrase
``'e' <-> 'ma':*`` (as FTS5 reads ``"e-ma"*``), a phrase term ``"new york"`` the phrase
``'new' <-> 'york'``; terms are ANDed. A term with no word left in it matches nothing.

The index table ``message_search`` holds one row per searchable message (not system, not
deleted, text not empty) and is kept in step by a trigger on ``messages`` inside the
transaction that stores, edits or deletes a message; a purged message's row goes with it
(``ON DELETE CASCADE``). The room and sender ride along so a search filters on them
without reading messages.
"""

from __future__ import annotations

import asyncpg

_TOKEN_TYPES = (
    "asciiword, word, numword, asciihword, hword, numhword, hword_asciipart, hword_part,"
    " hword_numpart, email, url, host, url_path, file, sfloat, float, int, uint, version"
)


async def create_search_schema(conn: asyncpg.Connection) -> None:
    """Create the extension, configuration, functions, index table and trigger."""
    await conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    schema = await conn.fetchval(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'unaccent'"
    )
    ext = '"' + str(schema).replace('"', '""') + '"'
    icu = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')"
    )
    # case and character classes by Unicode's rules, not by the database's locale ("C"
    # would leave every non-ASCII letter alone)
    collate = 'COLLATE "und-x-icu"' if icu else ""
    for statement in (
        "CREATE TEXT SEARCH CONFIGURATION parley_search (COPY = pg_catalog.simple)",
        f"ALTER TEXT SEARCH CONFIGURATION parley_search ALTER MAPPING FOR {_TOKEN_TYPES}"
        f" WITH {ext}.unaccent, pg_catalog.simple",
        f"""
        CREATE FUNCTION parley_search_text(t text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT AS $$
            SELECT regexp_replace(
                {ext}.unaccent('{ext}.unaccent'::regdictionary, lower(t {collate})) {collate},
                '[^[:alnum:]]+', ' ', 'g')
        $$
        """,
        """
        CREATE FUNCTION parley_search_query(terms text[], phrases boolean[]) RETURNS tsquery
        LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
        DECLARE
            parts text[] := '{}';
            words text[];
            expr text;
        BEGIN
            FOR i IN 1 .. coalesce(array_length(terms, 1), 0) LOOP
                words := array_remove(
                    regexp_split_to_array(btrim(parley_search_text(terms[i])), ' '), '');
                IF coalesce(array_length(words, 1), 0) = 0 THEN
                    RETURN NULL;  -- no word in the term: it matches nothing
                END IF;
                SELECT string_agg('''' || w || '''', ' <-> ' ORDER BY n) INTO expr
                    FROM unnest(words) WITH ORDINALITY AS x(w, n);
                IF NOT coalesce(phrases[i], false) THEN
                    expr := expr || ':*';
                END IF;
                parts := parts || ('(' || expr || ')');
            END LOOP;
            IF coalesce(array_length(parts, 1), 0) = 0 THEN
                RETURN NULL;
            END IF;
            RETURN to_tsquery('parley_search', array_to_string(parts, ' & '));
        END
        $$
        """,
        """
        CREATE TABLE message_search (
            message_id BIGINT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            room_id TEXT NOT NULL,
            sender_id BIGINT,
            doc tsvector NOT NULL
        )
        """,
        "CREATE INDEX message_search_doc ON message_search USING GIN (doc)",
        "CREATE INDEX message_search_by_room ON message_search(room_id, message_id)",
        """
        CREATE FUNCTION parley_message_search_sync() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                DELETE FROM message_search WHERE message_id = OLD.id;
            END IF;
            IF NEW.kind <> 'system' AND NEW.deleted = 0 AND NEW.text <> '' THEN
                INSERT INTO message_search (message_id, room_id, sender_id, doc)
                VALUES (NEW.id, NEW.room_id, NEW.sender_id,
                        to_tsvector('parley_search', parley_search_text(NEW.text)));
            END IF;
            RETURN NULL;
        END
        $$
        """,
        "CREATE TRIGGER message_search_ai AFTER INSERT ON messages"
        " FOR EACH ROW EXECUTE FUNCTION parley_message_search_sync()",
        "CREATE TRIGGER message_search_au"
        " AFTER UPDATE OF text, kind, deleted, room_id, sender_id ON messages"
        " FOR EACH ROW EXECUTE FUNCTION parley_message_search_sync()",
    ):
        await conn.execute(statement)
