"""TCP header, options and checksum: round trips, the option layouts Linux sends (a loopback SYN
byte by byte), option parsing as tcp_parse_options() does it (malformed input stops, never
raises), checksums by hand and by dpkt, and 32-bit sequence-number wraparound."""

from __future__ import annotations

import struct

import attrs
import dpkt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from netsim.wire import (
    IPPROTO_TCP,
    IPV4_HLEN,
    IPV6_HLEN,
    MAX_TCP_OPTION_SPACE,
    TCP_HLEN,
    TCP_MAX_WSCALE,
    TCPHDR_ACK,
    TCPHDR_AE,
    TCPHDR_CWR,
    TCPHDR_ECE,
    TCPHDR_FIN,
    TCPHDR_PSH,
    TCPHDR_RST,
    TCPHDR_SYN,
    TCPHDR_URG,
    TCPOLEN_MSS,
    TCPOLEN_SACK_PERM,
    TCPOLEN_SACKPERM_ALIGNED,
    TCPOLEN_TIMESTAMP,
    TCPOLEN_TSTAMP_ALIGNED,
    TCPOLEN_WINDOW,
    TCPOLEN_WSCALE_ALIGNED,
    TCPOPT_EOL,
    TCPOPT_MSS,
    TCPOPT_NOP,
    TCPOPT_SACK,
    TCPOPT_SACK_PERM,
    TCPOPT_TIMESTAMP,
    TCPOPT_WINDOW,
    TcpHeader,
    TcpOptions,
    WireError,
    after,
    before,
    between,
    csum_partial,
    csum_tcpudp_magic,
    ip4_build_header,
    ip4_pseudo_csum,
    ip6_build_header,
    seq_add,
    tcp4_checksum,
    tcp6_checksum,
    tcp_build_header,
    tcp_verify,
)

LOOPBACK4 = bytes([127, 0, 0, 1])
LOOPBACK6 = bytes(15) + b"\x01"

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
addr4 = st.binary(min_size=4, max_size=4)
addr6 = st.binary(min_size=16, max_size=16)
payloads = st.binary(max_size=300)
raw_options = st.integers(0, 10).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n))

# The option block of a Linux SYN on loopback: MSS 65495 (65535 - 40), SACK-permitted folded
# into the timestamp word, tsval 1 / tsecr 0, then NOP + window scale 7.
SYN_OPTIONS = bytes(
    [
        0x02, 0x04, 0xFF, 0xD7,  # MSS, len 4, 65495
        0x04, 0x02,  # SACK-permitted, len 2
        0x08, 0x0A,  # timestamps, len 10 ...
        0x00, 0x00, 0x00, 0x01,  # ... tsval 1
        0x00, 0x00, 0x00, 0x00,  # ... tsecr 0
        0x01,  # NOP
        0x03, 0x03, 0x07,  # window scale, len 3, shift 7
    ]
)  # fmt: skip
SYN_OPTS = TcpOptions(mss=65495, wscale=7, sack_ok=True, tsval=1, tsecr=0)


@st.composite
def tcp_options(draw: st.DrawFn) -> TcpOptions:
    """Any option set that fits the 40 bytes, window scale within the legal range."""
    ts = draw(st.none() | st.tuples(u32, u32))
    mss = draw(st.none() | u16)
    sack_ok = draw(st.booleans())
    wscale = draw(st.none() | st.integers(0, TCP_MAX_WSCALE))
    used = (
        (4 if mss is not None else 0)
        + (12 if ts else 4 if sack_ok else 0)
        + (4 if wscale is not None else 0)
    )
    max_blocks = max(0, (MAX_TCP_OPTION_SPACE - used - 4) // 8)
    blocks = draw(st.lists(st.tuples(u32, u32), max_size=max_blocks))
    return TcpOptions(
        mss=mss,
        wscale=wscale,
        sack_ok=sack_ok,
        tsval=ts[0] if ts else None,
        tsecr=ts[1] if ts else None,
        sack_blocks=tuple(blocks),
    )


@st.composite
def tcp_headers(draw: st.DrawFn) -> TcpHeader:
    return TcpHeader(
        sport=draw(u16),
        dport=draw(u16),
        seq=draw(u32),
        ack_seq=draw(u32),
        flags=draw(st.integers(0, 0xFFF)),
        window=draw(u16),
        check=draw(st.none() | u16),
        urg_ptr=draw(u16),
        options=draw(raw_options),
    )


def _emit(h: TcpHeader, offset: int = 0, trailer: int = 0) -> bytearray:
    buf = bytearray(offset + h.header_len + trailer)
    h.emit(buf, offset)
    return buf


def _segment(
    sport: int,
    dport: int,
    seq: int,
    ack_seq: int,
    flags: int,
    options: bytes,
    payload: bytes,
    check: int = 0,
) -> bytearray:
    hlen = TCP_HLEN + len(options)
    buf = bytearray(hlen + len(payload))
    tcp_build_header(buf, 0, sport, dport, seq, ack_seq, hlen // 4, flags, 65535, check)
    buf[TCP_HLEN:hlen] = options
    buf[hlen:] = payload
    return buf


def _with_check(segment: bytearray, check: int) -> bytes:
    segment[16:18] = check.to_bytes(2, "big")
    return bytes(segment)


def _rfc1071(data: bytes) -> int:
    """A word-by-word reference for the checksum, independent of netsim.wire.checksum."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_constants() -> None:
    assert TCP_HLEN == 20
    flags = (TCPHDR_FIN, TCPHDR_SYN, TCPHDR_RST, TCPHDR_PSH, TCPHDR_ACK, TCPHDR_URG)
    assert (*flags, TCPHDR_ECE, TCPHDR_CWR, TCPHDR_AE) == (1, 2, 4, 8, 16, 32, 64, 128, 256)
    kinds = (TCPOPT_EOL, TCPOPT_NOP, TCPOPT_MSS, TCPOPT_WINDOW, TCPOPT_SACK_PERM, TCPOPT_SACK)
    assert (*kinds, TCPOPT_TIMESTAMP) == (0, 1, 2, 3, 4, 5, 8)
    assert (TCPOLEN_MSS, TCPOLEN_WINDOW, TCPOLEN_SACK_PERM, TCPOLEN_TIMESTAMP) == (4, 3, 2, 10)
    aligned = (TCPOLEN_TSTAMP_ALIGNED, TCPOLEN_SACKPERM_ALIGNED, TCPOLEN_WSCALE_ALIGNED)
    assert aligned == (12, 4, 4)
    assert (MAX_TCP_OPTION_SPACE, TCP_MAX_WSCALE) == (40, 14)


# --- options: the layouts tcp_options_write() produces -----------------------------------


def test_syn_options_known_answer() -> None:
    assert SYN_OPTS.emit() == SYN_OPTIONS
    assert len(SYN_OPTIONS) == 20
    assert TcpOptions.parse(SYN_OPTIONS) == SYN_OPTS


@pytest.mark.parametrize(
    ("opts", "wire"),
    [
        (TcpOptions(), ""),
        (TcpOptions(mss=1460), "020405b4"),
        # established segment with timestamps: NOP NOP TS
        (TcpOptions(tsval=0x01020304, tsecr=0xA0B0C0D0), "0101080a 01020304 a0b0c0d0"),
        # SACK-permitted without timestamps takes a word of its own
        (TcpOptions(sack_ok=True), "01010402"),
        (TcpOptions(wscale=14), "0103030e"),
        # a SYN with timestamps off (net.ipv4.tcp_timestamps=0)
        (TcpOptions(mss=1460, wscale=7, sack_ok=True), "020405b4 01010402 01030307"),
        # a SYN with SACK off: no SACK-permitted to fold into the timestamp word
        (
            TcpOptions(mss=1460, wscale=7, tsval=5, tsecr=0),
            "020405b4 0101080a 00000005 00000000 01030307",
        ),
        (TcpOptions(sack_blocks=((1000, 2000),)), "0101050a 000003e8 000007d0"),
        # timestamps + 3 SACK blocks fill the 40 bytes exactly
        (
            TcpOptions(tsval=7, tsecr=8, sack_blocks=((1, 2), (3, 4), (5, 6))),
            "0101080a 00000007 00000008 0101051a"
            " 00000001 00000002 00000003 00000004 00000005 00000006",
        ),
        # without timestamps, 4 SACK blocks (36 bytes)
        (
            TcpOptions(sack_blocks=((1, 2), (3, 4), (5, 6), (7, 8))),
            "01010522 00000001 00000002 00000003 00000004 00000005 00000006 00000007 00000008",
        ),
        # everything at once keeps the MSS, TS, WS, SACK order
        (
            TcpOptions(mss=536, wscale=0, sack_ok=True, tsval=1, tsecr=2, sack_blocks=((9, 10),)),
            "02040218 0402080a 00000001 00000002 01030300 0101050a 00000009 0000000a",
        ),
    ],
)
def test_option_layouts(opts: TcpOptions, wire: str) -> None:
    raw = bytes.fromhex(wire)
    assert opts.emit() == raw
    assert len(raw) % 4 == 0
    assert TcpOptions.parse(raw) == opts


@settings(max_examples=300, database=None, derandomize=True)
@given(tcp_options())
def test_options_round_trip(opts: TcpOptions) -> None:
    raw = opts.emit()
    assert len(raw) % 4 == 0
    assert len(raw) <= MAX_TCP_OPTION_SPACE
    assert TcpOptions.parse(raw) == opts
    assert TcpOptions.parse(memoryview(bytearray(raw))) == opts
    assert TcpOptions.parse(raw).emit() == raw


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (TcpOptions(tsval=1), r"need both tsval and tsecr: got tsval=1, tsecr=None"),
        (TcpOptions(tsecr=1), r"need both tsval and tsecr"),
        (TcpOptions(mss=0x10000), r"option field out of range"),
        (TcpOptions(wscale=256), r"option field out of range"),
        (TcpOptions(wscale=-1), r"option field out of range"),
        (TcpOptions(tsval=1 << 32, tsecr=0), r"option field out of range"),
        (TcpOptions(sack_blocks=((0, -1),)), r"option field out of range"),
        (
            TcpOptions(tsval=1, tsecr=2, sack_blocks=((1, 2),) * 4),
            r"TCP options need 48 bytes, more than the 40",
        ),
        (TcpOptions(sack_blocks=((1, 2),) * 5), r"need 44 bytes"),
        (TcpOptions(mss=1, sack_ok=True, wscale=1, sack_blocks=((1, 2),) * 4), r"need 48 bytes"),
    ],
)
def test_option_emit_errors(opts: TcpOptions, message: str) -> None:
    with pytest.raises(WireError, match=message):
        opts.emit()


def test_emit_sends_an_illegal_window_scale_as_given() -> None:
    # a test may want to send one; the receiver clamps it
    raw = TcpOptions(wscale=15).emit()
    assert raw == bytes.fromhex("0103030f")
    assert TcpOptions.parse(raw) == TcpOptions(wscale=TCP_MAX_WSCALE)


# --- options: parsing malformed and unusual blocks like tcp_parse_options() --------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("", TcpOptions()),
        ("01010101", TcpOptions()),
        ("00000000", TcpOptions()),
        # EOL ends the list: the MSS after it is not read
        ("00020405b4", TcpOptions()),
        ("01000204 05b4", TcpOptions()),
        # truncated MSS (length runs past the block): stop, keep what was read
        ("01030307 020405", TcpOptions(wscale=7)),
        # a kind with no length byte at the very end
        ("020405b4 02", TcpOptions(mss=1460)),
        # zero-length and length-1 ("silly") options stop parsing
        ("020405b4 0500 01030307", TcpOptions(mss=1460)),
        ("020405b4 1e01 01030307", TcpOptions(mss=1460)),
        # an unknown kind (MPTCP, 30) is skipped by its length; so is a 2-byte one
        ("1e06aabbccdd 020405b4", TcpOptions(mss=1460)),
        ("fe02 0402 01030302", TcpOptions(sack_ok=True, wscale=2)),
        # a known kind with the wrong length is skipped, parsing goes on
        ("020305 01030309", TcpOptions(wscale=9)),
        ("0302 020405b4", TcpOptions(mss=1460)),
        ("0403ff 0103030a", TcpOptions(wscale=10)),
        ("080600000001 01030304", TcpOptions(wscale=4)),
        # SACK: at least one block, and whole blocks only
        ("0101 0502 0101 0503aa", TcpOptions()),
        ("050600000001 020405b4", TcpOptions(mss=1460)),
        # window scale above 14 is clamped, as the kernel does
        ("0103030f", TcpOptions(wscale=14)),
        ("010303ff", TcpOptions(wscale=14)),
        # an MSS of 0 is reported as found (the kernel ignores it)
        ("02040000", TcpOptions(mss=0)),
        # a later copy replaces an earlier one
        ("020405b4 02040218", TcpOptions(mss=536)),
        # options need not be aligned
        ("0303 07 020405b4 0402", TcpOptions(mss=1460, wscale=7, sack_ok=True)),
    ],
)
def test_parse_like_the_kernel(wire: str, expected: TcpOptions) -> None:
    assert TcpOptions.parse(bytes.fromhex(wire)) == expected


def test_parse_reads_at_most_four_sack_blocks() -> None:
    # only possible in a block longer than a header allows; tcp_sacktag_write_queue() caps it
    edges = list(range(1, 11))
    raw = bytes([TCPOPT_SACK, 2 + 8 * 5]) + struct.pack("!10I", *edges)
    assert TcpOptions.parse(raw).sack_blocks == ((1, 2), (3, 4), (5, 6), (7, 8))


@settings(max_examples=500, database=None, derandomize=True)
@given(st.binary(max_size=60))
def test_parse_never_raises(raw: bytes) -> None:
    opts = TcpOptions.parse(raw)
    assert opts.mss is None or 0 <= opts.mss <= 0xFFFF
    assert opts.wscale is None or 0 <= opts.wscale <= TCP_MAX_WSCALE
    assert (opts.tsval is None) == (opts.tsecr is None)
    assert len(opts.sack_blocks) <= 4


@settings(max_examples=200, database=None, derandomize=True)
@given(tcp_options(), st.integers(0, 40))
def test_parse_of_a_truncated_block_keeps_whole_options(opts: TcpOptions, cut: int) -> None:
    raw = opts.emit()
    assume(cut < len(raw))
    parsed = TcpOptions.parse(raw[:cut])
    # every option the parser did report is intact
    for field in ("mss", "wscale", "tsval", "tsecr"):
        value = getattr(parsed, field)
        assert value is None or value == getattr(opts, field)
    assert not parsed.sack_ok or opts.sack_ok
    assert parsed.sack_blocks in ((), opts.sack_blocks)


# --- the header -----------------------------------------------------------------------------


def _syn_header(check: int | None = None) -> TcpHeader:
    return TcpHeader(40000, 1234, 0x6A1B2C3D, 0, TCPHDR_SYN, 65495, check, 0, SYN_OPTIONS)


# The loopback SYN, byte by byte: 127.0.0.1:40000 -> 127.0.0.1:1234.
SYN_SEGMENT = (
    bytes(
        [
            0x9C, 0x40,  # source port 40000
            0x04, 0xD2,  # dest port 1234
            0x6A, 0x1B, 0x2C, 0x3D,  # seq
            0x00, 0x00, 0x00, 0x00,  # ack_seq
            0xA0,  # doff 10 (40 bytes), reserved 0, AE 0
            0x02,  # SYN
            0xFF, 0xD7,  # window 65495
            0x18, 0x96,  # checksum (below)
            0x00, 0x00,  # urg_ptr
        ]
    )
    + SYN_OPTIONS
)  # fmt: skip


def test_syn_segment_known_answer() -> None:
    # pseudo header  7f00 + 0001 + 7f00 + 0001 + 0006 + 0028 (40 bytes)      = 0x0fe30
    # header         9c40 + 04d2 + 6a1b + 2c3d + 0000 + 0000 + a002 + ffd7   = 0x2d743
    # options        0204 + ffd7 + 0402 + 080a + 0000 + 0001 + 0000 + 0000
    #                + 0103 + 0307                                          = 0x111f2
    # total 0x4e765; fold: e765 + 4 = e769; complement: 1896
    h = _syn_header()
    seg = _emit(h)
    assert tcp4_checksum(LOOPBACK4, LOOPBACK4, seg) == 0x1896
    seg = _emit(attrs.evolve(h, check=0x1896))
    assert bytes(seg) == SYN_SEGMENT
    parsed = TcpHeader.parse(SYN_SEGMENT)
    assert parsed == _syn_header(0x1896)
    assert (parsed.doff, parsed.header_len) == (10, 40)
    assert TcpOptions.parse(parsed.options) == SYN_OPTS
    assert tcp_verify(LOOPBACK4, LOOPBACK4, SYN_SEGMENT, v6=False)
    assert _rfc1071(struct.pack("!4s4sBBH", LOOPBACK4, LOOPBACK4, 0, 6, 40) + SYN_SEGMENT) == 0


def test_fast_builder_with_options_known_answer() -> None:
    buf = bytearray(3 + 40)
    tcp_build_header(buf, 3, 40000, 1234, 0x6A1B2C3D, 0, 10, TCPHDR_SYN, 65495, 0x1896)
    buf[3 + TCP_HLEN : 3 + 40] = SYN_OPTS.emit()
    assert bytes(buf) == bytes(3) + SYN_SEGMENT


@settings(max_examples=300, database=None, derandomize=True)
@given(tcp_headers(), st.integers(0, 7), st.integers(0, 5))
def test_round_trip(h: TcpHeader, offset: int, trailer: int) -> None:
    buf = _emit(h, offset, trailer)
    parsed = TcpHeader.parse(buf, offset)
    assert parsed == attrs.evolve(h, check=0 if h.check is None else h.check)
    assert parsed.doff == h.doff == h.header_len // 4
    assert _emit(parsed, offset, trailer) == buf


@settings(max_examples=300, database=None, derandomize=True)
@given(tcp_headers(), st.integers(0, 7))
def test_fast_builder_matches_emit(h: TcpHeader, offset: int) -> None:
    fast = bytearray(offset + h.header_len)
    check = 0 if h.check is None else h.check
    tcp_build_header(
        fast,
        offset,
        h.sport,
        h.dport,
        h.seq,
        h.ack_seq,
        h.doff,
        h.flags,
        h.window,
        check,
        h.urg_ptr,
    )
    fast[offset + TCP_HLEN :] = h.options
    assert fast == _emit(h, offset)


def test_flags_keep_ae_and_reserved_bits() -> None:
    h = TcpHeader(1, 2, 3, 4, TCPHDR_AE | TCPHDR_CWR | TCPHDR_ECE | TCPHDR_ACK, 5)
    buf = _emit(h)
    assert buf[12:14] == b"\x51\xd0"
    assert TcpHeader.parse(buf) == attrs.evolve(h, check=0)
    reserved = attrs.evolve(h, flags=0xE00 | TCPHDR_FIN)
    assert _emit(reserved)[12:14] == b"\x5e\x01"
    assert TcpHeader.parse(_emit(reserved)).flags == 0xE01


@pytest.mark.parametrize(
    ("raw", "offset", "message"),
    [
        (SYN_SEGMENT[:19], 0, r"TCP header truncated: 19 bytes at offset 0, need at least 20"),
        (SYN_SEGMENT[:30], 11, r"TCP header truncated: 19 bytes at offset 11"),
        (SYN_SEGMENT, -1, r"TCP header truncated: .* at offset -1"),
        (b"", 0, r"TCP header truncated: 0 bytes"),
        (SYN_SEGMENT[:12] + b"\x40" + SYN_SEGMENT[13:], 0, r"TCP doff 4 at offset 0 is below"),
        (SYN_SEGMENT[:12] + b"\x00" + SYN_SEGMENT[13:], 0, r"TCP doff 0 "),
        (SYN_SEGMENT[:39], 0, r"doff 10 needs 40 bytes, 39 at offset 0"),
        (SYN_SEGMENT[:12] + b"\xf0" + SYN_SEGMENT[13:], 0, r"doff 15 needs 60 bytes, 40"),
    ],
)
def test_parse_errors(raw: bytes, offset: int, message: str) -> None:
    with pytest.raises(WireError, match=message):
        TcpHeader.parse(raw, offset)


@pytest.mark.parametrize(
    ("h", "message"),
    [
        (attrs.evolve(_syn_header(), options=b"\x01\x01\x01"), r"multiple of 4 bytes, at most 40"),
        (attrs.evolve(_syn_header(), options=bytes(44)), r"got 44"),
        (attrs.evolve(_syn_header(), flags=0x1000), r"flags must fit the 12 bits .*0x1000"),
        (attrs.evolve(_syn_header(), flags=-1), r"flags must fit"),
        (attrs.evolve(_syn_header(), sport=0x10000), r"field out of range"),
        (attrs.evolve(_syn_header(), seq=1 << 32), r"field out of range"),
        (attrs.evolve(_syn_header(), check=-1), r"field out of range"),
    ],
)
def test_emit_errors(h: TcpHeader, message: str) -> None:
    with pytest.raises(WireError, match=message):
        h.emit(bytearray(64))


def test_emit_into_short_buffer_does_not_grow_it() -> None:
    buf = bytearray(39)
    with pytest.raises(WireError, match=r"buffer too short for a 40-byte TCP header at offset 0"):
        _syn_header().emit(buf)
    assert buf == bytearray(39)


def test_header_values_are_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        _syn_header().seq = 1  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        SYN_OPTS.mss = 1  # type: ignore[misc]


# --- checksums ------------------------------------------------------------------------------


@settings(max_examples=200, database=None, derandomize=True)
@given(addr4, addr4, addr6, addr6, u16, u16, u32, raw_options, payloads, u16)
def test_checksum_ignores_the_check_field(
    s4: bytes,
    d4: bytes,
    s6: bytes,
    d6: bytes,
    sport: int,
    dport: int,
    seq: int,
    options: bytes,
    payload: bytes,
    junk: int,
) -> None:
    clean = _segment(sport, dport, seq, 0, TCPHDR_ACK, options, payload)
    dirty = _segment(sport, dport, seq, 0, TCPHDR_ACK, options, payload, junk)
    expected4 = _rfc1071(struct.pack("!4s4sBBH", s4, d4, 0, 6, len(clean)) + bytes(clean))
    assert tcp4_checksum(s4, d4, dirty) == tcp4_checksum(s4, d4, clean) == expected4
    expected6 = _rfc1071(struct.pack("!16s16sIxxxB", s6, d6, len(clean), 6) + bytes(clean))
    assert tcp6_checksum(s6, d6, dirty) == tcp6_checksum(s6, d6, clean) == expected6
    assert dirty == _segment(sport, dport, seq, 0, TCPHDR_ACK, options, payload, junk)


def test_a_computed_zero_is_sent_as_zero() -> None:
    # choose a 2-byte payload that makes the whole sum 0xFFFF: the checksum is 0, and stays 0
    pseudo = ip4_pseudo_csum(LOOPBACK4, LOOPBACK4, TCP_HLEN + 2, IPPROTO_TCP)
    rest = csum_partial(bytes(_segment(7, 9, 1, 0, TCPHDR_ACK, b"", b"\0\0")), pseudo)
    seg = _segment(7, 9, 1, 0, TCPHDR_ACK, b"", (0xFFFF - rest).to_bytes(2, "big"))
    assert csum_tcpudp_magic(LOOPBACK4, LOOPBACK4, len(seg), IPPROTO_TCP, csum_partial(seg)) == 0
    assert tcp4_checksum(LOOPBACK4, LOOPBACK4, seg) == 0
    assert tcp4_checksum(LOOPBACK4, LOOPBACK4, _with_check(seg, 0xFFFF)) == 0
    assert tcp_verify(LOOPBACK4, LOOPBACK4, _with_check(seg, 0), v6=False)
    assert tcp_verify(LOOPBACK4, LOOPBACK4, _with_check(seg, 0xFFFF), v6=False)  # -0 == +0


def test_a_zero_check_field_is_not_no_checksum() -> None:
    seg = _segment(1234, 80, 1, 0, TCPHDR_SYN, SYN_OPTIONS, b"")
    assert tcp4_checksum(LOOPBACK4, LOOPBACK4, seg) != 0
    assert not tcp_verify(LOOPBACK4, LOOPBACK4, _with_check(seg, 0), v6=False)
    assert not tcp_verify(LOOPBACK6, LOOPBACK6, _with_check(seg, 0), v6=True)


@settings(max_examples=200, database=None, derandomize=True)
@given(addr4, addr4, u16, u16, raw_options, payloads, st.booleans(), st.data())
def test_verify_accepts_good_and_rejects_corrupt(
    s: bytes,
    d: bytes,
    sport: int,
    dport: int,
    options: bytes,
    payload: bytes,
    v6: bool,
    data: st.DataObject,
) -> None:
    if v6:
        s, d = s * 4, d * 4
    checksum = tcp6_checksum if v6 else tcp4_checksum
    seg = _segment(sport, dport, 1, 2, TCPHDR_ACK | TCPHDR_PSH, options, payload)
    good = _with_check(seg, checksum(s, d, seg))
    assert tcp_verify(s, d, good, v6)
    assert not tcp_verify(s, d, good + b"\0\1", v6)  # the length is in the pseudo header
    # any single bit but doff's (bits 96..99): flipping those changes the structure
    bit = data.draw(st.integers(0, 8 * len(good) - 1).filter(lambda b: not 96 <= b < 100))
    bad = bytearray(good)
    bad[bit // 8] ^= 0x80 >> (bit % 8)
    assert not tcp_verify(s, d, bad, v6)


@pytest.mark.parametrize(
    "segment",
    [
        b"",
        SYN_SEGMENT[:19],
        SYN_SEGMENT[:12] + b"\x40" + SYN_SEGMENT[13:],  # doff 4
        SYN_SEGMENT[:39],  # doff 10 but 39 bytes
    ],
)
def test_verify_rejects_malformed(segment: bytes) -> None:
    assert not tcp_verify(LOOPBACK4, LOOPBACK4, segment, v6=False)
    assert not tcp_verify(LOOPBACK6, LOOPBACK6, segment, v6=True)


def test_checksum_of_truncated_segment_raises() -> None:
    with pytest.raises(WireError, match=r"TCP segment truncated: 19 bytes, need 20"):
        tcp4_checksum(LOOPBACK4, LOOPBACK4, SYN_SEGMENT[:19])
    with pytest.raises(WireError, match="truncated"):
        tcp6_checksum(LOOPBACK6, LOOPBACK6, memoryview(b"hello"))


# --- cross-check with a parser we did not write ------------------------------------------


def _dpkt_option_fields(opts: TcpOptions) -> list[tuple[int, bytes]]:
    """The options as dpkt.tcp.parse_opts lists them, NOPs left out, in Linux's order."""
    fields: list[tuple[int, bytes]] = []
    if opts.mss is not None:
        fields.append((TCPOPT_MSS, struct.pack("!H", opts.mss)))
    if opts.tsval is not None:
        if opts.sack_ok:
            fields.append((TCPOPT_SACK_PERM, b""))
        fields.append((TCPOPT_TIMESTAMP, struct.pack("!II", opts.tsval, opts.tsecr)))
    elif opts.sack_ok:
        fields.append((TCPOPT_SACK_PERM, b""))
    if opts.wscale is not None:
        fields.append((TCPOPT_WINDOW, bytes([opts.wscale])))
    if opts.sack_blocks:
        edges = [e for block in opts.sack_blocks for e in block]
        fields.append((TCPOPT_SACK, struct.pack(f"!{len(edges)}I", *edges)))
    return fields


def test_syn_options_match_dpkt() -> None:
    assert dpkt.tcp.parse_opts(SYN_OPTIONS) == [
        (dpkt.tcp.TCP_OPT_MSS, b"\xff\xd7"),
        (dpkt.tcp.TCP_OPT_SACKOK, b""),
        (dpkt.tcp.TCP_OPT_TIMESTAMP, bytes.fromhex("0000000100000000")),
        (dpkt.tcp.TCP_OPT_NOP, b""),
        (dpkt.tcp.TCP_OPT_WSCALE, b"\x07"),
    ]


@settings(max_examples=300, database=None, derandomize=True)
@given(tcp_options())
def test_options_match_dpkt(opts: TcpOptions) -> None:
    parsed = dpkt.tcp.parse_opts(opts.emit())
    assert None not in parsed
    assert [o for o in parsed if o != (TCPOPT_NOP, b"")] == _dpkt_option_fields(opts)


@settings(max_examples=200, database=None, derandomize=True)
@given(addr4, addr4, u16, u16, u16, u32, u32, st.integers(0, 0x1FF), tcp_options(), payloads)
def test_ipv4_segment_matches_dpkt(
    saddr: bytes,
    daddr: bytes,
    ident: int,
    sport: int,
    dport: int,
    seq: int,
    ack_seq: int,
    flags: int,
    opts: TcpOptions,
    payload: bytes,
) -> None:
    options = opts.emit()
    seg = _segment(sport, dport, seq, ack_seq, flags, options, payload)
    packet = bytearray(IPV4_HLEN) + seg
    ip4_build_header(packet, 0, len(packet), ident, 0x4000, 64, IPPROTO_TCP, saddr, daddr)
    check = tcp4_checksum(saddr, daddr, memoryview(packet)[IPV4_HLEN:])
    packet[IPV4_HLEN + 16 : IPV4_HLEN + 18] = check.to_bytes(2, "big")

    ip = dpkt.ip.IP(bytes(packet))
    tcp = ip.data
    assert isinstance(tcp, dpkt.tcp.TCP)
    assert (tcp.sport, tcp.dport, tcp.seq, tcp.ack, tcp.off, tcp.flags, tcp.win, tcp.sum) == (
        sport,
        dport,
        seq,
        ack_seq,
        (TCP_HLEN + len(options)) // 4,
        flags,
        65535,
        check,
    )
    assert (tcp.urp, tcp.opts, tcp.data) == (0, options, payload)
    h = TcpHeader.parse(packet, IPV4_HLEN)
    assert h == TcpHeader(sport, dport, seq, ack_seq, flags, 65535, check, 0, options)
    assert TcpOptions.parse(h.options) == opts
    ip.sum = tcp.sum = 0  # dpkt recomputes both checksums when they are zero
    assert bytes(ip) == bytes(packet)
    assert tcp_verify(saddr, daddr, memoryview(packet)[IPV4_HLEN:], v6=False)


@settings(max_examples=200, database=None, derandomize=True)
@given(addr6, addr6, u16, u16, u32, tcp_options(), payloads)
def test_ipv6_segment_matches_dpkt(
    saddr: bytes,
    daddr: bytes,
    sport: int,
    dport: int,
    seq: int,
    opts: TcpOptions,
    payload: bytes,
) -> None:
    seg = _segment(sport, dport, seq, 0, TCPHDR_SYN, opts.emit(), payload)
    packet = bytearray(IPV6_HLEN) + seg
    ip6_build_header(packet, 0, len(seg), IPPROTO_TCP, 64, saddr, daddr)
    check = tcp6_checksum(saddr, daddr, memoryview(packet)[IPV6_HLEN:])
    packet[IPV6_HLEN + 16 : IPV6_HLEN + 18] = check.to_bytes(2, "big")

    ip6 = dpkt.ip6.IP6(bytes(packet))
    tcp = ip6.data
    assert isinstance(tcp, dpkt.tcp.TCP)
    assert (tcp.sport, tcp.dport, tcp.seq, tcp.flags, tcp.sum) == (
        sport,
        dport,
        seq,
        TCPHDR_SYN,
        check,
    )
    tcp.sum = 0
    assert bytes(ip6) == bytes(packet)  # dpkt recomputes the TCP checksum: the same value
    assert tcp_verify(saddr, daddr, memoryview(packet)[IPV6_HLEN:], v6=True)


# --- sequence numbers -----------------------------------------------------------------------


def _s32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


@pytest.mark.parametrize(
    ("a", "b", "is_before"),
    [
        (0, 1, True),
        (1, 0, False),
        (5, 5, False),
        (0xFFFFFFF0, 0x10, True),  # across the wrap
        (0x10, 0xFFFFFFF0, False),
        (0xFFFFFFFF, 0, True),
        (0, 0x7FFFFFFF, True),  # 2**31 - 1 ahead is still ahead
        (0, 0x80000001, False),  # more than 2**31 ahead reads as behind
        # exactly 2**31 apart: (s32)0x80000000 is negative either way round, so each is
        # "before" the other, as in the kernel
        (0, 0x80000000, True),
        (0x80000000, 0, True),
    ],
)
def test_before_and_after(a: int, b: int, is_before: bool) -> None:
    assert before(a, b) is is_before
    assert after(b, a) is is_before


@pytest.mark.parametrize(
    ("seq", "low", "high", "inside"),
    [
        (5, 1, 10, True),
        (1, 1, 10, True),  # both ends included
        (10, 1, 10, True),
        (0, 1, 10, False),
        (11, 1, 10, False),
        (0, 0xFFFFFFF0, 0x10, True),  # the window spans the wrap
        (0xFFFFFFF0, 0xFFFFFFF0, 0x10, True),
        (0x10, 0xFFFFFFF0, 0x10, True),
        (0x11, 0xFFFFFFF0, 0x10, False),
        (0xFFFFFFEF, 0xFFFFFFF0, 0x10, False),
        (7, 7, 7, True),
        (8, 7, 7, False),
    ],
)
def test_between(seq: int, low: int, high: int, inside: bool) -> None:
    assert between(seq, low, high) is inside


def test_seq_add_wraps() -> None:
    assert seq_add(0xFFFFFFFF, 1) == 0
    assert seq_add(0xFFFFFFF0, 0x20) == 0x10
    assert seq_add(0, -1) == 0xFFFFFFFF
    assert seq_add(0x10, -0x20) == 0xFFFFFFF0
    assert seq_add(5, 0) == 5


@settings(max_examples=500, database=None, derandomize=True)
@given(u32, u32, u32)
def test_sequence_helpers_match_signed_32_bit_reference(a: int, b: int, c: int) -> None:
    assert before(a, b) == (_s32(a - b) < 0)
    assert after(a, b) == (_s32(b - a) < 0)
    assert between(a, b, c) == ((c - b) % (1 << 32) >= (a - b) % (1 << 32))
    d = (b % 0x7FFFFFFF) + 1  # 1 .. 2**31 - 1
    assert before(a, seq_add(a, d))
    assert after(seq_add(a, d), a)
    assert between(seq_add(a, d), a, seq_add(a, d))
    assert seq_add(seq_add(a, c), -c) == a
