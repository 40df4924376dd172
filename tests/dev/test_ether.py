"""``EtherDevice``, the NIC on a TAP wire, without a TAP: ARP and IPv6 neighbour discovery
answered for its own addresses (parsed back with dpkt, an independent parser), packets queued
until their neighbour is resolved, frames for other hosts dropped."""

from __future__ import annotations

import ipaddress

import dpkt
import trio
import trio.testing

import netsim
from netsim.dev import EtherDevice
from netsim.dev.ether import UNRES_QLEN, eth_header
from netsim.wire.checksum import csum_partial
from netsim.wire.ipv6 import ip6_pseudo_csum

KERNEL_MAC = b"\x36\x3f\x41\x59\x03\x64"
OURS4 = ipaddress.IPv4Address("198.18.0.2").packed
KERNEL4 = ipaddress.IPv4Address("198.18.0.1").packed
OURS6 = ipaddress.IPv6Address("fd00:198:18::2").packed
KERNEL6 = ipaddress.IPv6Address("fd00:198:18::1").packed


def _device(host: netsim.Host) -> EtherDevice:
    dev = EtherDevice("eth0")
    host.net.add_device(dev, ("198.18.0.2/24", "fd00:198:18::2/64"))
    host.net.set_default_route("eth0")
    dev.set_carrier(True)
    return dev


def _arp_request(spa: bytes, tpa: bytes) -> bytes:
    arp = dpkt.arp.ARP(op=dpkt.arp.ARP_OP_REQUEST, sha=KERNEL_MAC, spa=spa, tha=bytes(6), tpa=tpa)
    return eth_header(b"\xff" * 6, KERNEL_MAC, 0x0806) + bytes(arp)


def _ns(target: bytes, src: bytes = KERNEL6) -> bytes:
    body = bytes([135, 0, 0, 0]) + bytes(4) + target + bytes([1, 1]) + KERNEL_MAC
    dst = b"\xff\x02" + bytes(9) + b"\x01\xff" + target[13:]
    total = ip6_pseudo_csum(src, dst, len(body), 58) + csum_partial(body)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    body = body[:2] + (~total & 0xFFFF).to_bytes(2, "big") + body[4:]
    ip6 = bytes([0x60, 0, 0, 0]) + len(body).to_bytes(2, "big") + bytes([58, 255]) + src + dst
    return eth_header(b"\x33\x33" + dst[12:], KERNEL_MAC, 0x86DD) + ip6 + body


def _icmp6_sum_ok(ip6: dpkt.ip6.IP6) -> bool:
    raw = bytes(ip6.data)
    total = ip6_pseudo_csum(ip6.src, ip6.dst, len(raw), 58) + csum_partial(raw)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


async def test_arp_request_for_us_is_answered(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        dev = _device(host)
        dev.rx_ether(_arp_request(KERNEL4, OURS4))
        (frame,) = dev.tx_frames()
        eth = dpkt.ethernet.Ethernet(frame)
        assert eth.dst == KERNEL_MAC
        assert eth.src == dev.mac
        arp = eth.data
        assert isinstance(arp, dpkt.arp.ARP)
        assert arp.op == dpkt.arp.ARP_OP_REPLY
        assert (arp.sha, arp.spa, arp.tha, arp.tpa) == (dev.mac, OURS4, KERNEL_MAC, KERNEL4)
        assert dev.neighbours[KERNEL4] == KERNEL_MAC
        dev.tx_complete(1)
        dev.rx_ether(_arp_request(KERNEL4, ipaddress.IPv4Address("198.18.0.7").packed))
        assert not dev.txring  # not ours: no answer


async def test_neighbour_solicitation_is_answered(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        dev = _device(host)
        dev.rx_ether(_ns(OURS6))
        (frame,) = dev.tx_frames()
        eth = dpkt.ethernet.Ethernet(frame)
        assert eth.dst == KERNEL_MAC
        ip6 = eth.data
        assert isinstance(ip6, dpkt.ip6.IP6)
        assert (ip6.src, ip6.dst, ip6.hlim, ip6.nxt) == (OURS6, KERNEL6, 255, 58)
        assert _icmp6_sum_ok(ip6)
        raw = bytes(ip6.data)
        assert raw[0] == 136  # neighbour advertisement
        assert raw[4] == 0x60  # solicited, override
        assert raw[8:24] == OURS6
        assert raw[24:32] == bytes([2, 1]) + dev.mac  # target link-layer address
        assert dev.neighbours[KERNEL6] == KERNEL_MAC
        dev.tx_complete(1)
        dev.rx_ether(_ns(OURS6, src=bytes(16)))  # duplicate address detection: to all-nodes
        (frame,) = dev.tx_frames()
        ip6 = dpkt.ethernet.Ethernet(frame).data
        assert ip6.dst == ipaddress.IPv6Address("ff02::1").packed
        assert bytes(ip6.data)[4] == 0x20  # override only
        dev.tx_complete(1)


async def test_packets_wait_for_the_neighbour(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        dev = _device(host)
        sock = host.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
        await sock.connect(("198.18.0.1", 9))
        for i in range(UNRES_QLEN + 1):
            await sock.send(bytes([i]) * 10)
        # one ARP request per packet queued, the oldest packet dropped past UNRES_QLEN
        requests = [dpkt.ethernet.Ethernet(f) for f in dev.tx_frames()]
        assert len(requests) == UNRES_QLEN + 1
        assert all(e.dst == b"\xff" * 6 and isinstance(e.data, dpkt.arp.ARP) for e in requests)
        assert dev.tx_dropped == 1
        dev.tx_complete(len(requests))
        reply = dpkt.arp.ARP(
            op=dpkt.arp.ARP_OP_REPLY, sha=KERNEL_MAC, spa=KERNEL4, tha=dev.mac, tpa=OURS4
        )
        dev.rx_ether(eth_header(dev.mac, KERNEL_MAC, 0x0806) + bytes(reply))
        sent = [dpkt.ethernet.Ethernet(f) for f in dev.tx_frames()]
        assert [bytes(e.data.data.data) for e in sent] == [bytes([i]) * 10 for i in (1, 2, 3)]
        assert all(e.dst == KERNEL_MAC for e in sent)
        dev.tx_complete(len(sent))
        sock.close()


async def test_frames_for_another_host_are_dropped(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        dev = _device(host)
        other = eth_header(b"\x02\x00\x00\x00\x00\x99", KERNEL_MAC, 0x0800) + bytes(40)
        dev.rx_ether(other)
        assert dev.rx_other_host == 1
        assert not dev.txring
