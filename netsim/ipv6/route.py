"""IPv6 routing for one host (net/ipv6/route.c ``ip6_route_output``), the same shape as
:mod:`netsim.ipv4.route`: local (``::1`` or an assigned address, out through ``lo``),
connected prefix, default route, else ``ENETUNREACH``.

``dst_mtu`` is the device MTU — 65536 on loopback, as Linux reports it; IPv6 has no 65535 cap
there because a jumbogram could exceed it.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Final

from ..dev.device import NetDevice
from ..errors import errno, kernel_error

if TYPE_CHECKING:
    from ..netns import Net

__all__ = ["Rt6Info", "ip6_dst_hoplimit", "ip6_route_output", "ipv6_addr_is_local"]

_LOOPBACK6: Final = ipaddress.IPv6Address("::1")
_V4_MAPPED_PREFIX: Final = b"\0" * 10 + b"\xff\xff"


class Rt6Info:
    """``struct rt6_info``: where packets to ``daddr`` go."""

    __slots__ = ("addr_sum", "daddr", "dev", "local", "mtu", "saddr")

    def __init__(self, dev: NetDevice, saddr: bytes, daddr: bytes, local: bool) -> None:
        self.dev = dev
        self.saddr = saddr
        self.daddr = daddr
        #: the addresses' part of the pseudo-header sum (mod 0xFFFF, the one's-complement
        #: sum of their 16-bit words), so a segment's checksum seed is one addition
        self.addr_sum = int.from_bytes(saddr, "big") + int.from_bytes(daddr, "big")
        self.local = local
        self.mtu = dev.mtu

    def __repr__(self) -> str:
        src = ipaddress.IPv6Address(self.saddr)
        dst = ipaddress.IPv6Address(self.daddr)
        return f"<Rt6Info {dst} via {self.dev.name} src {src} mtu {self.mtu}>"


def ip6_dst_hoplimit(net: Net, dst: Rt6Info) -> int:
    """``ip6_dst_hoplimit()`` (net/ipv6/route.c): the hop limit of a packet whose sender set
    none — the output device's (``net.ipv6.conf.DEV.hop_limit``, its ``inet6_dev`` config),
    or ``conf.all``'s for a device without IPv6."""
    hop_limit = dst.dev.ipv6_hop_limit
    return hop_limit if hop_limit > 0 else net.sysctl_int("net.ipv6.conf.all.hop_limit")


def ipv6_addr_is_local(net: Net, addr: bytes) -> bool:
    """Is ``addr`` (16 bytes) assigned to this host?"""
    return addr in net.local_addrs


def ip6_route_output(net: Net, daddr: bytes, saddr: bytes | None = None) -> Rt6Info:
    """Route to ``daddr`` (16 bytes).  ``::`` means the local host.  Raises
    ``ENETUNREACH`` when there is no route, and ``EAFNOSUPPORT`` for an IPv4(-mapped) source
    (``ip6_dst_lookup_tail``: a socket bound to ``::ffff:a.b.c.d`` cannot send IPv6)."""
    if saddr is not None and (len(saddr) == 4 or saddr[:12] == _V4_MAPPED_PREFIX):
        raise kernel_error(errno.EAFNOSUPPORT, "an IPv4-mapped source cannot send to IPv6")
    ip = ipaddress.IPv6Address(daddr)
    if ip.is_unspecified:
        ip = _LOOPBACK6
        daddr = ip.packed
    for dev in net.devices.values():
        for iface in dev.addrs6:
            if iface.ip == ip:
                return Rt6Info(net.lo, saddr or daddr, daddr, True)
    for dev in net.devices.values():
        if dev is net.lo:
            continue
        for iface in dev.addrs6:
            if ip in iface.network:
                return Rt6Info(dev, saddr or iface.ip.packed, daddr, False)
    dev6 = net.default_dev6
    if dev6 is not None and dev6.addrs6:
        return Rt6Info(dev6, saddr or dev6.addrs6[0].ip.packed, daddr, False)
    raise kernel_error(errno.ENETUNREACH)
