"""Image handling for the desktop app: sniffing, off-thread decoding and a pixmap cache.

Nothing here is a widget; the delegate and the image viewer use it to get pixmaps without
ever decoding on the GUI thread.
"""

from __future__ import annotations

from desktop.media.cache import PixmapCache
from desktop.media.decoder import ImageDecoder
from desktop.media.sniff import sniff_image_mime

__all__ = ["ImageDecoder", "PixmapCache", "sniff_image_mime"]
