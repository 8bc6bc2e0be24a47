"""Cut a user's sessions on every node from outside the cluster (``parley-server admin``).

An admin command changes the database (tokens deleted, user disabled) and then publishes
the same ``REVOKE`` envelope a node publishes on logout, so every running node closes that
user's connections at once instead of at their next reconnect.
"""

from __future__ import annotations

import secrets

from server.cluster import envelope


async def publish_revoke(
    redis_url: str, prefix: str, user_id: int, token_hash: str | None = None
) -> int:
    """Publish the revocation; returns how many nodes were subscribed to hear it."""
    import redis.asyncio as aioredis

    sender = secrets.token_hex(envelope.NODE_ID_LEN // 2).encode()
    raw = envelope.encode(sender, envelope.REVOKE, {"u": user_id, "t": token_hash, "k": None})
    client = aioredis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=5)
    try:
        return int(await client.publish(f"{prefix}bus", raw))
    finally:
        await client.aclose()
