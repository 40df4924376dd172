"""What kTLS puts on the wire, checked by a path of our own: the capture is read with dpkt, the
sender's TCP stream rebuilt from its segments by sequence number (a retransmitted range must
carry the very bytes it carried before), cut into TLS records by their headers, and each
record opened here with ``cryptography``'s AES-GCM — the nonce, the additional data and the
record numbering written out in this file, not taken from :mod:`netsim.tls`:

* TLS 1.2 AES-GCM: nonce = salt (4) || the record's explicit nonce (8), which counts up from the
  configured IV; additional data = record number (8) || type || 3, 3 || plaintext length (2);
* TLS 1.3: nonce = (salt || IV) with the record number XORed into its last 8 bytes; additional
  data = the 5-byte header (type 23); the real type is the last non-zero byte inside.

Device offload (loopback and a link with ``tls_offload=True``) and software kTLS, IPv4 and
IPv6, with and without loss.  netsim's emulated NIC writes the ciphertext into a private copy
of each segment before the device's taps, so even a capture on the sending device shows
ciphertext (on Linux it shows the plaintext the stack handed the NIC).
"""

from __future__ import annotations

import functools
import io
import random
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dpkt
import pytest
import trio
import trio.testing
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    MSG_MORE,
    SOCK_STREAM,
    SOL_TCP,
    SOL_TLS,
    TCP_ULP,
    TLS_1_3_VERSION,
    TLS_RX,
    TLS_SET_RECORD_TYPE,
    TLS_TX,
)
from netsim.dev import NETIF_F_HW_TLS_TX
from netsim.tls import TLS_HW, TLS_SW, tls_crypto_info, tls_get_ctx

TSHARK = shutil.which("tshark")
KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
IV = bytes.fromhex("1122334455667788")
SALT = bytes.fromhex("cafebabe")
PORT = 4433
LOCAL = {AF_INET: "127.0.0.1", AF_INET6: "::1"}
PEER = {AF_INET: "10.0.0.2", AF_INET6: "fd00::2"}
FAMILIES = pytest.mark.parametrize("family", [AF_INET, AF_INET6], ids=["ipv4", "ipv6"])
DATA, HANDSHAKE = 23, 22
MAX_PAYLOAD = 16384

#: (size, flags, record type): every kind of record boundary — short writes, a full record,
#: a write cut into records, ``MSG_MORE`` joining writes, a record of another type.  (No
#: empty write: software kTLS ignores one, while the device path closes the open record with
#: it, or sends an empty record — both as Linux does.)
WRITES: list[tuple[int, int, int]] = [
    (1, 0, DATA),
    (100, 0, DATA),
    (MAX_PAYLOAD, 0, DATA),
    (40000, 0, DATA),
    (5000, MSG_MORE, DATA),
    (3000, 0, DATA),
    (200, 0, HANDSHAKE),
    (70000, 0, DATA),
    (7, MSG_MORE, DATA),
    (16380, MSG_MORE, DATA),
    (9, 0, DATA),
]


def _payloads(writes: list[tuple[int, int, int]], seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(size) for size, _, _ in writes]


def _expected_records(
    writes: list[tuple[int, int, int]], payloads: list[bytes]
) -> list[tuple[int, bytes]]:
    """The records the writes make: ``(type, plaintext)``, cut at 16384 bytes and at the end
    of each write without ``MSG_MORE``."""
    out: list[tuple[int, bytes]] = []
    pending = b""
    for (_, flags, rtype), data in zip(writes, payloads, strict=True):
        pending += data
        while len(pending) >= MAX_PAYLOAD:
            out.append((rtype, pending[:MAX_PAYLOAD]))
            pending = pending[MAX_PAYLOAD:]
        if not flags & MSG_MORE and pending:
            out.append((rtype, pending))
            pending = b""
    assert not pending
    return out


def _merged(records: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Consecutive pieces of one type joined: what a reader sees."""
    out: list[tuple[int, bytes]] = []
    for rtype, data in records:
        if out and out[-1][0] == rtype == DATA:
            out[-1] = (rtype, out[-1][1] + data)
        elif data or rtype != DATA:
            out.append((rtype, data))
    return out


# -- the independent path: pcap -> TCP stream -> TLS records -> plaintext ------------------------


def _segments(pcap: bytes, sport: int) -> list[tuple[int, int, bytes]]:
    """``(seq, tcp flags, payload)`` of every captured segment from port ``sport``."""
    out = []
    for _, frame in dpkt.pcap.Reader(io.BytesIO(pcap)):
        ip = dpkt.ip.IP(frame) if frame[0] >> 4 == 4 else dpkt.ip6.IP6(frame)
        tcp = ip.data
        assert isinstance(tcp, dpkt.tcp.TCP)
        if tcp.sport == sport:
            out.append((tcp.seq, tcp.flags, bytes(tcp.data)))
    return out


@dataclass
class Stream:
    data: bytes
    segments: int = 0
    #: bytes captured more than once (retransmissions), each compared with the first copy
    duplicate_bytes: int = 0
    duplicate_ranges: list[tuple[int, int]] = field(default_factory=list)


def _reassemble(pcap: bytes, sport: int) -> Stream:
    """The byte stream sent from ``sport``, by sequence number from the SYN on.  Every range
    captured twice must hold the same bytes both times; no hole may be left."""
    segs = _segments(pcap, sport)
    syns = [seq for seq, flags, _ in segs if flags & dpkt.tcp.TH_SYN]
    assert syns, "the capture must start before the handshake"
    assert len(set(syns)) == 1
    isn = syns[0]
    buf = bytearray()
    have = bytearray()  # 1 where buf holds a captured byte
    stream = Stream(b"")
    for seq, flags, payload in segs:
        if flags & dpkt.tcp.TH_SYN or not payload:
            continue
        off = (seq - isn - 1) & 0xFFFFFFFF
        end = off + len(payload)
        if end > len(buf):
            buf.extend(bytes(end - len(buf)))
            have.extend(bytes(end - len(have)))
        stream.segments += 1
        seen = sum(have[off:end])
        if seen:
            stream.duplicate_bytes += seen
            stream.duplicate_ranges.append((off, end))
            for i in range(off, end):
                if have[i]:
                    assert buf[i] == payload[i - off], f"byte {i} re-sent differently"
        buf[off:end] = payload
        have[off:end] = b"\x01" * len(payload)
    assert all(have), "a hole in the captured stream"
    stream.data = bytes(buf)
    return stream


def _split_records(stream: bytes) -> list[tuple[bytes, bytes]]:
    """Cut the stream at the TLS record headers: ``(header, body)`` each; the stream must end
    on a record boundary."""
    out = []
    pos = 0
    while pos < len(stream):
        header = stream[pos : pos + 5]
        assert len(header) == 5
        assert header[1:3] == b"\x03\x03"
        length = int.from_bytes(header[3:5], "big")
        body = stream[pos + 5 : pos + 5 + length]
        assert len(body) == length
        out.append((header, body))
        pos += 5 + length
    return out


def _open_tls12(
    records: list[tuple[bytes, bytes]], key: bytes, salt: bytes, iv: bytes, rec_seq: int
) -> list[tuple[int, bytes]]:
    """TLS 1.2 AES-GCM, record by record (RFC 5288): the explicit nonce counts up from the IV."""
    aead = AESGCM(key)
    out = []
    for i, (header, body) in enumerate(records):
        seq = (rec_seq + i) % (1 << 64)
        explicit, ciphertext = body[:8], body[8:]
        assert explicit == ((int.from_bytes(iv, "big") + i) % (1 << 64)).to_bytes(8, "big")
        size = len(ciphertext) - 16
        aad = seq.to_bytes(8, "big") + header[:3] + size.to_bytes(2, "big")
        out.append((header[0], aead.decrypt(salt + explicit, ciphertext, aad)))
    return out


def _open_tls13(
    records: list[tuple[bytes, bytes]], key: bytes, salt: bytes, iv: bytes, rec_seq: int
) -> list[tuple[int, bytes]]:
    """TLS 1.3 (RFC 8446 §5.2/5.3): per-record nonce from the static IV and the record number,
    the header as additional data, the content type inside."""
    aead = AESGCM(key)
    base = int.from_bytes(salt + iv, "big")
    out = []
    for i, (header, body) in enumerate(records):
        assert header[0] == DATA  # the outer type is always application data
        seq = (rec_seq + i) % (1 << 64)
        nonce = (base ^ seq).to_bytes(12, "big")
        inner = aead.decrypt(nonce, body, header).rstrip(b"\0")
        out.append((inner[-1], inner[:-1]))
    return out


# -- running the traffic -----------------------------------------------------------------------


@dataclass
class Run:
    pcaps: dict[str, bytes]
    sport: int
    got: list[tuple[int, bytes]]
    stats: dict[str, int]
    tx_conf: int


def _info(version: int, rec_seq: int) -> bytes:
    return tls_crypto_info(KEY, IV, SALT, rec_seq, version=version)


async def _traffic(
    cli: netsim.Socket,
    srv: netsim.Socket,
    writes: list[tuple[int, int, int]],
    payloads: list[bytes],
    version: int,
    rec_seq: int,
) -> tuple[list[tuple[int, bytes]], int]:
    """Set up kTLS (TX on the client, RX on the server), send the writes while the server
    reads; what the server read, by record type, and where the client's TX runs."""
    for sock, direction in ((cli, TLS_TX), (srv, TLS_RX)):
        sock.setsockopt(SOL_TCP, TCP_ULP, b"tls")
        sock.setsockopt(SOL_TLS, direction, _info(version, rec_seq))
    ctx = tls_get_ctx(cli.tcp_sk)
    assert ctx is not None
    total = sum(map(len, payloads))
    got: list[tuple[int, bytes]] = []

    async def read() -> None:
        n = 0
        while n < total:
            data, cmsgs, _, _ = await srv.recvmsg(65536, 64)
            assert data or cmsgs
            (rtype,) = [c[2][0] for c in cmsgs] or [DATA]
            got.append((rtype, data))
            n += len(data)

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            for (size, flags, rtype), data in zip(writes, payloads, strict=True):
                anc = [(SOL_TLS, TLS_SET_RECORD_TYPE, bytes([rtype]))] if rtype != DATA else []
                assert await cli.sendmsg([data], anc, flags) == size
    return _merged(got), ctx.tx_conf


async def _on_loopback(
    allocator: str,
    family: int,
    device: bool,
    writes: list[tuple[int, int, int]],
    payloads: list[bytes],
    *,
    version: int = netsim.TLS_1_2_VERSION,
    rec_seq: int = 0,
) -> Run:
    pcap = io.BytesIO()
    async with netsim.open_host(allocator=allocator) as host:
        if device:
            host.devices["lo"].features |= NETIF_F_HW_TLS_TX
        with host.capture(pcap, "lo"):
            lst = host.socket(family, SOCK_STREAM)
            await lst.bind((LOCAL[family], PORT))
            lst.listen()
            cli = host.socket(family, SOCK_STREAM)
            await cli.connect((LOCAL[family], PORT))
            srv, _ = await lst.accept()
            lst.close()
            got, conf = await _traffic(cli, srv, writes, payloads, version, rec_seq)
            sport = cli.getsockname()[1]
            cli.close()
            srv.close()
        stats = dict(host.stats().items())
    return Run({"lo": pcap.getvalue()}, sport, got, stats, conf)


async def _over_link(
    family: int,
    writes: list[tuple[int, int, int]],
    payloads: list[bytes],
    *,
    loss: float = 0.0,
    rec_seq: int = 0,
) -> Run:
    """Host a sends to host b over a 1 Gbit/s link with TLS offload; captures on both ends."""
    cap_a, cap_b = io.BytesIO(), io.BytesIO()
    async with (
        netsim.open_host(name="a") as a,
        netsim.open_host(name="b", seed=1) as b,
    ):
        faults = netsim.FaultPlan(loss=loss, seed=3) if loss else None
        netsim.link(
            a, b, mtu=1500, rate=1e9, delay=0.0005, tls_offload=True, faults=faults
        )  # fmt: skip
        with a.capture(cap_a, "eth0"), b.capture(cap_b, "eth0"):
            lst = b.socket(family, SOCK_STREAM)
            await lst.bind(("", PORT))
            lst.listen()
            cli = a.socket(family, SOCK_STREAM)
            await cli.connect((PEER[family], PORT))
            srv, _ = await lst.accept()
            lst.close()
            got, conf = await _traffic(
                cli, srv, writes, payloads, netsim.TLS_1_2_VERSION, rec_seq
            )  # fmt: skip
            sport = cli.getsockname()[1]
            cli.close()
            srv.close()
        stats = dict(a.stats().items())
    return Run({"a": cap_a.getvalue(), "b": cap_b.getvalue()}, sport, got, stats, conf)


def _run(fn: Callable[..., Awaitable[Run]], *args: Any, **kwargs: Any) -> Run:
    """One scenario in its own ``trio.run`` on virtual time."""
    return trio.run(
        functools.partial(fn, *args, **kwargs), clock=trio.testing.MockClock(autojump_threshold=0)
    )


def _check_wire(
    run: Run,
    pcap: str,
    writes: list[tuple[int, int, int]],
    payloads: list[bytes],
    *,
    version: int = netsim.TLS_1_2_VERSION,
    rec_seq: int = 0,
) -> Stream:
    """The capture's stream is exactly the expected records, each opening with the key."""
    stream = _reassemble(run.pcaps[pcap], run.sport)
    records = _split_records(stream.data)
    if version == TLS_1_3_VERSION:
        opened = _open_tls13(records, KEY, SALT, IV, rec_seq)
    else:
        opened = _open_tls12(records, KEY, SALT, IV, rec_seq)
        assert [h[0] for h, _ in records] == [t for t, _ in opened]
    expected = _expected_records(writes, payloads)
    assert [(t, len(p)) for t, p in opened] == [(t, len(p)) for t, p in expected]
    assert opened == expected
    assert run.got == _merged(expected)  # and the receiver's kTLS read the same
    return stream


# -- the tests ----------------------------------------------------------------------------------


@FAMILIES
@pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])
@pytest.mark.parametrize("device", [True, False], ids=["device", "software"])
def test_loopback_records_decrypt_independently(allocator: str, device: bool, family: int) -> None:
    payloads = _payloads(WRITES, 1)
    run = _run(_on_loopback, allocator, family, device, WRITES, payloads, rec_seq=0x0102)
    assert run.tx_conf == (TLS_HW if device else TLS_SW)
    stream = _check_wire(run, "lo", WRITES, payloads, rec_seq=0x0102)
    assert stream.duplicate_bytes == 0
    n = len(_expected_records(WRITES, payloads))
    assert run.stats["tls_records"] == n
    assert run.stats["tls_rx_records"] == n
    if device:
        assert run.stats["tls_dev_encrypt"] >= n
        assert run.stats["tls_sw_encrypt"] == 0
        assert run.stats["tls_sw_fallback_segs"] == 0
    else:
        assert run.stats["tls_sw_encrypt"] == n
        assert run.stats["tls_dev_encrypt"] == 0


def test_software_and_device_put_the_same_bytes_on_the_wire() -> None:
    """Same key, IV, record number and writes: the two paths' record streams are identical,
    byte for byte (how TCP cut them into segments may differ)."""
    payloads = _payloads(WRITES, 2)
    streams = []
    for device in (True, False):
        run = _run(_on_loopback, "page_frag_cache", AF_INET, device, WRITES, payloads)
        assert run.tx_conf == (TLS_HW if device else TLS_SW)
        streams.append(_check_wire(run, "lo", WRITES, payloads).data)
    assert streams[0] == streams[1]
    # and the check has teeth: a flipped bit, or another key, does not open
    records = _split_records(streams[0])
    header, body = records[2]
    flipped = body[:100] + bytes([body[100] ^ 1]) + body[101:]
    with pytest.raises(InvalidTag):
        _open_tls12([*records[:2], (header, flipped)], KEY, SALT, IV, 0)
    with pytest.raises(InvalidTag):
        _open_tls12(records[:1], bytes(16), SALT, IV, 0)
    # record 1 (its explicit nonce, IV + 1, expected) under record number 0 in the AAD
    iv1 = (int.from_bytes(IV, "big") + 1).to_bytes(8, "big")
    with pytest.raises(InvalidTag):
        _open_tls12(records[1:2], KEY, SALT, iv1, 0)
    assert _open_tls12(records[1:2], KEY, SALT, iv1, 1)[0][0] == DATA


@FAMILIES
def test_tls13_software_records_decrypt_independently(family: int) -> None:
    """TLS 1.3 is never offloaded: software kTLS, with the record type inside the
    encryption (a handshake record's outer type is 23 too)."""
    payloads = _payloads(WRITES, 3)
    run = _run(
        _on_loopback, "page_frag_cache", family, True, WRITES, payloads,
        version=TLS_1_3_VERSION, rec_seq=5,
    )  # fmt: skip
    assert run.tx_conf == TLS_SW  # NETIF_F_HW_TLS_TX notwithstanding
    _check_wire(run, "lo", WRITES, payloads, version=TLS_1_3_VERSION, rec_seq=5)
    records = _split_records(_reassemble(run.pcaps["lo"], run.sport).data)
    assert {h[0] for h, _ in records} == {DATA}
    # 1 type byte + 16 tag bytes after the plaintext
    sizes = [len(p) for _, p in _expected_records(WRITES, payloads)]
    assert [len(b) for _, b in records] == [n + 17 for n in sizes]


@FAMILIES
def test_link_offload_records_decrypt_on_the_receiver_side(family: int) -> None:
    """Over a link whose NICs offload TLS: what reaches the receiver's device is a valid
    record stream (captured on b, after the wire)."""
    writes = [*WRITES, (200000, 0, DATA)]
    payloads = _payloads(writes, 4)
    run = _run(_over_link, family, writes, payloads, rec_seq=1 << 40)
    assert run.tx_conf == TLS_HW
    for pcap in ("b", "a"):
        stream = _check_wire(run, pcap, writes, payloads, rec_seq=1 << 40)
        assert stream.duplicate_bytes == 0
    assert run.stats["tls_dev_encrypt"] >= len(_expected_records(writes, payloads))
    assert run.stats["tls_sw_fallback_segs"] == 0
    assert run.stats["tls_tx_ooo"] == 0


@FAMILIES
def test_retransmissions_carry_the_same_ciphertext(family: int) -> None:
    """2 % loss: TCP resends ranges of records the NIC already encrypted; the NIC finds the
    record again (``tls_get_record``) and encrypts from its start — the resent bytes are the
    bytes first sent.  The sender's capture holds every copy; the receiver's decrypts."""
    writes = [(300000, 0, DATA), (5000, MSG_MORE, DATA), (5000, 0, DATA), (100000, 0, DATA)]
    payloads = _payloads(writes, 5)
    run = _run(_over_link, family, writes, payloads, loss=0.02)
    assert run.tx_conf == TLS_HW
    sent = _check_wire(run, "a", writes, payloads)
    _check_wire(run, "b", writes, payloads)
    assert sent.duplicate_bytes > 0  # resent ranges, each checked byte for byte
    assert sent.duplicate_ranges
    assert run.stats["TcpRetransSegs"] > 0
    assert run.stats["tls_tx_ooo"] > 0
    assert run.stats["tls_sw_fallback_segs"] == 0


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed (apt-get install tshark)")
@pytest.mark.parametrize("device", [True, False], ids=["device", "software"])
def test_tshark_reads_the_records_as_tls(device: bool, tmp_path: Path) -> None:
    assert TSHARK is not None
    payloads = _payloads(WRITES, 6)
    run = _run(_on_loopback, "page_frag_cache", AF_INET, device, WRITES, payloads)
    path = tmp_path / "tls.pcap"
    path.write_bytes(run.pcaps["lo"])
    out = subprocess.run(
        [TSHARK, "-r", str(path), "-d", f"tcp.port=={PORT},tls", "-Y", "tls",
         "-T", "fields", "-e", "tcp.srcport", "-e", "tls.record.content_type",
         "-e", "tls.record.version", "-e", "tls.record.length"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    types: list[int] = []
    lengths: list[int] = []
    for sport, rtype, version, length in rows:
        assert int(sport) == run.sport
        if not rtype:
            continue  # a segment with only the middle of a record: tshark reassembles it
        assert set(version.split(",")) == {"0x0303"}
        types += [int(t) for t in rtype.split(",")]
        lengths += [int(n) for n in length.split(",")]
    expected = _expected_records(WRITES, payloads)
    assert types == [t for t, _ in expected]
    assert lengths == [8 + len(p) + 16 for _, p in expected]
