"""Cancelling a task for good, on Python 3.11 too.

One ``task.cancel()`` is not always enough on Python 3.11: ``asyncio.wait_for`` swallows a
cancellation that lands in the loop turn in which the awaitable it waits for completed,
and returns that result instead (CPython gh-86296; 3.12 rewrote ``wait_for`` on
``asyncio.timeout`` and fixed it). The task then carries on to its next ``await``, which
may never end: the connection supervisor went on to ``await shield(self._lost)`` with the
server up, so ``disconnect()`` waited for it forever and Ctrl+C closed the window of an
app that then never exited. python-socketio and engine.io use ``wait_for`` throughout,
so any of their awaits can do this. ``cancel_and_wait`` cancels again, at the task's next
await, until it is done.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger(__name__)

# How long a cancelled task gets to finish (its own cleanup included) before it is
# cancelled again, and how often: a task that ignores every cancel is not waited for.
RECANCEL_S = 0.5
MAX_ROUNDS = 120


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel ``tasks`` and wait until every one has finished (see the module doc).

    Bounded: a task still running after ``MAX_ROUNDS`` cancels (one that catches
    CancelledError in a loop) is logged and left behind rather than waited for forever.
    The calling task itself, if among ``tasks``, is left alone.
    """
    current = asyncio.current_task()  # never itself: it would wait for its own end
    pending = {task for task in tasks if not task.done() and task is not current}
    rounds = 0
    while pending:
        if rounds == MAX_ROUNDS:
            logger.warning("%d task(s) ignored cancellation: %s", len(pending), pending)
            return
        rounds += 1
        for task in pending:
            task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=RECANCEL_S)
