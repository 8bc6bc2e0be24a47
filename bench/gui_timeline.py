"""GUI benchmarks of the desktop app (issue 3's table), offscreen, against a real server.

What it measures, all in this process's real ``MainWindow`` on a qasync loop, with the
server and the flooding peer in *other* processes so only the client's work is timed:

- **open 10k (server)**: a room holding 10,000 messages on the server, never opened by this
  client: ``show_room()`` until the timeline has rows and ``viewport().repaint()`` returned;
- **open 10k (loaded)**: the same room after all 10,000 messages were paged into the
  client's store: switch away and back, until the first repaint returned;
- **RSS with 10k loaded**: ``VmRSS`` of this process then;
- **flood stall**: a peer process sends 2,000 messages as fast as the server acks them
  into the room on screen; a 10 ms QTimer records its ticks; the longest gap between two
  ticks, from the first delivery until all 2,000 rows are in the model;
- **cold start**: ``python -m desktop --server URL ...`` in a fresh process, from spawn
  until its main window has painted with the room list filled;
- **resize relayout**: a TimelineView showing a window of 2,000 rows (texts of many
  lengths, some images) changes width (1200 → 800 → 1000 → 700 → ... px): the time of the
  resize (which relays out every row at the new width) plus the repaint, per width change;
  widths seen for the first time (every layout recomputed) and widths seen before (the
  layouts come from the delegate's cache) are reported apart. ``--resize-only`` runs just
  this one (no server).

On a small machine the server, the flooding peer (and anything else running) compete
with the GUI for the cores, and a "stall" may be the scheduler running them instead: the
worst gaps are printed with the GUI thread's own CPU time in each (and the load average),
which tells the two apart. ``--pin`` puts this process on one core and the server and
peer on the others, as if the server were another machine (only useful on an otherwise
idle machine).

Run: ``python bench/gui_timeline.py [--messages 10000] [--flood 2000] [--pin]
[--resize-rows 2000] [--resize-only]``. It prints a
markdown table; record it in ``bench/README.md``. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench.gui_resize import print_resize, resize_measurements  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402

PASSWORD = "bench-password-123"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ----------------------------------------------------------------------- peer processes
async def _peer_send(url: str, user: str, room: str, count: int, create: bool) -> None:
    """Send ``count`` texts into ``room`` with up to 64 unacked, as fast as acks come."""
    import socketio

    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(
        url,
        auth={"username": user, "password": PASSWORD},
        transports=["websocket"],
        wait_timeout=20,
    )
    if create:
        await sio.call("room:create", {"name": room}, timeout=20)
    else:
        await sio.call("room:join", {"room": room}, timeout=20)
    window = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with window:
            ack = await sio.call(
                "message:send",
                {
                    "room": room,
                    "client_id": uuid.uuid4().hex,
                    "text": f"message {i}: the quick brown fox jumps over the lazy dog "
                    * (1 + i % 3),
                },
                timeout=60,
            )
            if not ack.get("ok"):
                raise RuntimeError(f"send failed: {ack}")

    await asyncio.gather(*(one(i) for i in range(count)))
    await sio.disconnect()


async def _react(url: str, user: str, room: str, rate: float) -> None:
    """React to the room's newest messages at ``rate`` reactions a second (each one a
    ``message:updated`` on the viewer) until stdin closes; print how many were acked."""
    import socketio

    sio = socketio.AsyncClient(reconnection=False)
    ids: list[int] = []
    sio.on("message", lambda data: ids.append(int(data["id"])) if data.get("room") == room
           else None)
    await sio.connect(url, auth={"username": user, "password": PASSWORD},
                      transports=["websocket"], wait_timeout=20)
    await sio.call("room:join", {"room": room}, timeout=20)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def on_stdin() -> None:
        if not stop.done() and sys.stdin.readline() == "":
            stop.set_result(None)  # the parent closed our stdin: the flood is over

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    emoji = ["👍", "❤️", "😂", "🎉", "😮", "😢"]
    acked = 0
    on: dict[tuple[int, str], bool] = {}
    n = 0
    start = time.monotonic()
    pending: set[asyncio.Task[Any]] = set()

    async def one(mid: int, e: str, state: bool) -> None:
        nonlocal acked
        ack = await sio.call("reaction:set", {"room": room, "id": mid, "emoji": e,
                                              "on": state}, timeout=60)
        if ack.get("ok"):
            acked += 1

    while not stop.done():
        if ids:
            mid = ids[-1 - (n % min(len(ids), 30))]  # the rows on screen during the flood
            e = emoji[n % len(emoji)]
            state = not on.get((mid, e), False)
            on[(mid, e)] = state
            task = asyncio.ensure_future(one(mid, e, state))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
        # keep to the rate on average
        delay = start + n / rate - time.monotonic()
        await asyncio.sleep(max(0.0, delay) if ids else 0.01)
    await asyncio.gather(*pending, return_exceptions=True)
    print(json.dumps({"reactions": acked}), flush=True)
    await sio.disconnect()


PIN: dict[str, set[int]] = {}  # "gui" / "others" -> CPU sets, when pinning


def pin(pid: int, role: str) -> None:
    cpus = PIN.get(role)
    if cpus:
        os.sched_setaffinity(pid, cpus)


def run_peer(url: str, user: str, room: str, count: int, create: bool) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--peer", url, user, room, str(count), "1" if create else "0"],
        cwd=REPO,
    )
    pin(proc.pid, "others")
    return proc


# ----------------------------------------------------------------------- cold start child
def cold_start_child(argv: list[str]) -> int:
    """Run the real app; print seconds since ``spawn_ts`` when the main window painted."""
    spawn_ts = float(argv[0])
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QAbstractItemView, QApplication, QMainWindow

    from desktop.app import ensure_application, main

    app = ensure_application()

    class FirstPaint(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.done = False

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
            if not self.done and event.type() == QEvent.Type.Paint and isinstance(obj, QMainWindow):
                room_list = obj.findChild(QAbstractItemView, "roomList")
                model = room_list.model() if room_list is not None else None
                if model is not None and model.rowCount() > 0:
                    self.done = True
                    print(json.dumps({"cold_start_s": time.time() - spawn_ts}), flush=True)
                    QTimer.singleShot(0, obj.close)
            return False

    watcher = FirstPaint()
    app.installEventFilter(watcher)
    # Repaint now and then, so "room list filled" is seen even with no other repaint.
    ticker = QTimer()
    ticker.timeout.connect(lambda: [w.update() for w in QApplication.topLevelWidgets()])
    ticker.start(20)
    return main(argv[1:])


# ----------------------------------------------------------------------- the GUI measurements
async def gui_measurements(
    url: str,
    messages: int,
    flood: int,
    tmp: Path,
    profile: str | None = None,
    reactions: float = 0.0,
) -> dict[str, Any]:
    from PySide6.QtCore import QTimer

    from desktop.net.client import ChatClient
    from desktop.settings import AppSettings
    from desktop.ui.main_window import MainWindow

    results: dict[str, Any] = {}
    client = ChatClient(tmp / "gui")
    window = MainWindow(client, AppSettings(tmp / "gui"))
    window.resize(1200, 760)
    window.show()
    assert await client.connect_to(url, {"username": "viewer", "password": PASSWORD})

    async def until(cond: Any, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise TimeoutError
            await asyncio.sleep(0.001)

    # open 10k (server): join the big room and show it
    await client.join_room("big")
    await until(lambda: client.room_model.row_of("big") is not None)
    t0 = time.perf_counter()
    window.show_room("big")
    model = client.message_model("big")
    await until(lambda: model.rowCount() > 0)
    window.timeline.viewport().repaint()
    results["open_server_ms"] = (time.perf_counter() - t0) * 1000

    # page everything in, then open again from memory
    while await client.load_older("big") > 0:
        pass
    await until(lambda: model.rowCount() >= messages)
    window.show_room("general")
    window.timeline.viewport().repaint()
    t0 = time.perf_counter()
    window.show_room("big")
    window.timeline.viewport().repaint()
    results["open_loaded_ms"] = (time.perf_counter() - t0) * 1000
    results["rows_loaded"] = model.rowCount()
    await asyncio.sleep(0.5)
    results["rss_mb"] = rss_mb()
    # flood: show the flood room, tick a 10 ms timer, let a peer process flood it
    await client.join_room("flood")
    await until(lambda: client.room_model.row_of("flood") is not None)
    window.show_room("flood")
    flood_model = client.message_model("flood")
    base = flood_model.rowCount()
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    cpu: dict[float, float] = {}  # tick -> this thread's CPU seconds then

    def tick() -> None:
        now = time.perf_counter()
        ticks.append(now)
        cpu[now] = time.thread_time()

    timer.timeout.connect(tick)
    timer.start()
    gc_pauses: list[tuple[float, float, int]] = []  # (start, seconds, generation)
    gc_start: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_start[:] = [time.perf_counter()]
        elif gc_start:
            gc_pauses.append(
                (gc_start[0], time.perf_counter() - gc_start[0], int(info.get("generation", -1)))
            )

    import gc

    gc.callbacks.append(on_gc)
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    reactor = None
    if reactions > 0:
        # a second peer reacts to the flood's newest rows: message:updated at that rate
        reactor = subprocess.Popen(
            [sys.executable, __file__, "--reactor", url, "reactor", "flood", str(reactions)],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        pin(reactor.pid, "others")
        assert reactor.stdout is not None
        reactor.stdout.readline()  # "ready"
    peer = run_peer(url, "flooder", "flood", flood, create=False)
    await until(lambda: flood_model.rowCount() > base, 60)
    first = time.perf_counter()
    await until(lambda: flood_model.rowCount() >= base + flood, 300)
    last = time.perf_counter()
    timer.stop()
    gc.callbacks.remove(on_gc)
    if prof is not None and profile:
        prof.disable()
        prof.dump_stats(profile)
    peer.wait(60)
    if reactor is not None:
        out, _err = reactor.communicate("", timeout=120)
        sent = json.loads(out.strip().splitlines()[-1])["reactions"]
        results["reactions_per_s"] = sent / (last - first)
        results["reactions"] = sent
        results["reacted_rows"] = sum(1 for m in client.messages.messages("flood") if m.reactions)
    during = [t for t in ticks if first <= t <= last]
    gaps = [b - a for a, b in zip(during, during[1:], strict=False)]
    results["flood_rows"] = flood_model.rowCount() - base
    results["flood_s"] = last - first
    results["flood_max_stall_ms"] = max(gaps) * 1000 if gaps else float("nan")
    results["flood_ticks"] = len(during)
    # For each of the worst gaps: its length, when (s into the flood), and how much of it
    # the GUI thread spent on the CPU (the rest it was waiting: the OS ran the server
    # and the peer process on this machine's cores instead).
    worst = sorted(zip(gaps, during, during[1:], strict=False), reverse=True)[:5]
    results["flood_worst_gaps"] = [
        (round(g * 1000), round(a - first, 2), round((cpu[b] - cpu[a]) * 1000)) for g, a, b in worst
    ]
    pauses = [p for p in gc_pauses if first <= p[0] <= last]
    results["flood_gc_max_ms"] = max((p[1] for p in pauses), default=0.0) * 1000
    results["flood_gc_gen2"] = sum(1 for p in pauses if p[2] == 2)

    await client.disconnect()
    window.close()
    window.deleteLater()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--flood", type=int, default=2_000)
    parser.add_argument(
        "--pin", action="store_true", help="pin the GUI and the other processes apart"
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="cProfile the flood phase into FILE (inflates the stall)"
    )
    parser.add_argument("--reactions", type=float, default=0.0, metavar="PER_S",
                        help="a second peer reacts to the flood's rows at this rate (v2)")
    parser.add_argument("--no-resize", action="store_true", help="skip cold start and resize")
    parser.add_argument("--resize-rows", type=int, default=2_000)
    parser.add_argument("--resize-only", action="store_true", help="only the resize benchmark")
    parser.add_argument("--peer", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--reactor", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--cold-start-child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        url, user, room, count, create = args.peer
        asyncio.run(_peer_send(url, user, room, int(count), create == "1"))
        return 0
    if args.reactor:
        url, user, room, rate = args.reactor
        asyncio.run(_react(url, user, room, float(rate)))
        return 0
    if args.cold_start_child is not None:
        return cold_start_child(args.cold_start_child)
    if args.resize_only:
        from desktop.app import ensure_application

        ensure_application()
        load = os.getloadavg()[0]
        resize = resize_measurements(args.resize_rows)
        print(f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after, "
              f"on {os.cpu_count()} CPUs")
        print("| benchmark | target | measured |")
        print("|---|---|---|")
        print_resize(resize)
        return 0

    with tempfile.TemporaryDirectory(prefix="parley-guibench-") as tmp_name:
        tmp = Path(tmp_name)
        cpus = sorted(os.sched_getaffinity(0))
        if args.pin and len(cpus) >= 2:
            PIN["gui"], PIN["others"] = {cpus[0]}, set(cpus[1:])
        server = ServerProcess(tmp / "server", "--rate-limit", "0", "--log-level", "WARNING")
        server.start()
        if server.proc is not None:
            pin(server.proc.pid, "others")
        pin(0, "gui")
        try:
            print(f"seeding {args.messages} messages ...", flush=True)
            seed = run_peer(server.url, "seeder", "big", args.messages, create=True)
            if seed.wait() != 0:
                raise SystemExit("seeding failed")
            subprocess.run(
                [sys.executable, __file__, "--peer", server.url, "flooder", "flood", "0", "1"],
                cwd=REPO,
                check=True,
            )

            from desktop.app import ensure_application, run_on_qasync

            app = ensure_application()
            res = run_on_qasync(
                app,
                gui_measurements(
                    server.url, args.messages, args.flood, tmp, args.profile,
                    args.reactions,
                ),
            )

            pw = tmp / "pw"
            pw.write_text(PASSWORD)
            colds = []
            for i in range(0 if args.no_resize else 3):
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--cold-start-child",
                        repr(time.time()),
                        "--server",
                        server.url,
                        "--user",
                        "coldstart",
                        "--password-file",
                        str(pw),
                        "--data-dir",
                        str(tmp / f"cold-{i}"),
                    ],
                    cwd=REPO,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                line = next((ln for ln in out.stdout.splitlines() if "cold_start_s" in ln), None)
                if line:
                    colds.append(json.loads(line)["cold_start_s"])
                else:
                    print(out.stdout, out.stderr, file=sys.stderr)
            res["cold_start_s"] = sorted(colds)[len(colds) // 2] if colds else float("nan")
            if not args.no_resize:
                res.update(resize_measurements(args.resize_rows))
        finally:
            server.stop()

    print()
    print(
        f"flood: {res['flood_rows'] / res['flood_s']:.0f} msg/s; worst gaps (ms, at s, GUI CPU ms) "
        f"{res['flood_worst_gaps']}; longest GC pause {res['flood_gc_max_ms']:.0f} ms, "
        f"{res['flood_gc_gen2']} full collections; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print("| benchmark | target | measured |")
    print("|---|---|---|")
    print(
        f"| open a room of {args.messages:,} messages (server, newest page), first paint "
        f"| ≤ 300 ms | {res['open_server_ms']:.0f} ms |"
    )
    print(
        f"| open a room with {res['rows_loaded']:,} messages loaded in the client, first paint "
        f"| ≤ 300 ms | {res['open_loaded_ms']:.0f} ms |"
    )
    print(
        f"| flood of {res['flood_rows']:,} incoming messages ({res['flood_s']:.1f} s), "
        f"longest event-loop stall | ≤ 50 ms | {res['flood_max_stall_ms']:.0f} ms |"
    )
    print(
        f"| resident memory with {res['rows_loaded']:,} messages loaded | ≤ 300 MB "
        f"| {res['rss_mb']:.0f} MB |"
    )
    print(
        f"| cold start of `parley` to first painted window (median of 3) | recorded "
        f"| {res['cold_start_s'] * 1000:.0f} ms |"
    )
    if "reactions" in res:
        print(f"| reactions during the flood (`message:updated`) | 200/s | "
              f"{res['reactions_per_s']:.0f}/s ({res['reactions']:,} acked, "
              f"{res['reacted_rows']:,} rows with chips) |")
    if not args.no_resize:
        print_resize(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
