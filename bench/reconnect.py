"""How long the desktop client takes to be back after the server returns.

A real ``python -m server`` process is stopped (or killed) for each outage length; while
it is down the client queues two messages; then the server starts again and we measure,
from the moment ``/healthz`` answers, until the client is connected with its outbox
delivered. The first retry after a loss is immediate, then 1, 2, 4, 7, 10 s (+-20 %
jitter, capped at 10 s), so the worst case after a long outage is about 10 s. Pressing
"Reconnect now", focusing the window or the network coming back skips the wait.

    PYTHONPATH=. python bench/reconnect.py --outages 1,3,10,25 --repeat 2

Prints a markdown table (paste it into bench/README.md with the load average).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PARLEY_KEYRING", "file")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop.app import ensure_application, run_on_qasync  # noqa: E402
from desktop.net.client import ChatClient  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402


async def wait_until(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.01)


async def measure(outages: list[float], repeat: int) -> list[tuple[float, float, float]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "srv", "--rate-limit", "0", "--log-level", "ERROR")
        server.start()
        client = ChatClient(Path(tmp) / "app")
        try:
            assert await client.connect_to(server.url, {"username": "bench",
                                                        "password": "bench password"})
            for outage in outages:
                for _ in range(repeat):
                    server.kill()
                    await wait_until(lambda: client.state in ("reconnecting", "connecting"))
                    client.send_text("general", "while away 1")
                    client.send_text("general", "while away 2")
                    await asyncio.sleep(outage)
                    await asyncio.get_running_loop().run_in_executor(None, server.start)
                    back = time.monotonic()
                    await wait_until(lambda: client.state == "connected"
                                     and not client.outbox.entries())
                    rows.append((outage, time.monotonic() - back,
                                 max(list(client.scheduled_delays)[-8:] or [0.0])))
        finally:
            await client.disconnect()
            server.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outages", default="1,3,10,25")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    outages = [float(x) for x in args.outages.split(",")]
    app = ensure_application()
    rows = run_on_qasync(app, measure(outages, args.repeat))
    print("| outage (s) | back after return: median / max (s) | largest scheduled delay (s) |")
    print("|---|---|---|")
    for outage in outages:
        mine = [r for r in rows if r[0] == outage]
        backs = [r[1] for r in mine]
        print(f"| {outage:g} | {statistics.median(backs):.2f} / {max(backs):.2f} "
              f"| {max(r[2] for r in mine):.1f} |")
    print(f"\nload average: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
