"""The composer: a multi-line plain-text editor, attach and send buttons, a preview strip
of images and files waiting to be sent (each removable, with an optional caption), the "bob is
typing…" line and an inline message for anything refused.

Enter sends, Shift+Enter starts a new line. Files, dropped or pasted image data and the
attach button's file picker all go through :meth:`ComposerPanel.add_mime` /
:meth:`ComposerPanel.add_files`, which apply the same checks as the server.

``ComposerPanel`` signals: ``sendRequested(str text, list[tuple[Attachment, str]])``
(text may be empty; each attachment has its caption) and ``typingActivity(bool)``,
throttled to one ``True`` every few seconds while the user types, and ``draftChanged()``
whenever the text, an image or a caption changes (the window keeps one draft per room).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QMimeData, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QPalette, QResizeEvent, QTextCursor
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.media.decoder import ImageDecoder
from desktop.ui import icons, theme
from desktop.ui.attachments import (
    Attachment,
    AttachmentError,
    from_mime,
    human_size,
    read_file,
)
from desktop.ui.drafts import Draft
from desktop.ui.elided_label import ElidedLabel
from desktop.ui.file_icons import file_icon_pixmap
from server.protocol import MAX_IMAGE_BYTES, MAX_TEXT_CHARS, TYPING_REFRESH_S

logger = logging.getLogger(__name__)

TYPING_IDLE_MS = 4000
ERROR_VISIBLE_MS = 9000
MAX_LINES = 8


def _offers_images(mime: QMimeData | None) -> bool:
    """True when a paste/drop carries images or files rather than just text."""
    if mime is None:
        return False
    if mime.hasUrls() and any(u.isLocalFile() for u in mime.urls()):
        return True
    if any(f.startswith("image/") for f in mime.formats()) or mime.hasImage():
        return True
    return "application/octet-stream" in mime.formats() and not mime.hasText()


class ComposerEdit(QPlainTextEdit):
    """The text box. Signals: ``submitted()``, ``imagesOffered(object QMimeData)``,
    ``pageRequested(int direction)`` (PageUp -1 / PageDown +1: the timeline scrolls)."""

    submitted = Signal()
    imagesOffered = Signal(object)
    pageRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self.setAccessibleName("Message")
        self.setAccessibleDescription("Enter sends, Shift+Enter starts a new line")
        self.setPlaceholderText("Write a message…")
        self.setTabChangesFocus(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().setDocumentMargin(6)
        self.document().contentsChanged.connect(self._fit_height)
        self._fit_height()

    def setPlaceholderText(self, text: str) -> None:  # noqa: N802
        """Overrides QPlainTextEdit.setPlaceholderText: repaint at once.

        Qt repaints only when the placeholder starts or stops showing, not when its text
        changes while shown, so an empty composer kept the previous room's "Message #…".
        """
        if text != self.placeholderText():
            super().setPlaceholderText(text)
            self.viewport().update()

    def visual_lines(self) -> int:
        """Lines as laid out on screen: soft-wrapped lines count, not only newlines."""
        lines = 0
        block = self.document().begin()
        while block.isValid():
            layout = block.layout()
            count = layout.lineCount() if layout is not None else 0
            lines += max(1, count)
            block = block.next()
        return max(1, lines)

    def _fit_height(self) -> None:
        fm = self.fontMetrics()
        lines = min(MAX_LINES, self.visual_lines())
        margin = int(self.document().documentMargin() * 2) + 4
        height = lines * fm.lineSpacing() + margin
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        """Overrides QPlainTextEdit.resizeEvent: a new width re-wraps, so refit the height."""
        super().resizeEvent(event)
        QTimer.singleShot(0, self._fit_height)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        """Overrides QPlainTextEdit.keyPressEvent: Enter sends, Shift+Enter is a newline,
        PageUp/PageDown scroll the timeline (the composer keeps the focus)."""
        if event.key() in (Qt.Key.Key_PageUp, Qt.Key.Key_PageDown) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            event.accept()
            self.pageRequested.emit(-1 if event.key() == Qt.Key.Key_PageUp else 1)
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            mods = event.modifiers()
            if not mods & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.AltModifier):
                event.accept()
                self.submitted.emit()
                return
            self.insertPlainText("\n")
            event.accept()
            return
        super().keyPressEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802
        """Overrides QPlainTextEdit.canInsertFromMimeData: images and files too."""
        return _offers_images(source) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802
        """Overrides QPlainTextEdit.insertFromMimeData: images go to the preview strip."""
        if _offers_images(source):
            self.imagesOffered.emit(source)
            return
        super().insertFromMimeData(source)


class AttachmentChip(QFrame):
    """One pending image: thumbnail, name and size, caption field, remove button.

    Signals: ``removeRequested()``.
    """

    removeRequested = Signal()

    def __init__(
        self, attachment: Attachment, key: str, decoder: ImageDecoder, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.attachment = attachment
        self.key = key
        self.setObjectName("attachmentChip")
        border = theme.subtle_border(self.palette()).name()
        base = self.palette().color(QPalette.ColorRole.Base).name()
        self.setStyleSheet(
            f"QFrame#attachmentChip {{ border: 1px solid {border}; border-radius: 8px; background: {base}; }}"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(8)
        self.thumb = QLabel(self)
        self.thumb.setFixedSize(56, 56)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setText("…")
        layout.addWidget(self.thumb)
        col = QVBoxLayout()
        col.setSpacing(3)
        name = ElidedLabel(f"{attachment.name} · {human_size(attachment.size)}", self)
        name.setToolTip(attachment.name)
        name.setObjectName("attachmentName")
        col.addWidget(name)
        self.caption = QLineEdit(self)
        self.caption.setObjectName("attachmentCaption")
        self.caption.setPlaceholderText("Add a caption (optional)")
        self.caption.setAccessibleName(f"Caption for {attachment.name}")
        self.caption.setMinimumWidth(140)
        col.addWidget(self.caption)
        layout.addLayout(col)
        self.remove_button = QToolButton(self)
        self.remove_button.setObjectName("removeAttachment")
        self.remove_button.setAccessibleName(f"Remove {attachment.name}")
        self.remove_button.setToolTip("Remove")
        self.remove_button.setIcon(icons.icon("close"))
        self.remove_button.setAutoRaise(True)
        self.remove_button.setStyleSheet(theme.tool_button_sheet(self.palette()))
        self.remove_button.clicked.connect(self.removeRequested)
        layout.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignTop)
        self._decoder = decoder
        if not attachment.data or not attachment.is_image:  # a file: its type's icon
            self.thumb.setPixmap(file_icon_pixmap(attachment.name, attachment.mime, 48,
                                                 self.devicePixelRatioF()))
            return
        decoder.ready.connect(self.on_decoder_ready)
        decoder.failed.connect(self.on_decoder_failed)
        pixmap = decoder.request(key, attachment.data, 112)
        if pixmap is not None:
            self._show(key)

    def _show(self, key: str) -> None:
        pixmap = self._decoder.pixmap(key)
        if pixmap is not None:
            self.thumb.setPixmap(
                pixmap.scaled(
                    QSize(56, 56),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )

    def on_decoder_ready(self, key: str) -> None:
        if key == self.key:
            self._show(key)

    def on_decoder_failed(self, key: str, _reason: str) -> None:
        if key == self.key:
            self.thumb.setText("?")


class ComposerPanel(QWidget):
    """The area under the timeline; see the module docstring."""

    sendRequested = Signal(str, list)
    typingActivity = Signal(bool)
    draftChanged = Signal()

    def __init__(self, decoder: ImageDecoder, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composerPanel")
        self._decoder = decoder
        self.max_image_bytes = MAX_IMAGE_BYTES
        self.max_text_chars = MAX_TEXT_CHARS
        self.max_file_bytes = 0  # until a server with files says (set_limits)
        self._chips: list[AttachmentChip] = []
        self._chip_serial = 0
        self._typing_sent_at = 0.0
        self._typing_active = False
        self._restoring = False

        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 0, 16, 12)
        outer.setSpacing(4)

        self.typing_label = ElidedLabel("", self)  # names come from the server
        self.typing_label.setObjectName("typingIndicator")
        font = self.typing_label.font()
        font.setItalic(True)
        self.typing_label.setFont(font)
        self.typing_label.setFixedHeight(self.typing_label.fontMetrics().height() + 2)
        outer.addWidget(self.typing_label)

        self.strip = QWidget(self)
        self.strip.setObjectName("attachmentStrip")
        self.strip_layout = QHBoxLayout(self.strip)
        self.strip_layout.setContentsMargins(0, 0, 0, 0)
        self.strip_layout.setSpacing(8)
        self.strip_layout.addStretch(1)
        self.strip_scroll = QScrollArea(self)
        self.strip_scroll.setWidget(self.strip)
        self.strip_scroll.setWidgetResizable(True)
        self.strip_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.strip_scroll.setFixedHeight(84)
        self.strip_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # its chips take the focus
        self.strip_scroll.setAccessibleName("Images to send")
        self.strip_scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.strip_scroll.hide()
        outer.addWidget(self.strip_scroll)

        self.error_label = QLabel(self)
        self.error_label.setObjectName("composerError")
        self.error_label.setAccessibleName("Message problem")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        # file names and server words can be one long "word": wrap, never widen the window
        self.error_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.error_label.setStyleSheet(f"color: {theme.DANGER.name()};")
        self.error_label.hide()
        outer.addWidget(self.error_label)

        self.box = QFrame(self)
        self.box.setObjectName("composerBox")
        row = QHBoxLayout(self.box)
        row.setContentsMargins(6, 4, 6, 4)
        row.setSpacing(4)
        self.attach_button = QToolButton(self.box)
        self.attach_button.setObjectName("attachButton")
        self.attach_button.setAccessibleName("Attach image")
        self.attach_button.setToolTip("Attach images")
        self.attach_button.setIcon(icons.icon("attach"))
        self.attach_button.setIconSize(QSize(20, 20))
        self.attach_button.setAutoRaise(True)
        row.addWidget(self.attach_button, 0, Qt.AlignmentFlag.AlignBottom)
        self.edit = ComposerEdit(self.box)
        row.addWidget(self.edit, 1)
        self.send_button = QToolButton(self.box)
        self.send_button.setObjectName("sendButton")
        self.send_button.setAccessibleName("Send message")
        self.send_button.setToolTip("Send (Enter)")
        self.send_button.setIcon(icons.icon("send"))
        self.send_button.setIconSize(QSize(20, 20))
        self.send_button.setAutoRaise(True)
        row.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        outer.addWidget(self.box)

        self.apply_palette(self.palette())

        self._error_timer = QTimer(self)
        self._error_timer.setSingleShot(True)
        self._error_timer.setInterval(ERROR_VISIBLE_MS)
        self._error_timer.timeout.connect(self.clear_error)
        self._typing_idle = QTimer(self)
        self._typing_idle.setSingleShot(True)
        self._typing_idle.setInterval(TYPING_IDLE_MS)
        self._typing_idle.timeout.connect(self.on_typing_idle_timeout)
        self._connect_signals()

    def apply_palette(self, palette: QPalette) -> None:
        """Colours from ``palette`` (the main window calls this again on theme changes)."""
        pal = QPalette(palette)
        pal.setColor(QPalette.ColorRole.WindowText, theme.muted(palette))
        self.typing_label.setPalette(pal)
        border = theme.subtle_border(palette).name()
        base = palette.color(QPalette.ColorRole.Base).name()
        self.box.setStyleSheet(
            f"QFrame#composerBox {{ border: 1px solid {border}; border-radius: 10px;"
            f" background: {base}; }}"
        )
        self.attach_button.setIcon(icons.icon("attach"))
        self.send_button.setIcon(icons.icon("send"))

    def _connect_signals(self) -> None:
        # --- user actions
        self.send_button.clicked.connect(self.submit)
        self.attach_button.clicked.connect(self.open_file_picker)
        self.edit.submitted.connect(self.submit)
        self.edit.imagesOffered.connect(self.add_mime)
        # --- typing notifications
        self.edit.textChanged.connect(self.on_edit_text_changed)

    # ----- limits and state
    def set_limits(self, limits: dict) -> None:
        self.max_image_bytes = int(limits.get("max_image_bytes") or MAX_IMAGE_BYTES)
        self.max_text_chars = int(limits.get("max_text_chars") or MAX_TEXT_CHARS)
        # a server with files (protocol v2) says how big one may be; without: images only
        self.max_file_bytes = int(limits.get("max_file_bytes") or 0)
        files = self.max_file_bytes > 0
        self.attach_button.setAccessibleName("Attach file" if files else "Attach image")
        self.attach_button.setToolTip("Attach files" if files else "Attach images")
        self.strip_scroll.setAccessibleName("Files to send" if files else "Images to send")

    @property
    def attachments(self) -> list[Attachment]:
        return [chip.attachment for chip in self._chips]

    @property
    def chips(self) -> list[AttachmentChip]:
        return list(self._chips)

    def set_typing_users(self, users: Iterable[str]) -> None:
        names = list(users)
        if not names:
            text = ""
        elif len(names) == 1:
            text = f"{names[0]} is typing…"
        elif len(names) == 2:
            text = f"{names[0]} and {names[1]} are typing…"
        else:
            text = "Several people are typing…"
        self.typing_label.setText(text)

    # ----- drafts
    def draft(self) -> Draft:
        """What is being written now: the text and each image with its caption."""
        return Draft(
            self.edit.toPlainText(),
            [(chip.attachment, chip.caption.text()) for chip in self._chips],
        )

    def set_draft(self, draft: Draft) -> None:
        """Replace the composer's content with ``draft`` (a room switch); no typing signal."""
        self._restoring = True
        try:
            self._stop_typing()
            self.clear_attachments()
            self.clear_error()
            self.edit.setPlainText(draft.text)
            self.edit.moveCursor(QTextCursor.MoveOperation.End)
            for attachment, caption in draft.attachments:
                chip = self._add_chip(attachment, focus=False)
                chip.caption.setText(caption)
        finally:
            self._restoring = False

    # ----- errors
    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()
        self._error_timer.start()

    def clear_error(self) -> None:
        self.error_label.clear()
        self.error_label.hide()

    # ----- attachments
    def add_mime(self, mime: QMimeData) -> int:
        """Attach the images in a drop or paste; refusals are shown inline. Returns how many."""
        found, errors = from_mime(mime, self.max_image_bytes, default_name="pasted-image",
                                  max_file_bytes=self.max_file_bytes)
        for attachment in found:
            self._add_chip(attachment)
        if errors:
            self.show_error(" ".join(errors))
        elif found:
            self.clear_error()
        return len(found)

    def add_files(self, paths: Iterable[str | Path]) -> int:
        """Attach local image files (the file picker and the self-test use this)."""
        errors: list[str] = []
        added = 0
        for path in paths:
            try:
                self._add_chip(read_file(Path(path), self.max_image_bytes,
                                         self.max_file_bytes))
                added += 1
            except AttachmentError as exc:
                errors.append(str(exc))
        if errors:
            self.show_error(" ".join(errors))
        elif added:
            self.clear_error()
        return added

    def _add_chip(self, attachment: Attachment, focus: bool = True) -> AttachmentChip:
        self._chip_serial += 1
        chip = AttachmentChip(attachment, f"preview:{self._chip_serial}", self._decoder, self.strip)
        chip.removeRequested.connect(lambda c=chip: self.remove_chip(c))
        self.strip_layout.insertWidget(self.strip_layout.count() - 1, chip)
        self._chips.append(chip)
        chip.caption.textChanged.connect(self.draftChanged)
        self.strip_scroll.show()
        if focus:
            self.edit.setFocus()
        self.draftChanged.emit()
        return chip

    def remove_chip(self, chip: AttachmentChip) -> None:
        if chip in self._chips:
            self._chips.remove(chip)
            chip.hide()
            chip.deleteLater()
        if not self._chips:
            self.strip_scroll.hide()
        self.draftChanged.emit()

    def clear_attachments(self) -> None:
        for chip in list(self._chips):
            self.remove_chip(chip)

    def open_file_picker(self) -> None:
        files = self.max_file_bytes > 0
        dialog = QFileDialog(self, "Attach files" if files else "Attach images")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        images = "Images (*.png *.jpg *.jpeg *.gif *.webp)"
        dialog.setNameFilters(["All files (*)", images] if files else [images, "All files (*)"])
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.filesSelected.connect(self.add_files)
        dialog.open()

    # ----- sending
    def submit(self) -> None:
        """Validate and emit ``sendRequested``; the text box and strip are then cleared."""
        text = self.edit.toPlainText()
        stripped = text.strip()
        if len(text) > self.max_text_chars:
            self.show_error(
                f"This message is {len(text)} characters long; the limit is {self.max_text_chars}."
            )
            return
        items = [(chip.attachment, chip.caption.text().strip()) for chip in self._chips]
        if not stripped and not items:
            return
        self.sendRequested.emit(stripped, items)
        self.edit.clear()
        self.clear_attachments()
        self.clear_error()
        self._stop_typing()

    # ----- typing
    def on_edit_text_changed(self) -> None:
        self.draftChanged.emit()
        if self._restoring:
            return
        if not self.edit.toPlainText().strip():
            self._stop_typing()
            return
        now = time.monotonic()
        if not self._typing_active or now - self._typing_sent_at >= TYPING_REFRESH_S:
            self._typing_active = True
            self._typing_sent_at = now
            self.typingActivity.emit(True)
        self._typing_idle.start()

    def on_typing_idle_timeout(self) -> None:
        self._stop_typing()

    def _stop_typing(self) -> None:
        self._typing_idle.stop()
        if self._typing_active:
            self._typing_active = False
            self.typingActivity.emit(False)
