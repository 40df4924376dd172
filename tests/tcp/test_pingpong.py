"""Interactive ("pingpong") mode and the delayed ACK around it, as Linux 6.18 has them.

``tcp_event_data_sent`` (net/ipv4/tcp_output.c) counts a request/response turn when data
leaves less than ``ato`` after data arrived (``icsk_ack.lrcvtime``); at
``net.ipv4.tcp_pingpong_thresh`` turns (1) the connection is interactive
(``inet_csk_in_pingpong_mode``) and ``__tcp_ack_snd_check`` (net/ipv4/tcp_input.c) no longer
ACKs at once in quick-ACK mode: the ACK waits for the response to carry it.  ``tcp_fin``
schedules the ACK of a FIN and enters pingpong mode, so that ACK is delayed too.  When the
delayed-ACK timer fires in pingpong mode (``tcp_delack_timer_handler``, net/ipv4/tcp_timer.c)
the connection leaves it.  ``tcp_send_delayed_ack`` keeps ``ato`` (40 ms): pingpong mode only
raises the cap.

Every expected sequence below was seen on a Linux 6.18 host (two sockets over loopback in a
network namespace, captured with tshark), with the same pattern of writes and pauses; the
times there were 40-46 ms where netsim says 40 ms (``HZ`` = 250 jiffies and timer slack).
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable

import dpkt
import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, AF_INET6, SHUT_WR, SOCK_STREAM
from netsim.sock.constants import IPPROTO_TCP, TCP_QUICKACK
from netsim.tcp import TcpSock

LOCAL = {AF_INET: "127.0.0.1", AF_INET6: "::1"}
FAMILIES = pytest.mark.parametrize("family", [AF_INET, AF_INET6], ids=["ipv4", "ipv6"])

Seg = tuple[float, str, str, int]  # (time from the first segment, "c" or "s", flags, length)


def _flags(tcp: dpkt.tcp.TCP) -> str:
    names = ((dpkt.tcp.TH_SYN, "S"), (dpkt.tcp.TH_PUSH, "P"), (dpkt.tcp.TH_FIN, "F"))
    out = "".join(name for bit, name in names if tcp.flags & bit)
    return out + ("A" if tcp.flags & dpkt.tcp.TH_ACK else "")


def _segments(capture: io.BytesIO, family: int, client_port: int) -> list[Seg]:
    capture.seek(0)
    out: list[Seg] = []
    t0 = None
    for ts, raw in dpkt.pcap.Reader(capture):
        ip = dpkt.ip.IP(raw) if family == AF_INET else dpkt.ip6.IP6(raw)
        tcp = ip.data
        assert isinstance(tcp, dpkt.tcp.TCP)
        if t0 is None:
            t0 = float(ts)
        who = "c" if tcp.sport == client_port else "s"
        out.append((round(float(ts) - t0, 4), who, _flags(tcp), len(tcp.data)))
    return out


async def _exchange(
    family: int,
    client_side: Callable[[netsim.Socket], Awaitable[None]],
    server_side: Callable[[netsim.Socket], Awaitable[None]],
    setup: Callable[[netsim.Host], None] | None = None,
) -> tuple[list[Seg], dict[str, int]]:
    """Connect on loopback, run both sides at once, and return the capture (from the
    handshake on) and the host's counters."""
    async with netsim.open_host() as host:
        if setup is not None:
            setup(host)
        capture = io.BytesIO()
        with host.capture(capture):
            listener = host.socket(family, SOCK_STREAM)
            await listener.bind((LOCAL[family], 0))
            listener.listen(1)
            client = host.socket(family, SOCK_STREAM)
            await client.connect(listener.getsockname())
            server, _ = await listener.accept()
            listener.close()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(server_side, server)
                nursery.start_soon(client_side, client)
            port = client.getsockname()[1]
            client.close()
            server.close()
            await trio.sleep(0.5)
        return _segments(capture, family, port), dict(host.stats())


async def _recv_n(sock: netsim.Socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = await sock.recv(n - len(got))
        assert chunk
        got += chunk
    return got


def _pure_acks(segments: list[Seg], who: str) -> list[float]:
    return [t for t, w, flags, length in segments if w == who and flags == "A" and not length]


# -- entering pingpong mode ------------------------------------------------------------------


@FAMILIES
async def test_request_response_turns_interactive_after_one_round(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Four requests of 10 B, each answered with 20 B 5 ms later, 100 ms apart.  In the first
    round the server is not interactive yet: quick-ACK mode ACKs the request at once, then
    the response follows.  That response left 5 ms after the request, within ``ato``
    (40 ms): one turn, ``tcp_pingpong_thresh`` reached, and from then on the server's ACK
    rides on its response.  The client answers nothing within ``ato`` (it waits 100 ms), so
    it stays in quick-ACK mode and ACKs every response at once."""
    quickack: list[int] = []

    async def server_side(server: netsim.Socket) -> None:
        for _ in range(4):
            await _recv_n(server, 10)
            await trio.sleep(0.005)
            await server.send(b"R" * 20)
            quickack.append(server.getsockopt(IPPROTO_TCP, TCP_QUICKACK))

    async def client_side(client: netsim.Socket) -> None:
        for _ in range(4):
            await client.send(b"Q" * 10)
            await _recv_n(client, 20)
            await trio.sleep(0.1)

    segments, stats = await _exchange(family, client_side, server_side)
    assert quickack == [0, 0, 0, 0]  # TCP_QUICKACK reads "not in pingpong mode"
    data = [(w, flags, length) for _t, w, flags, length in segments[3:11]]
    assert data == [
        ("c", "PA", 10),
        ("s", "A", 0),  # round 1: quick-ACK mode, not interactive yet
        ("s", "PA", 20),
        ("c", "A", 0),
        ("c", "PA", 10),
        ("s", "PA", 20),  # round 2 on: the response carries the ACK
        ("c", "A", 0),
        ("c", "PA", 10),
    ]
    assert len(_pure_acks(segments[3:14], "s")) == 1
    # no delayed ACK at all: each ACK left at once or rode on data (the FINs at the end
    # cross: the server's carries the ACK of the client's)
    assert stats["TcpExtDelayedACKs"] == 0


async def test_pingpong_thresh_counts_turns(autojump_clock: trio.testing.MockClock) -> None:
    """With ``net.ipv4.tcp_pingpong_thresh`` = 3 the server needs three turns: it ACKs the
    first three requests at once and piggybacks only from the fourth."""

    async def server_side(server: netsim.Socket) -> None:
        for _ in range(5):
            await _recv_n(server, 10)
            await trio.sleep(0.005)
            await server.send(b"R" * 20)

    async def client_side(client: netsim.Socket) -> None:
        for _ in range(5):
            await client.send(b"Q" * 10)
            await _recv_n(client, 20)
            await trio.sleep(0.1)

    def setup(host: netsim.Host) -> None:
        host.sysctl["net.ipv4.tcp_pingpong_thresh"] = 3

    segments, _stats = await _exchange(AF_INET, client_side, server_side, setup)
    requests = [t for t, w, flags, length in segments if w == "c" and length == 10]
    acks = _pure_acks(segments, "s")
    assert len(requests) == 5
    assert acks[:3] == requests[:3]  # at once, for the first three
    assert not set(acks) & set(requests[3:])


# -- the ACK of a FIN ------------------------------------------------------------------------


@FAMILIES
async def test_the_ack_of_a_fin_is_delayed(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``tcp_fin`` schedules the ACK and enters pingpong mode: after data (``ato`` 40 ms)
    the ACK of the client's FIN leaves 40 ms later, as a delayed ACK."""

    async def server_side(server: netsim.Socket) -> None:
        assert await _recv_n(server, 5) == b"hello"
        assert await server.recv(10) == b""
        await trio.sleep(0.5)

    async def client_side(client: netsim.Socket) -> None:
        await trio.sleep(0.1)
        await client.send(b"hello")
        await trio.sleep(0.1)
        client.shutdown(SHUT_WR)
        await trio.sleep(0.6)

    segments, stats = await _exchange(family, client_side, server_side)
    fin = next(t for t, w, flags, _n in segments if w == "c" and "F" in flags)
    after = [(round(t - fin, 4), w, flags) for t, w, flags, _n in segments if t > fin]
    assert after[0] == (0.04, "s", "A")
    assert stats["TcpExtDelayedACKs"] >= 1


async def test_the_ack_of_a_fin_before_any_data_leaves_at_the_next_timer_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """No data came before the FIN: ``ato`` is still 0, so the delayed ACK's timer is due at
    once (Linux: the next jiffy; the 6.18 host answered 4 ms later at ``HZ`` = 250) — still
    a separate, delayed ACK."""

    async def server_side(server: netsim.Socket) -> None:
        assert await server.recv(10) == b""
        await trio.sleep(0.5)

    async def client_side(client: netsim.Socket) -> None:
        await trio.sleep(0.1)
        client.shutdown(SHUT_WR)
        await trio.sleep(0.6)

    segments, stats = await _exchange(AF_INET, client_side, server_side)
    i = next(i for i, (_t, w, flags, _n) in enumerate(segments) if w == "c" and "F" in flags)
    assert segments[i + 1][1:] == ("s", "A", 0)
    assert segments[i + 1][0] == segments[i][0]
    assert stats["TcpExtDelayedACKs"] >= 1


@FAMILIES
async def test_our_fin_carries_the_ack_of_theirs(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """The server closes 10 ms after the client's FIN, within ``ato``: its FIN carries the
    ACK, and no pure ACK of the FIN goes out."""

    async def server_side(server: netsim.Socket) -> None:
        assert await _recv_n(server, 5) == b"hello"
        assert await server.recv(10) == b""
        await trio.sleep(0.01)
        server.close()

    async def client_side(client: netsim.Socket) -> None:
        await trio.sleep(0.1)
        await client.send(b"hello")
        await trio.sleep(0.1)
        client.shutdown(SHUT_WR)
        await trio.sleep(0.3)

    segments, _stats = await _exchange(family, client_side, server_side)
    i = next(i for i, (_t, w, flags, _n) in enumerate(segments) if w == "c" and "F" in flags)
    (t_fin, *_), (t_reply, w, flags, _n), (_, w2, flags2, _n2) = segments[i : i + 3]
    assert (w, flags, round(t_reply - t_fin, 4)) == ("s", "FA", 0.01)
    assert (w2, flags2) == ("c", "A")


# -- the delayed-ACK timer in pingpong mode --------------------------------------------------


async def test_a_missed_delayed_ack_leaves_pingpong_mode(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Interactive after the first round; then a request the server answers only 500 ms
    later: the ACK leaves after ``ato`` — 40 ms, not 200 (``tcp_send_delayed_ack`` keeps
    ``ato``; pingpong mode only raises its cap) — and the timer, firing in pingpong mode,
    ends it (``tcp_delack_timer_handler``): the next request is ACKed at once again."""
    quickack: list[int] = []

    async def server_side(server: netsim.Socket) -> None:
        for _ in range(3):
            await _recv_n(server, 10)
            await trio.sleep(0.002)
            await server.send(b"R" * 20)
        for _ in range(2):
            await _recv_n(server, 10)
            await trio.sleep(0.5)
            quickack.append(server.getsockopt(IPPROTO_TCP, TCP_QUICKACK))
            await server.send(b"R" * 20)

    async def client_side(client: netsim.Socket) -> None:
        for _ in range(5):
            await client.send(b"Q" * 10)
            await _recv_n(client, 20)
            await trio.sleep(0.05)

    segments, stats = await _exchange(AF_INET, client_side, server_side)
    requests = [t for t, w, _flags, length in segments if w == "c" and length == 10]
    acks = _pure_acks(segments, "s")
    assert acks[0] == requests[0]  # round 1: quick-ACK mode
    assert round(acks[1] - requests[3], 4) == 0.04  # round 4: the delayed ACK, 40 ms
    assert acks[2] == requests[4]  # round 5: out of pingpong mode, ACKed at once
    assert quickack == [1, 1]
    assert stats["TcpExtDelayedACKs"] == 1


async def test_tcp_quickack_leaves_and_enters_pingpong_mode(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``TCP_QUICKACK`` 0 enters pingpong mode (reads back 0): a request is not ACKed at
    once, nor when the reader drains it (``tcp_cleanup_rbuf`` does not ACK a drained push in
    pingpong mode).  1 leaves it (reads back 1) and, as an ACK is owed, sends it now
    (``__tcp_sock_set_quickack`` through ``tcp_cleanup_rbuf``)."""
    async with netsim.open_host() as host:
        listener = host.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = host.socket(AF_INET, SOCK_STREAM)
        await client.connect(listener.getsockname())
        server, _ = await listener.accept()
        assert server.getsockopt(IPPROTO_TCP, TCP_QUICKACK) == 1
        server.setsockopt(IPPROTO_TCP, TCP_QUICKACK, 0)
        assert server.getsockopt(IPPROTO_TCP, TCP_QUICKACK) == 0
        before = host.stats()["TcpOutSegs"]
        await client.send(b"Q" * 10)  # the server holds its ACK back: interactive
        assert host.stats()["TcpOutSegs"] == before + 1
        assert await server.recv(100) == b"Q" * 10
        assert host.stats()["TcpOutSegs"] == before + 1
        server.setsockopt(IPPROTO_TCP, TCP_QUICKACK, 1)  # the owed ACK goes now
        assert host.stats()["TcpOutSegs"] == before + 2
        assert server.getsockopt(IPPROTO_TCP, TCP_QUICKACK) == 1
        sk = client.sk
        assert isinstance(sk, TcpSock)
        assert not sk.tcp_rtx_queue
        for sock in (client, server, listener):
            sock.close()


# -- Nagle and the delayed ACK ---------------------------------------------------------------


async def test_write_write_read_stalls_once_the_peer_is_interactive(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The classic stall: the client writes 100 B twice, then reads the 50 B answer.  In the
    first round the server ACKs the first write at once (quick-ACK mode) and Nagle lets the
    second go.  The server's answer makes it interactive; from the second round on, the
    first write's ACK is delayed 40 ms and Nagle holds the second write until it comes."""
    rounds: list[float] = []

    async def server_side(server: netsim.Socket) -> None:
        for _ in range(3):
            await _recv_n(server, 200)
            await server.send(b"R" * 50)

    async def client_side(client: netsim.Socket) -> None:
        for _ in range(3):
            start = trio.current_time()
            await client.send(b"a" * 100)
            await client.send(b"b" * 100)
            await _recv_n(client, 50)
            rounds.append(round(trio.current_time() - start, 4))
            await trio.sleep(0.1)

    _segments, stats = await _exchange(AF_INET, client_side, server_side)
    assert rounds == [0.0, 0.04, 0.04]
    assert stats["TcpExtDelayedACKs"] >= 2
