"""A Socket.IO client manager whose room broadcasts do no per-recipient task work.

python-socketio's ``AsyncManager.emit`` encodes a broadcast once but then creates one task
per recipient (``_send_eio_packet`` -> ``send_packet`` -> ``socket.send`` -> ``queue.put``)
and waits for all of them. The queue is unbounded, so every one of those tasks only
appends to it. This manager appends the once-encoded engine.io packet to each recipient's
queue directly: same queue, same writer task, same order, a fraction of the loop work per
delivery. Emits with a callback keep the stock path (each needs its own ack id).
"""

from __future__ import annotations

import logging
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

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
        room = to or room
        if namespace not in self.rooms:
            return
        if isinstance(data, tuple):
            args = list(data)
        elif data is not None:
            args = [data]
        else:
            args = []
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
        for p in shared:
            p.encode()  # engine.io caches the encoding: done once here, not per writer
        sockets = self.server.eio.sockets
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            # engine.io caches a binary packet's encoding too, and it differs between
            # websocket (raw) and polling (base64): binary attachments get a packet each
            pkts = (
                shared if text_only else [eio_packet.Packet(eio_packet.MESSAGE, p) for p in encoded]
            )
            # what socket.send does after its ping check (the service task checks pings)
            for p in pkts:
                sock.queue.put_nowait(p)
