"""The resize relayout part of ``bench/gui_timeline.py`` (see its docstring): a
TimelineView showing a window of N rows changes width; the time of each resize plus its
repaint, and the GUI thread's CPU in it. Split out to keep the script's size readable.
"""

from __future__ import annotations

import time
from typing import Any

# ----------------------------------------------------------------------- resize relayout
RESIZE_WIDTHS = (800, 1000, 700, 1100, 900, 1200, 760, 1040)


def resize_measurements(rows: int) -> dict[str, Any]:
    """Relayout of a ``rows``-row timeline window on width changes (see module doc)."""
    import statistics

    from desktop.media.decoder import ImageDecoder
    from desktop.models.message_list import MessageListModel
    from desktop.state.messages import MessageStore
    from desktop.state.types import ImageInfo, Message
    from desktop.ui.timeline import TimelineView

    store = MessageStore("viewer")
    base = 1_790_000_000_000
    msgs = []
    for i in range(rows):
        sender = ("viewer", "bob", "carol")[i % 3]
        if i % 25 == 0:
            msgs.append(Message(
                id=i + 1, room="r", sender=sender, ts=base + i * 40_000, kind="image",
                text="a caption" if i % 50 == 0 else "",
                image=ImageInfo(id=f"i{i}", mime="image/png", name="p.png", size=100_000,
                                width=1600 - i % 700, height=900, thumb=None),
            ))
        else:
            words = 3 + (i * 7) % 60
            text = " ".join(f"word{j}" for j in range(words))
            msgs.append(Message(id=i + 1, room="r", sender=sender, ts=base + i * 40_000,
                                kind="text", text=text))
    store.add_many("r", msgs)
    model = MessageListModel(store, "r", "viewer")
    view = TimelineView(ImageDecoder())
    view.window_rows = rows
    view.resize(1200, 800)
    view.setModel(model)
    view.show()
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()
    view.viewport().repaint()
    assert view.model().rowCount() == rows, view.model().rowCount()

    cpu: list[float] = []
    refine_ticks: list[float] = []  # GUI CPU of each batch measuring far rows afterwards

    def timed_refine() -> None:
        c0 = time.thread_time()
        view.on_refine_timer_timeout()
        refine_ticks.append((time.thread_time() - c0) * 1000)

    view._refine_timer.timeout.disconnect()
    view._refine_timer.timeout.connect(timed_refine)

    def one(width: int) -> float:
        c0 = time.thread_time()
        t0 = time.perf_counter()
        view.resize(width, 800)
        view.viewport().repaint()
        cpu.append((time.thread_time() - c0) * 1000)
        elapsed = (time.perf_counter() - t0) * 1000
        while view.refining:  # then the event loop measures the far rows, in batches
            QApplication.processEvents()
        return elapsed

    first = [one(w) for w in RESIZE_WIDTHS]
    again = [one(w) for w in RESIZE_WIDTHS]
    jumps_cpu = list(cpu)
    # a drag of the window's edge: 1200 -> 700 px in 10 px steps
    one(1200)
    cpu.clear()
    drag = [one(w) for w in range(1190, 690, -10)]
    drag_cpu = list(cpu)
    view.close()
    return {
        "resize_rows": rows,
        "resize_first_median_ms": statistics.median(first),
        "resize_first_max_ms": max(first),
        "resize_again_median_ms": statistics.median(again),
        "resize_again_max_ms": max(again),
        "resize_first_cpu_median_ms": statistics.median(jumps_cpu[: len(first)]),
        "resize_first_cpu_max_ms": max(jumps_cpu[: len(first)]),
        "resize_again_cpu_median_ms": statistics.median(jumps_cpu[len(first):]),
        "resize_again_cpu_max_ms": max(jumps_cpu[len(first):]),
        "resize_drag_cpu_steps": [round(c) for c in drag_cpu],
        "resize_refine_ticks": len(refine_ticks),
        "resize_refine_max_ms": max(refine_ticks, default=0.0),
        "resize_drag_steps": len(drag),
        "resize_drag_median_ms": statistics.median(drag),
        "resize_drag_max_ms": max(drag),
        "resize_drag_cpu_median_ms": statistics.median(drag_cpu),
        "resize_drag_cpu_max_ms": max(drag_cpu),
    }


def print_resize(res: dict[str, Any]) -> None:
    print(
        f"| relayout of a {res['resize_rows']:,}-row window on a width change, new width "
        f"(median / worst of {len(RESIZE_WIDTHS)}) | ≤ 50 ms "
        f"| {res['resize_first_median_ms']:.0f} / {res['resize_first_max_ms']:.0f} ms "
        f"(GUI thread CPU {res['resize_first_cpu_median_ms']:.0f} / "
        f"{res['resize_first_cpu_max_ms']:.0f} ms) |"
    )
    print(
        f"| the same, a width seen before (median / worst) | ≤ 50 ms "
        f"| {res['resize_again_median_ms']:.0f} / {res['resize_again_max_ms']:.0f} ms "
        f"(GUI thread CPU {res['resize_again_cpu_median_ms']:.0f} / "
        f"{res['resize_again_cpu_max_ms']:.0f} ms) |"
    )
    print(
        f"| the same, dragging the edge 1200 → 700 px in {res['resize_drag_steps']} steps of "
        f"10 px (median / worst step) | ≤ 50 ms "
        f"| {res['resize_drag_median_ms']:.0f} / {res['resize_drag_max_ms']:.0f} ms "
        f"(GUI thread CPU {res['resize_drag_cpu_median_ms']:.0f} / "
        f"{res['resize_drag_cpu_max_ms']:.0f} ms) |"
    )
    print(
        f"| then measuring the far rows ({res['resize_refine_ticks']} batches in all), "
        f"longest batch, GUI thread CPU | ≤ 50 ms | {res['resize_refine_max_ms']:.0f} ms |"
    )
