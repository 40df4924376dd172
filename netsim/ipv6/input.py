"""IPv6 input: ``ipv6_rcv`` → (``ipv6_frag_rcv``) → ``ip6_input`` → the transport
(net/ipv6/ip6_input.c).

The fixed header is checked (version, payload length), link padding trimmed, packets not for
this host dropped.  A fragment header sends the packet to reassembly; UDP, ICMPv6 and TCP go to
their handlers with the header pulled.  Other extension headers are not modelled (counted as
``Ip6InUnknownProtos``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..skb import SkBuff, kfree_skb, pskb_trim
from ..wire.ipv4 import IPPROTO_FRAGMENT
from ..wire.ipv6 import IPV6_HLEN
from .protocol import INET6_PROTOS
from .reassembly import ipv6_frag_rcv
from .route import ipv6_addr_is_local

if TYPE_CHECKING:
    from ..netns import Net

__all__ = ["INET6_PROTOS", "ip6_input", "ipv6_rcv"]


def ipv6_rcv(net: Net, skb: SkBuff) -> None:
    """``ipv6_rcv()`` + ``ip6_rcv_finish()`` for a locally destined packet."""
    stats = net.stats
    stats.Ip6InReceives += 1
    head = skb.head
    off = skb.data
    if skb.len - skb.data_len < IPV6_HLEN or head[off] >> 4 != 6:
        stats.Ip6InHdrErrors += 1
        kfree_skb(skb)
        return
    payload = int.from_bytes(head[off + 4 : off + 6], "big")
    if payload + IPV6_HLEN > skb.len:
        stats.Ip6InHdrErrors += 1
        kfree_skb(skb)
        return
    if skb.len > payload + IPV6_HLEN:
        pskb_trim(skb, payload + IPV6_HLEN)
    skb.network_header = off
    skb.transport_header = off + IPV6_HLEN
    if not ipv6_addr_is_local(net, bytes(head[off + 24 : off + 40])):
        stats.Ip6InAddrErrors += 1
        kfree_skb(skb)
        return
    if head[off + 6] == IPPROTO_FRAGMENT:
        whole = ipv6_frag_rcv(net, skb)
        if whole is None:
            return
        skb = whole
    ip6_input(net, skb)


def ip6_input(net: Net, skb: SkBuff) -> None:
    """``ip6_input_finish()``: pull the header, deliver by next header."""
    head = skb.head
    off = skb.network_header
    nexthdr = head[off + 6]
    skb.data = off + IPV6_HLEN
    skb.len -= IPV6_HLEN
    skb.transport_header = skb.data
    handler = INET6_PROTOS.get(nexthdr)
    if handler is None:
        net.stats.Ip6InUnknownProtos += 1
        kfree_skb(skb)
        return
    net.stats.Ip6InDelivers += 1
    handler(net, skb)
