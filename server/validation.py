"""Payload checks shared by the socket handlers and the HTTP API; each failure is bad_request."""

from __future__ import annotations

from typing import Any

from server.errors import bad_request
from server.protocol import MAX_CLIENT_ID_CHARS, is_valid_room_id, parse_dm_id

_MAX_ID = 2**63 - 1


def require_dict(payload: object) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise bad_request("The payload must be an object.")
    return payload


def require_room_id(value: object) -> str:
    if is_valid_room_id(value) or parse_dm_id(value) is not None:
        assert isinstance(value, str)
        return value
    raise bad_request("room must be a valid room id.")


def require_str(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str):
        raise bad_request(f"{key} must be a string.")
    return value


def optional_str(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{key} must be a string.")
    return value


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
    return value
