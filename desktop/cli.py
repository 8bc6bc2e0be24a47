"""Command line of the ``parley`` desktop app.

``parley [--server URL --user NAME --password-file PATH] [--data-dir DIR]``,
``parley --self-test``, ``parley --version``, ``parley --help``. The password is read from
a file so it never appears in the process list or the shell history.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from desktop import __version__


@dataclass
class Options:
    server: str | None = None
    user: str | None = None
    password_file: Path | None = None
    data_dir: Path | None = None
    self_test: bool = False
    self_test_timeout: float = 90.0

    def read_password(self) -> str:
        """The first line of the password file, without its line ending."""
        if self.password_file is None:
            raise ValueError("no password file given")
        text = self.password_file.read_text("utf-8")
        return text.splitlines()[0] if text else ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parley",
        description=(
            "Parley desktop chat. With no server given it runs its own server on this "
            "computer; use --server to join another."
        ),
    )
    parser.add_argument("--version", action="version", version=f"parley {__version__}")
    parser.add_argument(
        "--server", metavar="URL", help="server to join, e.g. http://192.168.1.20:8765"
    )
    parser.add_argument("--user", metavar="NAME", help="username on that server")
    parser.add_argument(
        "--password-file", metavar="PATH", type=Path, help="file whose first line is the password"
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        type=Path,
        help="where settings, the outbox and a local server live",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="run an end-to-end check offscreen (embedded server + a second client) and exit",
    )
    parser.add_argument("--self-test-timeout", type=float, default=90.0, help=argparse.SUPPRESS)
    return parser


def parse_args(argv: list[str] | None) -> Options:
    """Parse ``argv``; exits (SystemExit) for --help, --version and usage errors."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.server and not (ns.user and ns.password_file):
        parser.error("--server needs --user and --password-file")
    if (ns.user or ns.password_file) and not ns.server:
        parser.error("--user and --password-file need --server")
    if ns.server and not ns.server.startswith(("http://", "https://")):
        parser.error("--server must be an http:// or https:// URL")
    return Options(
        server=ns.server.rstrip("/") if ns.server else None,
        user=ns.user,
        password_file=ns.password_file,
        data_dir=ns.data_dir,
        self_test=ns.self_test,
        self_test_timeout=ns.self_test_timeout,
    )
