"""A node stops even when a cancel is lost.

``ClusterNode.stop`` and ``Bus.close`` cancel their loops and wait for them. Python 3.11's
``asyncio.wait_for`` swallows a cancel that lands just as its inner awaitable completes
(CPython gh-86296, fixed in 3.12), and redis-py wraps every socket write in one: under load a
cancelled heartbeat went on beating and the node's teardown waited forever. Each loop must
end on its flag alone, which is what a lost cancel leaves it with.
"""

from __future__ import annotations

import asyncio

from tests.cluster.bus_helpers import Cluster, node, nodes_fixture  # noqa: F401


async def test_a_nodes_loops_end_on_their_flags_without_a_cancel(nodes: Cluster) -> None:
    (a,) = await nodes.start(1)
    n = node(a)
    heartbeat = n._heartbeat_task
    bus_tasks = list(n.bus._tasks)
    assert heartbeat is not None and len(bus_tasks) == 2
    await asyncio.sleep(1.0)  # a few beats, the bus pinging: the loops are running
    assert not heartbeat.done() and not any(t.done() for t in bus_tasks)
    # what stop() and close() set before they cancel, and no cancel at all
    n._stopping = True
    n.bus._closing = True
    n.bus._wake.set()  # the publisher, as after a write whose cancel was lost
    async with asyncio.timeout(30):
        await asyncio.gather(heartbeat, *bus_tasks)
    assert not heartbeat.cancelled() and not any(t.cancelled() for t in bus_tasks)
