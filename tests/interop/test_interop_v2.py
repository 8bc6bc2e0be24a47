"""Protocol v2 (replies, mentions, edit, delete, reactions, changes) through the official
Node socket.io-client, once over WebSocket and once over HTTP long-polling."""

from __future__ import annotations

from typing import Any

import pytest

from server.protocol import ErrorCode
from tests.interop.harness import TRANSPORTS, NodeRunner

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module", params=TRANSPORTS)
def steps(request: pytest.FixtureRequest, run_node: NodeRunner) -> dict[str, Any]:
    result = run_node("chat_v2.js", request.param)
    assert result["transport"] == request.param
    return result["steps"]


def code(ack: dict[str, Any]) -> str:
    assert ack["ok"] is False and ack["error"]["message"], ack
    return str(ack["error"]["code"])


def test_session_announces_v2(steps: dict[str, Any]) -> None:
    server = steps["session_server"]
    assert server["protocol"] == 2
    assert {"changes", "reply", "edit", "delete", "reactions", "mentions"} <= set(
        server["features"]
    )
    assert server["limits"]["max_file_bytes"] == 104857600


def test_mentions_and_replies(steps: dict[str, Any]) -> None:
    assert steps["send"]["message"]["mentions"] == [steps["names"]["bob"]]
    reply = steps["reply"]["message"]
    assert reply["reply_to"]["id"] == steps["send"]["message"]["id"]
    assert reply["reply_to"]["text"].startswith("hello @")
    assert steps["reply_broadcast"]["reply_to"] == reply["reply_to"]


def test_edit_and_its_update(steps: dict[str, Any]) -> None:
    edited = steps["edit"]["message"]
    assert edited["text"] == "hello everyone" and edited["edited_ts"] and edited["mentions"] == []
    assert steps["edit_update"]["message"]["seq"] == edited["seq"]
    assert steps["edit_again"]["message"]["seq"] == edited["seq"]
    assert code(steps["edit_forbidden"]) == ErrorCode.FORBIDDEN


def test_reactions(steps: dict[str, Any]) -> None:
    assert steps["react"]["message"]["reactions"] == [
        {"emoji": "👍", "users": [steps["names"]["bob"]]}
    ]
    assert steps["react_update"]["message"]["reactions"] == steps["react"]["message"]["reactions"]
    assert len(steps["react_alice"]["message"]["reactions"][0]["users"]) == 2
    assert code(steps["react_bad"]) == ErrorCode.BAD_REQUEST


def test_delete_and_catch_up(steps: dict[str, Any]) -> None:
    tomb = steps["delete"]["message"]
    assert tomb["deleted"] is True and tomb["text"] == ""
    assert steps["delete_again"]["message"]["seq"] == tomb["seq"]
    pages = steps["catchup_pages"]
    assert all(p["ok"] for p in pages) and pages[-1]["has_more"] is False
    got = [m for p in pages for m in p["messages"]]
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs) and seqs[0] > steps["held_seq"]
    by_id = {m["id"]: m for m in got}
    assert by_id[tomb["id"]]["deleted"] is True
    assert by_id[steps["send"]["message"]["id"]]["text"] == "hello again"
    # a message, its delete and an edit: three changes after what bob held
    assert pages[-1]["seq"] == steps["held_seq"] + 3
    assert code(steps["changes_bad"]) == ErrorCode.BAD_REQUEST
    room = next(r for r in steps["rooms_list"]["rooms"] if r["id"] == steps["names"]["room"])
    assert room["seq"] == pages[-1]["seq"]
