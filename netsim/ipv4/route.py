"""IPv4 routing for one host: local addresses, connected subnets, one default route
(net/ipv4/route.c ``ip_route_output_key``, ``fib_lookup``; net/ipv4/fib_frontend.c).

A host is not a router.  An output route is, in order:

1. **this host** — ``0.0.0.0``: the bound source address, else ``127.0.0.1``, through ``lo``;
2. **a broadcast or multicast destination from a bound address** — out through the device
   that holds the address (``ip_route_output_key_hash_rcu``'s "special hack": a socket bound
   to ``127.0.0.1`` sends ``255.255.255.255`` through ``lo``);
3. **the local table** — one of the host's addresses or anything in ``127/8``: through ``lo``
   (``RTN_LOCAL``), source = the destination itself if it is assigned, else the loopback
   address; a device's broadcast address (``127.255.255.255`` on ``lo``, the ``brd`` of each
   address with a prefix shorter than /31): through that device (``RTN_BROADCAST``);
4. **connected** — a device has an address whose subnet holds the destination: out through
   that device, source = that address;
5. **default** — the host's default route, source = the device's first address;
6. otherwise ``ENETUNREACH``.

A source address that is multicast or ``255.255.255.255`` is ``EINVAL``.  The route's type
(:attr:`Rtable.rt_type`) says what callers check (``rt_flags & RTCF_BROADCAST`` in the kernel):
``255.255.255.255`` and a device's broadcast address are ``RTN_BROADCAST``, ``224/4``
``RTN_MULTICAST`` (``__mkroute_output``).  TCP refuses both (``ENETUNREACH``); UDP sends to a
broadcast address only with ``SO_BROADCAST`` (``EACCES``).  netsim delivers a broadcast that
stays on the host to one socket, as a unicast (Linux delivers a copy to every matching
socket), and does not model multicast groups.

``dst_mtu`` is the device MTU capped at ``IP_MAX_MTU`` (65535): 65535 on loopback, as Linux
reports it.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Final

from ..dev.device import NetDevice
from ..errors import errno, kernel_error

if TYPE_CHECKING:
    from ..netns import Net

__all__ = [
    "IP_MAX_MTU",
    "RTN_BROADCAST",
    "RTN_LOCAL",
    "RTN_MULTICAST",
    "RTN_UNICAST",
    "Rtable",
    "inet_addr_is_local",
    "inet_addr_type",
    "ip_route_output",
    "ipv4_is_lbcast",
    "ipv4_is_multicast",
]

IP_MAX_MTU: Final = 0xFFFF
_LOOPNET: Final = ipaddress.IPv4Network("127.0.0.0/8")
_LBCAST: Final = b"\xff\xff\xff\xff"

# route types (include/uapi/linux/rtnetlink.h)
RTN_UNICAST: Final = 1
RTN_LOCAL: Final = 2
RTN_BROADCAST: Final = 3
RTN_MULTICAST: Final = 5


def ipv4_is_multicast(addr: bytes) -> bool:
    """``ipv4_is_multicast()``: ``224.0.0.0/4``."""
    return addr[0] & 0xF0 == 0xE0


def ipv4_is_lbcast(addr: bytes) -> bool:
    """``ipv4_is_lbcast()``: the limited broadcast ``255.255.255.255``."""
    return addr == _LBCAST


class Rtable:
    """``struct rtable``: where packets to ``daddr`` go."""

    __slots__ = ("addr_sum", "daddr", "dev", "mtu", "rt_type", "saddr")

    def __init__(self, dev: NetDevice, saddr: bytes, daddr: bytes, rt_type: int) -> None:
        self.dev = dev
        self.saddr = saddr
        self.daddr = daddr
        #: the addresses' part of the pseudo-header sum (mod 0xFFFF, the one's-complement
        #: sum of their 16-bit words), so a segment's checksum seed is one addition
        self.addr_sum = int.from_bytes(saddr, "big") + int.from_bytes(daddr, "big")
        #: ``RTN_LOCAL``, ``RTN_UNICAST``, ``RTN_BROADCAST`` or ``RTN_MULTICAST``
        self.rt_type = rt_type
        self.mtu = min(dev.mtu, IP_MAX_MTU)

    @property
    def local(self) -> bool:
        """Delivered on this host (``RTCF_LOCAL``)."""
        return self.rt_type == RTN_LOCAL

    @property
    def broadcast(self) -> bool:
        """``rt_flags & RTCF_BROADCAST``."""
        return self.rt_type == RTN_BROADCAST

    def __repr__(self) -> str:
        src = ipaddress.IPv4Address(self.saddr)
        dst = ipaddress.IPv4Address(self.daddr)
        return f"<Rtable {dst} via {self.dev.name} src {src} mtu {self.mtu} type {self.rt_type}>"


def inet_addr_is_local(net: Net, addr: bytes) -> bool:
    """Is ``addr`` assigned to this host (``inet_addr_type == RTN_LOCAL``)?"""
    return addr[0] == 127 or addr in net.local_addrs  # 127.0.0.0/8 is all loopback


def inet_addr_type(net: Net, addr: bytes) -> int:
    """``inet_addr_type()`` (net/ipv4/fib_frontend.c): what the local table says ``addr`` is —
    ``RTN_LOCAL`` (assigned, or in ``127/8``), ``RTN_BROADCAST`` (``255.255.255.255`` or a
    device's broadcast address), ``RTN_MULTICAST`` (``224/4``), else ``RTN_UNICAST``."""
    special = _special_type(addr)
    if special:
        return special
    ip = ipaddress.IPv4Address(addr)
    for dev in net.devices.values():
        for iface in dev.addrs4:
            if _is_brd(iface, ip):
                return RTN_BROADCAST
    return RTN_LOCAL if inet_addr_is_local(net, addr) else RTN_UNICAST


def ip_route_output(net: Net, daddr: bytes, saddr: bytes | None = None) -> Rtable:
    """Route to ``daddr`` (4 bytes), optionally from a bound ``saddr``
    (net/ipv4/route.c ``ip_route_output_key_hash_rcu``, ``__mkroute_output``).  Raises
    ``ENETUNREACH`` when there is no route, ``EINVAL`` for a multicast or broadcast source."""
    if saddr is not None and (ipv4_is_multicast(saddr) or ipv4_is_lbcast(saddr)):
        raise kernel_error(errno.EINVAL)
    special = _special_type(daddr)
    lo = net.lo
    if daddr == b"\0\0\0\0":
        # no destination means this host: the source address if one is bound, else 127.0.0.1
        daddr = saddr or bytes([127, 0, 0, 1])
        return Rtable(lo, daddr, daddr, RTN_LOCAL)
    if special and saddr is not None:
        dev = _dev_of(net, saddr)
        if dev is None:
            raise kernel_error(errno.ENETUNREACH)
        return Rtable(dev, saddr, daddr, special)
    ip = ipaddress.IPv4Address(daddr)
    for dev in net.devices.values():
        for iface in dev.addrs4:
            if _is_brd(iface, ip):
                return Rtable(dev, saddr or iface.ip.packed, daddr, RTN_BROADCAST)
    if ip in _LOOPNET:
        return Rtable(
            lo, saddr or (daddr if ip in _lo_addrs(lo) else _first4(lo)), daddr, RTN_LOCAL
        )
    for dev in net.devices.values():
        for iface in dev.addrs4:
            if iface.ip == ip:
                return Rtable(lo, saddr or daddr, daddr, RTN_LOCAL)
    for dev in net.devices.values():
        for iface in dev.addrs4:
            if ip in iface.network and dev is not lo:
                return Rtable(dev, saddr or iface.ip.packed, daddr, special or RTN_UNICAST)
    dev4 = net.default_dev4
    if dev4 is not None and dev4.addrs4:
        return Rtable(dev4, saddr or dev4.addrs4[0].ip.packed, daddr, special or RTN_UNICAST)
    raise kernel_error(errno.ENETUNREACH)


def _special_type(daddr: bytes) -> int:
    """``__mkroute_output``'s first classification: 0 for an ordinary destination."""
    if ipv4_is_lbcast(daddr):
        return RTN_BROADCAST
    if ipv4_is_multicast(daddr):
        return RTN_MULTICAST
    return 0


def _is_brd(iface: ipaddress.IPv4Interface, ip: ipaddress.IPv4Address) -> bool:
    """Is ``ip`` the broadcast address the kernel adds to the local table for ``iface``
    (``fib_add_ifaddr``: prefixes shorter than /31)?"""
    return iface.network.prefixlen < 31 and ip == iface.network.broadcast_address


def _dev_of(net: Net, saddr: bytes) -> NetDevice | None:
    """``__ip_dev_find``: the device holding ``saddr`` (``lo`` for all of ``127/8``)."""
    if saddr[0] == 127:
        return net.lo
    ip = ipaddress.IPv4Address(saddr)
    for dev in net.devices.values():
        if any(iface.ip == ip for iface in dev.addrs4):
            return dev
    return None


def _lo_addrs(lo: NetDevice) -> list[ipaddress.IPv4Address]:
    return [i.ip for i in lo.addrs4]


def _first4(dev: NetDevice) -> bytes:
    return dev.addrs4[0].ip.packed if dev.addrs4 else bytes([127, 0, 0, 1])
