"""IPv4 output: ``ip_append_data`` builds datagrams in skbs, ``ip_local_out`` sends them,
``ip_fragment`` cuts them (net/ipv4/ip_output.c).

``__ip_append_data`` (spec tx-paths §3.3)
-----------------------------------------
Builds one skb per **future IP fragment** on a queue, each sized so that its payload ends on an
8-byte boundary (``maxfraglen``).  For each piece of user data:

* with room in the tail skb (up to the MTU, or ``maxfraglen`` if more is coming), the bytes go
  into its **page frags** on a scatter-gather device: ``sk_page_frag`` → refill (32 bytes) →
  ``skb_can_coalesce``?  grow the last frag (``commit_noref``) : new slot (``commit``; at
  ``MAX_SKB_FRAGS`` the whole call fails with ``EMSGSIZE``);
* otherwise a new skb: the first of a datagram comes from ``sock_alloc_send_skb`` (which waits
  for ``sk_sndbuf``), later ones from ``alloc_skb`` up to twice ``sk_sndbuf`` (else
  ``ENOBUFS``).  It is **all linear** when the fragment is small (fraglen + headroom below
  ``SKB_MAX_ALLOC`` ≈ 16 KB) or the device lacks SG; otherwise only the headers are linear and
  the payload goes to page frags.  Bytes past ``maxfraglen`` in the previous skb
  (``fraggap``) move into the new one.

The page-frag copy follows the series' conversion (v21 12/14): ``commit`` happens before the
copy, the frag is filled with its final size.  With the old ``page_frag`` allocator the same
code takes one ``get_page`` per new slot, as mainline does.  On any error the pending bytes of
this call are forgotten (``cork.length``) and ``IpOutDiscards`` is counted.

``ip_make_skb`` is the uncorked path: a private cork and queue, and always the **task's**
fragment allocator (``current->task_frag``).  ``__ip_make_skb`` turns a queue into one skb
whose ``frag_list`` holds the other fragments and writes the IP header.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final

from ..dev.device import (
    ETH_P_IP,
    ETH_P_IPV6,
    LL_RESERVED_SPACE,
    NET_XMIT_SUCCESS,
    NETIF_F_HW_CSUM,
    NETIF_F_IP_CSUM,
    NETIF_F_IPV6_CSUM,
    NETIF_F_SG,
    dev_queue_xmit,
    skb_checksum_help,
)
from ..errors import errno, kernel_error
from ..skb import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    SKB_WITH_OVERHEAD,
    SkBuff,
    alloc_skb,
    kfree_skb,
    pskb_trim,
    skb_copy_bits,
    skb_fill_page_desc,
    skb_put,
    skb_reserve,
    trace_frag,
)
from ..sock.constants import (
    IP_PKTINFO,
    IP_PROTOCOL,
    IP_RETOPTS,
    IP_TOS,
    IP_TTL,
    IPV6_PKTINFO,
    MSG_DONTWAIT,
    MSG_MORE,
    MSG_PROBE,
    SOL_IP,
    SOL_IPV6,
    SOL_SOCKET,
)
from ..sock.inet import Cmsg, InetCork, IpcmCookie, cmsg_int, sock_cmsg_send_one
from ..sock.iov import MsgIter
from ..sock.sock import (
    Sock,
    SockWait,
    sk_page_frag,
    sk_page_frag_refill,
    skb_set_owner_w,
    sock_alloc_send_skb,
    sock_wfree,
)
from ..wire.checksum import csum_add, csum_block_add, csum_partial
from ..wire.ipv4 import IP_DF, IP_MF, IP_OFFSET, IPV4_HLEN, ip4_build_header
from ..wire.ipv6 import IP6_MAX_MTU, IPV6_HLEN
from .route import IP_MAX_MTU, Rtable

if TYPE_CHECKING:
    from ..mm import FragAllocator
    from ..netns import Net
    from ..sock.task import TaskContext

__all__ = [
    "SKB_MAX_ALLOC",
    "__ip_append_data",
    "__ip_make_skb",
    "ip_append_data",
    "ip6_sk_ignore_df",
    "ip_do_fragment",
    "ip_flush_pending_frames",
    "ip_local_out",
    "ip_make_skb",
    "ip_queue_xmit",
    "ip_select_ident",
    "ip_send_check",
    "ip_cmsg_send",
    "ip_setup_cork",
    "ip_sk_ignore_df",
]

#: ``SKB_MAX_ALLOC``: ``SKB_WITH_OVERHEAD(4 * PAGE_SIZE)`` — 16064 bytes on x86-64 with the
#: default ``CONFIG_MAX_SKB_FRAGS``; a host's own is ``net.skb_layout.max_alloc``.
SKB_MAX_ALLOC: Final = SKB_WITH_OVERHEAD(4 * 4096)

IP_PMTUDISC_DONT: Final = 0
IP_PMTUDISC_WANT: Final = 1
IP_PMTUDISC_DO: Final = 2
IP_PMTUDISC_PROBE: Final = 3
IP_PMTUDISC_INTERFACE: Final = 4
IP_PMTUDISC_OMIT: Final = 5


def ip_sk_ignore_df(sk: Sock) -> bool:
    """``ip_sk_ignore_df()``: may this socket's datagrams be fragmented locally?"""
    return sk.pmtudisc < IP_PMTUDISC_DO or sk.pmtudisc == IP_PMTUDISC_OMIT


def ip6_sk_ignore_df(sk: Sock) -> bool:
    """``ip6_sk_ignore_df()``: may this IPv6 socket's datagrams be fragmented locally?"""
    return sk.pmtudisc6 < IP_PMTUDISC_DO or sk.pmtudisc6 == IP_PMTUDISC_OMIT


def ip_sk_use_pmtu(sk: Sock) -> bool:
    """``ip_sk_use_pmtu()``: size fragments by the path MTU (else by the device MTU)."""
    return sk.pmtudisc < IP_PMTUDISC_PROBE


def ip_setup_cork(
    sk: Sock, cork: InetCork, rt: Rtable, gso_size: int = 0, ipc: IpcmCookie | None = None
) -> None:
    """``ip_setup_cork()``: remember the route, the fragment size, the GSO size, and the TTL
    and TOS — the socket's, or what this call's control messages said (``ipc``)."""
    cork.fragsize = rt.mtu if ip_sk_use_pmtu(sk) else rt.dev.mtu
    if cork.fragsize < 68:
        raise kernel_error(errno.ENETUNREACH)
    cork.gso_size = gso_size
    cork.dst = rt
    cork.length = 0
    cork.ttl = sk.uc_ttl if sk.uc_ttl > 0 else 0
    cork.tos = sk.tos
    if ipc is not None:
        if ipc.ttl >= 0:
            cork.ttl = ipc.ttl
        if ipc.tos >= 0:
            cork.tos = ipc.tos


def ip_cmsg_send(cmsgs: list[Cmsg], ipc: IpcmCookie, allow_ipv6: bool) -> None:
    """``ip_cmsg_send()`` (net/ipv4/ip_sockglue.c): the control messages of an IPv4
    datagram.  ``SOL_SOCKET`` ones go to :func:`~netsim.sock.inet.sock_cmsg_send_one`; other
    levels than ``SOL_IP`` are skipped (an IPv4-mapped send from an ``AF_INET6`` socket also
    reads ``IPV6_PKTINFO``); ``IP_TTL`` (an ``int``, 1..255) and ``IP_TOS`` (an ``int`` or one
    byte, 0..255) apply to this datagram; ``IP_PROTOCOL`` is checked and has no effect on
    UDP; a wrong length or value, or an unknown type, is ``EINVAL``.  ``IP_PKTINFO`` with an
    interface or a source address, and ``IP_RETOPTS`` (source selection, IP options), are
    not emulated: ``EOPNOTSUPP`` (an all-zero ``IP_PKTINFO`` is accepted: it selects
    nothing)."""
    for cmsg in cmsgs:
        level, kind, data = cmsg
        if allow_ipv6 and level == SOL_IPV6 and kind == IPV6_PKTINFO:
            raise kernel_error(errno.EOPNOTSUPP, "IPV6_PKTINFO is not emulated by netsim")
        if level == SOL_SOCKET:
            sock_cmsg_send_one(cmsg)
            continue
        if level != SOL_IP:
            continue
        if kind == IP_TTL:
            val = cmsg_int(data)
            if not 1 <= val <= 255:
                raise kernel_error(errno.EINVAL, f"IP_TTL cmsg {val}")
            ipc.ttl = val
        elif kind == IP_TOS:
            val = data[0] if len(data) == 1 else cmsg_int(data)
            if not 0 <= val <= 255:
                raise kernel_error(errno.EINVAL, f"IP_TOS cmsg {val}")
            ipc.tos = val
        elif kind == IP_PROTOCOL:
            val = cmsg_int(data)
            if not 1 <= val <= 255:
                raise kernel_error(errno.EINVAL, f"IP_PROTOCOL cmsg {val}")
        elif kind == IP_PKTINFO:
            if len(data) != 12:
                raise kernel_error(errno.EINVAL, "IP_PKTINFO cmsg needs a struct in_pktinfo")
            if data[:8] != bytes(8):  # ipi_ifindex, ipi_spec_dst: all zero changes nothing
                raise kernel_error(errno.EOPNOTSUPP, "IP_PKTINFO is not emulated by netsim")
        elif kind == IP_RETOPTS:
            raise kernel_error(errno.EOPNOTSUPP, "IP options are not emulated by netsim")
        else:
            raise kernel_error(errno.EINVAL, f"SOL_IP cmsg type {kind}")


def __ip_append_data(
    sk: Sock,
    queue: deque[SkBuff],
    cork: InetCork,
    nc: FragAllocator,
    msg: MsgIter,
    length: int,
    transhdrlen: int,
    flags: int,
    *,
    v6: bool = False,
) -> None:
    """Append ``length`` bytes (``transhdrlen`` of transport header, the rest from ``msg``)
    to the datagram being built on ``queue`` (see the module docstring).  ``v6`` selects
    ``__ip6_append_data``'s geometry: a 40-byte header, 8 bytes kept for the fragment header,
    and the room test on the cumulative ``cork.length``."""
    net = sk.net
    rt = cork.dst
    dev = rt.dev
    sg = bool(dev.features & NETIF_F_SG)
    skb = queue[-1] if queue else None
    if v6:
        mtu = IP6_MAX_MTU if cork.gso_size else cork.fragsize
        fragheaderlen = headersize = IPV6_HLEN
        if mtu <= fragheaderlen or ((mtu - fragheaderlen) & ~7) + fragheaderlen <= 8:
            raise kernel_error(errno.EMSGSIZE)
        maxfraglen = ((mtu - fragheaderlen) & ~7) + fragheaderlen - 8
        if headersize + transhdrlen > mtu:
            raise kernel_error(errno.EMSGSIZE, "headers larger than the path MTU (RFC 7112)")
        if cork.length + length > mtu - headersize and cork.dontfrag:
            raise kernel_error(errno.EMSGSIZE, f"IPV6_DONTFRAG and the path MTU is {mtu}")
        maxnonfragsize = IPV6_HLEN + 0xFFFF if ip6_sk_ignore_df(sk) else mtu
        csum_features = NETIF_F_IPV6_CSUM | NETIF_F_HW_CSUM
        extra = 8  # the fragment header is always reserved
    else:
        mtu = IP_MAX_MTU if cork.gso_size else cork.fragsize
        fragheaderlen = headersize = IPV4_HLEN
        maxfraglen = ((mtu - fragheaderlen) & ~7) + fragheaderlen
        maxnonfragsize = IP_MAX_MTU if ip_sk_ignore_df(sk) else mtu
        csum_features = NETIF_F_HW_CSUM | NETIF_F_IP_CSUM
        extra = 15
    if cork.length + length > maxnonfragsize - headersize:
        raise kernel_error(errno.EMSGSIZE, f"datagram larger than the path MTU {mtu}")
    csummode = CHECKSUM_NONE
    if (
        transhdrlen
        and length <= mtu - headersize
        and dev.features & csum_features
        and (not flags & MSG_MORE or cork.gso_size)
    ):
        csummode = CHECKSUM_PARTIAL
    geo = _Geometry(mtu, maxfraglen, fragheaderlen, bool(cork.gso_size), sg, v6, extra)
    cork.length += length
    max_frags = net.max_skb_frags
    wmem_delta = 0
    try:
        while length > 0:
            if skb is not None:
                copy = (mtu if not v6 or cork.length <= mtu else maxfraglen) - skb.len
                if copy < length:
                    copy = maxfraglen - skb.len
            else:
                copy = 0
            if copy <= 0:
                prev = skb
                skb, consumed = _alloc_new_skb(
                    sk, cork, msg, skb, length, transhdrlen, flags, csummode, geo, wmem_delta
                )
                if net.stats.tracer is not None:
                    _trace_new_skb(sk, skb, prev, maxfraglen, v6)
                    if consumed > 0:
                        _trace_linear(sk, skb, consumed, flags, geo)
                if skb.destructor is None:
                    skb.sk = sk
                    skb.destructor = sock_wfree
                    wmem_delta += skb.truesize
                queue.append(skb)
                length -= consumed + transhdrlen
                transhdrlen = 0
                csummode = CHECKSUM_NONE
                continue
            if copy > length:
                copy = length
            assert skb is not None
            if not sg and skb.end - skb.tail >= copy:
                off = skb.len
                tail = skb_put(skb, copy)
                _getfrag(msg, memoryview(skb.head)[tail : tail + copy], copy, skb, off)
                tracer = net.stats.tracer
                if tracer is not None:
                    tracer.emit(
                        "linear",
                        "__ip_append_data",
                        "the device has no scatter-gather (NETIF_F_SG off): appended to "
                        "the head's tailroom",
                        {"skb": tracer.skb(skb), "offset": tail, "len": copy},
                    )
            else:
                copy = _append_page_frag(sk, nc, msg, skb, copy, max_frags)
                wmem_delta += copy
            length -= copy
    except SockWait:
        # sock_alloc_send_skb() sleeps inside the kernel's call; here the runtime retries the
        # whole call.  Only the first skb of a datagram can wait, before a byte of this call
        # is appended, so undoing the length is all there is: a wait is not an error, and no
        # discard is counted
        cork.length -= length
        sk.sk_wmem_alloc += wmem_delta
        raise
    except BaseException:
        cork.length -= length
        if v6:
            net.stats.Ip6OutDiscards += 1
        else:
            net.stats.IpOutDiscards += 1
        sk.sk_wmem_alloc += wmem_delta
        raise
    sk.sk_wmem_alloc += wmem_delta


class _Geometry:
    """The per-call constants of ``__ip_append_data``."""

    __slots__ = ("extra", "fragheaderlen", "maxfraglen", "mtu", "paged", "sg", "v6")

    def __init__(
        self,
        mtu: int,
        maxfraglen: int,
        fragheaderlen: int,
        paged: bool,
        sg: bool,
        v6: bool,
        extra: int,
    ) -> None:
        self.mtu = mtu
        self.maxfraglen = maxfraglen
        self.fragheaderlen = fragheaderlen
        self.paged = paged
        self.sg = sg
        self.v6 = v6
        self.extra = extra


def _alloc_new_skb(
    sk: Sock,
    cork: InetCork,
    msg: MsgIter,
    prev: SkBuff | None,
    length: int,
    transhdrlen: int,
    flags: int,
    csummode: int,
    geo: _Geometry,
    wmem_delta: int,
) -> tuple[SkBuff, int]:
    """The ``alloc_new_skb:`` block: a new skb for the next fragment, its linear part filled
    (moving ``fraggap`` bytes over from ``prev``).  Returns the skb and the user bytes it took."""
    mtu, maxfraglen, fragheaderlen = geo.mtu, geo.maxfraglen, geo.fragheaderlen
    fraggap = prev.len - maxfraglen if prev is not None else 0
    datalen = length + fraggap
    room = (mtu if not geo.v6 or cork.length <= mtu else maxfraglen) - fragheaderlen
    if datalen > room:
        datalen = maxfraglen - fragheaderlen
    fraglen = datalen + fragheaderlen
    pagedlen = 0
    alloc_extra = LL_RESERVED_SPACE + geo.extra
    if flags & MSG_MORE and not geo.sg:
        alloclen = mtu
    elif not geo.paged and (fraglen + alloc_extra < sk.net.skb_layout.max_alloc or not geo.sg):
        alloclen = fraglen
    else:
        alloclen = fragheaderlen + transhdrlen + fraggap
        pagedlen = datalen - transhdrlen - fraggap
    alloclen += alloc_extra
    if transhdrlen:
        skb = sock_alloc_send_skb(sk, alloclen, bool(flags & MSG_DONTWAIT))
    else:
        # the kernel tests refcount_read(&sk->sk_wmem_alloc), which is one above the bytes
        # charged (sk_alloc() starts it at 1; sk_wmem_alloc_get() takes the 1 off)
        if sk.sk_wmem_alloc + 1 + wmem_delta > 2 * sk.sk_sndbuf:
            raise kernel_error(errno.ENOBUFS)
        skb = alloc_skb(
            alloclen, stats=sk.net.stats, layout=sk.net.skb_layout, gfp=sk.sk_allocation
        )
    try:
        skb.protocol = ETH_P_IPV6 if geo.v6 else ETH_P_IP
        skb.ip_summed = csummode
        skb.csum = 0
        skb_reserve(skb, LL_RESERVED_SPACE + (8 if geo.v6 else 0))
        data = skb_put(skb, fraglen - pagedlen)
        skb.network_header = skb.data
        skb.transport_header = skb.data + fragheaderlen
        data += fragheaderlen
        if fraggap:
            assert prev is not None
            gap = memoryview(skb.head)[data + transhdrlen : data + transhdrlen + fraggap]
            skb_copy_bits(prev, maxfraglen, gap, fraggap)
            skb.csum = csum_partial(gap)
            prev.csum = csum_add(prev.csum, ~skb.csum & 0xFFFF)
            data += fraggap
            pskb_trim(prev, maxfraglen)
        copy = datalen - transhdrlen - fraggap - pagedlen
        if copy < 0:
            raise kernel_error(errno.EINVAL)
        if copy > 0:
            dst = memoryview(skb.head)[data + transhdrlen : data + transhdrlen + copy]
            _getfrag(msg, dst, copy, skb, fraggap)
    except BaseException:
        kfree_skb(skb)
        raise
    return skb, copy


def _trace_new_skb(sk: Sock, skb: SkBuff, prev: SkBuff | None, maxfraglen: int, v6: bool) -> None:
    """Tell the tracer that ``__ip_append_data`` started ``skb``, and why (trace only)."""
    tracer = sk.net.stats.tracer
    if tracer is None:
        return
    where = "__ip6_append_data" if v6 else "__ip_append_data"
    if prev is None:
        tracer.emit(
            "new_skb",
            where,
            "the datagram's first skb (the queue is empty)",
            {"skb": tracer.skb(skb)},
        )
        return
    tracer.emit(
        "new_skb",
        where,
        f"the tail skb holds a full IP fragment (len {prev.len}, maxfraglen {maxfraglen}): "
        "the next bytes start the next fragment",
        {"skb": tracer.skb(skb), "tail": tracer.skb(prev)},
    )


def _trace_linear(sk: Sock, skb: SkBuff, copy: int, flags: int, geo: _Geometry) -> None:
    """Say why ``__ip_append_data`` copied the first bytes of a new skb into its linear area
    (they end at ``tail``)."""
    tracer = skb.stats.tracer
    if tracer is None:
        return
    offset = skb.tail - copy
    if not geo.sg:
        reason = "the device has no scatter-gather (NETIF_F_SG off): the datagram is linear"
    else:
        reason = (
            f"the first chunk fits a head of {skb.tail - skb.data} B below SKB_MAX_ALLOC "
            f"({sk.net.skb_layout.max_alloc}): it is copied into the linear area; later "
            "appends go to page frags"
        )
    if flags & MSG_MORE and not geo.sg:
        reason += " (MSG_MORE: the head is sized for a whole MTU)"
    tracer.emit(
        "linear",
        "__ip_append_data",
        reason,
        {"skb": tracer.skb(skb), "offset": offset, "len": copy},
    )


def _getfrag(msg: MsgIter, dst: memoryview, copy: int, skb: SkBuff, odd: int) -> None:
    """``ip_generic_getfrag``: a plain copy for ``CHECKSUM_PARTIAL``, else copy and fold the
    bytes' sum into ``skb.csum``."""
    if skb.ip_summed == CHECKSUM_PARTIAL:
        msg.copy_to(dst, copy)
    else:
        skb.csum = msg.csum_and_copy_to(dst, copy, skb.csum, odd)


def _append_page_frag(
    sk: Sock, nc: FragAllocator, msg: MsgIter, skb: SkBuff, copy: int, max_frags: int
) -> int:
    """The scatter-gather copy into ``sk_page_frag``'s page (v21 order: commit, then copy)."""
    span = sk_page_frag_refill(sk, nc, want=copy)
    if span is None:
        raise kernel_error(errno.ENOMEM)
    page = span.page
    offset = span.offset
    if copy > span.size:
        copy = span.size
    frags = skb.shinfo.frags
    i = len(frags)
    stats = sk.net.stats
    merge = (
        bool(i) and frags[i - 1].page is page and frags[i - 1].offset + frags[i - 1].len == offset
    )
    if merge:
        frags[i - 1].len += copy
        nc.commit_noref(span, copy)
        stats.skb_coalesce += 1
    else:
        if i == max_frags:
            raise kernel_error(errno.EMSGSIZE, f"datagram needs more than {max_frags} frags")
        skb_fill_page_desc(skb, i, page, offset, copy)
        nc.commit(span, copy)
        stats.skb_new_frag += 1
    if stats.tracer is not None:
        trace_frag(skb, i, page, offset, copy, merge, "__ip_append_data")
    odd = skb.len
    dst = page.view[offset : offset + copy]
    if skb.ip_summed == CHECKSUM_PARTIAL:
        msg.copy_to(dst, copy)
    else:
        data = msg.take(copy)
        dst[:] = data
        skb.csum = csum_block_add(skb.csum, csum_partial(data), odd)
    skb.len += copy
    skb.data_len += copy
    skb.truesize += copy
    stats.skb_copy_bytes += copy
    return copy


def ip_append_data(
    sk: Sock,
    cork: InetCork,
    task: TaskContext,
    msg: MsgIter,
    length: int,
    transhdrlen: int,
    rt: Rtable | None,
    flags: int,
    gso_size: int = 0,
    ipc: IpcmCookie | None = None,
) -> None:
    """``ip_append_data()``: the corked path, building on ``sk_write_queue`` with
    ``sk_page_frag()``.  Sets the cork up when the queue is empty; later calls carry no
    transport header (and their control messages change nothing).  ``rt`` is ``None`` when
    appending to a pending datagram (the cork has its route); setting a cork up without one
    is ``EFAULT``, as ``ip_setup_cork`` says."""
    if flags & MSG_PROBE:
        return
    if not sk.sk_write_queue:
        if rt is None:
            raise kernel_error(errno.EFAULT)
        ip_setup_cork(sk, cork, rt, gso_size, ipc)
    else:
        transhdrlen = 0
    __ip_append_data(
        sk, sk.sk_write_queue, cork, sk_page_frag(sk, task), msg, length, transhdrlen, flags
    )


def ip_flush_pending_frames(sk: Sock, queue: deque[SkBuff], cork: InetCork) -> None:
    """``ip_flush_pending_frames()``: drop a half-built datagram."""
    while queue:
        kfree_skb(queue.popleft())
    cork.release()


def ip_make_skb(
    sk: Sock,
    task: TaskContext,
    msg: MsgIter,
    length: int,
    transhdrlen: int,
    rt: Rtable,
    flags: int,
    cork: InetCork,
    gso_size: int = 0,
    ipc: IpcmCookie | None = None,
) -> SkBuff | None:
    """``ip_make_skb()``: the uncorked fast path — a private queue and cork, and always the
    **task's** fragment allocator, whatever ``sk_use_task_frag`` says."""
    if flags & MSG_PROBE:
        return None
    queue: deque[SkBuff] = deque()
    ip_setup_cork(sk, cork, rt, gso_size, ipc)
    try:
        __ip_append_data(
            sk, queue, cork, task.frag_allocator(sk.net), msg, length, transhdrlen, flags
        )
    except BaseException:
        ip_flush_pending_frames(sk, queue, cork)
        raise
    return __ip_make_skb(sk, queue, cork)


def __ip_make_skb(sk: Sock, queue: deque[SkBuff], cork: InetCork) -> SkBuff:
    """``__ip_make_skb()``: chain the queued fragments onto the first skb's ``frag_list``
    (their headers pulled, their truesize and owner moved to the head) and write the IPv4
    header (DF per ``IP_MTU_DISCOVER``, TTL, ID)."""
    skb = queue.popleft()
    rt: Rtable = cork.dst
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
    skb.ignore_df = ip_sk_ignore_df(sk)
    df = 0
    if sk.pmtudisc in (IP_PMTUDISC_DO, IP_PMTUDISC_PROBE) or (
        skb.len <= rt.mtu and sk.pmtudisc == IP_PMTUDISC_WANT
    ):
        df = IP_DF
    ttl = cork.ttl or sk.net.sysctl_int("net.ipv4.ip_default_ttl")
    # ip_select_ident() reads DF together with skb->ignore_df: a datagram that may still be
    # fragmented locally (IP_PMTUDISC_WANT, the default) takes a hashed ID even with DF set
    id_df = 0 if skb.ignore_df else df
    ident = ip_select_ident(sk.net, sk, cork.saddr, cork.daddr, sk.sk_protocol, id_df, 1)
    ip4_build_header(
        skb.head, skb.network_header, skb.len, ident, df, ttl, sk.sk_protocol,
        cork.saddr, cork.daddr, cork.tos,
    )  # fmt: skip
    skb.dst = rt
    cork.release()
    return skb


def ip_select_ident(
    net: Net, sk: Sock | None, saddr: bytes, daddr: bytes, protocol: int, df: int, segs: int
) -> int:
    """``ip_select_ident_segs()``: a connected socket numbers its packets from its own
    ``inet_id``; an unconnected DF packet gets 0 (``df``: DF set and ``skb->ignore_df``
    clear — callers pass 0 for a packet that may still be fragmented locally); otherwise a
    per-flow counter seeded from the host's RNG (the kernel's hashed ``ip_idents``)."""
    if sk is not None and sk.inet_daddr is not None:
        val = sk.inet_id
        sk.inet_id = (val + segs) & 0xFFFF
        return val
    if df:
        return 0
    key = (saddr, daddr, protocol)
    ident = net.ip_idents.get(key)
    if ident is None:
        ident = net.rng.randrange(0x10000)
    net.ip_idents[key] = (ident + segs) & 0xFFFF
    return ident


def ip_queue_xmit(
    net: Net, sk: Sock, skb: SkBuff, rt: Rtable, segs: int, socketless: bool = False
) -> int:
    """``__ip_queue_xmit()``: push a 20-byte IPv4 header in front of a transport segment
    (DF as ``ip_dont_fragment``: set unless ``IP_PMTUDISC_DONT``; the ID from the socket's
    ``inet_id``, reserving ``segs`` IDs for a GSO skb) and send it with ``ip_local_out``.
    ``socketless``: a packet Linux sends for no full socket — a SYN-ACK, for a request
    socket, through ``ip_build_and_send_pkt()``, or a timewait socket's ACK through
    ``ip_send_unicast_reply()`` on the control socket — ID 0 under DF, else the flow's
    hashed counter; the connection's ``inet_id`` is not used."""
    skb.data -= IPV4_HLEN
    skb.len += IPV4_HLEN
    skb.network_header = skb.data
    skb.protocol = ETH_P_IP
    df = IP_DF if sk.pmtudisc >= IP_PMTUDISC_WANT else 0
    ttl = sk.uc_ttl if sk.uc_ttl > 0 else net.sysctl_int("net.ipv4.ip_default_ttl")
    ident = ip_select_ident(
        net, None if socketless else sk, rt.saddr, rt.daddr, sk.sk_protocol, df, segs
    )
    ip4_build_header(
        skb.head, skb.data, skb.len if skb.len <= 0xFFFF else 0, ident, df, ttl,
        sk.sk_protocol, rt.saddr, rt.daddr, sk.tos, rt.addr_sum,
    )  # fmt: skip
    skb.dst = rt
    return ip_local_out(net, sk, skb)


def ip_send_check(skb: SkBuff) -> None:
    """``ip_send_check()``: recompute the IPv4 header checksum in place."""
    head = skb.head
    off = skb.network_header
    hlen = (head[off] & 0x0F) * 4
    head[off + 10 : off + 12] = b"\0\0"
    value = csum_partial(memoryview(head)[off : off + hlen])
    head[off + 10 : off + 12] = (~value & 0xFFFF).to_bytes(2, "big")


def _set_tot_len(skb: SkBuff, tot_len: int) -> None:
    off = skb.network_header
    skb.head[off + 2 : off + 4] = tot_len.to_bytes(2, "big")
    ip_send_check(skb)


def ip_local_out(net: Net, sk: Sock | None, skb: SkBuff) -> int:
    """``ip_local_out()`` → ``ip_output`` → ``ip_finish_output``: set ``tot_len``, then send
    whole, fragment (``len > mtu``), or — GSO — let the device (or software GSO) cut it.
    Counts ``IpOutRequests``; returns 0 or raises the send error."""
    net.stats.IpOutRequests += 1
    length = skb.len
    if length <= 0xFFFF:
        # __ip_local_out(): tot_len, then ip_send_check().  Every IPv4 header netsim builds
        # (ip4_build_header) already has its checksum, so only a changed tot_len needs one
        off = skb.network_header + 2
        head = skb.head
        if (head[off] << 8 | head[off + 1]) != length:
            _set_tot_len(skb, length)
    rt: Rtable = skb.dst
    skb.dev = rt.dev
    mtu = rt.mtu
    if skb.shinfo.gso_size:
        return _ip_finish_output2(net, skb)
    if skb.len > mtu:
        return ip_fragment(net, sk, skb, mtu)
    return _ip_finish_output2(net, skb)


def _ip_finish_output2(net: Net, skb: SkBuff) -> int:
    rt: Rtable = skb.dst
    if dev_queue_xmit(skb, rt.dev) != NET_XMIT_SUCCESS:
        net.stats.IpOutDiscards += 1
        raise kernel_error(errno.ENOBUFS)
    return 0


def ip_fragment(net: Net, sk: Sock | None, skb: SkBuff, mtu: int) -> int:
    """``ip_fragment()``: a DF packet that may not be fragmented here fails with
    ``EMSGSIZE`` (``IpFragFails``); the rest goes to :func:`ip_do_fragment`."""
    off = skb.network_header
    frag_off = int.from_bytes(skb.head[off + 6 : off + 8], "big")
    if frag_off & IP_DF and not skb.ignore_df:
        net.stats.IpFragFails += 1
        kfree_skb(skb)
        raise kernel_error(errno.EMSGSIZE)
    return ip_do_fragment(net, sk, skb, mtu)


def ip_do_fragment(net: Net, sk: Sock | None, skb: SkBuff, mtu: int) -> int:
    """``ip_do_fragment()``: send ``skb`` as IP fragments of at most ``mtu`` bytes.

    Fast path, when the frag_list geometry is right (as ``__ip_append_data`` builds it): each
    frag_list member becomes a fragment of its own — its IP header pushed back into the
    headroom reserved for it, the socket charge moved onto it.  Slow path: new linear skbs
    of ``mtu - hlen`` bytes rounded down to 8, the data copied out with ``skb_copy_bits``.
    Counts ``IpFragCreates`` per fragment and ``IpFragOKs`` per datagram."""
    if skb.ip_summed == CHECKSUM_PARTIAL:
        skb_checksum_help(skb)
    head = skb.head
    off = skb.network_header
    hlen = (head[off] & 0x0F) * 4
    room = mtu - hlen
    members = skb.shinfo.frag_list
    if members and _fraglist_geometry_ok(skb, hlen, room):
        return _ip_fragment_fast(net, sk, skb, hlen)
    return _ip_fragment_slow(net, skb, hlen, room)


def _fraglist_geometry_ok(skb: SkBuff, hlen: int, room: int) -> bool:
    first_len = skb.len - skb.data_len + sum(f.len for f in skb.shinfo.frags)
    frag_off = int.from_bytes(skb.head[skb.network_header + 6 : skb.network_header + 8], "big")
    if first_len - hlen > room or (first_len - hlen) & 7 or frag_off & (IP_MF | IP_OFFSET):
        return False
    if skb.cloned or skb.data < LL_RESERVED_SPACE:
        return False
    members = skb.shinfo.frag_list
    for idx, member in enumerate(members):
        last = idx == len(members) - 1
        if member.len > room or (member.len & 7 and not last):
            return False
        if member.data < hlen + LL_RESERVED_SPACE or member.users != 1:
            return False
    return True


def _ip_fragment_fast(net: Net, sk: Sock | None, skb: SkBuff, hlen: int) -> int:
    members = skb.shinfo.frag_list
    skb.shinfo.frag_list = []
    owner = skb.sk
    for member in members:
        if owner is not None:
            member.sk = owner
            member.destructor = sock_wfree
        skb.truesize -= member.truesize
    first_len = skb.len - skb.data_len + sum(f.len for f in skb.shinfo.frags)
    skb.data_len = first_len - (skb.len - skb.data_len)
    skb.len = first_len
    header = bytes(skb.head[skb.network_header : skb.network_header + hlen])
    frag_off = int.from_bytes(header[6:8], "big") & IP_DF
    _write_frag_fields(skb, first_len, frag_off | IP_MF)
    offset = first_len - hlen
    for idx, member in enumerate(members):
        member.ip_summed = CHECKSUM_NONE
        member.transport_header = member.data
        member.data -= hlen
        member.len += hlen
        member.network_header = member.data
        member.head[member.data : member.data + hlen] = header
        member.protocol = skb.protocol
        member.dst = skb.dst
        flags = frag_off | (offset >> 3)
        if idx < len(members) - 1:
            flags |= IP_MF
        _write_frag_fields(member, member.len, flags)
        offset += member.len - hlen
    queue = [skb, *members]
    for i, frag in enumerate(queue):
        try:
            _ip_finish_output2(net, frag)
        except OSError:
            for rest in queue[i + 1 :]:
                kfree_skb(rest)
            net.stats.IpFragFails += 1
            raise
        net.stats.IpFragCreates += 1
    net.stats.IpFragOKs += 1
    return 0


def _write_frag_fields(skb: SkBuff, tot_len: int, frag_off: int) -> None:
    off = skb.network_header
    skb.head[off + 2 : off + 4] = tot_len.to_bytes(2, "big")
    skb.head[off + 6 : off + 8] = frag_off.to_bytes(2, "big")
    ip_send_check(skb)


def _ip_fragment_slow(net: Net, skb: SkBuff, hlen: int, room: int) -> int:
    head = skb.head
    noff = skb.network_header
    header = bytes(head[noff : noff + hlen])
    orig = int.from_bytes(header[6:8], "big")
    df = orig & IP_DF
    not_last = orig & IP_MF
    offset = (orig & IP_OFFSET) << 3
    left = skb.len - hlen
    ptr = hlen
    owner = skb.sk
    try:
        while left > 0:
            length = min(left, room)
            if length < left:
                length &= ~7
            frag = alloc_skb(
                length + hlen + LL_RESERVED_SPACE, stats=net.stats, layout=net.skb_layout
            )
            skb_reserve(frag, LL_RESERVED_SPACE)
            start = skb_put(frag, length + hlen)
            frag.network_header = start
            frag.transport_header = start + hlen
            frag.protocol = skb.protocol
            frag.dst = skb.dst
            if owner is not None:
                skb_set_owner_w(frag, owner)
            frag.head[start : start + hlen] = header
            skb_copy_bits(
                skb, ptr, memoryview(frag.head)[start + hlen : start + hlen + length], length
            )
            left -= length
            flags = df | (offset >> 3)
            if left > 0 or not_last:
                flags |= IP_MF
            ptr += length
            offset += length
            _write_frag_fields(frag, length + hlen, flags)
            _ip_finish_output2(net, frag)
            net.stats.IpFragCreates += 1
    except BaseException:
        kfree_skb(skb)
        net.stats.IpFragFails += 1
        raise
    kfree_skb(skb)
    net.stats.IpFragOKs += 1
    return 0
