"""ServerConfig: every knob of the server in one dataclass (CLI flags and PARLEY_* map onto it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_data_dir

from server import protocol


def default_data_dir() -> Path:
    """Where a standalone server keeps its database unless told otherwise."""
    return Path(user_data_dir("Parley", appauthor=False)) / "server"


@dataclass
class ServerConfig:
    """Settings for one server instance; the defaults are the protocol's defaults."""

    host: str = "127.0.0.1"
    port: int = 8765
    data_dir: Path = field(default_factory=default_data_dir)
    # postgresql://... : store everything in that PostgreSQL database (a cluster node);
    # None: the SQLite file in data_dir, as a single server and the desktop's embedded one
    database_url: str | None = None
    database_pool_size: int = 10  # pooled PostgreSQL connections per node, at most
    rate_limit_messages: int = protocol.RATE_LIMIT_MESSAGES  # 0 switches the limit off
    rate_limit_window_s: float = protocol.RATE_LIMIT_WINDOW_S
    registration_open: bool = True
    max_image_bytes: int = protocol.MAX_IMAGE_BYTES
    max_file_bytes: int = protocol.MAX_FILE_BYTES
    # an upload no message used within this many seconds is deleted (section 17)
    upload_ttl_s: float = protocol.UPLOAD_TTL_S
    max_text_chars: int = protocol.MAX_TEXT_CHARS
    history_limit: int = protocol.HISTORY_LIMIT
    cors_origins: list[str] = field(default_factory=list)
    log_level: str = "INFO"
    server_name: str = "Parley"
    token_ttl_days: int = protocol.TOKEN_TTL_DAYS
    max_connections_per_user: int = protocol.MAX_CONNECTIONS_PER_USER
    max_failed_logins_per_minute: int = protocol.MAX_FAILED_LOGINS_PER_MINUTE
    # bytes queued for one connection before it counts as not reading and is disconnected
    # (raised to at least the largest reply, a full history page: see server.ws_writer)
    outbound_budget_bytes: int = 8 * 1024 * 1024
    # usernames (any case) allowed to broadcast operator notices via POST /api/notice
    operators: list[str] = field(default_factory=list)
    # -- transport limits (server.transport_guard / server.sio_guard) ---------------------------
    # request bodies of the JSON API (everything but /socket.io/, which takes images)
    max_json_body_bytes: int = 64 * 1024
    # bytes an engine.io connection may send before its Socket.IO session is up
    pre_session_bytes: int = 64 * 1024
    # an engine.io connection must finish its Socket.IO CONNECT within this or is closed
    auth_timeout_s: float = 10.0
    # engine.io connections without a session, per client address and in all (0: no cap)
    max_unauthenticated_per_ip: int = 32
    max_unauthenticated: int = 512
    # open TCP connections per peer address, cut before parsing (0: no cap; behind a reverse
    # proxy every connection comes from the proxy, so leave it off there)
    max_connections_per_ip: int = 0
    # a request's headers must arrive within this; its body within body_timeout_s
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    # an idle keep-alive HTTP connection is closed after this
    keepalive_timeout_s: float = 15.0
    # Socket.IO requests one connection may have in flight; more are answered rate_limited
    max_requests_in_flight: int = 8
    # packets per long-polling response (python-socketio's client drops more than 16)
    max_polling_packets: int = 16
    # -- hostile-client limits (issue 8: accounts, media, limits) ---------------------------
    # peers whose X-Forwarded-For is believed (addresses or networks, e.g. 10.0.0.0/8)
    trusted_proxies: list[str] = field(default_factory=list)
    login_attempts_per_ip_per_minute: int = 60  # logins and registrations, right or wrong
    registrations_per_ip_per_hour: int = 30
    # password hashes waiting for the two argon2 threads; past that, rate_limited at once
    max_pending_password_hashes: int = 16
    rooms_per_user_per_hour: int = 20
    # rooms:list shows every joined room but only this many public rooms the user is not in
    max_listed_public_rooms: int = 200
    # room changes (create, join, leave, invite, topic, DM) per user per window (0: no limit)
    room_actions_limit: int = 30
    room_actions_window_s: float = 10.0
    # concurrent image decodes (worker threads) and how many may wait for one
    image_decode_workers: int = 2
    image_decode_queue: int = 4
    # pixels decoded per user per minute (two 40 MP images; 0: no limit)
    image_pixels_per_user_per_minute: int = 80_000_000
    max_thumb_bytes: int = 64 * 1024
    # how often expired tokens are deleted
    token_purge_interval_s: float = 3600.0
    # -- cluster (issue 12): a node of several sharing one database and this Redis -----------
    # redis://host:port/db; None is the single process (nothing imports redis then)
    redis_url: str | None = None
    # every key and the bus channel start with this (several clusters on one Redis)
    redis_prefix: str = "parley:"
    # a node refreshes its heartbeat key this often; another node that finds the key gone
    # (no refresh for cluster_node_ttl_s) announces the dead node's users offline, so they go
    # offline within ttl + heartbeat seconds of a crash
    cluster_heartbeat_s: float = 2.5
    cluster_node_ttl_s: float = 10.0
    # how often the database is asked for new account events (``parley-server admin``
    # disabling a user or revoking tokens): their sessions end within about this
    account_event_poll_s: float = 1.0

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.operators = [name.lower() for name in self.operators]

    @property
    def database_path(self) -> Path:
        return self.data_dir / "parley.sqlite3"
