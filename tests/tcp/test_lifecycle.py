"""The life of a TCP connection, end to end, as Linux lives it: the handshake and the options
it negotiates (net/ipv4/tcp_output.c ``tcp_syn_options``/``tcp_synack_options``,
``tcp_select_initial_window``), a refused connect and the socket it leaves
(net/ipv4/af_inet.c ``__inet_stream_connect`` → ``tcp_disconnect``), the accept queue and its
backlog (``tcp_conn_request``, ``inet_csk_accept``), half-close and the close states
(``tcp_shutdown``, ``tcp_fin``, ``tcp_rcv_state_process``), TIME_WAIT and its expiry
(``tcp_time_wait``), ``tcp_info``, and a retransmission timeout (``tcp_retransmit_timer``).

Everything runs on trio's virtual clock; packets are read back from pcap captures with dpkt.
The expected values (option layout, MSS, initial windows, window scale, errnos) were checked
against a real Linux 6.18 kernel.  Errors and resets are in ``test_errors.py``.
"""

from __future__ import annotations

import errno
import io
import random
import socket
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any

import dpkt
import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, AF_INET6, SHUT_WR, SOCK_STREAM
from netsim.dev.link import Link, LinkDevice
from netsim.sock.sock import (
    TCP_CLOSE,
    TCP_ESTABLISHED,
    TCP_FIN_WAIT2,
    TCP_SYN_SENT,
    TCP_TIME_WAIT,
)
from netsim.tcp import STATE_NAMES, TcpSock
from netsim.testing.allow import REUSED_PORTS

FAMILIES = pytest.mark.parametrize("family", [AF_INET, AF_INET6], ids=["ipv4", "ipv6"])
ALLOCATORS = pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])

LOCAL = {AF_INET: "127.0.0.1", AF_INET6: "::1"}
ANY = {AF_INET: "0.0.0.0", AF_INET6: "::"}
#: the far end of ``netsim.link()``'s default addresses (host ``b``)
B_ADDR = {AF_INET: "10.0.0.2", AF_INET6: "fd00::2"}

# TCP option kinds (RFC 9293, 7323, 2018)
NOP, MSS, WSCALE, SACK_PERM, TIMESTAMP = 1, 2, 3, 4, 8
#: Linux's SYN option layout (tcp_options_write): MSS, SACK-permitted folded in front of the
#: timestamps, then NOP + window scale
SYN_LAYOUT = [MSS, SACK_PERM, TIMESTAMP, NOP, WSCALE]
#: MSS on loopback: IPv4 65535 - 40 (``ipv4_default_advmss`` caps at ``IPV4_MAX_PMTU``), IPv6
#: 65536 - 60 (``ip6_default_advmss``)
LO_MSS = {AF_INET: 65495, AF_INET6: 65476}
#: MSS on a 1500-byte link
LINK_MSS = {AF_INET: 1460, AF_INET6: 1440}
#: ``ilog2(tcp_rmem[2] = 32 MiB) - 15``: the window scale of Linux 6.18's defaults
WSCALE_DEFAULT = 10
#: ``TCP_INFINITE_SSTHRESH``
INFINITE_SSTHRESH = 0x7FFFFFFF


# -- helpers -----------------------------------------------------------------------------------


def raises_errno(code: int) -> AbstractContextManager[pytest.ExceptionInfo[OSError]]:
    """``pytest.raises`` for an ``OSError`` carrying exactly ``code`` (Linux's errno)."""
    return pytest.raises(OSError, match=rf"^\[Errno {code}\] ")


def _tcp(sock: netsim.Socket) -> TcpSock:
    sk = sock.sk
    assert isinstance(sk, TcpSock)
    return sk


def _state(sock: netsim.Socket) -> str:
    return STATE_NAMES[sock.sk.sk_state]


def _ehash_states(host: netsim.Host) -> list[str]:
    """The states of the host's established-table entries (``ss -tan`` without listeners; a
    timewait socket shows its substate, as ``inet_diag`` reports ``tw_substate``)."""
    states = []
    for sk in host.net.tcp_ehash.values():
        assert isinstance(sk, TcpSock)
        states.append(STATE_NAMES[sk.tw_substate if sk.sk_state == TCP_TIME_WAIT else sk.sk_state])
    return sorted(states)


def _timewait(host: netsim.Host) -> TcpSock:
    """The host's one timewait socket."""
    (tw,) = [sk for sk in host.net.tcp_ehash.values() if sk.sk_state == TCP_TIME_WAIT]
    assert isinstance(tw, TcpSock)
    return tw


async def _listener(host: netsim.Host, family: int, addr: str, backlog: int = 8) -> netsim.Socket:
    sock = host.socket(family, SOCK_STREAM)
    await sock.bind((addr, 0))
    sock.listen(backlog)
    return sock


async def _pair(
    client_host: netsim.Host, server_host: netsim.Host, family: int, addr: str
) -> tuple[netsim.Socket, netsim.Socket]:
    """A connected ``(client, server)``; the listener is closed again."""
    listener = await _listener(server_host, family, addr)
    client = client_host.socket(family, SOCK_STREAM)
    await client.connect(listener.getsockname())
    server, _ = await listener.accept()
    listener.close()
    return client, server


@asynccontextmanager
async def _linked(
    *, delay: float = 0.01, rate: float | None = None
) -> AsyncIterator[tuple[netsim.Host, netsim.Host, Link]]:
    """Two hosts, ``a`` (10.0.0.1, fd00::1) and ``b`` (10.0.0.2, fd00::2), on one link."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        wire = netsim.link(a, b, delay=delay, rate=rate)
        yield a, b, wire


def _segments(capture: io.BytesIO, family: int) -> list[tuple[float, Any]]:
    """Every TCP segment of a capture, as ``(timestamp, dpkt.tcp.TCP)``."""
    capture.seek(0)
    out: list[tuple[float, Any]] = []
    for ts, raw in dpkt.pcap.Reader(capture):
        ip = dpkt.ip.IP(raw) if family == AF_INET else dpkt.ip6.IP6(raw)
        assert isinstance(ip.data, dpkt.tcp.TCP)
        out.append((float(ts), ip.data))
    return out


def _options(segment: Any) -> list[tuple[int, bytes]]:
    return [(kind, bytes(data)) for kind, data in dpkt.tcp.parse_opts(segment.opts)]


def _timestamps(segment: Any) -> tuple[int, int]:
    (value,) = [data for kind, data in _options(segment) if kind == TIMESTAMP]
    return int.from_bytes(value[:4], "big"), int.from_bytes(value[4:], "big")


# -- the handshake -----------------------------------------------------------------------------


@ALLOCATORS
@FAMILIES
async def test_loopback_handshake_carries_linux_syn_options(
    family: int, allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """SYN and SYN-ACK offer MSS, SACK-permitted, timestamps and window scale in Linux's
    layout; the SYN's window is a multiple of the MSS it announces, the SYN-ACK's of that
    MSS less the timestamp option (``tcp_openreq_init_rwin``); the third segment carries
    only timestamps.  Both ends agree on everything."""
    async with netsim.open_host(allocator=allocator) as host:
        capture = io.BytesIO()
        with host.capture(capture):
            client, server = await _pair(host, host, family, LOCAL[family])
        (t_syn, syn), (_, synack), (_, ack) = _segments(capture, family)
        assert t_syn == 0.0

        assert syn.flags == dpkt.tcp.TH_SYN
        assert synack.flags == dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK
        assert ack.flags == dpkt.tcp.TH_ACK
        assert synack.ack == (syn.seq + 1) & 0xFFFFFFFF
        assert (ack.seq, ack.ack) == ((syn.seq + 1) & 0xFFFFFFFF, (synack.seq + 1) & 0xFFFFFFFF)
        assert syn.sport == client.getsockname()[1] == ack.sport
        assert syn.dport == server.getsockname()[1] == synack.sport

        mss = LO_MSS[family]
        for segment in (syn, synack):
            assert [kind for kind, _ in _options(segment)] == SYN_LAYOUT
            opts = dict(_options(segment))
            assert int.from_bytes(opts[MSS], "big") == mss
            assert opts[SACK_PERM] == b""
            assert opts[WSCALE] == bytes([WSCALE_DEFAULT])
        assert syn.win == mss  # 65536 of window space, rounded down to the MSS
        assert synack.win == mss - 12
        assert [kind for kind, _ in _options(ack)] == [NOP, NOP, TIMESTAMP]
        assert ack.win == 65536 >> WSCALE_DEFAULT  # scaled from now on

        syn_tsval, syn_tsecr = _timestamps(syn)
        synack_tsval, synack_tsecr = _timestamps(synack)
        assert syn_tsecr == 0
        assert synack_tsecr == syn_tsval
        assert _timestamps(ack) == (syn_tsval, synack_tsval)

        for sock in (client, server):
            sk = _tcp(sock)
            assert sk.sk_state == TCP_ESTABLISHED
            assert sk.wscale_ok
            assert sk.sack_ok
            assert sk.tstamp_ok
            assert sk.snd_wscale == sk.rcv_wscale == WSCALE_DEFAULT
            assert sk.tcp_header_len == 20 + 12  # timestamps on every segment
            info = sk.info()
            assert info["snd_wscale"] == info["rcv_wscale"] == WSCALE_DEFAULT
            assert 0 < info["snd_mss"] <= mss - 12

        stats = host.stats()
        assert stats["TcpActiveOpens"] == 1
        assert stats["TcpPassiveOpens"] == 1
        assert stats["TcpAttemptFails"] == 0
        assert stats["TcpOutRsts"] == 0
        client.close()
        server.close()


@FAMILIES
async def test_link_handshake_mss_and_windows(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """On a 1500-byte link: MSS 1460 (IPv4) / 1440 (IPv6); the classic Linux initial windows
    (64240 / 64800 in the SYN, 65160 / 64260 in the SYN-ACK); the handshake takes one round
    trip for the client and a round trip and a half for the server."""
    async with _linked(delay=0.01) as (a, b, _wire):
        capture = io.BytesIO()
        listener = await _listener(b, family, B_ADDR[family])
        with a.capture(capture, "eth0"):
            client = a.socket(family, SOCK_STREAM)
            await client.connect(listener.getsockname())
            assert trio.current_time() == pytest.approx(0.02)
            server, peer = await listener.accept()
            assert trio.current_time() == pytest.approx(0.03)
        assert peer == client.getsockname()
        (_, syn), (t_synack, synack), (_, _ack) = _segments(capture, family)
        assert t_synack == pytest.approx(0.02)  # recorded as a's eth0 receives it
        mss = LINK_MSS[family]
        for segment in (syn, synack):
            assert int.from_bytes(dict(_options(segment))[MSS], "big") == mss
        assert syn.win == 65536 // mss * mss
        assert synack.win == 65536 // (mss - 12) * (mss - 12)
        assert (syn.win, synack.win) == {AF_INET: (64240, 65160), AF_INET6: (64800, 64260)}[family]
        assert _tcp(client).mss_cache == _tcp(server).mss_cache == mss - 12
        assert (a.stats()["TcpActiveOpens"], a.stats()["TcpPassiveOpens"]) == (1, 0)
        assert (b.stats()["TcpActiveOpens"], b.stats()["TcpPassiveOpens"]) == (0, 1)
        for sock in (client, server, listener):
            sock.close()


@FAMILIES
async def test_options_the_client_does_not_offer_are_not_used(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """With timestamps, SACK and window scaling off on the client's host, its SYN carries
    only the MSS, and the server (which has them on) answers with the MSS alone: an option is
    used only if both ends offer it (``tcp_openreq_init``, ``tcp_rcv_synsent_state_process``)."""
    async with _linked() as (a, b, _wire):
        for name in ("tcp_timestamps", "tcp_sack", "tcp_window_scaling"):
            a.sysctl[f"net.ipv4.{name}"] = 0
        capture = io.BytesIO()
        with a.capture(capture, "eth0"):
            client, server = await _pair(a, b, family, B_ADDR[family])
        (_, syn), (_, synack), (_, ack) = _segments(capture, family)
        assert [kind for kind, _ in _options(syn)] == [MSS]
        assert [kind for kind, _ in _options(synack)] == [MSS]
        assert _options(ack) == []
        for sock in (client, server):
            sk = _tcp(sock)
            assert (sk.tstamp_ok, sk.sack_ok, sk.wscale_ok) == (False, False, False)
            assert sk.snd_wscale == sk.rcv_wscale == 0
            assert sk.tcp_header_len == 20
            assert sk.mss_cache == LINK_MSS[family]  # no option space to keep free
        await client.send(b"x" * 3000)
        got = b""
        while len(got) < 3000:
            got += await server.recv(4096)
        assert got == b"x" * 3000
        client.close()
        server.close()


# -- connect() to a port nobody listens on -------------------------------------------------------


@ALLOCATORS
@FAMILIES
async def test_connect_to_closed_port_is_refused_and_the_socket_can_connect_again(
    family: int, allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """The SYN is answered with an RST: ``ECONNREFUSED``.  ``__inet_stream_connect`` then
    disconnects the socket (``tcp_disconnect``): it is an unconnected socket again —
    ``recv`` and ``getpeername`` say ``ENOTCONN``, ``send`` says ``EPIPE``, the ephemeral
    port is given back (though ``getsockname`` still shows it, as Linux's does) — and a
    second ``connect()`` on the same socket succeeds once somebody listens."""
    async with netsim.open_host(allocator=allocator) as host:
        probe = await _listener(host, family, LOCAL[family])
        port = probe.getsockname()[1]
        probe.close()  # a port known to be closed now

        sock = host.socket(family, SOCK_STREAM)
        with pytest.raises(ConnectionRefusedError) as excinfo:
            await sock.connect((LOCAL[family], port))
        assert excinfo.value.errno == errno.ECONNREFUSED
        sk = _tcp(sock)
        assert sk.sk_state == TCP_CLOSE
        assert sk.sk_err == 0  # connect() reported it
        assert sk.sk_shutdown == 0
        assert sock.getsockname()[:2] == (ANY[family], sk.inet_sport)
        assert sk.inet_sport != 0
        assert not host.net.tcp_ehash
        assert not host.net.tcp_table  # the port went back
        with raises_errno(errno.ENOTCONN):
            sock.getpeername()
        with raises_errno(errno.ENOTCONN):
            await sock.recv(10)
        with pytest.raises(BrokenPipeError):
            await sock.send(b"x")
        stats = host.stats()
        assert stats["TcpActiveOpens"] == 1
        assert stats["TcpAttemptFails"] == 1
        assert stats["TcpOutRsts"] == 1  # the refusal
        assert stats["TcpEstabResets"] == 0

        listener = host.socket(family, SOCK_STREAM)
        await listener.bind((LOCAL[family], port))
        listener.listen(1)
        await sock.connect((LOCAL[family], port))
        assert sk.sk_state == TCP_ESTABLISHED
        server, peer = await listener.accept()
        assert peer == sock.getsockname()
        assert sock.getpeername() == listener.getsockname()
        await sock.send(b"second time lucky")
        assert await server.recv(100) == b"second time lucky"
        assert host.stats()["TcpActiveOpens"] == 2
        for s in (sock, server, listener):
            s.close()
        sock.close()  # closing twice is harmless
    # leaving open_host is the leak check: the refused SYN's skb was freed


@FAMILIES
@REUSED_PORTS
async def test_a_refused_connect_keeps_what_bind_chose(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``bind()`` locks what it was given (``SOCK_BINDADDR_LOCK``, ``SOCK_BINDPORT_LOCK``):
    after a refused connect a socket bound to ``(addr, 0)`` keeps its address but gives its
    port back, and reconnects from a new one; a socket bound to ``(addr, port)`` keeps both,
    the port stays taken, and it reconnects from it."""
    async with netsim.open_host() as host:
        listener = await _listener(host, family, LOCAL[family])
        any_port = host.socket(family, SOCK_STREAM)
        await any_port.bind((LOCAL[family], 0))
        port = any_port.getsockname()[1]
        with pytest.raises(ConnectionRefusedError):
            await any_port.connect((LOCAL[family], 9))
        assert any_port.getsockname()[:2] == (LOCAL[family], port)
        probe = host.socket(family, SOCK_STREAM)
        await probe.bind((LOCAL[family], port))  # free again
        probe.close()
        await any_port.connect(listener.getsockname())
        assert any_port.getsockname()[0] == LOCAL[family]
        server1, _ = await listener.accept()

        fixed = host.socket(family, SOCK_STREAM)
        await fixed.bind((LOCAL[family], port))
        with pytest.raises(ConnectionRefusedError):
            await fixed.connect((LOCAL[family], 9))
        assert fixed.getsockname()[:2] == (LOCAL[family], port)
        probe = host.socket(family, SOCK_STREAM)
        with raises_errno(errno.EADDRINUSE):
            await probe.bind((LOCAL[family], port))
        probe.close()
        await fixed.connect(listener.getsockname())
        server2, peer = await listener.accept()
        assert peer[1] == port
        for s in (any_port, fixed, server1, server2, listener):
            s.close()


@FAMILIES
async def test_connect_refused_by_a_remote_host_takes_one_round_trip(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with _linked(delay=0.01) as (a, b, _wire):
        sock = a.socket(family, SOCK_STREAM)
        with pytest.raises(ConnectionRefusedError) as excinfo:
            await sock.connect((B_ADDR[family], 4242))
        assert excinfo.value.errno == errno.ECONNREFUSED
        assert trio.current_time() == pytest.approx(0.02)
        assert a.stats()["TcpAttemptFails"] == 1
        assert b.stats()["TcpOutRsts"] == 1
        assert b.stats()["TcpPassiveOpens"] == 0
        sock.close()


async def test_connect_with_no_answer_times_out_after_127_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A SYN nobody answers is sent 1 + ``tcp_syn_retries`` (6) times, 1 s apart doubling
    (``TCP_TIMEOUT_INIT``, ``tcp_retransmit_timer``): ``ETIMEDOUT`` after 1 + 2 + ... + 64 =
    127 s.  The socket is disconnected and can try again."""
    async with _linked(delay=0.01) as (a, b, wire):
        wire.dev_b.up = False  # b hears nothing
        sock = a.socket(AF_INET, SOCK_STREAM)
        t0 = trio.current_time()
        with raises_errno(errno.ETIMEDOUT):
            await sock.connect((B_ADDR[AF_INET], 80))
        assert trio.current_time() - t0 == pytest.approx(127.0)
        stats = a.stats()
        assert stats["TcpActiveOpens"] == 1
        assert stats["TcpRetransSegs"] == 6
        assert stats["TcpExtTCPTimeouts"] == 7  # six resends, then giving up
        assert stats["TcpAttemptFails"] == 1
        assert a.devices["eth0"].tx_packets == 7
        assert b.devices["eth0"].rx_dropped == 7
        wire.dev_b.up = True
        listener = await _listener(b, AF_INET, B_ADDR[AF_INET])
        await sock.connect(listener.getsockname())
        server, _ = await listener.accept()
        for s in (sock, server, listener):
            s.close()


# -- listen backlog and accept -----------------------------------------------------------------


@FAMILIES
async def test_accept_returns_connections_in_order_and_a_full_queue_drops_the_syn(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``listen(2)`` admits three connections (the queue is full only above the backlog,
    ``sk_acceptq_is_full``); the fourth SYN is dropped (``ListenOverflows``, ``ListenDrops``)
    and retransmitted after ``TCP_TIMEOUT_INIT`` (1 s), by which time ``accept()`` has made
    room.  ``accept()`` hands out the connections in the order they completed, each with its
    peer's address."""
    async with netsim.open_host() as host:
        listener = await _listener(host, family, LOCAL[family], backlog=2)
        laddr = listener.getsockname()
        clients = []
        for _ in range(3):
            client = host.socket(family, SOCK_STREAM)
            await client.connect(laddr)
            clients.append(client)
        late = host.socket(family, SOCK_STREAM)
        established_at: list[float] = []

        async def connect_late() -> None:
            await late.connect(laddr)
            established_at.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(connect_late)
            await trio.sleep(0.5)
            assert late.sk.sk_state == TCP_SYN_SENT
            stats = host.stats()
            assert stats["TcpExtListenOverflows"] == 1
            assert stats["TcpExtListenDrops"] == 1
            accepted = []
            for client in clients:
                server, peer = await listener.accept()
                assert peer == client.getsockname()
                assert server.getpeername() == client.getsockname()
                assert server.getsockname() == laddr
                assert client.getpeername() == laddr
                accepted.append(server)
        assert established_at == [pytest.approx(1.0)]
        server, peer = await listener.accept()
        assert peer == late.getsockname()
        accepted.append(server)
        assert len({peer[1] for peer in (c.getsockname() for c in [*clients, late])}) == 4
        stats = host.stats()
        assert stats["TcpActiveOpens"] == stats["TcpPassiveOpens"] == 4
        assert stats["TcpRetransSegs"] == 1  # the late SYN, once
        # every pair talks to its own peer
        for i, (client, server) in enumerate(zip([*clients, late], accepted, strict=True)):
            await client.send(bytes([i]) * 10)
            assert await server.recv(100) == bytes([i]) * 10
        for sock in [*clients, late, *accepted, listener]:
            sock.close()


async def test_closing_a_listener_resets_connections_never_accepted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``inet_csk_listen_stop``: children still on the accept queue are reset."""
    async with netsim.open_host() as host:
        listener = await _listener(host, AF_INET, LOCAL[AF_INET])
        client = host.socket(AF_INET, SOCK_STREAM)
        await client.connect(listener.getsockname())
        await client.send(b"hello?")
        listener.close()
        assert client.sk.sk_state == TCP_CLOSE
        with pytest.raises(ConnectionResetError):
            await client.recv(10)
        assert host.stats()["TcpEstabResets"] == 1
        client.close()


# -- half-close and the close states -----------------------------------------------------------


async def _read_n(sock: netsim.Socket, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        chunk = await sock.recv(n - len(got))
        assert chunk, "EOF before all data arrived"
        got += chunk
    return bytes(got)


async def _read_to_eof(sock: netsim.Socket) -> bytes:
    got = bytearray()
    while chunk := await sock.recv(65536):
        got += chunk
    return bytes(got)


@ALLOCATORS
@FAMILIES
async def test_half_close_on_loopback(
    family: int, allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """``shutdown(SHUT_WR)``: the server reads everything, then EOF, and may go on sending;
    the client still reads.  The server is in CLOSE_WAIT as soon as the call returns, but
    its ACK of the FIN is a delayed one (``tcp_fin`` schedules it and enters pingpong mode,
    as Linux 6.18 does): the client stays in FIN_WAIT1 for ``ato`` (40 ms) and is then in
    FIN_WAIT2.  When the server
    closes, the connection's TIME_WAIT passes to a timewait socket and the client's own
    socket is CLOSE (``tcp_time_wait`` → ``tcp_done``): it reads EOF and no longer names its
    peer, while the timewait entry holds the 4-tuple until it expires."""
    async with netsim.open_host(allocator=allocator) as host:
        host.net.tcp_timewait_len = 1.0
        client, server = await _pair(host, host, family, LOCAL[family])
        payload = random.Random(family).randbytes(200_000)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.send, payload)
            received = await _read_n(server, len(payload))
        assert received == payload
        client.shutdown(SHUT_WR)
        assert client.did_shutdown_SHUT_WR
        assert (_state(client), _state(server)) == ("FIN_WAIT1", "CLOSE_WAIT")
        await trio.sleep(0.039)
        assert _state(client) == "FIN_WAIT1"
        await trio.sleep(0.002)
        assert (_state(client), _state(server)) == ("FIN_WAIT2", "CLOSE_WAIT")
        assert await server.recv(100) == b""
        assert await server.recv(100) == b""  # EOF stays EOF

        await server.send(b"the other direction still works")
        assert await client.recv(100) == b"the other direction still works"
        with pytest.raises(BrokenPipeError) as excinfo:
            await client.send(b"x")
        assert excinfo.value.errno == errno.EPIPE

        name = client.getsockname()
        server.close()
        assert (_state(client), _state(server)) == ("CLOSE", "CLOSE")
        assert _ehash_states(host) == ["TIME_WAIT"]
        assert await client.recv(100) == b""
        with raises_errno(errno.ENOTCONN):
            client.getpeername()
        assert client.getsockname() == name
        client.close()
        assert _ehash_states(host) == ["TIME_WAIT"]
        await trio.sleep(1.01)
        assert _ehash_states(host) == []
        assert not host.net.sockets


@FAMILIES
async def test_close_states_walk_over_a_link(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """With 10 ms each way every state of an orderly close can be seen (as ``ss -tan``
    shows them: the hosts' connection tables): FIN_WAIT1 until the FIN is acknowledged (a
    delayed ACK, 40 ms after the FIN arrived), then FIN_WAIT2; CLOSE_WAIT on the other
    side; LAST_ACK after its close; TIME_WAIT for the side that closed first — a timewait
    socket, the application's socket being CLOSE — and nothing for the other once its FIN
    is acknowledged."""
    async with _linked(delay=0.01) as (a, b, _wire):
        a.net.tcp_timewait_len = 2.0
        client, server = await _pair(a, b, family, B_ADDR[family])
        await client.send(b"last words")
        t0 = trio.current_time()
        client.shutdown(SHUT_WR)

        async def at(dt: float) -> tuple[list[str], list[str]]:
            await trio.sleep_until(t0 + dt)
            return _ehash_states(a), _ehash_states(b)

        assert await at(0.0) == (["FIN_WAIT1"], ["ESTABLISHED"])
        assert await at(0.015) == (["FIN_WAIT1"], ["CLOSE_WAIT"])  # FIN in at 0.01...
        # ...and its ACK delayed by ato, 40 ms (tcp_fin: pingpong mode), then 10 ms on the wire
        assert await at(0.055) == (["FIN_WAIT1"], ["CLOSE_WAIT"])
        assert await at(0.065) == (["FIN_WAIT2"], ["CLOSE_WAIT"])
        assert (_state(client), _state(server)) == ("FIN_WAIT2", "CLOSE_WAIT")
        assert await _read_to_eof(server) == b"last words"
        t0 = trio.current_time()
        server.close()  # the closed socket finishes on its own
        assert await at(0.0) == (["FIN_WAIT2"], ["LAST_ACK"])
        assert await at(0.005) == (["FIN_WAIT2"], ["LAST_ACK"])
        assert await at(0.015) == (["TIME_WAIT"], ["LAST_ACK"])
        assert _state(client) == "CLOSE"
        assert await at(0.025) == (["TIME_WAIT"], [])
        assert await client.recv(10) == b""
        assert _ehash_states(a) == ["TIME_WAIT"]
        # TIME_WAIT lasts net.tcp_timewait_len from the FIN's arrival (t0 + 0.01)
        await trio.sleep_until(t0 + 0.01 + 1.99)
        assert _ehash_states(a) == ["TIME_WAIT"]
        await trio.sleep_until(t0 + 0.01 + 2.01)
        assert _ehash_states(a) == []
        assert a.stats()["TcpExtTW"] == 1
        assert b.stats()["TcpExtTW"] == 0
        for host in (a, b):
            assert host.stats()["TcpOutRsts"] == 0
            assert host.stats()["TcpEstabResets"] == 0
        client.close()
        assert not a.net.sockets


def _ipv4_sent(capture: io.BytesIO, src: str) -> list[tuple[int, int]]:
    """The IPv4 packets from ``src`` in a capture, as ``(TCP flags, IP ID)``."""
    capture.seek(0)
    out: list[tuple[int, int]] = []
    for _ts, raw in dpkt.pcap.Reader(capture):
        ip = dpkt.ip.IP(raw)
        if ip.src == socket.inet_aton(src):
            out.append((ip.data.flags, ip.id))
    return out


@FAMILIES
async def test_an_orphan_waits_for_the_peers_fin_as_a_timewait_socket(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``close()`` before the peer's FIN: once our FIN is acknowledged the orphan is no
    full socket any more but a timewait socket in the ``FIN_WAIT2`` substate
    (``tcp_rcv_state_process`` → ``tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)``, as Linux 6.18
    does; ``ss -tan`` shows ``FIN-WAIT-2``).  The peer's FIN takes it to true TIME_WAIT and
    is acknowledged from no full socket — over IPv4 with ID 0, as Linux's control socket
    sends it (checked on the 6.18 host by the yardstick) — and TIME_WAIT runs from there."""
    async with _linked(delay=0.01) as (a, b, _wire):
        a.net.tcp_timewait_len = 2.0
        client, server = await _pair(a, b, family, B_ADDR[family])
        capture = io.BytesIO()
        with a.capture(capture, "eth0"):
            await client.send(b"last words")
            sk = _tcp(client)
            t0 = trio.current_time()
            client.close()
            assert _ehash_states(a) == ["FIN_WAIT1"]
            # the peer's ACK of the FIN is delayed 40 ms (tcp_fin: pingpong mode), 10 ms back
            await trio.sleep_until(t0 + 0.065)
            assert _ehash_states(a) == ["FIN_WAIT2"]
            tw = _timewait(a)
            assert tw.tw_substate == TCP_FIN_WAIT2
            assert sk.sk_state == TCP_CLOSE
            assert sk not in a.net.sockets
            assert await _read_to_eof(server) == b"last words"
            t1 = trio.current_time()
            server.close()
            await trio.sleep_until(t1 + 0.015)
            assert _ehash_states(a) == ["TIME_WAIT"]
            assert _timewait(a) is tw
            assert tw.tw_substate == TCP_TIME_WAIT
            await trio.sleep_until(t1 + 0.025)
            assert _ehash_states(b) == []  # our ACK finished the peer's LAST_ACK
            # TIME_WAIT lasts net.tcp_timewait_len from the FIN's arrival (t1 + 0.01)
            await trio.sleep_until(t1 + 0.01 + 1.99)
            assert _ehash_states(a) == ["TIME_WAIT"]
            await trio.sleep_until(t1 + 0.01 + 2.01)
            assert _ehash_states(a) == []
        assert a.stats()["TcpExtTW"] == 1
        for host in (a, b):
            assert host.stats()["TcpOutRsts"] == 0
            assert host.stats()["TcpEstabResets"] == 0
        if family == AF_INET:
            sent = _ipv4_sent(capture, "10.0.0.1")
            # data, FIN, then the ACK of the peer's FIN: the connection numbered its packets
            # from inet_id, the timewait socket's ACK has ID 0
            assert [flags for flags, _ident in sent] == [
                dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK,
                dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK,
                dpkt.tcp.TH_ACK,
            ]
            assert sent[1][1] == (sent[0][1] + 1) & 0xFFFF
            assert sent[2][1] == 0
        assert not a.net.sockets


async def test_an_orphans_fin_wait2_time_is_tcp_fin_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """How long an orphan waits for the peer's FIN (``tcp_fin_time``): ``TCP_LINGER2`` or
    ``net.ipv4.tcp_fin_timeout``.  Up to TIME_WAIT's own 60 s it waits as a timewait socket
    in ``FIN_WAIT2``, which then vanishes in silence (``TcpExtTW``, no reset): the peer,
    still in CLOSE_WAIT, learns of it only when it sends — a reset, ``EPIPE``.  A longer
    time is spent first as the full socket, for the part beyond 60 s, and then — as Linux's
    ``tcp_keepalive_timer`` does it — that same part again as a timewait socket: 100 s of
    ``TCP_LINGER2`` end after 80 s."""
    async with netsim.open_host() as host:
        host.sysctl["net.ipv4.tcp_fin_timeout"] = 5
        client, server = await _pair(host, host, AF_INET, LOCAL[AF_INET])
        t0 = trio.current_time()
        client.close()
        await trio.sleep(0.05)
        assert _timewait(host).tw_substate == TCP_FIN_WAIT2
        await trio.sleep_until(t0 + 4.99)
        assert _ehash_states(host) == ["CLOSE_WAIT", "FIN_WAIT2"]
        await trio.sleep_until(t0 + 5.01)
        assert _ehash_states(host) == ["CLOSE_WAIT"]
        assert host.stats()["TcpExtTW"] == 1
        assert host.stats()["TcpOutRsts"] == 0
        assert await server.send(b"anyone?") == 7
        with raises_errno(errno.EPIPE):
            await server.send(b"x")
        assert host.stats()["TcpOutRsts"] == 1
        server.close()

        client, server = await _pair(host, host, AF_INET, LOCAL[AF_INET])
        client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_LINGER2, 100)
        sk = _tcp(client)
        t0 = trio.current_time()
        client.close()
        await trio.sleep_until(t0 + 39.9)
        assert sk.sk_state == TCP_FIN_WAIT2
        assert sk in host.net.sockets
        await trio.sleep_until(t0 + 40.1)
        assert sk.sk_state == TCP_CLOSE
        assert sk not in host.net.sockets
        assert _timewait(host).tw_substate == TCP_FIN_WAIT2
        await trio.sleep_until(t0 + 79.9)
        assert _ehash_states(host) == ["CLOSE_WAIT", "FIN_WAIT2"]
        await trio.sleep_until(t0 + 80.1)
        assert _ehash_states(host) == ["CLOSE_WAIT"]
        assert host.stats()["TcpOutRsts"] == 1  # still only the first connection's
        server.close()
        await trio.sleep(1)
        assert not host.net.sockets


@FAMILIES
async def test_simultaneous_close_goes_through_closing(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Both ends close at once: each gets the other's FIN in FIN_WAIT1 (CLOSING), then the
    ACK of its own (TIME_WAIT) — both ends wait out TIME_WAIT."""
    async with _linked(delay=0.01) as (a, b, _wire):
        for host in (a, b):
            host.net.tcp_timewait_len = 1.0
        client, server = await _pair(a, b, family, B_ADDR[family])
        t0 = trio.current_time()
        client.close()
        server.close()
        assert (_ehash_states(a), _ehash_states(b)) == (["FIN_WAIT1"], ["FIN_WAIT1"])
        await trio.sleep_until(t0 + 0.015)
        assert (_ehash_states(a), _ehash_states(b)) == (["CLOSING"], ["CLOSING"])
        await trio.sleep_until(t0 + 0.025)
        assert (_ehash_states(a), _ehash_states(b)) == (["TIME_WAIT"], ["TIME_WAIT"])
        await trio.sleep_until(t0 + 0.02 + 1.01)
        assert (_ehash_states(a), _ehash_states(b)) == ([], [])
        assert a.stats()["TcpExtTW"] == b.stats()["TcpExtTW"] == 1
        assert not a.net.sockets
        assert not b.net.sockets


def _tcp_of(frame: bytes) -> Any:
    """The TCP segment of a frame on the wire (an IPv4 or IPv6 packet)."""
    ip = dpkt.ip.IP(frame) if frame[0] >> 4 == 4 else dpkt.ip6.IP6(frame)
    return ip.data


def _is_pure_ack(segment: Any) -> bool:
    return segment.flags == dpkt.tcp.TH_ACK and not segment.data


@FAMILIES
async def test_time_wait_takes_a_bare_ack_at_rcv_nxt_in_silence(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``tcp_timewait_state_process``: in TIME_WAIT a segment at ``rcv_nxt`` that carries
    nothing — a bare ACK — is taken without an answer (``TCP_TW_SUCCESS``).  After a
    simultaneous close both ends are timewait sockets; here the wire delivers the last ACK
    to ``b`` twice.  Answered, the copy would start an ACK loop: the answer is a bare ACK at
    ``a``'s ``rcv_nxt`` too, and the two timewait sockets would ACK each other's ACKs until
    TIME_WAIT ends — on a link without delay, forever at one instant."""
    async with _linked(delay=0.01) as (a, b, _wire):
        for host in (a, b):
            host.net.tcp_timewait_len = 1.0
        client, server = await _pair(a, b, family, B_ADDR[family])
        fin_seen = duplicated = False

        def wire(frame: bytes) -> list[bytes]:
            """Deliver ``a``'s first bare ACK after its FIN twice."""
            nonlocal fin_seen, duplicated
            segment = _tcp_of(frame)
            if segment.flags & dpkt.tcp.TH_FIN:
                fin_seen = True
            elif fin_seen and not duplicated and _is_pure_ack(segment):
                duplicated = True
                return [frame, frame]
            return [frame]

        b.devices["eth0"].wire = wire  # type: ignore[attr-defined]
        sent = a.devices["eth0"].tx_packets, b.devices["eth0"].tx_packets
        t0 = trio.current_time()
        client.close()
        server.close()
        await trio.sleep_until(t0 + 0.025)
        assert duplicated
        assert (_ehash_states(a), _ehash_states(b)) == (["TIME_WAIT"], ["TIME_WAIT"])
        await trio.sleep_until(t0 + 0.5)
        # each end sent its FIN and the ACK of the other's FIN, and nothing more
        assert (a.devices["eth0"].tx_packets, b.devices["eth0"].tx_packets) == (
            sent[0] + 2,
            sent[1] + 2,
        )
        await trio.sleep_until(t0 + 0.02 + 1.01)
        assert (_ehash_states(a), _ehash_states(b)) == ([], [])
        for host in (a, b):
            assert host.stats()["TcpExtTW"] == 1
            assert host.stats()["TcpOutRsts"] == 0


async def test_time_wait_answers_old_segments_rate_limited(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An old segment reaching a timewait socket (out of window: below ``rcv_nxt``) is
    answered with an ACK and restarts TIME_WAIT — a bare one at most once per
    ``net.ipv4.tcp_invalid_ratelimit`` (500 ms, ``tcp_timewait_check_oow_rate_limit``): three
    copies of an old ACK arriving at once get one answer, one more 600 ms later another.
    The answers, bare ACKs at ``rcv_nxt`` of the peer's timewait socket, go unanswered
    (and restart its TIME_WAIT)."""
    async with _linked(delay=0.01) as (a, b, _wire):
        for host in (a, b):
            host.net.tcp_timewait_len = 1.0
        old: list[bytes] = []

        def wire(frame: bytes) -> list[bytes]:
            """Keep the first bare ACK from ``b``."""
            if not old and _is_pure_ack(_tcp_of(frame)):
                old.append(frame)
            return [frame]

        eth0 = a.devices["eth0"]
        assert isinstance(eth0, LinkDevice)
        eth0.wire = wire
        client, server = await _pair(a, b, AF_INET, B_ADDR[AF_INET])
        await client.send(b"hello")
        assert await server.recv(100) == b"hello"
        await trio.sleep(0.5)
        assert old  # b's ACK of the data, one sequence number below its FIN

        def replay(copies: int) -> None:
            def deliver() -> None:
                for _ in range(copies):
                    eth0.rx_frame(old[0])

            a.net.run_softirq(a.now(), deliver)

        t0 = trio.current_time()
        client.close()
        server.close()
        await trio.sleep_until(t0 + 0.025)
        assert (_ehash_states(a), _ehash_states(b)) == (["TIME_WAIT"], ["TIME_WAIT"])
        sent = eth0.tx_packets, b.devices["eth0"].tx_packets
        replay(3)
        await trio.sleep(0.1)
        assert (eth0.tx_packets, b.devices["eth0"].tx_packets) == (sent[0] + 1, sent[1])
        await trio.sleep(0.5)
        t1 = trio.current_time()
        replay(1)
        await trio.sleep(0.1)
        assert (eth0.tx_packets, b.devices["eth0"].tx_packets) == (sent[0] + 2, sent[1])
        # TIME_WAIT starts over: a's with each old ACK, b's with each answer
        await trio.sleep_until(t1 + 0.99)
        assert (_ehash_states(a), _ehash_states(b)) == (["TIME_WAIT"], ["TIME_WAIT"])
        await trio.sleep_until(t1 + 1.005)
        assert (_ehash_states(a), _ehash_states(b)) == ([], ["TIME_WAIT"])
        await trio.sleep_until(t1 + 1.015)
        assert (_ehash_states(a), _ehash_states(b)) == ([], [])
        assert a.stats()["TcpOutRsts"] == b.stats()["TcpOutRsts"] == 0


async def test_time_wait_lasts_sixty_seconds_and_holds_the_port(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Linux's ``TCP_TIMEWAIT_LEN`` (60 s, not a sysctl; netsim's ``net.tcp_timewait_len``):
    meanwhile the port of the side that closed first cannot be bound without
    ``SO_REUSEADDR``; afterwards it can."""
    async with netsim.open_host() as host:
        assert host.net.tcp_timewait_len == 60.0
        client, server = await _pair(host, host, AF_INET, LOCAL[AF_INET])
        port = client.getsockname()[1]
        client.close()
        server.close()
        assert _ehash_states(host) == ["TIME_WAIT"]
        t0 = trio.current_time()
        taker = host.socket(AF_INET, SOCK_STREAM)
        with raises_errno(errno.EADDRINUSE):
            await taker.bind((LOCAL[AF_INET], port))
        await trio.sleep_until(t0 + 59.9)
        assert _ehash_states(host) == ["TIME_WAIT"]
        await trio.sleep_until(t0 + 60.1)
        assert _ehash_states(host) == []
        await taker.bind((LOCAL[AF_INET], port))
        taker.close()


async def test_time_wait_answers_a_retransmitted_fin_with_an_ack(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``tcp_timewait_state_process``: TIME_WAIT is there for a lost last ACK.  The server's
    FIN is retransmitted — by the tail loss probe, which a lone segment in flight gets at
    ``min(2 * srtt + tcp_rto_min, RTO)``, so at the time the RTO would have fired but without
    a timeout (``tcp_schedule_loss_probe``) — and the TIME_WAIT side ACKs it again, which
    lets the server finish."""
    async with _linked(delay=0.01) as (a, b, wire):
        a.net.tcp_timewait_len = 5.0
        client, server = await _pair(a, b, AF_INET, B_ADDR[AF_INET])
        client.shutdown(SHUT_WR)
        await trio.sleep(0.05)
        t0 = trio.current_time()
        server.close()  # its FIN reaches the client at t0 + 0.01
        wire.dev_b.up = False  # ... whose ACK, arriving at t0 + 0.02, is lost
        await trio.sleep_until(t0 + 0.025)
        wire.dev_b.up = True
        assert _ehash_states(a) == ["TIME_WAIT"]
        assert _ehash_states(b) == ["LAST_ACK"]
        assert b.devices["eth0"].rx_dropped == 1
        sent_before = a.devices["eth0"].tx_packets
        await trio.sleep_until(t0 + 1.0)
        assert _ehash_states(b) == []  # the retransmitted FIN was ACKed
        assert b.stats()["TcpRetransSegs"] == 1
        assert b.stats()["TcpExtTCPLossProbes"] == 1
        assert b.stats()["TcpExtTCPTimeouts"] == 0
        assert a.devices["eth0"].tx_packets == sent_before + 1
        assert _ehash_states(a) == ["TIME_WAIT"]
        assert a.stats()["TcpOutRsts"] == b.stats()["TcpOutRsts"] == 0
        client.close()


# -- tcp_info ----------------------------------------------------------------------------------


@FAMILIES
async def test_tcp_info_after_a_transfer(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """After 300 kB over a 20 ms round trip with no loss: the congestion window grew in slow
    start, ``ssthresh`` is still infinite, the smoothed RTT is the path's, the RTO is RTT +
    at least 200 ms (``tcp_rto_min``), everything sent was acknowledged."""
    size = 300_000
    async with _linked(delay=0.01, rate=100e6) as (a, b, _wire):
        client, server = await _pair(a, b, family, B_ADDR[family])
        payload = random.Random(7).randbytes(size)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.send, payload)
            assert await _read_n(server, size) == payload
        await trio.sleep(0.5)  # let the last (possibly delayed) ACK arrive
        mss = LINK_MSS[family] - 12
        tx = _tcp(client).info()
        assert tx["state"] == TCP_ESTABLISHED
        assert tx["snd_mss"] == mss
        assert tx["snd_cwnd"] > 10  # TCP_INIT_CWND, grown
        assert tx["snd_ssthresh"] == INFINITE_SSTHRESH
        assert 20_000 <= tx["rtt_us"] < 30_000
        assert 200_000 + tx["rtt_us"] <= tx["rto_us"] < 300_000
        assert tx["retransmits"] == tx["total_retrans"] == 0
        assert tx["unacked"] == 0
        assert tx["notsent_bytes"] == 0
        assert tx["bytes_acked"] == size + 1  # the SYN counts
        assert tx["bytes_sent"] == size
        assert tx["snd_wnd"] > 0
        assert tx["snd_wscale"] == tx["rcv_wscale"] == WSCALE_DEFAULT
        assert tx["segs_out"] >= size // mss

        rx = _tcp(server).info()
        assert rx["rcv_mss"] == mss
        assert rx["bytes_received"] == size
        assert rx["bytes_acked"] == 1  # its SYN-ACK
        assert rx["segs_in"] >= size // mss
        assert a.stats()["TcpRetransSegs"] == b.stats()["TcpRetransSegs"] == 0
        client.close()
        server.close()


# -- loss and the retransmission timer ---------------------------------------------------------


@FAMILIES
async def test_a_lost_burst_is_retransmitted_after_the_rto(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """A one-packet device queue drops all but the first segment of the initial burst, and the
    burst is all there is to send (ten segments, the initial window).  With the tail loss
    probe off (``net.ipv4.tcp_early_retrans = 0``) nothing after the hole arrives, so no SACK
    can prove a loss (RACK) and the retransmission timer fires — no sooner than 200 ms
    (``TCP_RTO_MIN``) after the original transmission — and the ACK-clocked recovery that
    follows resends the rest with no second timeout.  The data arrives byte-exact.  (With
    the probe on, as by default, it repairs this tail: test_a_lost_tail_gets_a_loss_probe.)"""
    async with _linked(delay=0.005, rate=100e6) as (a, b, wire):
        a.sysctl["net.ipv4.tcp_early_retrans"] = 0
        client, server = await _pair(a, b, family, B_ADDR[family])
        size = 10 * _tcp(client).mss_cache
        payload = random.Random(size).randbytes(size)
        capture = io.BytesIO()
        t0 = trio.current_time()
        with a.capture(capture, "eth0"):

            async def send() -> None:
                wire.txqueuelen = 1
                await client.send(payload)
                wire.txqueuelen = 1000

            async with trio.open_nursery() as nursery:
                nursery.start_soon(send)
                assert await _read_n(server, size) == payload
        sa = a.stats()
        assert a.devices["eth0"].tx_dropped > 0
        assert sa["TcpRetransSegs"] > 0
        assert sa["TcpExtTCPTimeouts"] == 1
        assert _tcp(client).info()["total_retrans"] == sa["TcpRetransSegs"]

        sport = client.getsockname()[1]
        first_sent: dict[int, float] = {}
        retransmitted: list[tuple[int, float]] = []
        for ts, segment in _segments(capture, family):
            if segment.sport != sport or not segment.data:
                continue
            if segment.seq in first_sent:
                retransmitted.append((segment.seq, ts))
            else:
                first_sent[segment.seq] = ts
        assert retransmitted
        first_rtx = min(ts for _, ts in retransmitted)
        assert first_rtx - t0 >= 0.2
        for seq, ts in retransmitted:
            assert ts - first_sent[seq] >= 0.2
        client.close()
        server.close()


@FAMILIES
async def test_a_lost_tail_gets_a_loss_probe(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """The same lost burst with the defaults (RACK-TLP, ``tcp_early_retrans = 3``): two
    smoothed RTTs (+ 2 ms) after the last transmission, long before any RTO, the tail loss
    probe resends the last segment (``TCPLossProbes``; ``tcp_send_loss_probe``); its SACK
    makes RACK prove the segments sent before it lost; fast recovery resends them
    (``TCPSackRecovery``, ``TCPFastRetrans``) and no timeout fires."""
    async with _linked(delay=0.005, rate=100e6) as (a, b, wire):
        client, server = await _pair(a, b, family, B_ADDR[family])
        size = 10 * _tcp(client).mss_cache
        payload = random.Random(size).randbytes(size)
        capture = io.BytesIO()
        with a.capture(capture, "eth0"):

            async def send() -> None:
                wire.txqueuelen = 1
                await client.send(payload)
                wire.txqueuelen = 1000

            async with trio.open_nursery() as nursery:
                nursery.start_soon(send)
                assert await _read_n(server, size) == payload
        sa = a.stats()
        dropped = a.devices["eth0"].tx_dropped
        assert dropped == 9
        assert sa["TcpExtTCPTimeouts"] == 0
        assert sa["TcpExtTCPLossProbes"] == 1
        assert sa["TcpExtTCPSackRecovery"] == 1
        # the probe resent the last segment; fast recovery the eight before it
        assert sa["TcpExtTCPFastRetrans"] == dropped - 1
        assert sa["TcpRetransSegs"] == dropped
        srtt = _tcp(client).srtt_us / 8e6

        sport = client.getsockname()[1]
        first_sent: dict[int, float] = {}
        retransmitted: list[tuple[int, float]] = []
        for ts, segment in _segments(capture, family):
            if segment.sport != sport or not segment.data:
                continue
            if segment.seq in first_sent:
                retransmitted.append((segment.seq, ts))
            else:
                first_sent[segment.seq] = ts
        probe_seq, probe_at = retransmitted[0]
        assert probe_seq == max(first_sent)  # the last segment
        last_sent = max(first_sent.values())
        assert 2 * srtt < probe_at - last_sent < 0.2
        client.close()
        server.close()


async def test_the_rto_resends_a_single_segment(autojump_clock: trio.testing.MockClock) -> None:
    async with _linked(delay=0.005, rate=100e6) as (a, b, wire):
        client, server = await _pair(a, b, AF_INET, B_ADDR[AF_INET])
        capture = io.BytesIO()
        with a.capture(capture, "eth0"):

            async def send() -> None:
                wire.txqueuelen = 1
                await client.send(bytes(50_000))
                wire.txqueuelen = 1000

            async with trio.open_nursery() as nursery:
                nursery.start_soon(send)
                await _read_n(server, 50_000)
        sport = client.getsockname()[1]
        seen: set[int] = set()
        burst: dict[float, int] = {}
        for ts, segment in _segments(capture, AF_INET):
            if segment.sport == sport and segment.data:
                if segment.seq in seen:
                    burst[ts] = burst.get(ts, 0) + 1
                seen.add(segment.seq)
        assert burst[min(burst)] == 1
        client.close()
        server.close()


async def test_the_first_data_segment_is_acked_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with _linked(delay=0.01) as (a, b, _wire):
        client, server = await _pair(a, b, AF_INET, B_ADDR[AF_INET])
        t0 = trio.current_time()
        await client.send(b"x" * 100)
        await trio.sleep_until(t0 + 0.025)  # one round trip, plus a little
        assert _tcp(client).snd_una == _tcp(client).snd_nxt
        assert await server.recv(100) == b"x" * 100
        client.close()
        server.close()


# -- TIME_WAIT reuse (tcp_tw_reuse) ------------------------------------------------------------


async def _reconnect_after(
    client_host: netsim.Host, server_host: netsim.Host, family: int, addr: str, wait: float
) -> tuple[int, int, int]:
    """With one ephemeral port, connect and close from the client side (its end enters
    TIME_WAIT), wait, and connect again: (errno of the second connect or 0, the old
    connection's snd_nxt, the new one's initial sequence number)."""
    listener = await _listener(server_host, family, addr)
    client_host.sysctl["net.ipv4.ip_local_port_range"] = "40000 40000"
    client = client_host.socket(family, SOCK_STREAM)
    await client.connect(listener.getsockname())
    server, _ = await listener.accept()
    old_snd_nxt = client.tcp_sk.snd_nxt
    client.close()
    await trio.sleep(0.05)
    server.close()
    await trio.sleep(wait)
    again = client_host.socket(family, SOCK_STREAM)
    try:
        await again.connect(listener.getsockname())
    except OSError as exc:
        again.close()
        listener.close()
        return exc.errno or 0, old_snd_nxt, 0
    iss = again.tcp_sk.iss
    server2, _ = await listener.accept()
    for sock in (again, server2, listener):
        sock.close()
    return 0, old_snd_nxt, iss


@FAMILIES
@REUSED_PORTS
async def test_tw_reuse_takes_over_a_loopback_time_wait_after_a_second(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``net.ipv4.tcp_tw_reuse = 2`` (the default): on loopback, a connect may take a 4-tuple
    that a TIME_WAIT socket holds once that has waited ``tcp_tw_reuse_delay`` (1 s) —
    ``tcp_twsk_unique``: the new connection starts 65537 past the old one's sequence space,
    the timewait socket goes (``TWRecycled``).  Before that, the only port is taken."""
    async with netsim.open_host() as host:
        err, _, _ = await _reconnect_after(host, host, family, LOCAL[family], 0.5)
        assert err == errno.EADDRNOTAVAIL
    async with netsim.open_host() as host:
        err, old_snd_nxt, iss = await _reconnect_after(host, host, family, LOCAL[family], 1.1)
        assert err == 0
        assert iss == (old_snd_nxt + 1 + 65537) & 0xFFFFFFFF  # past the old FIN
        assert host.stats()["TcpExtTWRecycled"] == 1


async def _reconnect_bound(host: netsim.Host, family: int, wait: float) -> tuple[int, int, int]:
    """As :func:`_reconnect_after`, but the client binds its port (``SO_REUSEADDR``, so the
    second bind may share it with the TIME_WAIT socket) before each connect."""
    listener = await _listener(host, family, LOCAL[family])
    port = 40000

    async def bound() -> netsim.Socket:
        sock = host.socket(family, SOCK_STREAM)
        sock.setsockopt(netsim.SOL_SOCKET, netsim.SO_REUSEADDR, 1)
        await sock.bind((LOCAL[family], port))
        return sock

    client = await bound()
    await client.connect(listener.getsockname())
    server, _ = await listener.accept()
    old_snd_nxt = client.tcp_sk.snd_nxt
    client.close()
    await trio.sleep(0.05)
    server.close()
    await trio.sleep(wait)
    again = await bound()
    try:
        await again.connect(listener.getsockname())
    except OSError as exc:
        again.close()
        listener.close()
        return exc.errno or 0, old_snd_nxt, 0
    iss = again.tcp_sk.iss
    server2, _ = await listener.accept()
    for sock in (again, server2, listener):
        sock.close()
    return 0, old_snd_nxt, iss


@FAMILIES
@REUSED_PORTS
async def test_a_bound_socket_takes_over_a_time_wait_whatever_tcp_tw_reuse_says(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """A socket bound to its port before ``connect`` is checked by ``__inet_hash_connect``
    with no ``twp``, and ``tcp_twsk_unique`` then lets it take over a TIME_WAIT socket on the
    4-tuple as soon as the old connection used timestamps — ``tcp_tw_reuse = 0`` and the
    reuse delay notwithstanding (as Linux 6.18 does on the live kernel: the connect
    succeeds at once); without timestamps it is ``EADDRNOTAVAIL``."""
    async with netsim.open_host() as host:
        host.sysctl["net.ipv4.tcp_tw_reuse"] = 0
        err, old_snd_nxt, iss = await _reconnect_bound(host, family, 0.05)
        assert err == 0
        assert iss == (old_snd_nxt + 1 + 65537) & 0xFFFFFFFF  # past the old FIN
        assert host.stats()["TcpExtTWRecycled"] == 1
    async with netsim.open_host() as host:
        host.sysctl["net.ipv4.tcp_timestamps"] = 0
        err, _, _ = await _reconnect_bound(host, family, 0.05)
        assert err == errno.EADDRNOTAVAIL


@FAMILIES
@REUSED_PORTS
async def test_tw_reuse_is_loopback_only_by_default(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Across a link, 2 does not reuse; 1 does; 0 never does, on loopback either."""
    async with _linked() as (a, b, _):
        err, _, _ = await _reconnect_after(a, b, family, B_ADDR[family], 1.5)
        assert err == errno.EADDRNOTAVAIL
    async with _linked() as (a, b, _):
        a.sysctl["net.ipv4.tcp_tw_reuse"] = 1
        err, _, _ = await _reconnect_after(a, b, family, B_ADDR[family], 1.5)
        assert err == 0
        assert a.stats()["TcpExtTWRecycled"] == 1
    async with netsim.open_host() as host:
        host.sysctl["net.ipv4.tcp_tw_reuse"] = 0
        err, _, _ = await _reconnect_after(host, host, family, LOCAL[family], 1.5)
        assert err == errno.EADDRNOTAVAIL
