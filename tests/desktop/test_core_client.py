"""ChatClient against a real in-process server and a headless python-socketio peer."""

from __future__ import annotations

from typing import Any

from desktop.models.message_list import MessageRoles
from desktop.state.types import DeliveryStatus


def test_text_goes_both_ways_with_status_pending_sent_delivered_read(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    assert alice.username == "alice"
    general = alice.message_model("general")

    cid = alice.send_text("general", "hello bob")
    echo = alice.messages.find_client_id(cid)
    assert echo is not None and echo.id is None and echo.status == DeliveryStatus.PENDING
    row = general.row_for_client_id(cid)
    assert row is None or general.data(general.index(row), MessageRoles.StatusRole) == 0
    qtbot.waitUntil(lambda: any(m.get("client_id") == cid for m in bob.of("message")))
    qtbot.waitUntil(lambda: alice.messages.find_client_id(cid).id is not None)
    sent = alice.messages.find_client_id(cid)
    assert sent.status == DeliveryStatus.SENT or sent.status == DeliveryStatus.DELIVERED
    # the model shows the acked copy in the echo's row once its batched flush has run
    qtbot.waitUntil(lambda: general.row_for_client_id(cid) is not None and general.data(
        general.index(general.row_for_client_id(cid)), MessageRoles.IdRole) == sent.id)
    received = next(m for m in bob.of("message") if m.get("client_id") == cid)
    assert received["text"] == "hello bob" and received["sender"] == "alice"

    run(bob.call("message:receipt", {"room": "general", "id": received["id"],
                                     "state": "delivered"}))
    qtbot.waitUntil(lambda: alice.messages.find_client_id(cid).status
                    == DeliveryStatus.DELIVERED)
    run(bob.call("message:receipt", {"room": "general", "id": received["id"], "state": "read"}))
    qtbot.waitUntil(lambda: alice.messages.find_client_id(cid).status == DeliveryStatus.READ)

    with qtbot.waitSignal(alice.messageReceived, timeout=10_000) as blocker:
        run(bob.call("message:send", {"room": "general", "client_id": "b1", "text": "hi alice"}))
    assert blocker.args[0] == "general" and blocker.args[1].text == "hi alice"
    qtbot.waitUntil(lambda: general.rowCount() == alice.messages.count("general"))
    texts = [general.data(general.index(r)) for r in range(general.rowCount())]
    assert texts[-2:] == ["hello bob", "hi alice"]


def _png(width: int = 40, height: int = 30, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def test_images_go_both_ways_and_fetch_media_returns_exact_bytes(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    mine, theirs = _png(), _png(64, 48, (10, 120, 250))

    cid = alice.send_image("general", mine, "red.png", caption="a red box")
    echo = alice.messages.find_client_id(cid)
    assert echo is not None and echo.kind == "image" and echo.local_image == mine
    qtbot.waitUntil(lambda: any(m.get("client_id") == cid for m in bob.of("message")))
    got = next(m for m in bob.of("message") if m.get("client_id") == cid)
    assert got["kind"] == "image" and got["text"] == "a red box"
    assert isinstance(got["image"]["thumb"], bytes)
    media = run(bob.call("media:get", {"id": got["image"]["id"]}))
    assert media["data"] == mine

    with qtbot.waitSignal(alice.messageReceived, timeout=10_000) as blocker:
        run(bob.call("message:send", {"room": "general", "client_id": "img-1",
                                      "image": {"data": theirs, "name": "blue.png"}}))
    msg = blocker.args[1]
    assert msg.image is not None and msg.image.width == 64 and msg.image.thumb
    mime, name, data = run(alice.fetch_media(msg.image.id))
    assert (mime, name, data) == ("image/png", "blue.png", theirs)
    assert run(alice.fetch_media(msg.image.id))[2] is data  # served from the cache


def test_all_three_models_pass_qtmodeltester_with_live_data(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any, qtmodeltester: Any
) -> None:
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    run(alice.create_room("dev", topic="building things"))
    dm = run(alice.open_dm("bob"))
    members = alice.member_model("general")
    messages = alice.message_model("general")
    for i in range(5):
        run(bob.call("message:send", {"room": "general", "client_id": f"b{i}", "text": f"m{i}"}))
    alice.send_text("general", "reply")
    qtbot.waitUntil(lambda: members.rowCount() == 2)
    qtbot.waitUntil(lambda: alice.outbox.entries() == [] and messages.rowCount() >= 7)
    qtmodeltester.check(alice.room_model)
    qtmodeltester.check(messages)
    qtmodeltester.check(members)
    rooms = [alice.room_model.data(alice.room_model.index(r))
             for r in range(alice.room_model.rowCount())]
    # rooms first, each section by latest activity: general just had messages
    assert rooms == ["general", "dev", "bob"] and dm.id == "dm:alice:bob"


def test_unread_counts_rise_in_other_rooms_and_reset_on_read(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    run(alice.create_room("dev"))
    alice.set_window_focused(True)
    alice.set_active_room("dev")
    before = alice.rooms.get("general").unread
    ids = []
    for i in range(3):
        ack = run(bob.call("message:send", {"room": "general", "client_id": f"u{i}",
                                            "text": f"u{i}"}))
        ids.append(ack["message"]["id"])
    qtbot.waitUntil(lambda: alice.rooms.get("general").unread == before + 3)
    alice.set_active_room("general")
    assert alice.rooms.get("general").unread == 0
    qtbot.waitUntil(lambda: any(s["state"] == "read" and s["up_to"] == ids[-1]
                                for s in bob.of("message:status")))
    # a message into the room on screen in a focused window is read at once
    run(bob.call("message:send", {"room": "general", "client_id": "u9", "text": "seen"}))
    qtbot.waitUntil(lambda: len([s for s in bob.of("message:status") if s["state"] == "read"])
                    >= 2)
    assert alice.rooms.get("general").unread == 0


def test_history_scroll_back_loads_older_pages_until_none_left(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    bob = make_peer(server_url, "bob")
    for i in range(120):
        run(bob.call("message:send", {"room": "general", "client_id": f"h{i}", "text": f"h{i}"}))
    alice = make_client(server_url, "alice")
    model = alice.message_model("general")
    first = alice.messages.count("general")
    assert first == 50
    loaded = [run(alice.load_older("general")) for _ in range(4)]
    assert loaded[0] == 50 and loaded[-1] == 0 and sum(loaded) == alice.messages.count("general") - 50
    ids = [m.id for m in alice.messages.messages("general")]
    assert ids == sorted(set(ids))
    texts = [m.text for m in alice.messages.messages("general") if m.sender == "bob"]
    assert texts == [f"h{i}" for i in range(120)]
    qtbot.waitUntil(lambda: model.rowCount() == len(ids))


def test_refusals_and_unreachable_servers_are_reported_in_plain_words(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    make_peer(server_url, "alice")  # registers alice with the right password
    client = make_client(None, "alice", connect=False)
    with qtbot.waitSignal(client.sessionRefused, timeout=10_000) as refused:
        ok = run(client.connect_to(server_url, {"username": "alice", "password": "wrong-pass"}))
    assert ok is False and refused.args[0] == "unauthorized"
    assert refused.args[1] == "Wrong password for alice"
    assert client.state == "refused"

    from tests.support.server_process import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    other = make_client(None, "carol", connect=False)
    states: list[tuple[str, int]] = []
    other.connectionStateChanged.connect(lambda s, n: states.append((s, n)))
    with qtbot.waitSignal(other.errorOccurred, timeout=10_000) as error:
        assert run(other.connect_to(dead, {"username": "carol", "password": "whatever1"})) is False
    assert error.args[0] == f"Could not reach server at {dead}"
    qtbot.waitUntil(lambda: ("reconnecting", 1) in states)


def test_typing_is_relayed_and_cleared(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    with qtbot.waitSignal(alice.typingChanged, timeout=10_000,
                          check_params_cb=lambda room, users: users == ["bob"]):
        run(bob.sio.emit("typing", {"room": "general", "typing": True}))
    with qtbot.waitSignal(alice.typingChanged, timeout=10_000,
                          check_params_cb=lambda room, users: users == []):
        run(bob.sio.emit("typing", {"room": "general", "typing": False}))
    alice.set_typing("general", True)
    qtbot.waitUntil(lambda: any(t["user"] == "alice" and t["typing"] for t in bob.of("typing")))


def test_receipts_are_sent_automatically_delivered_then_read_when_on_screen(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    alice.set_window_focused(False)
    alice.set_active_room("general")
    ack = run(bob.call("message:send", {"room": "general", "client_id": "r1", "text": "ping"}))
    mid = ack["message"]["id"]

    def status(state: str) -> bool:
        return any(s["state"] == state and s["up_to"] == mid for s in bob.of("message:status"))

    qtbot.waitUntil(lambda: status("delivered"))
    assert not status("read"), "an unfocused window has not read anything"
    assert alice.rooms.get("general").unread >= 1
    alice.set_window_focused(True)
    qtbot.waitUntil(lambda: status("read"))
    assert alice.rooms.get("general").unread == 0


def test_saved_token_signs_in_and_a_revoked_one_is_refused(
    server_url: str, make_client: Any, run: Any, qtbot: Any
) -> None:
    first = make_client(server_url, "alice")
    token = first.token
    assert token
    resumed = make_client(None, "alice", connect=False)
    assert run(resumed.connect_to(server_url, {"token": token})) is True
    assert resumed.username == "alice" and resumed.rooms.get("general") is not None
    run(resumed.logout())  # revokes the token
    assert resumed.token is None and resumed.state == "offline"
    again = make_client(None, "alice", connect=False)
    with qtbot.waitSignal(again.sessionRefused, timeout=10_000) as refused:
        assert run(again.connect_to(server_url, {"token": token})) is False
    assert refused.args == ["unauthorized", "Your session has expired. Please sign in again."]


def test_rooms_come_and_go_through_invites_joins_leaves_and_closes(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    model = alice.room_model

    def names() -> list[str]:
        return [model.data(model.index(r)) for r in range(model.rowCount())]

    run(bob.call("room:create", {"name": "secret", "private": True}))
    with qtbot.waitSignal(alice.roomAdded, timeout=10_000) as added:
        run(bob.call("room:invite", {"room": "secret", "user": "alice"}))
    assert added.args == ["secret"]
    assert "secret" in names()
    qtbot.waitUntil(lambda: alice.messages.count("secret") > 0)  # its history was loaded

    run(bob.call("room:create", {"name": "lobby"}))
    assert [r.id for r in run(alice.browse_rooms())] == ["lobby"]
    run(alice.join_room("lobby"))
    assert "lobby" in names() and run(alice.browse_rooms()) == []
    assert {m.name for m in alice.members.members("lobby")} == {"alice", "bob"}
    run(alice.leave_room("lobby"))
    assert "lobby" not in names() and [r.id for r in run(alice.browse_rooms())] == ["lobby"]

    with qtbot.waitSignal(alice.roomClosed, timeout=10_000) as closed:
        run(bob.call("room:close", {"room": "secret"}))
    assert closed.args == ["secret"] and "secret" not in names()
    assert alice.messages.count("secret") == 0


def test_presence_moves_the_online_dot(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    members = alice.member_model("general")

    def bob_online() -> bool | None:
        for row in range(members.rowCount()):
            if members.data(members.index(row)) == "bob":
                return bool(members.data(members.index(row), members.Roles.OnlineRole))
        return None

    qtbot.waitUntil(lambda: bob_online() is True)
    run(bob.close())
    qtbot.waitUntil(lambda: bob_online() is False)


def test_a_room_closed_while_away_is_dropped_on_reconnect(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    run(bob.call("room:create", {"name": "temp"}))
    run(alice.join_room("temp"))
    run(alice.disconnect())
    run(bob.call("room:close", {"room": "temp"}))
    with qtbot.waitSignal(alice.roomClosed, timeout=10_000) as closed:
        assert run(alice.connect_to(server_url, {"username": "alice",
                                                 "password": "correct horse battery"}))
    assert closed.args == ["temp"] and alice.rooms.get("temp") is None
    assert alice.room_model.row_of("temp") is None
