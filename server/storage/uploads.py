"""The bytes of uploaded files, on disk under ``<data dir>/files/``.

An upload is streamed to a temporary file in ``files/.tmp/``, fsynced, and only then renamed
to ``files/<id>`` (an atomic rename on the same file system). A crash mid-upload therefore
leaves at most a temporary file, which :meth:`FileStore.open` deletes at the next start; a
half file is never served. Ids are random hex made here, so no client input is ever part
of a path. Files are readable by the server's user only.

Every blocking call runs in a worker thread; the event loop only counts bytes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

_ID_RE = re.compile(r"[0-9a-f]{32}")
# bytes gathered before one write in a worker thread: few thread hops, bounded memory
_WRITE_BATCH = 1024 * 1024
# the first bytes are kept in memory to sniff the type from
SNIFF_BYTES = 64 * 1024


class TooLarge(Exception):
    """The body passed the byte limit; nothing was kept."""


def is_upload_id(value: object) -> bool:
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


class FileStore:
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

    async def read(self, upload_id: str) -> bytes:
        return await self._io(self.path(upload_id).read_bytes)


class IncomingFile:
    """One upload being received: ``write`` chunks, then ``commit`` or ``abort``."""

    def __init__(self, store: FileStore, max_bytes: int) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.size = 0
        self.head = bytearray()
        self._buffer = bytearray()
        self._tmp = store.tmp / f"{secrets.token_hex(16)}.part"
        self._fd: int | None = None

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise TooLarge
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
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
        upload_id = secrets.token_hex(16)
        await self.store._io(lambda: self._commit_sync(upload_id))
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

    def _abort_sync(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._tmp.unlink(missing_ok=True)
