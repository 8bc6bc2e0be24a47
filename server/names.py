"""Look-alike usernames: a confusable skeleton in the spirit of Unicode TR39.

Usernames are ASCII (``A-Z a-z 0-9 _ . -``), so a small table covers what matters: the
glyphs that read alike in common UI fonts (capital I, lower-case l, 1 and i; O and 0;
``rn`` and ``m``; ``vv`` and ``w``; ``cl`` and ``d``), case, and punctuation at either end
or doubled (``alice.``, ``_alice``, ``al__ice``). Two names with the same skeleton cannot
both be registered. Deliberately broad: refusing an innocent near-twin costs a person a
second try; admitting ``aIice`` next to ``alice`` lets someone impersonate her.
"""

from __future__ import annotations

import re

_PUNCT = "._-"
_SEQUENCES = (("rn", "m"), ("vv", "w"), ("cl", "d"))
_GLYPHS = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l"})
_RUNS = re.compile(r"([._-])\1+")


def username_skeleton(name: str) -> str:
    """The form two look-alike names share (``aIice``, ``alice.`` and ``ALICE`` -> ``alice``)."""
    text = name.lower()
    stripped = text.strip(_PUNCT)
    text = stripped or text
    text = _RUNS.sub(r"\1", text)
    for seq, glyph in _SEQUENCES:
        text = text.replace(seq, glyph)
    return text.translate(_GLYPHS)
