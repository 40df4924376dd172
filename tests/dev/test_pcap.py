"""PcapWriter: the file format, read back by dpkt's pcap reader, with IPv4 and IPv6 UDP
packets (one of 60 000 bytes, which the default snap length must keep whole)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import dpkt
import pytest

from netsim.dev import LINKTYPE_RAW, PcapWriter
from netsim.wire import (
    IPPROTO_UDP,
    IPV4_HLEN,
    IPV6_HLEN,
    UDP_HLEN,
    ip4_build_header,
    ip6_build_header,
    udp4_checksum,
    udp6_checksum,
    udp_build_header,
    udp_verify,
)

LOCAL4 = bytes([127, 0, 0, 1])
LOCAL6 = bytes(15) + b"\x01"


def _udp4(payload: bytes, sport: int = 40000, dport: int = 1234) -> bytes:
    ulen = UDP_HLEN + len(payload)
    packet = bytearray(IPV4_HLEN + ulen)
    ip4_build_header(packet, 0, len(packet), 1, 0x4000, 64, IPPROTO_UDP, LOCAL4, LOCAL4)
    udp_build_header(packet, IPV4_HLEN, sport, dport, ulen, 0)
    packet[IPV4_HLEN + UDP_HLEN :] = payload
    check = udp4_checksum(LOCAL4, LOCAL4, memoryview(packet)[IPV4_HLEN:])
    udp_build_header(packet, IPV4_HLEN, sport, dport, ulen, check)
    return bytes(packet)


def _udp6(payload: bytes, sport: int = 40000, dport: int = 1234) -> bytes:
    ulen = UDP_HLEN + len(payload)
    packet = bytearray(IPV6_HLEN + ulen)
    ip6_build_header(packet, 0, ulen, IPPROTO_UDP, 64, LOCAL6, LOCAL6)
    udp_build_header(packet, IPV6_HLEN, sport, dport, ulen, 0)
    packet[IPV6_HLEN + UDP_HLEN :] = payload
    check = udp6_checksum(LOCAL6, LOCAL6, memoryview(packet)[IPV6_HLEN:])
    udp_build_header(packet, IPV6_HLEN, sport, dport, ulen, check)
    return bytes(packet)


def _records(raw: bytes) -> list[tuple[int, int, int, int]]:
    """Every record header (ts_sec, ts_usec, caplen, len), read with dpkt's little-endian
    record header class rather than our own struct layout."""
    out = []
    pos = dpkt.pcap.LEFileHdr.__hdr_len__
    while pos < len(raw):
        hdr = dpkt.pcap.LEPktHdr(raw[pos : pos + dpkt.pcap.LEPktHdr.__hdr_len__])
        out.append((hdr.tv_sec, hdr.tv_usec, hdr.caplen, hdr.len))
        pos += dpkt.pcap.LEPktHdr.__hdr_len__ + hdr.caplen
    assert pos == len(raw)
    return out


def test_global_header_bytes() -> None:
    sink = io.BytesIO()
    PcapWriter(sink)
    assert sink.getvalue() == struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 101)
    assert sink.getvalue()[:4] == bytes.fromhex("d4c3b2a1")  # little-endian magic


def test_ipv4_and_ipv6_udp_read_back_by_dpkt(tmp_path: Path) -> None:
    packets = [
        (0.0, _udp4(b"hello")),
        (0.000001, _udp6(b"hello")),
        (1.5, _udp4(bytes(range(256)) * 4)),
        (2.25, _udp4(bytes(60000 - IPV4_HLEN - UDP_HLEN))),  # a 60000-byte packet, kept whole
        (3.999999, _udp6(b"x" * 60000)),
        (100.0, _udp6(b"")),
    ]
    assert len(packets[3][1]) == 60000
    path = tmp_path / "udp.pcap"
    with PcapWriter(path.open("wb")) as writer:
        for ts, packet in packets:
            writer.write(ts, packet)
        assert writer.records == len(packets)
    assert writer.closed

    with path.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        assert reader.datalink() == LINKTYPE_RAW == 101  # dpkt.pcap.DLT_RAW is the OS value
        assert reader.snaplen == 262144 >= 65535
        read = list(reader)
    assert len(read) == len(packets)
    for (ts, packet), (their_ts, their_bytes) in zip(packets, read, strict=True):
        assert their_bytes == packet
        assert their_ts == pytest.approx(ts, abs=1e-6)
        # a second parser reads the packets, and recomputes the same checksums we captured
        parsed = dpkt.ip.IP(their_bytes) if packet[0] >> 4 == 4 else dpkt.ip6.IP6(their_bytes)
        udp = parsed.data
        assert isinstance(udp, dpkt.udp.UDP)
        assert udp.ulen == len(packet) - (IPV4_HLEN if parsed.v == 4 else IPV6_HLEN)
        assert udp_verify(parsed.src, parsed.dst, bytes(udp), v6=parsed.v == 6)
        if parsed.v == 4:
            parsed.sum = 0
        udp.sum = 0
        assert bytes(parsed) == packet

    records = _records(path.read_bytes())
    for (ts, packet), (sec, usec, caplen, orig_len) in zip(packets, records, strict=True):
        assert caplen == orig_len == len(packet)
        assert sec * 1_000_000 + usec == round(ts * 1_000_000)
        assert 0 <= usec < 1_000_000


def test_snaplen_truncates_and_orig_len_is_kept() -> None:
    sink = io.BytesIO()
    writer = PcapWriter(sink, snaplen=100)
    big = _udp4(bytes(900))
    writer.write(1.0, big)
    writer.write(2.0, memoryview(big)[:60], orig_len=1500)  # already cut by the caller
    writer.write(3.0, bytearray(b"short"))
    raw = sink.getvalue()
    assert _records(raw) == [(1, 0, 100, 928), (2, 0, 60, 1500), (3, 0, 5, 5)]
    read = list(dpkt.pcap.Reader(io.BytesIO(raw)))
    assert [data for _, data in read] == [big[:100], big[:60], b"short"]


def test_timestamps_round_to_microseconds() -> None:
    sink = io.BytesIO()
    writer = PcapWriter(sink)
    for ts in (0.0, 0.0000004, 0.0000006, 1.9999999, 12345.678901):
        writer.write(ts, b"")
    assert [(sec, usec) for sec, usec, _, _ in _records(sink.getvalue())] == [
        (0, 0),
        (0, 0),
        (0, 1),
        (2, 0),
        (12345, 678901),
    ]


def test_other_linktype() -> None:
    sink = io.BytesIO()
    PcapWriter(sink, snaplen=65535, linktype=1)
    reader = dpkt.pcap.Reader(io.BytesIO(sink.getvalue()))
    assert (reader.datalink(), reader.snaplen) == (1, 65535)
    assert list(reader) == []


def test_errors() -> None:
    with pytest.raises(ValueError, match="snaplen must be a positive 32-bit value: 0"):
        PcapWriter(io.BytesIO(), snaplen=0)
    sink = io.BytesIO()
    writer = PcapWriter(sink)
    with pytest.raises(ValueError, match="timestamps cannot be negative"):
        writer.write(-1.0, b"x")
    with pytest.raises(ValueError, match="orig_len 1 is less than the 2 bytes given"):
        writer.write(0.0, b"xy", orig_len=1)
    assert writer.records == 0
    writer.close()
    writer.close()  # harmless
    assert sink.closed
    with pytest.raises(ValueError, match="write to a closed PcapWriter"):
        writer.write(0.0, b"x")


def _write_then_fail(writer: PcapWriter) -> None:
    with writer:
        writer.write(0.0, b"x")
        raise RuntimeError("boom")


def test_context_manager_closes_on_error() -> None:
    sink = io.BytesIO()
    writer = PcapWriter(sink)
    with pytest.raises(RuntimeError, match="boom"):
        _write_then_fail(writer)
    assert writer.closed
    assert sink.closed
