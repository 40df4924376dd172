"""IPv6 output: ``ip6_append_data``, ``ip6_make_skb``, ``ip6_local_out``, ``ip6_fragment``
(net/ipv6/ip6_output.c).

``__ip6_append_data`` is :func:`netsim.ipv4.output.__ip_append_data` with IPv6's geometry
(spec tx-paths §4.2): a 40-byte header, 8 bytes of headroom and of ``maxfraglen`` always kept
for a fragment header, the room test on the cumulative ``cork.length`` (no fragment-header
space is reserved while the whole message fits the MTU), ``CHECKSUM_PARTIAL`` only for UDP
without extension headers, ``IPV6_DONTFRAG``, and RFC 7112's header-chain rule.

``ip6_fragment`` inserts a fragment header after the 40-byte header of each fragment; its
fast path turns ``frag_list`` members into fragments as IPv4's does.  Unlike IPv4 there is no
DF bit: a locally generated datagram larger than the MTU is fragmented unless the socket
asked for ``IPV6_PMTUDISC_DO``.  Every fragment carries its datagram's header — the flow
label too — with a fragment header behind it.

Both ``ip6_xmit`` (TCP) and ``__ip6_make_skb`` (UDP) write the automatic flow label Linux
writes (``ip6_make_flowlabel``, :mod:`netsim.ipv6.flowlabel`).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final

from ..dev.device import (
    ETH_P_IPV6,
    LL_RESERVED_SPACE,
    NET_XMIT_SUCCESS,
    dev_queue_xmit,
    skb_checksum_help,
)
from ..errors import errno, kernel_error
from ..ipv4.output import __ip_append_data, ip6_sk_ignore_df, ip_flush_pending_frames
from ..skb import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    SkBuff,
    alloc_skb,
    kfree_skb,
    skb_copy_bits,
    skb_put,
    skb_reserve,
)
from ..sock.constants import (
    IPV6_DONTFRAG,
    IPV6_FLOWINFO,
    IPV6_HOPLIMIT,
    IPV6_PKTINFO,
    IPV6_TCLASS,
    MSG_PROBE,
    SOL_IPV6,
    SOL_SOCKET,
)
from ..sock.inet import Cmsg, InetCork, IpcmCookie, cmsg_int, sock_cmsg_send_one
from ..sock.iov import MsgIter
from ..sock.sock import (
    Sock,
    ip6_autoflowlabel,
    sk_page_frag,
    sk_set_txhash,
    skb_set_owner_w,
    sock_wfree,
)
from ..wire.ipv4 import IPPROTO_FRAGMENT
from ..wire.ipv6 import IPV6_HLEN, ip6_build_header
from .flowlabel import ip6_flowlabel_from_flow, ip6_sk_flowlabel
from .route import Rt6Info, ip6_dst_hoplimit

if TYPE_CHECKING:
    from ..netns import Net
    from ..sock.task import TaskContext

__all__ = [
    "ip6_append_data",
    "ip6_fragment",
    "ip6_local_out",
    "ip6_make_skb",
    "ip6_xmit",
    "ip6_datagram_send_ctl",
    "ip6_setup_cork",
    "ipv6_select_ident",
]

IPV6_PMTUDISC_DO: Final = 2
IPV6_PMTUDISC_PROBE: Final = 3
FRAG_HLEN: Final = 8


def ip6_setup_cork(
    sk: Sock, cork: InetCork, rt: Rt6Info, gso_size: int = 0, ipc: IpcmCookie | None = None
) -> None:
    """``ip6_setup_cork()``: route, fragment size (the path MTU unless the socket probes),
    hop limit, traffic class and ``IPV6_DONTFRAG`` — the socket's or this call's control
    messages' (``ipc``) — and the GSO size."""
    cork.fragsize = rt.mtu if sk.pmtudisc6 < IPV6_PMTUDISC_PROBE else rt.dev.mtu
    if cork.fragsize < 1280:
        raise kernel_error(errno.EINVAL, f"IPv6 route MTU {cork.fragsize} below 1280")
    cork.gso_size = gso_size
    cork.dst = rt
    cork.length = 0
    cork.hop_limit = sk.hop_limit  # -1: the route's default
    cork.tos = sk.tclass
    if ipc is not None:
        if ipc.ttl >= 0:
            cork.hop_limit = ipc.ttl
        if ipc.tos >= 0:
            cork.tos = ipc.tos
        if ipc.dontfrag >= 0:
            cork.dontfrag = bool(ipc.dontfrag)


def ip6_datagram_send_ctl(cmsgs: list[Cmsg], ipc: IpcmCookie) -> None:
    """``ip6_datagram_send_ctl()`` (net/ipv6/datagram.c): the control messages of an IPv6
    datagram.  ``SOL_SOCKET`` ones go to :func:`~netsim.sock.inet.sock_cmsg_send_one`; levels other
    than ``SOL_IPV6`` are skipped; ``IPV6_HOPLIMIT`` and ``IPV6_TCLASS`` (an ``int``, -1..255,
    -1 meaning the socket's) and ``IPV6_DONTFRAG`` (0 or 1) apply to this datagram; a wrong
    length or value, or an unknown type, is ``EINVAL``.  ``IPV6_PKTINFO``, ``IPV6_FLOWINFO``
    and extension headers are not emulated: ``EOPNOTSUPP``."""
    for cmsg in cmsgs:
        level, kind, data = cmsg
        if level == SOL_SOCKET:
            sock_cmsg_send_one(cmsg)
            continue
        if level != SOL_IPV6:
            continue
        if kind in (IPV6_HOPLIMIT, 8):  # 8: IPV6_2292HOPLIMIT
            val = cmsg_int(data)
            if not -1 <= val <= 255:
                raise kernel_error(errno.EINVAL, f"IPV6_HOPLIMIT cmsg {val}")
            ipc.ttl = val
        elif kind == IPV6_TCLASS:
            val = cmsg_int(data)
            if not -1 <= val <= 255:
                raise kernel_error(errno.EINVAL, f"IPV6_TCLASS cmsg {val}")
            ipc.tos = val
        elif kind == IPV6_DONTFRAG:
            val = cmsg_int(data)
            if val not in (0, 1):
                raise kernel_error(errno.EINVAL, f"IPV6_DONTFRAG cmsg {val}")
            ipc.dontfrag = val
        elif kind in (IPV6_PKTINFO, 2, IPV6_FLOWINFO, 3, 4, 5, 54, 55, 57, 59):
            # PKTINFO, 2292PKTINFO, FLOWINFO, (2292)HOPOPTS/DSTOPTS/RTHDR, RTHDRDSTOPTS
            raise kernel_error(errno.EOPNOTSUPP, f"SOL_IPV6 cmsg {kind} is not emulated by netsim")
        else:
            raise kernel_error(errno.EINVAL, f"SOL_IPV6 cmsg type {kind}")


def ip6_append_data(
    sk: Sock,
    cork: InetCork,
    task: TaskContext,
    msg: MsgIter,
    length: int,
    transhdrlen: int,
    rt: Rt6Info | None,
    flags: int,
    gso_size: int = 0,
    ipc: IpcmCookie | None = None,
) -> None:
    """``ip6_append_data()``: the corked path, on ``sk_write_queue`` with ``sk_page_frag``
    (``rt`` ``None`` for a pending datagram; ``EFAULT`` if a cork must be set up without
    one)."""
    if flags & MSG_PROBE:
        return
    if not sk.sk_write_queue:
        if rt is None:
            raise kernel_error(errno.EFAULT)
        ip6_setup_cork(sk, cork, rt, gso_size, ipc)
    else:
        transhdrlen = 0
    __ip_append_data(
        sk, sk.sk_write_queue, cork, sk_page_frag(sk, task), msg, length, transhdrlen,
        flags, v6=True,
    )  # fmt: skip


def ip6_make_skb(
    sk: Sock,
    task: TaskContext,
    msg: MsgIter,
    length: int,
    transhdrlen: int,
    rt: Rt6Info,
    flags: int,
    cork: InetCork,
    gso_size: int = 0,
    ipc: IpcmCookie | None = None,
) -> SkBuff | None:
    """``ip6_make_skb()``: the uncorked path — private queue and cork, the task's allocator."""
    if flags & MSG_PROBE:
        return None
    queue: deque[SkBuff] = deque()
    ip6_setup_cork(sk, cork, rt, gso_size, ipc)
    try:
        __ip_append_data(
            sk, queue, cork, task.frag_allocator(sk.net), msg, length, transhdrlen, flags,
            v6=True,
        )  # fmt: skip
    except BaseException:
        ip_flush_pending_frames(sk, queue, cork)
        raise
    return __ip6_make_skb(sk, queue, cork)


def __ip6_make_skb(sk: Sock, queue: deque[SkBuff], cork: InetCork) -> SkBuff:
    """``__ip6_make_skb()``: chain the fragments on the head's ``frag_list`` and write the
    IPv6 header."""
    skb = queue.popleft()
    rt: Rt6Info = cork.dst
    members = skb.shinfo.frag_list
    while queue:
        tmp = queue.popleft()
        hlen = tmp.transport_header - tmp.network_header
        tmp.data += hlen
        tmp.len -= hlen
        members.append(tmp)
        skb.len += tmp.len
        skb.data_len += tmp.len
        skb.truesize += tmp.truesize
        tmp.destructor = None
        tmp.sk = None
    skb.ignore_df = ip6_sk_ignore_df(sk)
    hop_limit = cork.hop_limit
    if hop_limit < 0:
        hop_limit = ip6_dst_hoplimit(sk.net, rt)
    payload_len = skb.len - IPV6_HLEN
    label = sk.tx_flowlabel
    if label < 0:
        label = _ip6_datagram_flowlabel(sk, cork)
    ip6_build_header(
        skb.head, skb.network_header, payload_len if payload_len <= 0xFFFF else 0,
        sk.sk_protocol, hop_limit, cork.saddr, cork.daddr, cork.tos, label,
    )  # fmt: skip
    skb.dst = rt
    cork.release()
    return skb


def _ip6_datagram_flowlabel(sk: Sock, cork: InetCork) -> int:
    """The flow label of a datagram ``__ip6_make_skb`` finishes when the socket has none kept:
    from its ``sk_txhash`` if it has one (a connected socket), else from the datagram's flow
    (an unconnected socket: made per datagram, since the destination may change)."""
    if sk.sk_txhash:
        return ip6_sk_flowlabel(sk)
    net = sk.net
    return ip6_flowlabel_from_flow(
        net, ip6_autoflowlabel(net, sk), cork.saddr, cork.daddr, cork.sport, cork.dport,
        sk.sk_protocol,
    )  # fmt: skip


def ip6_xmit(net: Net, sk: Sock, skb: SkBuff, rt: Rt6Info) -> int:
    """``ip6_xmit()``: push the IPv6 header in front of a transport segment and send it.
    A segment larger than the path MTU that is not GSO is ``EMSGSIZE``: TCP over IPv6 is
    never fragmented.

    The flow label is ``ip6_make_flowlabel()`` of the socket's ``sk_txhash``
    (:mod:`netsim.ipv6.flowlabel`), kept on the socket: one integer read per segment.  A
    TCP socket without one yet draws it here, at its first segment (SYN or SYN-ACK), where
    Linux draws it in ``tcp_v6_connect`` or ``tcp_conn_request``."""
    skb.data -= IPV6_HLEN
    skb.len += IPV6_HLEN
    skb.network_header = skb.data
    skb.protocol = ETH_P_IPV6
    hop_limit = sk.hop_limit
    if hop_limit < 0:
        hop_limit = ip6_dst_hoplimit(net, rt)
    payload = skb.len - IPV6_HLEN
    label = sk.tx_flowlabel
    if label < 0:
        if not sk.sk_txhash:
            sk_set_txhash(sk)
        label = ip6_sk_flowlabel(sk)
    ip6_build_header(
        skb.head, skb.data, payload if payload <= 0xFFFF else 0, sk.sk_protocol, hop_limit,
        rt.saddr, rt.daddr, sk.tclass, label,
    )  # fmt: skip
    skb.dst = rt
    if skb.len > rt.mtu and not skb.shinfo.gso_size:
        net.stats.Ip6FragFails += 1
        kfree_skb(skb)
        raise kernel_error(errno.EMSGSIZE)
    net.stats.Ip6OutRequests += 1
    skb.dev = rt.dev
    return _ip6_finish_output2(net, skb)


def ipv6_select_ident(net: Net) -> int:
    """``ipv6_select_ident()``: a fragment identification (random per datagram here)."""
    return net.rng.getrandbits(32) or 1


def ip6_local_out(net: Net, sk: Sock | None, skb: SkBuff) -> int:
    """``ip6_local_out()`` → ``ip6_output`` → ``ip6_finish_output``: set the payload length;
    GSO skbs go to the device, anything above the MTU is fragmented (unless the socket said
    ``IPV6_PMTUDISC_DO``, which gives ``EMSGSIZE``)."""
    net.stats.Ip6OutRequests += 1
    off = skb.network_header
    payload = skb.len - IPV6_HLEN
    if payload <= 0xFFFF:
        skb.head[off + 4 : off + 6] = payload.to_bytes(2, "big")
    rt: Rt6Info = skb.dst
    skb.dev = rt.dev
    if skb.shinfo.gso_size or skb.len <= rt.mtu:
        return _ip6_finish_output2(net, skb)
    if not skb.ignore_df:
        net.stats.Ip6FragFails += 1
        kfree_skb(skb)
        raise kernel_error(errno.EMSGSIZE)
    return ip6_fragment(net, skb, rt.mtu)


def _ip6_finish_output2(net: Net, skb: SkBuff) -> int:
    rt: Rt6Info = skb.dst
    if dev_queue_xmit(skb, rt.dev) != NET_XMIT_SUCCESS:
        net.stats.Ip6OutDiscards += 1
        raise kernel_error(errno.ENOBUFS)
    return 0


def ip6_fragment(net: Net, skb: SkBuff, mtu: int) -> int:
    """``ip6_fragment()``: send ``skb`` as fragments of at most ``mtu`` bytes, each with a
    fragment header (next header = the original's, offset, M flag, one identification)."""
    if skb.ip_summed == CHECKSUM_PARTIAL:
        skb_checksum_help(skb)
    hlen = IPV6_HLEN
    room = (mtu - hlen - FRAG_HLEN) & ~7
    ident = ipv6_select_ident(net)
    header = bytearray(skb.head[skb.network_header : skb.network_header + hlen])
    nexthdr = header[6]
    header[6] = IPPROTO_FRAGMENT
    members = skb.shinfo.frag_list
    if members and _fraglist_ok(skb, hlen, mtu):
        return _fragment_fast(net, skb, bytes(header), nexthdr, ident)
    return _fragment_slow(net, skb, bytes(header), nexthdr, ident, room)


def _fraglist_ok(skb: SkBuff, hlen: int, mtu: int) -> bool:
    first_len = skb.len - skb.data_len + sum(f.len for f in skb.shinfo.frags)
    room = mtu - hlen - FRAG_HLEN
    if first_len - hlen > room or (first_len - hlen) & 7 or skb.cloned:
        return False
    if skb.data < LL_RESERVED_SPACE + FRAG_HLEN:
        return False
    members = skb.shinfo.frag_list
    for idx, m in enumerate(members):
        if m.len > room or (m.len & 7 and idx < len(members) - 1):
            return False
        if m.data < hlen + FRAG_HLEN + LL_RESERVED_SPACE or m.users != 1:
            return False
    return True


def _write_frag(
    skb: SkBuff, header: bytes, nexthdr: int, offset: int, more: bool, ident: int
) -> None:
    """Put the IPv6 header + fragment header in front of ``skb.data`` (``ip6_fraglist_prepare``
    / ``ip6_frag_next``)."""
    skb.data -= IPV6_HLEN + FRAG_HLEN
    skb.len += IPV6_HLEN + FRAG_HLEN
    start = skb.data
    skb.network_header = start
    skb.transport_header = start + IPV6_HLEN + FRAG_HLEN
    head = skb.head
    head[start : start + IPV6_HLEN] = header
    head[start + 4 : start + 6] = (skb.len - IPV6_HLEN).to_bytes(2, "big")
    fh = start + IPV6_HLEN
    head[fh] = nexthdr
    head[fh + 1] = 0
    head[fh + 2 : fh + 4] = (offset | (1 if more else 0)).to_bytes(2, "big")
    head[fh + 4 : fh + 8] = ident.to_bytes(4, "big")


def _fragment_fast(net: Net, skb: SkBuff, header: bytes, nexthdr: int, ident: int) -> int:
    members = skb.shinfo.frag_list
    skb.shinfo.frag_list = []
    owner = skb.sk
    for m in members:
        if owner is not None:
            m.sk = owner
            m.destructor = sock_wfree
        skb.truesize -= m.truesize
    headlen = skb.len - skb.data_len
    first_len = headlen + sum(f.len for f in skb.shinfo.frags)
    skb.data_len = first_len - headlen
    skb.len = first_len
    # move the first fragment's payload behind a fresh IPv6 + fragment header
    skb.data += IPV6_HLEN
    skb.len -= IPV6_HLEN
    offset = 0
    queue = [skb, *members]
    for idx, frag in enumerate(queue):
        more = idx < len(queue) - 1
        payload = frag.len
        frag.ip_summed = CHECKSUM_NONE
        _write_frag(frag, header, nexthdr, offset, more, ident)
        frag.protocol = skb.protocol
        frag.dst = skb.dst
        offset += payload
    for i, frag in enumerate(queue):
        try:
            _ip6_finish_output2(net, frag)
        except OSError:
            for rest in queue[i + 1 :]:
                kfree_skb(rest)
            net.stats.Ip6FragFails += 1
            raise
        net.stats.Ip6FragCreates += 1
    net.stats.Ip6FragOKs += 1
    return 0


def _fragment_slow(
    net: Net, skb: SkBuff, header: bytes, nexthdr: int, ident: int, room: int
) -> int:
    left = skb.len - IPV6_HLEN
    ptr = IPV6_HLEN
    offset = 0
    owner = skb.sk
    try:
        while left > 0:
            length = min(left, room)
            headroom = LL_RESERVED_SPACE + IPV6_HLEN + FRAG_HLEN
            frag = alloc_skb(headroom + length, stats=net.stats, layout=net.skb_layout)
            skb_reserve(frag, headroom)
            start = skb_put(frag, length)
            if owner is not None:
                skb_set_owner_w(frag, owner)
            skb_copy_bits(skb, ptr, memoryview(frag.head)[start : start + length], length)
            left -= length
            _write_frag(frag, header, nexthdr, offset, left > 0, ident)
            frag.protocol = skb.protocol
            frag.dst = skb.dst
            ptr += length
            offset += length
            _ip6_finish_output2(net, frag)
            net.stats.Ip6FragCreates += 1
    except BaseException:
        kfree_skb(skb)
        net.stats.Ip6FragFails += 1
        raise
    kfree_skb(skb)
    net.stats.Ip6FragOKs += 1
    return 0
