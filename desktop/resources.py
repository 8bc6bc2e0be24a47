"""Finds Parley's resource files and turns its SVG glyphs into theme-coloured icons.

Resources are plain files under ``resources/`` at the repository root. They are found in a
PyInstaller bundle (``build.spec`` copies them to ``sys._MEIPASS/resources``), beside the
packages in a checkout or an editable install, and under ``<prefix>/share/parley`` when a
wheel installed them as data files. Monochrome glyphs are drawn with
``currentColor``; :func:`icon` substitutes a real colour (by default the palette's text
colour) before rendering, so one SVG is legible in light and dark themes. Icons are cached
per colour, so a UI that follows a palette change just calls :func:`icon` again.
"""

from __future__ import annotations

import atexit
import logging
import site
import sys
from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

logger = logging.getLogger(__name__)

#: Every glyph in ``resources/icons`` by name (file name without ``.svg``).
ICON_NAMES: tuple[str, ...] = (
    "status-pending",
    "status-sent",
    "status-delivered",
    "status-read",
    "status-failed",
    "attach",
    "send",
    "add",
    "members",
    "search",
    "close",
    "browse",
    "dm",
    "jump-down",
)
#: PNG renderings of the app icon, ``resources/icons/parley-<size>.png``.
APP_ICON_SIZES: tuple[int, ...] = (16, 24, 32, 48, 64, 128, 256, 512)
#: Pixel sizes pre-rendered into each glyph QIcon; Qt scales down from the nearest larger one.
_GLYPH_SIZES: tuple[int, ...] = (16, 24, 32, 48, 64, 128)
_CURRENT_COLOR = "currentColor"


def _candidate_roots() -> list[Path]:
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        return [Path(bundle) / "resources"]
    roots = [Path(__file__).resolve().parents[1] / "resources"]
    # A wheel's data files land in <prefix>/share/parley: the venv, or ~/.local for --user.
    prefixes = [sys.prefix, sys.base_prefix, site.getuserbase()]
    roots += [Path(prefix) / "share" / "parley" for prefix in dict.fromkeys(prefixes)]
    return roots


def resources_root() -> Path:
    """The resources directory: in a PyInstaller bundle, beside the packages, or installed."""
    roots = _candidate_roots()
    for root in roots:
        if (root / "icons").is_dir():
            return root
    return roots[0]


def resource_path(rel: str | Path) -> Path:
    """Absolute path of ``rel`` inside ``resources/`` (``"icons/send.svg"``)."""
    return resources_root() / rel


def svg_text(name: str) -> str:
    """The SVG source of glyph ``name`` (``"send"``), still with ``currentColor`` in it."""
    return _read_svg(name)


@cache
def _read_svg(name: str) -> str:
    return resource_path(f"icons/{name}.svg").read_text(encoding="utf-8")


def default_icon_color() -> QColor:
    """The application palette's text colour, the colour glyphs take when none is given."""
    return QGuiApplication.palette().color(QPalette.ColorGroup.Active, QPalette.ColorRole.Text)


def render_svg(svg: str | bytes, size: QSize | int) -> QPixmap:
    """Render SVG data into a transparent ``size`` pixmap, keeping its aspect ratio."""
    if isinstance(size, int):
        size = QSize(size, size)
    data = svg.encode("utf-8") if isinstance(svg, str) else svg
    renderer = QSvgRenderer(QByteArray(data))
    pixmap = QPixmap(size)
    pixmap.fill(Qt.GlobalColor.transparent)
    if not renderer.isValid():
        logger.warning("Invalid SVG data (%d bytes)", len(data))
        return pixmap
    renderer.setAspectRatioMode(Qt.AspectRatioMode.KeepAspectRatio)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size.width(), size.height()))
    painter.end()
    return pixmap


def _coloured(svg: str, color: QColor) -> str:
    return svg.replace(_CURRENT_COLOR, color.name(QColor.NameFormat.HexRgb))


def _render_glyph(svg: str, size: int, color: QColor) -> QPixmap:
    opaque = render_svg(_coloured(svg, color), size)
    if color.alpha() == 255:
        return opaque
    # SVG opacity applies per stroke, so crossings would come out darker; fade the whole
    # rendered glyph instead.
    faded = QPixmap(opaque.size())
    faded.fill(Qt.GlobalColor.transparent)
    painter = QPainter(faded)
    painter.setOpacity(color.alphaF())
    painter.drawPixmap(0, 0, opaque)
    painter.end()
    return faded


def icon_pixmap(name: str, size: int, color: QColor | None = None) -> QPixmap:
    """Glyph ``name`` rendered at ``size`` pixels in ``color`` (default: palette text)."""
    return _render_glyph(_read_svg(name), size, color or default_icon_color())


def icon(name: str, color: QColor | None = None) -> QIcon:
    """Glyph ``name`` as a QIcon in ``color`` (default: the palette's text colour).

    Glyphs with fixed colours (``status-read``, ``status-failed``) ignore ``color``.
    The disabled mode uses the palette's disabled text colour.
    """
    normal = QColor(color) if color is not None else default_icon_color()
    disabled = QGuiApplication.palette().color(
        QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text
    )
    return QIcon(_cached_icon(name, normal.rgba(), disabled.rgba()))


@cache
def _cached_icon(name: str, normal_rgba: int, disabled_rgba: int) -> QIcon:
    svg = _read_svg(name)
    result = QIcon()
    for mode, rgba in ((QIcon.Mode.Normal, normal_rgba), (QIcon.Mode.Disabled, disabled_rgba)):
        for px in _GLYPH_SIZES:
            result.addPixmap(_render_glyph(svg, px, QColor.fromRgba(rgba)), mode)
    return result


# Pixmaps must die before the QGuiApplication does; PySide6 destroys it from its own atexit
# hook, registered before ours, so ours runs first.
atexit.register(_cached_icon.cache_clear)


def app_icon() -> QIcon:
    """The Parley application icon with every PNG size (for the window and the taskbar)."""
    result = QIcon()
    for px in APP_ICON_SIZES:
        path = resource_path(f"icons/parley-{px}.png")
        if path.is_file():
            result.addFile(str(path), QSize(px, px))
    if result.isNull():
        logger.warning("App icon PNGs missing under %s; falling back to the SVG", resources_root())
        result.addPixmap(render_svg(resource_path("icons/parley.svg").read_bytes(), 256))
    return result
