"""The media concern of ChatClient: fetching posted images, with an LRU cache by bytes
and one request per image however many views ask at once."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from desktop.net.core import SEND_TIMEOUT_S, ClientCore
from server.protocol import Event

MEDIA_CACHE_BYTES = 64 * 1024 * 1024

_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class MediaMixin(ClientCore):
    """``fetch_media`` (see the module doc)."""

    def _init_media(self) -> None:
        self._media_cache: OrderedDict[str, tuple[str, str, bytes]] = OrderedDict()
        self._media_cache_bytes = 0
        self._media_inflight: dict[str, asyncio.Future[tuple[str, str, bytes]]] = {}

    def _forget_state(self) -> None:
        super()._forget_state()
        self._media_cache.clear()  # image ids belong to the server that issued them
        self._media_cache_bytes = 0

    async def fetch_media(self, image_id: str) -> tuple[str, str, bytes]:
        """(mime, name, bytes) of a posted image; cached (LRU by bytes)."""
        cached = self._media_cache.get(image_id)
        if cached is not None:
            self._media_cache.move_to_end(image_id)
            return cached
        inflight = self._media_inflight.get(image_id)
        if inflight is not None:
            return await asyncio.shield(inflight)
        fut: asyncio.Future[tuple[str, str, bytes]] = (
            asyncio.get_running_loop().create_future())
        self._media_inflight[image_id] = fut
        try:
            ack = await self._call(Event.MEDIA_GET, {"id": image_id}, timeout=SEND_TIMEOUT_S)
            data = ack.get("data") or b""
            result = (str(ack.get("mime") or ""), str(ack.get("name") or ""), bytes(data))
            self._cache_media(image_id, result)
            fut.set_result(result)
            return result
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        finally:
            self._media_inflight.pop(image_id, None)

    def _cache_media(self, image_id: str, item: tuple[str, str, bytes]) -> None:
        size = len(item[2])
        if size > MEDIA_CACHE_BYTES // 4:
            return
        self._media_cache[image_id] = item
        self._media_cache_bytes += size
        while self._media_cache_bytes > MEDIA_CACHE_BYTES and self._media_cache:
            _, (_, _, old) = self._media_cache.popitem(last=False)
            self._media_cache_bytes -= len(old)


def sniff_mime(data: bytes) -> str:
    """The image type from its first bytes (for a pending echo, before the server says)."""
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"
