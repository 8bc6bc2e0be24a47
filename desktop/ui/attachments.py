"""Turn files, drops and pastes into image attachments, refusing what the server would.

The checks mirror the server's (shared/PROTOCOL.md section 5): the type is sniffed from
the bytes, never taken from a name or a mime type, and the size limit comes from the
session's ``limits``. A file's size is checked before it is read. Errors are sentences a
person can act on, shown next to the composer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData
from PySide6.QtGui import QImage

from desktop.media.sniff import EXTENSIONS, sniff_image_mime
from desktop.state.format import human_size  # one wording for sizes app-wide

logger = logging.getLogger(__name__)

ALLOWED_TEXT = "PNG, JPEG, GIF or WebP"


@dataclass
class Attachment:
    data: bytes
    name: str
    mime: str


class AttachmentError(ValueError):
    """A refusal in plain words."""


def check_image(data: bytes, name: str, max_bytes: int) -> Attachment:
    """An Attachment if ``data`` is an allowed image within ``max_bytes``, else raise."""
    if len(data) > max_bytes:
        raise AttachmentError(
            f"{name} is {human_size(len(data))}; images can be at most {human_size(max_bytes)}."
        )
    mime = sniff_image_mime(data)
    if mime is None:
        raise AttachmentError(f"{name} is not an image Parley can send ({ALLOWED_TEXT}).")
    if "." not in name:
        name = f"{name}.{EXTENSIONS[mime]}"
    return Attachment(data=data, name=name, mime=mime)


def read_image_file(path: Path, max_bytes: int) -> Attachment:
    """Read and check one local file; its size is checked before any byte is read."""
    name = path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AttachmentError(f"{name} could not be opened ({exc.strerror or exc}).") from exc
    if not path.is_file():
        raise AttachmentError(f"{name} is not a file.")
    if size > max_bytes:
        raise AttachmentError(
            f"{name} is {human_size(size)}; images can be at most {human_size(max_bytes)}."
        )
    with path.open("rb") as fh:
        head = fh.read(16)
        if sniff_image_mime(head) is None:
            raise AttachmentError(f"{name} is not an image Parley can send ({ALLOWED_TEXT}).")
        data = head + fh.read(max_bytes + 1 - len(head))
    return check_image(data, name, max_bytes)


def _encode_png(image: QImage) -> bytes:
    array = QByteArray()
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stub wants bytes, the binding a str
    buffer.close()
    return bytes(array.data())


def from_mime(
    mime: QMimeData, max_bytes: int, default_name: str = "image"
) -> tuple[list[Attachment], list[str]]:
    """Attachments from a drop or a paste, and the refusals to show for the rest.

    Local files come first. A browser drag carries a web URL plus the image bytes (as
    ``image/*`` or ``application/octet-stream``), so raw data is used when no local file
    was given; a decoded ``application/x-qt-image`` is the last resort (re-encoded as PNG).
    """
    found: list[Attachment] = []
    errors: list[str] = []
    if mime.hasUrls():
        for url in mime.urls():
            if url.isLocalFile():
                try:
                    found.append(read_image_file(Path(url.toLocalFile()), max_bytes))
                except AttachmentError as exc:
                    errors.append(str(exc))
    if found or errors:
        return found, errors

    raw_formats = [f for f in mime.formats() if f.startswith("image/")]
    if "application/octet-stream" in mime.formats():
        raw_formats.append("application/octet-stream")
    saw_data = False
    for fmt in raw_formats:
        data = bytes(mime.data(fmt).data())
        if not data:
            continue
        saw_data = True
        sniffed = sniff_image_mime(data)
        if sniffed is None:
            continue
        try:
            found.append(check_image(data, f"{default_name}.{EXTENSIONS[sniffed]}", max_bytes))
        except AttachmentError as exc:
            errors.append(str(exc))
        return found, errors
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            try:
                found.append(check_image(_encode_png(image), f"{default_name}.png", max_bytes))
            except AttachmentError as exc:
                errors.append(str(exc))
            return found, errors
    if saw_data or mime.hasUrls():
        errors.append(f"That is not an image Parley can send ({ALLOWED_TEXT}).")
    return found, errors
