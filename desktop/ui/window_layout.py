"""The main window's panels and how they adapt: sidebar, conversation, members panel.

``WindowLayout`` is a mixin of MainWindow that builds the widgets, colours them from the
palette (again on every theme change) and lays them out for the window's width:

- wide (at least ``NARROW_BREAKPOINT`` px): sidebar | conversation | members, in a splitter
  whose sizes the user may drag and the app remembers;
- narrow: the sidebar narrows to ``NARROW_SIDEBAR`` px and the members panel leaves the
  splitter; the header's members button then opens it as an overlay over the right edge
  of the conversation (Escape or the button closes it), as Telegram does.

Every text the server supplies (server name, user name, room name, topic) is shown in an
ElidedLabel, so none of it can set the window's minimum width.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QRect, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QPalette, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QGraphicsDropShadowEffect,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.media.decoder import ImageDecoder
from desktop.net.client import ChatClient
from desktop.settings import AppSettings
from desktop.ui import icons, theme
from desktop.ui.composer import ComposerPanel
from desktop.ui.connection_status import ConnectionStatus, ReconnectBanner, RefusedBanner
from desktop.ui.elided_label import ElidedLabel
from desktop.ui.empty_state import EmptyState
from desktop.ui.members import MemberListView
from desktop.ui.sidebar import RoomListView
from desktop.ui.timeline import TimelineView

logger = logging.getLogger(__name__)

#: Below this window width the members panel becomes an overlay and the sidebar narrows.
NARROW_BREAKPOINT = 940
DEFAULT_SIZE = QSize(1200, 760)
FRAME_ALLOWANCE = 32  # px kept for a title bar the window manager has not drawn yet
WIDE_SIDEBAR = 270
NARROW_SIDEBAR = 210
MEMBERS_WIDTH = 210
TOAST_MS = 7000


def _tool_button(parent: QWidget, name: str, icon: str, accessible: str, tip: str) -> QToolButton:
    button = QToolButton(parent)
    button.setObjectName(name)
    button.setAccessibleName(accessible)
    button.setToolTip(tip)
    button.setIcon(icons.icon(icon))
    button.setIconSize(QSize(18, 18))
    button.setAutoRaise(True)
    button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    return button


if TYPE_CHECKING:
    _Base = QMainWindow
else:
    _Base = object


class WindowLayout(_Base):
    """Mixin: see the module docstring. Needs ``self.client`` and ``self.decoder``."""

    client: ChatClient
    decoder: ImageDecoder
    settings: AppSettings
    narrow: bool = False
    wide_sidebar: int = WIDE_SIDEBAR  # the sidebar's width in the wide layout (user-dragged)
    _clamped_after_show: bool = False

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        self.central = QWidget(self)
        self.central.setObjectName("central")
        central_layout = QHBoxLayout(self.central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self.central)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setHandleWidth(1)
        self.splitter.setChildrenCollapsible(False)
        central_layout.addWidget(self.splitter)
        self._build_sidebar()
        self._build_conversation()
        self._build_members()
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.conversation)
        self.splitter.addWidget(self.members_panel)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([WIDE_SIDEBAR, 720, MEMBERS_WIDTH])
        self.setCentralWidget(self.central)
        self.members_wanted = True  # the user's choice in the wide layout
        self.splitter.splitterMoved.connect(self.on_splitter_splitter_moved)
        self._apply_palette()
        self._toast_timer = QTimer(self)
        self._toast_timer.setSingleShot(True)
        self._toast_timer.setInterval(TOAST_MS)
        self._toast_timer.timeout.connect(self.toast.hide)

    def _build_sidebar(self) -> None:
        self.sidebar = QFrame(self.splitter)
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setAutoFillBackground(True)
        self.sidebar.setMinimumWidth(170)
        side = QVBoxLayout(self.sidebar)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(0)
        head = QHBoxLayout()
        head.setContentsMargins(16, 14, 10, 8)
        title_col = QVBoxLayout()
        title_col.setSpacing(1)
        self.server_label = ElidedLabel("Parley", self.sidebar)
        self.server_label.setObjectName("serverName")
        f = self.server_label.font()
        f.setBold(True)
        f.setPointSizeF(f.pointSizeF() * 1.2)
        self.server_label.setFont(f)
        self.user_label = ElidedLabel("", self.sidebar)
        self.user_label.setObjectName("userName")
        title_col.addWidget(self.server_label)
        title_col.addWidget(self.user_label)
        head.addLayout(title_col, 1)
        self.add_button = _tool_button(
            self.sidebar,
            "addButton",
            "add",
            "New room or message",
            "Create a room, browse rooms, or start a direct message",
        )
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        head.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignTop)
        side.addLayout(head)
        # Telegram's search box: here it opens the Ctrl+K finder
        self.find_button = QPushButton(icons.icon("search"), "Search", self.sidebar)
        self.find_button.setObjectName("findButton")
        self.find_button.setAccessibleName("Find a room or person")
        self.find_button.setToolTip("Find a room or person (Ctrl+K)")
        self.find_button.setFlat(True)
        self.find_button.setMinimumWidth(40)
        self.find_button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        find_row = QHBoxLayout()
        find_row.setContentsMargins(10, 0, 10, 6)
        find_row.addWidget(self.find_button)
        side.addLayout(find_row)
        self.room_list = RoomListView(self.sidebar)
        self.room_list.setModel(self.client.room_model)
        side.addWidget(self.room_list, 1)
        foot = QHBoxLayout()
        foot.setContentsMargins(16, 8, 12, 10)
        self.connection_status = ConnectionStatus(self.sidebar)
        foot.addWidget(self.connection_status, 1)
        side.addLayout(foot)

    def _build_conversation(self) -> None:
        self.conversation = QWidget(self.splitter)
        self.conversation.setObjectName("conversation")
        self.conversation.setAutoFillBackground(True)
        self.conversation.setMinimumWidth(300)
        conv = QVBoxLayout(self.conversation)
        conv.setContentsMargins(0, 0, 0, 0)
        conv.setSpacing(0)
        self.banner = RefusedBanner(self.conversation)
        conv.addWidget(self.banner)
        self.reconnect_banner = ReconnectBanner(self.client, self.conversation)
        conv.addWidget(self.reconnect_banner)
        header = self.header = QFrame(self.conversation)
        header.setObjectName("roomHeader")
        hl = QHBoxLayout(header)
        hl.setContentsMargins(20, 10, 12, 10)
        hcol = QVBoxLayout()
        hcol.setSpacing(1)
        self.room_title = ElidedLabel("", header)
        self.room_title.setObjectName("roomTitle")
        tf = self.room_title.font()
        tf.setBold(True)
        tf.setPointSizeF(tf.pointSizeF() * 1.15)
        self.room_title.setFont(tf)
        self.room_topic = ElidedLabel("", header)
        self.room_topic.setObjectName("roomTopic")
        hcol.addWidget(self.room_title)
        hcol.addWidget(self.room_topic)
        hl.addLayout(hcol, 1)
        self.members_button = _tool_button(
            header, "membersToggle", "members", "Show members", "Members (Ctrl+Shift+M)"
        )
        self.members_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.members_button.setCheckable(True)
        self.members_button.setChecked(True)
        hl.addWidget(self.members_button)
        conv.addWidget(header)
        self.toast = QLabel(self.conversation)
        self.toast.setObjectName("errorBar")
        self.toast.setAccessibleName("Notice")
        self.toast.setTextFormat(Qt.TextFormat.PlainText)
        self.toast.setWordWrap(True)
        self.toast.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.toast.setContentsMargins(20, 6, 20, 6)
        self.toast.hide()
        conv.addWidget(self.toast)
        self.timeline = TimelineView(self.decoder, self.conversation)
        conv.addWidget(self.timeline, 1)
        self.empty_state = EmptyState(self.conversation)
        self.empty_state.hide()
        conv.addWidget(self.empty_state, 1)
        self.composer_panel = ComposerPanel(self.decoder, self.conversation)
        conv.addWidget(self.composer_panel)
        self.composer = self.composer_panel.edit
        self.send_button = self.composer_panel.send_button
        self.attach_button = self.composer_panel.attach_button
        self.composer.installEventFilter(self)

    def _build_members(self) -> None:
        self.members_panel = QFrame(self.splitter)
        self.members_panel.setObjectName("membersPanel")
        self.members_panel.setAutoFillBackground(True)
        self.members_panel.setMinimumWidth(150)
        ml = QVBoxLayout(self.members_panel)
        ml.setContentsMargins(0, 14, 0, 0)
        ml.setSpacing(4)
        self.members_title = QLabel("Members", self.members_panel)
        self.members_title.setContentsMargins(14, 0, 0, 4)
        mf = self.members_title.font()
        mf.setBold(True)
        self.members_title.setFont(mf)
        ml.addWidget(self.members_title)
        self.member_list = MemberListView(self.members_panel)
        ml.addWidget(self.member_list, 1)

    # ------------------------------------------------------------------ colours
    def _apply_palette(self) -> None:
        """Colour the chrome from the application palette (again when it changes)."""
        palette = QApplication.palette()
        side = QPalette(palette)
        side.setColor(QPalette.ColorRole.Window, theme.sidebar_background(palette))
        side.setColor(QPalette.ColorRole.Base, theme.sidebar_background(palette))
        for widget in (self.sidebar, self.room_list, self.members_panel, self.member_list):
            widget.setPalette(side)
        conv = QPalette(palette)
        conv.setColor(QPalette.ColorRole.Window, palette.color(QPalette.ColorRole.Base))
        self.conversation.setPalette(conv)
        muted = QPalette(side)
        muted.setColor(QPalette.ColorRole.WindowText, theme.muted(palette))
        self.user_label.setPalette(muted)
        muted_conv = QPalette(conv)
        muted_conv.setColor(QPalette.ColorRole.WindowText, theme.muted(palette))
        self.room_topic.setPalette(muted_conv)
        border = theme.subtle_border(palette).name()
        self.header.setStyleSheet(f"QFrame#roomHeader {{ border-bottom: 1px solid {border}; }}")
        base = palette.color(QPalette.ColorRole.Base).name()
        self.find_button.setStyleSheet(
            f"QPushButton#findButton {{ text-align: left; padding: 6px 10px; border-radius: 8px;"
            f" border: 2px solid transparent; background: {base};"
            f" color: {theme.muted(palette).name()}; }}"
            f" QPushButton#findButton:focus {{ border-color: {theme.ACCENT.name()}; }}"
        )
        self.find_button.setIcon(icons.icon("search"))
        button_sheet = theme.tool_button_sheet(palette)
        for button in (
            self.add_button,
            self.members_button,
            self.composer_panel.attach_button,
            self.composer_panel.send_button,
        ):
            button.setStyleSheet(button_sheet)
        self.composer_panel.apply_palette(palette)
        self._paint_composer_focus()
        for name, button in (("add", self.add_button), ("members", self.members_button)):
            button.setIcon(icons.icon(name))
        self.timeline.viewport().update()
        self.room_list.viewport().update()

    def _paint_composer_focus(self) -> None:
        """The composer's box takes the accent colour while the text box has the focus."""
        palette = QApplication.palette()
        colour = theme.ACCENT if self.composer.hasFocus() else theme.subtle_border(palette)
        width = 2 if self.composer.hasFocus() else 1
        base = palette.color(QPalette.ColorRole.Base).name()
        self.composer_panel.box.setStyleSheet(
            f"QFrame#composerBox {{ border: {width}px solid {colour.name()};"
            f" border-radius: 10px; background: {base}; }}"
        )

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Overrides QObject.eventFilter: the composer's focus ring."""
        if watched is self.composer and event.type() in (QEvent.Type.FocusIn, QEvent.Type.FocusOut):
            self._paint_composer_focus()
        return False

    # ------------------------------------------------------------------ width
    def _adapt_to_width(self, width: int) -> None:
        """Switch between the wide and the narrow layout at NARROW_BREAKPOINT."""
        narrow = width < NARROW_BREAKPOINT
        if narrow == self.narrow:
            if narrow:
                self._place_overlay()
            return
        self.narrow = narrow
        if narrow:
            self.members_panel.hide()
            self.members_panel.setParent(self.central)
            self.members_panel.setObjectName("membersOverlay")
            # a shadow, not a style sheet: a sheet would freeze the panel's palette
            shadow = QGraphicsDropShadowEffect(self.members_panel)
            shadow.setBlurRadius(18)
            shadow.setOffset(-2, 0)
            shadow.setColor(QColor(0, 0, 0, 90))
            self.members_panel.setGraphicsEffect(shadow)
            self.members_panel.hide()
            side = NARROW_SIDEBAR
            self.splitter.setSizes([side, max(1, width - side)])
            # the splitter is resized after us and shares the change out again: once more
            QTimer.singleShot(0, lambda: self._settle_narrow(side))
            self._sync_members_controls(False)
        else:
            self.members_panel.hide()
            self.members_panel.setGraphicsEffect(None)  # type: ignore[arg-type]  # None clears
            self.members_panel.setObjectName("membersPanel")
            self.splitter.insertWidget(2, self.members_panel)
            self.splitter.setStretchFactor(2, 0)
            self.members_panel.setVisible(self.members_wanted)
            side = self.wide_sidebar
            members = MEMBERS_WIDTH if self.members_wanted else 0
            self.splitter.setSizes([side, max(1, width - side - members), members])
            QTimer.singleShot(0, lambda: self._settle_wide(side, members))
            self._sync_members_controls(self.members_wanted)
        self._apply_palette()

    def on_splitter_splitter_moved(self, _pos: int, _index: int) -> None:
        """The user dragged a handle: remember the sidebar width for the wide layout."""
        if not self.narrow:
            self.wide_sidebar = max(self.sidebar.minimumWidth(), self.splitter.sizes()[0])

    def _settle_wide(self, side: int, members: int) -> None:
        """As _settle_narrow, for the way back to the wide layout."""
        if not self.narrow and self.splitter.count() == 3:
            total = sum(self.splitter.sizes())
            self.splitter.setSizes([side, max(1, total - side - members), members])

    def _settle_narrow(self, side: int) -> None:
        if self.narrow and self.splitter.count() == 2:
            total = sum(self.splitter.sizes())
            self.splitter.setSizes([side, max(1, total - side)])
            self._place_overlay()

    def _place_overlay(self) -> None:
        """Dock the members overlay to the right edge, under the room header."""
        if not self.narrow:
            return
        top = self.conversation.mapTo(self.central, self.header.geometry().bottomLeft()).y() + 1
        width = min(MEMBERS_WIDTH + 30, max(180, self.central.width() // 3))
        self.members_panel.setGeometry(
            self.central.width() - width, top, width, self.central.height() - top
        )
        self.members_panel.raise_()

    def set_members_visible(self, visible: bool) -> None:
        """Show or hide the members panel (an overlay in the narrow layout)."""
        if self.narrow:
            if visible:
                self._place_overlay()
                self.members_panel.show()
                self.members_panel.raise_()
            else:
                self.members_panel.hide()
        else:
            self.members_wanted = visible
            self.members_panel.setVisible(visible)
        self._sync_members_controls(visible)

    def members_visible(self) -> bool:
        return self.members_panel.isVisible()

    def _sync_members_controls(self, visible: bool) -> None:
        overlay = getattr(self, "close_overlay_shortcut", None)
        if overlay is not None:
            overlay.setEnabled(self.narrow and visible)
        for control in (self.members_button, getattr(self, "members_action", None)):
            if control is not None and control.isChecked() != visible:
                control.setChecked(visible)
        self.members_button.setAccessibleName("Hide members" if visible else "Show members")

    # ------------------------------------------------------------------ geometry
    def _restore_geometry(self) -> None:
        geometry = self.settings.window_geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(DEFAULT_SIZE)
        self.clamp_to_screen()
        self._restored_size = self.size()
        state = self.settings.window_state
        if state is not None and self.splitter.restoreState(state):
            self.wide_sidebar = max(self.sidebar.minimumWidth(), self.splitter.sizes()[0])
        self._adapt_to_width(self.width())

    def clamp_to_screen(self) -> None:
        """Keep the window on a screen that exists now, and no bigger than it (a geometry
        saved on a larger or a disconnected monitor must not open off-screen)."""
        screen = QGuiApplication.screenAt(self.geometry().center()) or self.screen()
        if screen is None:
            return
        area: QRect = screen.availableGeometry()
        frame, inner = self.frameGeometry(), self.geometry()
        # Before the window manager frames the window its decorations are unknown:
        # leave room for a title bar.
        top = inner.top() - frame.top() if frame != inner else FRAME_ALLOWANCE
        sides = max(0, inner.left() - frame.left())
        width = min(self.width(), area.width() - 2 * sides)
        height = min(self.height(), area.height() - top - sides)
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        outer_w, outer_h = width + 2 * sides, height + top + sides
        x = min(max(frame.left(), area.left()), area.right() + 1 - outer_w)
        y = min(max(frame.top(), area.top()), area.bottom() + 1 - outer_h)
        if (x, y) != (frame.left(), frame.top()):
            self.move(max(area.left(), x), max(area.top(), y))

    def save_geometry(self) -> None:
        self.settings.window_geometry = self.saveGeometry()
        if not self.narrow:
            self.settings.window_state = self.splitter.saveState()
        self.settings.sync()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        """Overrides QWidget.showEvent: once framed, check the window fits its screen."""
        super().showEvent(event)
        if not self._clamped_after_show:
            self._clamped_after_show = True
            # only the geometry we chose (restored or default); a size set by code since
            # (the screenshot script, tests) is meant
            if self.size() == self._restored_size:
                QTimer.singleShot(0, self.clamp_to_screen)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        """Overrides QWidget.resizeEvent: adapt the layout to the new width."""
        super().resizeEvent(event)
        self._adapt_to_width(event.size().width())
