"""``admin backup`` and ``admin export``: copies of a server's data, safe while it runs.

``backup`` (SQLite) uses SQLite's online-backup API in one step, which copies the whole
database inside one read transaction: a consistent snapshot, taken without stopping the
server's writers (WAL). The upload files that snapshot names are copied beside it, so DEST
is a data directory a server can start on. PostgreSQL keeps media in the database, so
``pg_dump`` is the whole backup; the command prints the recipe and refuses.

``export`` writes a room's messages, oldest first, one protocol Message object per line
(PROTOCOL.md section 5, in its v2 shape), as they are now: edited text with
``edited_ts``, tombstones with ``deleted: true``, reactions with who set them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import IO, Any

from server.admin.commands import AdminError, Target, open_storage
from server.storage.uploads import is_upload_id
from server.wire import message_to_wire

logger = logging.getLogger(__name__)

_EXPORT_PAGE = 500

PG_DUMP_RECIPE = """\
A PostgreSQL cluster is backed up with PostgreSQL's own tools; media are stored in the
database, so the dump is the whole backup. While the servers run:

    pg_dump --format=custom --file=parley-$(date +%Y%m%d-%H%M).dump "$PARLEY_DATABASE_URL"

Restore into an empty database, then start the servers on it:

    createdb parley_restored
    pg_restore --no-owner --dbname=postgresql://USER@HOST/parley_restored parley-….dump

For point-in-time recovery use continuous WAL archiving (see PostgreSQL's manual,
"Continuous Archiving and Point-in-Time Recovery")."""


# -- backup -------------------------------------------------------------------------------------


async def backup(args: argparse.Namespace, target: Target) -> int:
    if target.is_postgres:
        print(PG_DUMP_RECIPE, file=sys.stderr)
        raise AdminError(
            "backup copies a SQLite data directory; for PostgreSQL use pg_dump as above."
        )
    dest: Path = args.dest
    copied, missing, messages = backup_sqlite(target, dest)
    print(
        f"Backed up {messages} message(s) and {copied} file(s) to {dest}"
        + (f"; {missing} file(s) were deleted during the backup" if missing else "")
        + f". Start a server on it with --data-dir {dest}."
    )
    return 0


def backup_sqlite(target: Target, dest: Path) -> tuple[int, int, int]:
    """Copy the database and the files it names into ``dest``; (files copied, files gone
    meanwhile, messages)."""
    source = target.sqlite_path
    if not source.is_file():
        raise AdminError(f"There is no Parley database in {target.data_dir}.")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise AdminError(f"{dest} must be a new or empty directory.")
    if dest.resolve() == target.data_dir.resolve():
        raise AdminError("The backup cannot go into the data directory itself.")
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    copy = dest / source.name
    fd = os.open(copy, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(copy)) as dst:
        src.execute("PRAGMA busy_timeout=10000")
        src.backup(dst)  # pages=-1: the whole database in one step, one snapshot
        check = dst.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise AdminError(f"The copy failed its integrity check: {check}")
        upload_ids = [row[0] for row in dst.execute("SELECT id FROM uploads")]
        messages = int(dst.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
    copied, missing = _copy_files(target.data_dir / "files", dest / "files", upload_ids)
    return copied, missing, messages


def _copy_files(source: Path, dest: Path, upload_ids: list[str]) -> tuple[int, int]:
    """Copy the snapshot's upload files. A file is written before its row commits and
    erased only after its message's deletion commits, so the only ones missing are files
    whose message was deleted after the snapshot."""
    dest.mkdir(mode=0o700, exist_ok=True)
    copied = missing = 0
    for upload_id in upload_ids:
        if not is_upload_id(upload_id):
            continue
        try:
            shutil.copyfile(source / upload_id, dest / upload_id)
        except FileNotFoundError:
            missing += 1
            continue
        os.chmod(dest / upload_id, 0o600)
        copied += 1
    return copied, missing


# -- export -------------------------------------------------------------------------------------


def export_line(wire: dict[str, Any]) -> str:
    return json.dumps(wire, ensure_ascii=False, separators=(",", ":")) + "\n"


async def export_room(args: argparse.Namespace, target: Target) -> int:
    room_id: str = args.room
    async with open_storage(target) as storage:
        room = await storage.get_room(room_id)
        if room is None:
            raise AdminError(f"There is no room {room_id}.")
        out: IO[str]
        if args.output is None:
            out = sys.stdout
        else:
            fd = os.open(args.output, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
            out = open(fd, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        count = 0
        try:
            after = 0
            while True:
                page, has_more = await storage.history(room.id, None, after, _EXPORT_PAGE)
                for record in page:
                    # thumbnails are bytes; the image itself is referenced by its id
                    out.write(export_line(message_to_wire(record, thumb=False)))
                count += len(page)
                if not page or not has_more:
                    break
                after = page[-1].id
            out.flush()
        finally:
            if out is not sys.stdout:
                out.close()
    if args.output is not None:
        print(f"Exported {count} message(s) of {room.id} to {args.output}.", file=sys.stderr)
    return 0
