"""IPv4 reassembly: ``ip_defrag`` (net/ipv4/ip_fragment.c, net/ipv4/inet_fragment.c).

Fragments are queued by ``(saddr, daddr, id, protocol)``.  When the last byte and every hole
are filled, the fragment at offset 0 becomes the head: the others, their IP headers pulled, are
chained on its ``frag_list`` (no payload is copied), its header gets the full ``tot_len`` and no
fragment bits, and the whole datagram goes on to ``ip_local_deliver``.  As in Linux since the
FragmentSmack fixes, a fragment that partly overlaps what is queued discards the whole queue;
one that lies wholly inside a run of queued bytes — a duplicate, as a network that duplicates
packets delivers — is dropped alone and the queue kept (``inet_frag_queue_insert``,
net/ipv4/inet_fragment.c).  A queue not completed
within ``net.ipv4.ipfrag_time`` seconds is dropped (``IpReasmTimeout``, ``IpReasmFails``)
and, if its first fragment had arrived, answered with an ICMP time exceeded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..netns.timers import Timer
from ..skb import CHECKSUM_NONE, SkBuff, kfree_skb
from ..wire.icmp import ICMP_TIME_EXCEEDED
from ..wire.ipv4 import IP_MF, IP_OFFSET
from .output import ip_send_check

if TYPE_CHECKING:
    from ..netns import Net

__all__ = [
    "IPFRAG_DUP",
    "IPFRAG_OK",
    "IPFRAG_OVERLAP",
    "FragQueue",
    "inet_frag_queue_insert",
    "ip_defrag",
    "ipv4_frags_flush",
]

ICMP_EXC_FRAGTIME: Final = 1  # include/uapi/linux/icmp.h

# inet_frag_queue_insert()'s answers (include/net/inet_frag.h)
IPFRAG_OK: Final = 0
IPFRAG_DUP: Final = 1
IPFRAG_OVERLAP: Final = 2


def inet_frag_queue_insert(
    frags: list[tuple[int, int, SkBuff]], skb: SkBuff, offset: int, end: int
) -> int:
    """``inet_frag_queue_insert()`` (net/ipv4/inet_fragment.c): put ``[offset, end)`` in the
    offset-sorted ``frags``, or say why not.  Queued fragments that touch form *runs*; a new
    fragment wholly inside one run is a duplicate (``IPFRAG_DUP``: the caller drops it and
    keeps the queue), one that overlaps any queued byte otherwise is ``IPFRAG_OVERLAP`` (the
    caller discards the queue)."""
    run_start = run_end = -1
    for o, e, _ in frags:
        if o == run_end:
            run_end = e
        else:
            if run_start <= offset and end <= run_end:
                return IPFRAG_DUP
            run_start, run_end = o, e
    if run_start <= offset and end <= run_end:
        return IPFRAG_DUP
    for o, e, _ in frags:
        if offset < e and o < end:
            return IPFRAG_OVERLAP
    frags.append((offset, end, skb))
    frags.sort(key=lambda t: t[0])
    return IPFRAG_OK


class FragQueue:
    """``struct ipq``: the fragments of one datagram received so far."""

    __slots__ = ("frags", "key", "last_seen", "meat", "timer", "total")

    def __init__(self, key: tuple[bytes, bytes, int, int]) -> None:
        self.key = key
        self.frags: list[tuple[int, int, SkBuff]] = []  # (offset, end, skb) sorted
        self.total = -1  # known once the last fragment (MF clear) arrives
        self.meat = 0
        self.last_seen = False
        self.timer: Timer | None = None

    def free(self) -> None:
        """Drop every queued fragment."""
        if self.timer is not None:
            self.timer.cancel()
        for _, _, skb in self.frags:
            kfree_skb(skb)
        self.frags.clear()


def _queues(net: Net) -> dict[tuple[bytes, bytes, int, int], FragQueue]:
    return net.ipv4_frags  # type: ignore[return-value]


def ip_defrag(net: Net, skb: SkBuff) -> SkBuff | None:
    """Queue one fragment; return the reassembled datagram when complete, else ``None``."""
    stats = net.stats
    stats.IpReasmReqds += 1
    head = skb.head
    off = skb.network_header
    hlen = (head[off] & 0x0F) * 4
    frag_word = int.from_bytes(head[off + 6 : off + 8], "big")
    offset = (frag_word & IP_OFFSET) << 3
    more = bool(frag_word & IP_MF)
    payload = skb.len - hlen
    end = offset + payload
    key = (bytes(head[off + 12 : off + 16]), bytes(head[off + 16 : off + 20]),
           int.from_bytes(head[off + 4 : off + 6], "big"), head[off + 9])  # fmt: skip
    queues = _queues(net)
    q = queues.get(key)
    if q is None:
        q = queues[key] = FragQueue(key)
        timeout = net.sysctl_int("net.ipv4.ipfrag_time")
        q.timer = net.timers.add(net.now + timeout, lambda: _expire(net, key))
    if (
        (more and (payload & 7 or payload <= 0))
        or (not more and q.total >= 0 and end != q.total)  # a second, different end
        or (q.total >= 0 and end > q.total)
    ):
        return _fail(net, q, skb)
    if not more and q.total < 0:
        if end + hlen > 0xFFFF:  # "Oversized IP packet"
            return _fail(net, q, skb)
        q.total = end
        if any(e > end for _, e, _ in q.frags):
            return _fail(net, q, skb)
    verdict = inet_frag_queue_insert(q.frags, skb, offset, end)
    if verdict == IPFRAG_DUP:
        kfree_skb(skb)  # SKB_DROP_REASON_DUP_FRAG: the queue goes on
        return None
    if verdict == IPFRAG_OVERLAP:
        return _fail(net, q, skb)
    q.meat += payload
    if q.total < 0 or q.meat != q.total:
        return None
    return _reasm(net, q)


def _fail(net: Net, q: FragQueue, skb: SkBuff) -> SkBuff | None:
    kfree_skb(skb)
    q.free()
    _queues(net).pop(q.key, None)
    net.stats.IpReasmFails += 1
    return None


def _reasm(net: Net, q: FragQueue) -> SkBuff:
    """``ip_frag_reasm()``: chain the fragments behind the first one."""
    if q.timer is not None:
        q.timer.cancel()
    _queues(net).pop(q.key, None)
    frags = q.frags
    head_skb = frags[0][2]
    hoff = head_skb.network_header
    hlen = (head_skb.head[hoff] & 0x0F) * 4
    members = head_skb.shinfo.frag_list
    for _, _, skb in frags[1:]:
        fhlen = (skb.head[skb.network_header] & 0x0F) * 4
        skb.data += fhlen
        skb.len -= fhlen
        members.append(skb)
        head_skb.len += skb.len
        head_skb.data_len += skb.len
        head_skb.truesize += skb.truesize
    q.frags = []
    head = head_skb.head
    head[hoff + 2 : hoff + 4] = (hlen + q.total).to_bytes(2, "big")
    head[hoff + 6 : hoff + 8] = b"\0\0"
    ip_send_check(head_skb)
    head_skb.ip_summed = CHECKSUM_NONE
    net.stats.IpReasmOKs += 1
    return head_skb


def _expire(net: Net, key: tuple[bytes, bytes, int, int]) -> None:
    """``ip_expire()``: drop the queue; if its first fragment had arrived, tell the sender
    with an ICMP time exceeded (fragment reassembly time exceeded)."""
    q = _queues(net).pop(key, None)
    if q is None:
        return
    q.timer = None
    net.stats.IpReasmTimeout += 1
    net.stats.IpReasmFails += 1
    if q.frags and q.frags[0][0] == 0:
        from .icmp import icmp_send

        icmp_send(net, q.frags[0][2], ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME)
    q.free()


def ipv4_frags_flush(net: Net) -> None:
    """Drop every incomplete datagram (the host is closing)."""
    queues = _queues(net)
    for q in list(queues.values()):
        q.free()
    queues.clear()
