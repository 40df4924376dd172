"""``struct inet_cork``: the state of a datagram being built by ``ip_append_data`` /
``ip6_append_data`` (include/net/inet_sock.h).

While a UDP socket is corked (``MSG_MORE`` or ``UDP_CORK``) the pieces of one datagram sit on
``sk_write_queue`` — one skb per future IP fragment — and the cork remembers the route, the
fragment size (the path MTU), the GSO size and the total length so far.  An uncorked send uses
a private cork and queue (``ip_make_skb``).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..skb import SkBuff

__all__ = ["InetCork"]


class InetCork:
    """``struct inet_cork`` (+ the flow: addresses and ports)."""

    __slots__ = (
        "daddr",
        "dontfrag",
        "dport",
        "dst",
        "fragsize",
        "gso_size",
        "hop_limit",
        "length",
        "queue",
        "saddr",
        "sport",
        "tos",
        "ttl",
    )

    def __init__(self) -> None:
        self.dst: Any = None  # the route (ipv4.Rtable / ipv6.Rt6Info)
        self.fragsize = 0
        self.gso_size = 0
        self.length = 0
        self.ttl = 0
        self.hop_limit = 0
        self.tos = 0
        self.dontfrag = False
        self.saddr = b""
        self.daddr = b""
        self.sport = 0
        self.dport = 0
        self.queue: deque[SkBuff] = deque()

    def release(self) -> None:
        """``ip_cork_release``: forget the route."""
        self.dst = None
        self.length = 0
