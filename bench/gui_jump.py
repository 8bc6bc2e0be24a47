"""GUI benchmark: paging history back and the reply jump cost the page, not the distance.

1. Seeds ``--messages`` messages into one room through the server's storage layer (the
   same room as ``bench/gui_search.py``: pass the same ``--data-dir`` to reuse it).
2. Starts ``python -m server`` on that data in another process and opens the real
   ``MainWindow`` on a qasync loop, signed in as a member, the room on screen.
3. Scroll-back: loads ``--pages`` pages of older history one after the other
   (``ChatClient.load_older``, what reaching the top of the timeline does), each flushed
   into the timeline model, and records the GUI thread's CPU time per page: the first
   pages against the last ones show whether a page's cost grows with the distance.
4. Reply jump: from a fresh window (the newest page only), ``jump_to`` a message
   ``--jump-back`` messages back (the history around it is loaded, then the view scrolls
   there and flashes it), timed to the flash, with the GUI thread's CPU time and the
   longest stall of a 10 ms QTimer heartbeat; then "Jump to latest" back to the present
   (``scroll_to_latest``), its GUI CPU time.

    python bench/gui_jump.py --data-dir /tmp/jumpbench     # 20,000 messages

Run it once with ``PARLEY_TREE=/other/checkout`` for a before/after.
It prints a markdown table; record it in ``bench/README.md``. Not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# PARLEY_TREE=/other/checkout measures that tree's desktop code (a before/after)
REPO = Path(os.environ.get("PARLEY_TREE") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench.gui_search import PASSWORD, ROOM, seed  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402


async def until(cond: Any, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.002)
    return True


async def open_window(url: str, home: Path) -> tuple[Any, Any]:
    from desktop.net.client import ChatClient
    from desktop.settings import AppSettings
    from desktop.ui.main_window import MainWindow

    client = ChatClient(home)
    window = MainWindow(client, AppSettings(home))
    window.resize(1200, 760)
    window.show()
    assert await client.connect_to(url, {"username": "viewer", "password": PASSWORD})
    await until(lambda: client.room_model.row_of(ROOM) is not None)
    window.show_room(ROOM)
    await until(lambda: client.message_model(ROOM).rowCount() > 0)
    await asyncio.sleep(0.3)
    return client, window


async def close(client: Any, window: Any) -> None:
    await client.disconnect()
    window.close()
    window.deleteLater()


async def gui(url: str, pages: int, jump_back: int, tmp: Path) -> dict[str, Any]:
    from PySide6.QtCore import QTimer

    ticks: list[float] = []

    def tick() -> None:
        ticks.append(time.perf_counter())

    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(tick)
    load_before = os.getloadavg()[0]

    # 3. scroll-back, page after page
    client, window = await open_window(url, tmp / "a")
    model = client.message_model(ROOM)
    page_cpu: list[float] = []
    for _ in range(pages):
        c0 = time.thread_time()
        if await client.load_older(ROOM) == 0:
            break
        model.flush()
        page_cpu.append((time.thread_time() - c0) * 1000)
    held_scroll = client.messages.count(ROOM)
    await close(client, window)

    # 4. the reply jump, from a fresh window
    client, window = await open_window(url, tmp / "b")
    newest = client.messages.newest_id(ROOM) or 0
    target = newest - jump_back
    heartbeat.start()
    t0, c0 = time.perf_counter(), time.thread_time()
    window.replies.jump_to(target)
    ok = await until(lambda: window.timeline.delegate.flash_id == target, 300)
    jump_ms = (time.perf_counter() - t0) * 1000
    jump_cpu = (time.thread_time() - c0) * 1000
    heartbeat.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    held_jump = client.messages.count(ROOM)
    c1 = time.thread_time()
    window.timeline.scroll_to_latest()
    window.timeline.doItemsLayout()  # what the next paint does
    back_cpu = (time.thread_time() - c1) * 1000
    await close(client, window)
    return {
        "pages": len(page_cpu), "held_scroll": held_scroll,
        "first10": statistics.mean(page_cpu[:10]) if page_cpu else float("nan"),
        "last10": statistics.mean(page_cpu[-10:]) if page_cpu else float("nan"),
        "scroll_cpu_s": sum(page_cpu) / 1000,
        "jump_ok": ok, "jump_ms": jump_ms, "jump_cpu_ms": jump_cpu,
        "jump_stall_ms": max(gaps) * 1000 if gaps else float("nan"),
        "held_jump": held_jump, "back_cpu_ms": back_cpu,
        "load_before": load_before, "load_after": os.getloadavg()[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--pages", type=int, default=150, help="pages of 50 paged back")
    parser.add_argument("--jump-back", type=int, default=4_000)
    parser.add_argument("--data-dir", type=Path,
                        help="keep the server's data here and reuse it on the next run")
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_only:
        samples = asyncio.run(seed(args.data_dir, args.messages, random.Random(7)))
        (args.data_dir / "bench-samples.json").write_text(json.dumps(samples))
        return 0
    with tempfile.TemporaryDirectory(prefix="parley-jumpbench-") as tmp_name:
        tmp = Path(tmp_name)
        data = args.data_dir or tmp / "server"
        kept = data / "bench-samples.json"
        if kept.exists():
            print(f"reusing the messages in {data}", flush=True)
        else:  # in another process: the seeding's garbage would slow this one's GC
            subprocess.run([sys.executable, __file__, "--seed-only", "--data-dir", str(data),
                            "--messages", str(args.messages)], check=True)
        server = ServerProcess(data, "--rate-limit", "0", "--log-level", "WARNING")
        server.start()
        try:
            from desktop.app import ensure_application, run_on_qasync

            app = ensure_application()
            res = run_on_qasync(app, gui(server.url, args.pages, args.jump_back, tmp))
        finally:
            server.stop()
    print()
    print(f"load average {res['load_before']:.1f} before, {res['load_after']:.1f} after, "
          f"on {os.cpu_count()} CPUs")
    print("| benchmark | measured |")
    print("|---|---|")
    print(f"| scroll-back: {res['pages']} pages of older history one by one "
          f"({res['held_scroll']:,} held at the end), GUI-thread CPU per page | first 10 "
          f"pages {res['first10']:.1f} ms, last 10 {res['last10']:.1f} ms; "
          f"{res['scroll_cpu_s']:.2f} s in all |")
    print(f"| reply jump {args.jump_back:,} messages back ({res['held_jump']:,} held then) "
          f"| {'flashed' if res['jump_ok'] else 'NOT reached'} after {res['jump_ms']:.0f} ms, "
          f"GUI-thread CPU {res['jump_cpu_ms']:.0f} ms, longest stall "
          f"{res['jump_stall_ms']:.0f} ms |")
    back = res.get("back_cpu_ms")
    if back is not None:
        print(f"| then \"Jump to latest\" | GUI-thread CPU {back:.0f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
