"""IPv4 input: ``ip_rcv`` → (``ip_defrag``) → ``ip_local_deliver`` → the transport
(net/ipv4/ip_input.c).

``ip_rcv_core`` checks the header — version, length, and the header checksum, which Linux
verifies on every packet, loopback included — trims link padding, and drops what is not for a
local address (a host does not forward).  Fragments go to reassembly; whole datagrams have
their header pulled and go to the protocol handler (UDP, ICMP, TCP), counted as
``IpInDelivers``.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final

from ..skb import SkBuff, kfree_skb, pskb_trim
from ..wire.ipv4 import IP_MF, IP_OFFSET
from .fragment import ip_defrag
from .protocol import INET_PROTOS
from .route import inet_addr_is_local

if TYPE_CHECKING:
    from ..netns import Net

# version/ihl, tos, tot_len, id, frag_off, ttl, protocol, check, (saddr skipped), daddr
_IPH: Final = struct.Struct("!BBHHHBBH4x4s")

__all__ = ["INET_PROTOS", "ip_local_deliver", "ip_rcv"]


def ip_rcv(net: Net, skb: SkBuff) -> None:
    """``ip_rcv()`` + ``ip_rcv_finish()`` for a locally destined packet."""
    stats = net.stats
    stats.IpInReceives += 1
    head = skb.head
    off = skb.data
    headlen = skb.len - skb.data_len
    if headlen < 20:
        stats.IpInHdrErrors += 1
        kfree_skb(skb)
        return
    ver_ihl, _tos, tot_len, _id, frag_off, _ttl, _proto, _check, daddr = _IPH.unpack_from(head, off)
    hlen = (ver_ihl & 0x0F) * 4
    # ip_fast_csum(): the header's one's-complement sum must be 0xFFFF; as one big integer the
    # header is congruent to that sum mod 0xFFFF, so a valid header is 0 mod 0xFFFF (and the
    # version nibble keeps a header of zeros out)
    if (
        ver_ihl >> 4 != 4
        or hlen < 20
        or headlen < hlen
        or int.from_bytes(head[off : off + hlen], "big") % 0xFFFF
    ):
        stats.IpInHdrErrors += 1
        kfree_skb(skb)
        return
    if skb.len < tot_len or tot_len < hlen:
        stats.IpInHdrErrors += 1
        kfree_skb(skb)
        return
    if skb.len > tot_len:
        pskb_trim(skb, tot_len)
    skb.network_header = off
    skb.transport_header = off + hlen
    if not inet_addr_is_local(net, daddr):
        stats.IpInAddrErrors += 1
        kfree_skb(skb)
        return
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
