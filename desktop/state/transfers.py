"""File transfers the client runs: uploads of own files and downloads of posted ones.

Plain state for the file bubble to paint (progress, what went wrong, where a download was
saved); the network concern (``desktop.net.files``) is the only writer. Keys are
``up:<client_id>`` for an upload and ``down:<file id>`` for a download. Listeners get the
key of what changed (``Observable`` style, but keyed: a progress tick is one small call).

Finished downloads are remembered on disk (``<data_dir>/downloads/index.json``) by the
network concern, so Open and Show in folder still work after a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

RUNNING = "running"
PAUSED = "paused"  # a download stopped part way (cancelled or cut off): it can resume
FAILED = "failed"
DONE = "done"


def upload_key(client_id: str) -> str:
    return f"up:{client_id}"


def download_key(file_id: str) -> str:
    return f"down:{file_id}"


@dataclass
class Transfer:
    """One upload or download. ``done``/``total`` in bytes; ``error`` is a sentence."""

    key: str
    total: int
    done: int = 0
    state: str = RUNNING
    error: str = ""
    path: str = ""  # a download's saved file (when DONE)
    resumed_from: int = 0  # a download that went on from a partial file: where (Range)
    then_open: bool = False  # a download started by "Open": open it once saved

    @property
    def fraction(self) -> float:
        if self.total <= 0:
            return 0.0
        return max(0.0, min(1.0, self.done / self.total))

    @property
    def active(self) -> bool:
        return self.state == RUNNING


class TransferStore:
    """Transfers by key; ``subscribe(listener)`` gets each changed key."""

    def __init__(self) -> None:
        self._items: dict[str, Transfer] = {}
        self._listeners: list[Callable[[str], None]] = []

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def get(self, key: str) -> Transfer | None:
        return self._items.get(key)

    def keys(self) -> list[str]:
        return list(self._items)

    def put(self, transfer: Transfer) -> Transfer:
        self._items[transfer.key] = transfer
        self._changed(transfer.key)
        return transfer

    def progress(self, key: str, done: int) -> None:
        item = self._items.get(key)  # a finished or stopped one keeps its last count
        if item is not None and item.state == RUNNING and item.done != done:
            item.done = done
            self._changed(key)

    def finish(self, key: str, state: str, error: str = "", path: str = "") -> None:
        item = self._items.get(key)
        if item is None:
            return
        item.state = state
        item.error = error
        if path:
            item.path = path
        if state == DONE:
            item.done = item.total
        self._changed(key)

    def drop(self, key: str) -> None:
        if self._items.pop(key, None) is not None:
            self._changed(key)

    def clear(self) -> None:
        keys = list(self._items)
        self._items.clear()
        for key in keys:
            self._changed(key)

    def _changed(self, key: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(key)
            except Exception:  # a broken view must not break a transfer
                logger.exception("transfer listener failed for %s", key)
