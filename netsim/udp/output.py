"""``udp_sendmsg`` / ``udpv6_sendmsg`` and ``udp_send_skb`` (net/ipv4/udp.c, net/ipv6/udp.c).

Spec tx-paths §3.1 and §4.1.  A send is either

* **uncorked** — no ``MSG_MORE``, no ``UDP_CORK``: ``ip_make_skb`` builds the whole datagram
  with a private cork, drawing page frags from the **task's** allocator, then
  ``udp_send_skb`` writes the UDP header and checksum and sends it; or
* **corked** — the data is appended to ``sk_write_queue`` with ``ip_append_data`` (using
  ``sk_page_frag``) and stays there until a send without ``MSG_MORE`` (or ``UDP_CORK`` off)
  pushes the datagram.  Any error while appending discards the whole pending datagram.

Checksums: ``CHECKSUM_PARTIAL`` (the device finishes it — on loopback nobody does, and nobody
needs to) when the datagram went out in one piece on a checksumming device; otherwise the sum
gathered during the copies plus the header and pseudo header.  ``UDP_SEGMENT`` makes one
``SKB_GSO_UDP_L4`` skb of up to 128 segments, checked as ``udp_send_skb`` checks it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Final

from ..errors import errno, kernel_error
from ..ipv4.output import (
    __ip_make_skb,
    ip_append_data,
    ip_cmsg_send,
    ip_flush_pending_frames,
    ip_local_out,
    ip_make_skb,
)
from ..ipv4.route import Rtable, ip_route_output
from ..ipv6.output import (
    __ip6_make_skb,
    ip6_append_data,
    ip6_datagram_send_ctl,
    ip6_local_out,
    ip6_make_skb,
)
from ..ipv6.route import Rt6Info, ip6_route_output
from ..skb import CHECKSUM_NONE, CHECKSUM_PARTIAL, SKB_GSO_UDP_L4, SkBuff, kfree_skb
from ..sock.addr import ANY6, V4_MAPPED_LOOPBACK, ipv6_addr_v4mapped, v4_from_mapped
from ..sock.constants import (
    AF_INET,
    AF_INET6,
    MSG_MORE,
    MSG_OOB,
    SO_BROADCAST,
    SOL_UDP,
    UDP_SEGMENT,
)
from ..sock.inet import Cmsg, InetCork, IpcmCookie
from ..sock.iov import MsgIter
from ..sock.sock import TCP_ESTABLISHED, SockWait
from ..wire.checksum import csum_add, csum_partial
from ..wire.ipv4 import IPPROTO_UDP, csum_tcpudp_magic
from ..wire.ipv6 import csum_ipv6_magic
from ..wire.udp import udp_build_header
from .proto import udp_autobind
from .sock import UdpSock

if TYPE_CHECKING:
    from ..sock.task import TaskContext

__all__ = [
    "UDP_MAX_SEGMENTS",
    "udp_cmsg_send",
    "udp_push_pending_frames",
    "udp_send_skb",
    "udp_sendmsg",
    "udpv6_sendmsg",
]

#: ``UDP_MAX_SEGMENTS`` (include/linux/udp.h, 6.18): segments per GSO send.
UDP_MAX_SEGMENTS: Final = 128
UDP_HLEN: Final = 8


def udp_sendmsg(
    sk: UdpSock,
    task: TaskContext,
    msg: MsgIter,
    flags: int,
    addr: tuple[bytes, int] | None = None,
    cmsgs: list[Cmsg] | None = None,
) -> int:
    """Send one datagram (or a piece of a corked one) from ``msg``; returns its length.

    ``addr`` is ``(packed address, port)`` (``msg_name``), ``None`` for a connected socket;
    ``cmsgs`` are the control messages (:func:`udp_cmsg_send`).  The socket gets its port
    first (``inet_send_prepare``'s autobind, even if the send then fails).  An ``AF_INET6``
    socket sends through :func:`udpv6_sendmsg`, which comes back here for IPv4-mapped
    peers."""
    udp_autobind(sk)
    if sk.sk_family == AF_INET6:
        return udpv6_sendmsg(sk, task, msg, flags, addr, cmsgs)
    return _udp_sendmsg(sk, task, msg, flags, addr, cmsgs, v6=False)


def udpv6_sendmsg(
    sk: UdpSock,
    task: TaskContext,
    msg: MsgIter,
    flags: int,
    addr: tuple[bytes, int] | None = None,
    cmsgs: list[Cmsg] | None = None,
) -> int:
    """``udpv6_sendmsg()`` (net/ipv6/udp.c): as :func:`udp_sendmsg`, over IPv6.  ``::`` is
    this host (``::ffff:127.0.0.1`` for a socket whose source is IPv4-mapped); an IPv4-mapped
    peer goes to IPv4's ``udp_sendmsg`` — ``ENETUNREACH`` on an ``IPV6_V6ONLY`` socket."""
    if addr is not None and addr[0] == ANY6 and _mapped_source(sk):
        addr = (V4_MAPPED_LOOPBACK, addr[1])
    if _mapped_peer(sk, addr):
        if sk.ipv6_v6only:
            raise kernel_error(errno.ENETUNREACH)
        return _udp_sendmsg(sk, task, msg, flags, addr, cmsgs, v6=False)
    if sk.pending == AF_INET:  # an IPv4 datagram is corked: the data joins it
        return _udp_sendmsg(sk, task, msg, flags, addr, cmsgs, v6=False)
    return _udp_sendmsg(sk, task, msg, flags, addr, cmsgs, v6=True)


def udp_cmsg_send(cmsgs: list[Cmsg], v6_socket: bool, v6: bool) -> IpcmCookie:
    """``udp_cmsg_send()`` (net/ipv4/udp.c) and then, if any message is not ``SOL_UDP``,
    ``ip_cmsg_send()`` or ``ip6_datagram_send_ctl()``: the control messages of one datagram.
    ``(SOL_UDP, UDP_SEGMENT)`` takes a ``u16`` (else ``EINVAL``); any other ``SOL_UDP`` type
    is ``EINVAL``.  Read only when this call starts a datagram — data joining a corked one
    ignores them, as in the kernel (``do_append_data`` comes first)."""
    ipc = IpcmCookie()
    need_ip = False
    for level, kind, data in cmsgs:
        if level != SOL_UDP:
            need_ip = True
            continue
        if kind != UDP_SEGMENT or len(data) != 2:
            raise kernel_error(errno.EINVAL, f"SOL_UDP cmsg {kind} ({len(data)} bytes)")
        ipc.gso_size = int.from_bytes(data, sys.byteorder)
    if need_ip:
        if v6:
            ip6_datagram_send_ctl(cmsgs, ipc)
        else:
            ip_cmsg_send(cmsgs, ipc, allow_ipv6=v6_socket)
    return ipc


def _mapped_source(sk: UdpSock) -> bool:
    return sk.inet_saddr is not None and ipv6_addr_v4mapped(sk.inet_saddr)


def _mapped_peer(sk: UdpSock, addr: tuple[bytes, int] | None) -> bool:
    if sk.sk_family != AF_INET6:
        return False
    daddr = addr[0] if addr is not None else sk.inet_daddr
    return daddr is not None and ipv6_addr_v4mapped(daddr)


def _udp_sendmsg(
    sk: UdpSock,
    task: TaskContext,
    msg: MsgIter,
    flags: int,
    addr: tuple[bytes, int] | None,
    cmsgs: list[Cmsg] | None,
    *,
    v6: bool,
) -> int:
    length = msg.count
    if not v6 and length > 0xFFFF:
        raise kernel_error(errno.EMSGSIZE, f"{length} bytes is more than a UDP datagram holds")
    if v6 and length > 0x7FFFFFFF - UDP_HLEN:
        raise kernel_error(errno.EMSGSIZE)
    if flags & MSG_OOB and not v6:
        # udp_sendmsg() refuses it ("mirror BSD"); udpv6_sendmsg() never looks at it
        raise kernel_error(errno.EOPNOTSUPP)
    family = AF_INET6 if v6 else AF_INET
    if sk.pending:
        if sk.pending != family:
            raise kernel_error(errno.EINVAL, "a datagram of the other family is corked")
        return _append(sk, task, msg, flags, length, length, None, v6)
    if sk.closed:
        raise kernel_error(errno.EBADF)
    ulen = length + UDP_HLEN
    connected = False
    if addr is not None:
        daddr, dport = addr
        if dport == 0:
            raise kernel_error(errno.EINVAL, "destination port 0")
    else:
        if sk.sk_state != TCP_ESTABLISHED or sk.inet_daddr is None:
            raise kernel_error(errno.EDESTADDRREQ)
        daddr, dport = sk.inet_daddr, sk.inet_dport
        connected = True
    ipc = udp_cmsg_send(cmsgs, sk.sk_family == AF_INET6, v6) if cmsgs else None
    gso_size = sk.gso_size if ipc is None or ipc.gso_size is None else ipc.gso_size
    rt = _route(sk, daddr, connected, v6)
    if isinstance(rt, Rtable) and rt.broadcast and SO_BROADCAST not in sk.sk_flags:
        raise kernel_error(errno.EACCES, "a broadcast address needs SO_BROADCAST")
    saddr = rt.saddr
    corkreq = sk.corkflag or bool(flags & MSG_MORE)
    wire_daddr = rt.daddr  # fl4->daddr: routing made 0.0.0.0 / :: a local address
    if not corkreq:
        cork = InetCork()
        _set_flow(cork, sk, saddr, wire_daddr, dport)
        cork.dontfrag = sk.dontfrag
        try:
            if isinstance(rt, Rt6Info):
                skb = ip6_make_skb(sk, task, msg, ulen, UDP_HLEN, rt, flags, cork, gso_size, ipc)
            else:
                skb = ip_make_skb(sk, task, msg, ulen, UDP_HLEN, rt, flags, cork, gso_size, ipc)
            if skb is not None:
                udp_send_skb(sk, skb, cork, v6)
        except SockWait:
            raise
        except OSError as exc:
            _count_sndbuf_error(sk, exc, v6)
            raise
        return length
    cork = sk.cork
    _set_flow(cork, sk, saddr, wire_daddr, dport)
    cork.dontfrag = sk.dontfrag
    sk.pending = family
    return _append(
        sk, task, msg, flags, length, ulen, rt, v6, gso_size=gso_size, ipc=ipc, corkreq=corkreq
    )


def _route(sk: UdpSock, daddr: bytes, connected: bool, v6: bool) -> Rtable | Rt6Info:
    net = sk.net
    if connected and sk.sk_dst_cache is not None:
        return sk.sk_dst_cache  # type: ignore[return-value]
    bound = sk.inet_saddr
    try:
        if v6:
            return ip6_route_output(net, daddr, bound)
        if bound is not None and len(bound) == 16:
            bound = v4_from_mapped(bound) if ipv6_addr_v4mapped(bound) else None
        if bound == b"\0\0\0\0":
            bound = None
        return ip_route_output(net, daddr if len(daddr) == 4 else v4_from_mapped(daddr), bound)
    except OSError as exc:
        if exc.errno == errno.ENETUNREACH:
            if v6:
                net.stats.Ip6OutNoRoutes += 1
            else:
                net.stats.IpOutNoRoutes += 1
        raise


def _set_flow(cork: InetCork, sk: UdpSock, saddr: bytes, daddr: bytes, dport: int) -> None:
    cork.saddr = saddr
    cork.daddr = daddr
    cork.sport = sk.inet_sport
    cork.dport = dport


def _append(
    sk: UdpSock,
    task: TaskContext,
    msg: MsgIter,
    flags: int,
    length: int,
    ulen: int,
    rt: Rtable | Rt6Info | None,
    v6: bool,
    *,
    gso_size: int = 0,
    ipc: IpcmCookie | None = None,
    corkreq: bool | None = None,
) -> int:
    """``do_append_data:``: add ``ulen`` bytes to the corked datagram (the UDP header counts
    only when this starts it); push it unless more is coming."""
    if corkreq is None:
        corkreq = sk.corkflag or bool(flags & MSG_MORE)
    sk.up_len += ulen
    append_flags = flags | MSG_MORE if corkreq else flags
    cork = sk.cork
    try:
        if v6:
            assert rt is None or isinstance(rt, Rt6Info)
            ip6_append_data(sk, cork, task, msg, ulen, UDP_HLEN, rt, append_flags, gso_size, ipc)
        else:
            assert rt is None or isinstance(rt, Rtable)
            ip_append_data(sk, cork, task, msg, ulen, UDP_HLEN, rt, append_flags, gso_size, ipc)
    except BaseException as exc:
        udp_flush_pending_frames(sk)
        if isinstance(exc, OSError):
            _count_sndbuf_error(sk, exc, v6)
        raise
    if not corkreq:
        try:
            udp_push_pending_frames(sk)
        except OSError as exc:
            _count_sndbuf_error(sk, exc, v6)
            raise
    elif not sk.sk_write_queue:
        sk.pending = 0
    else:
        tracer = sk.net.stats.tracer
        if tracer is not None:
            queue = sk.sk_write_queue
            tracer.emit(
                "hold",
                "udp_sendmsg",
                ("UDP_CORK" if sk.corkflag else "MSG_MORE")
                + f": the datagram ({sk.up_len} B so far) waits for more data",
                {"skb": tracer.skb(queue[0]), "len": sum(s.len for s in queue)},
            )
    return length


def udp_flush_pending_frames(sk: UdpSock) -> None:
    """``udp_flush_pending_frames()``: throw the corked datagram away."""
    if sk.pending:
        sk.up_len = 0
        sk.pending = 0
        ip_flush_pending_frames(sk, sk.sk_write_queue, sk.cork)


def udp_push_pending_frames(sk: UdpSock) -> None:
    """``udp_push_pending_frames()``: make the corked datagram one skb and send it."""
    v6 = sk.pending == AF_INET6
    cork = sk.cork
    try:
        if not sk.sk_write_queue:
            return
        if v6:
            skb = __ip6_make_skb(sk, sk.sk_write_queue, cork)
        else:
            skb = __ip_make_skb(sk, sk.sk_write_queue, cork)
        udp_send_skb(sk, skb, cork, v6)
    finally:
        sk.up_len = 0
        sk.pending = 0


def _pseudo_magic(cork: InetCork, ulen: int, csum: int, v6: bool) -> int:
    """``csum_tcpudp_magic`` / ``csum_ipv6_magic`` over the cork's addresses (called by name,
    not through a variable: compiled, a direct call)."""
    if v6:
        return csum_ipv6_magic(cork.saddr, cork.daddr, ulen, IPPROTO_UDP, csum)
    return csum_tcpudp_magic(cork.saddr, cork.daddr, ulen, IPPROTO_UDP, csum)


def udp_send_skb(sk: UdpSock, skb: SkBuff, cork: InetCork, v6: bool) -> None:
    """``udp_send_skb()`` / ``udp_v6_send_skb()``: write the UDP header, set up GSO or the
    checksum, send.  Counts ``UdpOutDatagrams``; a full device queue (``ENOBUFS``) is reported
    as success and counted as ``UdpSndbufErrors`` unless ``IP_RECVERR``."""
    net = sk.net
    hist = net.stats.tx_nr_frags
    hist[len(skb.shinfo.frags)] += 1
    tracer = net.stats.tracer
    if tracer is not None:
        tracer.emit(
            "transmit",
            "udp_v6_send_skb" if v6 else "udp_send_skb",
            "the datagram is complete (no MSG_MORE, no UDP_CORK): its skbs become one, the "
            "others on its frag_list",
            {
                "skb": tracer.skb(skb),
                "len": skb.len,
                "nr_frags": len(skb.shinfo.frags),
                "frag_list": len(skb.shinfo.frag_list),
            },
        )
    for part in skb.shinfo.frag_list:
        hist[len(part.shinfo.frags)] += 1
    thoff = skb.transport_header
    ulen = skb.len - (thoff - skb.data)
    datalen = ulen - UDP_HLEN
    head = skb.head
    udp_build_header(head, thoff, cork.sport, cork.dport, ulen if ulen <= 0xFFFF else 0, 0)
    gso = cork.gso_size
    partial = skb.ip_summed == CHECKSUM_PARTIAL
    if gso:
        hlen = (thoff - skb.network_header) + UDP_HLEN
        err = 0
        if hlen + min(datalen, gso) > cork.fragsize:
            err = errno.EMSGSIZE
        elif datalen > gso * UDP_MAX_SEGMENTS or sk.sk_no_check_tx:
            err = errno.EINVAL
        if err:
            kfree_skb(skb)
            raise kernel_error(err, f"UDP_SEGMENT {gso} with {datalen} bytes")
        if datalen > gso:
            shinfo = skb.shinfo
            shinfo.gso_size = gso
            shinfo.gso_type = SKB_GSO_UDP_L4
            shinfo.gso_segs = -(-datalen // gso)
            partial = True
    if sk.sk_no_check_tx and not gso:
        skb.ip_summed = CHECKSUM_NONE
    elif partial and not skb.shinfo.frag_list:
        # udp4_hwcsum / udp6_hwcsum_outgoing: the device finishes the sum
        skb.ip_summed = CHECKSUM_PARTIAL
        skb.csum_start = thoff
        skb.csum_offset = 6
        seed = ~_pseudo_magic(cork, ulen, 0, v6) & 0xFFFF
        head[thoff + 6 : thoff + 8] = seed.to_bytes(2, "big")
    else:
        csum = _udp_csum(skb, thoff, partial)
        skb.ip_summed = CHECKSUM_NONE
        check = _pseudo_magic(cork, ulen, csum, v6) or 0xFFFF
        head[thoff + 6 : thoff + 8] = check.to_bytes(2, "big")
    try:
        if v6:
            ip6_local_out(net, sk, skb)
        else:
            ip_local_out(net, sk, skb)
    except OSError as exc:
        if exc.errno == errno.ENOBUFS and not sk.recverr:
            if v6:
                net.stats.Udp6SndbufErrors += 1
            else:
                net.stats.UdpSndbufErrors += 1
            return
        raise
    if v6:
        net.stats.Udp6OutDatagrams += 1
    else:
        net.stats.UdpOutDatagrams += 1


def _udp_csum(skb: SkBuff, thoff: int, partial: bool) -> int:
    """``udp_csum()``: the UDP header's sum plus the sums gathered while copying (the head's
    ``csum`` and each ``frag_list`` member's).  A ``CHECKSUM_PARTIAL`` head gathered nothing,
    so its bytes are summed here (``udp4_hwcsum``'s frag_list branch)."""
    head = skb.head
    if partial:
        frags = skb.shinfo.frags
        buf = bytearray(skb.tail - thoff + sum(f.len for f in frags))
        n = skb.tail - thoff
        buf[:n] = memoryview(head)[thoff : skb.tail]
        for frag in frags:
            buf[n : n + frag.len] = frag.page.view[frag.offset : frag.offset + frag.len]
            n += frag.len
        csum = csum_partial(buf)
    else:
        csum = csum_partial(memoryview(head)[thoff : thoff + UDP_HLEN], skb.csum)
    for member in skb.shinfo.frag_list:
        csum = csum_add(csum, member.csum)
    return csum


def _count_sndbuf_error(sk: UdpSock, exc: OSError, v6: bool) -> None:
    """``udp_sendmsg``'s ``out:`` label: ``ENOBUFS``, or any error once ``SOCK_NOSPACE`` is
    set — which, for UDP, nothing clears after ``sock_alloc_send_pskb`` first sets it."""
    if exc.errno == errno.ENOBUFS or sk.sock_nospace:
        if v6:
            sk.net.stats.Udp6SndbufErrors += 1
        else:
            sk.net.stats.UdpSndbufErrors += 1
