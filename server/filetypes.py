"""What an uploaded file is, from its first bytes (display names: ``server.validation``).

The type comes from magic numbers only, never from the name or the client's word: a file
we cannot recognise is ``application/octet-stream``. Zip containers are looked into a
little (the first entries' names) to tell office documents and e-books from plain zips.
SVG and HTML are deliberately reported as plain text: they could run script if served as
what they are.
"""

from __future__ import annotations

import re

from server import media

OCTET_STREAM = "application/octet-stream"
TEXT_PLAIN = "text/plain"

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF-", 0, "application/pdf"),
    (b"\x1f\x8b", 0, "application/gzip"),
    (b"BZh", 0, "application/x-bzip2"),
    (b"\xfd7zXZ\x00", 0, "application/x-xz"),
    (b"(\xb5/\xfd", 0, "application/zstd"),
    (b"7z\xbc\xaf\x27\x1c", 0, "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", 0, "application/vnd.rar"),
    (b"ustar", 257, "application/x-tar"),
    (b"BM", 0, "image/bmp"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
    (b"\x00\x00\x01\x00", 0, "image/vnd.microsoft.icon"),
    (b"ID3", 0, "audio/mpeg"),
    (b"OggS", 0, "audio/ogg"),
    (b"fLaC", 0, "audio/flac"),
    (b"\x1aE\xdf\xa3", 0, "video/webm"),
    (b"SQLite format 3\x00", 0, "application/vnd.sqlite3"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "application/x-ole-storage"),  # old MS Office
)

_ODF_MIMETYPE = re.compile(rb"mimetype(application/[a-z0-9.+-]{1,80})")
_OOXML = (
    (b"word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (b"ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
)
_TEXT_CONTROLS = set(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B}


def sniff(head: bytes) -> str:
    """The mime type of a file whose first bytes (up to 64 KiB) are ``head``."""
    image = media.sniff_mime(head)
    if image is not None:
        return image
    for magic, offset, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return mime
    if len(head) >= 12 and head[:4] == b"RIFF":
        kind = head[8:12]
        if kind == b"WAVE":
            return "audio/wav"
        if kind == b"AVI ":
            return "video/x-msvideo"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _sniff_zip(head)
    if _is_text(head):
        return TEXT_PLAIN
    return OCTET_STREAM


def _sniff_zip(head: bytes) -> str:
    odf = _ODF_MIMETYPE.match(head, 30)  # ODF and EPUB: an uncompressed first entry
    if odf is not None:
        return odf.group(1).decode("ascii")
    if b"[Content_Types].xml" in head:
        for marker, mime in _OOXML:
            if b"PK\x03\x04" in head and marker in head:
                return mime
    if b"META-INF/MANIFEST.MF" in head[:200]:
        return "application/java-archive"
    return "application/zip"


def _is_text(head: bytes) -> bool:
    if not head:
        return False
    if head.startswith((b"\xef\xbb\xbf",)):
        head = head[3:]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a character cut at the end of the sniffed bytes is still text
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return not any(ord(ch) in _TEXT_CONTROLS or ord(ch) == 0x7F for ch in text)


def is_image_mime(mime: str) -> bool:
    return mime in ("image/png", "image/jpeg", "image/gif", "image/webp")
