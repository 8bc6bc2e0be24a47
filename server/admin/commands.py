"""The ``parley-server admin`` argument parser, the database it opens, and the dispatch.

Every command prints what it did on stdout (``--json`` where a script reads it) and a
one-line reason on stderr when it refuses; the exit status is 0 on success, 1 when the
command was refused (no such user, a name taken…), 2 for a usage error (argparse).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from server.config import default_data_dir
from server.storage.base import Storage

logger = logging.getLogger(__name__)

PROG = "parley-server admin"


class AdminError(Exception):
    """A refused command: its message is printed as is, and the exit status is 1."""


@dataclass(frozen=True)
class Target:
    """The database a command works on: a SQLite data directory or a PostgreSQL URL."""

    data_dir: Path
    database_url: str | None

    @property
    def is_postgres(self) -> bool:
        return self.database_url is not None

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "parley.sqlite3"

    def describe(self) -> str:
        if self.database_url is not None:
            return "the PostgreSQL database"
        return f"the SQLite database in {self.data_dir}"


@asynccontextmanager
async def open_storage(target: Target) -> AsyncIterator[Storage]:
    """Open the existing database (migrating its schema like a server start would)."""
    storage: Storage
    if target.database_url is not None:
        storage = _postgres_storage(target.database_url)
    else:
        if not target.sqlite_path.is_file():
            raise AdminError(
                f"There is no Parley database in {target.data_dir} "
                "(give the server's --data-dir, or --database for PostgreSQL)."
            )
        from server.storage.sqlite import SQLiteStorage

        storage = SQLiteStorage(target.sqlite_path)
    await storage.open()
    try:
        yield storage
    finally:
        await storage.close()


def _postgres_storage(url: str) -> Storage:
    try:
        from server.storage.postgres import PostgresStorage
    except ImportError as exc:
        raise AdminError(f"PostgreSQL is not available in this build ({exc}).") from None
    return PostgresStorage(url, max_size=2)


# -- the parser -------------------------------------------------------------------------------

Command = Callable[[argparse.Namespace, Target], Awaitable[int]]


def _database_options(parser: argparse.ArgumentParser, env: dict[str, str], top: bool) -> None:
    """--data-dir / --database, accepted before and after the subcommand.

    Below the top level they default to SUPPRESS, so they never overwrite a value given
    before the subcommand (argparse copies sub-parser defaults over the parent's).
    """
    group = parser.add_argument_group("database")
    group.add_argument(
        "--data-dir",
        type=Path,
        default=Path(env.get("PARLEY_DATA_DIR", str(default_data_dir())))
        if top
        else argparse.SUPPRESS,
        help="the server's SQLite data directory (PARLEY_DATA_DIR, default: the server's)",
    )
    group.add_argument(
        "--database",
        metavar="URL",
        default=(env.get("PARLEY_DATABASE_URL") or None) if top else argparse.SUPPRESS,
        help="a cluster's PostgreSQL database, postgresql://… (PARLEY_DATABASE_URL); "
        "when given, --data-dir is not used",
    )


def build_parser(env: dict[str, str] | os._Environ[str] = os.environ) -> argparse.ArgumentParser:
    from server.admin import data, users

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Manage a Parley server's accounts and data. Talks to the database only, "
        "so it works while servers run: a disabled user's sessions end on every node within "
        "about two seconds.",
    )
    env_dict = dict(env)
    _database_options(parser, env_dict, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def leaf(
        sub: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        run: Command,
        help_text: str,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _database_options(p, env_dict, top=False)
        p.set_defaults(run=run)
        return p

    users_parser = commands.add_parser("users", help="list, add, change and delete accounts")
    user_cmds = users_parser.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    p = leaf(user_cmds, "list", users.list_users, "list every account")
    p.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    p = leaf(user_cmds, "add", users.add_user, "create an account (it joins general)")
    p.add_argument("name", metavar="NAME")
    _password_option(p)
    p = leaf(
        user_cmds,
        "passwd",
        users.set_password,
        "set a user's password; ends all their sessions everywhere",
    )
    p.add_argument("name", metavar="NAME")
    _password_option(p)
    p = leaf(
        user_cmds,
        "disable",
        users.disable_user,
        "refuse a user's sign-ins and tokens; ends their sessions everywhere",
    )
    p.add_argument("name", metavar="NAME")
    p = leaf(user_cmds, "enable", users.enable_user, "let a disabled user back in")
    p.add_argument("name", metavar="NAME")
    p = leaf(
        user_cmds,
        "delete",
        users.delete_user,
        "delete an account; its messages stay, under its name, which stays reserved",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--transfer-rooms-to",
        metavar="USER",
        help="give the rooms NAME owns to USER (default: they keep no owner)",
    )
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    tokens_parser = commands.add_parser("tokens", help="end sessions")
    token_cmds = tokens_parser.add_subparsers(
        dest="tokens_command", metavar="ACTION", required=True
    )
    p = leaf(
        token_cmds,
        "revoke",
        users.revoke_tokens,
        "revoke every token of a user; their sessions end everywhere",
    )
    p.add_argument("name", metavar="NAME")

    p = leaf(
        commands,
        "backup",
        data.backup,
        "copy a running server's SQLite database and files into DEST (PostgreSQL: pg_dump)",
    )
    p.add_argument("dest", metavar="DEST", type=Path, help="a new or empty directory")
    p = leaf(
        commands,
        "export",
        data.export_room,
        "write a room's messages as JSON lines, oldest first, in their current state",
    )
    p.add_argument("room", metavar="ROOM")
    p.add_argument("--output", "-o", metavar="FILE", type=Path, help="default: stdout")
    return parser


def _password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of a prompt "
        "(a password is never taken from the command line)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one admin command; the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.umask(0o077)  # backups and exports hold private messages
    target = Target(args.data_dir, args.database)
    try:
        return asyncio.run(args.run(args, target))
    except AdminError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not _is_database_error(exc):
            raise
        print(f"{PROG}: cannot use {target.describe()}: {exc}", file=sys.stderr)
        return 1


def _is_database_error(exc: Exception) -> bool:
    """The database could not be reached or refused us (down, wrong URL, permissions)."""
    return isinstance(exc, (OSError, sqlite3.Error)) or type(exc).__module__.startswith(
        "asyncpg"
    )
