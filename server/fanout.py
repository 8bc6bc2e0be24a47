"""A Socket.IO client manager whose room broadcasts are encoded and framed once.

python-socketio's ``AsyncManager.emit`` encodes a broadcast once but then creates one task
per recipient (``_send_eio_packet`` -> ``send_packet`` -> ``socket.send`` -> ``queue.put``)
and waits for all of them. :meth:`FanoutManager.broadcast` does no per-recipient task work:

- websocket recipients whose :class:`~server.ws_writer.SocketWriter` is attached get the
  broadcast's websocket frames, built once (server frames are unmasked, so they are the
  same bytes for everyone, binary attachments included), appended to their pending bytes
  and written on the writer's per-loop-turn flush;
- every other recipient (long-polling, or mid-upgrade before its writer attaches) gets the
  once-encoded engine.io packet appended to its queue, as ``socket.send`` would after its
  ping check. Binary attachments get a packet per such recipient: engine.io caches a
  packet's encoding, and polling (base64) and websocket (raw) encode binary differently.

Both paths append synchronously at the moment of the broadcast, which is what keeps a
socket's order (see ``server.ws_writer``). Emits with a callback keep the stock path (each
needs its own ack id).

:meth:`FanoutManager.broadcast` is a plain synchronous method taking
``(room, event, payload, skip_sid)``: a cluster bus subscriber (e.g. Redis pub/sub) that
receives a broadcast from another node calls it to deliver to this node's sockets through
the same fast path.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from server.ws_writer import OutboundQueue, packet_frame, parts_size

logger = logging.getLogger(__name__)


class FanoutManager(socketio.AsyncManager):  # type: ignore[misc]
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
        if callback is not None:
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to
            )
            return
        if isinstance(data, tuple):
            args = list(data)
        elif data is not None:
            args = [data]
        else:
            args = []
        self._deliver(to or room, event, args, skip_sid, namespace)

    def broadcast(
        self,
        room: Any,
        event: str,
        payload: Any,
        skip_sid: Any = None,
        namespace: str = "/",
    ) -> int:
        """Deliver ``event`` with ``payload`` to every socket in ``room``; returns how many.

        ``room`` None means every socket of the namespace. Synchronous: nothing awaits
        between the first and the last recipient, so a broadcast is one step in every
        recipient's order. Call it on the server's event loop (a bus subscriber task is);
        from another thread use ``loop.call_soon_threadsafe``.
        """
        return self._deliver(room, event, [payload], skip_sid, namespace)

    def _deliver(
        self, room: Any, event: str, args: list[Any], skip_sid: Any, namespace: str
    ) -> int:
        if namespace not in self.rooms:
            return 0
        if skip_sid is None:
            skip: frozenset[Any] | set[Any] = frozenset()
        elif isinstance(skip_sid, list):
            skip = set(skip_sid)
        else:
            skip = {skip_sid}
        pkt = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, *args])
        encoded = pkt.encode()
        if not isinstance(encoded, list):
            encoded = [encoded]
        text_only = all(isinstance(p, str) for p in encoded)
        shared = [eio_packet.Packet(eio_packet.MESSAGE, p) for p in encoded]
        ws_parts: list[bytes] = []
        for p in shared:
            p.encode()  # engine.io caches a text encoding: done once here, not per writer
            ws_parts.extend(packet_frame(p))
        frames = tuple(ws_parts)
        size = parts_size(frames)
        sockets = self.server.eio.sockets
        delivered = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            delivered += 1
            queue = sock.queue
            writer = queue.writer if isinstance(queue, OutboundQueue) else None
            if writer is not None:
                writer.append(frames, size)
                continue
            pkts = (
                shared if text_only else [eio_packet.Packet(eio_packet.MESSAGE, p) for p in encoded]
            )
            for p in pkts:
                queue.put_nowait(p)
        return delivered
