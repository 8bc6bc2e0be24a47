"""The file card inside a message bubble: icon by type, name, size or progress, actions.

Geometry (:func:`card_height`, :func:`card_parts`, :func:`action_rects`) is shared by the
delegate's paint and its hit test, so a click lands on what was drawn. The card's height
never depends on its state: progress, a pause or a finished download repaint the row but
never re-lay it out. What the card says and offers is a :class:`FileView`, made by
:func:`describe` from the message and its transfers (plain data, no client here).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette

from desktop.state.filenames import type_label
from desktop.state.format import human_size
from desktop.state.transfers import DONE, FAILED, PAUSED, RUNNING, Transfer
from desktop.state.types import DeliveryStatus, Message
from desktop.ui import theme
from desktop.ui.file_icons import paint_file_icon

CARD_W = 300
ICON_W = 36
ICON_H = 44
ICON_GAP = 10
LINE_GAP = 2
BAR_H = 4
ACTION_GAP = 14

ACTION_LABELS = {
    "download": "Download",
    "open": "Open",
    "folder": "Show in folder",
    "cancel": "Cancel",
    "resume": "Resume",
    "retry": "Retry",
}
ACTION_TIPS = {
    "download": "Save the file to your Downloads folder",
    "open": "Open the file with its usual application",
    "folder": "Show the saved file in its folder",
    "cancel": "Stop the transfer",
    "resume": "Go on from where the download stopped",
    "retry": "Upload the file again",
}


@dataclass(frozen=True)
class FileView:
    """What a file card shows: the line under the name, its actions, a progress bar
    (``progress`` 0..1, None: no bar) and whether the line is a problem."""

    status: str
    actions: tuple[str, ...]
    progress: float | None = None
    error: bool = False

    @property
    def primary(self) -> str:
        """What a click on the icon (or Enter) does: the first action."""
        return self.actions[0] if self.actions else ""


def describe(msg: Message, upload: Transfer | None, download: Transfer | None,
             saved: bool, own: bool) -> FileView:
    """The card's state from the message, its upload (own pending echo), its download,
    and whether a finished download is on disk."""
    info = msg.file
    size = info.size if info is not None else 0
    what = f"{human_size(size)} · {type_label(info.name, info.mime)}" if info else ""
    if msg.id is None:  # an own file not sent yet
        if msg.status == DeliveryStatus.FAILED:
            return FileView(msg.error or "Not sent", ("retry",) if msg.retryable else (),
                            None, True)
        if upload is None:
            return FileView(f"{what} · waiting to upload", ("cancel",), 0.0)
        if upload.state == RUNNING:
            if upload.done >= upload.total > 0:
                return FileView(f"{what} · sending…", (), 1.0)
            return FileView(f"Uploading… {human_size(upload.done)} of "
                            f"{human_size(upload.total)}", ("cancel",), upload.fraction)
        if upload.state == PAUSED:
            return FileView(upload.error or "Waiting for the connection…", ("cancel",),
                            upload.fraction)
        if upload.state == FAILED:
            return FileView(upload.error, ("retry",), None, True)
        return FileView(f"{what} · sending…", (), 1.0)
    if download is not None and download.state == RUNNING:
        return FileView(f"Downloading… {human_size(download.done)} of "
                        f"{human_size(download.total)}", ("cancel",), download.fraction)
    if saved or (download is not None and download.state == DONE):
        return FileView(f"{what} · saved", ("open", "folder"))
    if download is not None and download.state == PAUSED:
        return FileView(download.error or "Paused", ("resume", "cancel"), download.fraction)
    if download is not None and download.state == FAILED:
        return FileView(download.error, ("download",), None, True)
    return FileView(what, ("download", "open"))


def _action_font(meta_font: QFont) -> QFont:
    font = QFont(meta_font)
    font.setBold(True)
    return font


def card_height(name_fm: QFontMetrics, meta_fm: QFontMetrics) -> int:
    """Name, status (with the progress bar under it) and actions, one line each."""
    return max(ICON_H, name_fm.height() + LINE_GAP + meta_fm.height() + BAR_H + 4
               + meta_fm.height() + 4)


def card_width(max_width: int) -> int:
    return max(160, min(CARD_W, max_width))


@dataclass(frozen=True)
class CardParts:
    icon: QRectF
    name: QRect
    status: QRect
    bar: QRectF
    actions_top: int
    actions_left: int


def card_parts(card: QRect, name_fm: QFontMetrics, meta_fm: QFontMetrics) -> CardParts:
    x = card.left() + ICON_W + ICON_GAP
    w = max(10, card.right() - x)
    y = card.top()
    name = QRect(x, y, w, name_fm.height())
    y += name_fm.height() + LINE_GAP
    status = QRect(x, y, w, meta_fm.height())
    y += meta_fm.height() + 2
    bar = QRectF(x, y, w, BAR_H)
    y += BAR_H + 2
    icon_top = card.top() + max(0, (card.height() - ICON_H) // 2)
    return CardParts(QRectF(card.left(), icon_top, ICON_W, ICON_H), name, status, bar, y, x)


def action_rects(card: QRect, actions: tuple[str, ...], name_fm: QFontMetrics,
                 meta_font: QFont) -> list[tuple[str, QRect]]:
    """Where each action's label is (hit test and paint)."""
    fm = QFontMetrics(_action_font(meta_font))
    parts = card_parts(card, name_fm, QFontMetrics(meta_font))
    x = parts.actions_left
    out = []
    for action in actions:
        width = fm.horizontalAdvance(ACTION_LABELS[action])
        out.append((action, QRect(x - 3, parts.actions_top, width + 6, fm.height() + 2)))
        x += width + ACTION_GAP
    return out


def paint_file_card(p: QPainter, card: QRect, palette: QPalette, msg: Message,
                    view: FileView, name_font: QFont, meta_font: QFont,
                    hover_action: str = "") -> None:
    """The card: icon, elided name, status line (red when it is a problem), progress bar
    while a transfer runs, and the actions as link-coloured words."""
    info = msg.file
    if info is None:
        return
    name_fm = QFontMetrics(name_font)
    meta_fm = QFontMetrics(meta_font)
    parts = card_parts(card, name_fm, meta_fm)
    paint_file_icon(p, parts.icon, info.name, info.mime)
    p.save()
    p.setFont(name_font)
    p.setPen(theme.text(palette))
    left_v = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
    p.drawText(parts.name, left_v,
               name_fm.elidedText(info.name, Qt.TextElideMode.ElideMiddle, parts.name.width()))
    p.setFont(meta_font)
    p.setPen(theme.DANGER if view.error else theme.muted(palette))
    p.drawText(parts.status, left_v,
               meta_fm.elidedText(view.status, Qt.TextElideMode.ElideRight,
                                  parts.status.width()))
    if view.progress is not None:
        track = QColor(theme.text(palette))
        track.setAlpha(40)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(track)
        p.drawRoundedRect(parts.bar, BAR_H / 2, BAR_H / 2)
        if view.progress > 0:
            filled = QRectF(parts.bar)
            filled.setWidth(max(BAR_H, parts.bar.width() * view.progress))
            p.setBrush(theme.ACCENT)
            p.drawRoundedRect(filled, BAR_H / 2, BAR_H / 2)
    action_font = _action_font(meta_font)
    p.setFont(action_font)
    for action, rect in action_rects(card, view.actions, name_fm, meta_font):
        colour = theme.DANGER if action == "cancel" else theme.link(palette)
        p.setPen(colour)
        label_rect = rect.adjusted(3, 0, -3, 0)
        p.drawText(label_rect, left_v, ACTION_LABELS[action])
        if action == hover_action:
            p.drawLine(label_rect.bottomLeft(), label_rect.bottomRight())
    p.restore()
