"""Rooms, messages, images, history, receipts, typing, DMs and presence through the
official Node socket.io-client, once over WebSocket and once over HTTP long-polling."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from server.protocol import ErrorCode, Event
from tests.interop.harness import TRANSPORTS, NodeRunner

pytestmark = pytest.mark.interop

PNG_SIZE = (64, 48)


def make_png() -> bytes:
    img = Image.new("RGB", PNG_SIZE)
    img.putdata([(x * 4, y * 5, (x + y) % 256) for y in range(PNG_SIZE[1])
                 for x in range(PNG_SIZE[0])])
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def png(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = make_png()
    path = tmp_path_factory.mktemp("interop-image") / "dot.png"
    path.write_bytes(data)
    return path, data


@pytest.fixture(scope="module", params=TRANSPORTS)
def steps(request: pytest.FixtureRequest, run_node: NodeRunner,
          png: tuple[Path, bytes]) -> dict[str, Any]:
    result = run_node("chat.js", request.param, str(png[0]))
    assert result["transport"] == request.param
    return result["steps"]


def is_error(ack: dict[str, Any], *codes: str) -> bool:
    return ack["ok"] is False and ack["error"]["code"] in codes and \
        isinstance(ack["error"]["message"], str)


def test_rooms_list_has_general_joined(steps: dict[str, Any]) -> None:
    ack = steps["rooms_list"]
    assert ack["ok"] is True
    general = [r for r in ack["rooms"] if r["id"] == "general"]
    assert general and general[0]["joined"] is True and general[0]["kind"] == "public"


def test_room_create_and_its_errors(steps: dict[str, Any]) -> None:
    room = steps["names"]["room"]
    ack = steps["room_create"]
    assert ack["ok"] is True
    assert ack["room"]["id"] == room
    assert ack["room"]["owner"] == steps["names"]["alice"]
    assert ack["room"]["topic"] == "interop"
    assert ack["room"]["joined"] is True
    assert is_error(steps["room_create_conflict"], ErrorCode.CONFLICT)
    assert is_error(steps["room_create_bad"], ErrorCode.BAD_REQUEST)


def test_room_join_acks_room_members_messages_and_tells_others(steps: dict[str, Any]) -> None:
    ack = steps["room_join"]
    assert ack["ok"] is True
    assert ack["room"]["id"] == steps["names"]["room"]
    assert {m["name"] for m in ack["members"]} >= {steps["names"]["alice"],
                                                  steps["names"]["bob"]}
    assert isinstance(ack["messages"], list)
    assert steps["presence_joined"]["state"] == "joined"
    system = steps["join_system_message"]
    assert system["sender"] is None
    assert system["system"] == {"event": "joined", "user": steps["names"]["bob"]}


def test_message_send_ack_and_broadcast_to_second_client(steps: dict[str, Any]) -> None:
    ack = steps["send"]
    assert ack["ok"] is True
    msg = ack["message"]
    assert msg["text"] == "hello from js" and msg["kind"] == "text"
    assert msg["sender"] == steps["names"]["alice"]
    assert isinstance(msg["id"], int) and msg["id"] > 0
    assert isinstance(msg["ts"], int)
    got = steps["broadcast"]
    assert got["id"] == msg["id"] and got["text"] == "hello from js"
    assert got["sender"] == steps["names"]["alice"]


def test_resend_of_same_client_id_is_idempotent(steps: dict[str, Any]) -> None:
    assert steps["resend"]["ok"] is True
    assert steps["resend"]["message"]["id"] == steps["send"]["message"]["id"]
    assert steps["send2"]["message"]["id"] > steps["send"]["message"]["id"]
    assert steps["bob_copies_of_cid1"] == 1


def test_image_buffer_round_trips_through_media_get(steps: dict[str, Any],
                                                   png: tuple[Path, bytes]) -> None:
    data = png[1]
    ack = steps["image_send"]
    assert ack["ok"] is True, ack
    msg = ack["message"]
    assert msg["kind"] == "image" and msg["text"] == "a caption"
    image = msg["image"]
    assert image["mime"] == "image/png"
    assert image["size"] == len(data)
    assert (image["width"], image["height"]) == PNG_SIZE
    assert image["thumb"]["__binary__"] is True and image["thumb"]["bytes"] > 0
    assert steps["image_broadcast"]["image"]["thumb"]["__binary__"] is True
    got = steps["media_get"]
    assert got["ok"] is True
    assert got["mime"] == "image/png"
    assert got["data"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert steps["media_get_sha_matches"] is True
    assert is_error(steps["media_get_missing"], ErrorCode.NOT_FOUND, ErrorCode.BAD_REQUEST)


def test_history_newest_before_and_after(steps: dict[str, Any]) -> None:
    newest = steps["history_newest"]
    assert newest["ok"] is True and newest["has_more"] is True
    ids = [m["id"] for m in newest["messages"]]
    assert ids == sorted(ids) and len(ids) == 2
    assert ids[-1] == steps["image_send"]["message"]["id"]
    before = steps["history_before"]
    assert before["ok"] is True and before["has_more"] is False
    before_ids = [m["id"] for m in before["messages"]]
    assert before_ids == sorted(before_ids) and before_ids and before_ids[-1] < ids[0]
    assert steps["send"]["message"]["id"] in before_ids
    after = steps["history_after"]
    assert after["ok"] is True and after["has_more"] is True
    assert [m["id"] for m in after["messages"]] == [steps["send2"]["message"]["id"]]


def test_receipts_reach_the_sender_as_message_status(steps: dict[str, Any]) -> None:
    assert steps["receipt_delivered"]["ok"] is True
    assert steps["receipt_read"]["ok"] is True
    up_to = steps["image_send"]["message"]["id"]
    for state in ("delivered", "read"):
        status = steps[f"status_{state}"]
        assert status["by"] == steps["names"]["bob"]
        assert status["up_to"] == up_to
        assert status["count"] == 1 and status["of"] == 1
    own = {m["id"]: m for m in steps["history_as_sender"]["messages"]}
    assert own[up_to]["receipts"] == {"delivered": 1, "read": 1, "of": 1}


def test_typing_is_relayed_but_not_echoed(steps: dict[str, Any]) -> None:
    assert steps["typing_relay"]["user"] == steps["names"]["bob"]
    assert steps["typing_ack"] == {"ok": True}
    assert steps["typing_stop_relay"]["typing"] is False
    assert steps["typing_echoed_to_typer"] == 0


def test_dm_open_adds_the_room_for_the_other_user(steps: dict[str, Any]) -> None:
    names = steps["names"]
    expected_id = "dm:" + ":".join(sorted((names["alice"].lower(), names["carol"].lower())))
    ack = steps["dm_open"]
    assert ack["ok"] is True
    assert ack["room"]["id"] == expected_id == names["dm"]
    assert ack["room"]["kind"] == "dm" and ack["room"]["name"] == names["carol"]
    added = steps["room_added"]["room"]
    assert added["id"] == expected_id and added["name"] == names["alice"]
    assert is_error(steps["dm_self"], ErrorCode.BAD_REQUEST)
    assert steps["dm_send"]["ok"] is True
    assert steps["dm_received"]["text"] == "psst"
    assert is_error(steps["dm_forbidden_for_bob"], ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND)
    listed = {r["id"]: r for r in steps["rooms_list_after"]["rooms"]}
    assert listed[expected_id]["kind"] == "dm" and listed[expected_id]["joined"] is True


def test_presence_online_and_offline(steps: dict[str, Any]) -> None:
    bob = steps["names"]["bob"]
    assert steps["presence_online"] == {"user": bob, "state": "online"}
    assert steps["presence_offline"] == {"user": bob, "state": "offline"}


def test_every_event_name_used_is_a_protocol_event() -> None:
    """The scripts spell event names by hand; keep them in step with server.protocol."""
    names = {e.value for e in Event}
    here = Path(__file__).parent
    used: set[str] = set()
    for script in ("auth.js", "chat.js", "rooms.js"):
        src = (here / script).read_text()
        used |= set(re.findall(r'(?:call|callWithCallback|waitFor|emit|count)\(\s*"([a-z:]+)"', src))
    assert used and used <= names, used - names
