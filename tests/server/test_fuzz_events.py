"""Property-based fuzzing of every client->server event's payload.

Whatever a client sends (junk scalars, huge strings, deep nesting, binary, the right keys
with the wrong types, boundary values, extra arguments, no payload at all), the server
must answer one clean ack: ``{"ok": true, ...}`` when the payload happens to be valid,
otherwise ``{"ok": false, "error": {"code": <not internal>, "message": str}}``. The client
stays connected (a follow-up valid call succeeds) and the server stays up.

One real server and one connected python-socketio client serve the whole module. They
live on an event loop in a background thread, so the hypothesis tests stay plain sync
functions and thousands of examples reuse one connection (fast, and it is exactly the
long-lived connection a fuzzed payload must not break).
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import threading
import urllib.request
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import socketio
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from server import protocol
from server.app import RunningServer, start_server
from server.config import ServerConfig
from server.protocol import ErrorCode, Event

T = TypeVar("T")

PASSWORD = "fuzzing password"
ACK_TIMEOUT_S = 10.0  # acks take milliseconds; this only bounds a missing one
FUZZ_ROOM = "fuzzroom"
PEER = "fuzzpeer"
MAX_IMAGE_BYTES = 256 * 1024  # small, so oversize payloads stay cheap to send


def _tiny_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (3, 2), (10, 200, 30)).save(buf, format="PNG")
    return buf.getvalue()


# A valid PNG, so valid-looking image payloads reach the media code.
TINY_PNG = _tiny_png()

SERVER_TO_CLIENT = {
    Event.SESSION,
    Event.MESSAGE,
    Event.MESSAGE_STATUS,
    Event.PRESENCE,
    Event.ROOM_ADDED,
    Event.ROOM_UPDATED,
    Event.ROOM_CLOSED,
    Event.NOTICE,
    Event.MESSAGE_UPDATED,
}
CLIENT_TO_SERVER = [e for e in Event if e not in SERVER_TO_CLIENT]
CLEAN_CODES = {c.value for c in ErrorCode} - {ErrorCode.INTERNAL.value}

# The payload keys each client->server event reads (PROTOCOL.md sections 3-6, 10-13).
FIELDS: dict[Event, tuple[str, ...]] = {
    Event.SESSION_LOGOUT: (),
    Event.SESSION_PASSWORD: ("old", "new"),
    Event.ROOMS_LIST: (),
    Event.ROOM_CREATE: ("name", "topic", "private"),
    Event.ROOM_JOIN: ("room",),
    Event.ROOM_LEAVE: ("room",),
    Event.ROOM_MEMBERS: ("room",),
    Event.ROOM_INVITE: ("room", "user"),
    Event.ROOM_TOPIC: ("room", "topic"),
    Event.ROOM_CLOSE: ("room",),
    Event.DM_OPEN: ("user",),
    Event.MESSAGE_SEND: ("room", "client_id", "text", "image", "reply_to", "file"),
    Event.MESSAGE_HISTORY: ("room", "before", "after", "limit"),
    Event.MESSAGE_RECEIPT: ("room", "id", "state"),
    Event.MEDIA_GET: ("id",),
    Event.TYPING: ("room", "typing"),
    Event.MESSAGE_EDIT: ("room", "id", "text"),
    Event.MESSAGE_DELETE: ("room", "id"),
    Event.REACTION_SET: ("room", "id", "emoji", "on"),
    Event.MESSAGE_CHANGES: ("room", "since", "limit"),
    Event.MESSAGE_SEARCH: ("query", "room", "from", "before", "limit"),
}


# --------------------------------------------------------------------------- harness


class LoopThread:
    """An asyncio loop running in a daemon thread; ``run`` executes a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = ACK_TIMEOUT_S) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Cancel what is still pending (engine.io ping tasks...), then stop the loop."""
        self.run(self._cancel_pending())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    @staticmethod
    async def _cancel_pending() -> None:
        me = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not me]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


class FuzzTarget:
    """A running server plus one logged-in client, driven synchronously from tests."""

    def __init__(self, data_dir: Path) -> None:
        self.lt = LoopThread()
        self.server: RunningServer = self.lt.run(
            start_server(
                ServerConfig(
                    host="127.0.0.1",
                    port=0,
                    data_dir=data_dir,
                    rate_limit_messages=0,
                    # fuzzing exercises payloads, not the abuse limits: reset() must succeed
                    room_actions_limit=0,
                    rooms_per_user_per_hour=0,
                    image_pixels_per_user_per_minute=0,
                    max_image_bytes=MAX_IMAGE_BYTES,
                    log_level="WARNING",
                )
            )
        )
        self.clients: list[socketio.AsyncClient] = []
        self.peer = self.connect(PEER)
        self.client = self.connect("fuzzer")
        self.image_id = ""
        self.message_id = 0  # a live text message of the fuzzer's, for edits and reactions
        self.reset()

    def reset(self) -> None:
        """Undo what valid fuzzed payloads may have done (close/leave the room...)."""
        ack = self.call(Event.ROOM_JOIN, {"room": FUZZ_ROOM})
        if not ack["ok"]:
            ack = self.call(Event.ROOM_CREATE, {"name": FUZZ_ROOM, "topic": "fuzz"})
            assert ack["ok"] is True, ack
            self.image_id = ""
        if not self.image_id:
            ack = self.call(
                Event.MESSAGE_SEND,
                {
                    "room": FUZZ_ROOM,
                    "client_id": f"img-{uuid.uuid4()}",
                    "image": {"data": TINY_PNG, "name": "tiny.png"},
                },
            )
            assert ack["ok"] is True, ack
            self.image_id = ack["message"]["image"]["id"]
            self.message_id = 0
        if self.message_id:
            # a fuzzed message:delete may have deleted it
            ack = self.call(
                Event.MESSAGE_HISTORY,
                {"room": FUZZ_ROOM, "after": self.message_id - 1, "limit": 1},
            )
            assert ack["ok"] is True, ack
            if ack["messages"][0]["deleted"]:
                self.message_id = 0
        if not self.message_id:
            ack = self.call(
                Event.MESSAGE_SEND,
                {"room": FUZZ_ROOM, "client_id": f"txt-{uuid.uuid4()}", "text": "fuzz me"},
            )
            assert ack["ok"] is True, ack
            self.message_id = ack["message"]["id"]

    def connect(self, username: str) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)
        self.lt.run(
            client.connect(
                self.server.url,
                auth={"username": username, "password": PASSWORD},
                transports=["websocket"],
                wait_timeout=10,
            )
        )
        self.clients.append(client)
        return client

    def call(self, event: str, data: Any, client: socketio.AsyncClient | None = None) -> Any:
        sio = client or self.client
        try:
            return self.lt.run(sio.call(event, data, timeout=ACK_TIMEOUT_S),
                               timeout=ACK_TIMEOUT_S + 5)
        except socketio.exceptions.TimeoutError:
            # Print at once: shrinking a hang is slow and pytest-timeout may cut it short.
            print(f"NO ACK for {event} {data!r:.500}", file=sys.stderr)
            raise AssertionError(f"no ack for {event} {data!r:.300}") from None

    def assert_alive(self, client: socketio.AsyncClient | None = None) -> None:
        """The connection survived: still connected and a valid call is answered ok."""
        sio = client or self.client
        assert sio.connected, "the server dropped the client"
        ack = self.call(Event.ROOMS_LIST, {}, sio)
        assert ack["ok"] is True, ack

    def close(self) -> None:
        for client in self.clients:
            if client.connected:
                self.lt.run(client.disconnect())
        self.lt.run(self.server.stop())
        self.lt.close()


def assert_clean_ack(event: str, payload: Any, ack: Any) -> None:
    """``{"ok": true, ...}`` or an error ack with a clean (non-internal) code."""
    assert isinstance(ack, dict), f"{event} {payload!r:.300}: ack {ack!r:.300}"
    if ack.get("ok") is True:
        return
    assert ack.get("ok") is False, f"{event} {payload!r:.300}: ack {ack!r:.300}"
    error = ack.get("error")
    assert isinstance(error, dict), ack
    assert error.get("code") in CLEAN_CODES, f"{event} {payload!r:.300}: {error!r:.500}"
    assert isinstance(error.get("message"), str), error


def with_real_ids(args: Any, image_id: str, message_id: int) -> Any:
    """valid_payload cannot know the image and message ids at strategy time; fill them in."""
    if not (isinstance(args, tuple) and args and isinstance(args[0], dict)):
        return args
    real = {"<image>": image_id, "<message>": message_id}
    payload = dict(args[0])
    for key in ("id", "reply_to"):
        value = payload.get(key)
        if isinstance(value, str) and value in real:
            payload[key] = real[value]
    return (payload, *args[1:])


def note_outcome(ack: dict[str, Any]) -> None:
    """Shown by --hypothesis-show-statistics: which answers the fuzzing reached."""
    event("ok" if ack.get("ok") else f"error {ack['error']['code']}")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    t = FuzzTarget(tmp_path_factory.mktemp("fuzz-server"))
    try:
        yield t
    finally:
        t.close()


# --------------------------------------------------------------------------- strategies

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 1, 2**31 - 1, 2**31, 2**53, 2**63 - 1, 2**63, 2**64, -(2**63)]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "general",
            FUZZ_ROOM,
            "dm:a:b",
            "dm:fuzzer:fuzzpeer",
            PEER,
            "fuzzer",
            "GENERAL",
            "../etc",
            "a" * 41,
            "é",
            "\ud7ff",
            "delivered",
            "read",
        ]
    ),
    st.binary(max_size=64),
)
HUGE: list[Any] = [
    "x" * 100_000,
    "é" * 50_000,
    "a" * (protocol.MAX_TEXT_CHARS + 1),
    b"\xff" * 300_000,
]
huge = st.integers(min_value=0, max_value=len(HUGE) - 1).map(HUGE.__getitem__)


def nested(depth: int) -> Any:
    value: Any = "deep"
    for i in range(depth):
        value = {"room": value} if i % 2 else [value]
    return value


junk = st.recursive(
    scalars | huge,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
) | st.sampled_from([nested(50), nested(300)])


def plausible(key: str) -> st.SearchStrategy[Any]:
    """Values of roughly the right type, including boundary and near-valid ones."""
    rooms = st.sampled_from(
        [
            "general",
            FUZZ_ROOM,
            "nosuchroom",
            "dm:fuzzer:fuzzpeer",
            "dm:fuzzpeer:fuzzer",
            "a" * 40,
            "a" * 41,
            "-bad",
            "Upper",
            "",
        ]
    )
    strategies: dict[str, st.SearchStrategy[Any]] = {
        "room": rooms,
        "name": st.from_regex(protocol.ROOM_ID_RE, fullmatch=True) | rooms,
        "user": st.sampled_from([PEER, "fuzzer", "nobody", "", "x" * 33, "FUZZPEER"]),
        "topic": st.text(max_size=5)
        | st.sampled_from(["t" * protocol.MAX_TOPIC_CHARS, "t" * (protocol.MAX_TOPIC_CHARS + 1)]),
        "private": st.booleans(),
        "client_id": st.text(min_size=0, max_size=3)
        | st.sampled_from(
            ["c" * protocol.MAX_CLIENT_ID_CHARS, "c" * (protocol.MAX_CLIENT_ID_CHARS + 1)]
        ),
        "text": st.text(max_size=20)
        | st.sampled_from(
            ["   ", "t" * protocol.MAX_TEXT_CHARS, "t" * (protocol.MAX_TEXT_CHARS + 1)]
        ),
        "image": st.fixed_dictionaries(
            {"data": st.binary(max_size=64)}, optional={"name": scalars}
        ),
        "before": st.integers(min_value=-2, max_value=2**64),
        "after": st.integers(min_value=-2, max_value=2**64),
        "limit": st.integers(min_value=-2, max_value=protocol.HISTORY_LIMIT + 2),
        "id": st.integers(min_value=-2, max_value=2**64) | st.text(max_size=10),
        "state": st.sampled_from(["delivered", "read", "seen", ""]),
        "typing": st.booleans(),
        "emoji": st.text(min_size=0, max_size=18)
        | st.sampled_from(["👍", "👨‍👩‍👧‍👦", "a b", "\n", "x" * 17, "\U0001f600" * 16]),
        "on": st.booleans(),
        "since": st.integers(min_value=-2, max_value=2**64),
        "reply_to": st.integers(min_value=-2, max_value=2**64) | st.just("<message>"),
        # FTS5 syntax, quotes, operators and boundary lengths are all plain text to search
        "query": st.text(max_size=30)
        | st.sampled_from(
            ['"', '""', "*", "NEAR(a b)", "a AND", "OR", "body:x", "rk:r1", "^a", "(", "x" * 200,
             "x" * 201, '"unclosed phrase', "a* b*", "-", "\u0000"]
        ),
        "from": st.sampled_from([PEER, "fuzzer", "nobody", "", "x" * 33]) | scalars,
        "file": st.fixed_dictionaries({"upload": st.text(max_size=40) | scalars})
        | st.just({"upload": "0" * 32}),
    }
    return strategies.get(key, scalars)


def valid_payload(event: Event) -> st.SearchStrategy[dict[str, Any]]:
    """A payload the server accepts (given the module's fixture state)."""
    room = st.just(FUZZ_ROOM)
    cid = st.uuids().map(str)
    by_event: dict[Event, st.SearchStrategy[dict[str, Any]]] = {
        Event.SESSION_LOGOUT: st.just({}),
        # a wrong old password (the fuzz user's is never drawn): unauthorized, then throttled
        Event.SESSION_PASSWORD: st.fixed_dictionaries(
            {"old": st.text(min_size=8, max_size=20), "new": st.text(min_size=8, max_size=20)}
        ),
        Event.ROOMS_LIST: st.just({}),
        Event.ROOM_CREATE: st.fixed_dictionaries(
            {
                "name": st.uuids().map(lambda u: f"r{u.hex[:12]}"),
                "topic": st.text(max_size=20),
                "private": st.booleans(),
            }
        ),
        Event.ROOM_JOIN: st.fixed_dictionaries({"room": room}),
        Event.ROOM_LEAVE: st.fixed_dictionaries({"room": room}),
        Event.ROOM_MEMBERS: st.fixed_dictionaries({"room": room}),
        Event.ROOM_INVITE: st.fixed_dictionaries({"room": room, "user": st.just(PEER)}),
        Event.ROOM_TOPIC: st.fixed_dictionaries({"room": room, "topic": st.text(max_size=20)}),
        Event.ROOM_CLOSE: st.fixed_dictionaries({"room": room}),
        Event.DM_OPEN: st.fixed_dictionaries({"user": st.just(PEER)}),
        Event.MESSAGE_SEND: st.one_of(
            st.fixed_dictionaries({"room": room, "client_id": cid, "text": st.just("hi")}),
            st.fixed_dictionaries(
                {
                    "room": room,
                    "client_id": cid,
                    "image": st.just({"data": TINY_PNG, "name": "tiny.png"}),
                },
                optional={"text": st.text()},
            ),
            st.fixed_dictionaries(
                {"room": room, "client_id": cid, "text": st.just("@fuzzpeer re @room"),
                 "reply_to": st.just("<message>")}
            ),
        ),
        Event.MESSAGE_HISTORY: st.fixed_dictionaries(
            {"room": room},
            optional={
                "limit": st.integers(1, protocol.HISTORY_LIMIT),
                "before": st.integers(1, 10**6),
                "after": st.integers(1, 10**6),
            },
        ),
        Event.MESSAGE_RECEIPT: st.fixed_dictionaries(
            {
                "room": room,
                "id": st.integers(1, 10**6),
                "state": st.sampled_from(["delivered", "read"]),
            }
        ),
        Event.MEDIA_GET: st.just({"id": "<image>"}),
        Event.TYPING: st.fixed_dictionaries({"room": room, "typing": st.booleans()}),
        Event.MESSAGE_EDIT: st.fixed_dictionaries(
            {"room": room, "id": st.just("<message>"), "text": st.text(min_size=1).map("e{}".format)}
        ),
        Event.MESSAGE_DELETE: st.fixed_dictionaries({"room": room, "id": st.just("<message>")}),
        Event.REACTION_SET: st.fixed_dictionaries(
            {
                "room": room,
                "id": st.just("<message>"),
                "emoji": st.sampled_from(["👍", "🎉", "+1", "❤️"]),
                "on": st.booleans(),
            }
        ),
        Event.MESSAGE_CHANGES: st.fixed_dictionaries(
            {"room": room, "since": st.integers(0, 10**6)},
            optional={"limit": st.integers(1, protocol.HISTORY_LIMIT)},
        ),
        Event.MESSAGE_SEARCH: st.fixed_dictionaries(
            {"query": st.text(min_size=1, max_size=40).filter(lambda q: any(c.isalnum() for c in q))},
            optional={
                "room": room,
                "from": st.sampled_from([PEER, "fuzzer"]),
                "before": st.integers(1, 10**6),
                "limit": st.integers(1, 50),
            },
        ),
    }
    return by_event[event]


@st.composite
def mutated(draw: st.DrawFn, event: Event) -> dict[str, Any]:
    """A valid payload with one field replaced, removed or added: reaches deep code."""
    payload = dict(draw(valid_payload(event)))
    if not payload:
        return payload
    key = draw(st.sampled_from(sorted(payload)))
    op = draw(st.sampled_from(["replace", "plausible", "delete", "nest"]))
    if op == "replace":
        payload[key] = draw(junk)
    elif op == "plausible":
        payload[key] = draw(plausible(key))
    elif op == "delete":
        del payload[key]
    elif isinstance(payload[key], dict) and payload[key]:
        inner = dict(payload[key])
        inner_key = draw(st.sampled_from(sorted(inner)))
        inner[inner_key] = draw(junk)
        payload[key] = inner
    else:
        payload[key] = {key: payload[key]}
    return payload


def payloads(event: Event) -> st.SearchStrategy[Any]:
    keys = FIELDS[event]
    shaped: list[st.SearchStrategy[Any]] = [
        junk,
        mutated(event),
        mutated(event),
        valid_payload(event),
    ]
    if keys:
        # The right keys with arbitrary (mostly wrong) types.
        shaped.append(st.fixed_dictionaries({}, optional={k: junk for k in keys}))
        # The right keys with plausible and boundary values, plus stray keys.
        shaped.append(
            st.fixed_dictionaries(
                {}, optional={**{k: plausible(k) for k in keys}, "sender": scalars, "extra": junk}
            )
        )
    else:
        shaped.append(st.dictionaries(st.text(max_size=8), junk, max_size=3))
    return st.one_of(shaped)


# Sent as socket.io arguments: one payload (a tuple carries `null` itself), none at
# all, or stray extra arguments.
def arguments(event: Event) -> st.SearchStrategy[Any]:
    one = payloads(event).map(lambda p: (p,))
    return st.one_of(one, one, one, st.just(None), st.tuples(payloads(event), scalars))


FUZZ_SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


# --------------------------------------------------------------------------- tests


def test_fields_cover_every_client_event() -> None:
    """A new client->server event in server.protocol must get a fuzzing strategy."""
    assert set(FIELDS) == set(CLIENT_TO_SERVER)


@pytest.mark.parametrize(
    "event", [e for e in CLIENT_TO_SERVER if e != Event.SESSION_LOGOUT], ids=str
)
@FUZZ_SETTINGS
@given(data=st.data())
def test_any_payload_gets_a_clean_ack_and_the_client_stays(
    target: FuzzTarget, event: Event, data: st.DataObject
) -> None:
    target.reset()
    args = data.draw(arguments(event), label="socket.io arguments")
    args = with_real_ids(args, target.image_id, target.message_id)
    ack = target.call(event, args)
    assert_clean_ack(event, args, ack)
    note_outcome(ack)
    target.assert_alive()


@settings(FUZZ_SETTINGS, max_examples=15)  # each example logs in again (argon2 is slow)
@given(args=arguments(Event.SESSION_LOGOUT))
def test_session_logout_with_any_payload(target: FuzzTarget, args: Any) -> None:
    """Logout may succeed (any payload is fine); the connection itself stays usable."""
    client = target.connect("fuzzlogout")
    try:
        ack = target.call(Event.SESSION_LOGOUT, args, client)
        assert_clean_ack(Event.SESSION_LOGOUT, args, ack)
        assert client.connected
    finally:
        target.lt.run(client.disconnect())
        target.clients.remove(client)


def test_server_is_still_healthy_after_fuzzing(target: FuzzTarget) -> None:
    with urllib.request.urlopen(target.server.url + "/healthz", timeout=5) as resp:
        assert json.load(resp)["status"] == "ok"
    target.assert_alive()
    target.assert_alive(target.peer)
