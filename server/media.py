"""Image intake: sniff the type from the bytes, check size and pixels before decoding, thumbnail.

Never trusts a client's name or mime. The header is read lazily (``Image.open`` decodes no
pixels), so a small file claiming 50000x50000 pixels is refused before any allocation.

A tiny file may still legally hold 40 megapixels (a 1.4 KB WebP of 6000x6000 decodes to
144 MB), so decoding is the one place a client can make the server allocate hundreds of
megabytes. :class:`ImageProcessor` bounds it:

- decodes run on their own few threads, admitted by a gate weighted in pixels: at most
  ``MAX_IMAGE_PIXELS`` decode at once (many small images, or one big one), and at most
  ``queue`` uploads wait; past that the upload is refused with ``rate_limited``;
- each user may decode at most ``pixels_per_minute`` pixels (per-user budget);
- in a cluster the gate and the budget stay per node, on purpose: they protect this
  process's CPU and memory, which no other node's load touches, and a Redis round trip
  per decode would buy nothing (the cluster-wide upload and message limits of
  :mod:`server.cluster.limits` already bound what one user can send in);
- thumbnails are made without a full-size copy: JPEG uses ``draft`` (the decoder scales
  down), palette images are shrunk before conversion, others are ``reduce``d in place;
- memory goes back to the OS after a big decode (``malloc_trim`` on glibc), so a burst of
  bombs does not leave the process at its peak;
- a thumbnail is at most ``max_thumb_bytes``: PNG, then a quantized PNG, then a JPEG
  quality ladder, then a smaller JPEG.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import ctypes.util
import io
import logging
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image, ImageOps

from server import webp_scaled
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
DEFAULT_MAX_THUMB_BYTES = 64 * 1024
# pixels decoding at once across the server: one 40 MP image, or many small ones
DECODE_PIXELS_IN_FLIGHT = MAX_IMAGE_PIXELS
# after a decode this big, hand freed memory back to the OS
_TRIM_ABOVE_PIXELS = 2_000_000
_JPEG_LADDER = (82, 70, 55, 40, 28)


def _load_malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_malloc_trim = _load_malloc_trim()


def release_memory() -> None:
    """Return freed heap pages to the OS (glibc keeps them per thread arena otherwise)."""
    if _malloc_trim is not None:
        _malloc_trim(0)


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


def image_size(data: bytes, mime: str) -> tuple[int, int]:
    """Width and height from the header alone; refuses a mismatched type or too many pixels."""
    try:
        with Image.open(io.BytesIO(data)) as img:  # lazy: reads the header only
            if _PIL_FORMATS.get(img.format or "") != mime:
                raise ProtocolError(
                    ErrorCode.UNSUPPORTED_MEDIA, "The image content does not match its type."
                )
            width, height = img.size
    except ProtocolError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ProtocolError(ErrorCode.TOO_LARGE, "The image has too many pixels.") from exc
    except Exception as exc:
        logger.debug("image header unreadable: %s", exc)
        raise ProtocolError(ErrorCode.UNSUPPORTED_MEDIA, "The image could not be decoded.") from exc
    if width <= 0 or height <= 0:
        raise ProtocolError(ErrorCode.UNSUPPORTED_MEDIA, "The image has no pixels.")
    if width * height > MAX_IMAGE_PIXELS:
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"The image is {width}x{height} pixels; the limit is "
            f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels.",
        )
    return width, height


def _shrink(img: Image.Image) -> Image.Image:
    """A copy at most a few times the thumbnail size, made without a full-size converted copy."""
    side = THUMB_MAX_SIDE * 2
    if img.mode in ("P", "1", "I", "I;16", "F") and max(img.size) > side:
        # palette/odd modes cannot be reduced; nearest-neighbour shrink first, convert after
        scale = side / max(img.size)
        target = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        return img.resize(target, Image.Resampling.NEAREST)
    factor = max(img.size) // side
    if factor >= 2 and img.mode in ("L", "LA", "RGB", "RGBA", "RGBa", "La", "CMYK"):
        # the core box reduce works in place; Image.reduce would first make a premultiplied
        # full-size copy of an RGBA image (another 160 MB at 40 MP). Not premultiplying only
        # tints semi-transparent edge pixels of a thumbnail-to-be, which LANCZOS then smooths.
        box = (0, 0, img.width, img.height)
        return img._new(img.im.reduce((factor, factor), box))
    return img


def _encode_thumb(thumb: Image.Image, has_alpha: bool, max_bytes: int) -> tuple[bytes, str]:
    """The smallest-effort encoding under ``max_bytes``: PNG if alpha, else a JPEG ladder."""
    if has_alpha:
        out = io.BytesIO()
        thumb.save(out, format="PNG", optimize=True)
        if out.tell() <= max_bytes:
            return out.getvalue(), "image/png"
        out = io.BytesIO()
        thumb.quantize(256, method=Image.Quantize.FASTOCTREE).save(out, format="PNG", optimize=True)
        if out.tell() <= max_bytes:
            return out.getvalue(), "image/png"
        background = Image.new("RGB", thumb.size, (255, 255, 255))
        background.paste(thumb, mask=thumb.getchannel("A"))
        thumb = background
    while True:
        for quality in _JPEG_LADDER:
            out = io.BytesIO()
            thumb.save(out, format="JPEG", quality=quality)
            if out.tell() <= max_bytes:
                return out.getvalue(), "image/jpeg"
        if max(thumb.size) <= 16:
            return out.getvalue(), "image/jpeg"  # cannot get here for any sane cap
        thumb = thumb.resize(
            (max(1, thumb.width * 3 // 4), max(1, thumb.height * 3 // 4)),
            Image.Resampling.LANCZOS,
        )


def _process_sync(data: bytes, mime: str, max_thumb_bytes: int) -> tuple[bytes, str]:
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.seek(0)
            scaled = None
            if mime == "image/webp":  # libwebp scales while decoding; no full-size copies
                scaled = webp_scaled.decode_scaled(data, THUMB_MAX_SIDE)
            if scaled is not None:
                small = scaled
            else:
                img.draft("RGB", (THUMB_MAX_SIDE, THUMB_MAX_SIDE))  # JPEG: decode scaled down
                img.load()
                small = _shrink(img)
            frame = ImageOps.exif_transpose(small) if mime == "image/jpeg" else small
            has_alpha = frame.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
                frame.mode == "P" and "transparency" in frame.info
            )
            thumb = frame.convert("RGBA" if has_alpha else "RGB")
            del small, frame
            thumb.thumbnail((THUMB_MAX_SIDE, THUMB_MAX_SIDE), Image.Resampling.LANCZOS)
            return _encode_thumb(thumb, has_alpha, max_thumb_bytes)
    except ProtocolError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ProtocolError(ErrorCode.TOO_LARGE, "The image has too many pixels.") from exc
    except MemoryError as exc:
        raise ProtocolError(ErrorCode.TOO_LARGE, "The image is too large to decode.") from exc
    except Exception as exc:  # any PIL failure means we cannot read it
        logger.debug("image decode failed: %s", exc)
        raise ProtocolError(ErrorCode.UNSUPPORTED_MEDIA, "The image could not be decoded.") from exc


def _process_and_trim(
    data: bytes, mime: str, max_thumb_bytes: int, pixels: int
) -> tuple[bytes, str]:
    try:
        return _process_sync(data, mime, max_thumb_bytes)
    finally:
        if pixels >= _TRIM_ABOVE_PIXELS:
            release_memory()


class _PixelGate:
    """FIFO admission weighted in pixels, with a bounded number of waiters."""

    def __init__(self, capacity: int, max_waiting: int) -> None:
        self.capacity = capacity
        self.max_waiting = max_waiting
        self.in_flight = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    async def acquire(self, pixels: int) -> int:
        weight = min(pixels, self.capacity)
        if not self._waiters and self.in_flight + weight <= self.capacity:
            self.in_flight += weight
            return weight
        if len(self._waiters) >= self.max_waiting:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "The server is busy with other images; try again shortly."
            )
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (weight, fut)
        self._waiters.append(entry)
        try:
            await fut
        except BaseException:
            if entry in self._waiters:
                self._waiters.remove(entry)
            elif fut.done() and not fut.cancelled():
                self.release(weight)  # admitted just as we were cancelled
            raise
        return weight

    def release(self, weight: int) -> None:
        self.in_flight -= weight
        while self._waiters:
            weight, fut = self._waiters[0]
            if self.in_flight + weight > self.capacity:
                break
            self._waiters.popleft()
            if not fut.done():
                self.in_flight += weight
                fut.set_result(None)


class _PixelBudget:
    """At most ``limit`` pixels decoded per key in any ``window_s`` (0: no limit)."""

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._spent: dict[str, collections.deque[tuple[float, int]]] = {}

    def take(self, key: str, pixels: int) -> bool:
        if self.limit <= 0:
            return True
        now = time.monotonic()
        spent = self._spent.setdefault(key, collections.deque())
        while spent and spent[0][0] <= now - self.window_s:
            spent.popleft()
        if spent and sum(p for _, p in spent) + pixels > self.limit:
            return False
        spent.append((now, pixels))
        if len(self._spent) > 10_000:
            self._spent = {k: v for k, v in self._spent.items() if v}
        return True

    def refund(self, key: str, pixels: int) -> None:
        """Give back a take whose decode never ran (refused by the queue)."""
        spent = self._spent.get(key)
        if spent:
            for i in range(len(spent) - 1, -1, -1):
                if spent[i][1] == pixels:
                    del spent[i]
                    return


class ImageProcessor:
    """One per server: the decode threads, the gate in front of them and per-user budgets."""

    def __init__(
        self,
        workers: int = 2,
        queue: int = 4,
        pixels_per_minute: int = 0,
        max_thumb_bytes: int = DEFAULT_MAX_THUMB_BYTES,
    ) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, workers), thread_name_prefix="parley-image"
        )
        self._gate = _PixelGate(DECODE_PIXELS_IN_FLIGHT, max(0, queue))
        self._budget = _PixelBudget(pixels_per_minute)
        self.max_thumb_bytes = max_thumb_bytes

    async def process(self, data: bytes, max_bytes: int, user_key: str = "") -> ProcessedImage:
        """Validate and thumbnail an uploaded image, raising ProtocolError for what we refuse."""
        mime = check_image(data, max_bytes)
        width, height = image_size(data, mime)
        pixels = width * height
        if not self._budget.take(user_key, pixels):
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "You sent too many large images; try again in a minute."
            )
        try:
            weight = await self._gate.acquire(pixels)
        except BaseException:
            self._budget.refund(user_key, pixels)
            raise
        try:
            loop = asyncio.get_running_loop()
            thumb, thumb_mime = await loop.run_in_executor(
                self._executor, _process_and_trim, data, mime, self.max_thumb_bytes, pixels
            )
        finally:
            self._gate.release(weight)
        return ProcessedImage(mime, width, height, thumb, thumb_mime)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


_default: ImageProcessor | None = None


async def process_image(data: bytes, max_bytes: int) -> ProcessedImage:
    """Module-level entry for callers without a server's processor (same bounds, shared)."""
    global _default
    if _default is None:
        _default = ImageProcessor()
    return await _default.process(data, max_bytes)
