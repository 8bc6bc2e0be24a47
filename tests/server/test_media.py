"""Images: sniffing, limits checked before decoding, thumbnails, and fetching the exact bytes."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from server.protocol import GENERAL_ROOM, Event
from tests.conftest import ServerFactory
from tests.server.conftest import Connect
from tests.server.helpers import PASSWORD, ChatTestClient


def png_bytes(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), (200, 30, 30, 128)[: len(mode)]).save(out, "PNG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header claims another size (a decompression bomb's header)."""
    data = bytearray(png_bytes(1, 1))
    # IHDR chunk: 8-byte signature, 4-byte length, b"IHDR", then width and height
    data[16:24] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF
    data[29:33] = struct.pack(">I", crc)
    return bytes(data)


async def test_png_roundtrip_with_thumbnail_and_exact_bytes(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    data = png_bytes(800, 600)
    ack = await alice.ok(
        Event.MESSAGE_SEND,
        {
            "room": GENERAL_ROOM,
            "client_id": "img",
            "text": "a caption",
            "image": {"data": data, "name": "../../etc/red.png"},
        },
    )
    message = ack["message"]
    image = message["image"]
    assert message["kind"] == "image" and message["text"] == "a caption"
    assert image["mime"] == "image/png" and image["name"] == "red.png"
    assert (image["size"], image["width"], image["height"]) == (len(data), 800, 600)
    thumb = Image.open(io.BytesIO(image["thumb"]))
    assert max(thumb.size) == 320 and thumb.format == "JPEG"

    got = await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == message["id"])
    assert isinstance(got["image"]["thumb"], bytes) and got["image"]["thumb"] == image["thumb"]
    media = await bob.ok(Event.MEDIA_GET, {"id": image["id"]})
    assert media["data"] == data and media["mime"] == "image/png" and media["name"] == "red.png"


async def test_transparent_image_gets_a_png_thumbnail(connect: Connect) -> None:
    alice = await connect("alice")
    ack = await alice.ok(
        Event.MESSAGE_SEND,
        {"room": GENERAL_ROOM, "client_id": "alpha", "image": {"data": png_bytes(100, 50, "RGBA")}},
    )
    thumb = Image.open(io.BytesIO(ack["message"]["image"]["thumb"]))
    assert thumb.format == "PNG" and thumb.size == (100, 50) and thumb.mode == "RGBA"
    assert ack["message"]["image"]["name"] == "image"


async def test_other_formats_are_sniffed_not_trusted(connect: Connect) -> None:
    alice = await connect("alice")
    for fmt, mime in [("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")]:
        out = io.BytesIO()
        Image.new("RGB", (40, 30), "blue").save(out, fmt)
        ack = await alice.ok(
            Event.MESSAGE_SEND,
            {
                "room": GENERAL_ROOM,
                "client_id": fmt,
                "image": {"data": out.getvalue(), "name": "x.png"},
            },
        )
        assert ack["message"]["image"]["mime"] == mime


async def test_non_images_are_unsupported_media(connect: Connect) -> None:
    alice = await connect("alice")
    for i, data in enumerate(
        [b"%PDF-1.4 not an image", b"", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, b"BM" + b"\x00" * 100]
    ):
        code = await alice.error(
            Event.MESSAGE_SEND,
            {
                "room": GENERAL_ROOM,
                "client_id": f"bad{i}",
                "image": {"data": data, "name": "cat.png"},
            },
        )
        assert code == "unsupported_media", data[:10]


# 40-80 MP headers make Pillow warn inside Image.open before our check refuses them
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
async def test_decompression_bomb_header_is_too_large(connect: Connect) -> None:
    alice = await connect("alice")
    bomb = png_claiming(50_000, 50_000)
    assert len(bomb) < 200
    payload = {"room": GENERAL_ROOM, "client_id": "bomb", "image": {"data": bomb}}
    assert await alice.error(Event.MESSAGE_SEND, payload) == "too_large"
    # just over 40 megapixels is refused as well
    payload = {
        "room": GENERAL_ROOM,
        "client_id": "big",
        "image": {"data": png_claiming(8000, 5001)},
    }
    assert await alice.error(Event.MESSAGE_SEND, payload) == "too_large"


async def test_oversize_image_gets_too_large_and_the_connection_stays(
    server_factory: ServerFactory, transport: str
) -> None:
    server = await server_factory(max_image_bytes=200_000)
    alice = ChatTestClient(server.url, [transport])
    await alice.connect({"username": "alice", "password": PASSWORD})
    await alice.wait_for(Event.SESSION)
    oversize = png_bytes(10, 10) + b"\x00" * (200_000 + 900_000)  # within the 1 MiB grace
    payload = {"room": GENERAL_ROOM, "client_id": "huge", "image": {"data": oversize}}
    assert await alice.error(Event.MESSAGE_SEND, payload) == "too_large"
    assert alice.sio.connected
    assert (await alice.ok(Event.ROOMS_LIST))["rooms"]
    await alice.disconnect()


async def test_media_get_is_for_members_only(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "secret", "private": True})
    ack = await alice.ok(
        Event.MESSAGE_SEND,
        {"room": "secret", "client_id": "s", "image": {"data": png_bytes(5, 5)}},
    )
    image_id = ack["message"]["image"]["id"]
    assert await bob.error(Event.MEDIA_GET, {"id": image_id}) == "not_found"
    assert await bob.error(Event.MEDIA_GET, {"id": "no-such-image"}) == "not_found"
    assert await bob.error(Event.MEDIA_GET, {"id": 5}) == "bad_request"


async def test_a_multi_megabyte_image_arrives_intact(connect: Connect) -> None:
    alice = await connect("alice")
    noise = Image.frombytes("RGB", (1000, 800), bytes(range(256)) * 9375)
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=0)
    data = out.getvalue()
    assert len(data) > 2_000_000
    ack = await alice.ok(
        Event.MESSAGE_SEND, {"room": GENERAL_ROOM, "client_id": "big", "image": {"data": data}}
    )
    media = await alice.ok(Event.MEDIA_GET, {"id": ack["message"]["image"]["id"]})
    assert media["data"] == data
