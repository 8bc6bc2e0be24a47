"""ClusterManager: the Socket.IO client manager of a cluster node.

Every ``sio.emit`` of the handlers comes through :meth:`ClusterManager.emit`, the one
choke point: the event is published once on the bus (an ``EMIT`` envelope) and delivered
to this node's sockets through the fan-out fast path. The other nodes hand the envelope to
:meth:`FanoutManager.broadcast`'s path, encoding it once for all their sockets.

Not published: an emit to one of this node's own sids (the ``session`` event), an emit
with a callback, and ``ignore_queue=True`` (room changes, which the node has published
with their seq for every node to order, see :mod:`server.handlers.ordering`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.connections import UserSids
from server.fanout import FanoutManager

if TYPE_CHECKING:
    from server.cluster.node import ClusterNode


class ClusterManager(FanoutManager):
    def __init__(self, node: ClusterNode) -> None:
        super().__init__()
        self.node = node

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        target = to or room
        if (
            callback is None
            and not kwargs.get("ignore_queue")
            and not (isinstance(target, str) and self.is_sid_room(namespace, target))
        ):
            if isinstance(data, tuple):
                args = list(data)
            elif data is not None:
                args = [data]
            else:
                args = []
            skip_user = skip_sid.user_id if isinstance(skip_sid, UserSids) else None
            self.node.publish_emit(event, args, namespace, target, skip_user)
        await super().emit(
            event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to
        )

    def deliver_remote(
        self, event: str, args: list[Any], namespace: str, target: Any, skip: Any
    ) -> int:
        """An emit from another node, to this node's sockets (the fast path, no publish)."""
        return self._deliver(target, event, args, skip, namespace)
