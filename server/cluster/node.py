"""ClusterNode: one ``parley-server`` of several sharing a database and a Redis.

It is the handlers' :class:`~server.cluster.link.NodeLink` (membership, room changes,
revocations and connection counts go to the other nodes), owns the :class:`Bus`, applies
the other nodes' envelopes here, and keeps cluster presence:

- each node holds a heartbeat key with a TTL (``cluster_node_ttl_s``), refreshed every
  ``cluster_heartbeat_s``, and its users' connection counts in ``conns:<node>``;
- connection counts change in atomic scripts (``scripts.ADMIT`` / ``RELEASE``), which also
  decide "first connection anywhere" (presence online) and "last one" (offline), and
  publish a node's ``UP`` / ``DOWN`` of a user so every node knows who is online elsewhere;
- every heartbeat, a node checks the others' keys; the first to find one expired removes
  that node (``scripts.CLAIM``) and announces offline whoever was connected only there.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from aiohttp import web

from server.cluster import envelope, scripts
from server.cluster.bus import DOWN_ERRORS, Bus
from server.cluster.limits import RedisBackoff, RedisSlots, RedisWindow
from server.cluster.link import NodeLink
from server.cluster.manager import ClusterManager
from server.config import ServerConfig
from server.storage.base import User

if TYPE_CHECKING:
    from server.chat import ChatService

logger = logging.getLogger(__name__)

# how long start-up waits for Redis before it goes on without (and /healthz says 503)
STARTUP_WAIT_S = 5.0
NAMESPACE = "/"


class ClusterNode(NodeLink):
    clustered = True

    def __init__(self, config: ServerConfig) -> None:
        assert config.redis_url, "a cluster node needs a Redis URL"
        self.config = config
        self.prefix = config.redis_prefix
        self.node_id = secrets.token_hex(envelope.NODE_ID_LEN // 2).encode()
        self.name = self.node_id.decode()
        self.channel = f"{self.prefix}bus"
        self._nodes_key = f"{self.prefix}nodes"
        self._names_key = f"{self.prefix}names"
        self._hb_key = f"{self.prefix}hb:{self.name}"
        self._conns_key = f"{self.prefix}conns:{self.name}"
        self._ttl_ms = max(100, int(config.cluster_node_ttl_s * 1000))
        self.manager = ClusterManager(self)
        self.bus = Bus(
            config.redis_url,
            self.channel,
            self.node_id,
            self._dispatch,
            self._connected,
            liveness_s=config.cluster_node_ttl_s,
        )
        redis = self.bus.redis
        self._admit = redis.register_script(scripts.ADMIT)
        self._release = redis.register_script(scripts.RELEASE)
        self._claim = redis.register_script(scripts.CLAIM)
        # node -> its online users, and user -> how many other nodes hold a connection
        self._remote: dict[str, set[int]] = {}
        self.remote_users: dict[int, int] = {}
        # connections of each local user that are counted in Redis
        self._counted: Counter[int] = Counter()
        self._chat: ChatService | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        # set before the heartbeat is cancelled: Python 3.11's asyncio.wait_for (redis-py's
        # socket writes use it) can swallow a cancel (CPython gh-86296), so the loop checks it
        self._stopping = False
        self.nodes_gone = 0
        self.upload_slots: RedisSlots | None = None

    # -- wiring ----------------------------------------------------------------------------

    @property
    def chat(self) -> ChatService:
        assert self._chat is not None, "ClusterNode.attach was not called"
        return self._chat

    def attach(self, app: web.Application, chat: ChatService) -> None:
        """Make ``chat`` a cluster member: its link, presence and shared limits."""
        from server.http_api import HEALTH_CHECKS_KEY, METRIC_SOURCES_KEY

        self._chat = chat
        chat.ctx.link = self
        chat.connections.elsewhere = self.remote_users
        # a backend that remembers rooms for sends (PostgreSQL) may do so only while the
        # other nodes' changes reach it (the bus is up; a reconnect forgets everything)
        guard = getattr(chat.storage, "guard_room_cache", None)
        if guard is not None:
            guard(lambda: self.bus.up)
        chat.messages.message_limiter.shared = RedisWindow(self, "msg")
        accounts = chat.accounts
        accounts.ip_attempts.shared = RedisWindow(self, "login-ip")
        accounts.user_failures.shared = RedisWindow(self, "login-fail")
        accounts.ip_registrations.shared = RedisWindow(self, "register-ip")
        accounts.failures.shared = RedisBackoff(self, "login-pair")
        chat.rooms.action_limiter.shared = RedisWindow(self, "room-action")
        chat.rooms.creation_limiter.shared = RedisWindow(self, "room-create")
        chat.search.limiter.shared = RedisWindow(self, "search")
        self.upload_slots = RedisSlots(self, "upload")
        chat.files.slots.shared = self.upload_slots
        app[HEALTH_CHECKS_KEY].append(self.health)
        app[METRIC_SOURCES_KEY].append(self.metric_lines)

    async def start(self) -> None:
        self.bus.start()
        self._heartbeat_task = asyncio.get_running_loop().create_task(
            self._heartbeat(), name="parley-cluster-heartbeat"
        )
        try:
            await asyncio.wait_for(self.bus.connected.wait(), STARTUP_WAIT_S)
        except TimeoutError:
            logger.warning("Redis is not reachable yet; this node serves locally until it is")
        logger.info("cluster node %s on %s", self.name, self.channel)

    async def stop(self) -> None:
        """Say goodbye: leave the node set, announce offline whoever was only here."""
        self._stopping = True
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            await asyncio.gather(self._heartbeat_task, return_exceptions=True)
            self._heartbeat_task = None
        if self.bus.up:
            try:
                await self._remove_node(self.name)
                await self.bus.redis.delete(self._hb_key)
                await self.bus.flush()
            except DOWN_ERRORS as exc:
                logger.warning("leaving the cluster cleanly failed (%s)", exc)
        await self.bus.close()

    # -- publishing (the NodeLink hooks) --------------------------------------------------

    def _publish(self, kind: bytes, body: Any) -> None:
        self.bus.publish(envelope.encode(self.node_id, kind, body))

    def publish_emit(
        self, event: str, args: list[Any], namespace: str, target: Any, skip_user: int | None
    ) -> None:
        if target is not None and not isinstance(target, str):
            target = list(target)
        self._publish(
            envelope.EMIT, {"e": event, "a": args, "ns": namespace, "to": target, "su": skip_user}
        )

    def entered(self, user_id: int, room_id: str) -> None:
        self._publish(envelope.ENTER, {"u": user_id, "r": room_id})

    def left(self, user_id: int, room_id: str) -> None:
        self._publish(envelope.LEAVE, {"u": user_id, "r": room_id})

    def rooms_changed(self, room_ids: list[str]) -> None:
        self._publish(envelope.ROOMS, room_ids)

    def change(self, room: str, seq: int, event: str, data: Any) -> None:
        self._publish(envelope.CHANGE, {"r": room, "s": seq, "e": event, "d": data})

    def revoke(self, user_id: int, token_hash: str | None, keep_sid: str | None) -> None:
        self._publish(envelope.REVOKE, {"u": user_id, "t": token_hash, "k": keep_sid})

    # -- connection counts -----------------------------------------------------------------

    async def admit(self, user: User, local_count: int, limit: int) -> tuple[bool, bool]:
        if not self.bus.up:
            return await super().admit(user, local_count, limit)
        up = envelope.encode(self.node_id, envelope.UP, user.id)
        try:
            before = await self._admit(
                keys=[self._nodes_key, self._conns_key, self._names_key],
                args=[self.name, user.id, user.name, limit, self.prefix, self.channel, up],
            )
        except DOWN_ERRORS as exc:
            self.bus.down("connection count", exc)
            return await super().admit(user, local_count, limit)
        if int(before) < 0:
            return False, False
        self._counted[user.id] += 1
        return True, int(before) == 0

    async def release(self, user: User, local_last: bool) -> bool:
        counted = self._counted.get(user.id, 0)
        if counted > 0:
            self._counted[user.id] -= 1
            if self._counted[user.id] <= 0:
                del self._counted[user.id]
        fallback = local_last and user.id not in self.remote_users
        if counted <= 0 or not self.bus.up:
            return fallback  # not in Redis (admitted while it was down): re-registering fixes it
        down = envelope.encode(self.node_id, envelope.DOWN, user.id)
        try:
            left = await self._release(
                keys=[self._nodes_key, self._conns_key],
                args=[self.name, user.id, self.prefix, self.channel, down],
            )
        except DOWN_ERRORS as exc:
            self.bus.down("connection count", exc)
            return fallback
        return int(left) == 0

    # -- the other nodes' envelopes -------------------------------------------------------

    async def _dispatch(self, node: bytes, kind: bytes, body: Any) -> None:
        chat = self.chat
        if kind == envelope.EMIT:
            su = body.get("su")
            skip = chat.connections.sids(su) if su is not None else None
            self.manager.deliver_remote(body["e"], body["a"], body["ns"], body["to"], skip)
        elif kind == envelope.CHANGE:
            await chat.ctx.change_order.broadcast(body["r"], body["s"], body["e"], body["d"])
        elif kind in (envelope.ENTER, envelope.LEAVE):
            room, user_id = body["r"], body["u"]
            await chat.storage.invalidate_rooms([room])
            sio = chat.ctx.sio
            for sid in chat.connections.sids(user_id):
                if kind == envelope.ENTER:
                    await sio.enter_room(sid, room)
                else:
                    await sio.leave_room(sid, room)
        elif kind == envelope.ROOMS:
            await chat.storage.invalidate_rooms(list(body))
        elif kind == envelope.REVOKE:
            self._cut(body["u"], body.get("t"), body.get("k"))
        elif kind == envelope.UP:
            self._remote_add(node.decode(), int(body))
        elif kind == envelope.DOWN:
            self._remote_discard(node.decode(), int(body))
        elif kind == envelope.GONE:
            # a dead node may have committed a room change it never published
            await chat.storage.invalidate_rooms(None)
            self._drop_node(str(body))
        elif kind == envelope.SYNC:
            # a node back on the bus: what it changed while off it was never published
            await chat.storage.invalidate_rooms(None)
            self._remote[node.decode()] = {int(u) for u in body}
            self._recount()

    def _cut(self, user_id: int, token_hash: str | None, keep: str | None) -> None:
        """End this node's connections of a user whose session was revoked elsewhere."""
        chat = self.chat
        for sid in chat.connections.sids(user_id):
            conn = chat.connections.get(sid)
            if sid == keep or conn is None:
                continue
            if token_hash is None or conn.token_hash == token_hash:
                chat.ctx.spawn(chat.ctx.sio.disconnect(sid))

    def _remote_add(self, node: str, user_id: int) -> None:
        users = self._remote.setdefault(node, set())
        if user_id not in users:
            users.add(user_id)
            self.remote_users[user_id] = self.remote_users.get(user_id, 0) + 1

    def _remote_discard(self, node: str, user_id: int) -> None:
        users = self._remote.get(node)
        if users is None or user_id not in users:
            return
        users.discard(user_id)
        n = self.remote_users.get(user_id, 0) - 1
        if n > 0:
            self.remote_users[user_id] = n
        else:
            self.remote_users.pop(user_id, None)

    def _drop_node(self, node: str) -> None:
        if node == self.name:
            return  # taken for dead: the heartbeat notices and registers again
        if self._remote.pop(node, None) is not None:
            self._recount()

    def _recount(self) -> None:
        counts: Counter[int] = Counter()
        for users in self._remote.values():
            counts.update(users)
        # the registry holds this very dict (ConnectionRegistry.elsewhere): update in place
        self.remote_users.clear()
        self.remote_users.update(counts)

    # -- registration, heartbeat, dead nodes --------------------------------------------------

    async def _connected(self, reconnect: bool) -> None:
        """(Re)register this node and reload who is online elsewhere (runs before ``up``)."""
        chat = self.chat
        # room changes published while this node was off the bus never reached it
        await chat.storage.invalidate_rooms(None)
        registry = chat.connections
        counts: dict[str, int] = {}
        names: dict[str, str] = {}
        for user_id in registry.users():
            sids = registry.sids(user_id)
            conn = registry.get(sids[0]) if sids else None
            if conn is not None:
                counts[str(user_id)] = len(sids)
                names[str(user_id)] = conn.user.name
        redis = self.bus.redis
        sync = envelope.encode(self.node_id, envelope.SYNC, [int(u) for u in counts])
        async with redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self._nodes_key, self.name)
            pipe.set(self._hb_key, b"1", px=self._ttl_ms)
            pipe.delete(self._conns_key)
            if counts:
                pipe.hset(self._conns_key, mapping=counts)  # type: ignore[arg-type]
                pipe.hset(self._names_key, mapping=names)  # type: ignore[arg-type]
            pipe.publish(self.channel, sync)
            pipe.smembers(self._nodes_key)
            results = await pipe.execute()
        others = sorted(m.decode() for m in results[-1] if m.decode() != self.name)
        async with redis.pipeline(transaction=False) as pipe:
            for other in others:
                pipe.hkeys(f"{self.prefix}conns:{other}")
            keys = await pipe.execute() if others else []
        self._remote = {o: {int(k) for k in ks} for o, ks in zip(others, keys, strict=True)}
        self._recount()
        self._counted = Counter({int(u): n for u, n in counts.items()})
        if reconnect and counts:
            # whoever took this node for dead announced its users offline: they are back
            chat.ctx.spawn(self._announce_local([int(u) for u in counts]))

    async def _announce_local(self, user_ids: list[int]) -> None:
        await self.bus.connected.wait()
        registry = self.chat.connections
        for user_id in user_ids:
            sids = registry.sids(user_id)
            conn = registry.get(sids[0]) if sids else None
            if conn is not None:
                await self.chat.presence.announce(conn.user, "online")

    async def _heartbeat(self) -> None:
        interval = self.config.cluster_heartbeat_s
        # not `while True`: a cancel lost in redis-py's wait_for would leave it beating on and
        # stop() waiting for it forever (see _stopping)
        while not self._stopping:
            await asyncio.sleep(interval)
            if not self.bus.up:
                continue
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except DOWN_ERRORS as exc:
                self.bus.down("heartbeat", exc)
            except Exception:
                logger.exception("cluster heartbeat failed")

    async def _beat(self) -> None:
        redis = self.bus.redis
        ping = envelope.encode(self.node_id, envelope.PING, time.monotonic())
        async with redis.pipeline(transaction=False) as pipe:
            pipe.sismember(self._nodes_key, self.name)
            pipe.set(self._hb_key, b"1", px=self._ttl_ms)
            pipe.pexpire(self._conns_key, self._ttl_ms * 30)
            pipe.smembers(self._nodes_key)
            pipe.publish(self.channel, ping)
            member, _, _, members, _ = await pipe.execute()
        if self.upload_slots is not None:
            await self.upload_slots.renew()
        if not member:
            logger.warning("node %s was taken for dead; registering again", self.name)
            self.bus.down("heartbeat", RuntimeError("this node was removed"))
            return
        others = sorted(m.decode() for m in members if m.decode() != self.name)
        if not others:
            return
        async with redis.pipeline(transaction=False) as pipe:
            for other in others:
                pipe.exists(f"{self.prefix}hb:{other}")
            alive = await pipe.execute()
        for other, ok in zip(others, alive, strict=True):
            if not ok:
                await self._remove_node(other)

    async def _remove_node(self, node: str) -> None:
        """Remove a node whose heartbeat expired (or this one, leaving); announce offline
        the users it alone held. Only one node wins the removal (``scripts.CLAIM``)."""
        gone = envelope.encode(self.node_id, envelope.GONE, node)
        result = await self._claim(
            keys=[self._nodes_key, self._names_key], args=[node, self.prefix, self.channel, gone]
        )
        self._drop_node(node)
        if result is None:
            return
        if node != self.name:
            self.nodes_gone += 1
            logger.warning("node %s stopped its heartbeat; its users go offline", node)
        pairs = list(result)
        for i in range(0, len(pairs) - 1, 2):
            user_id, name = int(pairs[i]), pairs[i + 1].decode()
            # (leaving, this node announces its own users: its sockets are closing too)
            if name and (node == self.name or not self.chat.connections.is_local(user_id)):
                await self.chat.presence.announce(User(user_id, name), "offline")

    # -- health and metrics ------------------------------------------------------------------

    async def health(self) -> str | None:
        return None if self.bus.up else "the Redis bus is unreachable"

    def metric_lines(self) -> list[str]:
        s = self.bus.stats
        online = set(self.chat.connections.users()) | set(self.remote_users)
        rows = [
            (
                "parley_bus_up",
                "gauge",
                "1 while this node is connected to the Redis bus.",
                int(self.bus.up),
            ),
            (
                "parley_bus_published_total",
                "counter",
                "Envelopes this node published.",
                s.published,
            ),
            (
                "parley_bus_received_total",
                "counter",
                "Envelopes received from other nodes.",
                s.received,
            ),
            (
                "parley_bus_dropped_total",
                "counter",
                "Envelopes not published because Redis was unreachable.",
                s.dropped,
            ),
            (
                "parley_bus_malformed_total",
                "counter",
                "Unreadable messages on the channel.",
                s.malformed,
            ),
            (
                "parley_bus_reconnects_total",
                "counter",
                "Reconnections to the bus after an outage.",
                s.reconnects,
            ),
            (
                "parley_bus_lag_seconds",
                "gauge",
                "This node's last heartbeat ping, from publish to its own receipt.",
                f"{s.lag_s:.6f}",
            ),
            (
                "parley_bus_lag_max_seconds",
                "gauge",
                "The largest bus lag seen since start.",
                f"{s.lag_max_s:.6f}",
            ),
            (
                "parley_cluster_nodes",
                "gauge",
                "Live nodes this node knows of, itself included.",
                1 + len(self._remote),
            ),
            ("parley_cluster_online_users", "gauge", "Users connected to any node.", len(online)),
            (
                "parley_cluster_nodes_gone_total",
                "counter",
                "Nodes this node found dead (expired heartbeat) and removed.",
                self.nodes_gone,
            ),
        ]
        lines: list[str] = []
        for name, kind, text, value in rows:
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return lines
