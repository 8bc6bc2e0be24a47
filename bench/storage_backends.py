"""Storage throughput on both backends: inserts, history pages and searches, through the
``Storage`` interface itself (no sockets), so the figures are the backends' own.

For each backend (SQLite in a temp dir; PostgreSQL in a throwaway database of the server
at ``PARLEY_TEST_PG``, default 127.0.0.1:5432):

1. ``--writers`` concurrent senders insert ``--messages`` text messages in total into
   ``--rooms`` rooms (each insert awaited, as a handler awaits its ack): messages/s and the
   insert latency p50/p99 (the ack's share of the storage).
2. ``--reads`` history pages of 50 from random points: pages/s, p50/p99.
3. ``--searches`` searches of 1-2 word prefixes over every room: p50/p99.

    python bench/storage_backends.py                 # 20,000 messages
    python bench/storage_backends.py --messages 5000 --backends postgres
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.handlers.search import parse_query  # noqa: E402
from server.storage.base import NewMessage, Storage  # noqa: E402
from server.storage.sqlite import SQLiteStorage  # noqa: E402

WORDS = (
    "alpha beta gamma delta résumé café naïve meeting deploy build review friday report"
    " server client message search index room user upload image file change order"
).split()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def timed(calls: list[Callable[[], Awaitable[object]]], concurrency: int) -> list[float]:
    """Run the calls ``concurrency`` at a time; each one's latency in seconds."""
    latencies: list[float] = []
    queue = list(reversed(calls))

    async def worker() -> None:
        while queue:
            call = queue.pop()
            start = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def run(storage: Storage, args: argparse.Namespace, rnd: random.Random) -> dict[str, str]:
    users = [await storage.create_user(f"user{i}", "x", 1) for i in range(args.writers)]
    rooms = [f"room{i}" for i in range(args.rooms)]
    for r in rooms:
        await storage.create_room(r, "public", "", users[0].id, [u.id for u in users])  # type: ignore[union-attr]
    calls: list[Callable[[], Awaitable[object]]] = []
    for i in range(args.messages):
        sender = users[i % len(users)]
        text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 12)))
        msg = NewMessage(rnd.choice(rooms), sender.id, i, "text", text, f"c{i}")  # type: ignore[union-attr]
        calls.append(partial(storage.insert_message, msg))
    start = time.perf_counter()
    inserts = await timed(calls, args.writers)
    insert_s = time.perf_counter() - start
    reads: list[Callable[[], Awaitable[object]]] = []
    for _ in range(args.reads):
        where, bound = rnd.choice(rooms), rnd.randint(50, args.messages)
        reads.append(partial(storage.history, where, bound, None, 50))
    start = time.perf_counter()
    pages = await timed(reads, 4)
    read_s = time.perf_counter() - start
    searches: list[Callable[[], Awaitable[object]]] = []
    for _ in range(args.searches):
        query = " ".join(rnd.choice(WORDS)[: rnd.randint(2, 6)] for _ in range(rnd.randint(1, 2)))
        searches.append(partial(storage.search_messages, parse_query(query), rooms, None, None, 20))
    found = await timed(searches, 1)
    return {
        "inserts/s": f"{args.messages / insert_s:,.0f}",
        "insert p50/p99 ms": f"{pct(inserts, 0.5):.1f} / {pct(inserts, 0.99):.1f}",
        "history pages/s": f"{args.reads / read_s:,.0f}",
        "history p50/p99 ms": f"{pct(pages, 0.5):.1f} / {pct(pages, 0.99):.1f}",
        "search p50/p99 ms": f"{pct(found, 0.5):.1f} / {pct(found, 0.99):.1f}",
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--reads", type=int, default=2_000)
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    results: dict[str, dict[str, str]] = {}
    for backend in args.backends.split(","):
        rnd = random.Random(7)
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                storage: Storage = SQLiteStorage(Path(tmp) / "parley.sqlite3")
                await storage.open()
                try:
                    results[backend] = await run(storage, args, rnd)
                finally:
                    await storage.close()
        else:
            from server.storage.postgres import PostgresStorage
            from tests.support.services import throwaway_database

            async with throwaway_database() as url:
                storage = PostgresStorage(url, max_size=args.writers)
                await storage.open()
                try:
                    results[backend] = await run(storage, args, rnd)
                finally:
                    await storage.close()
    keys = list(next(iter(results.values())))
    print("| figure | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for key in keys:
        print(f"| {key} | " + " | ".join(r[key] for r in results.values()) + " |")


if __name__ == "__main__":
    asyncio.run(main())
