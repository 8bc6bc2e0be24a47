"""Colours derived from the system palette, so light and dark themes both work.

Only the accent is a fixed colour; everything else is mixed from palette roles.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette

ACCENT = QColor("#3d7be0")
DANGER = QColor("#d9534f")
ONLINE = QColor("#2fb361")


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved ``t`` (0..1) of the way towards ``b``."""
    return QColor.fromRgbF(
        a.redF() + (b.redF() - a.redF()) * t,
        a.greenF() + (b.greenF() - a.greenF()) * t,
        a.blueF() + (b.blueF() - a.blueF()) * t,
        1.0,
    )


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightnessF() < 0.5


def text(palette: QPalette) -> QColor:
    return palette.color(QPalette.ColorRole.Text)


def muted(palette: QPalette) -> QColor:
    """Secondary text: timestamps, system lines, hints."""
    return mix(palette.color(QPalette.ColorRole.Text), palette.color(QPalette.ColorRole.Base), 0.45)


def subtle_border(palette: QPalette) -> QColor:
    return mix(palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.Text), 0.12)


def other_bubble(palette: QPalette) -> QColor:
    """Background of messages from other people."""
    base = palette.color(QPalette.ColorRole.Base)
    return mix(base, palette.color(QPalette.ColorRole.Text), 0.10 if is_dark(palette) else 0.055)


def own_bubble(palette: QPalette) -> QColor:
    """Background of the user's own messages: a light tint of the accent."""
    return mix(palette.color(QPalette.ColorRole.Base), ACCENT, 0.30 if is_dark(palette) else 0.16)


def link(palette: QPalette) -> QColor:
    return QColor("#7aa7ff") if is_dark(palette) else QColor("#1f5fcc")


def sidebar_background(palette: QPalette) -> QColor:
    window = palette.color(QPalette.ColorRole.Window)
    return mix(window, palette.color(QPalette.ColorRole.Text), 0.04)


def selection(palette: QPalette) -> QColor:
    return mix(
        palette.color(QPalette.ColorRole.Base), ACCENT, 0.22 if not is_dark(palette) else 0.35
    )


def name_colour(name: str, palette: QPalette) -> QColor:
    """A stable colour per user name, readable on both light and dark bases."""
    hue = (sum(ord(c) * 31 for c in name) * 37) % 360
    return QColor.fromHsl(hue, 150, 150 if is_dark(palette) else 95)
