"""The files concern of ChatClient (protocol v2 section 17): uploads and downloads over HTTP.

Sending a file is two steps. ``send_file`` shows a pending echo at once and queues an
outbox entry that names the file on disk; when the outbox reaches it, the file streams
to ``POST /api/media`` in chunks read off the GUI thread (never whole in memory), with
progress in :attr:`transfers`. Once the server holds the bytes the entry carries the
upload id and goes out as ``message:send {file: {upload}}`` through the same outbox, so it
lands once however often the connection drops. A cancelled or failed upload leaves the
message failed with a sentence and Retry; one cut off by a lost connection starts again
after the reconnect. ``max_file_bytes`` from the session refuses a file up front.

``download_file`` streams ``GET /media/{id}`` into ``<data_dir>/downloads/<id>.part``; a
download cancelled or cut off resumes from what the part file holds with ``Range``. Only
a file of exactly the announced size is moved to the save folder, under a cleaned name
that never overwrites anything (``report (1).pdf``). Deleting a message drops its partial
download and what the client remembers of it.

All of it runs on the qasync loop with aiohttp; disk reads and writes go through
``asyncio.to_thread`` one chunk at a time. No widgets here.

Signals: ``transferChanged(str key)`` (``desktop.state.transfers`` keys) and
``fileSaved(str file_id, str path)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import aiohttp
from PySide6.QtCore import QStandardPaths, Signal

from desktop.net import outbox as outbox_module
from desktop.net.core import ClientCore
from desktop.net.outbox import OutboxEntry
from desktop.secrets import ensure_private_dir
from desktop.state.filenames import clean_filename, unique_path
from desktop.state.format import human_size
from desktop.state.transfers import (
    DONE,
    FAILED,
    PAUSED,
    RUNNING,
    Transfer,
    TransferStore,
    download_key,
    upload_key,
)
from desktop.state.types import FileInfo, Message
from server.protocol import ErrorCode

logger = logging.getLogger(__name__)

FILE_CHUNK = 256 * 1024
# Images up to this go over the socket as ``image`` (one message, no HTTP); bigger ones
# are uploaded like any file (the server still makes them image messages).
SOCKET_IMAGE_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_UPLOAD_ATTEMPTS = 4
# uploads running at once: the server takes 4 per user (429 past that), and a few at a
# time finish the first files sooner than all of them sharing the line
UPLOADS_AT_ONCE = 3
HTTP_CONNECT_TIMEOUT_S = 10.0
HTTP_READ_TIMEOUT_S = 90.0  # the server gives up on a stalled upload after 60 s

# outbox error codes of failed uploads (Retry uploads again)
UPLOAD_CANCELLED = "upload_cancelled"
UPLOAD_FAILED = "upload_failed"
MISSING_FILE = "missing_file"
_RETRY_UPLOAD = {UPLOAD_CANCELLED, UPLOAD_FAILED, MISSING_FILE, ErrorCode.NOT_FOUND,
                 ErrorCode.BAD_REQUEST, ErrorCode.RATE_LIMITED, ErrorCode.INTERNAL}
_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class FileRefused(ValueError):
    """A file that cannot be sent, in a sentence (too large for this server)."""


class _Refused(Exception):
    """The server or the disk said no; trying the same again would not help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Transient(Exception):
    """Worth another try (rate limited, a server error, a connection cut)."""


def too_large_sentence(name: str, size: int, limit: int) -> str:
    return (f"{name} is {human_size(size)}; this server takes files up to "
            f"{human_size(limit)}.")


def default_save_dir() -> Path:
    """The user's Downloads folder (QStandardPaths), or the home folder without one."""
    found = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DownloadLocation)
    return Path(found) if found else Path.home()


class FilesMixin(ClientCore):
    """Uploads and downloads (see the module doc)."""

    transferChanged = Signal(str)
    fileSaved = Signal(str, str)

    # set by the sending concern
    _flush_wake: asyncio.Event

    def _init_files(self) -> None:
        self.transfers = TransferStore()
        self.transfers.subscribe(self.transferChanged.emit)
        self.save_dir: Path | None = None  # None: default_save_dir()
        self.downloads_dir = self.data_dir / "downloads"
        self._uploads: dict[str, asyncio.Task[None]] = {}
        self._downloads: dict[str, asyncio.Task[None]] = {}
        self._upload_slots = asyncio.Semaphore(UPLOADS_AT_ONCE)
        self._saved: dict[str, str] = self._load_saved()

    # ------------------------------------------------------------------ limits
    @property
    def max_file_bytes(self) -> int:
        try:
            return int(self._limits.get("max_file_bytes") or DEFAULT_MAX_FILE_BYTES)
        except (TypeError, ValueError):
            return DEFAULT_MAX_FILE_BYTES

    def check_file_size(self, name: str, size: int) -> None:
        """Raise FileRefused (a sentence naming the limit) if the server would refuse it."""
        limit = self.max_file_bytes
        if size > limit:
            raise FileRefused(too_large_sentence(name, size, limit))

    # ------------------------------------------------------------------ uploads
    def send_file(self, room: str, path: Path | str | None, caption: str = "",
                  name: str | None = None, data: bytes | None = None,
                  mime: str = "", reply_to: int | None = None) -> str:
        """Queue a file message: ``path`` on disk (read when it uploads) or pasted
        ``data``; the echo shows at once. Raises FileRefused when it is over the limit."""
        if path is None and data is None:
            raise ValueError("send_file needs a path or data")
        client_id = str(uuid.uuid4())
        if data is not None:
            size = len(data)
            label = name or "file"
        else:
            assert path is not None
            source = Path(path)
            label = name or source.name
            try:
                size = source.stat().st_size
            except OSError as exc:
                raise FileRefused(f"{label} could not be opened ({exc.strerror or exc}).") from exc
        self.check_file_size(label, size)
        owned = data is not None
        file_path = str(self.outbox.add_file_bytes(client_id, data) if data is not None
                        else Path(path).resolve())  # type: ignore[arg-type]
        username = self.username or self._auth.get("username") or ""
        entry = OutboxEntry(client_id=client_id, room=room, username=username,
                            ts=int(time.time() * 1000), text=caption, reply_to=reply_to,
                            file_path=file_path, file_name=label, file_size=size,
                            file_mime=mime or "application/octet-stream", file_owned=owned)
        self.outbox.add(entry)
        self.messages.add_pending(self._echo_for(entry, None))
        self._flush_wake.set()
        return client_id

    def cancel_upload(self, client_id: str) -> bool:
        """Stop an upload; the message stays, failed, with Retry. False if none runs."""
        entry = self.outbox.get(client_id)
        if entry is None or not entry.is_file or entry.upload_id is not None or entry.failed:
            return False
        task = self._uploads.pop(client_id, None)
        if task is not None:
            task.cancel()
        sentence = f"The upload of {entry.file_name} was cancelled."
        self.outbox.mark_failed(client_id, sentence, UPLOAD_CANCELLED)
        self.messages.mark_failed(client_id, sentence, True)
        self.transfers.finish(upload_key(client_id), FAILED, sentence)
        return True

    def can_retry(self, client_id: str) -> bool:  # extends SendingMixin.can_retry
        entry = self.outbox.get(client_id)
        if entry is not None and entry.is_file and entry.failed:
            if entry.error_code in _RETRY_UPLOAD:
                return True
        return super().can_retry(client_id)  # type: ignore[misc, no-any-return]

    def retry(self, client_id: str) -> None:  # extends SendingMixin.retry
        entry = self.outbox.get(client_id)
        if entry is not None and entry.is_file and entry.failed and self.can_retry(client_id):
            if entry.error_code == ErrorCode.NOT_FOUND:  # the upload expired: send it again
                self.outbox.set_upload(client_id, None)
            self.transfers.drop(upload_key(client_id))
        super().retry(client_id)  # type: ignore[misc]

    def discard(self, client_id: str) -> None:  # extends SendingMixin.discard
        task = self._uploads.pop(client_id, None)
        if task is not None:
            task.cancel()
        self.transfers.drop(upload_key(client_id))
        super().discard(client_id)  # type: ignore[misc]

    def _echo_for(self, entry: OutboxEntry, image: bytes | None) -> Message:
        """Extends SendingMixin._echo_for: a file entry's echo is a file bubble."""
        msg: Message = super()._echo_for(entry, image)  # type: ignore[misc]
        if entry.is_file:
            msg.kind = "file"
            msg.file = FileInfo(id="", name=entry.file_name, size=entry.file_size,
                                mime=entry.file_mime)
        return msg

    async def _send_entry(self, entry: OutboxEntry) -> None:
        """Extends SendingMixin._send_entry: a file is uploaded first (in its own task,
        so the messages queued after it need not wait), then sent with its upload id."""
        if entry.is_file and entry.upload_id is None:
            self._start_upload(entry)
            return
        await super()._send_entry(entry)  # type: ignore[misc]
        if entry.is_file and self.outbox.get(entry.client_id) is None:
            self.transfers.drop(upload_key(entry.client_id))

    def _start_upload(self, entry: OutboxEntry) -> None:
        running = self._uploads.get(entry.client_id)
        if running is not None and not running.done():
            return
        self._uploads[entry.client_id] = self._spawn(self._upload(entry.client_id))

    async def _upload(self, client_id: str) -> None:
        entry = self.outbox.get(client_id)
        if entry is None:
            return
        key = upload_key(client_id)
        backoff = 1.0
        try:
            for attempt in range(1, MAX_UPLOAD_ATTEMPTS + 1):
                try:
                    async with self._upload_slots:  # the card says "waiting" meanwhile
                        upload = await self._post_file(entry, key)
                    break
                except _Refused as exc:
                    self._fail_upload(entry, exc.code, exc.message)
                    return
                except (_Transient, aiohttp.ClientError, OSError, TimeoutError) as exc:
                    reason = str(exc) or type(exc).__name__
                    if not self._ready:  # offline: the flush after the reconnect resumes it
                        self.transfers.finish(key, PAUSED, "Waiting for the connection…")
                        logger.info("upload %s waits for the connection: %s", client_id, reason)
                        return
                    if attempt == MAX_UPLOAD_ATTEMPTS:
                        self._fail_upload(entry, UPLOAD_FAILED,
                                          f"The upload of {entry.file_name} failed ({reason}).")
                        return
                    logger.info("upload %s will be retried in %.0fs: %s", client_id, backoff,
                                reason)
                    self.transfers.progress(key, 0)
                    await asyncio.sleep(backoff)
                    backoff *= 2
            else:  # pragma: no cover - the loop always breaks or returns
                return
        finally:
            if self._uploads.get(client_id) is asyncio.current_task():
                del self._uploads[client_id]
        if self.outbox.get(client_id) is None:
            return  # discarded while the bytes went up (the server drops unused uploads)
        logger.info("uploaded %s (%d bytes) as %s", client_id, entry.file_size, upload.get("id"))
        self.outbox.set_upload(client_id, str(upload["id"]))
        self._flush_wake.set()

    def _fail_upload(self, entry: OutboxEntry, code: str, sentence: str) -> None:
        self.transfers.finish(upload_key(entry.client_id), FAILED, sentence)
        self._fail(entry, code, sentence)  # type: ignore[attr-defined]

    async def _post_file(self, entry: OutboxEntry, key: str) -> dict[str, Any]:
        """Stream the entry's file to ``POST /api/media``; the answer's ``upload``."""
        assert entry.file_path is not None
        path = Path(entry.file_path)
        if entry.file_owned:
            await asyncio.to_thread(outbox_module.flush)  # pasted bytes: on disk first
        try:
            size = (await asyncio.to_thread(path.stat)).st_size
            fh: IO[bytes] = await asyncio.to_thread(path.open, "rb")
        except OSError as exc:
            raise _Refused(MISSING_FILE, f"{entry.file_name} can no longer be read "
                                         f"({exc.strerror or exc}).") from exc
        try:
            limit = self.max_file_bytes
            if size > limit:
                raise _Refused(ErrorCode.TOO_LARGE,
                               too_large_sentence(entry.file_name, size, limit))
            self.transfers.put(Transfer(key, total=size))
            headers = {"Authorization": f"Bearer {self.token}",
                       "Content-Type": "application/octet-stream",
                       "Content-Length": str(size)}
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=HTTP_CONNECT_TIMEOUT_S,
                                            sock_read=HTTP_READ_TIMEOUT_S)
            async with aiohttp.ClientSession(timeout=timeout) as http, http.post(
                f"{self._url}/api/media", params={"name": entry.file_name},
                data=self._chunks(fh, size, key, entry.file_name), headers=headers,
            ) as resp:
                body = await _json_body(resp)
                if resp.status == 201 and isinstance(body.get("upload"), dict):
                    return dict(body["upload"])
                code, message = _error_of(body, resp.status)
                if resp.status in (401, 429) or resp.status >= 500:
                    raise _Transient(message)
                if code == ErrorCode.TOO_LARGE:
                    message = too_large_sentence(entry.file_name, size, self.max_file_bytes)
                raise _Refused(code, message)
        finally:
            await asyncio.to_thread(fh.close)

    async def _chunks(self, fh: IO[bytes], size: int, key: str,
                      name: str) -> AsyncIterator[bytes]:
        """The file, a chunk at a time, read on a worker thread; exactly ``size`` bytes."""
        sent = 0
        while sent < size:
            data = await asyncio.to_thread(fh.read, min(FILE_CHUNK, size - sent))
            if not data:
                raise _Refused(MISSING_FILE, f"{name} changed while it was uploading.")
            sent += len(data)
            yield data
            self.transfers.progress(key, sent)

    # ------------------------------------------------------------------ downloads
    def saved_path(self, file_id: str, check: bool = True) -> Path | None:
        """Where a finished download of ``file_id`` is, if it is still there (``check``
        False: as recorded, without asking the disk, which painting must not do)."""
        found = self._saved.get(file_id)
        if found and (not check or os.path.exists(found)):
            return Path(found)
        return None

    def part_path(self, file_id: str) -> Path:
        """The partial download of ``file_id`` (resumed from with Range)."""
        return self.downloads_dir / f"{_SAFE_ID.sub('_', file_id)}.part"

    def download_file(self, info: FileInfo, then_open: bool = False) -> bool:
        """Start (or resume) downloading a posted file; False if it is running already."""
        if not info.id:
            return False
        running = self._downloads.get(info.id)
        if running is not None and not running.done():
            item = self.transfers.get(download_key(info.id))
            if item is not None and then_open:
                item.then_open = True
            return False
        self._downloads[info.id] = self._spawn(self._download(info, then_open))
        return True

    def cancel_download(self, file_id: str) -> bool:
        """Stop a download; its part file stays, so it resumes from there."""
        task = self._downloads.pop(file_id, None)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def discard_download(self, file_id: str) -> None:
        """Give up a stopped download: its part file and its state go (Download again
        starts from zero)."""
        self.cancel_download(file_id)
        with contextlib.suppress(OSError):
            self.part_path(file_id).unlink(missing_ok=True)
        self.transfers.drop(download_key(file_id))

    async def _download(self, info: FileInfo, then_open: bool) -> None:
        key = download_key(info.id)
        part = self.part_path(info.id)
        await asyncio.to_thread(ensure_private_dir, self.downloads_dir)
        have = await asyncio.to_thread(_size_of, part)
        if have > info.size:
            await asyncio.to_thread(part.unlink, True)
            have = 0
        item = self.transfers.put(Transfer(key, total=info.size, done=have,
                                           then_open=then_open))
        try:
            if have < info.size or info.size == 0:
                await self._fetch_into(info, part, have, item)
            size = await asyncio.to_thread(_size_of, part)
            if size != info.size:
                raise _Transient(f"{human_size(size)} of {human_size(info.size)} arrived")
            target = await asyncio.to_thread(self._move_into_place, part, info.name)
        except asyncio.CancelledError:
            done = await asyncio.shield(asyncio.to_thread(_size_of, part))
            self.transfers.progress(key, done)
            self.transfers.finish(key, PAUSED, f"Paused at {human_size(done)} of "
                                               f"{human_size(info.size)}.")
            raise
        except _Refused as exc:
            await asyncio.to_thread(part.unlink, True)
            self.transfers.finish(key, FAILED, exc.message)
            return
        except (_Transient, aiohttp.ClientError, OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            done = await asyncio.to_thread(_size_of, part)
            self.transfers.progress(key, done)
            self.transfers.finish(key, PAUSED,
                                  f"The download stopped ({reason}); Resume goes on from "
                                  f"{human_size(done)}.")
            logger.info("download of %s stopped at %d bytes: %s", info.id, done, reason)
            return
        finally:
            if self._downloads.get(info.id) is asyncio.current_task():
                del self._downloads[info.id]
        self._saved[info.id] = str(target)
        await asyncio.to_thread(self._save_saved, dict(self._saved))
        self.transfers.finish(key, DONE, path=str(target))
        logger.info("downloaded %s (%d bytes)", info.id, info.size)
        self.fileSaved.emit(info.id, str(target))

    async def _fetch_into(self, info: FileInfo, part: Path, have: int, item: Transfer) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        if have:
            headers["Range"] = f"bytes={have}-"
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=HTTP_CONNECT_TIMEOUT_S,
                                        sock_read=HTTP_READ_TIMEOUT_S)
        url = f"{self._url}/media/{quote(info.id, safe='')}"
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(
            url, headers=headers
        ) as resp:
            if resp.status == 416 and have:  # what we hold is not a prefix: start over
                await asyncio.to_thread(part.unlink, True)
                raise _Transient("the partial file did not match the file on the server")
            if resp.status == 404:
                raise _Refused(ErrorCode.NOT_FOUND, "This file is no longer on the server.")
            if resp.status == 206:
                match = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", ""))
                if match is None or int(match.group(1)) != have:
                    raise _Transient("the server resumed at the wrong place")
                item.resumed_from = have
                append = True
            elif resp.status == 200:
                append, have = False, 0
                item.resumed_from = 0
            else:
                _code, message = _error_of(await _json_body(resp), resp.status)
                raise _Transient(message)
            fh: IO[bytes] = await asyncio.to_thread(part.open, "ab" if append else "wb")
            try:
                done = have
                async for chunk in resp.content.iter_chunked(FILE_CHUNK):
                    await asyncio.to_thread(fh.write, chunk)
                    done += len(chunk)
                    if done > info.size:
                        raise _Refused(ErrorCode.BAD_REQUEST,
                                       "The server sent more than the file's size.")
                    self.transfers.progress(item.key, done)
            finally:
                await asyncio.shield(asyncio.to_thread(fh.close))

    def _move_into_place(self, part: Path, name: str) -> Path:
        """(worker thread) The finished part file under a free, cleaned name."""
        folder = self.save_dir or default_save_dir()
        folder.mkdir(parents=True, exist_ok=True)
        target = unique_path(folder, clean_filename(name))
        try:
            os.link(part, target)  # fails if the name was taken meanwhile: never overwrite
            part.unlink()
        except OSError:
            target = unique_path(folder, clean_filename(name))
            shutil.move(str(part), str(target))
        return target

    # ------------------------------------------------------------------ forgetting
    def _forget_media(self, media_ids: list[str]) -> None:
        """Extends ConversationMixin._forget_media: a deleted message's file leaves this
        client too (a running download stops, the partial file and the record go). A copy
        the user saved into their own folder is theirs and stays."""
        super()._forget_media(media_ids)  # type: ignore[misc]
        changed = False
        for media_id in media_ids:
            self.cancel_download(media_id)
            with contextlib.suppress(OSError):
                self.part_path(media_id).unlink(missing_ok=True)
            self.transfers.drop(download_key(media_id))
            changed = self._saved.pop(media_id, None) is not None or changed
        if changed:
            self._spawn(asyncio.to_thread(self._save_saved, dict(self._saved)))

    def _forget_state(self) -> None:
        super()._forget_state()
        self.transfers.clear()

    # ------------------------------------------------------------------ saved index
    def _index_path(self) -> Path:
        return self.downloads_dir / "index.json"

    def _load_saved(self) -> dict[str, str]:
        try:
            raw = json.loads(self._index_path().read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("ignoring an unreadable downloads index: %s", exc)
            return {}
        saved = raw.get("saved") if isinstance(raw, dict) else None
        if not isinstance(saved, dict):
            return {}
        return {str(k): str(v) for k, v in saved.items() if isinstance(v, str)}

    def _save_saved(self, saved: dict[str, str]) -> None:
        """(worker thread) The finished downloads, atomically."""
        ensure_private_dir(self.downloads_dir)
        outbox_module._atomic_write(  # noqa: SLF001 - one atomic writer for the client
            self._index_path(), json.dumps({"version": 1, "saved": saved}).encode("utf-8"))


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def _json_body(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        body = await resp.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return {}
    return body if isinstance(body, dict) else {}


def _error_of(body: dict[str, Any], status: int) -> tuple[str, str]:
    err = body.get("error")
    if isinstance(err, dict):
        return (str(err.get("code") or ErrorCode.INTERNAL),
                str(err.get("message") or f"the server answered {status}"))
    return ErrorCode.INTERNAL, f"the server answered {status}"


__all__ = ["DONE", "FAILED", "PAUSED", "RUNNING", "SOCKET_IMAGE_BYTES", "FileRefused",
           "FilesMixin", "default_save_dir", "too_large_sentence"]
