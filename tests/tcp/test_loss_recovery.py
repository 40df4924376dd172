"""Loss recovery scenarios a reader can check by hand against Linux 6.18's rules
(net/ipv4/tcp_input.c, tcp_recovery.c, tcp_timer.c): a spurious timeout undone by the
timestamps and by F-RTO, NewReno's fast retransmit without SACK, a lost retransmission found
by RACK, exponential backoff of a head lost again and again.  Each reads the sender's
counters and ``tcp_info``; frames are dropped by the receiving device's ``wire`` hook or
delayed by changing the link's delay, in virtual time, and every test ends with the page
check of ``open_host``."""

from __future__ import annotations

import errno
import itertools
import random
import struct
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import dpkt
import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, SOCK_STREAM
from netsim.dev.link import Link, LinkDevice
from netsim.tcp.options import TCP_INFO_FORMAT, tcp_get_info
from netsim.tcp.sock import TCP_CA_OPEN, TCP_INFINITE_SSTHRESH

#: a delay spike makes the RTO fire spuriously, on purpose
SPURIOUS_RTO = pytest.mark.netsim_capture_allow(
    "tcp.analysis.*",
    "tcp.options.sack.dsack",
    reason="a delay spike makes the RTO fire spuriously on purpose",
)
MSS_PAYLOAD = 1448  # a 1500-byte link with timestamps

Wire = Callable[[bytes], Sequence[bytes]]


def _data_seq(frame: bytes) -> int | None:
    """The sequence number of a data segment from 10.0.0.1, else None."""
    ip = dpkt.ip.IP(frame)
    tcp = ip.data
    if not isinstance(tcp, dpkt.tcp.TCP) or not tcp.data:
        return None
    return int(tcp.seq)


def _drop_copies(nth: int, copies: int) -> Wire:
    """Drop the first ``copies`` transmissions of data segment ``nth`` (0 = the first)."""
    order: list[int] = []
    dropped = 0

    def wire(frame: bytes) -> Sequence[bytes]:
        nonlocal dropped
        seq = _data_seq(frame)
        if seq is None:
            return [frame]
        if seq not in order:
            order.append(seq)
        if order.index(seq) == nth and dropped < copies:
            dropped += 1
            return []
        return [frame]

    return wire


async def _transfer(
    nbytes: int,
    *,
    wire: Wire | None = None,
    a_sysctl: dict[str, int] | None = None,
    b_sysctl: dict[str, int] | None = None,
    spike: tuple[float, float] | None = None,
    warmup: int = 0,
) -> tuple[netsim.tcp.TcpSock, netsim.StatsSnapshot]:
    """``warmup`` bytes then ``nbytes`` from a to b, one MSS per send (TCP_NODELAY), over a
    1 Gbit/s link with 1 ms of delay; ``spike``: (seconds, delay) — the link's delay while
    the ``nbytes`` start out.  Returns a's socket (after b read everything) and a's counters."""
    payload = random.Random(nbytes).randbytes(warmup + nbytes)
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        link = netsim.link(a, b, rate=1e9, delay=0.001)
        for name, value in (a_sysctl or {}).items():
            a.sysctl[name] = value
        for name, value in (b_sysctl or {}).items():
            b.sysctl[name] = value
        eth0 = b.devices["eth0"]
        assert isinstance(eth0, LinkDevice)
        listener = b.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        received = bytearray()

        async def serve() -> None:
            conn, _ = await listener.accept()
            with conn:
                while chunk := await conn.recv(65536):
                    received.extend(chunk)

        async def send(data: memoryview) -> None:
            for i in range(0, len(data), MSS_PAYLOAD):
                view = data[i : i + MSS_PAYLOAD]
                while view:
                    view = view[await client.send(view) :]

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            await client.connect(("10.0.0.2", 5001))
            client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_NODELAY, 1)
            data = memoryview(payload)
            if warmup:
                await send(data[:warmup])
                await trio.sleep(0.1)
            if wire is not None:
                eth0.wire = wire
            if spike is not None:
                link.delay = spike[1]
                nursery.start_soon(send, data[warmup:])
                await trio.sleep(spike[0])
                link.delay = 0.001
            else:
                await send(data[warmup:])
            await trio.sleep(2)
            client.shutdown(netsim.SHUT_WR)
        assert bytes(received) == payload
        await trio.sleep(0.1)  # the ACK of the FIN reaches a
        sk = client.tcp_sk
        assert not sk.tcp_rtx_queue
        assert sk.sacked_out == sk.lost_out == sk.retrans_out == 0
        client.close()
        listener.close()
        return sk, a.stats()


@SPURIOUS_RTO
async def test_a_spurious_timeout_is_undone_by_the_timestamps(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A delay spike (1 ms → 300 ms one way) holds a window of segments longer than the RTO
    (≈ 202 ms), which fires and resends the head (``tcp_enter_loss``: Loss, ``ssthresh``
    halved, ``cwnd`` 1).  The first ACK then acknowledges the *original* head: its timestamp
    echo is older than our first retransmission (``tcp_packet_delayed``), so the timeout was
    spurious and is undone at once (``tcp_try_undo_loss``: ``TCPLossUndo``) — the window and
    ``ssthresh`` come back, nothing else is resent.  (The tail loss probe is switched off
    here, ``tcp_early_retrans = 0``: its probe, sent into the spike, would arrive after data
    sent once the spike is over, and RACK would rightly resend it.)"""
    sk, stats = await _transfer(
        60 * MSS_PAYLOAD,
        spike=(0.25, 0.3),
        warmup=20 * MSS_PAYLOAD,
        a_sysctl={"net.ipv4.tcp_early_retrans": 0},
    )
    assert stats["TcpExtTCPTimeouts"] == 1
    assert stats["TcpRetransSegs"] == 1
    assert stats["TcpExtTCPLossUndo"] == 1
    assert stats["TcpExtTCPSpuriousRTOs"] == 0
    assert sk.ca_state == TCP_CA_OPEN
    assert sk.snd_ssthresh == TCP_INFINITE_SSTHRESH  # restored
    assert sk.snd_cwnd >= 10


@SPURIOUS_RTO
async def test_a_spurious_timeout_is_detected_by_frto(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The same spike without timestamps: nothing tells the first ACK's origin, so F-RTO
    (RFC 5682, ``net.ipv4.tcp_frto = 2``) sends new data instead of resending more (step 2b:
    there must be new data to send — with none, F-RTO gives way to the usual recovery);
    the next ACK acknowledges a segment that was never resent (``FLAG_ORIG_SACK_ACKED``), so
    the timeout was spurious (``TCPSpuriousRTOs``) and is undone (``TCPLossUndo``)."""
    sk, stats = await _transfer(
        60 * MSS_PAYLOAD,
        spike=(0.25, 0.3),
        warmup=20 * MSS_PAYLOAD,
        a_sysctl={"net.ipv4.tcp_timestamps": 0, "net.ipv4.tcp_early_retrans": 0},
    )
    assert not sk.tstamp_ok
    assert stats["TcpExtTCPTimeouts"] == 1
    assert stats["TcpRetransSegs"] == 1
    assert stats["TcpExtTCPSpuriousRTOs"] == 1
    assert stats["TcpExtTCPLossUndo"] == 1
    assert sk.ca_state == TCP_CA_OPEN
    assert sk.snd_ssthresh == TCP_INFINITE_SSTHRESH


async def test_newreno_without_sack_one_fast_retransmit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``net.ipv4.tcp_sack = 0``: segment 2 of 20 lost; each duplicate ACK counts as one
    segment delivered (``tcp_add_reno_sack``); at ``tcp_reordering`` (3) the head is lost
    (``tcp_newreno_mark_lost``), fast recovery begins (``TCPRenoRecovery``) and resends it
    once; no timeout."""
    sk, stats = await _transfer(
        20 * MSS_PAYLOAD, wire=_drop_copies(2, 1), a_sysctl={"net.ipv4.tcp_sack": 0}
    )
    assert not sk.sack_ok
    assert stats["TcpExtTCPRenoRecovery"] == 1
    assert stats["TcpExtTCPSackRecovery"] == 0
    assert stats["TcpRetransSegs"] == 1
    assert stats["TcpExtTCPFastRetrans"] == 1
    assert stats["TcpExtTCPTimeouts"] == 0
    assert sk.ca_state == TCP_CA_OPEN


async def test_a_lost_retransmission_is_found_by_rack(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Segment 2 of 40 lost, and its fast retransmission lost too.  Segments sent after the
    retransmission are SACKed, so RACK (which compares send times, not sequence numbers)
    proves the retransmission lost as well (``TCPLostRetransmit``) and resends it again —
    still one recovery, no timeout."""
    sk, stats = await _transfer(40 * MSS_PAYLOAD, wire=_drop_copies(2, 2))
    assert stats["TcpExtTCPSackRecovery"] == 1
    assert stats["TcpExtTCPLostRetransmit"] == 1
    assert stats["TcpRetransSegs"] == 2
    assert stats["TcpExtTCPTimeouts"] == 0
    assert sk.ca_state == TCP_CA_OPEN


async def test_a_head_lost_again_and_again_backs_off(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The last segment of a flight lost four times — the original, the tail loss probe's
    copy (``TCPLossProbes``) and the resends of the first two timeouts — so the third
    timeout's copy is the one that arrives.  The RTO runs from the probe; each timeout
    doubles it (``icsk_backoff``); the ACK's RTT sample ends the backoff (RFC 6298)."""
    times: list[float] = []
    inner = _drop_copies(9, 4)

    def wire(frame: bytes) -> Sequence[bytes]:
        if _data_seq(frame) is not None:
            times.append(trio.current_time())
        return inner(frame)

    sk, stats = await _transfer(10 * MSS_PAYLOAD, wire=wire)
    assert stats["TcpExtTCPLossProbes"] == 1
    assert stats["TcpExtTCPTimeouts"] == 3
    assert stats["TcpRetransSegs"] == 4
    probe, rto1, rto2, rto3 = times[-4:]
    assert rto1 - probe >= 0.2  # the RTO (at least tcp_rto_min) after the probe
    assert abs((rto2 - rto1) - 2 * (rto1 - probe)) < 0.005
    assert abs((rto3 - rto2) - 2 * (rto2 - rto1)) < 0.005
    assert sk.backoff == 0
    # tcp_info: three timeouts, one recovery they began; four copies resent
    info = struct.unpack(TCP_INFO_FORMAT, tcp_get_info(sk))
    assert (info[56], info[57]) == (3, 1)  # tcpi_total_rto, tcpi_total_rto_recoveries
    assert info[49] == 4 * MSS_PAYLOAD  # tcpi_bytes_retrans
    assert sk.info()["total_rto"] == 3


async def test_the_rto_ceiling_is_tcp_rto_max_ms(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``net.ipv4.tcp_rto_max_ms = 1000``: the doubling stops at one second."""
    times: list[float] = []
    inner = _drop_copies(9, 7)

    def wire(frame: bytes) -> Sequence[bytes]:
        if _data_seq(frame) is not None:
            times.append(trio.current_time())
        return inner(frame)

    sk, stats = await _transfer(
        10 * MSS_PAYLOAD, wire=wire, a_sysctl={"net.ipv4.tcp_rto_max_ms": 1000}
    )
    assert sk.rto_max == 1.0
    assert stats["TcpExtTCPTimeouts"] == 6
    last = times[-7:]
    gaps = [round(later - earlier, 3) for earlier, later in itertools.pairwise(last)]
    assert gaps[-1] == gaps[-2] == 1.0  # doubling from the RTO, then the ceiling
    assert max(gaps) == 1.0


async def test_tcp_rto_max_ms_socket_option() -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_STREAM)
        assert sock.getsockopt(netsim.IPPROTO_TCP, netsim.TCP_RTO_MAX_MS) == 120_000
        for bad in (999, 120_001, -1):
            with pytest.raises(OSError, match="TCP_RTO_MAX_MS") as info:
                sock.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_RTO_MAX_MS, bad)
            assert info.value.errno == errno.EINVAL
        sock.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_RTO_MAX_MS, 5000)
        assert sock.getsockopt(netsim.IPPROTO_TCP, netsim.TCP_RTO_MAX_MS) == 5000
        assert sock.tcp_sk.rto_max == 5.0
        sock.close()


async def _drain(sock: netsim.Socket, n: int) -> None:
    got = 0
    while got < n:
        got += len(await sock.recv(65536))


async def test_an_idle_sender_restarts_its_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``net.ipv4.tcp_slow_start_after_idle = 1`` (RFC 2861): after more than an RTO with
    nothing sent, the next write finds the window halved for every RTO of idleness, down to
    the initial 10 (``tcp_cwnd_restart``), with ``ssthresh`` at least three quarters of what
    the window was; with the sysctl 0 the window survives the pause."""
    for enabled in (1, 0):
        async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
            netsim.link(a, b, rate=1e9, delay=0.001)
            a.sysctl["net.ipv4.tcp_slow_start_after_idle"] = enabled
            listener = b.socket(AF_INET, SOCK_STREAM)
            await listener.bind(("", 5001))
            listener.listen(1)
            client = a.socket(AF_INET, SOCK_STREAM)
            await client.connect(("10.0.0.2", 5001))
            server, _ = await listener.accept()
            sk = client.tcp_sk
            payload = bytes(400_000)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(_drain, server, len(payload))
                view = memoryview(payload)
                while view:
                    view = view[await client.send(view) :]
            await trio.sleep(0.05)
            grown, ssthresh = sk.snd_cwnd, sk.snd_ssthresh
            assert grown > 40
            assert sk.packets_out == 0
            await trio.sleep(1.0)  # five RTOs (≈ 0.2 s each) of silence
            rto_ms = int(sk.rto * 1000)
            await client.send(b"x")
            if enabled:
                expected = grown
                idle = 1050 - rto_ms
                while idle > 0 and expected > 10:
                    expected >>= 1
                    idle -= rto_ms
                assert sk.snd_cwnd == max(expected, 10)
                # tcp_current_ssthresh(): at least three quarters of the old window (here it
                # stays infinite: slow start never ended)
                assert sk.snd_ssthresh == max(ssthresh, (grown >> 1) + (grown >> 2))
            else:
                assert sk.snd_cwnd == grown
            await _drain(server, 1)
            for sock in (client, server, listener):
                sock.close()


async def test_a_partial_ack_trims_the_head_skb_and_releases_its_first_page(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Eight segments written at once with order-0 pages (``page_frag``,
    ``net.core.high_order_alloc_disable = 1``): the retransmit queue holds two skbs, the
    first with a whole page and most of a second.  Segments 4..7 are lost, so the ACK covers
    four — 5792 bytes — and ``tcp_clean_rtx_queue`` trims the head skb (``tcp_trim_head``):
    the frag of the first page goes (its last reference: the page is freed), the frag on the
    second page starts 1696 bytes further in, and the page references are exactly the
    holders that are left."""
    async with (
        netsim.open_host("page_frag", name="a") as a,
        netsim.open_host(name="b", seed=1) as b,
    ):
        a.sysctl["net.core.high_order_alloc_disable"] = 1
        netsim.link(a, b, rate=1e9, delay=0.001)
        listener = b.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        await client.connect(("10.0.0.2", 5001))
        server, _ = await listener.accept()
        eth0 = b.devices["eth0"]
        assert isinstance(eth0, LinkDevice)
        eth0.wire = _drop_first_copies(range(4, 8))
        sk = client.tcp_sk
        await client.send(bytes(8 * MSS_PAYLOAD))
        head, second = sk.tcp_rtx_queue
        assert (head.len, second.len) == (7240, 4344)
        (p0, off0, len0), (p1, off1, len1) = [(f.page, f.offset, f.len) for f in head.shinfo.frags]
        assert (off0, len0, off1, len1) == (0, 4096, 0, 3144)
        p2 = second.shinfo.frags[1].page
        freed_before = a.stats()["page_free"]

        await trio.sleep(0.0035)  # the ACK of segments 0..3 is back; no probe yet
        assert sk.snd_una - sk.iss - 1 == 4 * MSS_PAYLOAD
        assert sk.tcp_rtx_queue[0] is head
        assert head.len == 7240 - 4 * MSS_PAYLOAD == 1448
        assert [(f.page, f.offset, f.len) for f in head.shinfo.frags] == [(p1, 1696, 1448)]
        assert a.stats()["page_free"] == freed_before + 1  # p0: its last holder let go
        assert p0.refcount == 0
        # p1: the head skb and the second skb; p2: the second skb and page_frag's own
        assert (p1.refcount, p2.refcount) == (2, 2)
        assert a.stats()["TcpRetransSegs"] == 0

        got = bytearray()
        while len(got) < 8 * MSS_PAYLOAD:
            got += await server.recv(65536)
        assert got == bytes(8 * MSS_PAYLOAD)
        for sock in (client, server, listener):
            sock.close()


def _drop_first_copies(indices: range) -> Wire:
    """Drop the first transmission of the data segments at these positions (0 = first)."""
    order: list[int] = []
    copies: dict[int, int] = {}

    def wire(frame: bytes) -> Sequence[bytes]:
        seq = _data_seq(frame)
        if seq is None:
            return [frame]
        if seq not in copies:
            order.append(seq)
        copies[seq] = copies.get(seq, 0) + 1
        if order.index(seq) in indices and copies[seq] == 1:
            return []
        return [frame]

    return wire


async def test_out_of_order_segments_coalesce_into_one_skb(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Segment 1 of 10 lost: the eight behind it reach the receiver's out-of-order queue one
    after another and each joins the one before (``tcp_data_queue_ofo`` →
    ``tcp_ooo_try_coalesce``: frags moved, ``TCPRcvCoalesce``), so the queue holds one skb of
    eight segments (``gso_segs``) and one SACK block — and a copy of one of them, arriving
    again, is dropped and D-SACKed (``TCPOFOMerge``)."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, rate=1e9, delay=0.001)
        listener = b.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        await client.connect(("10.0.0.2", 5001))
        server, _ = await listener.accept()
        eth0 = b.devices["eth0"]
        assert isinstance(eth0, LinkDevice)
        inner = _drop_first_copies(range(1, 2))
        seen: list[bytes] = []

        def wire(frame: bytes) -> Sequence[bytes]:
            out = inner(frame)
            if _data_seq(frame) is not None:
                seen.append(frame)
                if len(seen) == 6:  # deliver segment 5 a second time
                    return [*out, frame]
            return out

        eth0.wire = wire
        coalesce_before = b.stats()["TcpExtTCPRcvCoalesce"]
        await client.send(bytes(10 * MSS_PAYLOAD))
        await trio.sleep(0.0015)  # all arrived; the hole not yet repaired
        sk = server.tcp_sk
        (held,) = sk.out_of_order_queue
        assert held.len == 8 * MSS_PAYLOAD
        assert held.shinfo.gso_segs == 8
        assert held.cb.seq - sk.irs - 1 == 2 * MSS_PAYLOAD
        assert sk.selective_acks == [(held.cb.seq, held.cb.end_seq)]
        stats = b.stats()
        assert stats["TcpExtTCPRcvCoalesce"] - coalesce_before == 7
        assert stats["TcpExtTCPOFOMerge"] == 1
        assert sk.rcv_ooopack == 9  # tcpi_rcv_ooopack: eight, and the duplicate
        got = bytearray()
        while len(got) < 10 * MSS_PAYLOAD:
            got += await server.recv(65536)
        assert got == bytes(10 * MSS_PAYLOAD)
        for sock in (client, server, listener):
            sock.close()


async def _recv_error(sock: netsim.Socket) -> OSError:
    """Read until the socket fails; the error."""
    try:
        while await sock.recv(100):
            pass
    except OSError as exc:
        return exc
    raise AssertionError("EOF, not an error")


def _retrans_stamp_time(sk: netsim.tcp.TcpSock) -> float:
    """When the first resend of the episode left (``retrans_stamp``, in the connection's
    timestamp clock), as trio time."""
    return ((sk.retrans_stamp - sk.ts_offset) & 0xFFFFFFFF) / 1000


async def _dead_link_pair(
    user_timeout_ms: int = 0,
) -> AsyncIterator[tuple[netsim.Host, netsim.Socket, netsim.Socket, Link]]:
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        link = netsim.link(a, b, rate=1e9, delay=0.001)
        listener = b.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        await client.connect(("10.0.0.2", 5001))
        server, _ = await listener.accept()
        listener.close()
        if user_timeout_ms:
            client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_USER_TIMEOUT, user_timeout_ms)
        link.dev_a.up = False  # from now on nothing a sends arrives
        yield a, client, server, link
        server.close()


async def test_a_dead_peer_times_out_after_tcp_retries2_worth_of_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``tcp_write_timeout``: with ``tcp_retries2 = 15`` an established connection gives up
    once its retransmissions have lasted as long as 15 would from the minimum RTO doubling
    to the 120 s ceiling — 924.6 s (``tcp_model_timeout``) — counted from the first
    timeout's resend (``retrans_stamp``); the user sees ``ETIMEDOUT``."""
    async with asynccontextmanager(_dead_link_pair)() as (a, client, _server, _link):
        sk = client.tcp_sk
        await client.send(b"x" * 1000)
        error = await _recv_error(client)
        assert error.errno == errno.ETIMEDOUT
        first = _retrans_stamp_time(sk)
        elapsed = trio.current_time() - first
        assert 924.6 <= elapsed < 924.6 + 120.1
        assert a.stats()["TcpExtTCPTimeouts"] == sk.total_rto + 1  # the last one gave up
        client.close()


async def test_tcp_user_timeout_gives_up_on_time(autojump_clock: trio.testing.MockClock) -> None:
    """``TCP_USER_TIMEOUT`` = 5000 ms: the connection gives up 5 s after the first resend, the
    last RTO cut short to end there (``tcp_clamp_rto_to_user_timeout``)."""
    async with asynccontextmanager(_dead_link_pair)(5000) as (_a, client, _server, _link):
        sk = client.tcp_sk
        await client.send(b"x" * 1000)
        error = await _recv_error(client)
        assert error.errno == errno.ETIMEDOUT
        first = _retrans_stamp_time(sk)
        assert 5.0 <= trio.current_time() - first <= 5.002
        client.close()


async def test_an_orphan_gives_up_after_tcp_orphan_retries(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Closed with data unacknowledged, the socket lives on as an orphan, and gives up after
    ``tcp_orphan_retries`` (0: 8 while it still sends) worth of time — 102.2 s from the
    minimum RTO — not ``tcp_retries2``'s 924.6 s."""
    async with asynccontextmanager(_dead_link_pair)() as (a, client, _server, _link):
        await client.send(b"x" * 1000)
        await trio.sleep(0.5)
        sk = client.tcp_sk
        assert sk.retrans_stamp
        first_retrans = trio.current_time() - 0.5  # within the first half second
        client.close()
        for _ in range(400):
            await trio.sleep(1)
            if not a.net.tcp_ehash:
                break
        gone_after = trio.current_time() - first_retrans
        assert not a.net.tcp_ehash
        assert 102.2 <= gone_after < 102.2 + 60


async def test_a_receiver_that_reneges_on_its_sacks_is_caught_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Segment 2 of 40 lost; the receiver holds and SACKs the rest, and its reader shrinks
    ``SO_RCVBUF`` just before the retransmission arrives, which therefore finds no room:
    ``tcp_prune_ofo_queue`` throws the SACKed out-of-order data away (``OfoPruned``) and
    forgets the SACK blocks.  The ACK of the retransmission then reaches a segment the sender
    holds as SACKed — reneging (``FLAG_SACK_RENEGING``): ``tcp_check_sack_reneging`` sets the
    retransmit timer to half an RTT (at least 10 ms), and at the timeout
    ``tcp_timeout_mark_lost`` forgets every SACK mark and resends everything
    (``TCPSACKReneging``).  Without it each SACKed segment waited for an RTO of its own —
    with the backoff of retransmissions only, 11 s for these 40 segments, and without
    timestamps (no RTT sample ends the backoff) 120 s per segment."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, rate=1e9, delay=0.001)
        a.sysctl["net.ipv4.tcp_timestamps"] = 0
        listener = b.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        await client.connect(("10.0.0.2", 5001))
        client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_NODELAY, 1)
        server, _ = await listener.accept()
        eth0 = b.devices["eth0"]
        assert isinstance(eth0, LinkDevice)
        inner = _drop_first_copies(range(2, 3))
        order: list[int] = []

        def wire(frame: bytes) -> Sequence[bytes]:
            seq = _data_seq(frame)
            if seq is not None:
                if seq in order and order.index(seq) == 2:  # the retransmission
                    server.setsockopt(netsim.SOL_SOCKET, netsim.SO_RCVBUF, 1)
                elif seq not in order:
                    order.append(seq)
            return inner(frame)

        eth0.wire = wire
        payload = random.Random(40).randbytes(40 * MSS_PAYLOAD)
        start = trio.current_time()
        for i in range(0, len(payload), MSS_PAYLOAD):
            view = memoryview(payload)[i : i + MSS_PAYLOAD]
            while view:
                view = view[await client.send(view) :]
        await trio.sleep(0.5)  # the reader waits
        got = bytearray()
        while len(got) < len(payload):
            got += await server.recv(65536)
        assert got == payload
        assert trio.current_time() - start < 3
        stats = b.stats()
        assert stats["TcpExtOfoPruned"] >= 1
        assert a.stats()["TcpExtTCPSACKReneging"] == 1
        for sock in (client, server, listener):
            sock.close()


async def test_a_loss_probe_timer_with_a_probe_outstanding_keeps_the_heads_rto(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """No ACK comes back.  Two segments go out at t0; the tail loss probe resends the second
    (``tlp_high_seq`` set) and the RTO is armed afresh from the probe.  New data sent after
    it schedules another probe (``tcp_write_xmit`` → ``tcp_schedule_loss_probe``); when that
    timer fires, a probe is still outstanding, so ``tcp_send_loss_probe`` only re-arms the
    RTO — and as ``tcp_write_timer_handler`` leaves ``icsk_pending`` at
    ``ICSK_TIME_LOSS_PROBE`` for it, ``tcp_rearm_rto`` arms it for what remains of the
    head's RTO (``tcp_rto_delta_us``: the head left at t0), not a whole RTO from now."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, rate=1e9, delay=0.01)
        listener = b.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        await client.connect(("10.0.0.2", 5001))
        client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_NODELAY, 1)
        server, _ = await listener.accept()
        for _ in range(10):  # an RTT estimate: srtt ≈ 20 ms, RTO at tcp_rto_min
            await client.send(bytes(MSS_PAYLOAD))
            await trio.sleep(0.05)
        sk = client.tcp_sk
        rto = sk.rto
        a_eth0 = a.devices["eth0"]
        assert isinstance(a_eth0, LinkDevice)
        a_eth0.wire = lambda frame: []  # every ACK lost from here on
        t0 = trio.current_time()
        await client.send(bytes(2 * MSS_PAYLOAD))
        await trio.sleep(0.06)
        assert a.stats()["TcpExtTCPLossProbes"] == 1
        assert sk.tlp_high_seq
        await client.send(bytes(MSS_PAYLOAD))  # new data: another probe is scheduled
        await trio.sleep(0.06)  # ... and its timer has fired, with the first outstanding
        assert a.stats()["TcpExtTCPLossProbes"] == 1
        assert a.stats()["TcpExtTCPTimeouts"] == 0
        assert sk.rto_deadline == pytest.approx(t0 + rto, abs=1e-3)
        await trio.sleep(t0 + rto + 0.001 - trio.current_time())
        assert a.stats()["TcpExtTCPTimeouts"] == 1
        a_eth0.wire = None
        got = 0
        while got < 13 * MSS_PAYLOAD:
            got += len(await server.recv(65536))
        for sock in (client, server, listener):
            sock.close()
