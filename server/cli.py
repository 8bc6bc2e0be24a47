"""``parley-server`` / ``python -m server``: flags, PARLEY_* environment variables, signals."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from server import __version__, logsafe
from server.config import ServerConfig, default_data_dir

logger = logging.getLogger(__name__)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _admin(argv: Sequence[str]) -> int:
    from server.admin import main as admin_main

    return admin_main(argv)


def _migrate(args: Sequence[str]) -> int:
    from server import migrate

    return migrate.main(list(args))


# ``parley-server NAME …`` runs a tool instead of the server: NAME -> (entry point, summary).
# Each tool parses its own arguments; the server's flags stay the top level's.
SUBCOMMANDS: dict[str, tuple[Callable[[Sequence[str]], int], str]] = {
    "admin": (_admin, "manage accounts, back up, export (parley-server admin --help)"),
    "migrate": (
        _migrate,
        "copy a single server's data into PostgreSQL (parley-server migrate --help)",
    ),
}


def parse_rate_limit(text: str) -> tuple[int, float]:
    """``N/SECONDS`` (e.g. ``20/10``) or ``0`` for no limit."""
    text = text.strip()
    if text == "0":
        return 0, 10.0
    count, sep, window = text.partition("/")
    try:
        n, s = int(count), float(window)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N/SECONDS or 0, got {text!r}") from None
    if not sep or n < 0 or s <= 0:
        raise argparse.ArgumentTypeError(f"expected N/SECONDS or 0, got {text!r}")
    return n, s


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0 to 65535 (0 picks a free one)")
    return value


def _network(text: str) -> str:
    """An address or CIDR network, normalised (``10.0.0.0/8``); argparse reports a bad one."""
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address or network: {text!r}") from None


def _redis_url(text: str) -> str:
    text = text.strip()
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise argparse.ArgumentTypeError(f"expected a redis:// URL, got {text!r}")
    return text


def _database_url(text: str) -> str:
    text = text.strip()
    if not text.startswith(("postgresql://", "postgres://")):
        raise argparse.ArgumentTypeError("expected a postgresql://... URL")
    return text


def build_parser(env: dict[str, str] | os._Environ[str] = os.environ) -> argparse.ArgumentParser:
    origins = [o.strip() for o in env.get("PARLEY_CORS_ORIGINS", "").split(",") if o.strip()]
    operators = [o.strip() for o in env.get("PARLEY_OPERATORS", "").split(",") if o.strip()]
    parser = argparse.ArgumentParser(
        prog="parley-server",
        description="Run the Parley chat server (Socket.IO protocol v1 and an HTTP API on one port).",
        epilog="Every option can also be set with the PARLEY_* environment variable named in its "
        "help; a flag on the command line wins over the variable. Tools: "
        + "; ".join(f"'parley-server {name}' to {summary}" for name, (_, summary) in SUBCOMMANDS.items())
        + ".",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--host",
        default=env.get("PARLEY_HOST", "127.0.0.1"),
        help="address to listen on; 0.0.0.0 for every interface (PARLEY_HOST, default 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=env.get("PARLEY_PORT", "8765"),
        help="TCP port; 0 picks a free one (PARLEY_PORT, default 8765)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=env.get("PARLEY_DATA_DIR", str(default_data_dir())),
        help="directory for the SQLite database (PARLEY_DATA_DIR, default %(default)s)",
    )
    parser.add_argument(
        "--database",
        type=_database_url,
        default=env.get("PARLEY_DATABASE_URL") or None,
        metavar="URL",
        help="store everything in this PostgreSQL database (postgresql://user@host/db), so "
        "several servers can share it; default: the SQLite file in the data directory "
        "(PARLEY_DATABASE_URL)",
    )
    parser.add_argument(
        "--rate-limit",
        type=parse_rate_limit,
        default=env.get("PARLEY_RATE_LIMIT", "20/10"),
        help="messages per user as N/SECONDS, or 0 to switch the limit off "
        "(PARLEY_RATE_LIMIT, default 20/10)",
    )
    parser.add_argument(
        "--registration",
        choices=("open", "closed"),
        default=env.get("PARLEY_REGISTRATION", "open"),
        help="open: logging in with an unknown name registers it; closed: only existing users "
        "(PARLEY_REGISTRATION, default open)",
    )
    parser.add_argument(
        "--max-image-mb",
        type=_positive_float,
        default=env.get("PARLEY_MAX_IMAGE_MB", "10"),
        help="largest accepted image in MiB (PARLEY_MAX_IMAGE_MB, default 10)",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        default=None,
        metavar="ORIGIN",
        help="allow browser pages from ORIGIN (e.g. https://chat.example.com) to connect; "
        "repeat for more, '*' allows any. Default: no cross-origin browser connections "
        "(PARLEY_CORS_ORIGINS, comma-separated)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=env.get("PARLEY_LOG_LEVEL", "INFO").upper(),
        help="logging verbosity (PARLEY_LOG_LEVEL, default INFO)",
    )
    parser.add_argument(
        "--operator",
        action="append",
        dest="operators",
        default=None,
        metavar="USER",
        help="USER may broadcast a notice to every connection with POST /api/notice; repeat "
        "for more. USER must be an account when the server starts (a name registered later "
        "is not an operator) (PARLEY_OPERATORS, comma-separated; default: nobody)",
    )
    # -- hostile-client limits (issue 8) --------------------------------------------------
    proxies = [p.strip() for p in env.get("PARLEY_TRUSTED_PROXIES", "").split(",") if p.strip()]
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        dest="trusted_proxies",
        type=_network,
        default=None,
        metavar="ADDRESS",
        help="a reverse proxy (address or CIDR network) whose X-Forwarded-For names the real "
        "client for per-address limits; repeat for more. Default: none, the TCP peer counts "
        "(PARLEY_TRUSTED_PROXIES, comma-separated)",
    )
    parser.add_argument(
        "--registrations-per-hour",
        type=_non_negative_int,
        default=env.get("PARLEY_REGISTRATIONS_PER_HOUR", "30"),
        help="new accounts per client address per hour, 0 for no limit "
        "(PARLEY_REGISTRATIONS_PER_HOUR, default 30)",
    )
    parser.add_argument(
        "--logins-per-minute",
        type=_non_negative_int,
        default=env.get("PARLEY_LOGINS_PER_MINUTE", "60"),
        help="sign-ins and registrations (right or wrong) per client address per minute, "
        "0 for no limit, e.g. for a load test whose clients share one address "
        "(PARLEY_LOGINS_PER_MINUTE, default 60)",
    )
    parser.add_argument(
        "--rooms-per-hour",
        type=_non_negative_int,
        default=env.get("PARLEY_ROOMS_PER_HOUR", "20"),
        help="rooms one user may create per hour, 0 for no limit "
        "(PARLEY_ROOMS_PER_HOUR, default 20)",
    )
    parser.set_defaults(
        env_cors_origins=origins, env_operators=operators, env_trusted_proxies=proxies
    )
    limits = parser.add_argument_group("connection limits")
    limits.add_argument(
        "--auth-timeout",
        type=_positive_float,
        default=env.get("PARLEY_AUTH_TIMEOUT", "10"),
        metavar="SECONDS",
        help="a connection must sign in within this or is closed (PARLEY_AUTH_TIMEOUT, "
        "default 10)",
    )
    limits.add_argument(
        "--max-unauthenticated-per-ip",
        type=_non_negative_int,
        default=env.get("PARLEY_MAX_UNAUTHENTICATED_PER_IP", "32"),
        metavar="N",
        help="connections not signed in yet, per client address; 0 = no cap "
        "(PARLEY_MAX_UNAUTHENTICATED_PER_IP, default 32)",
    )
    limits.add_argument(
        "--max-unauthenticated",
        type=_non_negative_int,
        default=env.get("PARLEY_MAX_UNAUTHENTICATED", "512"),
        metavar="N",
        help="connections not signed in yet, in all; 0 = no cap "
        "(PARLEY_MAX_UNAUTHENTICATED, default 512)",
    )
    limits.add_argument(
        "--max-connections-per-ip",
        type=_non_negative_int,
        default=env.get("PARLEY_MAX_CONNECTIONS_PER_IP", "0"),
        metavar="N",
        help="open TCP connections per client address, cut before a byte is read; 0 = no cap, "
        "the right setting behind a reverse proxy (PARLEY_MAX_CONNECTIONS_PER_IP, default 0)",
    )
    limits.add_argument(
        "--header-timeout",
        type=_positive_float,
        default=env.get("PARLEY_HEADER_TIMEOUT", "10"),
        metavar="SECONDS",
        help="an HTTP request's headers must arrive within this (PARLEY_HEADER_TIMEOUT, "
        "default 10)",
    )
    limits.add_argument(
        "--body-timeout",
        type=_positive_float,
        default=env.get("PARLEY_BODY_TIMEOUT", "60"),
        metavar="SECONDS",
        help="an HTTP request's body must arrive within this (PARLEY_BODY_TIMEOUT, default 60)",
    )
    limits.add_argument(
        "--max-requests-in-flight",
        type=_non_negative_int,
        default=env.get("PARLEY_MAX_REQUESTS_IN_FLIGHT", "8"),
        metavar="N",
        help="Socket.IO requests one connection may have running at once; 0 = no cap "
        "(PARLEY_MAX_REQUESTS_IN_FLIGHT, default 8)",
    )
    cluster = parser.add_argument_group("cluster (several nodes behind a load balancer)")
    cluster.add_argument(
        "--redis",
        type=_redis_url,
        default=env.get("PARLEY_REDIS_URL") or None,
        metavar="URL",
        help="redis://HOST:PORT/DB: run as one node of a cluster that shares this Redis for "
        "events, presence and limits. Default: a single process, no Redis (PARLEY_REDIS_URL)",
    )
    cluster.add_argument(
        "--redis-prefix",
        default=env.get("PARLEY_REDIS_PREFIX", "parley:"),
        metavar="PREFIX",
        help="prefix of every Redis key and channel; one per cluster sharing a Redis "
        "(PARLEY_REDIS_PREFIX, default parley:)",
    )
    cluster.add_argument(
        "--node-ttl",
        type=_positive_float,
        default=env.get("PARLEY_NODE_TTL", "10"),
        metavar="SECONDS",
        help="a node that stops refreshing its heartbeat for this long is taken for dead and "
        "its users go offline on the others; it refreshes every quarter of it "
        "(PARLEY_NODE_TTL, default 10)",
    )
    parser.set_defaults(env_cors_origins=origins, env_operators=operators)
    return parser


def config_from_args(
    argv: Sequence[str] | None = None, env: dict[str, str] | None = None
) -> ServerConfig:
    parser = build_parser(os.environ if env is None else env)
    args = parser.parse_args(argv)
    # argparse applies `type` to string defaults, so env values are validated like flags
    messages, window = args.rate_limit
    return ServerConfig(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        database_url=args.database,
        rate_limit_messages=messages,
        rate_limit_window_s=window,
        registration_open=args.registration == "open",
        max_image_bytes=int(args.max_image_mb * 1024 * 1024),
        cors_origins=args.cors_origins if args.cors_origins is not None else args.env_cors_origins,
        log_level=args.log_level,
        operators=args.operators if args.operators is not None else args.env_operators,
        auth_timeout_s=args.auth_timeout,
        max_unauthenticated_per_ip=args.max_unauthenticated_per_ip,
        max_unauthenticated=args.max_unauthenticated,
        max_connections_per_ip=args.max_connections_per_ip,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        max_requests_in_flight=args.max_requests_in_flight,
        trusted_proxies=[
            _network(p)
            for p in (
                args.trusted_proxies
                if args.trusted_proxies is not None
                else args.env_trusted_proxies
            )
        ],
        registrations_per_ip_per_hour=args.registrations_per_hour,
        login_attempts_per_ip_per_minute=args.logins_per_minute,
        rooms_per_user_per_hour=args.rooms_per_hour,
        redis_url=args.redis,
        redis_prefix=args.redis_prefix,
        cluster_node_ttl_s=args.node_ttl,
        cluster_heartbeat_s=args.node_ttl / 4,
    )


async def serve(config: ServerConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # handlers first: a supervisor may signal as soon as it reads the listening line
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: fall back to KeyboardInterrupt
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    from server.app import start_server  # not loaded by the tools (``parley-server admin``)

    running = await start_server(config)
    print(f"Parley server listening on {running.url}", flush=True)
    try:
        await stop.wait()
    finally:
        logger.info("shutting down")
        await running.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        run, _ = SUBCOMMANDS[args[0]]
        return run(args[1:])
    config = config_from_args(args)
    # the database holds password hashes and private messages: nothing we create is for others
    os.umask(0o077)
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logsafe.install()  # a client's newline never starts a log line
    from server.transport_guard import raise_fd_limit

    limits = raise_fd_limit()
    if limits is not None and limits[1] != limits[0]:
        logger.info("open-files limit raised from %d to %d", limits[0], limits[1])
    try:
        try:
            import uvloop
        except ImportError:
            asyncio.run(serve(config))
        else:
            uvloop.run(serve(config))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"parley-server: {exc}", file=sys.stderr)
        return 1
    return 0
