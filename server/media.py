"""Image intake: sniff the type from the bytes, check size and pixels before decoding, thumbnail.

Never trusts a client's name or mime. The header is read lazily (``Image.open`` decodes no
pixels), so a small file claiming 50000x50000 pixels is refused before any allocation.
Decoding and thumbnailing run in a worker thread so the event loop stays responsive.
"""

from __future__ import annotations

import asyncio
import io
import logging
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from server.errors import ProtocolError
from server.protocol import MAX_IMAGE_PIXELS, THUMB_MAX_SIDE, ErrorCode

logger = logging.getLogger(__name__)

# Pillow warns past MAX_IMAGE_PIXELS and raises at twice that. We check the header ourselves
# first; this is the second line of defence for anything that slips past (e.g. GIF frames).
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
# Image.open warns for 40-80 MP headers before we get to refuse them as too_large ourselves;
# the warning says nothing we do not handle, so keep it out of operators' logs.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

_PIL_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    mime: str
    width: int
    height: int
    thumb: bytes
    thumb_mime: str


def sniff_mime(data: bytes) -> str | None:
    """The image type from magic bytes, or None when it is not one we accept."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_image(data: bytes, max_bytes: int) -> str:
    """Cheap checks done on the loop: byte size and magic. Returns the sniffed mime."""
    if len(data) > max_bytes:
        raise ProtocolError(
            ErrorCode.TOO_LARGE, f"The image is {len(data)} bytes; the limit is {max_bytes}."
        )
    mime = sniff_mime(data)
    if mime is None:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_MEDIA, "Only PNG, JPEG, GIF and WebP images are accepted."
        )
    return mime


def _process_sync(data: bytes, mime: str) -> ProcessedImage:
    try:
        with Image.open(io.BytesIO(data)) as img:  # lazy: reads the header only
            if _PIL_FORMATS.get(img.format or "") != mime:
                raise ProtocolError(
                    ErrorCode.UNSUPPORTED_MEDIA, "The image content does not match its type."
                )
            width, height = img.size
            if width <= 0 or height <= 0:
                raise ProtocolError(ErrorCode.UNSUPPORTED_MEDIA, "The image has no pixels.")
            if width * height > MAX_IMAGE_PIXELS:
                raise ProtocolError(
                    ErrorCode.TOO_LARGE,
                    f"The image is {width}x{height} pixels; the limit is "
                    f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels.",
                )
            img.seek(0)
            img.draft("RGB", (THUMB_MAX_SIDE, THUMB_MAX_SIDE))  # JPEG: decode scaled down
            frame = ImageOps.exif_transpose(img) if mime == "image/jpeg" else img
            has_alpha = frame.mode in ("RGBA", "LA", "PA") or (
                frame.mode == "P" and "transparency" in frame.info
            )
            thumb = frame.convert("RGBA" if has_alpha else "RGB")
            thumb.thumbnail((THUMB_MAX_SIDE, THUMB_MAX_SIDE), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            if has_alpha:
                thumb.save(out, format="PNG", optimize=True)
                thumb_mime = "image/png"
            else:
                thumb.save(out, format="JPEG", quality=82)
                thumb_mime = "image/jpeg"
    except ProtocolError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ProtocolError(ErrorCode.TOO_LARGE, "The image has too many pixels.") from exc
    except MemoryError as exc:
        raise ProtocolError(ErrorCode.TOO_LARGE, "The image is too large to decode.") from exc
    except Exception as exc:  # any PIL failure means we cannot read it
        logger.debug("image decode failed: %s", exc)
        raise ProtocolError(ErrorCode.UNSUPPORTED_MEDIA, "The image could not be decoded.") from exc
    return ProcessedImage(mime, width, height, out.getvalue(), thumb_mime)


async def process_image(data: bytes, max_bytes: int) -> ProcessedImage:
    """Validate and thumbnail an uploaded image, raising ProtocolError for what we refuse."""
    mime = check_image(data, max_bytes)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, _process_sync, data, mime)
