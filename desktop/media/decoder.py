"""Decode and scale images on a QThreadPool, never on the GUI thread.

``ImageDecoder.request(key, data, max_side)`` returns at once. A worker sniffs the bytes,
reads the header to check the pixel count before decoding, decodes with a capped
allocation, scales, and hands a QImage back; the GUI thread turns it into a QPixmap,
stores it in the :class:`PixmapCache` and emits ``ready(key)``.

Signals: ``ready(str key)``, ``failed(str key, str reason)``.
"""

from __future__ import annotations

import itertools
import logging
import weakref

import shiboken6
from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QObject,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    Signal,
)
from PySide6.QtGui import QImage, QImageReader, QPixmap

from desktop.media.cache import PixmapCache
from desktop.media.sniff import sniff_image_mime
from server.protocol import MAX_IMAGE_PIXELS

logger = logging.getLogger(__name__)

# QImageReader refuses to allocate more than this (in MiB) for one decoded image.
ALLOCATION_LIMIT_MB = 256


def _fit(size: QSize, max_side: int) -> QSize:
    if max_side <= 0 or (size.width() <= max_side and size.height() <= max_side):
        return size
    return size.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio)


def decode_image(data: bytes, max_side: int = 0) -> QImage:
    """Decode ``data`` into a QImage no larger than ``max_side`` (0 = full size).

    Raises ValueError with a plain reason for anything that is not a sane image. Safe to
    call from any thread (it only uses QImage, never QPixmap).
    """
    if sniff_image_mime(data) is None:
        raise ValueError("not a PNG, JPEG, GIF or WebP image")
    array = QByteArray(bytes(data))
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer)
    reader.setAllocationLimit(ALLOCATION_LIMIT_MB)
    reader.setAutoTransform(True)
    size = reader.size()
    if not size.isValid() or size.isEmpty():
        raise ValueError("the image header is unreadable")
    if size.width() * size.height() > MAX_IMAGE_PIXELS:
        raise ValueError("the image has too many pixels")
    target = _fit(size, max_side)
    if target != size:
        reader.setScaledSize(target)
    image = reader.read()
    buffer.close()
    if image.isNull():
        raise ValueError(reader.errorString() or "the image could not be decoded")
    return image


def image_size(data: bytes) -> QSize:
    """The pixel size from the header only (cheap: no decode); invalid QSize if unknown."""
    array = QByteArray(bytes(data[: 256 * 1024]))
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer)
    size = reader.size()
    buffer.close()
    return size


class _Relay(QObject):
    """Lives on the GUI thread for the whole run; workers emit on it, so delivery is queued.

    It is shared and never deleted: a decoder (and the window owning it) may be destroyed
    while a job is still running, and a job must never emit on a deleted object. Results
    are routed to the decoder by its serial number, if it still exists.
    """

    done = Signal(int, str, QImage)
    error = Signal(int, str, str)

    def __init__(self) -> None:
        super().__init__()
        self.decoders: weakref.WeakValueDictionary[int, ImageDecoder] = (
            weakref.WeakValueDictionary()
        )
        self.done.connect(self.on_done)
        self.error.connect(self.on_error)

    def on_done(self, serial: int, key: str, image: QImage) -> None:
        decoder = self.decoders.get(serial)
        if decoder is not None and shiboken6.isValid(decoder):
            decoder.take_result(key, image)

    def on_error(self, serial: int, key: str, reason: str) -> None:
        decoder = self.decoders.get(serial)
        if decoder is not None and shiboken6.isValid(decoder):
            decoder.take_error(key, reason)


_relay: _Relay | None = None
_serials = itertools.count(1)


def _shared_relay() -> _Relay:
    global _relay
    if _relay is None:
        _relay = _Relay()
    return _relay


class _DecodeJob(QRunnable):
    def __init__(self, serial: int, key: str, data: bytes, max_side: int, relay: _Relay) -> None:
        super().__init__()
        self._serial = serial
        self._key = key
        self._data = data
        self._max_side = max_side
        self._relay = relay

    def run(self) -> None:  # overrides QRunnable.run, on a pool thread
        try:
            image = decode_image(self._data, self._max_side)
        except ValueError as exc:
            self._relay.error.emit(self._serial, self._key, str(exc))
            return
        except Exception:  # a decoder bug must not kill the pool thread silently
            logger.exception("image decode crashed")
            self._relay.error.emit(self._serial, self._key, "the image could not be decoded")
            return
        self._relay.done.emit(self._serial, self._key, image)


class ImageDecoder(QObject):
    """Off-thread decoding into a shared pixmap cache. See the module docstring."""

    ready = Signal(str)
    failed = Signal(str, str)

    def __init__(
        self,
        cache: PixmapCache | None = None,
        pool: QThreadPool | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.cache = cache if cache is not None else PixmapCache()
        self._pool = pool if pool is not None else QThreadPool.globalInstance()
        self._relay = _shared_relay()
        self._serial = next(_serials)
        self._relay.decoders[self._serial] = self
        self._in_flight: set[str] = set()
        self._failed: dict[str, str] = {}
        self.natural_sizes: dict[str, QSize] = {}

    def pixmap(self, key: str) -> QPixmap | None:
        return self.cache.get(key)

    def drop_media(self, media_id: str) -> None:
        """Forget every decoded picture of a deleted image."""
        self.cache.drop_media(media_id)
        for key in [k for k in self.natural_sizes if k.startswith(media_id + "@")]:
            del self.natural_sizes[key]

    def failure(self, key: str) -> str | None:
        return self._failed.get(key)

    def is_pending(self, key: str) -> bool:
        return key in self._in_flight

    def request(self, key: str, data: bytes, max_side: int = 0) -> QPixmap | None:
        """The cached pixmap for ``key``, or None after queueing a decode of ``data``."""
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if key in self._in_flight or key in self._failed:
            return None
        self._in_flight.add(key)
        self._pool.start(_DecodeJob(self._serial, key, data, max_side, self._relay))
        return None

    def take_result(self, key: str, image: QImage) -> None:
        """A job finished (called on the GUI thread by the relay)."""
        self._in_flight.discard(key)
        self.natural_sizes[key] = image.size()
        self.cache.put(key, QPixmap.fromImage(image))
        self.ready.emit(key)

    def take_error(self, key: str, reason: str) -> None:
        """A job refused or failed to decode (called on the GUI thread by the relay)."""
        self._in_flight.discard(key)
        self._failed[key] = reason
        logger.debug("image %s not decoded: %s", key, reason)
        self.failed.emit(key, reason)
