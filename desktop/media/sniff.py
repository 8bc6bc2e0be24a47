"""Recognise the image formats the server accepts from their first bytes.

The name or the mime type a file claims is never trusted: the server sniffs too, and a
client that checks the same way can refuse a non-image before uploading it.
"""

from __future__ import annotations

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_GIFS = (b"GIF87a", b"GIF89a")

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


def sniff_image_mime(data: bytes) -> str | None:
    """The mime type of PNG, JPEG, GIF or WebP bytes, or None for anything else."""
    head = bytes(data[:16])
    if head.startswith(_PNG):
        return "image/png"
    if head.startswith(_JPEG):
        return "image/jpeg"
    if head.startswith(_GIFS):
        return "image/gif"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None
