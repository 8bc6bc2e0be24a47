"""The list models over real stores: qtmodeltester, flood batching, minimal dataChanged."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt

from desktop.models.member_list import MemberListModel, MemberRoles
from desktop.models.message_list import MessageListModel, MessageRoles
from desktop.models.room_list import DMS_SECTION, ROOMS_SECTION, RoomListModel, RoomRoles
from desktop.state.members import MemberStore
from desktop.state.messages import MessageStore
from desktop.state.rooms import RoomStore
from desktop.state.types import DeliveryStatus, Member, Message, Room

DAY_MS = 24 * 3600 * 1000
T0 = 1_764_100_000_000


def msg(mid: int | None, sender: str = "bob", ts: int | None = None, cid: str | None = None,
        text: str = "hello") -> Message:
    return Message(id=mid, room="general", sender=sender, ts=ts if ts is not None else T0 + (mid or 0),
                   kind="text", text=text, client_id=cid,
                   status=DeliveryStatus.PENDING if mid is None else DeliveryStatus.SENT)


def test_message_model_passes_qtmodeltester_with_echoes_and_out_of_order_ids(
    qtmodeltester: Any, qtbot: Any
) -> None:
    store = MessageStore("alice")
    store.add_many("general", [msg(i) for i in range(10, 20)])
    model = MessageListModel(store, "general")
    qtmodeltester.check(model)
    store.add_pending(msg(None, "alice", cid="e1"))
    store.add_many("general", [msg(5), msg(25)])
    store.add(msg(21, "alice", cid="e1"))
    model.flush()
    qtmodeltester.check(model)
    assert [model.data(model.index(r), MessageRoles.IdRole) for r in range(model.rowCount())] == [
        5, *range(10, 20), 21, 25]
    row = model.row_for_id(21)
    assert row is not None
    assert model.data(model.index(row), MessageRoles.IsOwnRole) is True
    assert model.data(model.index(row), MessageRoles.ReceiptTextRole) == "Sent"
    assert model.data(model.index(0), Qt.ItemDataRole.DisplayRole) == "hello"
    assert model.roleNames()[MessageRoles.DaySeparatorRole].data() == b"daySeparatorRole"


def test_a_flood_of_inserts_becomes_few_insert_signals(qtbot: Any) -> None:
    store = MessageStore("alice")
    model = MessageListModel(store, "general")
    inserts: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, first, last: inserts.append((first, last)))
    for i in range(1, 2001):
        store.add(msg(i))
    qtbot.waitUntil(lambda: model.rowCount() == 2000, timeout=5000)
    assert len(inserts) <= 3
    assert sum(last - first + 1 for first, last in inserts) == 2000


def test_status_change_emits_data_changed_for_one_row_and_its_roles(qtbot: Any) -> None:
    store = MessageStore("alice")
    store.add_many("general", [msg(1, "alice", cid="a"), msg(2, "bob"), msg(3, "alice", cid="b")])
    model = MessageListModel(store, "general")
    changes: list[tuple[int, int, list[int]]] = []
    model.dataChanged.connect(lambda tl, br, roles: changes.append((tl.row(), br.row(),
                                                                    list(roles))))
    store.apply_status("general", 1, DeliveryStatus.READ, count=1, of=1)
    assert changes == [(0, 0, sorted([MessageRoles.StatusRole, MessageRoles.ReceiptTextRole]))]
    assert model.data(model.index(0), MessageRoles.StatusRole) == DeliveryStatus.READ
    assert model.data(model.index(0), MessageRoles.ReceiptTextRole) == "Read"


def test_headers_and_day_separators_follow_neighbours(qtbot: Any) -> None:
    store = MessageStore("alice")
    store.add_many("general", [msg(1, "bob", T0), msg(2, "bob", T0 + 60_000),
                               msg(3, "bob", T0 + 7 * 60_000), msg(5, "carol", T0 + DAY_MS)])
    model = MessageListModel(store, "general")
    headers = [model.data(model.index(r), MessageRoles.ShowHeaderRole) for r in range(4)]
    days = [bool(model.data(model.index(r), MessageRoles.DaySeparatorRole)) for r in range(4)]
    assert headers == [True, False, True, True]
    assert days == [True, False, False, True]
    changed: list[int] = []
    model.dataChanged.connect(lambda tl, br, roles: changed.append(tl.row()))
    # carol's message right before bob's second one splits his run: row after it updates
    store.add(msg(4, "bob", T0 + DAY_MS + 1000))
    model.flush()
    assert model.data(model.index(3), MessageRoles.ShowHeaderRole) is True
    assert 4 in changed
    assert model.data(model.index(4), MessageRoles.ShowHeaderRole) is True
    assert model.data(model.index(4), MessageRoles.DaySeparatorRole) == ""


def test_room_model_sorts_rooms_then_dms_and_passes_modeltester(qtmodeltester: Any) -> None:
    store = RoomStore()
    model = RoomListModel(store)
    store.replace_all([
        Room(id="zeta", name="zeta", joined=True),
        Room(id="dm:alice:bob", name="bob", kind="dm", joined=True),
        Room(id="alpha", name="alpha", joined=True, topic="first"),
        Room(id="browse", name="browse", joined=False),
    ])
    qtmodeltester.check(model)
    names = [model.data(model.index(r)) for r in range(model.rowCount())]
    assert names == ["alpha", "zeta", "bob"]
    assert model.data(model.index(2), RoomRoles.SectionRole) == DMS_SECTION
    assert model.data(model.index(0), RoomRoles.SectionRole) == ROOMS_SECTION
    assert model.data(model.index(0), Qt.ItemDataRole.ToolTipRole) == "first"
    store.upsert(Room(id="beta", name="beta", joined=True))
    store.increment_unread("zeta")
    qtmodeltester.check(model)
    assert [model.data(model.index(r)) for r in range(model.rowCount())] == [
        "alpha", "beta", "zeta", "bob"]
    assert model.data(model.index(2), RoomRoles.UnreadRole) == 1
    assert model.data(model.index(2), Qt.ItemDataRole.FontRole).bold()
    store.remove("alpha")
    assert model.rowCount(QModelIndex()) == 3


def test_member_model_tracks_presence(qtmodeltester: Any) -> None:
    store = MemberStore()
    store.set_members("general", [Member("bob", False), Member("alice", True)])
    model = MemberListModel(store, "general")
    qtmodeltester.check(model)
    store.set_online("bob", True)
    store.add("general", "carol")
    qtmodeltester.check(model)
    assert [(model.data(model.index(r)), model.data(model.index(r), MemberRoles.OnlineRole))
            for r in range(model.rowCount())] == [("alice", True), ("bob", True), ("carol", True)]


def test_room_model_follows_a_room_object_the_store_replaced(qtbot: Any) -> None:
    store = RoomStore()
    model = RoomListModel(store)
    store.upsert(Room(id="general", name="general", joined=True, unread=1))
    store.upsert(Room(id="general", name="general", joined=True, unread=1, topic="new"))
    roles: list[list[int]] = []
    model.dataChanged.connect(lambda _tl, _br, changed: roles.append(list(changed)))
    store.set_unread("general", 0)
    assert model.data(model.index(0), RoomRoles.UnreadRole) == 0
    assert model.data(model.index(0), RoomRoles.TopicRole) == "new"
    assert roles == [sorted([RoomRoles.UnreadRole, Qt.ItemDataRole.FontRole])]


def test_history_pages_insert_in_one_block_each_without_rediffing_the_room(
    qtbot: Any, monkeypatch: Any
) -> None:
    """A page of older history is one beginInsertRows at row 0 (plus one per gap of the
    ids it fills), placed from the store's index: the full-room diff is not run, so
    paging back costs the page, not the distance."""
    store = MessageStore("alice")
    store.add_many("general", [msg(i) for i in range(5000, 5100)])
    store.add_pending(msg(None, "alice", ts=T0 + 10_000, cid="e1"))
    model = MessageListModel(store, "general")
    syncs: list[int] = []
    real_sync = model._mirror.sync
    monkeypatch.setattr(model._mirror, "sync", lambda target: syncs.append(1) or real_sync(target))
    inserts: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, first, last: inserts.append((first, last)))
    changed: list[int] = []
    model.dataChanged.connect(lambda tl, _br, _roles: changed.append(tl.row()))
    for top in range(4900, 3900, -100):
        store.add_many("general", [msg(i) for i in range(top, top + 100)])
        model.flush()
        assert inserts[-1] == (0, 99)
        assert changed[-1] == 100  # the old top row: its header/day separator may change
    # a page that fills two gaps at once: two blocks
    before = len(inserts)
    store.add_many("general", [msg(5200), msg(5201), msg(3000)])
    model.flush()
    assert inserts[before:] == [(0, 0), (1101, 1102)]  # 1,100 rows held before
    assert syncs == []
    ids = [model.data(model.index(r), MessageRoles.IdRole) for r in range(model.rowCount())]
    assert ids == [m.id for m in store.messages("general")]
    assert model.row_for_id(3000) == 0 and model.row_for_id(4000) == 1
    assert model.row_for_id(5201) == 1102 and model.row_for_id(7) is None
    # a removal since the last flush falls back to the full diff, and stays right
    store.remove_pending("e1")
    store.add(msg(6000))
    model.flush()
    assert syncs == [1]
    ids = [model.data(model.index(r), MessageRoles.IdRole) for r in range(model.rowCount())]
    assert ids == [m.id for m in store.messages("general")]
