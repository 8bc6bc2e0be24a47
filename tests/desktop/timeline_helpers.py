"""Helpers for the timeline tests: a real store, model and TimelineView without a server.

``make_timeline(messages, width, height)`` shows a TimelineView over a MessageListModel of
a real MessageStore (own user "alice"), laid out and at its bottom. ``row_geometry(view)``
is every row's (top, height) in viewport coordinates.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PIL import Image

from desktop.media.decoder import ImageDecoder
from desktop.models.message_list import MessageListModel
from desktop.state.messages import MessageStore
from desktop.state.types import ImageInfo, Message
from desktop.ui.timeline import TimelineView

BASE_TS = 1_790_000_000_000
ROOM = "r"


def text_msg(i: int, text: str, sender: str = "bob", ts: int | None = None) -> Message:
    return Message(id=i, room=ROOM, sender=sender, ts=ts if ts is not None else BASE_TS + i * 60_000,
                   kind="text", text=text)


def image_msg(i: int, width: int, height: int, caption: str = "", sender: str = "bob",
              thumb: bytes | None = None, mime: str = "image/png", size: int = 3_000_000
              ) -> Message:
    return Message(
        id=i, room=ROOM, sender=sender, ts=BASE_TS + i * 60_000, kind="image", text=caption,
        image=ImageInfo(id=f"img{i}", mime=mime, name=f"pic{i}.png", size=size, width=width,
                        height=height, thumb=thumb),
    )


def varied_texts(count: int) -> list[Message]:
    """Texts of many lengths from two people (some grouped, some with headers)."""
    out = []
    for i in range(count):
        words = 3 + (i * 7) % 45
        sender = "alice" if i % 3 == 0 else ("bob" if i % 2 else "carol")
        out.append(text_msg(i + 1, " ".join(f"word{j}" for j in range(words)), sender))
    return out


def gif_bytes(frames: int = 3, size: tuple[int, int] = (40, 30)) -> bytes:
    images = [Image.new("RGB", size, (60 * f % 255, 120, 200)) for f in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    return buf.getvalue()


def png_bytes(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (30, 140, 90)).save(buf, "PNG")
    return buf.getvalue()


def row_geometry(view: TimelineView) -> list[tuple[int, int]]:
    model = view.model()
    rects = [view.visualRect(model.index(r, 0)) for r in range(model.rowCount())]
    return [(r.top(), r.height()) for r in rects]


@pytest.fixture
def make_timeline(qtbot: Any) -> Iterator[Callable[..., TimelineView]]:
    views: list[TimelineView] = []
    decoder = ImageDecoder()

    def factory(msgs: list[Message], width: int = 1200, height: int = 700,
                store: MessageStore | None = None) -> TimelineView:
        if store is None:
            store = MessageStore("alice")
            store.add_many(ROOM, msgs)
        model = MessageListModel(store, ROOM, "alice")
        view = TimelineView(decoder)
        qtbot.addWidget(view)
        view.more_history = False
        view.resize(width, height)
        view.setModel(model)
        view.show()
        qtbot.waitExposed(view)
        view._test_model = model  # type: ignore[attr-defined]  # keep it alive
        views.append(view)
        return view

    yield factory
    for view in views:
        view.close()
