"""Software GSO for IPv4 and IPv6: ``skb_gso_segment`` → ``inet_gso_segment`` /
``ipv6_gso_segment`` → the transport's ``gso_segment`` (net/ipv4/af_inet.c,
net/ipv6/ip6_offload.c, net/ipv4/udp_offload.c).

A GSO skb that the egress device cannot segment is cut here, in software, into ordinary
packets of ``gso_size`` payload bytes: :func:`~netsim.skb.skb_segment` does the frags (each
segment references the original pages, one page reference per frag), then each protocol
fixes its header in every segment — UDP its length and checksum (``__udp_gso_segment``), IPv4
its ``tot_len``, a fresh ID per segment and the header checksum, IPv6 its payload length.
Checksums are left ``CHECKSUM_PARTIAL`` for a device that can finish them, else computed here.
The original skb is consumed; its socket charge moves to the last segment.
"""

from __future__ import annotations

from typing import Final

from ..errors import errno, kernel_error
from ..skb import (
    CHECKSUM_PARTIAL,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SKB_GSO_UDP_L4,
    SkBuff,
    kfree_skb,
    skb_segment,
)
from ..wire.checksum import csum_add, csum_partial
from ..wire.ipv4 import IPPROTO_TCP, IPPROTO_UDP, csum_tcpudp_magic
from ..wire.ipv6 import csum_ipv6_magic

__all__ = ["inet_gso_segment"]

_CSUM_FEATURES: Final = (1 << 2) | (1 << 1) | (1 << 3)  # HW_CSUM | IP_CSUM | IPV6_CSUM
_SG: Final = 1 << 0


def inet_gso_segment(skb: SkBuff, features: int) -> list[SkBuff]:
    """Segment a GSO skb whose ``data`` is at its IP header (IPv4 or IPv6)."""
    head = skb.head
    noff = skb.network_header
    version = head[noff] >> 4
    if version == 4:
        hlen = (head[noff] & 0x0F) * 4
        protocol = head[noff + 9]
    else:
        hlen = 40
        protocol = head[noff + 6]
    thoff = noff + hlen
    if protocol == IPPROTO_TCP and skb.shinfo.gso_type & (SKB_GSO_TCPV4 | SKB_GSO_TCPV6):
        l4len = (head[thoff + 12] >> 4) * 4
    elif protocol == IPPROTO_UDP and skb.shinfo.gso_type & SKB_GSO_UDP_L4:
        l4len = 8
    else:
        kfree_skb(skb)
        raise kernel_error(errno.EPROTONOSUPPORT, f"no software GSO for protocol {protocol}")
    skb.transport_header = thoff
    # skb_segment copies the bytes before data into each segment: the IP + UDP headers
    skb.data = thoff + l4len
    skb.len -= hlen + l4len
    mss = skb.shinfo.gso_size
    saved_mac = skb.mac_header
    skb.mac_header = -1
    csum_ok = bool(features & _CSUM_FEATURES)
    try:
        segs = skb_segment(skb, sg=bool(features & _SG), csum=csum_ok, transfer_owner=True)
    finally:
        skb.data = noff
        skb.len += hlen + l4len
        skb.mac_header = saved_mac
    kfree_skb(skb)
    for i, seg in enumerate(segs):
        if protocol == IPPROTO_TCP:
            _fix_tcp(seg, version, hlen, csum_ok, i, len(segs), mss)
        else:
            _fix_udp(seg, version, hlen, csum_ok)
        if version == 4:
            _fix_ipv4(seg, i)
        else:
            off = seg.network_header
            seg.head[off + 4 : off + 6] = (seg.len - 40).to_bytes(2, "big")
        seg.shinfo.gso_size = 0
        seg.shinfo.gso_segs = 0
        seg.shinfo.gso_type = 0
    return segs


def _fix_udp(seg: SkBuff, version: int, hlen: int, csum_ok: bool) -> None:
    """``__udp_gso_segment()``: each segment's length field, and its checksum."""
    head = seg.head
    thoff = seg.network_header + hlen
    seg.transport_header = thoff
    head[thoff + 4 : thoff + 6] = (seg.len - hlen).to_bytes(2, "big")
    _l4_checksum(seg, version, hlen, IPPROTO_UDP, 8, 6, csum_ok)


def _fix_tcp(
    seg: SkBuff, version: int, hlen: int, csum_ok: bool, index: int, count: int, mss: int
) -> None:
    """``tcp_gso_segment()``: each segment's sequence number advances by the payload before
    it; FIN and PSH stay on the last segment only, CWR on the first."""
    head = seg.head
    noff = seg.network_header
    thoff = noff + hlen
    seg.transport_header = thoff
    doff = (head[thoff + 12] >> 4) * 4
    if index:
        seq = (int.from_bytes(head[thoff + 4 : thoff + 8], "big") + index * mss) & 0xFFFFFFFF
        head[thoff + 4 : thoff + 8] = seq.to_bytes(4, "big")
    flags = head[thoff + 13]
    if index < count - 1:
        flags &= ~0x09  # FIN, PSH
    if index:
        flags &= ~0x80  # CWR
    head[thoff + 13] = flags
    _l4_checksum(seg, version, hlen, IPPROTO_TCP, doff, 16, csum_ok)


def _l4_checksum(
    seg: SkBuff, version: int, hlen: int, protocol: int, l4hlen: int, check_off: int, csum_ok: bool
) -> None:
    """A segment's transport checksum: with checksum offload the pseudo-header seed and
    ``CHECKSUM_PARTIAL``; without, the complete checksum — the header's sum plus the
    payload's, which ``skb_segment`` left in ``seg.csum`` (UDP sends 0 as 0xFFFF)."""
    head = seg.head
    noff = seg.network_header
    thoff = noff + hlen
    length = seg.len - hlen
    if version == 4:
        saddr, daddr = bytes(head[noff + 12 : noff + 16]), bytes(head[noff + 16 : noff + 20])
    else:
        saddr, daddr = bytes(head[noff + 8 : noff + 24]), bytes(head[noff + 24 : noff + 40])
    magic = csum_tcpudp_magic if version == 4 else csum_ipv6_magic
    where = thoff + check_off
    if csum_ok:
        seg.ip_summed = CHECKSUM_PARTIAL
        seg.csum_start = thoff
        seg.csum_offset = check_off
        check = ~magic(saddr, daddr, length, protocol, 0) & 0xFFFF
    else:
        head[where : where + 2] = b"\0\0"
        csum = csum_add(csum_partial(memoryview(head)[thoff : thoff + l4hlen]), seg.csum)
        check = magic(saddr, daddr, length, protocol, csum)
        if protocol == IPPROTO_UDP:
            check = check or 0xFFFF
    head[where : where + 2] = check.to_bytes(2, "big")


def _fix_ipv4(seg: SkBuff, index: int) -> None:
    from .output import ip_send_check

    head = seg.head
    off = seg.network_header
    head[off + 2 : off + 4] = seg.len.to_bytes(2, "big")
    ident = (int.from_bytes(head[off + 4 : off + 6], "big") + index) & 0xFFFF
    head[off + 4 : off + 6] = ident.to_bytes(2, "big")
    ip_send_check(seg)
