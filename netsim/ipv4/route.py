"""IPv4 routing for one host: local addresses, connected subnets, one default route
(net/ipv4/route.c ``ip_route_output_key``, ``fib_lookup``; net/ipv4/fib_frontend.c).

A host is not a router.  An output route is, in order:

1. **local** — the destination is one of the host's addresses, ``0.0.0.0`` or in ``127/8``:
   out through ``lo`` (``RTN_LOCAL``), source = the destination itself if it is assigned,
   else the loopback address;
2. **connected** — a device has an address whose subnet holds the destination: out through
   that device, source = that address;
3. **default** — the host's default route, source = the device's first address;
4. otherwise ``ENETUNREACH``.

``dst_mtu`` is the device MTU capped at ``IP_MAX_MTU`` (65535): 65535 on loopback, as Linux
reports it.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from ..dev.device import NetDevice
from ..errors import errno, kernel_error

if TYPE_CHECKING:
    from ..netns import Net

__all__ = ["IP_MAX_MTU", "Rtable", "inet_addr_is_local", "ip_route_output"]

IP_MAX_MTU = 0xFFFF
_LOOPNET = ipaddress.IPv4Network("127.0.0.0/8")


class Rtable:
    """``struct rtable``: where packets to ``daddr`` go."""

    __slots__ = ("addr_sum", "daddr", "dev", "local", "mtu", "saddr")

    def __init__(self, dev: NetDevice, saddr: bytes, daddr: bytes, local: bool) -> None:
        self.dev = dev
        self.saddr = saddr
        self.daddr = daddr
        #: the addresses' part of the pseudo-header sum (mod 0xFFFF, the one's-complement
        #: sum of their 16-bit words), so a segment's checksum seed is one addition
        self.addr_sum = int.from_bytes(saddr, "big") + int.from_bytes(daddr, "big")
        self.local = local
        self.mtu = min(dev.mtu, IP_MAX_MTU)

    def __repr__(self) -> str:
        src = ipaddress.IPv4Address(self.saddr)
        dst = ipaddress.IPv4Address(self.daddr)
        return f"<Rtable {dst} via {self.dev.name} src {src} mtu {self.mtu}>"


def inet_addr_is_local(net: Net, addr: bytes) -> bool:
    """Is ``addr`` assigned to this host (``inet_addr_type == RTN_LOCAL``)?"""
    return addr[0] == 127 or addr in net.local_addrs  # 127.0.0.0/8 is all loopback


def ip_route_output(net: Net, daddr: bytes, saddr: bytes | None = None) -> Rtable:
    """Route to ``daddr`` (4 bytes), optionally from a bound ``saddr``.  Raises
    ``ENETUNREACH`` when there is no route."""
    ip = ipaddress.IPv4Address(daddr)
    if ip == ipaddress.IPv4Address(0):
        # ip_route_output_key_hash_rcu: no destination means this host — the source address
        # if one is bound, else 127.0.0.1
        daddr = saddr or bytes([127, 0, 0, 1])
        ip = ipaddress.IPv4Address(daddr)
    lo = net.lo
    if ip in _LOOPNET:
        return Rtable(lo, saddr or (daddr if ip in _lo_addrs(lo) else _first4(lo)), daddr, True)
    for dev in net.devices.values():
        for iface in dev.addrs4:
            if iface.ip == ip:
                return Rtable(net.lo, saddr or daddr, daddr, True)
    for dev in net.devices.values():
        for iface in dev.addrs4:
            if ip in iface.network and dev is not lo:
                return Rtable(dev, saddr or iface.ip.packed, daddr, False)
    dev4 = net.default_dev4
    if dev4 is not None and dev4.addrs4:
        return Rtable(dev4, saddr or dev4.addrs4[0].ip.packed, daddr, False)
    raise kernel_error(errno.ENETUNREACH)


def _lo_addrs(lo: NetDevice) -> list[ipaddress.IPv4Address]:
    return [i.ip for i in lo.addrs4]


def _first4(dev: NetDevice) -> bytes:
    return dev.addrs4[0].ip.packed if dev.addrs4 else bytes([127, 0, 0, 1])
