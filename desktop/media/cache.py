"""A least-recently-used cache of QPixmaps, bounded by an estimate of their memory.

Keys are strings such as ``"<image id>@thumb"``; the cost of an entry is its pixel count
times four bytes, so a few huge images cannot crowd out hundreds of thumbnails unnoticed.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from PySide6.QtGui import QPixmap

logger = logging.getLogger(__name__)

DEFAULT_BUDGET_BYTES = 96 * 1024 * 1024


def _cost(pixmap: QPixmap) -> int:
    return max(1, pixmap.width() * pixmap.height() * 4)


class PixmapCache:
    """LRU map from key to QPixmap; ``get`` refreshes an entry, ``put`` evicts the oldest."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self._budget = budget_bytes
        self._used = 0
        self._items: OrderedDict[str, QPixmap] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    @property
    def used_bytes(self) -> int:
        return self._used

    def get(self, key: str) -> QPixmap | None:
        pixmap = self._items.get(key)
        if pixmap is not None:
            self._items.move_to_end(key)
        return pixmap

    def put(self, key: str, pixmap: QPixmap) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._used -= _cost(old)
        self._items[key] = pixmap
        self._used += _cost(pixmap)
        while self._used > self._budget and len(self._items) > 1:
            evicted_key, evicted = self._items.popitem(last=False)
            self._used -= _cost(evicted)
            logger.debug("pixmap cache evicted %s", evicted_key)

    def drop_media(self, media_id: str) -> int:
        """Drop every pixmap of one image (keys ``<id>`` and ``<id>@...``): it was
        deleted. Returns how many went."""
        gone = [k for k in self._items if k == media_id or k.startswith(media_id + "@")]
        for key in gone:
            self._used -= _cost(self._items.pop(key))
        return len(gone)

    def clear(self) -> None:
        self._items.clear()
        self._used = 0
