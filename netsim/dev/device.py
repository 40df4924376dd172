"""Network devices and the generic transmit path (include/linux/netdevice.h, net/core/dev.c).

Model
-----
A :class:`NetDevice` has a name, an MTU, a feature set (the kernel's ``NETIF_F_*`` bits, same
values), addresses, and two directions:

* **transmit** — :func:`dev_queue_xmit` runs ``validate_xmit_skb`` first: a GSO skb the device
  cannot segment is segmented in software (:func:`~netsim.skb.skb_segment`), a
  ``CHECKSUM_PARTIAL`` skb on a device without checksum offload gets its checksum computed
  (:func:`skb_checksum_help`), a nonlinear skb on a device without scatter-gather is
  linearized.  Then ``start_xmit`` (``ndo_start_xmit``) takes ownership of each skb.
* **receive** — a driver hands a received skb to ``rx_handler``, which is the host's
  ``netif_rx`` unless a wrapper (a pcap tap) sits in between.

netsim is layer 3 only: no Ethernet header is built (``LL_RESERVED_SPACE`` headroom is still
reserved so skb geometry matches the kernel's) and captures use ``LINKTYPE_RAW``.

Pcap taps attach to a device (``dev.taps``) and see what it sends and receives, as the
kernel's packet taps do; a wrapper object would be bypassed by every cached route.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Final, Protocol

from ..skb import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    SkBuff,
    kfree_skb,
    skb_copy_bits,
    skb_linearize,
)
from ..sock.sock import Sock
from ..wire.checksum import csum_fold, csum_partial
from .ptype import skb_gso_segment

if TYPE_CHECKING:
    from ..netns import Net

__all__ = [
    "ETH_P_IP",
    "ETH_P_IPV6",
    "LL_RESERVED_SPACE",
    "NETDEV_FEATURE_NAMES",
    "NETIF_F_FRAGLIST",
    "NETIF_F_GRO",
    "NETIF_F_GSO",
    "NETIF_F_GSO_FRAGLIST",
    "NETIF_F_GSO_ROBUST",
    "NETIF_F_GSO_SHIFT",
    "NETIF_F_GSO_SOFTWARE",
    "NETIF_F_GSO_UDP_L4",
    "NETIF_F_HIGHDMA",
    "NETIF_F_HW_CSUM",
    "NETIF_F_HW_TLS_RX",
    "NETIF_F_HW_TLS_TX",
    "NETIF_F_IPV6_CSUM",
    "NETIF_F_IP_CSUM",
    "NETIF_F_LOOPBACK",
    "NETIF_F_RXCSUM",
    "NETIF_F_SG",
    "NETIF_F_TSO",
    "NETIF_F_TSO6",
    "NETIF_F_TSO_ECN",
    "NETIF_F_TSO_MANGLEID",
    "NET_XMIT_DROP",
    "NET_XMIT_SUCCESS",
    "NetDevice",
    "PacketTap",
    "dev_queue_xmit",
    "netdev_features_names",
    "skb_checksum_help",
    "validate_xmit_skb",
]

# netdev_features_t bits (include/linux/netdev_features.h, 6.18 numbering: the enum's unused
# slots 2, 12 and 13 included, and the GSO bits at NETIF_F_GSO_SHIFT + the SKB_GSO_* bit)
NETIF_F_GSO_SHIFT: Final = 16
NETIF_F_SG: Final = 1 << 0
NETIF_F_IP_CSUM: Final = 1 << 1
NETIF_F_HW_CSUM: Final = 1 << 3
NETIF_F_IPV6_CSUM: Final = 1 << 4
NETIF_F_HIGHDMA: Final = 1 << 5
NETIF_F_FRAGLIST: Final = 1 << 6
NETIF_F_GSO: Final = 1 << 11
NETIF_F_GRO: Final = 1 << 14
NETIF_F_TSO: Final = 1 << (NETIF_F_GSO_SHIFT + 0)  # SKB_GSO_TCPV4
NETIF_F_GSO_ROBUST: Final = 1 << (NETIF_F_GSO_SHIFT + 1)  # SKB_GSO_DODGY
NETIF_F_TSO_ECN: Final = 1 << (NETIF_F_GSO_SHIFT + 2)  # SKB_GSO_TCP_ECN
NETIF_F_TSO_MANGLEID: Final = 1 << (NETIF_F_GSO_SHIFT + 3)  # SKB_GSO_TCP_FIXEDID
NETIF_F_TSO6: Final = 1 << (NETIF_F_GSO_SHIFT + 4)  # SKB_GSO_TCPV6
NETIF_F_GSO_UDP_L4: Final = 1 << (NETIF_F_GSO_SHIFT + 17)  # SKB_GSO_UDP_L4
NETIF_F_GSO_FRAGLIST: Final = 1 << (NETIF_F_GSO_SHIFT + 18)  # SKB_GSO_FRAGLIST
NETIF_F_RXCSUM: Final = 1 << 40
NETIF_F_LOOPBACK: Final = 1 << 42
NETIF_F_HW_TLS_TX: Final = 1 << 53
NETIF_F_HW_TLS_RX: Final = 1 << 54

#: ``ethtool -k`` names of the features netsim models (net/ethtool/common.c
#: ``netdev_features_strings``), for :func:`netdev_features_names`
NETDEV_FEATURE_NAMES: Final[dict[int, str]] = {
    NETIF_F_SG: "tx-scatter-gather",
    NETIF_F_IP_CSUM: "tx-checksum-ipv4",
    NETIF_F_HW_CSUM: "tx-checksum-ip-generic",
    NETIF_F_IPV6_CSUM: "tx-checksum-ipv6",
    NETIF_F_HIGHDMA: "highdma",
    NETIF_F_FRAGLIST: "tx-scatter-gather-fraglist",
    NETIF_F_GSO: "tx-generic-segmentation",
    NETIF_F_GRO: "rx-gro",
    NETIF_F_TSO: "tx-tcp-segmentation",
    NETIF_F_GSO_ROBUST: "tx-gso-robust",
    NETIF_F_TSO_ECN: "tx-tcp-ecn-segmentation",
    NETIF_F_TSO_MANGLEID: "tx-tcp-mangleid-segmentation",
    NETIF_F_TSO6: "tx-tcp6-segmentation",
    NETIF_F_GSO_UDP_L4: "tx-udp-segmentation",
    NETIF_F_GSO_FRAGLIST: "tx-gso-list",
    NETIF_F_RXCSUM: "rx-checksum",
    NETIF_F_LOOPBACK: "loopback",
    NETIF_F_HW_TLS_TX: "tls-hw-tx-offload",
    NETIF_F_HW_TLS_RX: "tls-hw-rx-offload",
}


def netdev_features_names(features: int) -> list[str]:
    """The ``ethtool -k`` names of the bits set in ``features``, lowest bit first; a bit
    netsim does not name shows as ``bit-N``."""
    names = []
    bit = 0
    while features >> bit:
        if features >> bit & 1:
            names.append(NETDEV_FEATURE_NAMES.get(1 << bit, f"bit-{bit}"))
        bit += 1
    return names


#: The GSO types software can do (a subset of ``NETIF_F_GSO_SOFTWARE``: the ones netsim uses).
NETIF_F_GSO_SOFTWARE: Final = (
    NETIF_F_TSO | NETIF_F_TSO_ECN | NETIF_F_TSO_MANGLEID | NETIF_F_TSO6 | NETIF_F_GSO_UDP_L4
)

ETH_P_IP: Final = 0x0800
ETH_P_IPV6: Final = 0x86DD
#: ``LL_RESERVED_SPACE(dev)`` for a 14-byte link header: rounded up to 16.
LL_RESERVED_SPACE: Final = 16

NET_XMIT_SUCCESS: Final = 0
NET_XMIT_DROP: Final = 1

# SKB_GSO_* type bit -> the feature that can segment it
# net_gso_ok(): the feature a GSO type needs is its bit shifted by NETIF_F_GSO_SHIFT
_GSO_FEATURE: Final = {
    1 << 0: NETIF_F_TSO,  # SKB_GSO_TCPV4
    1 << 4: NETIF_F_TSO6,  # SKB_GSO_TCPV6
    1 << 17: NETIF_F_GSO_UDP_L4,  # SKB_GSO_UDP_L4
}


class PacketTap(Protocol):
    """What ``dev.taps`` holds: something that sees each skb the device sends or receives
    (``packet_type.func`` of a ``ptype_all`` handler).  It must not keep or change the skb."""

    def record(self, skb: SkBuff) -> None:
        """Look at ``skb`` (called in the data path: must not raise)."""


class NetDevice:
    """A network interface.  Subclasses implement :meth:`start_xmit`."""

    kind: ClassVar[str] = "device"

    def __init__(self, name: str, *, mtu: int, features: int) -> None:
        self.name = name
        self.mtu = mtu
        self.features = features
        self.ifindex = 0
        self.net: Net | None = None
        self.addrs4: list[ipaddress.IPv4Interface] = []
        self.addrs6: list[ipaddress.IPv6Interface] = []
        self.gso_max_size = 65536
        self.gso_max_segs = 65535
        #: the device's IPv6 hop limit (``idev->cnf.hop_limit``, ``net.ipv6.conf.DEV.hop_limit``):
        #: ``conf.default``'s when it was registered; -1 without IPv6 (an MTU below 1280, no
        #: ``inet6_dev``), where ``conf.all``'s is used
        self.ipv6_hop_limit = -1
        self.rx_handler: Callable[[SkBuff], None] = _no_rx
        #: packet taps (the kernel's ``ptype_all`` handlers): each sees every skb the device
        #: sends (``dev_queue_xmit_nit``) and receives; a :class:`~netsim.dev.PcapTap`, or
        #: any :class:`PacketTap`
        self.taps: list[PacketTap] = []
        self.up = True
        self.tx_packets = 0
        self.tx_bytes = 0
        self.tx_dropped = 0
        self.rx_packets = 0
        self.rx_bytes = 0
        self.rx_dropped = 0

    def set_feature(self, name: str, on: bool = True) -> None:
        """``ethtool -K DEV NAME on|off`` for one feature by its ``ethtool -k`` name
        (``"tx-scatter-gather"``, ``"tls-hw-tx-offload"``, …; :data:`NETDEV_FEATURE_NAMES`).
        ``ValueError`` for a name netsim does not model.  Netsim checks no dependencies
        between features (Linux's ``netdev_fix_features``): the paths that need one test it
        themselves, as the TLS device path tests checksum offload."""
        for bit, feature in NETDEV_FEATURE_NAMES.items():
            if feature == name:
                if on:
                    self.features |= bit
                else:
                    self.features &= ~bit
                return
        known = ", ".join(sorted(NETDEV_FEATURE_NAMES.values()))
        raise ValueError(f"unknown feature {name!r} (netsim models: {known})")

    def feature(self, name: str) -> bool:
        """``ethtool -k``: is the feature called ``name`` on?"""
        for bit, feature in NETDEV_FEATURE_NAMES.items():
            if feature == name:
                return bool(self.features & bit)
        raise ValueError(f"unknown feature {name!r}")

    def start_xmit(self, skb: SkBuff) -> int:
        """``ndo_start_xmit``: take ownership of ``skb``; return ``NET_XMIT_*``."""
        raise NotImplementedError

    def receive(self, skb: SkBuff) -> None:
        """Deliver a received skb up the stack (through any wrapper)."""
        self.rx_packets += 1
        self.rx_bytes += skb.len
        if self.taps and self.kind != "loopback":
            for tap in tuple(self.taps):  # a tap whose file fails detaches itself
                tap.record(skb)
        self.rx_handler(skb)

    def close(self) -> None:
        """Drop anything the device still holds (the host is closing)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} mtu={self.mtu}>"


def _no_rx(skb: SkBuff) -> None:
    kfree_skb(skb)


def skb_checksum_help(skb: SkBuff) -> None:
    """``skb_checksum_help()`` (net/core/dev.c): resolve a ``CHECKSUM_PARTIAL`` skb in
    software — sum from ``csum_start`` to the end, store the folded value at
    ``csum_start + csum_offset`` — and mark it ``CHECKSUM_NONE``."""
    start = skb.csum_start - skb.data
    length = skb.len - start
    buf = bytearray(length)
    skb_copy_bits(skb, start, buf, length)
    # the check field holds the pseudo-header seed; the sum covers it
    value = csum_fold(csum_partial(buf)) or 0xFFFF  # CSUM_MANGLED_0
    where = skb.csum_start + skb.csum_offset
    if where + 2 > skb.tail:
        raise ValueError("checksum field outside the linear area")
    skb.head[where : where + 2] = value.to_bytes(2, "big")
    skb.ip_summed = CHECKSUM_NONE


def validate_xmit_skb(skb: SkBuff, dev: NetDevice, sk_hook: bool = True) -> list[SkBuff]:
    """``validate_xmit_skb()`` (net/core/dev.c): make ``skb`` something ``dev`` can send.
    Returns the skbs to transmit (several after software GSO).  A socket with
    ``sk_validate_xmit_skb`` (TLS device offload) sees the skb first, before segmentation, and
    may replace it (``sk_validate_xmit_skb``, net/core/dev.c); the segments of a GSO skb come
    through here again with ``sk_hook`` False, as the kernel checks them without the hook."""
    if sk_hook:
        sk: Sock | None = skb.sk
        if sk is not None and sk.sk_validate_xmit:
            checked = sk.validate_xmit_skb(dev, skb)
            if checked is None:
                return []
            skb = checked
    features = dev.features
    shinfo = skb.shinfo
    if shinfo.gso_size:
        needed = _GSO_FEATURE.get(shinfo.gso_type & 0x2001F, 0)
        # gso_features_check(): a GSO skb larger than the device takes (tcp_grow_skb can
        # build one of two MSS on loopback, whose MSS is nearly 64 KiB) loses the device's
        # segmentation offload and is cut in software
        if skb.len >= dev.gso_max_size or shinfo.gso_segs > dev.gso_max_segs:
            needed = 0
        if not needed or not features & needed:
            # skb_gso_segment: the protocols' gso_segment callback (registered with
            # dev_add_offload, as the kernel registers offloads) cuts it and fixes headers
            segs = skb_gso_segment(skb, features)
            out: list[SkBuff] = []
            for seg in segs:
                out.extend(validate_xmit_skb(seg, dev, False))
            return out
        return [skb]
    if skb.data_len and not features & NETIF_F_SG:
        skb_linearize(skb)
    if skb.ip_summed == CHECKSUM_PARTIAL and not features & (
        NETIF_F_HW_CSUM | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM
    ):
        skb_checksum_help(skb)
    return [skb]


def dev_queue_xmit(skb: SkBuff, dev: NetDevice) -> int:
    """``dev_queue_xmit()``: validate, then hand each resulting skb to the driver.  Returns
    ``NET_XMIT_DROP`` if any was dropped."""
    if not dev.up:
        dev.tx_dropped += 1
        kfree_skb(skb)
        return NET_XMIT_DROP
    ret = NET_XMIT_SUCCESS
    for one in validate_xmit_skb(skb, dev):
        if dev.taps:  # dev_queue_xmit_nit; a tap whose file fails detaches itself
            for tap in tuple(dev.taps):
                tap.record(one)
        if dev.start_xmit(one) != NET_XMIT_SUCCESS:
            ret = NET_XMIT_DROP
    return ret
