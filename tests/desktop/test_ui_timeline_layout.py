# ruff: noqa: F811  (pytest fixtures imported from helpers are injected by name)
"""Timeline geometry: relayout on a width change, images, captions, RTL, links, system lines."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtGui import QFontMetrics

from desktop.models.message_list import MessageRoles
from desktop.state.format import human_size
from desktop.ui.message_layout import compute_layout, fit_size, fonts
from desktop.ui.message_text import find_links
from desktop.ui.timeline import TimelineView
from tests.desktop.timeline_helpers import (
    image_msg,
    make_timeline,  # noqa: F401
    row_geometry,
    text_msg,
    varied_texts,
)
from tests.desktop.ui_helpers import make_window  # noqa: F401


def _no_overlap(geometry: list[tuple[int, int]]) -> bool:
    return all(top + h <= nxt for (top, h), (nxt, _) in zip(geometry, geometry[1:], strict=False))


@pytest.mark.parametrize("narrow", [800, 700])
def test_narrowing_the_window_relays_out_rows_like_a_fresh_view(make_timeline, qtbot, narrow):
    msgs = varied_texts(60)
    view = make_timeline(msgs, width=1200, height=700)
    qtbot.waitUntil(view.is_at_bottom)
    view.resize(narrow, 700)
    fresh = make_timeline(msgs, width=narrow, height=700)
    qtbot.waitUntil(fresh.is_at_bottom)

    def same() -> bool:
        return row_geometry(view) == row_geometry(fresh)

    qtbot.waitUntil(same, timeout=3000)
    assert _no_overlap(row_geometry(view))
    assert view.is_at_bottom()
    # and back to full width: rows shrink again
    view.resize(1200, 700)
    wide = make_timeline(msgs, width=1200, height=700)
    qtbot.waitUntil(lambda: row_geometry(view) == row_geometry(wide), timeout=3000)


def test_resizing_the_main_window_keeps_rows_apart(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    import uuid

    bob = make_peer(server_url, "bob")

    async def go() -> None:
        for i in range(30):
            text = " ".join(f"w{i}-{j}" for j in range(4 + (i * 11) % 50))
            await bob.call("message:send",
                           {"room": "general", "client_id": str(uuid.uuid4()), "text": text})

    run(go(), timeout=60)
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    timeline: TimelineView = window.timeline
    qtbot.waitUntil(lambda: timeline.model().rowCount() >= 30)
    window.resize(700, 760)
    qtbot.waitUntil(lambda: timeline.viewport().width() < 700)

    fresh = TimelineView(window.decoder)
    qtbot.addWidget(fresh)
    fresh.resize(timeline.size())
    fresh.setModel(timeline.source_model())
    fresh.show()
    qtbot.waitExposed(fresh)
    qtbot.waitUntil(lambda: fresh.viewport().width() == timeline.viewport().width())
    qtbot.waitUntil(lambda: row_geometry(timeline)[-12:] == row_geometry(fresh)[-12:],
                    timeout=3000)
    assert _no_overlap(row_geometry(timeline))


def test_scrolled_up_reader_keeps_their_message_in_place_across_a_resize(make_timeline, qtbot):
    msgs = varied_texts(80)
    view = make_timeline(msgs, width=1200, height=600)
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    index = view.indexAt(QPoint(view.viewport().width() // 2, 1))
    row = index.row()
    view.resize(760, 600)
    qtbot.waitUntil(lambda: view.viewport().width() < 760)
    # the message that was at the top is still at the top (not somewhere else in history)
    top = view.visualRect(view.model().index(row, 0))
    assert top.top() <= 1 < top.bottom()


def test_images_keep_their_aspect_ratio_and_are_never_upscaled():
    assert fit_size(3000, 300, 320, 300) == QSize(320, 32)
    assert fit_size(300, 3000, 320, 300) == QSize(30, 300)
    assert fit_size(16, 16, 320, 300) == QSize(16, 16)
    assert fit_size(640, 360, 320, 300) == QSize(320, 180)


@pytest.mark.parametrize(
    ("w", "h"), [(3000, 300), (300, 3000), (16, 16), (640, 360), (100, 2000)]
)
def test_row_layout_draws_images_at_their_aspect_ratio(qapp, w, h):
    font = qapp.font()
    lay = compute_layout(image_msg(1, w, h), 1000, False, True, "", QSize(w, h), "10:42", "", font)
    rect = lay.image_rect
    assert rect is not None
    assert rect.width() <= w and rect.height() <= h  # never upscaled
    assert abs(rect.width() / rect.height() - w / h) <= max(0.05 * w / h, 1 / rect.height())
    assert lay.bubble_rect.contains(rect)


def test_a_caption_wraps_to_the_image_without_grey_bands(qapp):
    font = qapp.font()
    caption = "a fairly long caption that is much wider than the picture above it " * 2
    msg = image_msg(1, 640, 360, caption=caption)
    lay = compute_layout(msg, 1000, False, True, "", QSize(640, 360), "10:42", "", font)
    assert lay.image_rect is not None and lay.bubble_rect is not None
    assert lay.bubble_rect.width() - lay.image_rect.width() <= 8
    assert lay.image_rect.left() - lay.bubble_rect.left() <= 4
    # the caption stays inside the bubble, under the image
    layout = lay.text_layout
    widest = max(layout.lineAt(i).naturalTextWidth() for i in range(layout.lineCount()))
    assert lay.text_origin.x() + widest <= lay.bubble_rect.right()
    assert lay.text_origin.y() >= lay.image_rect.bottom()


def test_rtl_paragraph_lines_all_align_right(qapp):
    font = qapp.font()
    hebrew = "שלום עולם זהו משפט ארוך מאוד שצריך לעבור לכמה שורות בתוך הבועה של ההודעה " * 3
    msg = text_msg(1, hebrew)
    lay = compute_layout(msg, 700, False, True, "", None, "10:42", "", font)
    layout = lay.text_layout
    assert layout is not None and layout.lineCount() >= 3
    rights = [layout.lineAt(i).x() + layout.lineAt(i).naturalTextWidth()
              for i in range(layout.lineCount())]
    assert max(rights) - min(rights) <= 1.0, rights
    assert lay.text_origin.x() + max(rights) <= lay.bubble_rect.right() - 8
    lefts = [layout.lineAt(i).x() for i in range(layout.lineCount())]
    assert min(lefts) >= 0


def test_links_keep_balanced_parentheses_and_drop_sentence_punctuation():
    text = ("see https://en.wikipedia.org/wiki/Foo_(bar) and (https://example.org/a). "
            "also www.example.com/x?y=1, ok")
    urls = [url for _s, _l, url in find_links(text)]
    assert urls == [
        "https://en.wikipedia.org/wiki/Foo_(bar)",
        "https://example.org/a",
        "https://www.example.com/x?y=1",
    ]
    start, length, _ = find_links(text)[0]
    assert text[start:start + length].endswith("(bar)")


def test_text_that_looks_like_html_is_shown_as_typed(make_timeline, qtbot):
    raw = "<b>not bold</b> &amp; <a href='https://evil.example'>click</a>"
    view = make_timeline([text_msg(1, raw)], width=900, height=400)
    index = view.model().index(0, 0)
    lay = view.delegate.layout_for(view.option_for(index), index)
    assert lay.text_layout is not None and lay.text_layout.text() == raw
    # the only link is the URL as it stands in the text: what you see is what opens
    assert [(raw[s:s + n], url) for s, n, url in lay.links] == [
        ("https://evil.example", "https://evil.example")
    ]


def test_sizes_read_like_people_write_them():
    assert human_size(3_000_000) == "2.9 MB"
    assert human_size(512) == "512 B"
    assert human_size(14_600) == "14 KB"
    assert human_size(120 * 1024 * 1024) == "120 MB"
    assert human_size(5 * 1024 ** 3) == "5.0 GB"


def test_a_long_topic_change_wraps_instead_of_being_clipped(make_timeline, qtbot):
    topic = "bob changed the topic to \"" + "release planning for the winter " * 6 + "\""
    msg = text_msg(1, topic)
    msg.kind, msg.sender = "system", None
    view = make_timeline([msg], width=600, height=400)
    index = view.model().index(0, 0)
    lay = view.delegate.layout_for(view.option_for(index), index)
    _t, _n, meta_font = fonts(view.font())
    inner = lay.system_rect.adjusted(12, 4, -12, -4)
    flags = int(Qt.AlignmentFlag.AlignCenter) | int(Qt.TextFlag.TextWordWrap)
    needed = QFontMetrics(meta_font).boundingRect(inner, flags, topic)
    assert lay.system_rect.height() >= needed.height() + 8
    assert inner.height() >= needed.height()


def test_a_bigger_font_relays_out_every_row(make_timeline, qtbot):
    msgs = varied_texts(40)
    view = make_timeline(msgs, width=900, height=600)
    qtbot.waitUntil(view.is_at_bottom)
    before = row_geometry(view)
    font = view.font()
    font.setPointSizeF(font.pointSizeF() * 1.5)
    view.setFont(font)
    fresh = make_timeline(msgs, width=900, height=600)
    fresh.setFont(font)
    qtbot.waitUntil(lambda: row_geometry(view) == row_geometry(fresh), timeout=3000)
    assert row_geometry(view) != before
    assert _no_overlap(row_geometry(view))


def test_far_rows_are_measured_right_after_a_resize_and_the_reader_stays_put(
    make_timeline, qtbot
):
    msgs = varied_texts(400)
    view = make_timeline(msgs, width=1200, height=600)
    view.window_rows = 400
    view.setModel(view._test_model)  # a window holding all 400 rows
    qtbot.waitUntil(lambda: view.model().rowCount() == 400)
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    top = view.indexAt(QPoint(view.viewport().width() // 2, 1))
    y = view.visualRect(top).top()
    view.resize(720, 600)
    # right away: the rows on screen have their exact heights and the top one stayed
    assert view.refining  # far rows wait for their turn
    assert abs(view.visualRect(view.model().index(top.row(), 0)).top() - y) <= 1
    visible = [r for r in range(400)
               if view.visualRect(view.model().index(r, 0)).intersects(view.viewport().rect())]
    fresh = make_timeline(msgs, width=720, height=600)
    fresh.window_rows = 400
    fresh.setModel(fresh._test_model)
    qtbot.waitUntil(lambda: fresh.model().rowCount() == 400)
    heights = {r: fresh.visualRect(fresh.model().index(r, 0)).height() for r in visible}
    for r in visible:
        assert view.visualRect(view.model().index(r, 0)).height() == heights[r]
    # then the rest follows, and the reader's row is still where it was
    qtbot.waitUntil(lambda: not view.refining)
    assert [h for _t, h in row_geometry(view)] == [h for _t, h in row_geometry(fresh)]
    assert _no_overlap(row_geometry(view))
    assert abs(view.visualRect(view.model().index(top.row(), 0)).top() - y) <= 1


def test_a_topic_change_from_the_server_shows_the_new_topic_whole(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    bob = make_peer(server_url, "bob")
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    window.resize(760, 760)
    topic = "Release planning for the winter: " + "milestones, owners and dates " * 4
    run(bob.call("room:topic", {"room": "general", "topic": topic.strip()}))
    timeline: TimelineView = window.timeline
    model = timeline.model()

    def system_row() -> int:
        for r in range(model.rowCount()):
            text = str(model.index(r, 0).data(Qt.ItemDataRole.DisplayRole) or "")
            if model.index(r, 0).data(MessageRoles.KindRole) == "system" and "topic" in text:
                return r
        return -1

    qtbot.waitUntil(lambda: system_row() >= 0)
    index = model.index(system_row(), 0)
    text = str(index.data(Qt.ItemDataRole.DisplayRole))
    assert topic.strip() in text  # rendered as the server sent it, the topic included
    lay = timeline.delegate.layout_for(timeline.option_for(index), index)
    _t, _n, meta_font = fonts(timeline.font())
    inner = lay.system_rect.adjusted(12, 4, -12, -4)
    flags = int(Qt.AlignmentFlag.AlignCenter) | int(Qt.TextFlag.TextWordWrap)
    needed = QFontMetrics(meta_font).boundingRect(inner, flags, text)
    assert needed.height() > QFontMetrics(meta_font).height()  # it wraps...
    assert inner.height() >= needed.height()  # ...and nothing is cut off
