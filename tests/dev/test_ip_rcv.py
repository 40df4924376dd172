"""``ip_rcv``'s header checks on frames handed to a host's receive path: a good datagram is
delivered; a bad header checksum, a wrong version, a short ``tot_len`` and a foreign
destination are dropped and counted, as ``ip_rcv_core`` counts them."""

from __future__ import annotations

import pytest

from netsim.dev.device import ETH_P_IP
from netsim.netns import Net
from netsim.skb import alloc_skb, skb_put
from netsim.sock.constants import AF_INET, SOCK_DGRAM
from netsim.udp import UdpSock
from netsim.udp.proto import udp_bind
from netsim.wire.ipv4 import IPPROTO_UDP, ip4_build_header
from netsim.wire.udp import udp4_checksum, udp_build_header

LO = bytes([127, 0, 0, 1])


def _frame(payload: bytes, daddr: bytes = LO) -> bytearray:
    udp = bytearray(8 + len(payload))
    udp[8:] = payload
    udp_build_header(udp, 0, 4000, 9, len(udp), 0)
    udp_build_header(udp, 0, 4000, 9, len(udp), udp4_checksum(LO, daddr, udp))
    frame = bytearray(20) + udp
    ip4_build_header(frame, 0, len(frame), 1, 0, 64, IPPROTO_UDP, LO, daddr)
    return frame


def _inject(net: Net, frame: bytes | bytearray) -> None:
    skb = alloc_skb(len(frame), stats=net.stats)
    start = skb_put(skb, len(frame))
    skb.head[start : start + len(frame)] = frame
    skb.network_header = start
    skb.protocol = ETH_P_IP
    net.netif_rx(skb)


@pytest.mark.parametrize(
    ("damage", "counter"),
    [
        (lambda f: f.__setitem__(10, f[10] ^ 0x01), "IpInHdrErrors"),  # header checksum
        (lambda f: f.__setitem__(0, 0x65), "IpInHdrErrors"),  # version 6 in an IPv4 frame
        (lambda f: f.__setitem__(0, 0x44), "IpInHdrErrors"),  # ihl 4: shorter than a header
    ],
    ids=["checksum", "version", "ihl"],
)
def test_a_damaged_header_is_dropped_and_counted(damage: object, counter: str) -> None:
    net = Net("h")
    sk = UdpSock(net, AF_INET, SOCK_DGRAM, 0)
    udp_bind(sk, LO, 9)
    good = _frame(b"hello")
    _inject(net, good)
    assert len(sk.sk_receive_queue) == 1
    bad = bytearray(good)
    damage(bad)  # type: ignore[operator]
    _inject(net, bad)
    assert getattr(net.stats, counter) == 1
    assert len(sk.sk_receive_queue) == 1, "nothing more was delivered"
    assert net.stats.IpInDelivers == 1
    assert net.stats.IpInReceives == 2
    sk.release()
    net.close()
    assert net.page_allocator.leak_report() == ""


def test_tot_len_beyond_the_frame_and_a_foreign_address_are_dropped() -> None:
    net = Net("h")
    short = _frame(b"x" * 40)
    short[2:4] = (len(short) + 8).to_bytes(2, "big")  # claims more bytes than arrived
    short[10:12] = b"\0\0"
    ip4_build_header(
        short, 0, len(short) + 8, 1, 0, 64, IPPROTO_UDP, LO, LO
    )  # a valid checksum for the lie
    _inject(net, short)
    assert net.stats.IpInHdrErrors == 1
    _inject(net, _frame(b"y", daddr=bytes([192, 0, 2, 1])))
    assert net.stats.IpInAddrErrors == 1
    assert net.stats.IpInDelivers == 0
    net.close()
    assert net.page_allocator.leak_report() == ""


def test_link_padding_beyond_tot_len_is_trimmed() -> None:
    net = Net("h")
    sk = UdpSock(net, AF_INET, SOCK_DGRAM, 0)
    udp_bind(sk, LO, 9)
    _inject(net, _frame(b"payload") + b"\0" * 6)  # Ethernet pads short frames
    (skb,) = sk.sk_receive_queue
    assert skb.len == 8 + len(b"payload")
    assert net.stats.UdpInErrors == 0
    sk.release()
    net.close()
    assert net.page_allocator.leak_report() == ""
