"""Pure parts of reactions and mentions: the optimistic toggle, emoji search, @ candidates."""

from __future__ import annotations

from desktop.net.reactions import toggled
from desktop.state import emoji_data
from desktop.state.types import Message, reactions_from_wire
from desktop.ui.mention_complete import candidates


def test_toggle_keeps_the_servers_order_and_drops_empty_emoji() -> None:
    r = (("👍", ("bob",)), ("🎉", ("alice", "bob")))
    assert toggled(r, "👍", "alice", True) == (("👍", ("bob", "alice")), ("🎉", ("alice", "bob")))
    assert toggled(r, "🎉", "Alice", False) == (("👍", ("bob",)), ("🎉", ("bob",)))
    assert toggled(r, "😮", "alice", True)[-1] == ("😮", ("alice",))
    assert toggled((("👍", ("alice",)),), "👍", "alice", False) == ()
    assert toggled(r, "👍", "bob", True) == r  # setting the state one has changes nothing


def test_wire_reactions_and_mentions_are_read_defensively() -> None:
    assert reactions_from_wire([{"emoji": "👍", "users": ["a", 3]}, "x", {"users": []}]) == (
        ("👍", ("a",)),)
    assert reactions_from_wire(None) == ()
    v2 = Message.from_wire({"id": 1, "room": "r", "mentions": ["Alice", "@room"]})
    assert v2.mentions_user("alice") and v2.mentions_user("carol")  # @room is everyone
    assert Message.from_wire({"id": 1, "room": "r"}).mentions is None  # v1: unknown
    assert not Message.from_wire({"id": 1, "room": "r", "mentions": []}).mentions_user("a")


def test_emoji_search_matches_word_prefixes_and_puts_recent_first() -> None:
    assert "🎉" in emoji_data.search("party pop")
    assert emoji_data.search("tears joy")[0] == "😂"
    assert emoji_data.search("", ["🎉", "👍"])[:2] == ["🎉", "👍"]
    assert emoji_data.search("xyzzy") == []
    assert emoji_data.used(["a", "b", "c"], "b") == ["b", "a", "c"]
    assert len(emoji_data.used([str(i) for i in range(40)], "x")) == emoji_data.RECENT_LIMIT


def test_mention_candidates() -> None:
    names = ["bob", "Bea", "alice", "rob"]
    assert candidates(names, "b", "alice") == ["Bea", "bob", "rob"]  # prefixes first
    assert candidates(names, "", "alice")[0] == "room"
    assert "alice" not in candidates(names, "a", "alice")
    assert candidates(names, "ob") == ["bob", "rob"]  # contained, after the prefixes


def test_symbols_from_the_older_blocks_ask_for_the_emoji_form() -> None:
    assert "❤️" in emoji_data.search("heavy black heart")  # the quick bar's heart, too
    assert emoji_data.name_of("❤️") == "heavy black heart"
