"""Room management and the message rate limit through the official Node socket.io-client,
once over WebSocket and once over HTTP long-polling."""

from __future__ import annotations

from typing import Any

import pytest

from server.protocol import RATE_LIMIT_MESSAGES, ErrorCode
from tests.interop.harness import TRANSPORTS, NodeRunner

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module", params=TRANSPORTS)
def steps(request: pytest.FixtureRequest, run_node: NodeRunner) -> dict[str, Any]:
    result = run_node("rooms.js", request.param)
    assert result["transport"] == request.param
    return result["steps"]


def error_code(ack: dict[str, Any]) -> str | None:
    """The error code of an error ack (with a message), None for a success ack."""
    if ack["ok"] is True:
        return None
    assert isinstance(ack["error"]["message"], str)
    return str(ack["error"]["code"])


def test_private_room_is_invite_only(steps: dict[str, Any]) -> None:
    names = steps["names"]
    room = steps["create_private"]["room"]
    assert room["kind"] == "private" and room["owner"] == names["alice"]
    assert error_code(steps["join_private_uninvited"]) == ErrorCode.FORBIDDEN
    assert steps["invite"]["ok"] is True
    added = steps["room_added"]["room"]
    assert added["id"] == names["priv"] and added["joined"] is True
    members = {m["name"]: m["online"] for m in steps["members"]["members"]}
    assert members == {names["alice"]: True, names["bob"]: True}
    # a private room is invisible to non-members: not_found (docs/protocol.md)
    assert error_code(steps["members_outsider"]) == ErrorCode.NOT_FOUND
    assert error_code(steps["history_outsider"]) == ErrorCode.NOT_FOUND
    assert names["priv"] not in {r["id"] for r in steps["carol_rooms"]["rooms"]}


def test_topic_change_reaches_members_as_room_updated(steps: dict[str, Any]) -> None:
    assert steps["topic"]["ok"] is True
    assert steps["topic"]["room"]["topic"] == "a new topic"
    assert steps["room_updated"]["room"]["id"] == steps["names"]["priv"]
    assert error_code(steps["topic_too_long"]) in {ErrorCode.BAD_REQUEST, ErrorCode.TOO_LARGE}


def test_leave_tells_the_room_and_ends_membership(steps: dict[str, Any]) -> None:
    assert steps["leave"] == {"ok": True}
    assert steps["presence_left"]["state"] == "left"
    assert error_code(steps["members_after_leave"]) == ErrorCode.NOT_FOUND  # private room


def test_public_room_browse_join_and_close(steps: dict[str, Any]) -> None:
    names = steps["names"]
    listed = {r["id"]: r for r in steps["carol_browse"]["rooms"]}
    assert listed[names["pub"]]["joined"] is False
    assert listed[names["pub"]]["unread"] == 0
    assert steps["carol_join"]["ok"] is True
    assert error_code(steps["close_not_owner"]) == ErrorCode.FORBIDDEN
    assert error_code(steps["close_general"]) in {ErrorCode.FORBIDDEN, ErrorCode.BAD_REQUEST}
    assert steps["close"] == {"ok": True}
    assert steps["room_closed"] == {"room": names["pub"]}
    assert names["pub"] not in {r["id"] for r in steps["carol_rooms_after_close"]["rooms"]}
    assert error_code(steps["send_to_closed"]) in {ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN}


def test_rate_limit_answers_rate_limited_and_keeps_the_connection(
        steps: dict[str, Any]) -> None:
    codes = steps["burst_codes"]
    # The burst is carol's first text messages, all within one window.
    assert codes[:RATE_LIMIT_MESSAGES] == ["ok"] * RATE_LIMIT_MESSAGES
    assert set(codes[RATE_LIMIT_MESSAGES:]) == {ErrorCode.RATE_LIMITED}
    assert steps["connected_after_burst"] is True
    assert steps["rooms_after_burst"]["ok"] is True
