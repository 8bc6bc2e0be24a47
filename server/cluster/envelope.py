"""Envelopes: what one node publishes on the Redis bus for the others.

An envelope is one Redis pub/sub message::

    b"P" + node id (16 ASCII hex) + kind (1 byte) + header length (4 bytes, big endian)
        + header (JSON) + for each binary value: length (4 bytes) + bytes

The node id comes first so a node drops its own publications without parsing them.
Binary values (thumbnails, images) travel as raw bytes after the JSON header, which holds
a ``{"\\u0000b": n}`` placeholder for the n-th one (JSON has no binary type, and base64
would cost every receiving node a decode).
"""

from __future__ import annotations

import struct
from typing import Any

import orjson

MAGIC = b"P"
NODE_ID_LEN = 16
_LEN = struct.Struct("!I")
_PLACEHOLDER = "\x00b"
_HEAD = 1 + NODE_ID_LEN + 1

# kinds
EMIT = b"e"  # an event to rooms / sids / everyone
CHANGE = b"c"  # a room change (message, message:updated) with its seq
ENTER = b"j"  # a user's sockets enter a room (membership changed)
LEAVE = b"l"  # a user's sockets leave a room
ROOMS = b"r"  # rooms whose cached state changed (topic, ...)
REVOKE = b"x"  # cut a user's sessions
UP = b"u"  # a user's first connection on a node
DOWN = b"d"  # a user's last connection on a node went
GONE = b"g"  # a node left the cluster (goodbye or expired heartbeat)
SYNC = b"s"  # a node's whole set of online users (after it re-registers)
PING = b"p"  # a node's own heartbeat round trip (bus lag)


class EnvelopeError(ValueError):
    """A message on the channel that is not an envelope of this version."""


def _strip(value: Any, blobs: list[bytes]) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        blobs.append(bytes(value))
        return {_PLACEHOLDER: len(blobs) - 1}
    if isinstance(value, dict):
        return {k: _strip(v, blobs) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strip(v, blobs) for v in value]
    return value


def _restore(value: Any, blobs: list[bytes]) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and _PLACEHOLDER in value:
            index = value[_PLACEHOLDER]
            if isinstance(index, int) and 0 <= index < len(blobs):
                return blobs[index]
            raise EnvelopeError("bad binary placeholder")
        return {k: _restore(v, blobs) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v, blobs) for v in value]
    return value


def _has_binary(value: Any) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return True
    if isinstance(value, dict):
        return any(_has_binary(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_binary(v) for v in value)
    return False


def encode(node: bytes, kind: bytes, body: Any) -> bytes:
    """One envelope from ``node`` (16 bytes) of ``kind`` carrying ``body`` (JSON + bytes)."""
    blobs: list[bytes] = []
    if _has_binary(body):
        body = _strip(body, blobs)
    header = orjson.dumps(body)
    parts = [MAGIC, node, kind, _LEN.pack(len(header)), header]
    for blob in blobs:
        parts.append(_LEN.pack(len(blob)))
        parts.append(blob)
    return b"".join(parts)


def sender(raw: bytes) -> bytes:
    """The publishing node's id (checked before anything is parsed)."""
    if len(raw) < _HEAD + 4 or raw[:1] != MAGIC:
        raise EnvelopeError("not a Parley envelope")
    return raw[1 : 1 + NODE_ID_LEN]


def decode(raw: bytes) -> tuple[bytes, bytes, Any]:
    """``(node, kind, body)`` of an envelope; EnvelopeError when it is malformed."""
    node = sender(raw)
    kind = raw[_HEAD - 1 : _HEAD]
    (size,) = _LEN.unpack_from(raw, _HEAD)
    start = _HEAD + 4
    end = start + size
    if end > len(raw):
        raise EnvelopeError("truncated header")
    try:
        body = orjson.loads(raw[start:end])
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError("bad header") from exc
    if end == len(raw):
        return node, kind, body
    blobs: list[bytes] = []
    pos = end
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise EnvelopeError("truncated attachment")
        (n,) = _LEN.unpack_from(raw, pos)
        pos += 4
        if pos + n > len(raw):
            raise EnvelopeError("truncated attachment")
        blobs.append(raw[pos : pos + n])
        pos += n
    return node, kind, _restore(body, blobs)
