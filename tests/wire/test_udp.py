"""UDP header and checksum: round trip, hand-computed and dpkt-computed checksums, the
zero-checksum rules of IPv4 and IPv6, and the receiver's verification."""

from __future__ import annotations

import attrs
import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.wire import (
    CSUM_MANGLED_0,
    IPPROTO_UDP,
    IPV4_HLEN,
    IPV6_HLEN,
    UDP_HLEN,
    UdpHeader,
    WireError,
    csum_ipv6_magic,
    csum_partial,
    csum_tcpudp_magic,
    ip4_build_header,
    ip4_pseudo_csum,
    ip6_build_header,
    ip6_pseudo_csum,
    udp4_checksum,
    udp6_checksum,
    udp_build_header,
    udp_verify,
)

SRC4 = bytes([192, 168, 0, 1])
DST4 = bytes([192, 168, 0, 199])
LOOPBACK6 = bytes(15) + b"\x01"

u16 = st.integers(0, 0xFFFF)
addr4 = st.binary(min_size=4, max_size=4)
addr6 = st.binary(min_size=16, max_size=16)
payloads = st.binary(max_size=300)


def _datagram(sport: int, dport: int, payload: bytes, check: int = 0) -> bytearray:
    buf = bytearray(UDP_HLEN + len(payload))
    udp_build_header(buf, 0, sport, dport, len(buf), check)
    buf[UDP_HLEN:] = payload
    return buf


def _with_check(datagram: bytearray, check: int) -> bytes:
    datagram[6:8] = check.to_bytes(2, "big")
    return bytes(datagram)


def test_constants() -> None:
    assert (UDP_HLEN, CSUM_MANGLED_0) == (8, 0xFFFF)


@settings(max_examples=300, database=None, derandomize=True)
@given(st.builds(UdpHeader, u16, u16, st.integers(UDP_HLEN, 0xFFFF), u16), st.integers(0, 7))
def test_round_trip_and_fast_builder(h: UdpHeader, offset: int) -> None:
    buf = bytearray(offset + UDP_HLEN)
    h.emit(buf, offset)
    assert UdpHeader.parse(buf, offset) == h
    fast = bytearray(offset + UDP_HLEN)
    udp_build_header(fast, offset, h.sport, h.dport, h.length, h.check)
    assert fast == buf


@pytest.mark.parametrize(
    ("raw", "offset", "message"),
    [
        (bytes(7), 0, r"UDP header truncated: 7 bytes at offset 0, need 8"),
        (bytes(10), 3, r"UDP header truncated: 7 bytes at offset 3"),
        (bytes.fromhex("04d2162e00070000"), 0, r"UDP len 7 at offset 0 is shorter than the 8-byte"),
        (bytes(8), 0, r"UDP len 0 "),
    ],
)
def test_parse_errors(raw: bytes, offset: int, message: str) -> None:
    with pytest.raises(WireError, match=message):
        UdpHeader.parse(raw, offset)


def test_emit_errors() -> None:
    with pytest.raises(WireError, match=r"field out of range"):
        UdpHeader(70000, 1, 8, 0).emit(bytearray(8))
    with pytest.raises(WireError, match=r"buffer too short for a UDP header at offset 1: 8 bytes"):
        UdpHeader(1, 1, 8, 0).emit(bytearray(8), 1)


def test_ipv4_checksum_by_hand() -> None:
    # 192.168.0.1:1234 -> 192.168.0.199:5678, payload "hello" (length 13 = 0x000d)
    #   pseudo header  c0a8 + 0001 + c0a8 + 00c7 + 0011 + 000d = 0x18236
    #   UDP header     04d2 + 162e + 000d + 0000               = 0x19d43
    #   payload        6865 + 6c6c + 6f00 (padded)              = 0x2e114
    #   fold: e114 + 2 = e116; complement: 1ee9
    datagram = _datagram(1234, 5678, b"hello")
    assert udp4_checksum(SRC4, DST4, datagram) == 0x1EE9
    assert csum_tcpudp_magic(SRC4, DST4, 13, IPPROTO_UDP, csum_partial(datagram)) == 0x1EE9
    assert udp_verify(SRC4, DST4, _with_check(datagram, 0x1EE9), v6=False)


def test_ipv6_checksum_by_hand() -> None:
    # [::1]:1234 -> [::1]:5678, payload "hello"
    #   pseudo header  0001 + 0001 + 0000 000d + 0011 = 0x0020
    #   UDP header     04d2 + 162e + 000d + 0000       = 0x1b0d  (running: 0x1b2d)
    #   payload        6865 + 6c6c + 6f00              = 0x143d1 (running: 0x15efe)
    #   fold: 5efe + 1 = 5eff; complement: a100
    datagram = _datagram(1234, 5678, b"hello")
    assert udp6_checksum(LOOPBACK6, LOOPBACK6, datagram) == 0xA100
    assert udp_verify(LOOPBACK6, LOOPBACK6, _with_check(datagram, 0xA100), v6=True)


def _payload_summing_to_zero(pseudo: int, sport: int, dport: int) -> bytes:
    """A 2-byte payload that makes the whole sum 0xFFFF, so the computed checksum is 0."""
    rest = csum_partial(bytes(_datagram(sport, dport, b"\0\0")), pseudo)
    return (0xFFFF - rest).to_bytes(2, "big")


def test_ipv4_computed_zero_is_sent_as_ffff() -> None:
    payload = _payload_summing_to_zero(ip4_pseudo_csum(SRC4, DST4, 10, IPPROTO_UDP), 7, 9)
    datagram = _datagram(7, 9, payload)
    assert csum_tcpudp_magic(SRC4, DST4, 10, IPPROTO_UDP, csum_partial(datagram)) == 0
    assert udp4_checksum(SRC4, DST4, datagram) == CSUM_MANGLED_0
    assert udp_verify(SRC4, DST4, _with_check(datagram, CSUM_MANGLED_0), v6=False)
    # dpkt agrees (it applies the same RFC 768 rule for IPv4)
    ip = dpkt.ip.IP(src=SRC4, dst=DST4, p=IPPROTO_UDP, data=dpkt.udp.UDP(bytes(datagram)))
    assert dpkt.ip.IP(bytes(ip)).data.sum == CSUM_MANGLED_0


def test_ipv6_computed_zero_is_sent_as_ffff() -> None:
    pseudo = ip6_pseudo_csum(LOOPBACK6, LOOPBACK6, 10, IPPROTO_UDP)
    datagram = _datagram(7, 9, _payload_summing_to_zero(pseudo, 7, 9))
    assert csum_ipv6_magic(LOOPBACK6, LOOPBACK6, 10, IPPROTO_UDP, csum_partial(datagram)) == 0
    assert udp6_checksum(LOOPBACK6, LOOPBACK6, datagram) == CSUM_MANGLED_0
    assert udp_verify(LOOPBACK6, LOOPBACK6, _with_check(datagram, CSUM_MANGLED_0), v6=True)


@settings(max_examples=200, database=None, derandomize=True)
@given(addr4, addr4, addr6, addr6, u16, u16, payloads, u16)
def test_checksum_ignores_the_check_field(
    s4: bytes, d4: bytes, s6: bytes, d6: bytes, sport: int, dport: int, payload: bytes, junk: int
) -> None:
    clean, dirty = _datagram(sport, dport, payload), _datagram(sport, dport, payload, junk)
    assert udp4_checksum(s4, d4, dirty) == udp4_checksum(s4, d4, clean) != 0
    assert udp6_checksum(s6, d6, dirty) == udp6_checksum(s6, d6, clean) != 0
    assert dirty == _datagram(sport, dport, payload, junk)  # not modified


@settings(max_examples=200, database=None, derandomize=True)
@given(addr4, addr4, u16, u16, payloads, st.booleans(), st.data())
def test_verify_accepts_good_and_rejects_corrupt(
    s: bytes, d: bytes, sport: int, dport: int, payload: bytes, v6: bool, data: st.DataObject
) -> None:
    if v6:
        s, d = s * 4, d * 4
    checksum = udp6_checksum if v6 else udp4_checksum
    datagram = _datagram(sport, dport, payload)
    good = _with_check(datagram, checksum(s, d, datagram))
    assert udp_verify(s, d, good, v6)
    assert udp_verify(s, d, good + b"\0\0pad", v6)  # bytes beyond `len` are not the datagram
    bit = data.draw(st.integers(0, 8 * len(good) - 1).filter(lambda b: not 32 <= b < 48))
    bad = bytearray(good)
    bad[bit // 8] ^= 0x80 >> (bit % 8)  # any bit but the length field's
    # (a flip that leaves the check field 0 turns it into "no checksum", fine over IPv4)
    assert udp_verify(s, d, bad, v6) == (bad[6:8] == b"\0\0" and not v6)


def test_verify_zero_checksum_means_none_over_ipv4_only() -> None:
    datagram = bytes(_datagram(1234, 5678, b"hello", check=0))
    assert udp_verify(SRC4, DST4, datagram, v6=False)
    assert not udp_verify(LOOPBACK6, LOOPBACK6, datagram, v6=True)


@pytest.mark.parametrize(
    "datagram",
    [
        b"",
        bytes.fromhex("04d2162e000d"),  # shorter than a header
        bytes.fromhex("04d2162e00071ee9"),  # len 7 < 8
        bytes.fromhex("04d2162e000e1ee9") + b"hello",  # len 14 > 13 bytes present
    ],
)
def test_verify_rejects_malformed(datagram: bytes) -> None:
    assert not udp_verify(SRC4, DST4, datagram, v6=False)
    assert not udp_verify(LOOPBACK6, LOOPBACK6, datagram, v6=True)


def test_checksum_of_truncated_datagram_raises() -> None:
    with pytest.raises(WireError, match=r"UDP datagram truncated: 5 bytes, need 8"):
        udp4_checksum(SRC4, DST4, b"hello")
    with pytest.raises(WireError, match="truncated"):
        udp6_checksum(LOOPBACK6, LOOPBACK6, memoryview(b"hello"))


# --- cross-check with a parser we did not write ------------------------------------------


@settings(max_examples=200, database=None, derandomize=True)
@given(addr4, addr4, u16, u16, u16, payloads)
def test_ipv4_datagram_matches_dpkt(
    saddr: bytes, daddr: bytes, ident: int, sport: int, dport: int, payload: bytes
) -> None:
    ulen = UDP_HLEN + len(payload)
    packet = bytearray(IPV4_HLEN + ulen)
    ip4_build_header(packet, 0, len(packet), ident, 0x4000, 64, IPPROTO_UDP, saddr, daddr)
    udp_build_header(packet, IPV4_HLEN, sport, dport, ulen, 0)
    packet[IPV4_HLEN + UDP_HLEN :] = payload
    check = udp4_checksum(saddr, daddr, memoryview(packet)[IPV4_HLEN:])
    udp_build_header(packet, IPV4_HLEN, sport, dport, ulen, check)

    ip = dpkt.ip.IP(bytes(packet))
    udp = ip.data
    assert isinstance(udp, dpkt.udp.UDP)
    assert (udp.sport, udp.dport, udp.ulen, udp.sum, udp.data) == (
        sport,
        dport,
        ulen,
        check,
        payload,
    )
    assert UdpHeader.parse(packet, IPV4_HLEN) == UdpHeader(sport, dport, ulen, check)
    ip.sum = udp.sum = 0  # dpkt recomputes both checksums when they are zero
    assert bytes(ip) == bytes(packet)
    assert udp_verify(saddr, daddr, memoryview(packet)[IPV4_HLEN:], v6=False)


@settings(max_examples=200, database=None, derandomize=True)
@given(addr6, addr6, u16, u16, payloads)
def test_ipv6_datagram_matches_dpkt(
    saddr: bytes, daddr: bytes, sport: int, dport: int, payload: bytes
) -> None:
    ulen = UDP_HLEN + len(payload)
    packet = bytearray(IPV6_HLEN + ulen)
    ip6_build_header(packet, 0, ulen, IPPROTO_UDP, 64, saddr, daddr)
    udp_build_header(packet, IPV6_HLEN, sport, dport, ulen, 0)
    packet[IPV6_HLEN + UDP_HLEN :] = payload
    check = udp6_checksum(saddr, daddr, memoryview(packet)[IPV6_HLEN:])
    udp_build_header(packet, IPV6_HLEN, sport, dport, ulen, check)

    ip6 = dpkt.ip6.IP6(bytes(packet))
    udp = ip6.data
    assert isinstance(udp, dpkt.udp.UDP)
    assert (udp.sport, udp.dport, udp.ulen, udp.sum) == (sport, dport, ulen, check)
    udp.sum = 0
    bytes(ip6)  # dpkt recomputes the UDP checksum; it does not map 0 to 0xFFFF for IPv6
    assert (udp.sum or CSUM_MANGLED_0) == check
    assert udp_verify(saddr, daddr, memoryview(packet)[IPV6_HLEN:], v6=True)


def test_header_values_are_frozen() -> None:
    h = UdpHeader(1, 2, 8, 0)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        h.check = 1  # type: ignore[misc]
