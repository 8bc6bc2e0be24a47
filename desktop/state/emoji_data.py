"""The emoji the picker offers, from Python's own Unicode database (works offline).

Every code point of the emoji blocks that Unicode names as a symbol (category ``So``) is
an entry, named in lower case ("face with tears of joy"); ``search`` matches every word
of the query as a prefix of a word of the name. Recently used emoji come first and are
kept by the caller (persisted in the settings), at most ``RECENT_LIMIT``.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

RECENT_LIMIT = 24
QUICK = ("👍", "❤️", "😂", "🎉", "😮", "😢")

_RANGES = (
    (0x1F600, 0x1F64F),  # emoticons first: what people look for most
    (0x1F900, 0x1F9FF),
    (0x1F300, 0x1F5FF),
    (0x1F680, 0x1F6FF),
    (0x1FA70, 0x1FAFF),
    (0x2600, 0x26FF),
    (0x2700, 0x27BF),
)


@lru_cache(maxsize=1)
def all_emoji() -> tuple[tuple[str, str], ...]:
    """(emoji, lower-case name) for every named emoji symbol."""
    out = []
    for lo, hi in _RANGES:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            name = unicodedata.name(ch, "")
            if name and unicodedata.category(ch) == "So":
                # the older symbol blocks draw as text unless asked for the emoji form
                out.append((ch + "\ufe0f" if cp < 0x1F000 else ch, name.lower()))
    return tuple(out)


@lru_cache(maxsize=1)
def names() -> dict[str, str]:
    return dict(all_emoji())


def search(query: str, recent: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Emoji whose name has a word starting with each word of ``query``; recent first."""
    terms = query.lower().split()
    known = names()
    found = []
    for ch, name in all_emoji():
        words = name.split()
        if all(any(w.startswith(t) for w in words) for t in terms):
            found.append(ch)
    if not terms:
        head = [e for e in recent if e]
    else:
        head = [e for e in recent if e in known and e in found]
    seen = set(head)
    return head + [e for e in found if e not in seen]


def name_of(emoji: str) -> str:
    return unicodedata.name(emoji[:1], "").lower() if emoji else ""


def used(recent: list[str], emoji: str) -> list[str]:
    """``recent`` with ``emoji`` moved to the front, bounded."""
    return [emoji, *[e for e in recent if e != emoji]][:RECENT_LIMIT]
