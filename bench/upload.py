"""Benchmark ``POST /api/media`` with a large file over loopback (PROTOCOL.md section 17).

Starts ``python -m server`` on a fresh data dir, logs in over HTTP, and uploads a
``--mib`` MiB body (default 100) streamed from a generator, ``--repeat`` times. For each
upload it reports the throughput and how much the server's resident memory grew: the
peak RSS during the upload (``VmHWM`` from /proc, reset just before it through
``clear_refs``) minus the RSS before it, so a server
that held the body in memory would show a growth near the body's size. Then it downloads
the file once (``GET /media/{id}``) and reports that throughput too.

    python bench/upload.py
    python bench/upload.py --mib 100 --repeat 3
    python bench/upload.py --pg postgresql://postgres@127.0.0.1:5432/postgres

With ``--pg ADMIN_URL`` the server runs on PostgreSQL (``--database``) in a throwaway
database made through that URL (dropped after), so the file goes into ``upload_chunks``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import socketio

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 256 * 1024


def reset_peak(pid: int) -> None:
    """Make VmHWM start again from the current RSS (Linux: "5" > clear_refs), so the
    peak measured is the upload's own, not argon2's at login."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


async def body(total: int) -> AsyncIterator[bytes]:
    block = os.urandom(CHUNK)
    sent = 0
    while sent < total:
        piece = block[: min(CHUNK, total - sent)]
        sent += len(piece)
        yield piece


async def run(url: str, pid: int, mib: int, repeat: int) -> None:
    total = mib * 1024 * 1024
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/api/login", json={"username": "bench", "password": "bench password"}
        ) as resp:
            token = (await resp.json())["token"]
        auth = {"Authorization": f"Bearer {token}"}
        print("| run | MiB | seconds | MiB/s | server RSS before (MiB) | peak growth (MiB) |")
        print("|---|---|---|---|---|---|")
        upload_id = ""
        for i in range(repeat):
            reset_peak(pid)
            before = proc_kib(pid, "VmRSS")
            started = time.perf_counter()
            async with http.post(
                f"{url}/api/media?name=big.bin",
                data=body(total),
                headers={**auth, "Content-Length": str(total)},
            ) as resp:
                answer = await resp.json()
                assert resp.status == 201, answer
            elapsed = time.perf_counter() - started
            after = proc_kib(pid, "VmHWM")
            upload_id = answer["upload"]["id"]
            print(
                f"| {i + 1} | {mib} | {elapsed:.2f} | {mib / elapsed:.0f} | "
                f"{before / 1024:.1f} | {(after - before) / 1024:.1f} |"
            )
        sio = socketio.AsyncClient(reconnection=False)
        await sio.connect(url, auth={"token": token}, transports=["websocket"])
        ack = await sio.call(
            "message:send",
            {"room": "general", "client_id": str(uuid.uuid4()), "file": {"upload": upload_id}},
        )
        await sio.disconnect()
        assert ack["ok"], ack
        reset_peak(pid)
        before = proc_kib(pid, "VmRSS")
        started = time.perf_counter()
        got = 0
        async with http.get(f"{url}/media/{upload_id}", headers=auth) as resp:
            async for chunk in resp.content.iter_chunked(CHUNK):
                got += len(chunk)
        elapsed = time.perf_counter() - started
        assert got == total
        growth = (proc_kib(pid, "VmHWM") - before) / 1024
        print(
            f"\ndownload: {mib} MiB in {elapsed:.2f} s = {mib / elapsed:.0f} MiB/s, "
            f"server peak RSS growth {growth:.1f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--port", type=int, default=8798)
    parser.add_argument("--pg", metavar="ADMIN_URL", help="run the server on PostgreSQL")
    args = parser.parse_args()
    database = asyncio.run(pg_database(args.pg, create=True)) if args.pg else None
    try:
        bench(args, database)
    finally:
        if database:
            asyncio.run(pg_database(args.pg, create=False, url=database))


async def pg_database(admin_url: str, *, create: bool, url: str = "") -> str:
    """Create a throwaway database (its URL), or drop ``url``'s."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        if create:
            name = f"parley_bench_{secrets.token_hex(4)}"
            await conn.execute(f'CREATE DATABASE "{name}"')
            return admin_url.rsplit("/", 1)[0] + "/" + name
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        return url
    finally:
        await conn.close()


def bench(args: argparse.Namespace, database: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="parley-bench-upload-") as data_dir:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        command = [
            sys.executable,
            "-m",
            "server",
            "--port",
            str(args.port),
            "--data-dir",
            data_dir,
            "--log-level",
            "WARNING",
        ]
        if database:
            command += ["--database", database]
            print("server on PostgreSQL (files in upload_chunks)")
        server = subprocess.Popen(command, cwd=ROOT, env=env)
        url = f"http://127.0.0.1:{args.port}"
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(url + "/healthz", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            load = os.getloadavg()
            print(f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
            asyncio.run(run(url, server.pid, args.mib, args.repeat))
            load = os.getloadavg()
            print(f"load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
