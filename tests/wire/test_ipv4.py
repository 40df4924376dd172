"""IPv4 header: round trip, the header checksum, the fast builder, parse errors, the
pseudo-header sum, and a cross-check with dpkt's parser."""

from __future__ import annotations

import struct

import attrs
import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.wire import (
    IP_DF,
    IP_MF,
    IP_OFFSET,
    IPPROTO_UDP,
    IPV4_HLEN,
    Ipv4Header,
    WireError,
    csum_add,
    csum_fold,
    csum_partial,
    csum_tcpudp_magic,
    ip4_build_header,
    ip4_pseudo_csum,
)

# A classic example: 192.168.0.1 -> 192.168.0.199, UDP, DF, tot_len 0x73, checksum b861.
CLASSIC = bytes.fromhex("45000073000040004011b861c0a80001c0a800c7")
SRC = bytes([192, 168, 0, 1])
DST = bytes([192, 168, 0, 199])

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
addr4 = st.binary(min_size=4, max_size=4)
options = st.integers(0, 10).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n))


@st.composite
def ipv4_headers(draw: st.DrawFn, with_options: bool = True) -> Ipv4Header:
    opts = draw(options) if with_options else b""
    return Ipv4Header(
        tos=draw(u8),
        tot_len=draw(st.integers(IPV4_HLEN + len(opts), 0xFFFF)),
        id=draw(u16),
        frag_off=draw(u16),
        ttl=draw(u8),
        protocol=draw(u8),
        check=draw(st.none() | u16),
        saddr=draw(addr4),
        daddr=draw(addr4),
        options=opts,
    )


def _emit(h: Ipv4Header, offset: int = 0, trailer: int = 0) -> bytearray:
    buf = bytearray(offset + h.header_len + trailer)
    h.emit(buf, offset)
    return buf


def _classic() -> Ipv4Header:
    return Ipv4Header(
        tos=0,
        tot_len=0x73,
        id=0,
        frag_off=IP_DF,
        ttl=64,
        protocol=IPPROTO_UDP,
        saddr=SRC,
        daddr=DST,
    )


def test_classic_header_known_answer() -> None:
    assert bytes(_emit(_classic())) == CLASSIC
    parsed = Ipv4Header.parse(CLASSIC)
    assert parsed == attrs.evolve(_classic(), check=0xB861)
    assert (parsed.ihl, parsed.header_len, parsed.df, parsed.mf, parsed.offset) == (
        5,
        20,
        True,
        False,
        0,
    )
    assert Ipv4Header.verify_checksum(CLASSIC)


def test_fast_builder_known_answer() -> None:
    buf = bytearray(24)
    ip4_build_header(buf, 4, 0x73, 0, IP_DF, 64, IPPROTO_UDP, SRC, DST)
    assert bytes(buf) == bytes(4) + CLASSIC


def test_fragment_fields() -> None:
    h = attrs.evolve(_classic(), frag_off=IP_MF | (1480 >> 3))
    assert (h.df, h.mf, h.offset) == (False, True, 1480)
    h = attrs.evolve(_classic(), frag_off=IP_DF | IP_OFFSET)
    assert h.offset == IP_OFFSET * 8 == 65528
    assert attrs.evolve(_classic(), options=bytes(8)).ihl == 7


@settings(max_examples=300, database=None, derandomize=True)
@given(ipv4_headers(), st.integers(0, 7), st.integers(0, 5))
def test_round_trip(h: Ipv4Header, offset: int, trailer: int) -> None:
    buf = _emit(h, offset, trailer)
    parsed = Ipv4Header.parse(buf, offset)
    if h.check is None:
        assert parsed == attrs.evolve(h, check=parsed.check)
        assert Ipv4Header.verify_checksum(buf, offset)
    else:
        assert parsed == h
    # a parsed header emits the same bytes again (its checksum is written verbatim)
    assert _emit(parsed, offset, trailer) == buf


@settings(max_examples=300, database=None, derandomize=True)
@given(ipv4_headers(with_options=False))
def test_fast_builder_matches_emit(h: Ipv4Header) -> None:
    fast = bytearray(IPV4_HLEN)
    ip4_build_header(
        fast, 0, h.tot_len, h.id, h.frag_off, h.ttl, h.protocol, h.saddr, h.daddr, h.tos
    )
    assert fast == _emit(attrs.evolve(h, check=None))
    assert Ipv4Header.verify_checksum(fast)


@settings(max_examples=200, database=None, derandomize=True)
@given(ipv4_headers(), st.data())
def test_any_single_bit_flip_fails_verification(h: Ipv4Header, data: st.DataObject) -> None:
    buf = _emit(attrs.evolve(h, check=None))
    bit = data.draw(st.integers(0, 8 * len(buf) - 1))
    if bit < 8:  # keep version and ihl intact: those bits change the structure, not the sum
        bit = 8
    buf[bit // 8] ^= 0x80 >> (bit % 8)
    assert not Ipv4Header.verify_checksum(buf)


@pytest.mark.parametrize(
    ("raw", "offset", "message"),
    [
        (CLASSIC[:19], 0, r"IPv4 header truncated: 19 bytes at offset 0, need at least 20"),
        (CLASSIC, 4, r"IPv4 header truncated: 16 bytes at offset 4"),
        (CLASSIC, -1, r"IPv4 header truncated: .* at offset -1"),
        (b"", 0, r"IPv4 header truncated: 0 bytes"),
        (b"\x60" + CLASSIC[1:], 0, r"not an IPv4 header: version 6 at offset 0"),
        (b"\x44" + CLASSIC[1:], 0, r"IPv4 ihl 4 at offset 0 is below the minimum of 5 words"),
        (b"\x46" + CLASSIC[1:], 0, r"ihl 6 needs 24 bytes, 20 at offset 0"),
        (CLASSIC[:2] + b"\x00\x13" + CLASSIC[4:], 0, r"tot_len 19 .* shorter than its 20-byte"),
    ],
)
def test_parse_errors(raw: bytes, offset: int, message: str) -> None:
    with pytest.raises(WireError, match=message):
        Ipv4Header.parse(raw, offset)


def test_wire_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="truncated"):
        Ipv4Header.parse(b"garbage")


@pytest.mark.parametrize(
    ("h", "message"),
    [
        (
            attrs.evolve(_classic(), options=b"\x01\x02\x03"),
            r"multiple of 4 bytes, at most 40: got 3",
        ),
        (attrs.evolve(_classic(), options=bytes(44)), r"got 44"),
        (attrs.evolve(_classic(), saddr=bytes(16)), r"addresses must be 4 bytes: saddr has 16"),
        (attrs.evolve(_classic(), ttl=256), r"field out of range"),
        (attrs.evolve(_classic(), tot_len=-1), r"field out of range"),
        (attrs.evolve(_classic(), check=0x10000), r"field out of range"),
    ],
)
def test_emit_errors(h: Ipv4Header, message: str) -> None:
    with pytest.raises(WireError, match=message):
        h.emit(bytearray(64))


def test_emit_into_short_buffer_does_not_grow_it() -> None:
    buf = bytearray(23)
    with pytest.raises(WireError, match=r"buffer too short for a 24-byte IPv4 header"):
        attrs.evolve(_classic(), options=bytes(4)).emit(buf)
    assert buf == bytearray(23)


def test_verify_checksum_needs_a_header() -> None:
    with pytest.raises(WireError, match="truncated"):
        Ipv4Header.verify_checksum(CLASSIC[:10])
    with pytest.raises(WireError, match="ihl 6, 20 bytes available"):
        Ipv4Header.verify_checksum(b"\x46" + CLASSIC[1:])


def _pseudo_reference(saddr: bytes, daddr: bytes, length: int, protocol: int) -> int:
    return csum_partial(struct.pack("!4s4sBBH", saddr, daddr, 0, protocol, length))


@settings(max_examples=300, database=None, derandomize=True)
@given(addr4, addr4, u16, u8)
def test_pseudo_csum_matches_packed_pseudo_header(
    saddr: bytes, daddr: bytes, length: int, protocol: int
) -> None:
    assert ip4_pseudo_csum(saddr, daddr, length, protocol) == _pseudo_reference(
        saddr, daddr, length, protocol
    )


def test_pseudo_csum_edges() -> None:
    zero = bytes(4)
    assert ip4_pseudo_csum(zero, zero, 0, 0) == 0
    # a non-zero sum congruent to 0 is 0xFFFF (one's complement "negative zero")
    assert ip4_pseudo_csum(b"\xff\xff\x00\x00", zero, 0, 0) == 0xFFFF
    assert ip4_pseudo_csum(zero, zero, 0xFFFE, 1) == 0xFFFF


@settings(max_examples=200, database=None, derandomize=True)
@given(addr4, addr4, st.binary(min_size=8, max_size=200))
def test_csum_tcpudp_magic_makes_the_segment_sum_to_zero(
    saddr: bytes, daddr: bytes, segment: bytes
) -> None:
    seg = bytearray(segment)
    seg[6:8] = b"\0\0"  # the checksum field, as for UDP
    check = csum_tcpudp_magic(saddr, daddr, len(seg), IPPROTO_UDP, csum_partial(seg))
    seg[6:8] = check.to_bytes(2, "big")
    total = csum_add(ip4_pseudo_csum(saddr, daddr, len(seg), IPPROTO_UDP), csum_partial(seg))
    assert csum_fold(total) == 0


# --- cross-check with a parser we did not write ------------------------------------------


@settings(max_examples=200, database=None, derandomize=True)
@given(ipv4_headers(), st.binary(max_size=64))
def test_dpkt_reads_what_we_emit(h: Ipv4Header, payload: bytes) -> None:
    # dpkt decodes TCP/UDP payloads and rewrites their checksums; keep to other protocols
    protocol = h.protocol if h.protocol not in (6, 17) else 253
    h = attrs.evolve(h, tot_len=h.header_len + len(payload), protocol=protocol, check=None)
    packet = bytes(_emit(h)) + payload
    ip = dpkt.ip.IP(packet)
    assert (ip.v, ip.hl, ip.tos, ip.len, ip.id, ip._flags_offset, ip.ttl, ip.p) == (
        4,
        h.ihl,
        h.tos,
        h.tot_len,
        h.id,
        h.frag_off,
        h.ttl,
        h.protocol,
    )
    assert (bool(ip.df), bool(ip.mf), ip.offset * 8) == (h.df, h.mf, h.offset)
    assert (ip.src, ip.dst, bytes(ip.opts)) == (h.saddr, h.daddr, h.options)
    ours = Ipv4Header.parse(packet).check
    assert ip.sum == ours
    ip.sum = 0  # dpkt recomputes a zero checksum when it serializes
    assert bytes(ip) == packet


@settings(max_examples=200, database=None, derandomize=True)
@given(addr4, addr4, u16, u8, u8, st.sampled_from([0, IP_DF, IP_MF | 100]), st.binary(max_size=40))
def test_fast_builder_matches_dpkt(
    saddr: bytes, daddr: bytes, ident: int, ttl: int, tos: int, frag_off: int, payload: bytes
) -> None:
    buf = bytearray(IPV4_HLEN + len(payload))
    ip4_build_header(buf, 0, len(buf), ident, frag_off, ttl, 253, saddr, daddr, tos)
    buf[IPV4_HLEN:] = payload
    theirs = dpkt.ip.IP(
        src=saddr,
        dst=daddr,
        id=ident,
        ttl=ttl,
        tos=tos,
        _flags_offset=frag_off,
        p=253,
        data=payload,
    )
    assert bytes(theirs) == bytes(buf)
