"""Drafts: what the user was writing in each room, kept per room and across restarts.

A draft is the composer's text plus its pending images (with their captions). Before,
one composer state was shared by every room, so a half-written message and its images
followed the user into another room and got sent there.

On disk (``<data_dir>/drafts/``, a 0700 folder): one ``<key>.json`` per room with the text,
the room id and the attachments' names, types and captions, and one ``<key>-<n>.bin`` per
image (a file attached from disk is kept by its path, never copied). Every file is 0600 (drafts are private words). ``key`` is a hash of the draft's key
(the window uses server, user and room, so "general" elsewhere has its own draft), so
a server-chosen id never becomes a path. A broken file is logged and ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from desktop.ui.attachments import Attachment

logger = logging.getLogger(__name__)

DRAFTS_DIR = "drafts"
#: How many rooms may hold a draft on disk; the oldest beyond it are dropped.
MAX_DRAFTS = 200
#: Images kept in drafts, in bytes over all rooms; the oldest drafts go first beyond it.
MAX_DRAFT_BYTES = 128 * 1024 * 1024


@dataclass
class Draft:
    text: str = ""
    attachments: list[tuple[Attachment, str]] = field(default_factory=list)  # (image, caption)

    @property
    def empty(self) -> bool:
        return not self.text.strip() and not self.attachments


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 (atomically, via a temporary file)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class DraftStore:
    """Drafts per room, in memory and mirrored to ``<data_dir>/drafts``."""

    def __init__(self, data_dir: Path | None) -> None:
        self._drafts: dict[str, Draft] = {}
        self._dir = Path(data_dir) / DRAFTS_DIR if data_dir is not None else None
        self._loaded = False

    @staticmethod
    def _key(room: str) -> str:
        return hashlib.sha256(room.encode("utf-8")).hexdigest()[:32]

    def get(self, room: str) -> Draft:
        self._load()
        return self._drafts.get(room, Draft())

    def rooms(self) -> list[str]:
        self._load()
        return list(self._drafts)

    def set(self, room: str, draft: Draft) -> None:
        """Remember ``draft`` for ``room`` (an empty one deletes it) and write it to disk."""
        self._load()
        old = self._drafts.get(room)
        if draft.empty:
            if old is None:
                return
            self._drafts.pop(room, None)
        else:
            if old is not None and _same(old, draft):
                return
            self._drafts.pop(room, None)
            self._drafts[room] = draft  # newest last: trimming drops the oldest
        try:
            self._save(room, None if draft.empty else draft)
        except OSError as exc:
            logger.warning("could not save the draft: %s", exc.strerror or exc)

    # ----- disk
    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self._dir is None or not self._dir.is_dir():
            return
        for meta in sorted(self._dir.glob("*.json"), key=lambda p: p.stat().st_mtime):
            try:
                raw = json.loads(meta.read_text("utf-8"))
                room = str(raw["room"])
                items: list[tuple[Attachment, str]] = []
                for n, item in enumerate(raw.get("attachments") or []):
                    if item.get("path"):  # a file is kept by its path, not copied
                        att = Attachment(data=b"", name=str(item["name"]),
                                         mime=str(item["mime"]), path=Path(item["path"]),
                                         size=int(item.get("size") or 0))
                        items.append((att, str(item.get("caption") or "")))
                        continue
                    data = (self._dir / f"{meta.stem}-{n}.bin").read_bytes()
                    att = Attachment(data=data, name=str(item["name"]), mime=str(item["mime"]))
                    items.append((att, str(item.get("caption") or "")))
                self._drafts[room] = Draft(str(raw.get("text") or ""), items)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                logger.warning("ignoring an unreadable draft %s: %s", meta.name, exc)

    def _save(self, room: str, draft: Draft | None) -> None:
        if self._dir is None:
            return
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self._dir, 0o700)
        key = self._key(room)
        for old in self._dir.glob(f"{key}-*.bin"):
            with contextlib.suppress(OSError):
                old.unlink()
        meta = self._dir / f"{key}.json"
        if draft is None:
            with contextlib.suppress(FileNotFoundError):
                meta.unlink()
            return
        for n, (att, _caption) in enumerate(draft.attachments):
            if att.path is None:
                _write_private(self._dir / f"{key}-{n}.bin", att.data)
        body = {
            "room": room,
            "text": draft.text,
            "attachments": [
                {"name": att.name, "mime": att.mime, "caption": caption,
                 **({"path": str(att.path), "size": att.size} if att.path is not None else {})}
                for att, caption in draft.attachments
            ],
        }
        _write_private(meta, json.dumps(body).encode("utf-8"))
        self._trim()

    def _trim(self) -> None:
        """Keep at most MAX_DRAFTS drafts and MAX_DRAFT_BYTES of images (memory and disk
        stay bounded); the oldest drafts go first, the newest always stays."""

        def image_bytes() -> int:
            return sum(len(a.data) for d in self._drafts.values() for a, _c in d.attachments)

        while len(self._drafts) > 1 and (
            len(self._drafts) > MAX_DRAFTS or image_bytes() > MAX_DRAFT_BYTES
        ):
            room = next(iter(self._drafts))
            self._drafts.pop(room)
            self._save(room, None)


def _same(a: Draft, b: Draft) -> bool:
    if a.text != b.text or len(a.attachments) != len(b.attachments):
        return False
    return all(
        x[0].data is y[0].data and x[0].path == y[0].path and x[1] == y[1]
        for x, y in zip(a.attachments, b.attachments, strict=True)
    )
