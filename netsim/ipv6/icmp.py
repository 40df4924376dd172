"""ICMPv6 errors: ``icmpv6_send`` and ``icmpv6_rcv`` (net/ipv6/icmp.c), as
:mod:`netsim.ipv4.icmp` does for IPv4: port unreachables for UDP datagrams with no socket,
quoting up to 1280 bytes of the packet; received destination-unreachables go to ``udpv6_err``.
An error carries an automatic flow label, as Linux's does: ICMPv6's control socket has no
``sk_txhash``, so ``ip6_make_flowlabel`` hashes the error's flow (its addresses, type and
code) — unless ``net.ipv6.auto_flowlabels`` is 0 or 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..dev.device import ETH_P_IPV6, LL_RESERVED_SPACE
from ..ipv4.icmp import skb_network_bytes
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
from ..sock.sock import ip6_default_np_autolabel
from ..wire.checksum import csum_fold, csum_partial
from ..wire.icmp import ICMPV6_DEST_UNREACH, icmp6_error
from ..wire.ipv4 import IPPROTO_ICMPV6
from ..wire.ipv6 import IPV6_HLEN, ip6_build_header, ip6_pseudo_csum
from .flowlabel import ip6_flowlabel_from_flow
from .output import ip6_local_out
from .protocol import INET6_ERR_HANDLERS
from .route import ip6_dst_hoplimit, ip6_route_output

if TYPE_CHECKING:
    from ..netns import Net

__all__ = ["icmpv6_rcv", "icmpv6_send"]


def icmpv6_send(net: Net, skb_in: SkBuff, icmp_type: int, code: int, info: int = 0) -> None:
    """``icmp6_send()``: an ICMPv6 error about ``skb_in`` back to its source."""
    head = skb_in.head
    noff = skb_in.network_header
    if head[noff + 6] == IPPROTO_ICMPV6:
        thoff = noff + IPV6_HLEN
        if thoff < skb_in.tail and head[thoff] < 128:  # never answer an error
            return
    saddr = bytes(head[noff + 8 : noff + 24])
    daddr = bytes(head[noff + 24 : noff + 40])
    if saddr == bytes(16) or saddr[0] == 0xFF:
        return
    try:
        rt = ip6_route_output(net, saddr, daddr)
    except OSError:
        return
    message = icmp6_error(rt.saddr, saddr, skb_network_bytes(skb_in, 1280), icmp_type, code, info)
    skb = alloc_skb(
        LL_RESERVED_SPACE + IPV6_HLEN + len(message), stats=net.stats, layout=net.skb_layout
    )
    skb_reserve(skb, LL_RESERVED_SPACE)
    start = skb_put(skb, IPV6_HLEN + len(message))
    skb.network_header = start
    skb.transport_header = start + IPV6_HLEN
    skb.protocol = ETH_P_IPV6
    skb.head[start + IPV6_HLEN : start + IPV6_HLEN + len(message)] = message
    hop_limit = ip6_dst_hoplimit(net, rt)  # the control socket sets none
    # icmpv6_push_pending_frames -> __ip6_make_skb: the control socket never set
    # IPV6_AUTOFLOWLABEL; fl6_icmp_type/code stand where the ports stand in the flow's keys
    label = ip6_flowlabel_from_flow(
        net, ip6_default_np_autolabel(net), rt.saddr, saddr, 0, (icmp_type << 8) | code,
        IPPROTO_ICMPV6,
    )  # fmt: skip
    ip6_build_header(
        skb.head, start, len(message), IPPROTO_ICMPV6, hop_limit, rt.saddr, saddr, 0, label
    )
    skb.dst = rt
    net.stats.Icmp6OutMsgs += 1
    if icmp_type == ICMPV6_DEST_UNREACH:
        net.stats.Icmp6OutDestUnreachs += 1
    try:
        ip6_local_out(net, None, skb)
    except OSError:
        return


def icmpv6_rcv(net: Net, skb: SkBuff) -> None:
    """``icmpv6_rcv()``: check, count, and pass destination-unreachables to UDP."""
    stats = net.stats
    data = bytearray(skb.len)
    skb_copy_bits(skb, 0, data, skb.len)
    noff = skb.network_header
    saddr = bytes(skb.head[noff + 8 : noff + 24])
    daddr = bytes(skb.head[noff + 24 : noff + 40])
    if len(data) < 8:
        stats.Icmp6InErrors += 1
        kfree_skb(skb)
        return
    if skb.ip_summed not in (CHECKSUM_UNNECESSARY, CHECKSUM_PARTIAL):
        pseudo = ip6_pseudo_csum(saddr, daddr, len(data), IPPROTO_ICMPV6)
        if csum_fold(csum_partial(data, pseudo)) != 0:
            stats.Icmp6InErrors += 1
            kfree_skb(skb)
            return
    stats.Icmp6InMsgs += 1
    icmp_type, code = data[0], data[1]
    info = int.from_bytes(data[4:8], "big")
    kfree_skb(skb)
    if icmp_type == 2:
        stats.Icmp6InPktTooBigs += 1
        return
    if icmp_type != ICMPV6_DEST_UNREACH:
        return
    stats.Icmp6InDestUnreachs += 1
    quoted = bytes(data[8:])
    if len(quoted) < IPV6_HLEN + 8:
        return
    err_handler = INET6_ERR_HANDLERS.get(quoted[6])  # icmpv6_notify
    if err_handler is not None:
        err_handler(net, quoted, IPV6_HLEN, icmp_type, code, info)
