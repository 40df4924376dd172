"""IPv4 input: ``ip_rcv`` → (``ip_defrag``) → ``ip_local_deliver`` → the transport
(net/ipv4/ip_input.c).

``ip_rcv_core`` checks the header — version, length, and the header checksum, which Linux
verifies on every packet, loopback included — trims link padding, and drops what is not for a
local address (a host does not forward).  Fragments go to reassembly; whole datagrams have
their header pulled and go to the protocol handler (UDP, ICMP, TCP), counted as
``IpInDelivers``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..skb import SkBuff, kfree_skb, pskb_trim
from ..tcp.input import tcp_v4_rcv
from ..udp.input import udp_rcv
from ..wire.checksum import csum_partial
from ..wire.ipv4 import IP_MF, IP_OFFSET, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP
from .fragment import ip_defrag
from .icmp import icmp_rcv
from .route import inet_addr_is_local

if TYPE_CHECKING:
    from ..netns import Net

__all__ = ["INET_PROTOS", "ip_local_deliver", "ip_rcv"]


def ip_rcv(net: Net, skb: SkBuff) -> None:
    """``ip_rcv()`` + ``ip_rcv_finish()`` for a locally destined packet."""
    stats = net.stats
    stats.IpInReceives += 1
    head = skb.head
    off = skb.data
    headlen = skb.len - skb.data_len
    if headlen < 20 or head[off] >> 4 != 4:
        stats.IpInHdrErrors += 1
        kfree_skb(skb)
        return
    hlen = (head[off] & 0x0F) * 4
    if hlen < 20 or headlen < hlen or csum_partial(memoryview(head)[off : off + hlen]) != 0xFFFF:
        stats.IpInHdrErrors += 1
        kfree_skb(skb)
        return
    tot_len = int.from_bytes(head[off + 2 : off + 4], "big")
    if skb.len < tot_len or tot_len < hlen:
        stats.IpInHdrErrors += 1
        kfree_skb(skb)
        return
    if skb.len > tot_len:
        pskb_trim(skb, tot_len)
    skb.network_header = off
    skb.transport_header = off + hlen
    daddr = bytes(head[off + 16 : off + 20])
    if not inet_addr_is_local(net, daddr):
        stats.IpInAddrErrors += 1
        kfree_skb(skb)
        return
    frag_off = int.from_bytes(head[off + 6 : off + 8], "big")
    if frag_off & (IP_MF | IP_OFFSET):
        whole = ip_defrag(net, skb)
        if whole is None:
            return
        skb = whole
    ip_local_deliver(net, skb)


def ip_local_deliver(net: Net, skb: SkBuff) -> None:
    """``ip_local_deliver_finish()``: pull the IP header and hand the skb to its protocol."""
    head = skb.head
    off = skb.network_header
    hlen = (head[off] & 0x0F) * 4
    protocol = head[off + 9]
    skb.data = off + hlen
    skb.len -= hlen
    skb.transport_header = skb.data
    handler = INET_PROTOS.get(protocol)
    if handler is None:
        net.stats.IpInUnknownProtos += 1
        kfree_skb(skb)
        return
    net.stats.IpInDelivers += 1
    handler(net, skb)


#: ``inet_protos[]``: the transport receive handlers by IP protocol number.
INET_PROTOS: dict[int, Callable[[Net, SkBuff], None]] = {
    IPPROTO_UDP: udp_rcv,
    IPPROTO_ICMP: icmp_rcv,
    IPPROTO_TCP: tcp_v4_rcv,
}
