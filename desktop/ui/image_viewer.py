"""A window showing one image at full size: fit-to-window or 100 %, and Save As.

The bytes come from ``ChatClient.fetch_media`` (cached there); decoding happens on the
shared ImageDecoder's thread pool and the pixmap is cached by image id.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPixmap, QResizeEvent
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
from desktop.ui import icons

logger = logging.getLogger(__name__)


class ImageViewer(QDialog):
    """One image; ``set_image(name, data)`` once the bytes arrive, ``show_error`` if not."""

    def __init__(
        self, decoder: ImageDecoder, key: str, name: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("imageViewer")
        self.setWindowTitle(name or "Image")
        self.setWindowIcon(icons.icon("parley"))
        self.resize(900, 680)
        self._decoder = decoder
        self._key = f"{key}@full"
        self._name = name or "image"
        self._data: bytes | None = None
        self._fit = True

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroll_area.setWidgetResizable(False)
        self.label = QLabel("Loading…", self)
        self.label.setObjectName("imageViewerCanvas")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroll_area.setWidget(self.label)
        layout.addWidget(self.scroll_area, 1)
        bar = QHBoxLayout()
        bar.setContentsMargins(10, 6, 10, 8)
        self.info = QLabel(self)
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        bar.addWidget(self.info, 1)
        self.fit_button = QPushButton("Actual size", self)
        self.fit_button.clicked.connect(self.on_fit_button_clicked)
        self.save_button = QPushButton("Save As…", self)
        self.save_button.setObjectName("saveImage")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.on_save_button_clicked)
        bar.addWidget(self.fit_button)
        bar.addWidget(self.save_button)
        layout.addLayout(bar)
        decoder.ready.connect(self.on_decoder_ready)
        decoder.failed.connect(self.on_decoder_failed)

    @property
    def pixmap(self) -> QPixmap | None:
        return self._decoder.pixmap(self._key)

    def set_image(self, data: bytes) -> None:
        self._data = data
        self.save_button.setEnabled(True)
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

    def _render(self) -> None:
        pixmap = self.pixmap
        if pixmap is None:
            return
        self.info.setText(f"{self._name} · {pixmap.width()} × {pixmap.height()}")
        if self._fit:
            area: QSize = self.scroll_area.viewport().size()
            if pixmap.width() > area.width() or pixmap.height() > area.height():
                pixmap = pixmap.scaled(
                    area,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
        self.label.setPixmap(pixmap)
        self.label.resize(pixmap.size())

    def on_fit_button_clicked(self) -> None:
        self._fit = not self._fit
        self.fit_button.setText("Actual size" if self._fit else "Fit to window")
        self._render()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        """Overrides QDialog.resizeEvent: re-fit the image."""
        super().resizeEvent(event)
        if self._fit:
            self._render()

    def on_save_button_clicked(self) -> None:
        dialog = QFileDialog(self, "Save image", str(Path.home() / self._name))
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
