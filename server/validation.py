"""Payload checks shared by the socket handlers and the HTTP API; each failure is bad_request."""

from __future__ import annotations

import os
import unicodedata
from typing import Any

from server.errors import bad_request
from server.protocol import MAX_CLIENT_ID_CHARS, is_valid_room_id, parse_dm_id

_MAX_ID = 2**63 - 1
# how deep require_dict looks for strings that cannot be stored (payloads are shallow)
_MAX_CHECK_DEPTH = 8


def encodable(value: str, key: str) -> str:
    """``value`` when it is valid Unicode text; a lone surrogate (``\ud800``) is bad_request.

    JSON escapes and Python strings can carry surrogates that UTF-8 cannot encode; they must
    be refused at the edge, never reach the store (where they fail a whole commit batch).
    """
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise bad_request(f"{key} must be valid Unicode text (no lone surrogates).") from None
    return value


def no_nul(value: str, key: str) -> str:
    """``value`` unless it holds a NUL: stored text never does (PostgreSQL refuses it)."""
    if "\x00" in value:
        raise bad_request(f"{key} cannot contain a NUL character.")
    return value


def check_strings(value: object, key: str = "payload", depth: int = 0) -> None:
    """Refuse any string, key or value, anywhere in a decoded payload that is not encodable."""
    if isinstance(value, str):
        encodable(value, key)
    elif isinstance(value, dict):
        if depth >= _MAX_CHECK_DEPTH:
            return
        for k, v in value.items():
            if isinstance(k, str):
                encodable(k, "a key")
            check_strings(v, k if isinstance(k, str) else key, depth + 1)
    elif isinstance(value, list | tuple):
        if depth >= _MAX_CHECK_DEPTH:
            return
        for item in value:
            check_strings(item, key, depth + 1)


def require_dict(payload: object) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise bad_request("The payload must be an object.")
    check_strings(payload)
    return payload


# bidi embeddings/overrides/isolates and marks that reorder how a name reads
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
MAX_FILENAME_CHARS = 255


def display_filename(name: str, fallback: str = "file") -> str:
    """A file name safe to show and to save as: one path component, no control characters.

    Drops any directory part (``/`` and ``\\``), control and format characters (NUL, CR/LF,
    bidi overrides such as U+202E that make ``cat\u202egnp.exe`` read as "catexe.png"),
    leading dots and surrounding spaces, and ``.``/``..``; caps it at 255 characters keeping
    the extension. What is left is never empty: ``fallback`` replaces nothing.
    """
    name = unicodedata.normalize("NFC", name)
    name = os.path.basename(name.replace("\\", "/"))
    cleaned = "".join(
        ch
        for ch in name
        if ch not in _BIDI_CONTROLS
        and unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp")
    )
    cleaned = cleaned.strip().lstrip(".").strip()
    if not cleaned:
        return fallback
    if len(cleaned) > MAX_FILENAME_CHARS:
        stem, dot, ext = cleaned.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            cleaned = stem[: MAX_FILENAME_CHARS - len(ext) - 1] + "." + ext
        else:
            cleaned = cleaned[:MAX_FILENAME_CHARS]
    return cleaned


def require_room_id(value: object) -> str:
    if is_valid_room_id(value) or parse_dm_id(value) is not None:
        assert isinstance(value, str)
        return value
    raise bad_request("room must be a valid room id.")


def require_str(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str):
        raise bad_request(f"{key} must be a string.")
    return encodable(value, key)


def optional_str(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{key} must be a string.")
    return None if value is None else encodable(value, key)


def optional_bool(payload: dict[str, Any], key: str) -> bool:
    value = payload.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"{key} must be true or false.")
    return value


def message_id(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_ID:
        raise bad_request(f"{key} must be a non-negative integer message id.")
    return value


def optional_message_id(payload: dict[str, Any], key: str) -> int | None:
    value = payload.get(key)
    return None if value is None else message_id(value, key)


def history_limit(value: object, maximum: int, default: int) -> int:
    if value is None:
        return min(default, maximum)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise bad_request(f"limit must be an integer from 1 to {maximum}.")
    return value


def client_id(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CLIENT_ID_CHARS:
        raise bad_request(f"client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters.")
    return encodable(value, "client_id")
