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


# ---------------------------------------------------------------- the image viewer
from pathlib import Path  # noqa: E402

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop.state.types import Message  # noqa: E402
from desktop.ui.image_viewer import ImageViewer, pictures_folder, safe_file_name  # noqa: E402
from tests.desktop.timeline_helpers import gif_bytes  # noqa: E402


def _image_message(i: int, data: bytes, sender: str = "bob") -> Message:
    return Message(id=None, room="r", sender=sender, ts=1_790_000_000_000 + i * 60_000,
                   kind="image", client_id=f"c{i}", local_image=data)


def _viewer(qtbot, msg: Message, gallery=None) -> ImageViewer:
    decoder = ImageDecoder()
    viewer = ImageViewer(decoder, f"local:{msg.client_id}", "image", None, msg, gallery)
    qtbot.addWidget(viewer)
    viewer._test_decoder = decoder  # type: ignore[attr-defined]  # keep it alive
    viewer.show()
    qtbot.waitExposed(viewer)
    viewer.set_image(msg.local_image or b"")
    qtbot.waitUntil(lambda: viewer.pixmap is not None)
    return viewer


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd.png"),
        ("..\\..\\Windows\\evil.png", "evil.png"),
        ("cat\x00\n.png", "cat__.png"),
        (".bashrc", "bashrc.png"),
        ("CON.png", "_CON.png"),
        ("holiday.jpg", "holiday.png"),  # the bytes are a PNG, whatever the name says
        ("", "image.png"),
        ("a" * 500 + ".png", "a" * 116 + ".png"),
        ('what?*:"<>|.png', "what_______.png"),
    ],
)
def test_saved_file_names_are_cleaned_of_anything_path_like(name, expected):
    cleaned = safe_file_name(name, _png(2, 2))
    assert cleaned == expected
    assert "/" not in cleaned and "\\" not in cleaned and not cleaned.startswith(".")
    assert (Path("/tmp/x") / cleaned).parent == Path("/tmp/x")


def test_viewer_zooms_fits_copies_and_saves_to_pictures(qtbot, tmp_path):
    msg = _image_message(1, _png(2400, 1600))
    viewer = _viewer(qtbot, msg)
    qtbot.waitUntil(lambda: viewer.label.pixmap() is not None
                    and not viewer.label.pixmap().isNull())
    assert viewer.zoom < 1.0  # fitted into the window
    fitted = viewer.zoom
    assert viewer.label.size().width() == round(2400 * fitted) or abs(
        viewer.label.width() - 2400 * fitted) <= 1
    # the wheel zooms in
    vp = viewer.scroll_area.viewport()
    wheel = QWheelEvent(QPointF(50, 50), QPointF(vp.mapToGlobal(QPoint(50, 50))), QPoint(),
                        QPoint(0, 240), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, wheel)
    assert viewer.zoom == pytest.approx(fitted * 1.25 ** 2)
    assert viewer.fit_button.text() == "Fit to window"
    viewer.on_fit_button_clicked()  # back to fit
    assert viewer.zoom == pytest.approx(fitted)
    viewer.on_fit_button_clicked()  # 100 %
    assert viewer.zoom == 1.0 and viewer.label.width() == 2400
    assert viewer.zoom_label.text() == "100 %"
    # copy
    QGuiApplication.clipboard().clear()
    assert viewer.copy_image()
    assert QGuiApplication.clipboard().pixmap().size() == viewer.pixmap.size()
    # save: the default is the Pictures folder (home without one) and a clean name
    assert viewer.default_save_path().parent == pictures_folder()
    assert pictures_folder().is_dir()
    target = tmp_path / viewer.default_save_path().name
    assert viewer.save_to(str(target))
    assert target.read_bytes() == msg.local_image


def test_viewer_shows_sender_and_time_and_steps_through_the_rooms_images(qtbot):
    images = [_image_message(i, _png(300 + i * 10, 200), sender=s)
              for i, s in enumerate(("bob", "carol", "dave"))]
    viewer = _viewer(qtbot, images[1], gallery=lambda: images)
    assert viewer.info.text().startswith("carol · ")
    assert "310 × 200" in viewer.info.text()
    assert viewer.prev_button.isEnabled() and viewer.next_button.isEnabled()
    viewer.show_next()
    assert viewer.message is images[2]
    qtbot.waitUntil(lambda: viewer.pixmap is not None and viewer.pixmap.width() == 320)
    assert viewer.info.text().startswith("dave · ")
    assert not viewer.next_button.isEnabled()
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    assert viewer.message is images[0]
    qtbot.waitUntil(lambda: viewer.pixmap is not None and viewer.pixmap.width() == 300)
    assert not viewer.prev_button.isEnabled()


def test_viewer_plays_animated_gifs(qtbot):
    viewer = _viewer(qtbot, _image_message(1, gif_bytes(5, (120, 90))))
    qtbot.waitUntil(lambda: viewer.movie is not None
                    and viewer.movie.state() == viewer.movie.MovieState.Running)
    frames = set()
    qtbot.waitUntil(lambda: frames.add(viewer.movie.currentFrameNumber()) or len(frames) >= 2)


def test_viewer_pinch_zooms(qtbot):
    from PySide6.QtGui import QNativeGestureEvent, QPointingDevice

    viewer = _viewer(qtbot, _image_message(1, _png(2400, 1600)))
    fitted = viewer.zoom
    vp = viewer.scroll_area.viewport()
    pinch = QNativeGestureEvent(
        Qt.NativeGestureType.ZoomNativeGesture, QPointingDevice.primaryPointingDevice(), 2,
        QPointF(40, 40), QPointF(40, 40), QPointF(vp.mapToGlobal(QPoint(40, 40))), 0.5,
        QPointF(0, 0),
    )
    QApplication.sendEvent(vp, pinch)
    assert viewer.zoom == pytest.approx(fitted * 1.5)
