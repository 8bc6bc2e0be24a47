"""The client's address for per-IP limits, believing X-Forwarded-For only from trusted proxies.

A header any client can write must not choose its own rate-limit bucket, so forwarded hops
are read right to left and only while the hop that added them is a configured proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Sequence[str]) -> list[Network]:
    """``--trusted-proxy`` values: addresses or CIDR networks; a bad one raises ValueError."""
    return [ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip()]


def _trusted(addr: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The first untrusted hop walking back from the TCP peer (the peer itself by default)."""
    addr = peer or "unknown"
    if not trusted or not forwarded_for or not _trusted(addr, trusted):
        return addr
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return addr  # garbage in the chain: stop at the last hop we can vouch for
        if not _trusted(hop, trusted):
            return hop
        addr = hop
    return addr
