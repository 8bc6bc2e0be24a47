"""Animated GIFs in the timeline: one QMovie per GIF on screen, none for the rest.

The server's thumbnail of a GIF is a still picture, so an animation needs the original
bytes: a pending echo has them, otherwise ``fetcher(image_id)`` (the client's cached
``fetch_media``) gets them once. Only rows inside the viewport get a running movie; a
movie scrolled off is stopped and dropped, and at most ``MAX_MOVIES`` run at once, so a
room full of GIFs costs the same as a screenful.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import shiboken6
from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QSize,
    QTimer,
)
from PySide6.QtGui import QMovie, QPixmap
from PySide6.QtWidgets import QListView

from desktop.media.sniff import sniff_image_mime
from desktop.models.message_list import MessageRoles
from desktop.state.types import Message

logger = logging.getLogger(__name__)

MAX_MOVIES = 8
MAX_GIF_BYTES = 12 * 1024 * 1024
MAX_KEPT_BYTES = 48 * 1024 * 1024  # fetched GIFs kept for scrolling back to them
Fetcher = Callable[[str], Awaitable[tuple[str, str, bytes]]]


def is_gif(msg: Message) -> bool:
    if msg.image is not None and msg.image.mime == "image/gif":
        return True
    return bool(msg.local_image) and sniff_image_mime(msg.local_image or b"") == "image/gif"


def _key(msg: Message) -> str:
    if msg.image is not None and msg.image.id:
        return msg.image.id
    return f"local:{msg.client_id}"


class _Running:
    def __init__(self, data: bytes, size: QSize, parent: QObject) -> None:
        self.array = QByteArray(data)
        self.buffer = QBuffer(self.array, parent)
        self.buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        self.movie = QMovie(self.buffer, QByteArray(b"gif"), parent)
        self.movie.setCacheMode(QMovie.CacheMode.CacheNone)
        if size.isValid() and not size.isEmpty():
            self.movie.setScaledSize(size)

    def stop(self) -> None:
        self.movie.stop()
        self.movie.deleteLater()
        self.buffer.close()
        self.buffer.deleteLater()


class GifAnimations(QObject):
    """The running GIF movies of one timeline view."""

    def __init__(self, view: QListView) -> None:
        super().__init__(view)
        self._view = view
        self.fetcher: Fetcher | None = None
        self._bytes: OrderedDict[str, bytes] = OrderedDict()
        self._fetching: set[str] = set()
        self._running: dict[str, _Running] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(40)
        self._timer.timeout.connect(self.update)

    @property
    def running(self) -> list[str]:
        """Keys of the GIFs animating now."""
        return [k for k, r in self._running.items()
                if r.movie.state() == QMovie.MovieState.Running]

    def schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def frame(self, msg: Message) -> QPixmap | None:
        """The current frame of ``msg``'s animation, if it runs."""
        if not is_gif(msg):
            return None
        running = self._running.get(_key(msg))
        if running is None:
            return None
        pixmap = running.movie.currentPixmap()
        return None if pixmap.isNull() else pixmap

    def drop_media(self, media_id: str) -> None:
        """A deleted image's bytes go (its movie stops on the next update)."""
        self._bytes.pop(media_id, None)
        self.schedule()

    def clear(self) -> None:
        """Stop everything (the view shows another room)."""
        for running in self._running.values():
            running.stop()
        self._running.clear()
        self._bytes.clear()
        for task in list(self._tasks):
            task.cancel()

    def _visible_gifs(self) -> dict[str, tuple[Message, QSize, QPersistentModelIndex]]:
        view = self._view
        model = view.model()
        found: dict[str, tuple[Message, QSize, QPersistentModelIndex]] = {}
        if model is None or not view.isVisible() or view.window().isMinimized():
            return found
        vp = view.viewport().rect()
        top = view.indexAt(QPoint(vp.center().x(), 0))
        row = top.row() if top.isValid() else 0
        while row < model.rowCount() and len(found) < MAX_MOVIES:
            index = model.index(row, 0)
            rect = view.visualRect(index)
            if rect.top() > vp.bottom():
                break
            msg = index.data(MessageRoles.ItemRole)
            if isinstance(msg, Message) and is_gif(msg):
                lay = view.itemDelegate().layout_for(  # type: ignore[attr-defined]
                    view.option_for(index), index  # type: ignore[attr-defined]
                )
                size = lay.image_rect.size() if lay.image_rect is not None else QSize()
                found[_key(msg)] = (msg, size, QPersistentModelIndex(index))
            row += 1
        return found

    def update(self) -> None:
        """Start movies for GIFs on screen, stop the ones scrolled off."""
        visible = self._visible_gifs()
        for key in [k for k in self._running if k not in visible]:
            self._running.pop(key).stop()
        for key, (msg, size, where) in visible.items():
            if key in self._running:
                continue
            data = msg.local_image if msg.local_image else self._bytes.get(key)
            if key in self._bytes:
                self._bytes.move_to_end(key)
            if data is None:
                self._fetch(key)
                continue
            running = _Running(data, size, self)
            running.movie.frameChanged.connect(
                lambda _n, where=where: self._repaint_row(where))
            self._running[key] = running
            running.movie.start()

    def _repaint_row(self, where: QPersistentModelIndex) -> None:
        """Repaint the row of a GIF whose frame changed (not the whole timeline)."""
        model = self._view.model()
        if model is None or not where.isValid():
            return
        self._view.viewport().update(self._view.visualRect(model.index(where.row(), 0)))

    def _fetch(self, key: str) -> None:
        if self.fetcher is None or key in self._fetching or key.startswith("local:"):
            return
        self._fetching.add(key)
        task = asyncio.ensure_future(self._fetch_bytes(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch_bytes(self, key: str) -> None:
        assert self.fetcher is not None
        try:
            _name, _mime, data = await self.fetcher(key)
        except Exception as exc:  # a GIF that cannot be fetched stays a still thumbnail
            logger.info("GIF %s not animated: %s", key, exc)
            return
        finally:
            self._fetching.discard(key)
        if not shiboken6.isValid(self):
            return  # the view went away while the bytes were on their way
        if len(data) <= MAX_GIF_BYTES and sniff_image_mime(data) == "image/gif":
            self._bytes[key] = data
            while sum(len(b) for b in self._bytes.values()) > MAX_KEPT_BYTES:
                self._bytes.popitem(last=False)
            self.schedule()
