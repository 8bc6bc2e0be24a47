"""Issue 8, media: decompression bombs, thumbnail size, decode admission, file names.

The memory bound is measured on a server in a child process (``VmHWM``, the kernel's RSS
high-water mark, so no peak is missed); the rest against the in-process server.
"""

from __future__ import annotations

import asyncio
import io
import os
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from server import media
from server.errors import ProtocolError
from server.protocol import Event
from tests.conftest import ServerFactory
from tests.server.conftest import Connect
from tests.server.helpers import PASSWORD, ChatTestClient
from tests.support.server_process import ServerProcess

MB = 1024 * 1024
# how long four bombs' acks may take (a loaded 2-core machine decodes them slowly)
BOMB_ACK_S = 90


def png_bomb() -> bytes:
    """39.99 megapixels of transparent RGBA: 155 KB on the wire, 160 MB decoded."""
    out = io.BytesIO()
    Image.new("RGBA", (6324, 6324), (0, 0, 0, 0)).save(out, format="PNG", optimize=True)
    return out.getvalue()


def webp_bomb() -> bytes:
    """36 megapixels in 1.4 KB."""
    out = io.BytesIO()
    Image.new("RGB", (6000, 6000), (200, 30, 30)).save(out, format="WEBP", lossless=True)
    return out.getvalue()


def animated_webp_bomb() -> bytes:
    """Two frames of 6000x6000: the animation path of a decoder is a second way in."""
    frames = [Image.new("RGBA", (6000, 6000), c) for c in ((200, 30, 30, 255), (0, 0, 0, 0))]
    out = io.BytesIO()
    frames[0].save(
        out, format="WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True
    )
    return out.getvalue()


def noisy_rgba(width: int = 1200, height: int = 900) -> bytes:
    """Random pixels and alpha: the worst case for a PNG thumbnail (was 351 KB)."""
    out = io.BytesIO()
    Image.frombytes("RGBA", (width, height), os.urandom(width * height * 4)).save(out, format="PNG")
    return out.getvalue()


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field}")


def image_send(data: bytes, name: str = "x.png") -> dict[str, Any]:
    return {
        "room": "general",
        "client_id": str(uuid.uuid4()),
        "image": {"data": data, "name": name},
    }


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@pytest.mark.timeout(3 * BOMB_ACK_S + 60)
async def test_four_concurrent_bombs_keep_the_server_under_300_mb(tmp_path: Path) -> None:
    """A 1.4 KB WebP took the server from 47 to 740 MB; four at once peaked at 2.46 GB."""
    server = ServerProcess(tmp_path / "data", "--rate-limit", "0")
    server.start()
    clients: list[ChatTestClient] = []
    try:
        assert server.proc is not None
        pid = server.proc.pid
        bombs = ((webp_bomb(), "b.webp"), (animated_webp_bomb(), "a.webp"), (png_bomb(), "b.png"))
        for kind, (bomb, name) in enumerate(bombs):
            # four fresh users per kind: each user's pixel budget (80 MP a minute) is its own
            users = []
            for i in range(4):
                client = ChatTestClient(server.url, ["websocket"])
                await client.connect({"username": f"bomber{kind}x{i}", "password": PASSWORD})
                await client.wait_for(Event.SESSION)
                users.append(client)
            clients += users
            idle = status_kb(pid, "VmRSS")
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            # the acks wait for the decodes, one after another through the pixel gate: the
            # PNG's took 18.9 s at load 23 on 2 cores, past the helpers' 10 s. Time is not
            # what this test measures: wait for them generously.
            acks = await asyncio.gather(
                *(
                    c.sio.call(Event.MESSAGE_SEND, image_send(bomb, name), timeout=BOMB_ACK_S)
                    for c in users
                )
            )
            growth_mb = (status_kb(pid, "VmHWM") - idle) / 1024
            assert all(a["ok"] or a["error"]["code"] == "rate_limited" for a in acks), acks
            assert any(a["ok"] for a in acks)
            assert growth_mb < 300, f"{name}: peak RSS grew {growth_mb:.0f} MB"
            # and the memory went back after the decodes
            assert (status_kb(pid, "VmRSS") - idle) / 1024 < 100
    finally:
        for client in clients:
            await client.disconnect()
        server.stop()


async def test_thumbnails_are_at_most_64_kib(connect: Connect) -> None:
    alice = await connect("alice")
    ack = await alice.ok(Event.MESSAGE_SEND, image_send(noisy_rgba()))
    image = ack["message"]["image"]
    assert (image["width"], image["height"]) == (1200, 900)
    assert len(image["thumb"]) <= 64 * 1024
    thumb = Image.open(io.BytesIO(image["thumb"]))
    assert max(thumb.size) <= 320 and thumb.format in ("PNG", "JPEG")
    # a small transparent image keeps a PNG thumbnail with its alpha
    out = io.BytesIO()
    Image.new("RGBA", (200, 100), (10, 20, 30, 100)).save(out, format="PNG")
    small = (await alice.ok(Event.MESSAGE_SEND, image_send(out.getvalue())))["message"]["image"]
    assert Image.open(io.BytesIO(small["thumb"])).mode in ("RGBA", "P")


async def test_decodes_are_admitted_by_a_bounded_queue() -> None:
    """One big decode runs, ``queue`` wait, the rest are refused at once (rate_limited)."""
    processor = media.ImageProcessor(workers=2, queue=1)
    bomb = png_bomb()
    try:
        results = await asyncio.gather(
            *(processor.process(bomb, 10 * MB, f"user{i}") for i in range(4)),
            return_exceptions=True,
        )
    finally:
        processor.close()
    outcome = Counter(r.code if isinstance(r, ProtocolError) else type(r).__name__ for r in results)
    assert outcome == {"ProcessedImage": 2, "rate_limited": 2}


async def test_pixels_decoded_per_user_are_budgeted(server_factory: ServerFactory) -> None:
    server = await server_factory(image_pixels_per_user_per_minute=50_000_000)
    alice = ChatTestClient(server.url, ["websocket"])
    await alice.connect({"username": "alice", "password": PASSWORD})
    await alice.wait_for(Event.SESSION)
    bomb = webp_bomb()
    assert (await alice.call(Event.MESSAGE_SEND, image_send(bomb, "a.webp")))["ok"]
    assert await alice.error(Event.MESSAGE_SEND, image_send(bomb, "b.webp")) == "rate_limited"
    # small images still fit in what is left
    out = io.BytesIO()
    Image.new("RGB", (100, 100)).save(out, format="PNG")
    assert (await alice.call(Event.MESSAGE_SEND, image_send(out.getvalue())))["ok"]
    # other users have their own budget
    bob = ChatTestClient(server.url, ["websocket"])
    await bob.connect({"username": "bob", "password": PASSWORD})
    await bob.wait_for(Event.SESSION)
    assert (await bob.call(Event.MESSAGE_SEND, image_send(bomb, "c.webp")))["ok"]
    await alice.disconnect()
    await bob.disconnect()


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("cat\u202egnp.exe", "catgnp.exe"),
        ("../../etc/x\x00y.png", "xy.png"),
        ("a\r\nb.png", "ab.png"),
        ("..", "image"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ("\u2066evil\u2069.png", "evil.png"),
        (".hidden.png", "hidden.png"),
    ],
)
async def test_image_names_are_sanitized(connect: Connect, sent: str, stored: str) -> None:
    alice = await connect("alice")
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, format="PNG")
    ack = await alice.ok(Event.MESSAGE_SEND, image_send(out.getvalue(), sent))
    assert ack["message"]["image"]["name"] == stored
    fetched = await alice.ok(Event.MEDIA_GET, {"id": ack["message"]["image"]["id"]})
    assert fetched["name"] == stored
