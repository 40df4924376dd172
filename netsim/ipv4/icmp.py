"""ICMPv4: the errors a host sends and how received errors reach sockets (net/ipv4/icmp.c).

``icmp_send`` answers a packet that could not be delivered — netsim sends port unreachables
(``__udp4_lib_rcv`` with no socket) — quoting the offending IP packet, from the address it was
sent to.  It never answers an ICMP error, a non-first fragment, or a packet from a non-unicast
source.  Linux does not rate-limit errors to loopback; netsim rate-limits none.

``icmp_rcv`` verifies the checksum and hands a destination-unreachable to the transport's
``err_handler`` with the quoted header (``icmp_unreach``): for UDP that sets ``ECONNREFUSED``
on a connected socket.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Final

from ..dev.device import ETH_P_IP, LL_RESERVED_SPACE
from ..skb import (
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    SkBuff,
    alloc_skb,
    kfree_skb,
    skb_copy_bits,
    skb_put,
    skb_reserve,
)
from ..wire.checksum import csum_partial
from ..wire.icmp import ICMP_DEST_UNREACH, icmp4_error
from ..wire.ipv4 import IP_OFFSET, IPPROTO_ICMP, ip4_build_header
from .output import ip_local_out, ip_select_ident
from .protocol import INET_ERR_HANDLERS
from .route import ip_route_output

if TYPE_CHECKING:
    from ..netns import Net

__all__ = ["icmp_rcv", "icmp_send", "skb_network_bytes"]

_ERROR_TYPES: Final = frozenset(
    {3, 4, 5, 11, 12}
)  # unreach, quench, redirect, time exceeded, param


def skb_network_bytes(skb: SkBuff, limit: int) -> bytes:
    """Up to ``limit`` bytes of the packet from its network header on."""
    before = skb.data - skb.network_header
    n = min(limit, before + skb.len)
    out = bytearray(n)
    skb_copy_bits(skb, -before, out, n)
    return bytes(out)


def icmp_send(net: Net, skb_in: SkBuff, icmp_type: int, code: int, info: int = 0) -> None:
    """``__icmp_send()``: send an ICMP error about ``skb_in`` back to its source."""
    head = skb_in.head
    noff = skb_in.network_header
    frag_off = int.from_bytes(head[noff + 6 : noff + 8], "big")
    if frag_off & IP_OFFSET:
        return
    if head[noff + 9] == IPPROTO_ICMP:
        thoff = noff + (head[noff] & 0x0F) * 4
        if thoff < skb_in.tail and head[thoff] in _ERROR_TYPES:
            return
    saddr = bytes(head[noff + 12 : noff + 16])
    daddr = bytes(head[noff + 16 : noff + 20])
    if saddr[0] >= 224 or saddr == b"\0\0\0\0":
        return
    original = skb_network_bytes(skb_in, 576)
    message = icmp4_error(original, icmp_type, code, info)
    try:
        rt = ip_route_output(net, saddr, daddr)
    except OSError:
        return
    skb = alloc_skb(LL_RESERVED_SPACE + 20 + len(message), stats=net.stats, layout=net.skb_layout)
    skb_reserve(skb, LL_RESERVED_SPACE)
    start = skb_put(skb, 20 + len(message))
    skb.network_header = start
    skb.transport_header = start + 20
    skb.protocol = ETH_P_IP
    skb.head[start + 20 : start + 20 + len(message)] = message
    ident = ip_select_ident(net, None, daddr, saddr, IPPROTO_ICMP, 0, 1)
    ttl = net.sysctl_int("net.ipv4.ip_default_ttl")
    ip4_build_header(
        skb.head, start, 20 + len(message), ident, 0, ttl, IPPROTO_ICMP, rt.saddr, saddr
    )
    skb.dst = rt
    net.stats.IcmpOutMsgs += 1
    if icmp_type == ICMP_DEST_UNREACH:
        net.stats.IcmpOutDestUnreachs += 1
    with contextlib.suppress(OSError):  # no route back: the error is dropped
        ip_local_out(net, None, skb)


def icmp_rcv(net: Net, skb: SkBuff) -> None:
    """``icmp_rcv()``: check the message, count it, and pass errors to the transport."""
    stats = net.stats
    data = bytearray(skb.len)
    skb_copy_bits(skb, 0, data, skb.len)
    if len(data) < 8:
        stats.IcmpInErrors += 1
        kfree_skb(skb)
        return
    if skb.ip_summed not in (CHECKSUM_UNNECESSARY, CHECKSUM_PARTIAL) and csum_partial(data) not in (
        0,
        0xFFFF,
    ):
        stats.IcmpInErrors += 1
        kfree_skb(skb)
        return
    stats.IcmpInMsgs += 1
    icmp_type, code = data[0], data[1]
    info = int.from_bytes(data[4:8], "big")
    kfree_skb(skb)
    if icmp_type != ICMP_DEST_UNREACH:
        return
    stats.IcmpInDestUnreachs += 1
    quoted = bytes(data[8:])
    if len(quoted) < 20:
        return
    ihl = (quoted[0] & 0x0F) * 4
    if len(quoted) < ihl + 8:
        return
    err_handler = INET_ERR_HANDLERS.get(quoted[9])  # icmp_socket_deliver
    if err_handler is not None:
        err_handler(net, quoted, ihl, icmp_type, code, info)
