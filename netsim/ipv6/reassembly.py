"""IPv6 reassembly: ``ipv6_frag_rcv`` (net/ipv6/reassembly.c).

Fragments are queued by ``(saddr, daddr, identification)``.  When complete, the first
fragment becomes the head: its fragment header is removed (the IPv6 header's next header
restored from it), the other fragments — both headers pulled — go on its ``frag_list``, and
the datagram continues to ``ip6_input``.  Overlaps discard the queue (RFC 5722); incomplete
queues expire after ``net.ipv6.ip6frag_time`` seconds (``Ip6ReasmTimeout``), answered with an
ICMPv6 time exceeded if the first fragment had arrived.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..ipv4.fragment import IPFRAG_DUP, IPFRAG_OVERLAP, inet_frag_queue_insert
from ..netns.timers import Timer
from ..skb import CHECKSUM_NONE, SkBuff, kfree_skb
from ..wire.icmp import ICMPV6_TIME_EXCEED
from ..wire.ipv6 import IPV6_HLEN

if TYPE_CHECKING:
    from ..netns import Net

__all__ = ["Frag6Queue", "ipv6_frag_rcv", "ipv6_frags_flush"]

FRAG_HLEN: Final = 8
ICMPV6_EXC_FRAGTIME: Final = 1  # include/uapi/linux/icmpv6.h


class Frag6Queue:
    """``struct frag_queue``: the fragments of one IPv6 datagram."""

    __slots__ = ("frags", "key", "meat", "nexthdr", "timer", "total")

    def __init__(self, key: tuple[bytes, bytes, int]) -> None:
        self.key = key
        self.frags: list[tuple[int, int, SkBuff]] = []
        self.total = -1
        self.meat = 0
        self.nexthdr = -1
        self.timer: Timer | None = None

    def free(self) -> None:
        """Drop every queued fragment."""
        if self.timer is not None:
            self.timer.cancel()
        for _, _, skb in self.frags:
            kfree_skb(skb)
        self.frags.clear()


def _queues(net: Net) -> dict[tuple[bytes, bytes, int], Frag6Queue]:
    return net.ipv6_frags  # type: ignore[return-value]


def ipv6_frag_rcv(net: Net, skb: SkBuff) -> SkBuff | None:
    """Queue one fragment; return the reassembled datagram when complete."""
    stats = net.stats
    stats.Ip6ReasmReqds += 1
    head = skb.head
    off = skb.network_header
    fh = off + IPV6_HLEN
    if skb.len - skb.data_len < IPV6_HLEN + FRAG_HLEN:
        stats.Ip6InHdrErrors += 1
        kfree_skb(skb)
        return None
    word = int.from_bytes(head[fh + 2 : fh + 4], "big")
    offset = word & 0xFFF8
    more = bool(word & 1)
    ident = int.from_bytes(head[fh + 4 : fh + 8], "big")
    payload = skb.len - IPV6_HLEN - FRAG_HLEN
    end = offset + payload
    key = (bytes(head[off + 8 : off + 24]), bytes(head[off + 24 : off + 40]), ident)
    queues = _queues(net)
    q = queues.get(key)
    if q is None:
        q = queues[key] = Frag6Queue(key)
        timeout = net.sysctl_int("net.ipv6.ip6frag_time")
        q.timer = net.timers.add(net.now + timeout, lambda: _expire(net, key))
    bad = (more and (payload & 7 or payload <= 0)) or end > 0xFFFF
    bad = bad or (not more and q.total >= 0 and end != q.total)  # a second, different end
    bad = bad or (q.total >= 0 and end > q.total)
    if not bad and not more and q.total < 0:
        q.total = end
        bad = any(e > end for _, e, _ in q.frags)
    verdict = IPFRAG_OVERLAP if bad else inet_frag_queue_insert(q.frags, skb, offset, end)
    if verdict == IPFRAG_DUP:
        kfree_skb(skb)  # ip6_frag_queue(): a duplicate is dropped, the queue goes on
        return None
    if verdict == IPFRAG_OVERLAP:
        kfree_skb(skb)
        q.free()
        queues.pop(key, None)
        stats.Ip6ReasmFails += 1
        return None
    if offset == 0:
        q.nexthdr = head[fh]
    q.meat += payload
    if q.total < 0 or q.meat != q.total:
        return None
    return _reasm(net, q)


def _reasm(net: Net, q: Frag6Queue) -> SkBuff:
    if q.timer is not None:
        q.timer.cancel()
    _queues(net).pop(q.key, None)
    frags = q.frags
    head_skb = frags[0][2]
    head = head_skb.head
    off = head_skb.network_header
    # drop the first fragment's fragment header: move the IPv6 header forward 8 bytes
    head[off + FRAG_HLEN : off + FRAG_HLEN + IPV6_HLEN] = bytes(head[off : off + IPV6_HLEN])
    head_skb.data += FRAG_HLEN
    head_skb.len -= FRAG_HLEN
    off += FRAG_HLEN
    head_skb.network_header = off
    head_skb.transport_header = off + IPV6_HLEN
    head[off + 6] = q.nexthdr
    members = head_skb.shinfo.frag_list
    for _, _, skb in frags[1:]:
        skb.data += IPV6_HLEN + FRAG_HLEN
        skb.len -= IPV6_HLEN + FRAG_HLEN
        members.append(skb)
        head_skb.len += skb.len
        head_skb.data_len += skb.len
        head_skb.truesize += skb.truesize
    q.frags = []
    head[off + 4 : off + 6] = q.total.to_bytes(2, "big")
    head_skb.ip_summed = CHECKSUM_NONE
    net.stats.Ip6ReasmOKs += 1
    return head_skb


def _expire(net: Net, key: tuple[bytes, bytes, int]) -> None:
    """``ip6frag_expire_frag_queue()``: drop the queue; if its first fragment had arrived,
    send an ICMPv6 time exceeded (fragment reassembly time exceeded)."""
    q = _queues(net).pop(key, None)
    if q is None:
        return
    q.timer = None
    net.stats.Ip6ReasmTimeout += 1
    net.stats.Ip6ReasmFails += 1
    if q.frags and q.frags[0][0] == 0:
        from .icmp import icmpv6_send

        icmpv6_send(net, q.frags[0][2], ICMPV6_TIME_EXCEED, ICMPV6_EXC_FRAGTIME)
    q.free()


def ipv6_frags_flush(net: Net) -> None:
    """Drop every incomplete datagram (the host is closing)."""
    queues = _queues(net)
    for q in list(queues.values()):
        q.free()
    queues.clear()
