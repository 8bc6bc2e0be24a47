"""Image decoding off the GUI thread, the refusals before decoding, and the pixmap LRU."""

from __future__ import annotations

import io
import struct
import threading
import zlib

import pytest
from PIL import Image
from PySide6.QtCore import QObject, QThread
from PySide6.QtGui import QPixmap

from desktop.media import decoder as decoder_module
from desktop.media.cache import PixmapCache
from desktop.media.decoder import ImageDecoder, decode_image
from desktop.media.sniff import sniff_image_mime


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (1, 2, 3)).save(buf, "PNG")
    return buf.getvalue()


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h but carries almost no data (a pixel bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_sniffing_trusts_bytes_not_names():
    assert sniff_image_mime(_png(2, 2)) == "image/png"
    buf = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buf, "JPEG")
    assert sniff_image_mime(buf.getvalue()) == "image/jpeg"
    assert sniff_image_mime(b"GIF89a....") == "image/gif"
    assert sniff_image_mime(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert sniff_image_mime(b"<svg xmlns=...>") is None
    assert sniff_image_mime(b"") is None


def test_decode_scales_and_refuses_bombs_and_garbage():
    image = decode_image(_png(1000, 500), max_side=320)
    assert (image.width(), image.height()) == (320, 160)
    with pytest.raises(ValueError, match="too many pixels"):
        decode_image(_png_header_only(20000, 20000))
    with pytest.raises(ValueError, match="not a PNG"):
        decode_image(b"plain text")


def test_decoder_works_on_a_pool_thread_and_caches(qtbot, monkeypatch):
    threads: list[threading.Thread] = []
    real = decoder_module.decode_image

    def spy(data: bytes, max_side: int = 0):
        threads.append(threading.current_thread())
        return real(data, max_side)

    monkeypatch.setattr(decoder_module, "decode_image", spy)
    decoder = ImageDecoder()
    assert decoder.request("a@thumb", _png(640, 480), 320) is None  # queued, not decoded here
    with qtbot.waitSignal(decoder.ready) as blocker:
        pass
    assert blocker.args == ["a@thumb"]
    assert threads and threads[0] is not threading.main_thread()
    pixmap = decoder.request("a@thumb", b"unused: cached", 320)
    assert isinstance(pixmap, QPixmap) and (pixmap.width(), pixmap.height()) == (320, 240)
    assert len(threads) == 1
    with qtbot.waitSignal(decoder.failed) as failed:
        decoder.request("bad", b"nope", 0)
    assert failed.args[0] == "bad" and decoder.failure("bad")
    assert QThread.currentThread() is QObject().thread()


def test_decoder_deleted_while_a_job_runs_is_harmless(qtbot):
    decoder = ImageDecoder()
    other = ImageDecoder()
    decoder.request("x", _png(2000, 2000), 0)
    decoder.deleteLater()
    del decoder
    with qtbot.waitSignal(other.ready):
        other.request("y", _png(10, 10), 0)


def test_pixmap_cache_evicts_least_recently_used_by_memory():
    cache = PixmapCache(budget_bytes=3 * 100 * 100 * 4)
    for key in "abc":
        cache.put(key, QPixmap(100, 100))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", QPixmap(100, 100))
    assert "b" not in cache and {"a", "c", "d"} <= {k for k in "abcd" if k in cache}
    assert cache.used_bytes == 3 * 100 * 100 * 4
