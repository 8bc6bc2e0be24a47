"""The SQLite backend: one file ``parley.sqlite3`` in the data directory, WAL mode.

``SQLiteStorage`` is assembled from one store per concern over a shared engine
(``engine``: threads, transactions, the room cache; ``schema``: tables and migrations;
``rows``: message rows -> records). A store holds SQL only; the rules of the protocol live
in ``server.handlers``.
"""

from __future__ import annotations

from server.storage.sqlite.accounts import AccountStore
from server.storage.sqlite.admin import AdminStore
from server.storage.sqlite.messages import MessageStore
from server.storage.sqlite.receipts import ReceiptStore
from server.storage.sqlite.relations import RelationStore
from server.storage.sqlite.rooms import RoomStore
from server.storage.sqlite.schema import schema_version
from server.storage.sqlite.search import SearchStore
from server.storage.sqlite.uploads import UploadStore


class SQLiteStorage(
    AccountStore,
    RoomStore,
    MessageStore,
    RelationStore,
    ReceiptStore,
    SearchStore,
    UploadStore,
    AdminStore,
):
    """The default backend (see the package docstring)."""


__all__ = ["SQLiteStorage", "schema_version"]
