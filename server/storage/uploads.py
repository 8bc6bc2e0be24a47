"""The bytes of uploaded files: the :class:`BlobStore` interface and its disk implementation.

Two stores implement it: :class:`FileStore` keeps each file under ``<data dir>/files/``
(a single-node server on SQLite), and ``server.storage.postgres.blobs.PgBlobStore`` keeps
them chunked in PostgreSQL, so any node of a cluster serves any file. :func:`blob_store_for`
picks the one that matches the storage backend.

Either way an upload is streamed in as it arrives (never whole in memory) and becomes
visible only when it is committed *and* its ``uploads`` row exists; what a crash mid-upload
leaves is swept, never served. On disk an upload is written to ``files/.tmp/``, fsynced,
then renamed to ``files/<id>`` (atomic on one file system); :meth:`FileStore.open` deletes
temporary files at the next start. Ids are random hex made here, so no client input is ever
part of a path. Files are readable by the server's user only.

Every blocking disk call runs in a worker thread; the event loop only counts bytes.
"""

from __future__ import annotations

import abc
import asyncio
import functools
import logging
import os
import re
import secrets
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from server.config import ServerConfig
    from server.storage.base_v2 import FileStorage

logger = logging.getLogger(__name__)

T = TypeVar("T")

_ID_RE = re.compile(r"[0-9a-f]{32}")
# bytes gathered before one write in a worker thread: few thread hops, bounded memory
_WRITE_BATCH = 1024 * 1024
# bytes read from disk per step of a streamed download
_READ_CHUNK = 256 * 1024
# the first bytes are kept in memory to sniff the type from
SNIFF_BYTES = 64 * 1024


class TooLarge(Exception):
    """The body passed the byte limit; nothing was kept."""


def is_upload_id(value: object) -> bool:
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def new_upload_id() -> str:
    return secrets.token_hex(16)


class IncomingBlob(abc.ABC):
    """One upload being received: ``write`` chunks, then ``commit`` (and, once the
    ``uploads`` row is stored, ``settled``) or ``abort``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.head = bytearray()

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise TooLarge
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        await self._write(chunk)

    @abc.abstractmethod
    async def _write(self, chunk: bytes) -> None: ...

    @abc.abstractmethod
    async def commit(self) -> str:
        """Make the bytes durable under a new id and return the id."""

    async def settled(self) -> None:
        """The ``uploads`` row is stored: the store may forget this upload was in progress."""
        return None

    @abc.abstractmethod
    async def abort(self) -> None:
        """Drop what was written (also after ``commit``, when storing the row failed)."""


class BlobStore(abc.ABC):
    """Where uploaded files' bytes live; see the module docstring."""

    async def open(self) -> None:
        """Get ready, and drop what a crash left that no node can still be writing."""
        return None

    async def close(self) -> None:
        """Release connections or handles."""
        return None

    @abc.abstractmethod
    def incoming(self, max_bytes: int) -> IncomingBlob: ...

    @abc.abstractmethod
    async def remove(self, upload_ids: list[str]) -> None:
        """Erase these files' bytes; ids already gone are fine (gone either way)."""

    @abc.abstractmethod
    async def stored_ids(self) -> set[str]:
        """Ids of every committed file whose bytes are stored."""

    @abc.abstractmethod
    async def sweep(self, storage: FileStorage, *, startup: bool) -> int:
        """Erase bytes no upload refers to and no upload in progress is writing; how many.

        Runs at start (``startup``) and with the periodic expiry of unused uploads."""

    @abc.abstractmethod
    async def read(self, upload_id: str) -> bytes:
        """A whole (small) file; FileNotFoundError when its bytes are gone."""

    @abc.abstractmethod
    def stream(self, upload_id: str, start: int, stop: int) -> AsyncGenerator[bytes, None]:
        """Bytes ``[start, stop)`` of a file, a piece at a time (FileNotFoundError when gone)."""

    def local_path(self, upload_id: str) -> Path | None:
        """A file on this machine's disk holding the bytes (served with sendfile), or None."""
        return None


class FileStore(BlobStore):
    """Files on disk under one folder: a single node's store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / ".tmp"

    async def _io(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    async def open(self) -> None:
        """Create the folders and delete temporary files a crash left behind."""
        await self._io(self._open_sync)

    def _open_sync(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.tmp.mkdir(exist_ok=True, mode=0o700)
        stray = 0
        for entry in self.tmp.iterdir():
            entry.unlink(missing_ok=True)
            stray += 1
        if stray:
            logger.info("deleted %d unfinished upload(s) left by an earlier run", stray)

    def path(self, upload_id: str) -> Path:
        if not is_upload_id(upload_id):
            raise ValueError("not an upload id")
        return self.root / upload_id

    def local_path(self, upload_id: str) -> Path | None:
        return self.path(upload_id)

    def incoming(self, max_bytes: int) -> IncomingFile:
        return IncomingFile(self, max_bytes)

    async def remove(self, upload_ids: list[str]) -> None:
        """Erase these files' bytes (a missing file is fine: it is gone either way)."""
        if upload_ids:
            await self._io(lambda: self._remove_sync(upload_ids))

    def _remove_sync(self, upload_ids: list[str]) -> None:
        for upload_id in upload_ids:
            if is_upload_id(upload_id):
                (self.root / upload_id).unlink(missing_ok=True)

    async def stored_ids(self) -> set[str]:
        return await self._io(lambda: {p.name for p in self.root.iterdir() if is_upload_id(p.name)})

    async def sweep(self, storage: FileStorage, *, startup: bool) -> int:
        # only at start: later, a file just renamed into place may not have its row yet
        # (one process owns this folder, so nothing else can be mid-upload then)
        if not startup:
            return 0
        known = await storage.upload_ids()
        stray = [i for i in await self.stored_ids() if i not in known]
        await self.remove(stray)
        return len(stray)

    async def read(self, upload_id: str) -> bytes:
        return await self._io(self.path(upload_id).read_bytes)

    async def stream(self, upload_id: str, start: int, stop: int) -> AsyncGenerator[bytes, None]:
        handle = await self._io(lambda: open(self.path(upload_id), "rb"))  # noqa: SIM115
        try:
            await self._io(lambda: handle.seek(start))
            left = stop - start
            while left > 0:
                piece = await self._io(functools.partial(handle.read, min(_READ_CHUNK, left)))
                if not piece:
                    raise FileNotFoundError(upload_id)  # shorter than its row says
                left -= len(piece)
                yield piece
        finally:
            await self._io(handle.close)


class IncomingFile(IncomingBlob):
    """An upload streamed to a temporary file of a :class:`FileStore`."""

    def __init__(self, store: FileStore, max_bytes: int) -> None:
        super().__init__(max_bytes)
        self.store = store
        self._buffer = bytearray()
        self._tmp = store.tmp / f"{secrets.token_hex(16)}.part"
        self._fd: int | None = None
        self._committed: str | None = None

    async def _write(self, chunk: bytes) -> None:
        self._buffer += chunk
        if len(self._buffer) >= _WRITE_BATCH:
            await self._flush()

    async def _flush(self) -> None:
        data, self._buffer = bytes(self._buffer), bytearray()
        await self.store._io(lambda: self._write_sync(data))

    def _write_sync(self, data: bytes) -> None:
        if self._fd is None:
            self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    async def commit(self) -> str:
        """Make the file durable under a new id and return the id."""
        await self._flush()
        upload_id = new_upload_id()
        await self.store._io(lambda: self._commit_sync(upload_id))
        self._committed = upload_id
        return upload_id

    def _commit_sync(self, upload_id: str) -> None:
        if self._fd is None:  # an empty body still makes an (empty) file
            self._write_sync(b"")
        assert self._fd is not None
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        os.rename(self._tmp, self.store.root / upload_id)
        dir_fd = os.open(self.store.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)

    async def abort(self) -> None:
        self._buffer = bytearray()
        await self.store._io(self._abort_sync)
        if self._committed is not None:
            await self.store.remove([self._committed])

    def _abort_sync(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._tmp.unlink(missing_ok=True)


def files_dir(config: ServerConfig) -> Path:
    return config.data_dir / "files"


def blob_store_for(config: ServerConfig) -> BlobStore:
    """The store matching the storage backend: PostgreSQL's ``upload_chunks`` table when
    the server runs on a database URL (a cluster node), else files in the data dir."""
    url = config.database_url
    if url and url.startswith(("postgres://", "postgresql://")):
        from server.storage.postgres.blobs import PgBlobStore

        return PgBlobStore(url)
    return FileStore(files_dir(config))
