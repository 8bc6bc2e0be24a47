"""from_wire on protocol payloads."""

from __future__ import annotations

from desktop.state.types import DeliveryStatus, Message, Room


def test_message_from_wire_reads_image_receipts_and_derives_status() -> None:
    raw = {"id": 42, "room": "general", "sender": "alice", "ts": 1764100000000, "kind": "image",
           "text": "cat", "client_id": "c1",
           "image": {"id": "m1", "mime": "image/png", "name": "cat.png", "size": 10,
                     "width": 8, "height": 6, "thumb": bytearray(b"\x89PNG")},
           "system": None, "receipts": {"delivered": 2, "read": 1, "of": 2}}
    msg = Message.from_wire(raw)
    assert msg.image is not None and msg.image.thumb == b"\x89PNG" and msg.image.width == 8
    assert msg.receipts is not None and msg.receipts.read == 1
    assert msg.status == DeliveryStatus.READ


def test_room_from_wire_with_last_message() -> None:
    raw = {"id": "dm:alice:bob", "name": "bob", "topic": "", "kind": "dm", "owner": None,
           "members": 2, "joined": True, "unread": 3,
           "last_message": {"id": 1, "room": "dm:alice:bob", "sender": "bob", "ts": 1,
                            "kind": "system", "text": "bob joined", "client_id": None,
                            "image": None, "system": {"event": "joined", "user": "bob"}}}
    room = Room.from_wire(raw)
    assert room.kind == "dm" and room.unread == 3 and room.name == "bob"
    assert room.last_message is not None and room.last_message.system == {
        "event": "joined", "user": "bob"}
