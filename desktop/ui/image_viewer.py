"""A window showing one image of a room at full size, and the room's other images.

Fit to the window or 100 %, zoom with the wheel, a pinch, +/- or the buttons; copy the
image; save it under a cleaned-up version of its (untrusted) name, by default in the
Pictures folder; step to the previous/next image of the room (Left/Right); the sender
and the time are shown below. Animated GIFs play.

The bytes come from ``fetch(image_id)`` (the client's cached ``fetch_media``) or from a
pending echo; decoding happens on the shared ImageDecoder's thread pool and the pixmap is
cached by image id. ``set_image(data)`` / ``show_error(text)`` remain for a caller that
fetches itself.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QDateTime,
    QEvent,
    QIODevice,
    QObject,
    QSize,
    QStandardPaths,
    Qt,
)
from PySide6.QtGui import (
    QGuiApplication,
    QKeySequence,
    QMovie,
    QNativeGestureEvent,
    QPixmap,
    QResizeEvent,
    QShortcut,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop.media.decoder import ImageDecoder
from desktop.media.sniff import EXTENSIONS, sniff_image_mime
from desktop.state.format import human_size
from desktop.state.types import Message
from desktop.ui import icons

logger = logging.getLogger(__name__)

MIN_ZOOM = 0.05
MAX_ZOOM = 8.0
MAX_SCALED_SIDE = 16_384
ZOOM_STEP = 1.25
MAX_NAME_CHARS = 120
_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)

Fetcher = Callable[[str], Awaitable[tuple[str, str, bytes]]]


def safe_file_name(name: str, data: bytes | None = None) -> str:
    """A file name that is safe to join to a folder, from a name someone else chose.

    No directory parts, no control or separator characters, no leading dots, no
    reserved Windows names, a bounded length, and the extension of the actual bytes.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        "_" if unicodedata.category(ch).startswith("C") or ch in '<>:"|?*' else ch
        for ch in name
    )
    name = name.strip().lstrip(".").strip()
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    mime = sniff_image_mime(data) if data else None
    if mime is not None:
        wanted = EXTENSIONS[mime]
        if ext.lower() not in (wanted, "jpeg" if wanted == "jpg" else wanted):
            stem, ext = (name if not dot else stem), wanted
    stem = stem.strip(" .") or "image"
    if _RESERVED.match(stem):
        stem = f"_{stem}"
    ext = ext[:10] if ext else "png"
    stem = stem[: MAX_NAME_CHARS - len(ext) - 1]
    return f"{stem}.{ext}"


def pictures_folder() -> Path:
    """Where Save As starts: the user's Pictures folder if there is one, else home (a
    folder that does not exist would make the dialog start in the working directory)."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    if location and Path(location).is_dir():
        return Path(location)
    return Path.home()


class ImageViewer(QDialog):
    """One image; see the module docstring."""

    def __init__(
        self,
        decoder: ImageDecoder,
        key: str,
        name: str,
        parent: QWidget | None = None,
        message: Message | None = None,
        gallery: Callable[[], list[Message]] | None = None,
        fetch: Fetcher | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("imageViewer")
        self.setWindowIcon(icons.icon("parley"))
        self.resize(900, 680)
        self._decoder = decoder
        self._gallery = gallery
        self._fetch = fetch
        self._message = message
        self._key = f"{key}@full"
        self._name = name or "image"
        self._data: bytes | None = None
        self._fit = True
        self._zoom = 1.0
        self._movie: QMovie | None = None
        self._movie_buffer: QBuffer | None = None
        self._task: asyncio.Task[Any] | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroll_area.setWidgetResizable(False)
        self.label = QLabel("Loading…", self)
        self.label.setObjectName("imageViewerCanvas")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroll_area.setWidget(self.label)
        self.scroll_area.viewport().installEventFilter(self)
        layout.addWidget(self.scroll_area, 1)

        bar = QHBoxLayout()
        bar.setContentsMargins(10, 6, 10, 8)
        self.prev_button = self._button("‹", "Previous image", self.show_previous)
        self.next_button = self._button("›", "Next image", self.show_next)
        bar.addWidget(self.prev_button)
        bar.addWidget(self.next_button)
        self.info = QLabel(self)
        self.info.setObjectName("imageViewerInfo")
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        bar.addWidget(self.info, 1)
        self.zoom_out_button = self._button("−", "Zoom out", lambda: self.zoom_by(1 / ZOOM_STEP))
        self.zoom_label = QLabel(self)
        self.zoom_label.setTextFormat(Qt.TextFormat.PlainText)
        self.zoom_in_button = self._button("+", "Zoom in", lambda: self.zoom_by(ZOOM_STEP))
        self.fit_button = QPushButton("Actual size", self)
        self.fit_button.clicked.connect(self.on_fit_button_clicked)
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setObjectName("copyImage")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_image)
        self.save_button = QPushButton("Save As…", self)
        self.save_button.setObjectName("saveImage")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.on_save_button_clicked)
        for widget in (self.zoom_out_button, self.zoom_label, self.zoom_in_button,
                       self.fit_button, self.copy_button, self.save_button):
            bar.addWidget(widget)
        layout.addLayout(bar)

        shortcuts = (
            (QKeySequence.StandardKey.ZoomIn, lambda: self.zoom_by(ZOOM_STEP)),
            (QKeySequence.StandardKey.ZoomOut, lambda: self.zoom_by(1 / ZOOM_STEP)),
            (QKeySequence.StandardKey.Copy, self.copy_image),
            (QKeySequence.StandardKey.Save, self.on_save_button_clicked),
            (QKeySequence(Qt.Key.Key_Left), self.show_previous),
            (QKeySequence(Qt.Key.Key_Right), self.show_next),
            (QKeySequence(Qt.Key.Key_0), self.on_fit_button_clicked),
        )
        for keys, slot in shortcuts:
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.activated.connect(slot)
        decoder.ready.connect(self.on_decoder_ready)
        decoder.failed.connect(self.on_decoder_failed)
        self._update_title()
        self._update_nav()

    def _button(self, text: str, tip: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text, self)
        button.setToolTip(tip)
        button.setAccessibleName(tip)
        button.setFixedWidth(34)
        button.clicked.connect(slot)
        return button

    # ----- what is shown
    @property
    def pixmap(self) -> QPixmap | None:
        return self._decoder.pixmap(self._key)

    @property
    def message(self) -> Message | None:
        return self._message

    @property
    def zoom(self) -> float:
        return self._zoom

    @property
    def movie(self) -> QMovie | None:
        return self._movie

    def set_image(self, data: bytes) -> None:
        self._data = data
        self.save_button.setEnabled(True)
        self.copy_button.setEnabled(True)
        self._stop_movie()
        if sniff_image_mime(data) == "image/gif":
            self._start_movie(data)
        if self._decoder.request(self._key, data, 0) is not None:
            self._render()

    def show_error(self, text: str) -> None:
        self.label.setText(text)
        self.label.adjustSize()

    def on_decoder_ready(self, key: str) -> None:
        if key == self._key:
            self._render()

    def on_decoder_failed(self, key: str, reason: str) -> None:
        if key == self._key:
            self.show_error(f"This image could not be shown: {reason}.")

    def _start_movie(self, data: bytes) -> None:
        self._movie_buffer = QBuffer(self)
        self._movie_buffer.setData(QByteArray(data))
        self._movie_buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        movie = QMovie(self._movie_buffer, QByteArray(b"gif"), self)
        if movie.isValid() and movie.frameCount() != 1:
            self._movie = movie
        else:
            movie.deleteLater()

    def _stop_movie(self) -> None:
        if self._movie is not None:
            self._movie.stop()
            self.label.setMovie(None)  # type: ignore[arg-type]
            self._movie.deleteLater()
            self._movie = None
        if self._movie_buffer is not None:
            self._movie_buffer.close()
            self._movie_buffer.deleteLater()
            self._movie_buffer = None

    def _fit_zoom(self, size: QSize) -> float:
        area: QSize = self.scroll_area.viewport().size()
        if size.width() <= 0 or size.height() <= 0:
            return 1.0
        return min(1.0, area.width() / size.width(), area.height() / size.height())

    def _render(self) -> None:
        pixmap = self.pixmap
        if pixmap is None:
            return
        if self._fit:
            self._zoom = self._fit_zoom(pixmap.size())
        target = pixmap.size() * self._zoom
        if max(target.width(), target.height()) > MAX_SCALED_SIDE:
            target = target.scaled(MAX_SCALED_SIDE, MAX_SCALED_SIDE,
                                   Qt.AspectRatioMode.KeepAspectRatio)
        target = QSize(max(1, target.width()), max(1, target.height()))
        if self._movie is not None:
            self._movie.setScaledSize(target)
            self.label.setMovie(self._movie)
            self._movie.start()
        elif target != pixmap.size():
            self.label.setPixmap(pixmap.scaled(
                target, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            ))
        else:
            self.label.setPixmap(pixmap)
        self.label.resize(target)
        self.zoom_label.setText(f"{round(self._zoom * 100)} %")
        self.fit_button.setText("Actual size" if self._fit else "Fit to window")
        self._update_info(pixmap.size())

    def _update_info(self, size: QSize) -> None:
        parts = []
        msg = self._message
        if msg is not None:
            when = QDateTime.fromMSecsSinceEpoch(msg.ts).toString("d MMM yyyy, HH:mm")
            parts.append(f"{msg.sender or 'someone'} · {when}")
        parts.append(self._name)
        parts.append(f"{size.width()} × {size.height()}")
        if self._data is not None:
            parts.append(human_size(len(self._data)))
        self.info.setText(" · ".join(parts))

    def _update_title(self) -> None:
        msg = self._message
        who = f" — {msg.sender}" if msg is not None and msg.sender else ""
        self.setWindowTitle(f"{self._name}{who}")

    # ----- zoom
    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self._zoom * factor)

    def set_zoom(self, zoom: float) -> None:
        self._fit = False
        self._zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        self._render()

    def on_fit_button_clicked(self) -> None:
        """Toggle between fitting the window and 100 %."""
        if self._fit:
            self._fit = False
            self._zoom = 1.0
        else:
            self._fit = True
        self._render()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Overrides QObject.eventFilter: the wheel and a pinch over the image zoom."""
        if watched is self.scroll_area.viewport():
            if event.type() == QEvent.Type.Wheel and isinstance(event, QWheelEvent):
                steps = event.angleDelta().y() / 120
                if steps:
                    self.zoom_by(ZOOM_STEP ** steps)
                return True
            if event.type() == QEvent.Type.NativeGesture and isinstance(
                event, QNativeGestureEvent
            ):
                if event.gestureType() == Qt.NativeGestureType.ZoomNativeGesture:
                    self.zoom_by(1.0 + event.value())
                    return True
        return super().eventFilter(watched, event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        """Overrides QDialog.resizeEvent: re-fit the image."""
        super().resizeEvent(event)
        if self._fit:
            self._render()

    # ----- copy and save
    def copy_image(self) -> bool:
        pixmap = self.pixmap
        if pixmap is None:
            return False
        QGuiApplication.clipboard().setPixmap(pixmap)
        self.info.setText("Image copied to the clipboard")
        return True

    def default_save_path(self) -> Path:
        return pictures_folder() / safe_file_name(self._name, self._data)

    def on_save_button_clicked(self) -> None:
        if self._data is None:
            return
        dialog = QFileDialog(self, "Save image", str(self.default_save_path()))
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self.save_to)
        dialog.open()

    def save_to(self, path: str) -> bool:
        """Write the exact bytes received (no re-encoding)."""
        if self._data is None or not path:
            return False
        try:
            Path(path).write_bytes(self._data)
        except OSError as exc:
            self.info.setText(f"Could not save: {exc.strerror or exc}")
            return False
        self.info.setText(f"Saved to {path}")
        return True

    # ----- previous / next in the room
    def _siblings(self) -> list[Message]:
        if self._gallery is None:
            return []
        return [m for m in self._gallery() if m.image is not None or m.local_image]

    def _position(self) -> tuple[list[Message], int]:
        images = self._siblings()
        msg = self._message
        for i, other in enumerate(images):
            if other is msg or (msg is not None and msg.id is not None and other.id == msg.id):
                return images, i
        return images, -1

    def _update_nav(self) -> None:
        images, i = self._position()
        self.prev_button.setEnabled(i > 0)
        self.next_button.setEnabled(0 <= i < len(images) - 1)

    def show_previous(self) -> None:
        self._step(-1)

    def show_next(self) -> None:
        self._step(1)

    def _step(self, delta: int) -> None:
        images, i = self._position()
        j = i + delta
        if i < 0 or not 0 <= j < len(images):
            return
        self.show_message(images[j])

    def show_message(self, msg: Message) -> None:
        """Show another message's image in this window."""
        self._message = msg
        self._stop_movie()
        self._data = None
        self.copy_button.setEnabled(False)
        self.save_button.setEnabled(False)
        self._fit = True
        if msg.image is not None and msg.image.id:
            self._key = f"{msg.image.id}@full"
            self._name = msg.image.name or "image"
        else:
            self._key = f"local:{msg.client_id}@full"
            self._name = "image"
        self._update_title()
        self._update_nav()
        self.label.setPixmap(QPixmap())
        self.label.setText("Loading…")
        self.label.adjustSize()
        if msg.local_image and (msg.image is None or self._fetch is None):
            self.set_image(msg.local_image)
        elif msg.image is not None and self._fetch is not None:
            if self._task is not None:
                self._task.cancel()
            self._task = asyncio.ensure_future(self._load(msg.image.id, self._key))

    async def _load(self, image_id: str, key: str) -> None:
        assert self._fetch is not None
        try:
            _name, _mime, data = await self._fetch(image_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the server's words, shown where the user looks
            if key == self._key:
                self.show_error(f"This image could not be loaded: {exc}")
            return
        if key == self._key:
            self.set_image(data)

    def done(self, result: int) -> None:
        """Overrides QDialog.done: stop a fetch still running."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._stop_movie()
        super().done(result)
