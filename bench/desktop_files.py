"""Benchmark the desktop client's file transfers: a big upload and download through
``ChatClient`` on the qasync loop, as the app does them (issue 10, "Files").

Starts ``python -m server`` on a fresh data dir, signs a real ``ChatClient`` in (offscreen
Qt, qasync), writes a ``--mib`` MiB file of random bytes (default 100), then
``send_file``s it (``POST /api/media`` streamed from disk, then ``message:send``) and
``download_file``s it back (``GET /media/{id}`` to a ``.part`` file, then moved). For each
it reports the throughput, the client process's peak RSS growth (``VmHWM`` reset through
``clear_refs`` just before; a client that read the file whole would grow by about its
size), and the GUI thread's worst stall: a 5 ms QTimer notes how late each tick fires,
so a disk read or write on the GUI thread would show as a long stall.

    QT_QPA_PLATFORM=offscreen python bench/desktop_files.py [--mib 100]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402

from desktop.app import ensure_application, run_on_qasync  # noqa: E402
from desktop.net.client import ChatClient  # noqa: E402

TICK_MS = 5


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class StallMeter:
    """The longest gap between two ticks of a 5 ms timer, minus the 5 ms (GUI stall)."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.worst = 0.0
        self._last = 0.0

    def start(self) -> None:
        self.worst = 0.0
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return self.worst * 1000

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self._last - TICK_MS / 1000)
        self._last = now


async def wait_for(condition, timeout: float = 300.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.01)


async def bench(url: str, mib: int, tmp: Path) -> None:
    client = ChatClient(tmp / "client")
    client.save_dir = tmp / "saved"
    meter = StallMeter()
    assert await client.connect_to(url, {"username": "bench", "password": "bench password"})
    source = tmp / "big.bin"
    with source.open("wb") as fh:
        for _ in range(mib):
            fh.write(os.urandom(1024 * 1024))
    total = mib * 1024 * 1024
    print("| transfer | MiB | seconds | MiB/s | client RSS before (MiB) | peak growth (MiB) "
          "| worst GUI stall (ms) |")
    print("|---|---|---|---|---|---|---|")
    model = client.message_model("general")

    def sent():  # type: ignore[no-untyped-def]
        for row in range(model.rowCount()):
            msg = model.message_at(row)
            if msg is not None and msg.file is not None and msg.id is not None:
                return msg
        return None

    reset_peak()
    before = kib("VmRSS")
    meter.start()
    started = time.perf_counter()
    client.send_file("general", source)
    await wait_for(lambda: sent() is not None)
    elapsed = time.perf_counter() - started
    stall = meter.stop()
    print(f"| upload + send | {mib} | {elapsed:.2f} | {mib / elapsed:.0f} | {before / 1024:.1f} "
          f"| {(kib('VmHWM') - before) / 1024:.1f} | {stall:.1f} |")
    msg = sent()
    assert msg is not None and msg.file is not None and msg.file.size == total

    reset_peak()
    before = kib("VmRSS")
    meter.start()
    started = time.perf_counter()
    client.download_file(msg.file)
    await wait_for(lambda: client.saved_path(msg.file.id) is not None)  # type: ignore[union-attr]
    elapsed = time.perf_counter() - started
    stall = meter.stop()
    print(f"| download | {mib} | {elapsed:.2f} | {mib / elapsed:.0f} | {before / 1024:.1f} "
          f"| {(kib('VmHWM') - before) / 1024:.1f} | {stall:.1f} |")
    saved = client.saved_path(msg.file.id)
    assert saved is not None
    digest = hashlib.sha256

    def same() -> bool:
        a, b = digest(), digest()
        with source.open("rb") as x, saved.open("rb") as y:
            for chunk in iter(lambda: x.read(1 << 20), b""):
                a.update(chunk)
            for chunk in iter(lambda: y.read(1 << 20), b""):
                b.update(chunk)
        return a.digest() == b.digest()

    assert await asyncio.to_thread(same), "the downloaded bytes differ"
    print("\nbytes compared: identical")
    await client.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-bench-desktop-files-") as data_dir:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        server = subprocess.Popen(
            [sys.executable, "-m", "server", "--port", str(args.port), "--data-dir",
             str(Path(data_dir) / "server"), "--log-level", "WARNING"],
            cwd=ROOT, env=env,
        )
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
            app = ensure_application()
            run_on_qasync(app, bench(url, args.mib, Path(data_dir)))
            load = os.getloadavg()
            print(f"load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
