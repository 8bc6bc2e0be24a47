"""Hypothesis-driven hostile images on ``message:send``.

Random bytes, truncated and corrupted real images, real magic numbers followed by junk,
decompression bombs and oversize payloads must all be answered with ``unsupported_media``
or ``too_large`` (never ``internal``, never a dropped connection). A damaged image is only
allowed through if Pillow itself can fully decode it.
"""

from __future__ import annotations

import io
import itertools
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from server import protocol
from server.protocol import ErrorCode, Event
from tests.server.test_fuzz_events import FUZZ_ROOM, MAX_IMAGE_BYTES, FuzzTarget

# Pillow warns when the in-process server opens an over-limit header (it then answers
# too_large, which is what these tests check); the warning itself is not a failure.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")

MEDIA_CODES = {ErrorCode.UNSUPPORTED_MEDIA.value, ErrorCode.TOO_LARGE.value}
_ids = itertools.count()

MEDIA_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    t = FuzzTarget(tmp_path_factory.mktemp("fuzz-media-server"))
    try:
        yield t
    finally:
        t.close()


def encode(fmt: str, size: tuple[int, int] = (40, 30)) -> bytes:
    img = Image.new("RGB", size)
    img.putdata(
        [
            ((x * 7) % 256, (y * 11) % 256, (x * y) % 256)
            for y in range(size[1])
            for x in range(size[0])
        ]
    )
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


GOOD = {fmt: encode(fmt) for fmt in ("PNG", "JPEG", "GIF", "WEBP")}
MAGIC = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF89a",
    b"GIF87a",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"BM",
    b"%PDF-1.4",
    b"<svg",
    b"\x00\x00\x01\x00",
]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG header claiming huge dimensions, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def pillow_decodes(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
        return True
    except Exception:  # noqa: BLE001 - any decoder complaint means "not a valid image"
        return False


def send_image(target: FuzzTarget, data: bytes, name: Any = "x.png") -> Any:
    payload = {
        "room": FUZZ_ROOM,
        "client_id": f"media-{next(_ids)}",
        "image": {"data": data, "name": name},
    }
    return target.call(Event.MESSAGE_SEND, (payload,))


def assert_media_error(ack: Any, data: bytes) -> None:
    assert isinstance(ack, dict) and ack.get("ok") is False, f"{data[:40]!r}: {ack!r:.300}"
    assert ack["error"]["code"] in MEDIA_CODES, f"{data[:40]!r} ({len(data)} B): {ack['error']}"
    assert isinstance(ack["error"]["message"], str)


def assert_ok_only_if_decodable(ack: Any, data: bytes) -> None:
    if isinstance(ack, dict) and ack.get("ok") is True:
        assert pillow_decodes(data), f"accepted an image Pillow cannot decode: {data[:40]!r}"
    else:
        assert_media_error(ack, data)


def test_valid_images_of_each_format_are_accepted(target: FuzzTarget) -> None:
    """The control: the same path does accept real PNG, JPEG, GIF and WebP."""
    for fmt, data in GOOD.items():
        ack = send_image(target, data, f"ok.{fmt.lower()}")
        assert ack["ok"] is True, (fmt, ack)
        assert ack["message"]["image"]["mime"] == f"image/{fmt.lower()}"
        assert ack["message"]["image"]["size"] == len(data)


@MEDIA_SETTINGS
@given(data=st.binary(min_size=1, max_size=4096))
def test_random_bytes_are_unsupported_media(target: FuzzTarget, data: bytes) -> None:
    ack = send_image(target, data)
    assert_ok_only_if_decodable(ack, data)
    target.assert_alive()


@MEDIA_SETTINGS
@given(
    magic=st.sampled_from(MAGIC),
    tail=st.binary(max_size=2048),
    name=st.sampled_from(["cat.png", "cat.jpg", "x.gif", "", None]),
)
def test_magic_number_with_junk_is_rejected(
    target: FuzzTarget, magic: bytes, tail: bytes, name: Any
) -> None:
    data = magic + tail
    ack = send_image(target, data, name)
    assert_ok_only_if_decodable(ack, data)
    target.assert_alive()


@MEDIA_SETTINGS
@given(fmt=st.sampled_from(sorted(GOOD)), cut=st.floats(min_value=0.0, max_value=0.999))
def test_truncated_images_are_rejected_unless_still_decodable(
    target: FuzzTarget, fmt: str, cut: float
) -> None:
    data = GOOD[fmt][: max(1, int(len(GOOD[fmt]) * cut))]
    ack = send_image(target, data)
    assert_ok_only_if_decodable(ack, data)
    target.assert_alive()


@MEDIA_SETTINGS
@given(
    fmt=st.sampled_from(sorted(GOOD)),
    flips=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=0.999), st.integers(min_value=0, max_value=255)
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_corrupted_images_never_fail_internally(
    target: FuzzTarget, fmt: str, flips: list[tuple[float, int]]
) -> None:
    buf = bytearray(GOOD[fmt])
    for where, value in flips:
        buf[int(where * len(buf))] = value
    data = bytes(buf)
    ack = send_image(target, data)
    assert_ok_only_if_decodable(ack, data)
    target.assert_alive()


@pytest.mark.parametrize(
    ("width", "height"), [(50_000, 50_000), (2**31 - 1, 1), (1, 2**31 - 1), (10_000, 4_001), (0, 0)]
)
def test_png_header_claiming_huge_or_zero_dimensions(
    target: FuzzTarget, width: int, height: int
) -> None:
    data = png_claiming(width, height)
    ack = send_image(target, data)
    assert_media_error(ack, data)
    if width * height > protocol.MAX_IMAGE_PIXELS:
        assert ack["error"]["code"] == ErrorCode.TOO_LARGE
    target.assert_alive()


def test_real_decompression_bomb_is_too_large(target: FuzzTarget) -> None:
    """A genuine 42-megapixel PNG that compresses to a few KiB: over the pixel limit."""
    buf = io.BytesIO()
    Image.new("1", (7000, 6000)).save(buf, format="PNG", optimize=True)
    data = buf.getvalue()
    assert len(data) < MAX_IMAGE_BYTES
    ack = send_image(target, data)
    assert_media_error(ack, data)
    assert ack["error"]["code"] == ErrorCode.TOO_LARGE
    target.assert_alive()


@pytest.mark.parametrize("extra", [1, 4096, protocol.IMAGE_GRACE_BYTES - 4096])
def test_oversize_image_within_grace_gets_too_large_and_stays_connected(
    target: FuzzTarget, extra: int
) -> None:
    data = GOOD["PNG"] + b"\x00" * (MAX_IMAGE_BYTES + extra - len(GOOD["PNG"]))
    assert len(data) == MAX_IMAGE_BYTES + extra
    ack = send_image(target, data)
    assert_media_error(ack, data)
    assert ack["error"]["code"] == ErrorCode.TOO_LARGE
    target.assert_alive()
