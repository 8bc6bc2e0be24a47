"""``admin users …`` and ``admin tokens revoke``: accounts, passwords and sessions.

Passwords come from a prompt (asked twice) or the first line of stdin, never from argv,
where every user of the machine could read them in the process list. Each change that
must end sessions commits an account event with it; running servers act on it within
about a second (see ``server.storage.base_admin``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from server import auth
from server.admin.commands import AdminError, Target, open_storage
from server.protocol import GENERAL_ROOM, PASSWORD_MAX, PASSWORD_MIN, is_valid_username
from server.storage.base import Storage, User
from server.storage.base_admin import UserInfo


def _now() -> int:
    return time.time_ns() // 1_000_000


def _when(ms: int | None) -> str:
    if not ms:
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(ms: int | None) -> str | None:
    return None if not ms else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _check_name(name: str) -> None:
    if not is_valid_username(name):
        raise AdminError(f"{name!r} is not a username (1 to 32 of A-Z a-z 0-9 _ . -).")


async def _live_user(storage: Storage, name: str) -> UserInfo:
    """The account, which must exist and not be deleted."""
    _check_name(name)
    info = await storage.user_info(name, _now())
    if info is None:
        raise AdminError(f"There is no user {name}.")
    if info.state == "deleted":
        raise AdminError(f"The account {info.name} was deleted.")
    return info


def read_password(args: argparse.Namespace) -> str:
    """The new password, from stdin's first line or a prompt asked twice."""
    if args.password_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    else:
        if not sys.stdin.isatty():
            raise AdminError(
                "No terminal to ask for a password on; pipe it in with --password-stdin."
            )
        password = getpass.getpass("New password: ")
        if getpass.getpass("The same again: ") != password:
            raise AdminError("The two passwords differ; nothing changed.")
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise AdminError(f"A password is {PASSWORD_MIN} to {PASSWORD_MAX} characters.")
    return password


# -- users list ---------------------------------------------------------------------------------


def _user_json(info: UserInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "state": info.state,
        "disabled": info.state != "active",
        "created": _iso(info.created_ms),
        "last_seen": _iso(info.last_seen_ms),
        "sessions": info.tokens,
    }


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


async def list_users(args: argparse.Namespace, target: Target) -> int:
    async with open_storage(target) as storage:
        infos = await storage.list_users(_now())
    if args.json:
        print(json.dumps([_user_json(i) for i in infos], indent=2, ensure_ascii=False))
        return 0
    rows = [["NAME", "STATE", "CREATED", "LAST SEEN", "SESSIONS"]]
    rows += [
        [i.name, i.state, _when(i.created_ms), _when(i.last_seen_ms), str(i.tokens)] for i in infos
    ]
    print(_table(rows))
    return 0


# -- users add / passwd -------------------------------------------------------------------------


async def add_user(args: argparse.Namespace, target: Target) -> int:
    name: str = args.name
    _check_name(name)
    async with open_storage(target) as storage:
        existing = await storage.user_info(name, _now())
        if existing is not None:
            if existing.state == "deleted":
                raise AdminError(
                    f"The name {existing.name} belonged to a deleted account; it stays reserved."
                )
            raise AdminError(f"The name {existing.name} is taken.")
        if await storage.similar_user_exists(name):
            raise AdminError(f"The name {name} is too much like an existing user's; pick another.")
        password = read_password(args)  # asked once the name is known to be free
        user = await storage.create_user(name, await auth.hash_password(password), _now())
        if user is None:
            raise AdminError(f"The name {name} was taken just now.")
        await _join_general(storage, user)
    print(f"Created user {user.name}; they are a member of {GENERAL_ROOM}.")
    return 0


async def _join_general(storage: Storage, user: User) -> None:
    """Join general as registration does, without its "joined" message (see
    ``AdminStorage.add_to_room_quietly``); before any server ran, create the room."""
    if not await storage.add_to_room_quietly(GENERAL_ROOM, user.id, _now()):
        if await storage.get_room(GENERAL_ROOM) is None:
            await storage.create_room(GENERAL_ROOM, "public", "", None, [user.id])


async def set_password(args: argparse.Namespace, target: Target) -> int:
    async with open_storage(target) as storage:
        info = await _live_user(storage, args.name)
        password = read_password(args)
        ended = await storage.reset_password(info.id, await auth.hash_password(password), _now())
    print(f"Changed the password of {info.name}; revoked {ended} session token(s).")
    return 0


# -- disable / enable / delete / tokens revoke --------------------------------------------------


async def disable_user(args: argparse.Namespace, target: Target) -> int:
    async with open_storage(target) as storage:
        info = await _live_user(storage, args.name)
        changed = await storage.set_disabled(info.id, True, _now())
    if changed:
        print(f"Disabled {info.name}: sign-ins and tokens are refused, live sessions end.")
    else:
        print(f"{info.name} was disabled already.")
    return 0


async def enable_user(args: argparse.Namespace, target: Target) -> int:
    async with open_storage(target) as storage:
        info = await _live_user(storage, args.name)
        changed = await storage.set_disabled(info.id, False, _now())
    print(f"Enabled {info.name}." if changed else f"{info.name} was not disabled.")
    return 0


async def revoke_tokens(args: argparse.Namespace, target: Target) -> int:
    async with open_storage(target) as storage:
        info = await _live_user(storage, args.name)
        ended = await storage.revoke_tokens(info.id, _now())
    print(f"Revoked {ended} session token(s) of {info.name}; live sessions end.")
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise AdminError("Refusing to delete without a terminal to confirm on; add --yes.")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


async def delete_user(args: argparse.Namespace, target: Target) -> int:
    async with open_storage(target) as storage:
        info = await _live_user(storage, args.name)
        heir: User | None = None
        if args.transfer_rooms_to is not None:
            _check_name(args.transfer_rooms_to)
            heir = await storage.get_user(args.transfer_rooms_to)
            if heir is None:
                raise AdminError(f"There is no user {args.transfer_rooms_to}.")
            if heir.id == info.id:
                raise AdminError("The rooms cannot go to the account being deleted.")
        if not args.yes and not _confirm(
            f"Delete the account {info.name}? Its messages stay, under its name, which "
            "nobody can register again."
        ):
            print("Nothing deleted.")
            return 1
        done = await storage.delete_account(info.id, heir.id if heir else None, _now())
    owner = f"now owned by {heir.name}" if heir else "left without an owner"
    print(
        f"Deleted {info.name}: left {done.rooms_left} room(s), {done.rooms_transferred} "
        f"owned room(s) {owner}, revoked {done.tokens} session token(s). "
        "Its messages stay; the name stays reserved."
    )
    return 0
