"""A tiny callback registry the stores share, so listeners never need Qt."""

from __future__ import annotations

import logging
from collections.abc import Callable

from desktop.state.types import Change

logger = logging.getLogger(__name__)

Listener = Callable[[Change], None]


class Observable:
    """Holds listeners and calls each one with every change, in subscription order."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add ``listener``; returns a function that removes it again."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, change: Change) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:  # a broken view must not corrupt the store's caller
                logger.exception("store listener failed on %s", change.kind)
