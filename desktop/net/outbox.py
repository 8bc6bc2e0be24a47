"""Outbox: sends not yet acked, kept on disk so they survive a crash or restart.

The index is one JSON file written atomically (temp file + rename + fsync); image bytes
sit in files next to it. The writes (and their fsyncs) run in order on one background
writer thread, so a send never blocks the GUI thread on the disk; ``flush()`` waits for
them, and ``load()`` flushes first so a new Outbox on the same folder sees every write. An entry leaves only when the server acks it ok; a non-retryable error
marks it failed (kept until the user retries or discards). Resending always reuses the
entry's ``client_id``, and the server is idempotent on it, so every message lands once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from desktop.secrets import ensure_private_dir
from server.protocol import ErrorCode

logger = logging.getLogger(__name__)

# Error acks worth retrying later; anything else is the payload's fault and marks it failed.
RETRYABLE_CODES = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.INTERNAL, "timeout"})

_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")

# One writer for every Outbox in the process: writes land in the order they were made.
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-outbox")


def _in_background(job: Callable[[], None]) -> None:
    def run() -> None:
        try:
            job()
        except OSError:
            logger.exception("outbox write failed")

    _WRITER.submit(run)


def flush() -> None:
    """Block until every outbox write made so far is on disk."""
    _WRITER.submit(lambda: None).result()


def is_retryable(code: str) -> bool:
    return code in RETRYABLE_CODES


@dataclass
class OutboxEntry:
    client_id: str
    room: str
    username: str  # whose message this is: another account on this machine must not send it
    ts: int  # local creation time, ms
    text: str = ""
    image_name: str | None = None
    image_file: str | None = None  # file name inside the outbox dir
    failed: bool = False
    error: str | None = None
    attempts: int = 0
    error_code: str | None = None  # the refusal's protocol code (decides if Retry helps)
    drops: int = 0  # connections lost while this one was in flight
    # protocol v2: what the entry does ("send" a message, or "edit", "delete", "react"
    # an existing one), which message (its id, or the client_id of an own message not
    # acked yet when the change was made), and the reply target of a send
    op: str = "send"
    target_id: int | None = None
    target_client_id: str | None = None
    reply_to: int | None = None
    emoji: str | None = None
    on: bool = True
    # protocol v2 files (section 17): a file message uploads ``file_path`` first (see
    # desktop.net.files); ``upload_id`` is set once the server stored the bytes, and only
    # then is the entry sent. ``file_owned``: the outbox made that file (pasted bytes) and
    # deletes it with the entry.
    file_path: str | None = None
    file_name: str = ""
    file_size: int = 0
    file_mime: str = ""
    upload_id: str | None = None
    file_owned: bool = False

    @property
    def is_file(self) -> bool:
        return self.file_path is not None


class Outbox:
    """Ordered pending sends for one data dir (``<data_dir>/outbox/``)."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "outbox"
        self.path = self.dir / "outbox.json"
        self._entries: list[OutboxEntry] = []
        # bytes of images added in this process, until their entry leaves (no re-read)
        self._images: dict[str, bytes] = {}
        self.load()

    # ----- reading
    def entries(self, username: str | None = None) -> list[OutboxEntry]:
        """All entries in creation order (only ``username``'s if given)."""
        if username is None:
            return list(self._entries)
        return [e for e in self._entries if e.username.lower() == username.lower()]

    def sendable(self, username: str) -> list[OutboxEntry]:
        """The user's entries to send now, in order: every one not marked failed."""
        return [e for e in self.entries(username) if not e.failed]

    def messages(self, username: str | None = None) -> list[OutboxEntry]:
        """Only the new messages (no edits, deletes or reactions), in order."""
        return [e for e in self.entries(username) if e.op == "send"]

    def get(self, client_id: str) -> OutboxEntry | None:
        for entry in self._entries:
            if entry.client_id == client_id:
                return entry
        return None

    def image_bytes(self, entry: OutboxEntry) -> bytes | None:
        if entry.image_file is None:
            return None
        if entry.client_id in self._images:
            return self._images[entry.client_id]
        try:
            return (self.dir / entry.image_file).read_bytes()
        except OSError:
            logger.warning("outbox image for %s is missing", entry.client_id)
            return None

    def __len__(self) -> int:
        return len(self._entries)

    # ----- writing
    def add(self, entry: OutboxEntry, image: bytes | None = None) -> None:
        if self.get(entry.client_id) is not None:
            raise ValueError(f"duplicate client_id {entry.client_id}")
        ensure_private_dir(self.dir)
        if image is not None:
            entry.image_file = _SAFE_ID.sub("_", entry.client_id) + ".bin"
            self._images[entry.client_id] = image
            target = self.dir / entry.image_file
            _in_background(lambda: _atomic_write(target, image))
        self._entries.append(entry)
        self.save()

    def remove(self, client_id: str) -> OutboxEntry | None:
        entry = self.get(client_id)
        if entry is None:
            return None
        self._entries.remove(entry)
        self._images.pop(client_id, None)
        self.save()
        if entry.image_file:
            _in_background((self.dir / entry.image_file).unlink)
        if entry.file_owned and entry.file_path:
            owned = Path(entry.file_path)
            _in_background(lambda: owned.unlink(missing_ok=True))
        return entry

    def add_file_bytes(self, client_id: str, data: bytes) -> Path:
        """Keep pasted bytes that go up as a file next to the index (written by the
        writer thread: ``flush()`` before reading them back)."""
        ensure_private_dir(self.dir)
        target = self.dir / (_SAFE_ID.sub("_", client_id) + ".file")
        _in_background(lambda: _atomic_write(target, data))
        return target

    def set_upload(self, client_id: str, upload_id: str | None) -> None:
        """The server holds the file's bytes as ``upload_id`` (None: upload it again)."""
        entry = self.get(client_id)
        if entry is not None:
            entry.upload_id = upload_id
            self.save()

    def mark_failed(self, client_id: str, error: str, code: str | None = None) -> None:
        entry = self.get(client_id)
        if entry is not None:
            entry.failed = True
            entry.error = error
            entry.error_code = code
            self.save()

    def mark_retry(self, client_id: str) -> OutboxEntry | None:
        entry = self.get(client_id)
        if entry is not None:
            entry.failed = False
            entry.error = None
            entry.error_code = None
            entry.attempts = 0
            entry.drops = 0
            self.save()
        return entry

    def note_drop(self, client_id: str) -> None:
        entry = self.get(client_id)
        if entry is not None:
            entry.drops += 1

    def note_attempt(self, client_id: str) -> None:
        entry = self.get(client_id)
        if entry is not None:
            entry.attempts += 1

    # ----- disk
    def load(self) -> None:
        flush()
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            self._entries = []
            return
        except (OSError, ValueError):
            # keep the bad file for inspection instead of overwriting it on the next save
            aside = self.path.with_suffix(f".corrupt-{int(time.time())}")
            logger.error("outbox file %s is unreadable; moved to %s", self.path, aside.name)
            try:
                os.replace(self.path, aside)
            except OSError:
                pass
            self._entries = []
            return
        entries: list[OutboxEntry] = []
        for item in raw.get("entries", []):
            try:
                entries.append(OutboxEntry(**item))
            except TypeError:
                logger.warning("skipping a malformed outbox entry")
        self._entries = entries

    def save(self) -> None:
        """Snapshot the index now; the writer thread puts it on disk (in order)."""
        ensure_private_dir(self.dir)
        data = {"version": 1, "entries": [asdict(e) for e in self._entries]}
        encoded = json.dumps(data, ensure_ascii=False).encode("utf-8")
        path = self.path
        _in_background(lambda: _atomic_write(path, encoded))

    def flush(self) -> None:
        """Block until this outbox's writes so far are on disk."""
        flush()


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same dir, fsync, then rename over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
