"""Closing with ``SO_LINGER`` and ``TCP_LINGER2`` (net/ipv4/tcp.c ``__tcp_close``,
net/core/stream.c ``sk_stream_wait_close``), two listeners on one port
(``inet_csk_listen_start``), a cancelled ``connect`` (trio's rule: the socket is closed) and a
read-only receive buffer (refused before anything is taken) — each checked against the live
6.18 kernel."""

from __future__ import annotations

import errno
import struct
from contextlib import AbstractContextManager

import pytest
import trio
import trio.testing

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    IPPROTO_TCP,
    SO_LINGER,
    SO_RCVBUF,
    SO_REUSEADDR,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_SOCKET,
    TCP_LINGER2,
)
from netsim.sock.sock import TCP_CLOSE, TCP_FIN_WAIT1, TCP_FIN_WAIT2, TCP_TIME_WAIT
from netsim.tcp import TcpSock
from netsim.testing.allow import SIMULTANEOUS_OPEN, STALLED_READER

FAMILIES = pytest.mark.parametrize("family", [AF_INET, AF_INET6], ids=["ipv4", "ipv6"])
LOCAL = {AF_INET: "127.0.0.1", AF_INET6: "::1"}


def raises_errno(code: int) -> AbstractContextManager[pytest.ExceptionInfo[OSError]]:
    return pytest.raises(OSError, match=rf"^\[Errno {code}\] ")


def _linger(on: int, seconds: int) -> bytes:
    return struct.pack("ii", on, seconds)


async def _pair(host: netsim.Host, family: int) -> tuple[netsim.Socket, netsim.Socket]:
    listener = host.socket(family, SOCK_STREAM)
    await listener.bind((LOCAL[family], 0))
    listener.listen(1)
    client = host.socket(family, SOCK_STREAM)
    await client.connect(listener.getsockname())
    server, _ = await listener.accept()
    listener.close()
    return client, server


async def test_so_linger_values(autojump_clock: trio.testing.MockClock) -> None:
    """``struct linger``: off by default; seconds kept as jiffies and read back; a shorter
    value is ``EINVAL``; without a buffer length ``getsockopt`` reads ``l_onoff``."""
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_STREAM)
        assert sock.getsockopt(SOL_SOCKET, SO_LINGER, 8) == _linger(0, 0)
        sock.setsockopt(SOL_SOCKET, SO_LINGER, _linger(1, 5))
        assert sock.getsockopt(SOL_SOCKET, SO_LINGER, 8) == _linger(1, 5)
        assert sock.getsockopt(SOL_SOCKET, SO_LINGER) == 1
        assert sock.getsockopt(SOL_SOCKET, SO_LINGER, 4) == struct.pack("i", 1)
        sock.setsockopt(SOL_SOCKET, SO_LINGER, _linger(7, 2**31 - 1))
        assert sock.getsockopt(SOL_SOCKET, SO_LINGER, 8) == _linger(1, 2**31 - 1)
        for short in (1, struct.pack("i", 1)):
            with raises_errno(errno.EINVAL):
                sock.setsockopt(SOL_SOCKET, SO_LINGER, short)
        sock.setsockopt(SOL_SOCKET, SO_LINGER, _linger(0, 9))  # off; the time is kept
        assert sock.getsockopt(SOL_SOCKET, SO_LINGER, 8) == _linger(0, 2**31 - 1)
        udp = host.socket(AF_INET, SOCK_DGRAM)
        udp.setsockopt(SOL_SOCKET, SO_LINGER, _linger(1, 0))  # accepted; UDP never lingers
        udp.close()
        sock.close()


@FAMILIES
async def test_zero_linger_resets_the_connection(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Linger on with time 0: ``close`` aborts — an RST instead of a FIN, the unsent data
    and the retransmit queue freed — and the peer's next call says ``ECONNRESET``."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family)
        server.setsockopt(SOL_SOCKET, SO_RCVBUF, 4096)  # the peer stops taking data
        client.setsockopt(SOL_SOCKET, SO_LINGER, _linger(1, 0))
        with trio.move_on_after(1):
            await client.send(b"z" * 500_000)
        assert _sk(client).sk_write_queue or _sk(client).tcp_rtx_queue  # data still queued
        rsts = host.stats()["TcpOutRsts"]
        client.close()
        stats = host.stats()
        assert stats["TcpOutRsts"] == rsts + 1
        assert stats["TcpExtTCPAbortOnData"] == 1
        assert _sk(client).sk_state == TCP_CLOSE
        with raises_errno(errno.ECONNRESET):
            while await server.recv(1 << 20):
                pass
        server.close()


def _sk(sock: netsim.Socket) -> TcpSock:
    sk = sock.sk
    assert isinstance(sk, TcpSock)
    return sk


@STALLED_READER
async def test_linger_time_makes_aclose_wait_for_the_fin_to_be_acked(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``sk_stream_wait_close``: with a linger time, ``aclose()`` returns once our FIN is
    acknowledged — 40 ms later on loopback, where the peer's ACK of a FIN is a delayed one
    (``tcp_fin`` enters pingpong mode) — or when the time runs out while the peer's window
    is shut (the data is not discarded: it keeps going out, as on Linux)."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, AF_INET)
        client.setsockopt(SOL_SOCKET, SO_LINGER, _linger(1, 3))
        await client.send(b"a" * 1000)
        start = trio.current_time()
        await client.aclose()
        assert trio.current_time() - start == pytest.approx(0.04)  # the delayed ACK's ato
        # the orphan in FIN_WAIT2 is a timewait socket now (tcp_time_wait, TCP_FIN_WAIT2)
        assert _sk(client).sk_state == TCP_CLOSE
        (tw,) = [sk for sk in host.net.tcp_ehash.values() if sk.sk_state == TCP_TIME_WAIT]
        assert isinstance(tw, TcpSock)
        assert tw.tw_substate == TCP_FIN_WAIT2
        assert await server.recv(2000) == b"a" * 1000
        server.close()

        client, server = await _pair(host, AF_INET)  # the server reads nothing yet
        client.setsockopt(SOL_SOCKET, SO_LINGER, _linger(1, 3))
        sent = 0
        with trio.move_on_after(1):
            sent = await client.send(b"b" * 5_000_000)  # cut short: returns what it queued
        assert 0 < sent < 5_000_000
        start = trio.current_time()
        await client.aclose()
        assert trio.current_time() - start == pytest.approx(3)
        assert _sk(client).sk_state == TCP_FIN_WAIT1  # still sending
        got = 0
        while chunk := await server.recv(1 << 16):
            got += len(chunk)
        assert got == sent
        server.close()


async def test_linger2_negative_skips_fin_wait2(autojump_clock: trio.testing.MockClock) -> None:
    """``TCP_LINGER2`` < 0: an orphan does not wait in ``FIN_WAIT2`` — closing there resets
    (``TCPAbortOnLinger``); the value reads back as -1, and a large one is capped at 120."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, AF_INET)
        assert client.getsockopt(IPPROTO_TCP, TCP_LINGER2) == 60  # net.ipv4.tcp_fin_timeout
        client.setsockopt(IPPROTO_TCP, TCP_LINGER2, 1000)
        assert client.getsockopt(IPPROTO_TCP, TCP_LINGER2) == 120
        client.setsockopt(IPPROTO_TCP, TCP_LINGER2, -5)
        assert client.getsockopt(IPPROTO_TCP, TCP_LINGER2) == -1
        client.shutdown(1)  # FIN, acked: FIN_WAIT2 while we still hold the socket
        await trio.sleep(0.001)  # the ACK of a FIN is delayed (ato 0: no data came before)
        assert _sk(client).sk_state == TCP_FIN_WAIT2
        client.close()
        assert host.stats()["TcpExtTCPAbortOnLinger"] == 1
        assert _sk(client).sk_state == TCP_CLOSE
        # the peer had our FIN, then the RST: EOF first, then the reset shows as EPIPE
        assert await server.recv(10) == b""
        with raises_errno(errno.EPIPE):
            await server.send(b"x")
        server.close()


@FAMILIES
async def test_reuseaddr_lets_only_one_socket_listen(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``SO_REUSEADDR`` lets two sockets bind one port, but the second ``listen`` is
    ``EADDRINUSE`` (``inet_csk_listen_start`` asks ``get_port`` again) and leaves it
    closed; once the first listener is gone, it may listen."""
    async with netsim.open_host() as host:
        a = host.socket(family, SOCK_STREAM)
        b = host.socket(family, SOCK_STREAM)
        for s in (a, b):
            s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        await a.bind((LOCAL[family], 0))
        port = a.getsockname()[1]
        await b.bind((LOCAL[family], port))
        a.listen(5)
        with raises_errno(errno.EADDRINUSE):
            b.listen(5)
        assert _sk(b).sk_state == TCP_CLOSE
        a.close()
        b.listen(5)
        client = host.socket(family, SOCK_STREAM)
        await client.connect((LOCAL[family], port))
        server, _ = await b.accept()
        for s in (client, server, b):
            s.close()


@pytest.mark.netsim_capture_allow(
    "tcp.analysis.retransmission",
    reason="the SYN-ACK is 10 s away: the SYN is sent again after 1 s, then connect is cancelled",
)
async def test_a_cancelled_connect_closes_the_socket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """As trio's own sockets do: a connect cancelled while it waits (here for a SYN-ACK
    still 10 s away) closes the socket — later calls are ``EBADF`` and the half-open
    connection is gone, not left in ``SYN_SENT`` to answer ``EALREADY``."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b, delay=10.0)
        sock = a.socket(AF_INET, SOCK_STREAM)
        with trio.move_on_after(1):
            await sock.connect(("10.0.0.2", 80))
        assert sock.fileno() == -1
        with raises_errno(errno.EBADF):
            await sock.connect(("10.0.0.2", 80))
        assert not a.net.tcp_ehash
        assert _sk(sock).sk_state == TCP_CLOSE
        # cancelled before it starts: closed too (trio checks for cancellation first)
        early = a.socket(AF_INET, SOCK_STREAM)
        with trio.CancelScope() as scope:
            scope.cancel()
            await early.connect(("10.0.0.2", 80))
        assert early.fileno() == -1
        assert a.stats()["TcpActiveOpens"] == 1


async def test_recv_into_a_read_only_buffer_takes_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Python checks the buffer before the system call: ``TypeError``, and the datagram is
    still there for the next read."""
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("127.0.0.1", 0))
        tx = host.socket(AF_INET, SOCK_DGRAM)
        await tx.sendto(b"keep me", rx.getsockname())
        for bad in (b"12345678", memoryview(b"12345678"), None):
            with pytest.raises(TypeError, match="must be read-write bytes-like object"):
                await rx.recv_into(bad)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="must be read-write bytes-like object"):
                await rx.recvfrom_into(bad)  # type: ignore[arg-type]
        buf = bytearray(16)
        with pytest.raises(ValueError, match="negative buffersize in recv_into"):
            await rx.recv_into(buf, -1)
        assert await rx.recv_into(buf) == 7
        assert bytes(buf[:7]) == b"keep me"
        rx.close()
        tx.close()


async def test_a_cancelled_waitall_read_returns_what_it_copied(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``tcp_recvmsg_locked`` with ``MSG_WAITALL``, interrupted after copying: it returns the
    bytes copied (they are off the queue and must not be lost)."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, AF_INET)
        await client.send(b"abc")
        got = b""
        with trio.move_on_after(0.2):
            got = await server.recv(6, netsim.MSG_WAITALL)
        assert got == b"abc"
        await client.send(b"def")
        assert await server.recv(10) == b"def"
        client.close()
        server.close()


@SIMULTANEOUS_OPEN
async def test_crossed_syns_make_one_connection(autojump_clock: trio.testing.MockClock) -> None:
    """A simultaneous open (``tcp_rcv_synsent_state_process``, a SYN without ACK): two
    hosts bound to fixed ports connect to each other at the same moment; each answers the
    other's SYN with a SYN-ACK from ``SYN_RECV``, and both connections complete — one
    connection, data both ways."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b, delay=0.01)
        sa = a.socket(AF_INET, SOCK_STREAM)
        sb = b.socket(AF_INET, SOCK_STREAM)
        await sa.bind(("10.0.0.1", 4000))
        await sb.bind(("10.0.0.2", 5000))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sa.connect, ("10.0.0.2", 5000))
            nursery.start_soon(sb.connect, ("10.0.0.1", 4000))
        assert sa.getpeername() == ("10.0.0.2", 5000)
        assert sb.getpeername() == ("10.0.0.1", 4000)
        await sa.send(b"from a")
        await sb.send(b"from b")
        assert await sb.recv(10) == b"from a"
        assert await sa.recv(10) == b"from b"
        assert a.stats()["TcpActiveOpens"] == b.stats()["TcpActiveOpens"] == 1
        sa.close()
        sb.close()
