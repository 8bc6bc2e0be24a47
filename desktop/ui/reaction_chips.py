"""Reaction chips under a message bubble: geometry, painting and hit testing, no widgets.

Each distinct emoji is one chip "👍 2", in the server's order, wrapping onto more lines
inside the bubble's column. A chip the user reacted with is tinted with the accent.
Clicking a chip toggles the user's own reaction (the timeline asks the client); hovering
names who reacted.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPalette, QPen

from desktop.ui import theme

CHIP_GAP = 4
CHIP_PAD_X = 8
CHIP_TOP = 3


@dataclass(frozen=True)
class Chip:
    rect: QRect
    emoji: str
    users: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.emoji} {len(self.users)}"


def layout_chips(
    reactions: tuple[tuple[str, tuple[str, ...]], ...],
    fm: QFontMetrics,
    left: int,
    right: int,
    top: int,
    own: bool,
) -> tuple[list[Chip], int]:
    """The chips between x ``left`` and ``right`` from ``top`` (right-aligned for own
    messages), and the y just below them."""
    h = fm.height() + 6
    avail = max(40, right - left)
    rows: list[list[tuple[int, str, tuple[str, ...]]]] = [[]]
    used = 0
    for emoji, users in reactions:
        w = fm.horizontalAdvance(f"{emoji} {len(users)}") + 2 * CHIP_PAD_X
        if rows[-1] and used + CHIP_GAP + w > avail:
            rows.append([])
            used = 0
        used += (CHIP_GAP if rows[-1] else 0) + w
        rows[-1].append((w, emoji, users))
    chips: list[Chip] = []
    y = top + CHIP_TOP
    for row in rows:
        total = sum(w for w, _e, _u in row) + CHIP_GAP * (len(row) - 1)
        x = right - total if own else left
        for w, emoji, users in row:
            chips.append(Chip(QRect(x, y, w, h), emoji, users))
            x += w + CHIP_GAP
        y += h + CHIP_GAP
    return chips, y - CHIP_GAP


QUICK_CELL = 30


def quick_bar(bubble: QRect, own: bool, quick: tuple[str, ...]) -> list[tuple[QRect, str]]:
    """The hover bar's cells: a row of the quick emoji floating on the bubble's top edge,
    mostly above it (as in Slack), at the corner toward the middle of the window."""
    w = QUICK_CELL * len(quick) + 8
    x = bubble.left() if own else bubble.right() - w
    x = max(0, x)
    y = bubble.top() - QUICK_CELL + 10
    return [(QRect(x + 4 + i * QUICK_CELL, y, QUICK_CELL, QUICK_CELL - 4), e)
            for i, e in enumerate(quick)]


def paint_quick_bar(p: QPainter, cells: list[tuple[QRect, str]], palette: QPalette,
                    font: QFont, hovered: str | None) -> None:
    if not cells:
        return
    outer = QRectF(cells[0][0].united(cells[-1][0])).adjusted(-4, -2, 4, 2)
    base = palette.color(QPalette.ColorRole.Base)
    ink = theme.text(palette)
    p.setPen(QPen(theme.mix(base, ink, 0.2), 1))
    p.setBrush(base)
    p.drawRoundedRect(outer, outer.height() / 2, outer.height() / 2)
    f = QFont(font)
    if f.pointSizeF() > 0:
        f.setPointSizeF(f.pointSizeF() * 1.3)
    p.setFont(f)
    for rect, emoji in cells:
        if emoji == hovered:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(theme.mix(base, theme.ACCENT, 0.2))
            p.drawRoundedRect(QRectF(rect), 6, 6)
        p.setPen(ink)
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, emoji)


def is_mine(chip: Chip, me: str | None) -> bool:
    return bool(me) and any(u.lower() == (me or "").lower() for u in chip.users)


def paint_chips(p: QPainter, chips: list[Chip], palette: QPalette, font: QFont,
                me: str | None) -> None:
    p.setFont(font)
    base = palette.color(QPalette.ColorRole.Base)
    ink = theme.text(palette)
    for chip in chips:
        mine = is_mine(chip, me)
        fill = theme.mix(base, theme.ACCENT, 0.22) if mine else theme.mix(base, ink, 0.07)
        p.setPen(QPen(theme.ACCENT, 1.2) if mine else QPen(theme.mix(base, ink, 0.18), 1))
        p.setBrush(fill)
        r = QRectF(chip.rect).adjusted(0.5, 0.5, -0.5, -0.5)
        p.drawRoundedRect(r, r.height() / 2, r.height() / 2)
        p.setPen(ink)
        p.drawText(chip.rect, Qt.AlignmentFlag.AlignCenter, chip.label)


def chip_tooltip(chip: Chip) -> str:
    """"alice, bob and carol reacted with 👍" (long lists shortened)."""
    names = list(chip.users)
    if len(names) > 8:
        shown = ", ".join(names[:8]) + f" and {len(names) - 8} more"
    elif len(names) > 1:
        shown = ", ".join(names[:-1]) + f" and {names[-1]}"
    else:
        shown = names[0] if names else "Nobody"
    return f"{shown} reacted with {chip.emoji}"
