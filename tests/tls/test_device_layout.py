"""kTLS device offload, transmit side: how records sit in page frags and what TCP makes of
them (spec tx-paths §5 and §6.3; net/tls/tls_device.c).

Device mode on loopback (``NETIF_F_HW_TLS_TX`` on ``lo``), both fragment allocators.  Writes
are made with ``TCP_CORK`` on, so TCP keeps the record's skbs on its write queue where their
frags can be compared with the record's:

* a record is prepend (13) + payload + tag (16), the three coalesced into one frag, or two when
  the allocator's page ends inside it; the prepend holds the TLS header and the explicit nonce
  (the TX IV, counting up per record);
* a record closes at 16384 bytes of payload, at ``MAX_SKB_FRAGS - 1`` frags, and at the end of a
  write without ``MSG_MORE``;
* TCP's frags are the record's bytes split per 4 KiB sub-page (``skb_splice_from_iter``), merged
  only within one sub-page — so consecutive records in one sub-page share a TCP frag;
* the record keeps its own page references until TCP's ACK passes its end, then drops them
  (``tls_tcp_clean_acked``); the old ``page_frag`` takes them with ``get_page``, the
  ``page_frag_cache`` from its bias (``frag_commit``);
* plaintext queued before ``TLS_TX`` never shares an skb with records (the collapse fence).
"""

from __future__ import annotations

import io
import itertools
import random
from collections.abc import Iterable

import dpkt
import pytest
import trio
import trio.testing

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    MSG_MORE,
    MSG_WAITALL,
    SOCK_STREAM,
    SOL_TCP,
    SOL_TLS,
    TCP_CORK,
    TCP_ULP,
    TLS_RX,
    TLS_TX,
)
from netsim.dev import NETIF_F_HW_TLS_TX
from netsim.mm import FragAllocator, Page, PageFrag, PageFragCache
from netsim.tcp import TcpSock
from netsim.tcp.output import tcp_send_mss
from netsim.testing.allow import STALLED_READER
from netsim.tls import TLS_HW, TlsOffloadContextTx, TlsRecordInfo, tls_crypto_info, tls_get_ctx

ALLOCATORS = ["page_frag", "page_frag_cache"]
LOCAL = {AF_INET: "127.0.0.1", AF_INET6: "::1"}
PAGE = 4096
KEY = bytes(range(0x10, 0x20))
#: the explicit nonce of record 0; its last byte is 0xff so record 1's shows the carry
IV = bytes.fromhex("00010203040506ff")
SALT = bytes.fromhex("a1b2c3d4")
PREPEND = 13
TAG = 16
OVERHEAD = PREPEND + TAG
MAX_PAYLOAD = 16384


def _data(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


async def _connect(host: netsim.Host, family: int = AF_INET) -> tuple[netsim.Socket, netsim.Socket]:
    lst = host.socket(family, SOCK_STREAM)
    await lst.bind((LOCAL[family], 0))
    lst.listen()
    cli = host.socket(family, SOCK_STREAM)
    await cli.connect(lst.getsockname())
    srv, _ = await lst.accept()
    lst.close()
    return cli, srv


def _tls(sock: netsim.Socket, direction: int) -> None:
    sock.setsockopt(SOL_TCP, TCP_ULP, b"tls")
    sock.setsockopt(SOL_TLS, direction, tls_crypto_info(KEY, IV, SALT, 0))


async def _warm_up(cli: netsim.Socket, srv: netsim.Socket) -> None:
    """Send 1 MiB of plaintext, from a task of its own (whose task frag goes with it), until the
    peer's window has grown: TCP's size goal (half the peer's largest window) is then above
    50 000 bytes — it starts near 32 KiB, and a corked write queue still sends a full skb —
    and every layout below stays on the write queue while corked."""
    n = 1 << 20

    async def send() -> None:
        view = memoryview(_data(n, seed=99))
        while view:
            view = view[await cli.send(view) :]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send, name="warm-up sender")
        got = 0
        while got < n:
            got += len(await srv.recv(1 << 20))
    sk = cli.tcp_sk
    while sk.snd_una != sk.write_seq:  # noqa: ASYNC110 - polling emulated state
        await trio.sleep(0.001)
    assert tcp_send_mss(sk)[1] > 50000


async def _device_pair(
    host: netsim.Host, family: int = AF_INET, *, cork: bool = True
) -> tuple[netsim.Socket, netsim.Socket]:
    """A connection whose client sends kTLS through the offload device (corked) and whose
    server reads it with software kTLS; warmed up, and the test's task frag still empty."""
    host.devices["lo"].features |= NETIF_F_HW_TLS_TX
    cli, srv = await _connect(host, family)
    await _warm_up(cli, srv)
    assert host.task_context().task_frag is None
    _tls(cli, TLS_TX)
    _tls(srv, TLS_RX)
    ctx = tls_get_ctx(cli.tcp_sk)
    assert ctx is not None
    assert ctx.tx_conf == TLS_HW
    if cork:
        cli.setsockopt(SOL_TCP, TCP_CORK, 1)
    return cli, srv


def _offload(sock: netsim.Socket) -> TlsOffloadContextTx:
    ctx = tls_get_ctx(sock.tcp_sk)
    assert ctx is not None
    assert ctx.tx_offload is not None
    return ctx.tx_offload


def _open_record(sock: netsim.Socket) -> TlsRecordInfo | None:
    """The record ``MSG_MORE`` left open, if any."""
    return _offload(sock).open_record


def _records(sock: netsim.Socket) -> list[TlsRecordInfo]:
    """The pushed records not yet ACKed (the start marker left out)."""
    return [r for r in _offload(sock).records_list if not r.is_start_marker()]


def _task_frag(host: netsim.Host) -> FragAllocator:
    nc = host.task_context().task_frag
    assert nc is not None
    return nc


def _payload_len(record: TlsRecordInfo) -> int:
    return record.len - OVERHEAD


def _read_record(record: TlsRecordInfo) -> bytes:
    """The record's bytes as its frags hold them (prepend, plaintext, tag placeholder)."""
    return b"".join(bytes(f.page.view[f.offset : f.offset + f.len]) for f in record.frags)


def _check_prepend(record: TlsRecordInfo, index: int) -> None:
    """The prepend is the header (type 23, version 3,3, length after the header) and the
    explicit nonce: the IV plus the record's index, big-endian."""
    first = record.frags[0]
    assert first.len >= PREPEND
    prepend = bytes(first.page.view[first.offset : first.offset + PREPEND])
    length = 8 + _payload_len(record) + TAG
    assert prepend[:5] == bytes([23, 3, 3, length >> 8, length & 0xFF])
    nonce = (int.from_bytes(IV, "big") + index) % (1 << 64)
    assert prepend[5:] == nonce.to_bytes(8, "big")


def _pieces(
    records: Iterable[TlsRecordInfo], seq: int, end_seq: int, start: int
) -> list[tuple[Page, int, int]]:
    """What ``skb_splice_from_iter`` makes of the stream range ``[seq, end_seq)`` of the records
    (which start at ``start``): their frags cut at every 4 KiB sub-page boundary, as
    ``(sub-page, offset in it, length)``, a piece merged into the previous one only when it
    continues it in the same sub-page."""
    out: list[tuple[Page, int, int]] = []
    pos = start
    for record in records:
        for frag in record.frags:
            a, b = max(seq, pos), min(end_seq, pos + frag.len)
            if a < b:
                head = frag.page.head
                off = frag.page.index * PAGE + frag.offset + (a - pos)
                n = b - a
                while n:
                    sub = head.subpage(off // PAGE)
                    sub_off = off % PAGE
                    k = min(n, PAGE - sub_off)
                    if out and out[-1][0] is sub and out[-1][1] + out[-1][2] == sub_off:
                        out[-1] = (sub, out[-1][1], out[-1][2] + k)
                    else:
                        out.append((sub, sub_off, k))
                    off += k
                    n -= k
            pos += frag.len
    return out


def _check_tcp_frags(sock: netsim.Socket, records: list[TlsRecordInfo]) -> int:
    """Every skb on the write queue that carries record bytes has exactly the sub-page pieces
    of those bytes as frags, each within one 4 KiB page.  Returns the number of TCP frags."""
    sk = sock.tcp_sk
    start = records[0].start_seq
    end = records[-1].end_seq
    total = 0
    covered = 0
    for skb in sk.sk_write_queue:
        seq, end_seq = skb.cb.seq, skb.cb.end_seq
        if end_seq <= start or seq >= end:
            continue
        assert start <= seq, "an skb mixes record bytes with other bytes"
        assert end_seq <= end, "an skb mixes record bytes with other bytes"
        assert skb.headlen == 0
        frags = [(f.page, f.offset, f.len) for f in skb.frags]
        expected = _pieces(records, seq, end_seq, start)
        assert [(p.pfn, o, n) for p, o, n in frags] == [(p.pfn, o, n) for p, o, n in expected]
        for (page, off, n), (want, _, _) in zip(frags, expected, strict=True):
            assert page is want  # the very sub-page object: skb_can_coalesce compares pointers
            assert 0 < n <= PAGE
            assert off + n <= PAGE
        total += len(frags)
        covered += end_seq - seq
    assert covered == end - start
    return total


def _tcp_refs(sk: TcpSock, head: Page) -> int:
    """The page references TCP's queued skbs hold on compound page ``head``."""
    skbs = [*sk.sk_write_queue, *sk.tcp_rtx_queue]
    return sum(1 for skb in skbs for f in skb.frags if f.page.head is head)


def _allocator_refs(nc: FragAllocator, head: Page) -> int:
    """The references the fragment allocator itself holds on ``head``."""
    if isinstance(nc, PageFragCache):
        return nc.pagecnt_bias if nc.page is head else 0
    assert isinstance(nc, PageFrag)
    return 1 if nc.page is head else 0


def _record_refs(records: Iterable[TlsRecordInfo], head: Page) -> int:
    return sum(1 for r in records for f in r.frags if f.page.head is head)


async def _drain(srv: netsim.Socket, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        chunk = await srv.recv(65536)
        assert chunk
        got += chunk
    return bytes(got)


async def _flush(cli: netsim.Socket, srv: netsim.Socket, sent: bytes) -> None:
    """Uncork, read everything and wait for the last ACK: no data record is left."""
    cli.setsockopt(SOL_TCP, TCP_CORK, 0)
    assert await _drain(srv, len(sent)) == sent
    await trio.sleep(1)
    assert _records(cli) == []
    assert not cli.tcp_sk.sk_write_queue
    assert not cli.tcp_sk.tcp_rtx_queue


# -- one record --------------------------------------------------------------------------------


@pytest.mark.parametrize("family", [AF_INET, AF_INET6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_a_full_record_is_one_frag_and_five_subpage_tcp_frags(
    allocator: str, family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host(allocator=allocator) as host:
        cli, srv = await _device_pair(host, family)
        offload = _offload(cli)
        start = cli.tcp_sk.write_seq
        assert offload.records_list[0].is_start_marker()
        assert offload.records_list[0].end_seq == start
        data = _data(MAX_PAYLOAD)
        before = host.stats()
        assert await cli.send(data) == MAX_PAYLOAD
        after = host.stats()
        (record,) = _records(cli)
        assert record.len == PREPEND + MAX_PAYLOAD + TAG == 16413
        assert (record.start_seq, record.end_seq) == (start, start + 16413)
        assert record.rec_seq == 0
        assert offload.open_record is None
        assert cli.tcp_sk.write_seq == record.end_seq
        # prepend, data and tag coalesced into one frag at the start of a fresh 32 KiB page
        (frag,) = record.frags
        assert frag.page.order == 3
        assert (frag.offset, frag.len) == (0, 16413)
        _check_prepend(record, 0)
        assert _read_record(record)[PREPEND : PREPEND + MAX_PAYLOAD] == data  # still plaintext
        # TCP: one skb, its frags the sub-pages 0..4 (4096 * 4 + 29)
        assert _check_tcp_frags(cli, [record]) == 5
        (skb,) = cli.tcp_sk.sk_write_queue
        assert [(f.page.index, f.offset, f.len) for f in skb.frags] == [
            (0, 0, 4096),
            (1, 0, 4096),
            (2, 0, 4096),
            (3, 0, 4096),
            (4, 0, 29),
        ]
        # one record, one frag; two coalescing appends (data, tag)
        assert after["tls_records"] - before["tls_records"] == 1
        assert after["tls_record_frags"] - before["tls_record_frags"] == 1
        assert after["tls_record_coalesce"] - before["tls_record_coalesce"] == 2
        assert after["skb_new_frag"] - before["skb_new_frag"] == 5
        await _flush(cli, srv, data)
        assert host.stats()["tls_dev_encrypt"] >= 1
        cli.close()
        srv.close()


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_a_record_crossing_the_page_end_has_two_frags(
    allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """The second 16 KiB record starts at 16413 of the page: 16355 bytes fit (prepend and
    16342 of data), the other 42 and the tag go to a new page — two frags.  Its first TCP
    piece continues the first record's last one in sub-page 4: one TCP frag."""
    async with netsim.open_host(allocator=allocator) as host:
        cli, srv = await _device_pair(host)
        data = _data(2 * MAX_PAYLOAD)
        await cli.send(data[:MAX_PAYLOAD])
        await cli.send(data[MAX_PAYLOAD:])
        first, second = _records(cli)
        (f0,) = first.frags
        assert (f0.offset, f0.len) == (0, 16413)
        page = f0.page
        a, b = second.frags
        assert a.page is page
        assert (a.offset, a.len) == (16413, 32768 - 16413)
        assert b.page.head is not page
        assert (b.page.order, b.offset, b.len) == (3, 0, 16413 - (32768 - 16413))
        assert second.len == 16413
        assert second.start_seq == first.end_seq
        _check_prepend(first, 0)
        _check_prepend(second, 1)  # the IV + 1: ...06ff -> ...0700
        tail = bytes(a.page.view[a.offset + 5 : a.offset + 13])
        assert tail == bytes.fromhex("0001020304050700")
        assert _read_record(second)[PREPEND:-TAG] == data[MAX_PAYLOAD:]
        # sub-pages 0..3 whole, 4 whole (29 of record 0 + 4067 of record 1), 5, 6, 7, new 0
        assert _check_tcp_frags(cli, [first, second]) == 9
        frags = [f for skb in cli.tcp_sk.sk_write_queue for f in skb.frags]
        assert [(f.page.head is page, f.page.index, f.offset, f.len) for f in frags] == [
            *((True, i, 0, 4096) for i in range(8)),
            (False, 0, 0, 58),
        ]
        await _flush(cli, srv, data)
        cli.close()
        srv.close()


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_records_close_at_16384_bytes_of_payload(
    allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host(allocator=allocator) as host:
        cli, srv = await _device_pair(host)
        data = _data(40000)
        assert await cli.send(data) == 40000
        records = _records(cli)
        assert [_payload_len(r) for r in records] == [16384, 16384, 7232]
        assert [r.len for r in records] == [16413, 16413, 7261]
        assert [r.rec_seq for r in records] == [0, 1, 2]
        for i, record in enumerate(records):
            _check_prepend(record, i)
            assert len(record.frags) <= 2
            if i:
                assert record.start_seq == records[i - 1].end_seq
        plain = b"".join(_read_record(r)[PREPEND:-TAG] for r in records)
        assert plain == data
        _check_tcp_frags(cli, records)
        await _flush(cli, srv, data)
        cli.close()
        srv.close()


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_msg_more_keeps_the_record_open(
    allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host(allocator=allocator) as host:
        cli, srv = await _device_pair(host)
        sk = cli.tcp_sk
        seq = sk.write_seq
        data = _data(3000)
        assert await cli.send(data[:1000], MSG_MORE) == 1000
        record = _open_record(cli)
        assert record is not None
        assert record.len == PREPEND + 1000
        assert _records(cli) == []
        assert sk.write_seq == seq
        assert not sk.sk_write_queue
        # more bytes join it, still open, still one frag
        assert await cli.send(data[1000:2500], MSG_MORE) == 1500
        assert _open_record(cli) is record
        assert record.len == PREPEND + 2500
        assert len(record.frags) == 1
        assert not sk.sk_write_queue
        # a write without MSG_MORE closes it, with the tag
        assert await cli.send(data[2500:]) == 500
        assert _open_record(cli) is None
        assert _records(cli) == [record]
        assert record.len == 3000 + OVERHEAD
        assert len(record.frags) == 1
        _check_prepend(record, 0)
        assert sk.write_seq == seq + record.len
        _check_tcp_frags(cli, [record])
        # so does an empty write
        assert await cli.send(b"x" * 10, MSG_MORE) == 10
        assert _open_record(cli) is not None
        assert await cli.send(b"") == 0
        assert _open_record(cli) is None
        assert [_payload_len(r) for r in _records(cli)] == [3000, 10]
        await _flush(cli, srv, data + b"x" * 10)
        cli.close()
        srv.close()


@pytest.mark.parametrize("max_skb_frags", [17, 20])
@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_a_record_closes_at_max_skb_frags_minus_one(
    allocator: str, max_skb_frags: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Writes with ``MSG_MORE``, each followed by a write on another socket of the same task:
    that write takes the next bytes of the shared task frag, so each TLS write starts a new
    frag.  The record closes (and goes to TCP, ``MSG_MORE`` notwithstanding) when it has
    ``MAX_SKB_FRAGS - 1`` frags; the tag joins the last one."""
    async with netsim.open_host(allocator=allocator, max_skb_frags=max_skb_frags) as host:
        cli, srv = await _device_pair(host)
        other, other_peer = await _connect(host)
        other.setsockopt(SOL_TCP, TCP_CORK, 1)
        offload = _offload(cli)
        limit = max_skb_frags - 1
        chunks = [_data(10 + i, seed=i) for i in range(limit + 3)]
        for i, chunk in enumerate(chunks):
            before = host.stats()
            assert await cli.send(chunk, MSG_MORE) == len(chunk)
            await other.send(b"o")
            after = host.stats()
            if i < 15:  # (the other socket's skb has a free slot: no new skb, nothing sent)
                # one frag committed for the record (the first: its prepend, the data joining
                # it) and one for the other socket's skb: page_frag pays each with get_page,
                # page_frag_cache from its bias
                assert after["frag_commit"] - before["frag_commit"] == 2
                gets = after["page_get"] - before["page_get"]
                assert gets == (2 if allocator == "page_frag" else 0)
            if i + 1 < limit:
                record = offload.open_record
                assert record is not None
                assert len(record.frags) == i + 1
                assert _records(cli) == []
                assert not cli.tcp_sk.sk_write_queue
            elif i + 1 == limit:
                assert offload.open_record is None
                (full,) = _records(cli)
                assert len(full.frags) == limit
                assert full.len == PREPEND + sum(map(len, chunks[:limit])) + TAG
                frags = full.frags
                for x, y in itertools.pairwise(frags):
                    assert x.page is y.page
                    assert x.offset + x.len < y.offset  # the other socket's byte between
                assert _read_record(full)[PREPEND:-TAG] == b"".join(chunks[:limit])
                _check_prepend(full, 0)
                _check_tcp_frags(cli, [full])
        # the next record is open with the rest; closing it, the tag is a fourth frag (the
        # other socket took the byte after the last chunk).  (The full record's skb may be
        # gone: when TCP started a new skb for this one, the corked queue sent the full one.)
        rest = offload.open_record
        assert rest is not None
        assert len(rest.frags) == 3
        assert await cli.send(b"") == 0
        assert _records(cli)[-1] is rest
        assert len(rest.frags) == 4
        assert rest.len == PREPEND + sum(map(len, chunks[limit:])) + TAG
        await _flush(cli, srv, b"".join(chunks))
        other.setsockopt(SOL_TCP, TCP_CORK, 0)
        assert await _drain(other_peer, len(chunks)) == b"o" * len(chunks)
        for sock in (cli, srv, other, other_peer):
            sock.close()


# -- TCP's view: sub-pages, merging, the fence -------------------------------------------------


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_consecutive_small_records_share_a_tcp_frag(
    allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host(allocator=allocator) as host:
        cli, srv = await _device_pair(host)
        data = _data(300)
        before = host.stats()
        for i in range(3):
            await cli.send(data[100 * i : 100 * (i + 1)])
        records = _records(cli)
        assert [(r.frags[0].offset, r.len) for r in records] == [(0, 129), (129, 129), (258, 129)]
        assert all(len(r.frags) == 1 for r in records)
        page = records[0].frags[0].page
        assert all(r.frags[0].page is page for r in records)
        for i, record in enumerate(records):
            _check_prepend(record, i)
        (skb,) = cli.tcp_sk.sk_write_queue
        assert [(f.page, f.offset, f.len) for f in skb.frags] == [(page, 0, 387)]
        assert _check_tcp_frags(cli, records) == 1
        delta = host.stats()["skb_coalesce"] - before["skb_coalesce"]
        assert delta == 2
        await _flush(cli, srv, data)
        cli.close()
        srv.close()


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_plaintext_before_tls_tx_is_fenced_off(
    allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """Plaintext corked on the write queue before ``TLS_TX``: the record after it starts a new
    skb (``tcp_write_collapse_fence``), although its first bytes continue the plaintext's
    frag in the same page — so the corked queue sends the plaintext skb alone (a corked
    queue holds back only its tail), and on the wire the plaintext is a segment of its own,
    in clear, before the record's.  The peer reads the plaintext, then sets up ``TLS_RX``."""
    async with netsim.open_host(allocator=allocator) as host:
        host.devices["lo"].features |= NETIF_F_HW_TLS_TX
        cli, srv = await _connect(host)
        await _warm_up(cli, srv)
        sk = cli.tcp_sk
        cli.setsockopt(SOL_TCP, TCP_CORK, 1)
        clear = b"plaintext before the handshake is done" * 3
        pcap = io.BytesIO()
        with host.capture(pcap, "lo"):
            await cli.send(clear)
            (plain_skb,) = sk.sk_write_queue
            assert not plain_skb.cb.eor
            (pf,) = plain_skb.frags
            plain_page, plain_end = pf.page, pf.offset + pf.len
            plain_range = (plain_skb.cb.seq, plain_skb.cb.end_seq)
            _tls(cli, TLS_TX)
            assert plain_skb.cb.eor
            assert _offload(cli).start_seq == plain_range[1]
            data = _data(200)
            await cli.send(data)
            (record,) = _records(cli)
            assert record.start_seq == plain_range[1]
            rf = record.frags[0]
            assert rf.page is plain_page
            assert rf.offset == plain_end  # adjacent in the page
            (skb,) = sk.sk_write_queue
            assert (skb.cb.seq, skb.len) == (record.start_seq, record.len)
            _check_tcp_frags(cli, [record])
            assert sk.snd_nxt == plain_range[1]  # the plaintext went, alone
            cli.setsockopt(SOL_TCP, TCP_CORK, 0)
            assert await srv.recv(len(clear), MSG_WAITALL) == clear
            _tls(srv, TLS_RX)
            assert await _drain(srv, len(data)) == data
        port = cli.getsockname()[1]
        pcap.seek(0)
        payloads = []
        for _, frame in dpkt.pcap.Reader(pcap):
            tcp = dpkt.ip.IP(frame).data
            if tcp.sport == port and tcp.data:
                payloads.append(bytes(tcp.data))
        assert payloads[0] == clear
        assert payloads[1][:5] == bytes([23, 3, 3, 0, 8 + 200 + 16])
        assert len(payloads) == 2
        assert len(payloads[1]) == 200 + OVERHEAD
        cli.close()
        srv.close()


# -- references ----------------------------------------------------------------------------------


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_the_record_holds_its_pages_until_acked(
    allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """Corked: the page's count is the allocator's references + one per record frag + one per
    TCP frag.  Once the peer ACKs, TCP and the record both let go: the allocator's are left."""
    async with netsim.open_host(allocator=allocator) as host:
        cli, srv = await _device_pair(host)
        data = _data(2 * MAX_PAYLOAD + 5000)
        await cli.send(data)
        records = _records(cli)
        assert len(records) == 3
        nc = _task_frag(host)
        heads = {f.page.head for r in records for f in r.frags}
        assert len(heads) == 2
        sk = cli.tcp_sk
        for head in heads:
            held = _allocator_refs(nc, head) + _record_refs(records, head) + _tcp_refs(sk, head)
            assert head.refcount == held
            assert _record_refs(records, head) >= 1
        old = next(h for h in heads if nc.page is not h)
        kept = next(h for h in heads if nc.page is h)
        record_frags = sum(len(r.frags) for r in records)
        tcp_frags = sum(len(skb.frags) for skb in sk.sk_write_queue)
        before = host.stats()
        await _flush(cli, srv, data)
        assert old.freed  # the page the allocator gave up: gone with the last reference
        assert kept.refcount == _allocator_refs(nc, kept)
        # beyond the get/put pairs of sending (the NIC's linear copy of a clone), one put_page
        # per record frag (destroy_record) and one per TCP frag (the skbs freed)
        after = host.stats()
        gets = after["page_get"] - before["page_get"]
        puts = after["page_put"] - before["page_put"]
        assert puts - gets == record_frags + tcp_frags
        cli.close()
        srv.close()


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_page_get_per_frag_or_frag_commit(
    allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """One 16 KiB record: one frag committed from the allocator (the prepend; data and tag
    coalesce without a reference).  ``page_frag`` pays that with a ``get_page``,
    ``page_frag_cache`` from its bias.  Both: one push reference, one ``get_page`` per new
    TCP frag, and the push reference dropped."""
    async with netsim.open_host(allocator=allocator) as host:
        cli, srv = await _device_pair(host)
        await cli.send(b"warm up the task frag")  # the page is allocated before we count
        before = host.stats()
        data = _data(MAX_PAYLOAD)
        await cli.send(data)
        after = host.stats()

        def delta(name: str) -> int:
            return after[name] - before[name]

        assert delta("frag_commit") == 1
        assert delta("frag_commit_noref") == 2
        # sub-page 0 continues the warm-up record's TCP frag; sub-pages 1..4 are new
        assert (delta("skb_coalesce"), delta("skb_new_frag")) == (1, 4)
        assert delta("page_put") == 1  # the push's reference, once TCP has the frag
        assert delta("page_ref_add") == 0
        own = 1 if allocator == "page_frag" else 0
        assert delta("page_get") == own + 1 + 4
        await _flush(cli, srv, b"warm up the task frag" + data)
        cli.close()
        srv.close()


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_records_list_follows_snd_una(
    allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """Over a slow link: at every moment the listed records are exactly those pushed and not
    yet wholly ACKed — contiguous, numbered in order, each still holding its frags; a record
    goes (its references with it) once ``snd_una`` reaches its end.  After the last push the
    list only shrinks, to nothing; the record pages keep only the allocator's reference."""
    async with (
        netsim.open_host(allocator=allocator, name="a") as a,
        netsim.open_host(allocator=allocator, name="b") as b,
    ):
        netsim.link(a, b, mtu=1500, rate=20e6, delay=0.002, tls_offload=True)
        lst = b.socket(AF_INET, SOCK_STREAM)
        await lst.bind(("", 4433))
        lst.listen()
        cli = a.socket(AF_INET, SOCK_STREAM)
        await cli.connect(("10.0.0.2", 4433))
        srv, _ = await lst.accept()
        lst.close()
        _tls(cli, TLS_TX)
        _tls(srv, TLS_RX)
        data = _data(8 * MAX_PAYLOAD + 1234)
        sk = cli.tcp_sk
        seen: dict[int, TlsRecordInfo] = {}
        heads: set[Page] = set()
        sizes: list[int] = []
        partial = 0  # samples with snd_una inside the oldest record
        pushed_all = -1
        got = bytearray()

        async def sample() -> None:
            nonlocal partial
            while True:
                records = _records(cli)
                sizes.append(len(records))
                una = sk.snd_una
                for i, record in enumerate(records):
                    seen.setdefault(record.rec_seq, record)
                    heads.update(f.page.head for f in record.frags)
                    assert record.end_seq > una
                    assert record.frags
                    if i:
                        assert record.start_seq == records[i - 1].end_seq
                        assert record.rec_seq == records[i - 1].rec_seq + 1
                if records and records[0].start_seq < una:
                    partial += 1
                for record in seen.values():
                    if record not in records:
                        assert record.end_seq <= una
                        assert record.frags == []  # destroy_record gave its references back
                await trio.sleep(0.0002)

        async def read() -> None:
            while len(got) < len(data):
                chunk = await srv.recv(65536)
                assert chunk
                got.extend(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sample)
            nursery.start_soon(read)
            await cli.send(data)
            pushed_all = len(sizes)
            while len(got) < len(data) or sk.snd_una != sk.write_seq:  # noqa: ASYNC110
                await trio.sleep(0.001)
            await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        assert bytes(got) == data
        assert _records(cli) == []
        assert sorted(seen) == list(range(9))
        assert [seen[i].len for i in range(9)] == [16413] * 8 + [1234 + OVERHEAD]
        assert max(sizes) >= 3
        assert partial > 0  # seen: a record partly ACKed, still whole in the list
        tail = sizes[pushed_all:]
        assert all(x >= y for x, y in itertools.pairwise(tail))
        assert tail[-1] == 0
        nc = a.task_context().task_frag
        assert nc is not None
        for head in heads:
            assert head.freed or head.refcount == _allocator_refs(nc, head)
        assert a.stats()["tls_records"] == 9
        cli.close()
        srv.close()


@pytest.mark.parametrize("sndbuf", [4096, 20000, 50000])
@pytest.mark.parametrize("allocator", ALLOCATORS)
@STALLED_READER
async def test_a_send_resumed_after_a_partial_push_adds_no_record(
    allocator: str, sndbuf: int, autojump_clock: trio.testing.MockClock
) -> None:
    """A small send buffer: TCP takes only part of a record (``tls_push_sg`` would sleep), and
    the blocking send resumes when ACKs make room.  When that record was the write's last,
    the resumed send only finishes it — no empty record after it (a regression: it made one,
    29 bytes on the wire)."""
    async with netsim.open_host(allocator=allocator) as host:
        host.devices["lo"].features |= NETIF_F_HW_TLS_TX
        cli, srv = await _connect(host)
        cli.setsockopt(netsim.SOL_SOCKET, netsim.SO_SNDBUF, sndbuf)
        _tls(cli, TLS_TX)
        _tls(srv, TLS_RX)
        sizes = [100000, 5000, 16384, 7, 40000]
        data = [_data(n, seed=n) for n in sizes]
        got = bytearray()

        async def read() -> None:
            while chunk := await srv.recv(4096):
                got.extend(chunk)
                await trio.sleep(0.001)  # a slow reader: the sender waits for room

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read)
                for chunk in data:
                    assert await cli.send(chunk) == len(chunk)
                cli.shutdown(netsim.SHUT_WR)
        assert bytes(got) == b"".join(data)
        records = sum(-(-n // MAX_PAYLOAD) for n in sizes)
        stats = host.stats()
        assert stats["tls_records"] == records
        assert stats["tls_rx_records"] == records
        cli.close()
        srv.close()
