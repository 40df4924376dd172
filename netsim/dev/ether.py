"""An Ethernet NIC whose wire is a Linux TAP device: netsim as a peer of the real kernel.

Model
-----
A TAP device (``/dev/net/tun`` with ``IFF_TAP | IFF_NO_PI``) carries Ethernet frames between
the kernel's network stack and a file descriptor.  :class:`EtherDevice` is the NIC on the fd's
side: netsim's IP packets leave as Ethernet frames (``eth_header``: destination MAC, source
MAC, EtherType), and the frames the kernel sends arrive through :meth:`EtherDevice.rx_ether`.
Like :class:`~netsim.dev.remote.RemoteLinkDevice` it is sans-IO: the runtime reads and writes
the fd (``netsim.runtime.tap``); frames wait on the TX ring until the runtime has written them
(TX completion frees their skbs).

Neighbour discovery, as far as one link needs it:

* **ARP** (RFC 826, ``arp_process`` in net/ipv4/arp.c): a request for one of the device's IPv4
  addresses is answered with a reply from the device's MAC; the sender's address is learnt
  from requests and replies addressed to us (``neigh_event_ns``).
* **IPv6 neighbour discovery** (RFC 4861, ``ndisc_recv_ns`` / ``ndisc_send_na`` in
  net/ipv6/ndisc.c): a Neighbour Solicitation for one of the device's IPv6 addresses is
  answered with a solicited, override Neighbour Advertisement carrying the target link-layer
  address option; solicitations from the unspecified address (duplicate address detection)
  are answered to all-nodes, unsolicited.  The solicitor's source link-layer option is learnt.
* Sending to a neighbour whose MAC is unknown queues the packet (at most
  ``UNRES_QLEN`` per neighbour, as ``neigh->arp_queue``; older ones are dropped) and
  solicits it — an ARP request to broadcast, or an NS to the solicited-node multicast
  address — once per packet queued; the answer flushes the queue.

Not emulated: neighbour states and timers (an entry, once learnt, stays), gratuitous ARP,
router discovery, MLD (the kernel's reports are ignored), VLANs.  Every destination is taken
as on-link (netsim's routes have no gateways).
"""

from __future__ import annotations

import ipaddress
from typing import ClassVar, Final

from ..skb import SkBuff, kfree_skb
from ..wire.checksum import csum_partial
from ..wire.ipv6 import csum_ipv6_magic
from .device import NET_XMIT_DROP, NET_XMIT_SUCCESS
from .link import frame_with_checksum
from .remote import RemoteLinkDevice

__all__ = ["ETH_HLEN", "UNRES_QLEN", "EtherDevice", "eth_header"]

ETH_HLEN: Final = 14
ETH_P_IP: Final = 0x0800
ETH_P_ARP: Final = 0x0806
ETH_P_IPV6: Final = 0x86DD
ETH_BROADCAST: Final = b"\xff" * 6
ARPOP_REQUEST: Final = 1
ARPOP_REPLY: Final = 2
NDISC_NEIGHBOUR_SOLICITATION: Final = 135
NDISC_NEIGHBOUR_ADVERTISEMENT: Final = 136
ND_OPT_SOURCE_LL_ADDR: Final = 1
ND_OPT_TARGET_LL_ADDR: Final = 2
IPPROTO_ICMPV6: Final = 58
#: packets kept per unresolved neighbour (``neigh->arp_queue``; Linux bounds it by bytes,
#: ``unres_qlen_bytes``, about this many full-sized frames' worth on a small socket buffer)
UNRES_QLEN: Final = 3
_ALL_NODES: Final = ipaddress.IPv6Address("ff02::1").packed
_UNSPECIFIED: Final = bytes(16)


def eth_header(dst: bytes, src: bytes, proto: int) -> bytes:
    """``eth_header()`` (net/ethernet/eth.c): destination MAC, source MAC, EtherType."""
    return dst + src + proto.to_bytes(2, "big")


class EtherDevice(RemoteLinkDevice):
    """A NIC on an Ethernet wire (a TAP device's fd): ARP and IPv6 neighbour discovery for its
    own addresses, Ethernet framing both ways.

    Args:
        name: the device's name in netsim.
        mac: its MAC address (6 bytes; default a locally administered one).
        mtu: the Ethernet MTU (the payload of a frame).
    """

    kind: ClassVar[str] = "ether"

    def __init__(
        self,
        name: str = "eth0",
        *,
        mac: bytes = b"\x02\x00\x00\x00\x00\x02",
        mtu: int = 1500,
        txqueuelen: int = 1000,
    ) -> None:
        if len(mac) != 6 or mac[0] & 1:
            raise ValueError(f"a unicast MAC address is 6 bytes, first bit clear: {mac.hex(':')}")
        super().__init__(name, mtu=mtu, csum_offload=False, txqueuelen=txqueuelen)
        self.mac = mac
        #: learnt neighbours: IP address (4 or 16 bytes) -> MAC
        self.neighbours: dict[bytes, bytes] = {}
        #: packets waiting for a neighbour's MAC: IP address -> [(IP packet, skb)]
        self.unresolved: dict[bytes, list[tuple[bytes, SkBuff]]] = {}
        self.arp_requests_sent = 0
        self.arp_replies_sent = 0
        self.ndisc_ns_sent = 0
        self.ndisc_na_sent = 0
        self.rx_other_host = 0

    # -- transmit ------------------------------------------------------------------------------

    def start_xmit(self, skb: SkBuff) -> int:
        """Frame ``skb``'s packet for its neighbour, or queue it while the neighbour is
        being resolved."""
        if not self.carrier:
            self.tx_carrier_errors += 1
            self.tx_dropped += 1
            kfree_skb(skb)
            return NET_XMIT_DROP
        packet = frame_with_checksum(skb)
        v6 = packet[0] >> 4 == 6
        dst = packet[24:40] if v6 else packet[16:20]
        proto = ETH_P_IPV6 if v6 else ETH_P_IP
        if dst[0] == 0xFF and v6:
            mac: bytes | None = b"\x33\x33" + dst[12:]  # ipv6_eth_mc_map
        elif not v6 and 224 <= dst[0] <= 239:
            mac = b"\x01\x00\x5e" + bytes([dst[1] & 0x7F]) + dst[2:]  # ip_eth_mc_map
        else:
            mac = self.neighbours.get(dst)
        if mac is None:
            queue = self.unresolved.setdefault(dst, [])
            queue.append((packet, skb))
            if len(queue) > UNRES_QLEN:
                self.tx_dropped += 1
                kfree_skb(queue.pop(0)[1])
            self._solicit(dst, packet, v6)
            return NET_XMIT_SUCCESS
        return self.post_frame(eth_header(mac, self.mac, proto) + packet, skb)

    def _solicit(self, dst: bytes, packet: bytes, v6: bool) -> None:
        """``arp_solicit`` / ``ndisc_solicit``: ask who has ``dst``."""
        src = packet[8:24] if v6 else packet[12:16]
        if not v6:
            self.arp_requests_sent += 1
            self.post_frame(
                eth_header(ETH_BROADCAST, self.mac, ETH_P_ARP)
                + _arp(ARPOP_REQUEST, self.mac, src, bytes(6), dst),
                None,
            )
            return
        snm = b"\xff\x02" + bytes(9) + b"\x01\xff" + dst[13:]  # solicited-node multicast
        body = (
            bytes([NDISC_NEIGHBOUR_SOLICITATION, 0, 0, 0])
            + bytes(4)
            + dst
            + bytes([ND_OPT_SOURCE_LL_ADDR, 1])
            + self.mac
        )
        self.ndisc_ns_sent += 1
        self.post_frame(
            eth_header(b"\x33\x33" + snm[12:], self.mac, ETH_P_IPV6) + _icmp6(src, snm, body),
            None,
        )

    def _resolved(self, ip: bytes, mac: bytes) -> None:
        """``neigh_update``: remember ``mac`` for ``ip`` and send what waited for it."""
        self.neighbours[ip] = mac
        waiting = self.unresolved.pop(ip, None)
        if waiting:
            for packet, skb in waiting:
                proto = ETH_P_IPV6 if packet[0] >> 4 == 6 else ETH_P_IP
                self.post_frame(eth_header(mac, self.mac, proto) + packet, skb)

    # -- receive -------------------------------------------------------------------------------

    def rx_ether(self, frame: bytes) -> None:
        """A frame from the wire: ARP and neighbour discovery are answered here, IP goes up
        (``eth_type_trans`` + the protocol handlers).  Frames for another host are dropped."""
        if len(frame) < ETH_HLEN:
            self.rx_dropped += 1
            return
        dst = frame[0:6]
        if dst != self.mac and not dst[0] & 1:
            self.rx_other_host += 1  # PACKET_OTHERHOST
            return
        proto = int.from_bytes(frame[12:14], "big")
        payload = frame[ETH_HLEN:]
        if proto == ETH_P_ARP:
            self._rx_arp(payload)
        elif proto == ETH_P_IPV6:
            if (
                len(payload) >= 40
                and payload[6] == IPPROTO_ICMPV6
                and payload[40:41]
                in (
                    bytes([NDISC_NEIGHBOUR_SOLICITATION]),
                    bytes([NDISC_NEIGHBOUR_ADVERTISEMENT]),
                )
            ):
                self._rx_ndisc(payload, frame[6:12])
                return
            if dst[0] & 1 and dst[:2] == b"\x33\x33" and payload[24:25] == b"\xff":
                return  # multicast we did not join (MLD, router solicitations)
            self.rx_frame(_trim_ip(payload, v6=True))
        elif proto == ETH_P_IP:
            if dst[0] & 1:
                return  # no IPv4 multicast or broadcast receivers
            self.rx_frame(_trim_ip(payload, v6=False))
        else:
            self.rx_dropped += 1  # no handler for this EtherType

    def _rx_arp(self, arp: bytes) -> None:
        if len(arp) < 28 or arp[0:2] != b"\x00\x01" or arp[2:4] != b"\x08\x00":
            self.rx_dropped += 1
            return
        op = int.from_bytes(arp[6:8], "big")
        sha, spa, tpa = arp[8:14], arp[14:18], arp[24:28]
        ours = any(a.ip.packed == tpa for a in self.addrs4)
        if not ours:
            return
        self._resolved(spa, sha)
        if op == ARPOP_REQUEST:
            self.arp_replies_sent += 1
            self.post_frame(
                eth_header(sha, self.mac, ETH_P_ARP) + _arp(ARPOP_REPLY, self.mac, tpa, sha, spa),
                None,
            )

    def _rx_ndisc(self, packet: bytes, src_mac: bytes) -> None:
        if packet[7] != 255 or len(packet) < 40 + 24:
            self.rx_dropped += 1  # RFC 4861 §7.1.1: hop limit must be 255
            return
        saddr = packet[8:24]
        icmp = packet[40:]
        target = icmp[8:24]
        lladdr = _nd_option(icmp[24:])
        if icmp[0] == NDISC_NEIGHBOUR_ADVERTISEMENT:
            if target in self.unresolved or target in self.neighbours:
                self._resolved(target, lladdr or src_mac)
            return
        if not any(a.ip.packed == target for a in self.addrs6):
            return
        if saddr == _UNSPECIFIED:
            dst, flags, mac = _ALL_NODES, 0x20, b"\x33\x33" + _ALL_NODES[12:]  # DAD: O only
        else:
            mac = lladdr or src_mac
            self._resolved(saddr, mac)
            dst, flags = saddr, 0x60  # solicited, override
        body = (
            bytes([NDISC_NEIGHBOUR_ADVERTISEMENT, 0, 0, 0, flags, 0, 0, 0])
            + target
            + bytes([ND_OPT_TARGET_LL_ADDR, 1])
            + self.mac
        )
        self.ndisc_na_sent += 1
        self.post_frame(eth_header(mac, self.mac, ETH_P_IPV6) + _icmp6(target, dst, body), None)

    def close(self) -> None:
        """Drop what waits for a neighbour, then what the ring holds."""
        for waiting in self.unresolved.values():
            for _, skb in waiting:
                kfree_skb(skb)
        self.unresolved.clear()
        super().close()


def _arp(op: int, sha: bytes, spa: bytes, tha: bytes, tpa: bytes) -> bytes:
    """An Ethernet/IPv4 ARP packet (``arp_create``)."""
    return b"\x00\x01\x08\x00\x06\x04" + op.to_bytes(2, "big") + sha + spa + tha + tpa


def _icmp6(saddr: bytes, daddr: bytes, body: bytes) -> bytes:
    """An IPv6 packet (hop limit 255, as neighbour discovery requires) carrying the ICMPv6
    message ``body`` (checksum field zero in ``body``), its checksum filled in."""
    csum = csum_ipv6_magic(saddr, daddr, len(body), IPPROTO_ICMPV6, csum_partial(body))
    msg = body[:2] + csum.to_bytes(2, "big") + body[4:]
    header = (
        (0x60000000).to_bytes(4, "big")
        + len(msg).to_bytes(2, "big")
        + bytes([IPPROTO_ICMPV6, 255])
        + saddr
        + daddr
    )
    return header + msg


def _nd_option(options: bytes) -> bytes | None:
    """The link-layer address option of a neighbour discovery message, if any."""
    pos = 0
    while pos + 8 <= len(options):
        kind, units = options[pos], options[pos + 1]
        if units == 0:
            return None
        if kind in (ND_OPT_SOURCE_LL_ADDR, ND_OPT_TARGET_LL_ADDR):
            return options[pos + 2 : pos + 8]
        pos += units * 8
    return None


def _trim_ip(payload: bytes, *, v6: bool) -> bytes:
    """The IP packet of an Ethernet payload, without the padding a short frame carries
    (``pskb_trim_rcsum`` in ``ip_rcv_core`` / ``ipv6_rcv``)."""
    if v6:
        if len(payload) >= 40:
            return payload[: 40 + int.from_bytes(payload[4:6], "big")]
        return payload
    if len(payload) >= 20:
        return payload[: int.from_bytes(payload[2:4], "big")]
    return payload
