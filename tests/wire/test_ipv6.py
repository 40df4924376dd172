"""IPv6 fixed and fragment headers: round trip, the fast builder, parse errors, the
pseudo-header sum, and a cross-check with dpkt's parser."""

from __future__ import annotations

import struct

import attrs
import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.wire import (
    FRAG_HLEN,
    IP6_MAX_MTU,
    IPPROTO_FRAGMENT,
    IPPROTO_UDP,
    IPV6_HLEN,
    IPV6_MIN_MTU,
    Ipv6FragHeader,
    Ipv6Header,
    WireError,
    csum_add,
    csum_fold,
    csum_ipv6_magic,
    csum_partial,
    ip6_build_header,
    ip6_pseudo_csum,
)

LOOPBACK = bytes(15) + b"\x01"  # ::1
DOC = bytes.fromhex("20010db8000000000000000000000001")  # 2001:db8::1

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
addr6 = st.binary(min_size=16, max_size=16)


@st.composite
def ipv6_headers(draw: st.DrawFn) -> Ipv6Header:
    return Ipv6Header(
        tclass=draw(u8),
        flow_label=draw(st.integers(0, 0xFFFFF)),
        payload_len=draw(u16),
        nexthdr=draw(u8),
        hop_limit=draw(u8),
        saddr=draw(addr6),
        daddr=draw(addr6),
    )


frag_headers = st.builds(
    Ipv6FragHeader,
    nexthdr=u8,
    offset=st.integers(0, 0x1FFF).map(lambda units: units * 8),
    mf=st.booleans(),
    identification=st.integers(0, 0xFFFFFFFF),
)


def _example() -> Ipv6Header:
    return Ipv6Header(
        tclass=0xB8,
        flow_label=0x12345,
        payload_len=8,
        nexthdr=IPPROTO_UDP,
        hop_limit=64,
        saddr=DOC,
        daddr=LOOPBACK,
    )


def test_constants() -> None:
    assert (IPV6_HLEN, FRAG_HLEN, IPV6_MIN_MTU, IP6_MAX_MTU) == (40, 8, 1280, 65575)


def test_known_answer() -> None:
    buf = bytearray(IPV6_HLEN)
    _example().emit(buf)
    assert bytes(buf[:8]) == bytes.fromhex("6b812345 0008 11 40")
    assert bytes(buf[8:]) == DOC + LOOPBACK
    assert Ipv6Header.parse(buf) == _example()


@settings(max_examples=300, database=None, derandomize=True)
@given(ipv6_headers(), st.integers(0, 7))
def test_round_trip_and_fast_builder(h: Ipv6Header, offset: int) -> None:
    buf = bytearray(offset + IPV6_HLEN)
    h.emit(buf, offset)
    assert Ipv6Header.parse(buf, offset) == h
    fast = bytearray(offset + IPV6_HLEN)
    ip6_build_header(
        fast,
        offset,
        h.payload_len,
        h.nexthdr,
        h.hop_limit,
        h.saddr,
        h.daddr,
        h.tclass,
        h.flow_label,
    )
    assert fast == buf


@settings(max_examples=300, database=None, derandomize=True)
@given(frag_headers, st.integers(0, 7))
def test_frag_round_trip(h: Ipv6FragHeader, offset: int) -> None:
    buf = bytearray(offset + FRAG_HLEN)
    h.emit(buf, offset)
    assert Ipv6FragHeader.parse(buf, offset) == h
    assert buf[offset + 1] == 0  # reserved byte
    assert buf[offset + 3] & 0b110 == 0  # reserved bits


def test_frag_known_answer_and_reserved_bits_ignored() -> None:
    h = Ipv6FragHeader(IPPROTO_UDP, 1448, True, 0xDEADBEEF)
    buf = bytearray(FRAG_HLEN)
    h.emit(buf)
    assert bytes(buf) == bytes.fromhex("11 00 05a9 deadbeef")  # 1448 = 181 * 8 -> 0x5a8 | M
    dirty = bytes.fromhex("11 ff 05af deadbeef")  # reserved byte and the two reserved bits set
    assert Ipv6FragHeader.parse(dirty) == h


@pytest.mark.parametrize(
    ("raw", "offset", "message"),
    [
        (bytes(39), 0, r"IPv6 header truncated: 39 bytes at offset 0, need 40"),
        (bytes(50), 20, r"IPv6 header truncated: 30 bytes at offset 20"),
        (b"\x45" + bytes(39), 0, r"not an IPv6 header: version 4 at offset 0"),
        (bytes(40), 0, r"not an IPv6 header: version 0"),
    ],
)
def test_parse_errors(raw: bytes, offset: int, message: str) -> None:
    with pytest.raises(WireError, match=message):
        Ipv6Header.parse(raw, offset)


def test_frag_parse_error() -> None:
    with pytest.raises(WireError, match=r"IPv6 fragment header truncated: 7 bytes .* need 8"):
        Ipv6FragHeader.parse(bytes(7))


@pytest.mark.parametrize(
    ("h", "message"),
    [
        (
            attrs.evolve(_example(), tclass=0x100),
            r"tclass must fit 8 bits and flow_label 20 bits: got 0x100",
        ),
        (attrs.evolve(_example(), flow_label=0x100000), r"flow_label 20 bits"),
        (
            attrs.evolve(_example(), daddr=bytes(4)),
            r"addresses must be 16 bytes: saddr has 16, daddr has 4",
        ),
        (attrs.evolve(_example(), payload_len=0x10000), r"field out of range"),
        (attrs.evolve(_example(), hop_limit=-1), r"field out of range"),
    ],
)
def test_emit_errors(h: Ipv6Header, message: str) -> None:
    with pytest.raises(WireError, match=message):
        h.emit(bytearray(IPV6_HLEN))


def test_emit_buffer_too_short() -> None:
    with pytest.raises(WireError, match=r"buffer for an IPv6 header truncated: 39 bytes"):
        _example().emit(bytearray(40), 1)


@pytest.mark.parametrize("offset", [7, -8, 0x10000, 0xFFFF])
def test_frag_emit_rejects_bad_offsets(offset: int) -> None:
    with pytest.raises(WireError, match=r"multiple of 8 in 0\.\.65528"):
        Ipv6FragHeader(IPPROTO_UDP, offset, False, 1).emit(bytearray(FRAG_HLEN))


def test_frag_emit_errors() -> None:
    with pytest.raises(WireError, match="field out of range"):
        Ipv6FragHeader(IPPROTO_UDP, 0, False, 1 << 32).emit(bytearray(FRAG_HLEN))
    with pytest.raises(WireError, match="buffer for an IPv6 fragment header truncated"):
        Ipv6FragHeader(IPPROTO_UDP, 0, False, 1).emit(bytearray(FRAG_HLEN - 1))


@settings(max_examples=300, database=None, derandomize=True)
@given(addr6, addr6, st.integers(0, 0xFFFFFFFF), u8)
def test_pseudo_csum_matches_packed_pseudo_header(
    saddr: bytes, daddr: bytes, length: int, nexthdr: int
) -> None:
    packed = struct.pack("!16s16sI3xB", saddr, daddr, length, nexthdr)
    assert ip6_pseudo_csum(saddr, daddr, length, nexthdr) == csum_partial(packed)


def test_pseudo_csum_edges() -> None:
    zero = bytes(16)
    assert ip6_pseudo_csum(zero, zero, 0, 0) == 0
    assert ip6_pseudo_csum(b"\xff\xff" + bytes(14), zero, 0, 0) == 0xFFFF


@settings(max_examples=200, database=None, derandomize=True)
@given(addr6, addr6, st.binary(min_size=8, max_size=200))
def test_csum_ipv6_magic_makes_the_packet_sum_to_zero(
    saddr: bytes, daddr: bytes, segment: bytes
) -> None:
    seg = bytearray(segment)
    seg[6:8] = b"\0\0"
    check = csum_ipv6_magic(saddr, daddr, len(seg), IPPROTO_UDP, csum_partial(seg))
    seg[6:8] = check.to_bytes(2, "big")
    total = csum_add(ip6_pseudo_csum(saddr, daddr, len(seg), IPPROTO_UDP), csum_partial(seg))
    assert csum_fold(total) == 0


# --- cross-check with a parser we did not write ------------------------------------------


@settings(max_examples=200, database=None, derandomize=True)
@given(ipv6_headers(), st.binary(max_size=64))
def test_dpkt_reads_what_we_emit(h: Ipv6Header, payload: bytes) -> None:
    # a next header dpkt does not decode, so it keeps the payload as bytes
    h = attrs.evolve(h, payload_len=len(payload), nexthdr=253)
    buf = bytearray(IPV6_HLEN)
    h.emit(buf)
    ip6 = dpkt.ip6.IP6(bytes(buf) + payload)
    assert (ip6.v, ip6.fc, ip6.flow, ip6.plen, ip6.nxt, ip6.hlim) == (
        6,
        h.tclass,
        h.flow_label,
        h.payload_len,
        h.nexthdr,
        h.hop_limit,
    )
    assert (ip6.src, ip6.dst, ip6.data) == (h.saddr, h.daddr, payload)
    assert bytes(ip6) == bytes(buf) + payload


@settings(max_examples=200, database=None, derandomize=True)
@given(frag_headers, st.binary(min_size=8, max_size=64))
def test_dpkt_reads_our_fragment_header(frag: Ipv6FragHeader, payload: bytes) -> None:
    buf = bytearray(IPV6_HLEN + FRAG_HLEN)
    ip6_build_header(buf, 0, FRAG_HLEN + len(payload), IPPROTO_FRAGMENT, 64, DOC, LOOPBACK)
    frag = attrs.evolve(frag, nexthdr=253)
    frag.emit(buf, IPV6_HLEN)
    ip6 = dpkt.ip6.IP6(bytes(buf) + payload)
    theirs = ip6.extension_hdrs[IPPROTO_FRAGMENT]
    assert (theirs.nxt, theirs.frag_off * 8, bool(theirs.m_flag), theirs.id) == (
        frag.nexthdr,
        frag.offset,
        frag.mf,
        frag.identification,
    )
    assert ip6.p == frag.nexthdr
