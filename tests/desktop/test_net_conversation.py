"""Protocol v2 in the client: catch-up through ``message:changes`` after a reconnect and
when a room's seq jumps, edits/deletes/reactions through the outbox (offline too), and
who may delete what. Against a real in-process v2 server and real sockets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktop.net.client import ChatClient
from tests.desktop.conftest import PASSWORD


def _held_text(client: ChatClient, mid: int) -> str | None:
    msg = client.messages.get("general", mid)
    return None if msg is None else msg.text


def _send(run: Any, peer: Any, text: str, **extra: Any) -> dict[str, Any]:
    import uuid
    ack = run(peer.call("message:send", {"room": "general", "text": text,
                                         "client_id": str(uuid.uuid4()), **extra}))
    assert ack["ok"], ack
    return dict(ack["message"])


def test_changes_made_while_offline_converge_after_the_reconnect(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    alice: ChatClient = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    kept = _send(run, bob, "will be edited")
    gone = _send(run, bob, "will be deleted")
    liked = _send(run, bob, "will be liked")
    qtbot.waitUntil(lambda: _held_text(alice, liked["id"]) == "will be liked")
    run(alice.disconnect())
    # while alice is away, bob edits, deletes, reacts and writes
    assert run(bob.call("message:edit", {"room": "general", "id": kept["id"],
                                         "text": "edited while away"}))["ok"]
    assert run(bob.call("message:delete", {"room": "general", "id": gone["id"]}))["ok"]
    assert run(bob.call("reaction:set", {"room": "general", "id": liked["id"],
                                         "emoji": "👍", "on": True}))["ok"]
    new = _send(run, bob, "new while away")
    assert run(alice.connect_to(server_url, {"username": "alice", "password": PASSWORD}))
    qtbot.waitUntil(lambda: alice.state == "connected")
    held = alice.messages.get("general", kept["id"])
    assert held is not None and held.text == "edited while away" and held.edited_ts
    tomb = alice.messages.get("general", gone["id"])
    assert tomb is not None and tomb.deleted and tomb.text == ""
    like = alice.messages.get("general", liked["id"])
    assert like is not None and like.reactions == (("👍", ("bob",)),)
    assert _held_text(alice, new["id"]) == "new while away"
    ids = [m.id for m in alice.messages.messages("general")]
    assert ids == sorted(set(ids)), "no message doubled"


def test_own_edit_delete_and_reaction_made_offline_are_sent_after_the_reconnect(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any,
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "alice-app"
    alice: ChatClient = make_client(server_url, "alice", data_dir=data_dir)
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    cids = [alice.send_text("general", t) for t in ("tpyo", "oops", "hello")]
    qtbot.waitUntil(lambda: not alice.outbox.entries())
    first, second, third = (alice.messages.find_client_id(c) for c in cids)
    assert first and second and third and first.id and second.id and third.id
    run(alice.disconnect())
    alice.edit_message(first, "typo")
    assert first.pending_edit == "typo"  # shown at once
    alice.delete_message(second)
    alice.set_reaction("general", third.id, "🎉", True)
    unsent = alice.send_text("general", "draft")
    alice.edit_message(alice.messages.find_client_id(unsent), "final")  # folds into the send
    assert [e.op for e in alice.outbox.entries()] == ["edit", "delete", "react", "send"]
    # a restart: the changes are on disk, and a new app sends them
    restarted: ChatClient = make_client(server_url, "alice", data_dir=data_dir)
    qtbot.waitUntil(lambda: not restarted.outbox.entries(), timeout=10_000)
    page = run(bob.call("message:changes", {"room": "general", "since": 0}))
    by_id = {m["id"]: m for m in page["messages"]}
    assert by_id[first.id]["text"] == "typo" and by_id[first.id]["edited_ts"]
    assert by_id[second.id]["deleted"]
    assert by_id[third.id]["reactions"] == [{"emoji": "🎉", "users": ["alice"]}]
    finals = [m for m in page["messages"] if m["client_id"] == unsent]
    assert [m["text"] for m in finals] == ["final"] and not finals[0]["edited_ts"]
    # and the first app, back too, converges through message:changes
    assert run(alice.connect_to(server_url, {"username": "alice", "password": PASSWORD}))
    qtbot.waitUntil(lambda: alice.state == "connected" and not alice.outbox.entries())
    qtbot.waitUntil(lambda: first.pending_edit is None and first.text == "typo")
    assert second.deleted


def test_an_edit_of_a_message_not_acked_yet_waits_for_its_ack(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    alice: ChatClient = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    cid = alice.send_text("general", "first draft")
    alice._in_flight = cid  # as if the send were on the wire: it cannot fold any more
    echo = alice.messages.find_client_id(cid)
    assert echo is not None
    alice.edit_message(echo, "second draft")
    assert echo.shown_text == "second draft"  # shown at once, on the echo
    alice._in_flight = None
    qtbot.waitUntil(lambda: not alice.outbox.entries())
    held = alice.messages.find_client_id(cid)
    assert held is not None and held.id is not None
    # the acked copy kept showing the edit until the edit itself was acked
    qtbot.waitUntil(lambda: held.text == "second draft" and held.pending_edit is None)
    page = run(bob.call("message:changes", {"room": "general", "since": 0}))
    stored = [m for m in page["messages"] if m["client_id"] == cid]
    assert [m["text"] for m in stored] == ["second draft"]


def test_live_updates_and_a_seq_jump_catch_the_room_up(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    alice: ChatClient = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    parent = _send(run, bob, "the parent")
    reply = _send(run, bob, "the reply", reply_to=parent["id"])
    qtbot.waitUntil(lambda: _held_text(alice, reply["id"]) == "the reply")
    quoted = alice.messages.get("general", reply["id"])
    assert quoted is not None and quoted.reply_to is not None
    assert quoted.reply_to.text == "the parent"
    run(bob.call("message:edit", {"room": "general", "id": parent["id"], "text": "changed"}))
    qtbot.waitUntil(lambda: _held_text(alice, parent["id"]) == "changed")
    assert quoted.reply_to.text == "changed"  # the quote follows its parent
    run(bob.call("message:delete", {"room": "general", "id": parent["id"]}))
    qtbot.waitUntil(lambda: quoted.reply_to is not None and quoted.reply_to.deleted)
    # alice forgets she saw the last changes: the next one is a jump, and she catches up
    held = alice.messages.get("general", reply["id"])
    assert held is not None
    # (as if the reply, seq 2, and everything after it had been missed)
    alice.messages._rooms["general"].seq = reply["seq"] - 1
    held.seq = 0
    held.text = "stale"
    _send(run, bob, "after the gap")
    qtbot.waitUntil(lambda: _held_text(alice, reply["id"]) == "the reply")


def test_who_may_delete_what(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    owner: ChatClient = make_client(server_url, "olga")
    room = run(owner.create_room("team"))
    bob = make_peer(server_url, "bob")
    carol: ChatClient = make_client(server_url, "carol")
    run(bob.call("room:join", {"room": room.id}))
    run(carol.join_room(room.id))
    import uuid
    sent = run(bob.call("message:send", {"room": room.id, "text": "bob's",
                                         "client_id": str(uuid.uuid4())}))["message"]
    qtbot.waitUntil(lambda: carol.messages.get(room.id, sent["id"]) is not None)
    qtbot.waitUntil(lambda: owner.messages.get(room.id, sent["id"]) is not None)
    theirs = carol.messages.get(room.id, sent["id"])
    assert theirs is not None and not carol.can_delete(theirs)
    # carol tries anyway (an old menu, say): a sentence, and the message stays
    with qtbot.waitSignal(carol.errorOccurred) as sig:
        carol._queue_change("delete", room.id, sent["id"])
    assert "not allowed" in sig.args[0]
    assert not carol.outbox.entries()
    held = owner.messages.get(room.id, sent["id"])
    assert held is not None and owner.can_delete(held)  # the room's owner may
    owner.delete_message(held)
    qtbot.waitUntil(lambda: held.deleted)
    qtbot.waitUntil(lambda: theirs.deleted)  # everyone sees the tombstone
    mine = carol.send_text(room.id, "carol's own")
    qtbot.waitUntil(lambda: not carol.outbox.entries())
    own = carol.messages.find_client_id(mine)
    assert own is not None and carol.can_delete(own)
    carol.delete_message(own)
    qtbot.waitUntil(lambda: own.deleted)
