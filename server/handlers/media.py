"""Files (protocol v2, section 17): uploads, file messages, downloads and erasing bytes.

- ``receive`` streams an HTTP upload into the blob store (``server.storage.uploads``: files
  on disk, or chunks in PostgreSQL), never holding more than a megabyte of it in memory,
  sniffs its type and records it for its uploader.
- ``prepare`` turns ``message:send``'s ``file: {upload}`` into what the message stores: an
  image (thumbnailed, exactly as if sent as ``image``) when the bytes are one ``image``
  would accept, else a file. The upload is claimed in the message's own transaction.
- ``download`` and ``small_file`` serve a file to members of its room.
- :func:`erase_deleted_files` erases the bytes of files whose message was deleted or whose
  room closed; the deleting transaction listed them, so a crash never leaves them served.
- Uploads no message used within ``upload_ttl_s`` are deleted by a periodic task, which
  also sweeps bytes of uploads that never committed.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from server import filetypes, media
from server.config import ServerConfig
from server.errors import ProtocolError, bad_request
from server.handlers.context import HandlerContext, now_ms
from server.protocol import ErrorCode
from server.ratelimit import SlotLimiter
from server.storage.base import NewImage, Storage, User
from server.storage.base_v2 import UploadRecord
from server.storage.uploads import (
    BlobStore,
    FileStore,
    IncomingBlob,
    TooLarge,
    blob_store_for,
    files_dir,
    is_upload_id,
)
from server.validation import display_filename

logger = logging.getLogger(__name__)

# a client that sends nothing for this long loses its upload (it holds a slot and a file)
UPLOAD_IDLE_TIMEOUT_S = 60.0
MAX_UPLOADS_IN_FLIGHT_PER_USER = 4
MAX_UPLOADS_IN_FLIGHT = 64
# uploads waiting for their message, per user: past this, new uploads are rate_limited
MAX_UNUSED_UPLOADS_PER_USER = 50
EXPIRY_SWEEP_S = 600.0


# the blob store of each running server, by its storage, for erase_deleted_files
_STORES: weakref.WeakKeyDictionary[Storage, BlobStore] = weakref.WeakKeyDictionary()


async def erase_deleted_files(storage: Storage, config: ServerConfig) -> None:
    """Erase the bytes of every file whose message was deleted or whose room closed.

    Call it after a message delete or a room close has committed (and at start, to finish
    what a crash interrupted). Safe to run concurrently and repeatedly."""
    doomed = await storage.doomed_files()
    if doomed:
        store = _STORES.get(storage) or FileStore(files_dir(config))
        await store.remove(doomed)
        await storage.forget_doomed(doomed)
        logger.info("erased %d deleted file(s)", len(doomed))


@dataclass(frozen=True, slots=True)
class PreparedFile:
    """What a file message stores: the upload it claims, and the image it became (or None)."""

    upload_id: str
    image: NewImage | None


class FileHandler:
    def __init__(self, ctx: HandlerContext, images: media.ImageProcessor) -> None:
        self.ctx = ctx
        # the server's image processor: an image sent as a file spends the same per-user
        # pixel budget and decode slots as one sent inline
        self.images = images
        self.store = blob_store_for(ctx.config)
        _STORES[ctx.storage] = self.store
        # uploads in flight per user and in all: across the cluster's nodes when there is
        # one (leases a dead node stops renewing); the unused-uploads cap below is counted
        # in the shared database, so it holds cluster-wide as it is
        self.slots = SlotLimiter(MAX_UPLOADS_IN_FLIGHT_PER_USER, MAX_UPLOADS_IN_FLIGHT)
        ctx.features.add("files")

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Tidy the store (unfinished uploads, erasures a crash cut short, strays), then
        expire unused uploads now and every few minutes."""
        await self.store.open()
        await erase_deleted_files(self.ctx.storage, self.ctx.config)
        stray = await self.store.sweep(self.ctx.storage, startup=True)
        if stray:
            logger.info("deleted %d stored file(s) no upload refers to", stray)
        await self.expire()
        self.ctx.spawn(self._expire_periodically())

    async def _expire_periodically(self) -> None:
        """Expire every few minutes; when the server stops (this task is cancelled before
        storage closes), release the store's connections."""
        try:
            await self._expire_loop()
        finally:
            await self.store.close()

    async def _expire_loop(self) -> None:
        interval = min(EXPIRY_SWEEP_S, max(self.ctx.config.upload_ttl_s / 4, 1.0))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.expire()
            except Exception:
                logger.exception("expiring unused uploads failed")

    async def expire(self) -> int:
        """Delete uploads no message used within ``upload_ttl_s``; how many went."""
        cutoff = now_ms() - int(self.ctx.config.upload_ttl_s * 1000)
        expired = await self.ctx.storage.expire_uploads(cutoff)
        await self.store.remove(expired)
        if expired:
            logger.info("deleted %d upload(s) no message used", len(expired))
        stray = await self.store.sweep(self.ctx.storage, startup=False)
        if stray:
            logger.info("deleted the bytes of %d unfinished upload(s)", stray)
        return len(expired)

    # -- uploads ----------------------------------------------------------------------------

    async def receive(
        self,
        user: User,
        raw_name: str | None,
        content_length: int | None,
        chunks: AsyncIterator[bytes],
    ) -> dict[str, Any]:
        """Store an upload's body; the ``upload`` object of ``POST /api/media``'s answer."""
        limit = self.ctx.config.max_file_bytes
        if content_length is not None and content_length > limit:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"A file is at most {limit} bytes.")
        slot = await self.slots.acquire(str(user.id))
        if slot is None:
            raise ProtocolError(ErrorCode.RATE_LIMITED, "Too many uploads at once; try again.")
        try:
            if await self.ctx.storage.unused_uploads(user.id) >= MAX_UNUSED_UPLOADS_PER_USER:
                raise ProtocolError(
                    ErrorCode.RATE_LIMITED,
                    f"At most {MAX_UNUSED_UPLOADS_PER_USER} uploads may wait for a message.",
                )
            name = display_filename(raw_name or "", "file")
            incoming = self.store.incoming(limit)
            try:
                upload = await self._receive(user, name, incoming, chunks)
            except BaseException:
                await asyncio.shield(incoming.abort())
                raise
        finally:
            await asyncio.shield(self.slots.release(slot))
        try:
            await incoming.settled()
        except Exception as exc:  # only bookkeeping, which the sweep finishes
            logger.warning("could not mark upload %s settled: %s", upload.id, exc)
        logger.info("user %s uploaded %d bytes (%s)", user.name, upload.size, upload.mime)
        return {"id": upload.id, "name": upload.name, "size": upload.size, "mime": upload.mime}

    async def _receive(
        self, user: User, name: str, incoming: IncomingBlob, chunks: AsyncIterator[bytes]
    ) -> UploadRecord:
        iterator = aiter(chunks)
        while True:
            try:
                async with asyncio.timeout(UPLOAD_IDLE_TIMEOUT_S):
                    chunk = await anext(iterator)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise ProtocolError(
                    ErrorCode.BAD_REQUEST, "The upload stalled; send the file again."
                ) from None
            except ConnectionError:
                # the client went away mid-body: routine, nothing kept, no traceback
                logger.info("an upload by %s was cut off after %d bytes", user.name, incoming.size)
                raise ProtocolError(
                    ErrorCode.BAD_REQUEST, "The upload was cut off before its end."
                ) from None
            try:
                await incoming.write(chunk)
            except TooLarge:
                raise ProtocolError(
                    ErrorCode.TOO_LARGE, f"A file is at most {incoming.max_bytes} bytes."
                ) from None
        mime = filetypes.sniff(bytes(incoming.head))
        upload_id = await incoming.commit()
        upload = UploadRecord(upload_id, user.id, name, incoming.size, mime, now_ms())
        await self.ctx.storage.add_upload(upload)  # on failure receive() aborts: bytes go
        return upload

    # -- file messages ----------------------------------------------------------------------

    async def prepare(self, user: User, value: object) -> PreparedFile | None:
        """``message:send``'s ``file``: None when the upload is not this user's to use."""
        if not isinstance(value, dict) or set(value) != {"upload"}:
            raise bad_request("file must be an object {upload: id}.")
        upload_id = value["upload"]
        if not isinstance(upload_id, str) or not 1 <= len(upload_id) <= 64:
            raise bad_request("file.upload must be an upload id.")
        upload = await self.ctx.storage.get_upload(upload_id) if is_upload_id(upload_id) else None
        if upload is None or upload.user_id != user.id or upload.message_id is not None:
            return None
        image = await self._as_image(user, upload)
        return PreparedFile(upload.id, image)

    async def _as_image(self, user: User, upload: UploadRecord) -> NewImage | None:
        """The upload as a message image, when it is one ``image`` would accept."""
        max_bytes = self.ctx.config.max_image_bytes
        if not filetypes.is_image_mime(upload.mime) or upload.size > max_bytes:
            return None
        try:
            data = await self.store.read(upload.id)
            processed = await self.images.process(data, max_bytes, str(user.id))
        except ProtocolError:
            return None  # not an image we accept after all: it is sent as a file
        except FileNotFoundError:
            return None
        return NewImage(
            id=upload.id,
            mime=processed.mime,
            name=upload.name,
            data=data,
            width=processed.width,
            height=processed.height,
            thumb=processed.thumb,
            thumb_mime=processed.thumb_mime,
        )

    async def stored_as_image(self, prepared: PreparedFile) -> None:
        """The image's bytes now live with the message: the upload's copy goes."""
        await self.store.remove([prepared.upload_id])

    # -- downloads --------------------------------------------------------------------------

    async def _readable(
        self, user: User, file_id: str, missing: str = "There is no such file."
    ) -> UploadRecord:
        upload = await self.ctx.storage.get_upload(file_id) if is_upload_id(file_id) else None
        if upload is None or upload.message_id is None or upload.room is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, missing)
        if not await self.ctx.storage.is_member(upload.room, user.id):
            # the same answer as an unknown id, as for images: a non-member learns nothing
            raise ProtocolError(ErrorCode.NOT_FOUND, "There is no such file.")
        return upload

    async def download(self, user: User, file_id: str) -> UploadRecord:
        """The file to stream for ``GET /media/{id}`` (from ``self.store``)."""
        return await self._readable(user, file_id)

    async def small_file(self, user: User, file_id: str) -> tuple[str, str, bytes]:
        """``media:get`` of a file: its bytes when they fit in ``max_image_bytes``.

        An id that is neither an image nor a file gets media:get's version 1 answer."""
        upload = await self._readable(user, file_id, "There is no such image.")
        limit = self.ctx.config.max_image_bytes
        if upload.size > limit:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"Files over {limit} bytes are downloaded with GET /media/{{id}}.",
            )
        try:
            data = await self.store.read(upload.id)
        except FileNotFoundError:
            raise ProtocolError(ErrorCode.NOT_FOUND, "There is no such file.") from None
        return upload.mime, upload.name, data
