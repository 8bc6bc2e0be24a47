"""Turn files, drops and pastes into attachments, refusing what the server would.

The checks mirror the server's (shared/PROTOCOL.md sections 5 and 17): an image's type is
sniffed from the bytes, never taken from a name or a mime type, and the size limits come
from the session's ``limits``. A file's size is checked before it is read.

On a server with files (protocol v2, ``max_file_bytes`` in the limits) any file can be
attached: a small image still goes over the socket as ``image`` (its bytes are read
here); anything else, a big image included, stays a path and is streamed from disk by
the upload when it is sent (:func:`via_upload`). Without files, only images are taken.
Errors are sentences a person can act on, shown next to the composer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData
from PySide6.QtGui import QImage

from desktop.media.sniff import EXTENSIONS, sniff_image_mime
from desktop.net.files import SOCKET_IMAGE_BYTES
from desktop.state.filenames import guess_mime
from desktop.state.format import human_size  # one wording for sizes app-wide

logger = logging.getLogger(__name__)

ALLOWED_TEXT = "PNG, JPEG, GIF or WebP"


@dataclass
class Attachment:
    """An image's bytes (``data``), or a file on disk (``path``, ``data`` empty)."""

    data: bytes
    name: str
    mime: str
    path: Path | None = None
    size: int = -1

    def __post_init__(self) -> None:
        if self.size < 0:
            self.size = len(self.data)

    @property
    def is_image(self) -> bool:
        return self.mime in EXTENSIONS


def via_upload(attachment: Attachment, max_image_bytes: int) -> bool:
    """Whether it goes up over HTTP as a file (``POST /api/media``) rather than as an
    ``image`` over the socket: every non-image, and images past the socket's comfort."""
    return (attachment.path is not None or not attachment.is_image
            or attachment.size > min(SOCKET_IMAGE_BYTES, max_image_bytes))


def _too_big_file(name: str, size: int, max_file_bytes: int) -> AttachmentError:
    return AttachmentError(
        f"{name} is {human_size(size)}; this server takes files up to "
        f"{human_size(max_file_bytes)}.")


def read_file(path: Path, max_image_bytes: int, max_file_bytes: int) -> Attachment:
    """Any local file (``max_file_bytes`` 0: images only, as ``read_image_file``). Only a
    small image's bytes are read now; a bigger file is read while it uploads."""
    if max_file_bytes <= 0:
        return read_image_file(path, max_image_bytes)
    name = path.name
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise AttachmentError(f"{name} is not a file.")
        with path.open("rb") as fh:
            head = fh.read(16)
            image_mime = sniff_image_mime(head)
            if image_mime is not None and size <= min(SOCKET_IMAGE_BYTES, max_image_bytes):
                return check_image(head + fh.read(size + 1 - len(head)), name, max_image_bytes)
    except OSError as exc:
        raise AttachmentError(f"{name} could not be opened ({exc.strerror or exc}).") from exc
    if size > max_file_bytes:
        raise _too_big_file(name, size, max_file_bytes)
    return Attachment(data=b"", name=name, mime=image_mime or _non_image_mime(name),
                      path=path, size=size)


def check_data(data: bytes, name: str, max_image_bytes: int, max_file_bytes: int) -> Attachment:
    """Pasted or dropped bytes: an image, or (with files) any bytes as a file."""
    mime = sniff_image_mime(data)
    if max_file_bytes <= 0 or (mime is not None and len(data) <= max_image_bytes):
        return check_image(data, name, max_image_bytes)
    if len(data) > max_file_bytes:
        raise _too_big_file(name, len(data), max_file_bytes)
    if mime is not None and "." not in name:
        name = f"{name}.{EXTENSIONS[mime]}"
    return Attachment(data=data, name=name, mime=mime or _non_image_mime(name))


def _non_image_mime(name: str) -> str:
    """A display mime from the name, never an image one: the bytes said it is not."""
    guessed = guess_mime(name)
    return "application/octet-stream" if guessed.startswith("image/") else guessed


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
    mime: QMimeData, max_bytes: int, default_name: str = "image", max_file_bytes: int = 0
) -> tuple[list[Attachment], list[str]]:
    """Attachments from a drop or a paste, and the refusals to show for the rest.

    Local files come first (any file when ``max_file_bytes`` is set, else images only). A
    browser drag carries a web URL plus the image bytes (as ``image/*`` or
    ``application/octet-stream``), so raw data is used when no local file was given; a
    decoded ``application/x-qt-image`` is the last resort (re-encoded as PNG).
    """
    found: list[Attachment] = []
    errors: list[str] = []
    if mime.hasUrls():
        for url in mime.urls():
            if url.isLocalFile():
                try:
                    found.append(read_file(Path(url.toLocalFile()), max_bytes, max_file_bytes))
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
            if max_file_bytes > 0 and fmt == "application/octet-stream":
                try:  # bytes of some file (with files, anything can be sent)
                    found.append(check_data(data, default_name.replace("image", "file"),
                                            max_bytes, max_file_bytes))
                except AttachmentError as exc:
                    errors.append(str(exc))
                return found, errors
            continue
        try:
            found.append(check_data(data, f"{default_name}.{EXTENSIONS[sniffed]}", max_bytes,
                                    max_file_bytes))
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
