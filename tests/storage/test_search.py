"""Search (section 16) on both backends, and one dataset searched by both must give the
same answers: PostgreSQL's tsvector index and SQLite's FTS5 index agree."""

from __future__ import annotations

from pathlib import Path

from server.handlers.search import parse_query
from server.storage.base import NO_MENTIONS, MessageRecord, Storage
from server.storage.base_v2 import SearchTerm
from tests.storage.conftest import open_postgres, open_sqlite
from tests.storage.helpers import room, send, user
from tests.support.services import require_postgres, throwaway_database


async def ids(
    storage: Storage, query: str, rooms: list[str], sender: int | None = None
) -> list[int]:
    found, _ = await storage.search_messages(parse_query(query), rooms, sender, None, 50)
    return [m.id for m in found]


async def test_search_folds_case_and_accents_and_matches_prefixes(storage: Storage) -> None:
    alice = await user(storage, "alice")
    await room(storage, "r", [alice])
    cv = await send(storage, "r", alice, "Here is my Résumé, finally")
    naive = await send(storage, "r", alice, "a NAÏVE approach to e-mail")
    assert await ids(storage, "resume", ["r"]) == [cv.id]
    assert await ids(storage, "RÉSU", ["r"]) == [cv.id]
    assert await ids(storage, "naive", ["r"]) == [naive.id]
    assert await ids(storage, "e-mail", ["r"]) == [naive.id]
    assert await ids(storage, "mail", ["r"]) == [naive.id]
    assert await ids(storage, "sume", ["r"]) == []  # a prefix, not a substring
    assert await ids(storage, "m", ["r"]) == [naive.id, cv.id]  # my, mail: newest first


async def test_phrases_and_every_term(storage: Storage) -> None:
    alice = await user(storage, "alice")
    await room(storage, "r", [alice])
    ny = await send(storage, "r", alice, "I moved to New York last year")
    await send(storage, "r", alice, "new shoes for York")
    assert await ids(storage, '"new york"', ["r"]) == [ny.id]
    assert await ids(storage, '"new yor"', ["r"]) == []  # a phrase's words are whole
    assert len(await ids(storage, "new york", ["r"])) == 2
    assert await ids(storage, "york moved", ["r"]) == [ny.id]
    assert await ids(storage, "york missing", ["r"]) == []


async def test_search_filters_rooms_senders_and_pages(storage: Storage) -> None:
    alice, bob = await user(storage, "alice"), await user(storage, "bob")
    await room(storage, "a", [alice, bob])
    await room(storage, "b", [bob])
    found = [await send(storage, "a", alice if i % 2 else bob, f"report {i}") for i in range(6)]
    other = await send(storage, "b", bob, "report in b")
    assert await ids(storage, "report", ["a"]) == [m.id for m in reversed(found)]
    assert other.id in await ids(storage, "report", ["a", "b"])
    assert await ids(storage, "report", ["a"], sender=alice.id) == [
        m.id for m in reversed(found) if m.sender_id == alice.id
    ]
    page, more = await storage.search_messages(parse_query("report"), ["a"], None, None, 2)
    assert [m.id for m in page] == [found[5].id, found[4].id] and more
    page, more = await storage.search_messages(parse_query("report"), ["a"], None, found[2].id, 5)
    assert [m.id for m in page] == [found[1].id, found[0].id] and not more
    assert await ids(storage, "report", []) == []


async def test_edits_deletes_and_system_messages(storage: Storage) -> None:
    alice = await user(storage, "alice")
    await room(storage, "r", [alice])
    m = await send(storage, "r", alice, "original words")
    gone = await send(storage, "r", alice, "original but deleted")
    await send(storage, "r", None, "original system", system_event="join", system_user="x")
    await storage.edit_message("r", m.id, alice.id, "replacement text", NO_MENTIONS, 1)
    await storage.delete_message("r", gone.id, alice.id, moderator=False)
    assert await ids(storage, "original", ["r"]) == []
    assert await ids(storage, "replacement", ["r"]) == [m.id]
    await storage.delete_room("r")
    assert await ids(storage, "replacement", ["r"]) == []


# -- the same dataset on both backends ---------------------------------------------------------

DATASET = [
    ("lobby", "alice", "Résumé attached: please review before Friday."),
    ("lobby", "bob", "I updated my resume, RESUMES are due"),
    ("lobby", "carol", "Let's meet at the Café Müller in München"),
    ("lobby", "alice", "cafe? I prefer the café near the station"),
    ("lobby", "bob", "Send it to alice@example.com or bob_smith@example.org"),
    ("lobby", "carol", "The e-mail server is down; e-mails bounce (again)"),
    ("lobby", "alice", "New York, New York! It's a wonderful town"),
    ("lobby", "bob", "new shoes, old York"),
    ("lobby", "carol", "Ångström units and the naïve Zoë at the façade"),
    ("dev", "alice", "Deploy v2.3.1 to prod-eu-1 at 14:30 UTC"),
    ("dev", "bob", "The build #4512 failed: test_search_index timed out"),
    ("dev", "carol", "ÉCOLE, école, Ecole and ecole are one word here"),
    ("dev", "alice", "Don't touch the config.yaml file!!!"),
    ("dev", "bob", "Привет мир, Hello world"),
    ("dev", "carol", "日本語のテキスト and emoji 🎉 party"),
    ("secret", "alice", "the secret résumé plan for Friday"),
    ("secret", "bob", "deleted soon: résumé of the secret"),
    ("secret", "carol", "edited soon: wrong words"),
]
QUERIES = [
    "resume",
    "Résumé",
    "RESU",
    "resumes",
    "cafe",
    "café",
    "muller",
    "munchen",
    "MÜN",
    "e-mail",
    "e-ma",
    "mail",
    "emails",
    "alice@example.com",
    "example",
    "bob_smith",
    '"new york"',
    "new york",
    '"york new"',
    "york",
    "new",
    "angstrom",
    "naive",
    "zoe",
    "facade",
    "v2.3.1",
    "v2",
    "prod-eu",
    "14:30",
    "4512",
    "test_search",
    "ecole",
    "ÉCOLE",
    "don't",
    "dont",
    "don",
    "config.yaml",
    "yaml",
    "привет",
    "ПРИ",
    "мир",
    "world hello",
    '"hello world"',
    '"world hello"',
    "🎉 party",
    "party",
    "日本語",
    "secret",
    "friday",
    "replaced",
    "wrong",
    "soon",
    "the",
    "t",
    '"the secret"',
    "a",
    "1",
]


async def _load(storage: Storage) -> None:
    users = {n: await user(storage, n) for n in ("alice", "bob", "carol")}
    for r in ("lobby", "dev", "secret"):
        await room(storage, r, list(users.values()))
    sent: dict[str, MessageRecord] = {}
    for r, who, text in DATASET:
        sent[text] = await send(storage, r, users[who], text)
    # an edit, a delete, a system message: on both backends alike
    edited = sent["edited soon: wrong words"]
    await storage.edit_message(
        "secret", edited.id, users["carol"].id, "edited: replaced words", NO_MENTIONS, 1
    )
    deleted = sent["deleted soon: résumé of the secret"]
    await storage.delete_message("secret", deleted.id, users["bob"].id, moderator=False)
    await send(storage, "lobby", None, "resume system", system_event="join", system_user="x")


async def _answers(storage: Storage) -> dict[tuple[str, str], list[int]]:
    carol = await storage.get_user("carol")
    assert carol is not None
    out: dict[tuple[str, str], list[int]] = {}
    for query in QUERIES:
        terms: list[SearchTerm] = parse_query(query)
        for label, rooms, sender in (
            ("all", ["lobby", "dev", "secret"], None),
            ("member-of-two", ["lobby", "dev"], None),
            ("carol-only", ["lobby", "dev", "secret"], carol.id),
        ):
            found, _ = await storage.search_messages(terms, rooms, sender, None, 50)
            out[(query, label)] = [m.id for m in found]
    return out


async def test_postgres_finds_what_sqlite_finds(tmp_path: Path) -> None:
    require_postgres()
    lite = await open_sqlite(tmp_path)
    try:
        await _load(lite)
        expected = await _answers(lite)
    finally:
        await lite.close()
    async with throwaway_database() as url:
        pg = await open_postgres(url)
        try:
            await _load(pg)
            got = await _answers(pg)
        finally:
            await pg.close()
    # both stored the same messages under the same ids, so the answers compare as ids
    assert sum(1 for v in expected.values() if v) > len(QUERIES)  # the queries do find things
    differ = {k: (expected[k], got[k]) for k in expected if expected[k] != got[k]}
    assert differ == {}


async def test_a_query_is_only_ever_bound_not_parsed(storage: Storage) -> None:
    alice = await user(storage, "alice")
    await room(storage, "r", [alice])
    await send(storage, "r", alice, "x")
    hostile = [SearchTerm("') OR 1=1 --", False), SearchTerm('" OR * NEAR', True)]
    found, more = await storage.search_messages(hostile, ["r"], None, None, 10)
    assert found == [] and not more
