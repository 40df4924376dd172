"""UDP receive: ``__udp4_lib_rcv`` / ``__udp6_lib_rcv``, the receive queue, ``udp_recvmsg``,
and ICMP errors (``__udp4_lib_err``) — net/ipv4/udp.c, net/ipv6/udp.c.

* A datagram is checked (length), matched to the best socket (:func:`~netsim.udp.proto.
  udp_lookup`) or answered with an ICMP port unreachable (``UdpNoPorts``).
* ``__udp_enqueue_schedule_skb``: it is queued, charged to ``sk_rmem_alloc``, unless the
  queue is non-empty and would go over ``sk_rcvbuf`` — then it is dropped and counted
  (``UdpRcvbufErrors``, ``UdpInErrors``).  A GSO skb (``UDP_SEGMENT`` over loopback) is cut
  into its datagrams first unless the socket set ``UDP_GRO``.
* The checksum of a datagram that arrived ``CHECKSUM_NONE`` is verified when it is read
  (``skb_copy_and_csum_datagram_msg``); a bad one is dropped then (``UdpInCsumErrors``) and
  the next one is read.  ``UdpInDatagrams`` counts datagrams *read*, as Linux does.
* A port unreachable for a datagram a **connected** socket sent sets ``ECONNREFUSED`` on it,
  reported by its next send or receive; unconnected sockets ignore it unless ``IP_RECVERR``.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final

from ..errors import errno, kernel_error
from ..ipv4.protocol import inet_add_protocol
from ..ipv6.protocol import inet6_add_protocol
from ..skb import (
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    SKB_GSO_UDP_L4,
    SkBuff,
    kfree_skb,
    pskb_trim,
    skb_copy_bits,
)
from ..sock.constants import AF_INET, AF_INET6, MSG_PEEK, MSG_TRUNC, SIOCINQ, SIOCOUTQ
from ..sock.sock import (
    RCV_SHUTDOWN,
    TCP_ESTABLISHED,
    WAIT_DATA,
    Sock,
    SockWait,
    skb_set_owner_r,
    sock_error,
)
from ..wire.checksum import csum_fold, csum_partial
from ..wire.ipv4 import IPPROTO_UDP, ip4_pseudo_csum
from ..wire.ipv6 import ip6_pseudo_csum
from .proto import udp_lookup

if TYPE_CHECKING:
    from ..netns import Net

__all__ = [
    "udp_err",
    "udp_ioctl",
    "udp_queue_rcv_skb",
    "udp_rcv",
    "udp_recv_would_wait",
    "udp_recvmsg",
    "udpv6_rcv",
]

UDP_HLEN: Final = 8
_UDPH: Final = struct.Struct("!HHHH")  # source port, destination port, length, checksum
ICMP_DEST_UNREACH: Final = 3
ICMP_PORT_UNREACH: Final = 3
ICMPV6_DEST_UNREACH: Final = 1
ICMPV6_PORT_UNREACH: Final = 4


def udp_rcv(net: Net, skb: SkBuff) -> None:
    """``udp_rcv()``: a UDP datagram over IPv4, ``data`` at the UDP header."""
    _udp_lib_rcv(net, skb, v6=False)


def udpv6_rcv(net: Net, skb: SkBuff) -> None:
    """``udpv6_rcv()``."""
    _udp_lib_rcv(net, skb, v6=True)


def _addresses(skb: SkBuff, v6: bool) -> tuple[bytes, bytes]:
    head = skb.head
    off = skb.network_header
    if v6:
        return bytes(head[off + 8 : off + 24]), bytes(head[off + 24 : off + 40])
    return bytes(head[off + 12 : off + 16]), bytes(head[off + 16 : off + 20])


def _count(net: Net, v6: bool, name: str) -> None:
    key = ("Udp6" if v6 else "Udp") + name
    setattr(net.stats, key, getattr(net.stats, key) + 1)


def _udp_lib_rcv(net: Net, skb: SkBuff, v6: bool) -> None:
    head = skb.head
    off = skb.data
    if skb.len < UDP_HLEN or skb.len - skb.data_len < UDP_HLEN:
        _count(net, v6, "InErrors")
        kfree_skb(skb)
        return
    sport, dport, ulen, check = _UDPH.unpack_from(head, off)
    if v6 and ulen == 0 and skb.len > 0xFFFF:
        ulen = skb.len  # jumbogram
    if ulen > skb.len or ulen < UDP_HLEN:
        _count(net, v6, "InErrors")
        kfree_skb(skb)
        return
    if ulen < skb.len:
        pskb_trim(skb, ulen)
    if v6 and check == 0 and skb.ip_summed not in (CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY):
        _count(net, v6, "InErrors")
        kfree_skb(skb)
        return
    saddr, daddr = _addresses(skb, v6)
    sk = udp_lookup(net, AF_INET6 if v6 else AF_INET, saddr, sport, daddr, dport)
    if sk is None:
        if not _checksum_ok(skb, v6):
            _count(net, v6, "InCsumErrors")
            _count(net, v6, "InErrors")
            kfree_skb(skb)
            return
        _count(net, v6, "NoPorts")
        if v6:
            from ..ipv6.icmp import icmpv6_send

            icmpv6_send(net, skb, ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH)
        else:
            from ..ipv4.icmp import icmp_send

            icmp_send(net, skb, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH)
        kfree_skb(skb)
        return
    udp_queue_rcv_skb(sk, skb, v6)


def _checksum_ok(skb: SkBuff, v6: bool) -> bool:
    """``udp_lib_checksum_complete() == 0``: PARTIAL/UNNECESSARY skbs and IPv4 zero
    checksums pass; otherwise the whole datagram is summed with the pseudo header."""
    if skb.ip_summed in (CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY):
        return True
    head = skb.head
    off = skb.data
    if not v6 and head[off + 6] == 0 and head[off + 7] == 0:
        return True
    data = bytearray(skb.len)
    skb_copy_bits(skb, 0, data, skb.len)
    saddr, daddr = _addresses(skb, v6)
    if v6:
        pseudo = ip6_pseudo_csum(saddr, daddr, skb.len, IPPROTO_UDP)
    else:
        pseudo = ip4_pseudo_csum(saddr, daddr, skb.len, IPPROTO_UDP)
    return csum_fold(csum_partial(data, pseudo)) == 0


def udp_queue_rcv_skb(sk: Sock, skb: SkBuff, v6: bool) -> None:
    """``udp_queue_rcv_skb()``: segment an unexpected GSO skb, then queue each datagram."""
    shinfo = skb.shinfo
    if (
        shinfo.gso_size
        and shinfo.gso_type & SKB_GSO_UDP_L4
        and not getattr(sk, "gro_enabled", False)
    ):
        from ..ipv4.offload import inet_gso_segment

        hlen = skb.data - skb.network_header
        skb.data = skb.network_header
        skb.len += hlen
        for seg in inet_gso_segment(skb, (1 << 0) | (1 << 2)):
            seg.data = seg.transport_header
            seg.len -= hlen
            _enqueue(sk, seg, v6)
        return
    _enqueue(sk, skb, v6)


def _enqueue(sk: Sock, skb: SkBuff, v6: bool) -> None:
    """``__udp_enqueue_schedule_skb()``: charge and queue, or drop on a full ``sk_rcvbuf``."""
    rmem = sk.sk_rmem_alloc
    # (no RCV_SHUTDOWN test: Linux keeps queueing after shutdown(SHUT_RD))
    if (rmem + skb.truesize > sk.sk_rcvbuf and rmem) or sk.closed:
        _count(sk.net, v6, "RcvbufErrors")
        _count(sk.net, v6, "InErrors")
        kfree_skb(skb)
        return
    skb_set_owner_r(skb, sk)
    sk.sk_receive_queue.append(skb)
    sk.sk_data_ready()


def udp_ioctl(sk: Sock, cmd: int) -> int:
    """``udp_ioctl()`` (net/ipv4/udp.c): ``SIOCOUTQ`` is what the socket's skbs still hold
    below it (``sk_wmem_alloc_get``); ``SIOCINQ`` the payload size of the next datagram, 0
    with none (``first_packet_length``, which first drops datagrams with a bad checksum, as
    ``recv`` would).  Any other request is ``ENOTTY``."""
    if cmd == SIOCOUTQ:
        return sk.sk_wmem_alloc
    if cmd != SIOCINQ:
        raise kernel_error(errno.ENOTTY)
    queue = sk.sk_receive_queue
    while queue:
        skb = queue[0]
        v6 = skb.head[skb.network_header] >> 4 == 6
        if _checksum_ok(skb, v6):
            return skb.len - UDP_HLEN
        queue.popleft()
        _count(sk.net, v6, "InCsumErrors")
        _count(sk.net, v6, "InErrors")
        kfree_skb(skb)
    return 0


_NO_NAME: Final = (b"", 0)


def udp_recv_would_wait(sk: Sock) -> bool:
    """Would a blocking :func:`udp_recvmsg` sleep now (``__skb_wait_for_more_packets``)?
    Nothing queued, no error to report, not shut down for reading: the runtime tests this
    first and sleeps at once, rather than having the core raise :class:`SockWait` per wait."""
    return (
        not sk.sk_receive_queue
        and not sk.sk_err
        and not sk.sk_shutdown & RCV_SHUTDOWN
        and not sk.closed
    )


def udp_recvmsg(
    sk: Sock,
    bufsize: int,
    flags: int,
    nonblock: bool,
    into: memoryview | None = None,
    want_name: bool = True,
) -> tuple[bytes | int, tuple[bytes, int], int]:
    """``udp_recvmsg()``: take one datagram.  Returns ``(data, (saddr, sport), msg_flags)``;
    with ``into`` the payload is written there and ``data`` is the byte count.
    ``want_name`` False is a call without ``msg_name`` (``recv``): the address is not read
    (``(b"", 0)``), as udp_recvmsg() fills ``sin`` only when given one.  ``MSG_PEEK``
    leaves it queued; ``MSG_TRUNC`` in ``flags`` makes the returned count the datagram's real
    length.  Blocks (:class:`SockWait`) or fails with ``EAGAIN`` when the queue is empty;
    after ``SHUT_RD`` a blocking read of an empty queue returns 0 bytes instead of waiting,
    a non-blocking one is still ``EAGAIN``."""
    if bufsize < 0:
        raise kernel_error(errno.EINVAL, "negative buffersize in recv")
    while True:
        err = sock_error(sk)
        if err:
            raise kernel_error(err)
        queue = sk.sk_receive_queue
        if not queue:
            # __skb_recv_udp(): with nothing queued a non-blocking read is EAGAIN, shut down
            # or not; only the wait (__skb_wait_for_more_packets) ends at RCV_SHUTDOWN
            if nonblock:
                raise kernel_error(errno.EAGAIN)
            if sk.sk_shutdown & RCV_SHUTDOWN or sk.closed:
                return (0 if into is not None else b""), (b"", 0), 0
            raise SockWait(WAIT_DATA)
        skb = queue[0] if flags & MSG_PEEK else queue.popleft()
        v6 = skb.head[skb.network_header] >> 4 == 6
        if not _checksum_ok(skb, v6):
            if flags & MSG_PEEK:
                queue.popleft()
            _count(sk.net, v6, "InCsumErrors")
            _count(sk.net, v6, "InErrors")
            kfree_skb(skb)
            continue
        ulen = skb.len - UDP_HLEN
        copied = min(bufsize, ulen)
        msg_flags = MSG_TRUNC if copied < ulen else 0
        if into is not None:
            skb_copy_bits(skb, UDP_HLEN, into[:copied], copied)
            data: bytes | int = copied
        else:
            out = bytearray(copied)
            skb_copy_bits(skb, UDP_HLEN, out, copied)
            data = bytes(out)
        if flags & MSG_TRUNC:
            data = ulen if into is not None else data
        name = _NO_NAME
        if want_name:
            head = skb.head
            name = (_addresses(skb, v6)[0], head[skb.data] << 8 | head[skb.data + 1])
        if not flags & MSG_PEEK:
            stats = sk.net.stats
            if v6:
                stats.Udp6InDatagrams += 1
            else:
                stats.UdpInDatagrams += 1
            kfree_skb(skb)
        return data, name, msg_flags


def udp_err(
    net: Net, quoted: bytes, ihl: int, icmp_type: int, code: int, info: int, *, v6: bool
) -> None:
    """``__udp4_lib_err()`` / ``__udp6_lib_err()``: an ICMP error about a datagram we sent
    (``quoted`` is its IP header + UDP header).  A port unreachable is ``ECONNREFUSED``
    (fatal) for a connected socket."""
    if v6:
        saddr, daddr = quoted[8:24], quoted[24:40]
    else:
        saddr, daddr = quoted[12:16], quoted[16:20]
    sport = int.from_bytes(quoted[ihl : ihl + 2], "big")
    dport = int.from_bytes(quoted[ihl + 2 : ihl + 4], "big")
    sk = udp_lookup(net, AF_INET6 if v6 else AF_INET, daddr, dport, saddr, sport)
    if sk is None:
        return
    unreach = ICMPV6_DEST_UNREACH if v6 else ICMP_DEST_UNREACH
    port = ICMPV6_PORT_UNREACH if v6 else ICMP_PORT_UNREACH
    if icmp_type == unreach and code == port:
        err, harderr = errno.ECONNREFUSED, True
    else:
        err, harderr = errno.EHOSTUNREACH, False
    if not sk.recverr and (not harderr or sk.sk_state != TCP_ESTABLISHED):
        return
    sk.sk_err = err
    sk.sk_error_report()


def udp_v4_err(net: Net, quoted: bytes, ihl: int, icmp_type: int, code: int, info: int) -> None:
    """``udp_err()``: the IPv4 protocol table's error handler."""
    udp_err(net, quoted, ihl, icmp_type, code, info, v6=False)


def udp_v6_err(net: Net, quoted: bytes, ihl: int, icmp_type: int, code: int, info: int) -> None:
    """``udpv6_err()``: the IPv6 protocol table's error handler."""
    udp_err(net, quoted, ihl, icmp_type, code, info, v6=True)


# udp_init / udpv6_init: UDP joins both protocol tables, so IP reaches it without importing it
inet_add_protocol(IPPROTO_UDP, udp_rcv, udp_v4_err)
inet6_add_protocol(IPPROTO_UDP, udpv6_rcv, udp_v6_err)
