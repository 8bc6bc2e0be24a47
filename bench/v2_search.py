"""Benchmark ``message:search`` over a million stored messages (PROTOCOL.md section 16).

1. Builds (or reuses, ``--data-dir``) a data dir at schema version 2 holding ``--messages``
   messages across ``--rooms`` rooms, written with SQL bulk inserts: words drawn from a
   Zipf-distributed vocabulary of made-up words (short words most frequent, as in real
   text, some with diacritics), 3 to 15 words per message.
2. Opens it with the server's storage, which runs the version 3 migration: the search
   index is built from the stored messages (its time is reported).
3. Starts ``python -m server`` on it and runs ``--queries`` searches from one python-socketio
   client over WebSocket, one at a time, for three users: a member of every room, of 10
   rooms, and of 1 room. Queries are 1-3 terms taken from stored messages and cut to a
   random prefix (1 character to the whole word), some quoted phrases of two words, some
   with ``room`` or ``from``. Reports p50/p99/max of the ack round trip.

    python bench/v2_search.py                     # 1,000,000 messages, 100 rooms
    python bench/v2_search.py --messages 100000   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.auth import hash_password  # noqa: E402
from server.handlers.search import parse_query  # noqa: E402
from server.storage.sqlite import SQLiteStorage, schema  # noqa: E402

PASSWORD = "bench password"
USERS = 200
LETTERS = "abcdefghijklmnopqrstuvwxyz" * 3 + "éèüöäçñ"


def vocabulary(rnd: random.Random, size: int) -> list[str]:
    """Made-up words, shortest first (the most frequent words of a language are short)."""
    words: set[str] = set()
    while len(words) < size:
        length = max(1, min(14, int(rnd.lognormvariate(1.7, 0.45))))
        words.add("".join(rnd.choice(LETTERS) for _ in range(length)))
    return sorted(words, key=lambda w: (len(w), w))


def build(data_dir: Path, messages: int, rooms: int, seed: int) -> None:
    """Schema version 2 (as a v2 server left it), filled by bulk inserts."""
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(data_dir / "parley.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    for version in range(2):
        conn.execute("BEGIN")
        schema.MIGRATIONS[version](conn)
        conn.execute(f"PRAGMA user_version={version + 1}")
        conn.execute("COMMIT")
    rnd = random.Random(seed)
    hashed = asyncio.run(_hash())
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO users (id, name, name_key, password_hash, created_ms) VALUES (?, ?, ?, ?, 0)",
        [(u, f"user{u}", f"user{u}", hashed) for u in range(1, USERS + 1)],
    )
    room_ids = ["general"] + [f"room{r:03d}" for r in range(1, rooms)]
    conn.executemany(
        "INSERT INTO rooms (id, kind, topic, owner_id) VALUES (?, 'public', '', 1)",
        [(r,) for r in room_ids],
    )
    # user1: every room; user2: 10 rooms; user3: 1 room; the others: 5 rooms each
    members = {(r, 1) for r in room_ids} | {(r, 2) for r in room_ids[:10]} | {(room_ids[1], 3)}
    for u in range(4, USERS + 1):
        members |= {(r, u) for r in rnd.sample(room_ids, 5)}
    conn.executemany("INSERT INTO members (room_id, user_id) VALUES (?, ?)", sorted(members))
    conn.execute("COMMIT")
    vocab = vocabulary(rnd, 30_000)
    cumulative = list(itertools.accumulate(1 / (i + 1) ** 1.05 for i in range(len(vocab))))
    seq = dict.fromkeys(room_ids, 0)
    batch = 20_000
    started = time.perf_counter()
    for start in range(0, messages, batch):
        rows = []
        for n in range(start, min(start + batch, messages)):
            room = room_ids[n % rooms]
            seq[room] += 1
            text = " ".join(rnd.choices(vocab, cum_weights=cumulative, k=rnd.randint(3, 15)))
            rows.append((room, rnd.randint(1, USERS), 1_764_000_000_000 + n, text, seq[room]))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO messages (room_id, sender_id, ts, kind, text, seq)"
            " VALUES (?, ?, ?, 'text', ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
    conn.executemany("UPDATE rooms SET seq = ? WHERE id = ?", [(s, r) for r, s in seq.items()])
    conn.close()
    print(f"generated {messages:,} messages in {time.perf_counter() - started:.0f} s")


async def _hash() -> str:
    return await hash_password(PASSWORD)


async def migrate(data_dir: Path) -> None:
    storage = SQLiteStorage(data_dir / "parley.sqlite3")
    started = time.perf_counter()
    await storage.open()
    print(f"schema step 3 (search index of every message): {time.perf_counter() - started:.1f} s")
    await storage.close()


def queries(data_dir: Path, count: int, seed: int) -> list[dict[str, Any]]:
    conn = sqlite3.connect(data_dir / "parley.sqlite3")
    top = conn.execute("SELECT MAX(id) FROM messages").fetchone()[0]
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    while len(out) < count:
        row = conn.execute(
            "SELECT text, room_id, sender_id FROM messages WHERE id = ?", (rnd.randint(1, top),)
        ).fetchone()
        if row is None:
            continue
        words = row[0].split()
        kind = rnd.random()
        if kind < 0.1 and len(words) > 1:
            i = rnd.randrange(len(words) - 1)
            query = f'"{words[i]} {words[i + 1]}"'
        else:
            picks = rnd.sample(words, min(len(words), rnd.choice([1, 1, 2, 2, 3])))
            query = " ".join(w[: rnd.randint(1, len(w))] for w in picks)
        payload: dict[str, Any] = {"query": query}
        if rnd.random() < 0.15:
            payload["room"] = row[1]
        if rnd.random() < 0.1:
            payload["from"] = f"user{row[2]}"
        out.append(payload)
    conn.close()
    return out


async def measure(url: str, user: str, payloads: list[dict[str, Any]]) -> list[float]:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(
        url,
        auth={"username": user, "password": PASSWORD},
        transports=["websocket"],
        wait_timeout=60,  # argon2 on a loaded machine
    )
    times: list[float] = []
    found = 0
    try:
        for payload in payloads:
            started = time.perf_counter()
            ack = await sio.call("message:search", payload, timeout=30)
            times.append((time.perf_counter() - started) * 1000)
            if not ack["ok"] and ack["error"]["code"] != "forbidden":
                raise RuntimeError(f"{payload}: {ack}")
            found += len(ack.get("messages", []))
    finally:
        await sio.disconnect()
    print(f"  {user}: {found / len(payloads):.1f} results per query on average")
    return times


async def measure_storage(data_dir: Path, payloads: list[dict[str, Any]]) -> None:
    """The same queries straight on the storage (no socket, no server process): what the
    index costs, apart from the transport and the scheduling of a loaded machine."""
    storage = SQLiteStorage(data_dir / "parley.sqlite3")
    await storage.open()
    print("\nstorage only (search_messages in this process, same queries):")
    print("| requester | queries | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    try:
        for user_id, label in (
            (1, "member of 100 rooms"),
            (2, "member of 10 rooms"),
            (3, "member of 1 room"),
        ):
            mine = await storage.member_room_ids(user_id)
            times = []
            for payload in payloads:
                terms = parse_query(payload["query"])
                rooms = mine
                if "room" in payload:
                    if payload["room"] not in mine:
                        continue  # forbidden: never reaches the index
                    rooms = [payload["room"]]
                sender = None
                if "from" in payload:
                    sender = int(payload["from"].removeprefix("user"))
                started = time.perf_counter()
                await storage.search_messages(terms, rooms, sender, None, 20)
                times.append((time.perf_counter() - started) * 1000)
            print(
                f"| {label} | {len(times)} | {percentile(times, 0.5):.1f} | "
                f"{percentile(times, 0.99):.1f} | {max(times):.1f} |"
            )
    finally:
        await storage.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/parley-bench-search"))
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    db = args.data_dir / "parley.sqlite3"
    if not db.exists():
        build(args.data_dir, args.messages, args.rooms, args.seed)
        asyncio.run(migrate(args.data_dir))
    size = sum(f.stat().st_size for f in args.data_dir.glob("parley.sqlite3*"))
    print(f"database: {size / 2**20:.0f} MiB")
    payloads = queries(args.data_dir, args.queries, args.seed + 1)

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server",
            "--port",
            str(args.port),
            "--data-dir",
            str(args.data_dir),
            "--rate-limit",
            "0",
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        load = os.getloadavg()
        print(f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        print("| requester | queries | p50 ms | p99 ms | max ms | mean ms |")
        print("|---|---|---|---|---|---|")
        rows = []
        for user, label in (
            ("user1", "member of 100 rooms"),
            ("user2", "member of 10 rooms"),
            ("user3", "member of 1 room"),
        ):
            times = asyncio.run(measure(url, user, payloads))
            rows.append(
                f"| {label} | {len(times)} | {percentile(times, 0.5):.1f} | "
                f"{percentile(times, 0.99):.1f} | {max(times):.1f} | {statistics.mean(times):.1f} |"
            )
            print(rows[-1], flush=True)
        load = os.getloadavg()
        print(f"load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    finally:
        server.terminate()
        server.wait(30)
    asyncio.run(measure_storage(args.data_dir, payloads))


if __name__ == "__main__":
    main()
