"""The PostgreSQL backend: one database shared by every node of a cluster, through asyncpg.

``PostgresStorage`` is assembled from one store per concern over a shared engine
(``engine``: the pool and transactions; ``schema``/``schema_search``: tables and
migrations; ``rows``: message rows -> records), mirroring the SQLite package. A store holds
SQL only; the rules of the protocol live in ``server.handlers``. Import this package only
when a database URL is configured: it is the one place that imports asyncpg.
"""

from __future__ import annotations

from server.storage.postgres.accounts import AccountStore
from server.storage.postgres.admin import AdminStore
from server.storage.postgres.engine import PoolStats
from server.storage.postgres.messages import MessageStore
from server.storage.postgres.receipts import ReceiptStore
from server.storage.postgres.relations import RelationStore
from server.storage.postgres.rooms import RoomStore
from server.storage.postgres.schema import migrate, schema_version
from server.storage.postgres.search import SearchStore
from server.storage.postgres.uploads import UploadStore


class PostgresStorage(
    AccountStore,
    RoomStore,
    MessageStore,
    RelationStore,
    ReceiptStore,
    SearchStore,
    UploadStore,
    AdminStore,
):
    """The cluster backend (see the package docstring)."""


def is_database_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


__all__ = ["PoolStats", "PostgresStorage", "is_database_url", "migrate", "schema_version"]
