"""Colours derived from the system palette, so light and dark themes both work.

Only the accent is a fixed colour; everything else is mixed from palette roles.
"""

from __future__ import annotations

import zlib

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

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


def _luminance(c: QColor) -> float:
    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF())


def contrast_ratio(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio of two colours (1 to 21; 4.5 is readable body text)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


#: Avatar discs, Telegram-style: a few distinct hues, each dark enough for white initials
#: (contrast 4.8 or more) and light enough to stand out on a dark background.
AVATAR_COLOURS = (
    "#c0392b",  # red
    "#b35200",  # orange
    "#7b4bb3",  # violet
    "#2e7d32",  # green
    "#00796b",  # teal
    "#1e63c4",  # blue
    "#b0306b",  # pink
    "#8a6d00",  # amber
)


def avatar_colour(name: str, _palette: QPalette | None = None) -> QColor:
    """An avatar's disc for ``name``: the same in both themes, white initials readable."""
    index = zlib.crc32(name.lower().encode("utf-8")) % len(AVATAR_COLOURS)
    return QColor(AVATAR_COLOURS[index])


def initials_colour(background: QColor) -> QColor:
    """White or near-black, whichever reads better on ``background``."""
    white, ink = QColor("white"), QColor("#16181d")
    return white if contrast_ratio(background, white) >= contrast_ratio(background, ink) else ink


def tool_button_sheet(palette: QPalette) -> str:
    """Flat tool buttons with a hover fill and a visible focus ring (keyboard users must
    see where they are). Set on each button: a sheet on a parent would stop palettes set
    on its children from following theme changes."""
    return (
        " QToolButton { border: 2px solid transparent; border-radius: 7px; padding: 3px; }"
        f" QToolButton:hover {{ background: {other_bubble(palette).name()}; }}"
        f" QToolButton:checked {{ background: {selection(palette).name()}; }}"
        f" QToolButton:focus {{ border-color: {ACCENT.name()}; }}"
        " QToolButton::menu-indicator { image: none; width: 0px; }"
    )


# ----------------------------------------------------------------------------- theme choice
THEMES = ("system", "light", "dark")


def light_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#f3f4f6",
        QPalette.ColorRole.WindowText: "#1d2128",
        QPalette.ColorRole.Base: "#ffffff",
        QPalette.ColorRole.AlternateBase: "#f0f1f4",
        QPalette.ColorRole.Text: "#1d2128",
        QPalette.ColorRole.Button: "#eceef2",
        QPalette.ColorRole.ButtonText: "#1d2128",
        QPalette.ColorRole.ToolTipBase: "#ffffff",
        QPalette.ColorRole.ToolTipText: "#1d2128",
        QPalette.ColorRole.PlaceholderText: "#80868f",
        QPalette.ColorRole.Highlight: ACCENT.name(),
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#1f5fcc",
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#9aa0a8"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#9aa0a8"))
    return p


def dark_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#1f2227",
        QPalette.ColorRole.WindowText: "#e6e8eb",
        QPalette.ColorRole.Base: "#17191d",
        QPalette.ColorRole.AlternateBase: "#22252b",
        QPalette.ColorRole.Text: "#e6e8eb",
        QPalette.ColorRole.Button: "#2a2e35",
        QPalette.ColorRole.ButtonText: "#e6e8eb",
        QPalette.ColorRole.ToolTipBase: "#2a2e35",
        QPalette.ColorRole.ToolTipText: "#e6e8eb",
        QPalette.ColorRole.PlaceholderText: "#8a9099",
        QPalette.ColorRole.Highlight: ACCENT.name(),
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#7aa7ff",
        QPalette.ColorRole.BrightText: "#ffffff",
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6b7078"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#6b7078"))
    return p


_system_palette: QPalette | None = None


def apply_theme(app: QApplication, choice: str) -> None:
    """Set the application palette for ``choice`` ("system", "light" or "dark").

    The system palette is remembered the first time, so "system" can come back to it.
    Widgets follow through their ApplicationPaletteChange handlers.
    """
    global _system_palette
    if _system_palette is None:
        _system_palette = QPalette(app.palette())
    if choice == "dark":
        app.setPalette(dark_palette())
    elif choice == "light":
        app.setPalette(light_palette())
    else:
        app.setPalette(_system_palette)
