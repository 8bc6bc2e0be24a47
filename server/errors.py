"""The one exception type handlers raise to answer an error ack or an HTTP error."""

from __future__ import annotations

from typing import Any

from server.protocol import ErrorCode


class ProtocolError(Exception):
    """A refusal the client should see: an error code from the protocol and plain words."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_wire(self) -> dict[str, Any]:
        # {"code": "bad_request", "message": "..."}
        return {"code": str(self.code), "message": self.message}


def bad_request(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, message)


def error_ack(code: ErrorCode, message: str) -> dict[str, Any]:
    """The failure ack ``{"ok": false, "error": {...}}``."""
    return {"ok": False, "error": {"code": str(code), "message": message}}
