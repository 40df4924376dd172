"""ICMP and ICMPv6: header round trip, checksums by hand and by dpkt, and the error messages
Linux sends for a port with no socket (how much of the offending packet they quote)."""

from __future__ import annotations

import attrs
import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.wire import (
    ICMP_DEST_UNREACH,
    ICMP_ECHO,
    ICMP_ERROR_ROOM,
    ICMP_FRAG_NEEDED,
    ICMP_HLEN,
    ICMP_PORT_UNREACH,
    ICMPV6_DEST_UNREACH,
    ICMPV6_ECHO_REQUEST,
    ICMPV6_ERROR_ROOM,
    ICMPV6_PKT_TOOBIG,
    ICMPV6_PORT_UNREACH,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_UDP,
    IPV4_HLEN,
    IPV6_HLEN,
    IPV6_MIN_MTU,
    UDP_HLEN,
    IcmpHeader,
    Ipv4Header,
    Ipv6Header,
    WireError,
    icmp4_error,
    icmp4_port_unreachable,
    icmp6_error,
    icmp6_port_unreachable,
    ip4_build_header,
    ip6_build_header,
    udp4_checksum,
    udp6_checksum,
    udp_build_header,
)

SRC4 = bytes([10, 0, 0, 1])
DST4 = bytes([10, 0, 0, 2])
LOOPBACK6 = bytes(15) + b"\x01"
DOC6 = bytes.fromhex("20010db8000000000000000000000001")

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
addr6 = st.binary(min_size=16, max_size=16)


def _message(
    h: IcmpHeader, body: bytes = b"", saddr: bytes | None = None, daddr: bytes | None = None
) -> bytearray:
    msg = bytearray(ICMP_HLEN) + body
    h.emit(msg, saddr=saddr, daddr=daddr)
    return msg


def _udp4_packet(payload_len: int) -> bytes:
    """A complete UDP/IPv4 packet 10.0.0.1:4000 -> 10.0.0.2:9, as the one being refused."""
    ulen = UDP_HLEN + payload_len
    packet = bytearray(IPV4_HLEN + ulen)
    ip4_build_header(packet, 0, len(packet), 7, 0x4000, 64, IPPROTO_UDP, SRC4, DST4)
    udp_build_header(packet, IPV4_HLEN, 4000, 9, ulen, 0)
    packet[IPV4_HLEN + UDP_HLEN :] = bytes(i & 0xFF for i in range(payload_len))
    check = udp4_checksum(SRC4, DST4, memoryview(packet)[IPV4_HLEN:])
    udp_build_header(packet, IPV4_HLEN, 4000, 9, ulen, check)
    return bytes(packet)


def _udp6_packet(payload_len: int) -> bytes:
    """A complete UDP/IPv6 packet [2001:db8::1]:4000 -> [::1]:9."""
    ulen = UDP_HLEN + payload_len
    packet = bytearray(IPV6_HLEN + ulen)
    ip6_build_header(packet, 0, ulen, IPPROTO_UDP, 64, DOC6, LOOPBACK6)
    udp_build_header(packet, IPV6_HLEN, 4000, 9, ulen, 0)
    packet[IPV6_HLEN + UDP_HLEN :] = bytes(i & 0xFF for i in range(payload_len))
    check = udp6_checksum(DOC6, LOOPBACK6, memoryview(packet)[IPV6_HLEN:])
    udp_build_header(packet, IPV6_HLEN, 4000, 9, ulen, check)
    return bytes(packet)


def _in_ipv6(saddr: bytes, daddr: bytes, msg: bytes) -> bytes:
    packet = bytearray(IPV6_HLEN)
    ip6_build_header(packet, 0, len(msg), IPPROTO_ICMPV6, 255, saddr, daddr)
    return bytes(packet) + msg


def test_constants_are_linux_values() -> None:
    assert (ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, ICMP_FRAG_NEEDED, ICMP_ECHO) == (3, 3, 4, 8)
    assert (IPPROTO_ICMP, IPPROTO_ICMPV6) == (1, 58)
    assert (ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH, ICMPV6_PKT_TOOBIG) == (1, 4, 2)
    assert (ICMP_HLEN, ICMP_ERROR_ROOM, ICMPV6_ERROR_ROOM) == (8, 548, 1232)


def test_icmp4_echo_checksum_by_hand() -> None:
    # 0800 + 0000 + 1234 + 0001 = 1a35; complement e5ca
    msg = _message(IcmpHeader(ICMP_ECHO, 0, None, 0x12340001))
    assert bytes(msg) == bytes.fromhex("0800e5ca12340001")
    assert IcmpHeader.verify_checksum(msg)
    assert IcmpHeader.parse(msg) == IcmpHeader(ICMP_ECHO, 0, 0xE5CA, 0x12340001)


def test_icmp6_echo_checksum_by_hand() -> None:
    # pseudo header (::1, ::1, length 8, next header 58): 0001 + 0001 + 0008 + 003a = 0044
    # message: 8000 + 0000 + 1234 + 0001 = 9235; total 9279; complement 6d86
    msg = _message(
        IcmpHeader(ICMPV6_ECHO_REQUEST, 0, None, 0x12340001), saddr=LOOPBACK6, daddr=LOOPBACK6
    )
    assert bytes(msg) == bytes.fromhex("80006d8612340001")
    assert IcmpHeader.verify_checksum(msg, saddr=LOOPBACK6, daddr=LOOPBACK6)
    assert not IcmpHeader.verify_checksum(msg)  # not a valid ICMPv4 checksum
    assert not IcmpHeader.verify_checksum(msg, saddr=DOC6, daddr=LOOPBACK6)


@settings(max_examples=300, database=None, derandomize=True)
@given(st.builds(IcmpHeader, u8, u8, u16, u32), st.integers(0, 7))
def test_round_trip(h: IcmpHeader, offset: int) -> None:
    buf = bytearray(offset + ICMP_HLEN)
    h.emit(buf, offset)
    assert IcmpHeader.parse(buf, offset) == h


@settings(max_examples=200, database=None, derandomize=True)
@given(u8, u8, u32, st.binary(max_size=100), addr6, addr6, st.integers(0, 5), st.data())
def test_computed_checksums_verify_and_catch_bit_flips(
    icmp_type: int,
    code: int,
    rest: int,
    body: bytes,
    saddr: bytes,
    daddr: bytes,
    offset: int,
    data: st.DataObject,
) -> None:
    h = IcmpHeader(icmp_type, code, None, rest)
    for s, d in ((None, None), (saddr, daddr)):
        buf = bytearray(offset + ICMP_HLEN + len(body) + 3)  # 3 bytes beyond the message
        buf[offset + ICMP_HLEN : offset + ICMP_HLEN + len(body)] = body
        length = ICMP_HLEN + len(body)
        h.emit(buf, offset, length, saddr=s, daddr=d)
        parsed = IcmpHeader.parse(buf, offset)
        assert parsed == attrs.evolve(h, check=parsed.check)
        assert IcmpHeader.verify_checksum(buf, offset, length, saddr=s, daddr=d)
        bit = data.draw(st.integers(8 * offset, 8 * (offset + length) - 1))
        buf[bit // 8] ^= 0x80 >> (bit % 8)
        assert not IcmpHeader.verify_checksum(buf, offset, length, saddr=s, daddr=d)


def test_parse_and_emit_errors() -> None:
    with pytest.raises(WireError, match=r"ICMP header truncated: 7 bytes at offset 0, need 8"):
        IcmpHeader.parse(bytes(7))
    with pytest.raises(WireError, match=r"ICMP message truncated: 4 bytes at offset 4"):
        IcmpHeader(ICMP_ECHO, 0).emit(bytearray(8), 4)
    with pytest.raises(WireError, match=r"ICMP message truncated: 20 bytes .*\(buffer 10\)"):
        IcmpHeader(ICMP_ECHO, 0).emit(bytearray(10), 0, 20)
    with pytest.raises(WireError, match=r"field out of range"):
        IcmpHeader(256, 0).emit(bytearray(8))
    with pytest.raises(WireError, match=r"ICMP message truncated"):
        IcmpHeader.verify_checksum(bytes(6))


@pytest.mark.parametrize(("saddr", "daddr"), [(LOOPBACK6, None), (None, LOOPBACK6), (SRC4, DST4)])
def test_icmp6_checksum_needs_both_16_byte_addresses(
    saddr: bytes | None, daddr: bytes | None
) -> None:
    with pytest.raises(WireError, match=r"needs both saddr and daddr, 16 bytes each"):
        IcmpHeader(ICMPV6_ECHO_REQUEST, 0).emit(bytearray(8), saddr=saddr, daddr=daddr)


# --- error messages -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload_len", "quoted"), [(5, 33), (ICMP_ERROR_ROOM - 28, 548), (972, 548)]
)
def test_icmp4_port_unreachable(payload_len: int, quoted: int) -> None:
    original = _udp4_packet(payload_len)
    msg = icmp4_port_unreachable(original)
    assert len(msg) == ICMP_HLEN + quoted
    assert msg[ICMP_HLEN:] == original[:quoted]
    assert IcmpHeader.parse(msg) == IcmpHeader(
        ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, msg[2] << 8 | msg[3]
    )
    assert IcmpHeader.verify_checksum(msg)
    assert IPV4_HLEN + len(msg) <= 576  # RFC 1812: the error fits in 576 bytes
    quoted_ip = Ipv4Header.parse(msg, ICMP_HLEN)
    assert (quoted_ip.saddr, quoted_ip.daddr, quoted_ip.tot_len) == (SRC4, DST4, len(original))

    # dpkt reads the same message, the quoted header, and computes the same checksum
    icmp = dpkt.icmp.ICMP(msg)
    assert (icmp.type, icmp.code) == (ICMP_DEST_UNREACH, ICMP_PORT_UNREACH)
    assert isinstance(icmp.data, dpkt.icmp.ICMP.Unreach)
    assert (icmp.data.ip.src, icmp.data.ip.dst, icmp.data.ip.p) == (SRC4, DST4, IPPROTO_UDP)
    icmp.sum = 0
    assert bytes(icmp) == msg


def test_icmp4_frag_needed_carries_the_mtu() -> None:
    msg = icmp4_error(_udp4_packet(1500), ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 1400)
    assert IcmpHeader.parse(msg).rest == 1400
    icmp = dpkt.icmp.ICMP(msg)
    assert (icmp.code, icmp.data.mtu) == (ICMP_FRAG_NEEDED, 1400)
    assert len(msg) == ICMP_HLEN + ICMP_ERROR_ROOM


@pytest.mark.parametrize(
    ("payload_len", "quoted"), [(5, 53), (ICMPV6_ERROR_ROOM - 48, 1232), (1952, 1232)]
)
def test_icmp6_port_unreachable(payload_len: int, quoted: int) -> None:
    original = _udp6_packet(payload_len)
    # the error goes back from the refusing host (::1) to the sender (2001:db8::1)
    msg = icmp6_port_unreachable(LOOPBACK6, DOC6, original)
    assert len(msg) == ICMP_HLEN + quoted
    assert msg[ICMP_HLEN:] == original[:quoted]
    assert IcmpHeader.parse(msg).type == ICMPV6_DEST_UNREACH
    assert IcmpHeader.parse(msg).code == ICMPV6_PORT_UNREACH
    assert IcmpHeader.verify_checksum(msg, saddr=LOOPBACK6, daddr=DOC6)
    assert IPV6_HLEN + len(msg) <= IPV6_MIN_MTU  # RFC 4443 §2.4(c)
    assert Ipv6Header.parse(msg, ICMP_HLEN).payload_len == len(original) - IPV6_HLEN

    packet = _in_ipv6(LOOPBACK6, DOC6, msg)
    ip6 = dpkt.ip6.IP6(packet)
    icmp6 = ip6.data
    assert isinstance(icmp6, dpkt.icmp6.ICMP6)
    assert (icmp6.type, icmp6.code) == (ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH)
    assert icmp6.data.ip6.src == DOC6
    icmp6.sum = 0  # dpkt recomputes it over the IPv6 pseudo header
    assert bytes(ip6) == packet


def test_icmp6_packet_too_big_carries_the_mtu() -> None:
    msg = icmp6_error(LOOPBACK6, DOC6, _udp6_packet(3000), ICMPV6_PKT_TOOBIG, 0, 1280)
    assert IcmpHeader.parse(msg).rest == 1280
    ip6 = dpkt.ip6.IP6(_in_ipv6(LOOPBACK6, DOC6, msg))
    assert (ip6.data.type, ip6.data.data.mtu) == (ICMPV6_PKT_TOOBIG, 1280)
    assert IcmpHeader.verify_checksum(msg, saddr=LOOPBACK6, daddr=DOC6)


# --- cross-check with a parser we did not write ------------------------------------------


@settings(max_examples=200, database=None, derandomize=True)
@given(u16, u16, st.binary(max_size=200))
def test_icmp4_echo_matches_dpkt(ident: int, seq: int, payload: bytes) -> None:
    msg = _message(IcmpHeader(ICMP_ECHO, 0, None, ident << 16 | seq), payload)
    icmp = dpkt.icmp.ICMP(bytes(msg))
    assert (icmp.type, icmp.code, icmp.data.id, icmp.data.seq, icmp.data.data) == (
        ICMP_ECHO,
        0,
        ident,
        seq,
        payload,
    )
    assert icmp.sum == IcmpHeader.parse(msg).check
    icmp.sum = 0
    assert bytes(icmp) == msg


@settings(max_examples=200, database=None, derandomize=True)
@given(addr6, addr6, u16, u16, st.binary(max_size=200))
def test_icmp6_echo_matches_dpkt(
    saddr: bytes, daddr: bytes, ident: int, seq: int, payload: bytes
) -> None:
    msg = _message(
        IcmpHeader(ICMPV6_ECHO_REQUEST, 0, None, ident << 16 | seq),
        payload,
        saddr=saddr,
        daddr=daddr,
    )
    packet = _in_ipv6(saddr, daddr, bytes(msg))
    ip6 = dpkt.ip6.IP6(packet)
    icmp6 = ip6.data
    assert (icmp6.type, icmp6.data.id, icmp6.data.seq) == (ICMPV6_ECHO_REQUEST, ident, seq)
    assert icmp6.sum == IcmpHeader.parse(msg).check
    icmp6.sum = 0  # dpkt recomputes it over the pseudo header
    assert bytes(ip6) == packet
