"""TCP's errors and resets, with Linux's errno for each (checked against a real 6.18 kernel):
an abortive close (net/ipv4/tcp.c ``__tcp_close``: unread data → RST), what the peer's calls
report after it (``tcp_reset``: ``ECONNRESET``, or ``EPIPE`` in CLOSE_WAIT; ``sock_error``
reports it once, then ``tcp_sendmsg_locked`` says ``EPIPE`` and ``tcp_recvmsg_locked`` EOF),
and the calls a socket's state forbids (``__inet_stream_connect``, ``inet_listen``,
``__inet_bind``, ``inet_csk_accept``, ``inet_shutdown``).

The lifecycle itself is in ``test_lifecycle.py``.
"""

from __future__ import annotations

import errno
import io
from contextlib import AbstractContextManager
from typing import Any

import dpkt
import pytest
import trio
import trio.testing

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    MSG_DONTWAIT,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
    SO_REUSEADDR,
    SOCK_STREAM,
    SOL_SOCKET,
)
from netsim.sock.sock import TCP_CLOSE, TCP_CLOSE_WAIT, TCP_ESTABLISHED, TCP_FIN_WAIT2, TCP_LAST_ACK
from netsim.tcp import TcpSock

FAMILIES = pytest.mark.parametrize("family", [AF_INET, AF_INET6], ids=["ipv4", "ipv6"])
ALLOCATORS = pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])
LOCAL = {AF_INET: "127.0.0.1", AF_INET6: "::1"}
ANY = {AF_INET: "0.0.0.0", AF_INET6: "::"}


def raises_errno(code: int) -> AbstractContextManager[pytest.ExceptionInfo[OSError]]:
    """``pytest.raises`` for an ``OSError`` carrying exactly ``code`` (Linux's errno)."""
    return pytest.raises(OSError, match=rf"^\[Errno {code}\] ")


def _tcp(sock: netsim.Socket) -> TcpSock:
    sk = sock.sk
    assert isinstance(sk, TcpSock)
    return sk


async def _pair(host: netsim.Host, family: int) -> tuple[netsim.Socket, netsim.Socket]:
    """A connected ``(client, server)`` on loopback; the listener is closed again."""
    listener = host.socket(family, SOCK_STREAM)
    await listener.bind((LOCAL[family], 0))
    listener.listen(1)
    client = host.socket(family, SOCK_STREAM)
    await client.connect(listener.getsockname())
    server, _ = await listener.accept()
    listener.close()
    return client, server


def _segments(capture: io.BytesIO, family: int) -> list[Any]:
    capture.seek(0)
    out = []
    for _ts, raw in dpkt.pcap.Reader(capture):
        ip = dpkt.ip.IP(raw) if family == AF_INET else dpkt.ip6.IP6(raw)
        out.append(ip.data)
    return out


async def _reset_by_peer(host: netsim.Host, family: int) -> tuple[netsim.Socket, io.BytesIO]:
    """``client`` sends, the server closes without reading: the server's RST reaches the
    client.  Returns the client and a capture of the abort."""
    client, server = await _pair(host, family)
    await client.send(b"never read")
    capture = io.BytesIO()
    with host.capture(capture):
        server.close()
    return client, capture


# -- an abortive close ---------------------------------------------------------------------------


@ALLOCATORS
@FAMILIES
async def test_close_with_unread_data_resets_and_the_peer_sees_econnreset(
    family: int, allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """``close()`` with unread data sends RST|ACK instead of a FIN (``TCPAbortOnClose``).
    The peer's next ``recv`` raises ``ECONNRESET``; the error is reported once, after which
    ``recv`` returns EOF and ``send`` raises ``EPIPE``."""
    async with netsim.open_host(allocator=allocator) as host:
        client, capture = await _reset_by_peer(host, family)
        (rst,) = _segments(capture, family)
        assert rst.flags == dpkt.tcp.TH_RST | dpkt.tcp.TH_ACK
        assert rst.dport == client.getsockname()[1]
        assert rst.seq == _tcp(client).rcv_nxt & 0xFFFFFFFF
        stats = host.stats()
        assert stats["TcpExtTCPAbortOnClose"] == 1
        assert stats["TcpOutRsts"] == 1
        assert stats["TcpEstabResets"] == 1
        sk = _tcp(client)
        assert sk.sk_state == TCP_CLOSE
        assert sk.sk_err == errno.ECONNRESET
        assert not host.net.tcp_ehash  # both ends left the tables

        with pytest.raises(ConnectionResetError) as excinfo:
            await client.recv(100)
        assert excinfo.value.errno == errno.ECONNRESET
        assert await client.recv(100) == b""
        with pytest.raises(BrokenPipeError) as broken:
            await client.send(b"anyone?")
        assert broken.value.errno == errno.EPIPE
        with pytest.raises(BrokenPipeError):
            await client.send(b"anyone?")
        client.close()
        assert not host.net.sockets


@FAMILIES
async def test_the_first_send_after_a_reset_reports_it(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Without a ``recv`` in between, the pending ``ECONNRESET`` goes to the first ``send``
    (``sk_stream_wait_connect`` → ``sock_error``); the next one is ``EPIPE``, and ``recv``
    finds nothing left to report: EOF."""
    async with netsim.open_host() as host:
        client, _ = await _reset_by_peer(host, family)
        with raises_errno(errno.ECONNRESET):
            await client.send(b"x")
        with raises_errno(errno.EPIPE):
            await client.send(b"x")
        assert await client.recv(10) == b""
        client.close()


@FAMILIES
async def test_a_reset_during_a_blocked_send_ends_it_short_and_the_next_send_reports_it(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """A ``send`` that queued part of its buffer and is asleep for room when the peer's RST
    arrives returns the short count (``do_error:`` with ``copied``) and leaves ``sk_err``
    alone: the next ``send`` is ``ECONNRESET``, the one after ``EPIPE``."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family)
        client.setsockopt(netsim.SOL_SOCKET, netsim.SO_SNDBUF, 4608)
        big = bytes(1 << 20)  # far more than the window and sndbuf hold: the send must sleep
        result: list[int] = []
        async with trio.open_nursery() as nursery:

            async def sender() -> None:
                result.append(await client.send(big))

            nursery.start_soon(sender)
            await trio.testing.wait_all_tasks_blocked()
            assert not result, "the send is asleep, waiting for room"
            assert _tcp(client).sk_state == TCP_ESTABLISHED
            server.close()  # unread data: an abortive close, RST to the client
        (short,) = result
        assert 0 < short < len(big)
        with raises_errno(errno.ECONNRESET):
            await client.send(b"x")
        with raises_errno(errno.EPIPE):
            await client.send(b"x")
        client.close()


@FAMILIES
async def test_data_that_arrived_before_the_reset_is_still_read(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``tcp_reset`` does not purge the receive queue: what arrived first is read first, and
    the error comes after it."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family)
        await server.send(b"goodbye")
        await client.send(b"unread")
        server.close()
        assert await client.recv(100) == b"goodbye"
        with raises_errno(errno.ECONNRESET):
            await client.recv(100)
        client.close()


@FAMILIES
async def test_a_reset_in_close_wait_is_epipe_and_recv_keeps_saying_eof(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """The peer shut its side (FIN: we are in CLOSE_WAIT), then closed with our data unread
    (RST).  ``tcp_reset`` records ``EPIPE`` for a CLOSE_WAIT socket; ``recv`` still says EOF —
    the FIN set ``SOCK_DONE``, which ``tcp_recvmsg_locked`` tests before ``sk_err`` — and
    the next ``send`` gets the ``EPIPE``."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family)
        await client.send(b"never read")
        server.shutdown(SHUT_WR)
        assert client.sk.sk_state == TCP_CLOSE_WAIT
        assert await client.recv(100) == b""
        server.close()
        sk = _tcp(client)
        assert sk.sk_state == TCP_CLOSE
        assert sk.sk_err == errno.EPIPE
        assert await client.recv(100) == b""
        assert sk.sk_err == errno.EPIPE  # still pending
        with raises_errno(errno.EPIPE):
            await client.send(b"x")
        assert sk.sk_err == 0
        assert host.stats()["TcpEstabResets"] == 1
        client.close()


async def test_a_closed_connection_answers_late_data_with_a_reset(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The peer shut its writing side and then closed: the orphan in FIN_WAIT2 became a
    timewait socket in the FIN_WAIT2 substate.  Data that still comes for it cannot be
    delivered: RST (``TCP_TW_RST``, which kills the timewait socket and, as on the 6.18 host,
    counts no ``TCPAbortOnData``).  The sender got the peer's FIN before, so it was in
    CLOSE_WAIT: its next ``send`` says ``EPIPE`` and ``recv`` stays at EOF."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, AF_INET)
        server.shutdown(SHUT_WR)
        # the peer's ACK of a FIN is a delayed one (tcp_fin schedules it and enters pingpong
        # mode); with no data received yet its ato is 0: it leaves at the next timer run
        await trio.sleep(0.001)
        assert server.sk.sk_state == TCP_FIN_WAIT2
        assert await client.recv(10) == b""
        server.close()  # nothing unread: no RST yet, the orphan waits for our FIN
        assert server.sk.sk_state == TCP_CLOSE  # ... as a timewait socket
        await client.send(b"too late")
        assert host.stats()["TcpOutRsts"] == 1
        assert host.stats()["TcpExtTCPAbortOnData"] == 0
        assert not host.net.tcp_ehash
        assert client.sk.sk_state == TCP_CLOSE
        with raises_errno(errno.EPIPE):
            await client.send(b"x")
        assert await client.recv(10) == b""
        client.close()
        assert not host.net.sockets


async def test_new_data_after_shutdown_rdwr_is_answered_with_a_reset(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A socket the application still holds but shut down both ways (FIN_WAIT2 with
    ``RCV_SHUTDOWN``) resets on new data, as an orphan does (net/ipv4/tcp_input.c
    ``tcp_rcv_state_process``); checked on the 6.18 host: the sender's next ``send`` is
    ``EPIPE``, the reader's ``recv`` ``ECONNRESET``.  netsim reset only orphans and queued
    the data (found by the property tests)."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, AF_INET)
        client.shutdown(SHUT_RDWR)
        # the peer's ACK of a FIN is a delayed one (tcp_fin schedules it and enters pingpong
        # mode); with no data received yet its ato is 0: it leaves at the next timer run
        await trio.sleep(0.001)
        assert client.sk.sk_state == TCP_FIN_WAIT2
        assert await server.send(b"data") == 4
        assert host.stats()["TcpExtTCPAbortOnData"] == 1
        with raises_errno(errno.EPIPE):
            await server.send(b"more")
        with raises_errno(errno.ECONNRESET):
            await client.recv(10)
        assert await client.recv(10) == b""
        client.close()
        server.close()


@pytest.mark.netsim_capture_allow(
    "tcp.analysis.*",
    "tcp.options.sack.dsack",
    reason="a slow link delays the ACK past the RTO on purpose: the retransmission is the test",
)
async def test_a_retransmission_reaching_a_closed_socket_is_not_new_data(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Over a slow link the client's ACK of the server's 535 bytes waits behind 64 KiB of
    its own data, the server's RTO resends them, and the retransmission reaches the client
    after it closed (an orphan in FIN_WAIT1, still sending).  Only data beyond ``rcv_nxt``
    is new (``tcp_rcv_state_process``: ``after(end_seq - fin, rcv_nxt)``); netsim reset on
    any data, and the server lost the end of the stream (found by the property tests)."""
    size = 65462
    async with (
        netsim.open_host(name="a") as a,
        netsim.open_host(name="b", seed=1) as b,
    ):
        netsim.link(a, b, mtu=9000, rate=1e6, delay=0.05)
        listener = b.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("10.0.0.2", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        await client.connect(("10.0.0.2", 5001))
        server, _ = await listener.accept()
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        assert await client.send(payload, MSG_DONTWAIT) == size
        assert await server.send(b"y" * 535) == 535
        assert await client.recv(1000) == b"y" * 535
        await trio.sleep(0.25)
        client.close()
        got = bytearray()
        while data := await server.recv(size):
            got += data
        assert got == payload
        assert b.stats()["TcpRetransSegs"] > 0  # the retransmission was there
        assert a.stats()["TcpExtTCPAbortOnData"] == 0
        server.close()
        listener.close()


# -- the writing side shut ---------------------------------------------------------------------


@FAMILIES
async def test_send_after_shutdown_wr_is_epipe(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """After ``shutdown(SHUT_WR)`` a send is ``EPIPE`` — in FIN_WAIT2 for the side that shut
    first and in LAST_ACK for the other — and a second ``shutdown`` is harmless."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family)
        client.shutdown(SHUT_WR)
        with pytest.raises(BrokenPipeError) as excinfo:
            await client.send(b"x")
        assert excinfo.value.errno == errno.EPIPE
        client.shutdown(SHUT_WR)
        # the peer's ACK of a FIN is a delayed one (tcp_fin schedules it and enters pingpong
        # mode); with no data received yet its ato is 0: it leaves at the next timer run
        await trio.sleep(0.001)
        assert client.sk.sk_state == TCP_FIN_WAIT2
        assert await server.recv(10) == b""
        await server.send(b"reply")  # CLOSE_WAIT may still send
        server.shutdown(SHUT_WR)
        # the client's ACK is immediate on loopback; LAST_ACK ends at once
        assert server.sk.sk_state in (TCP_LAST_ACK, TCP_CLOSE)
        with raises_errno(errno.EPIPE):
            await server.send(b"x")
        assert await client.recv(10) == b"reply"
        assert await client.recv(10) == b""
        client.close()
        server.close()


async def test_shutdown_rd_keeps_the_connection_and_reads_eof(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``shutdown(SHUT_RD)`` sends nothing (``tcp_shutdown`` acts only on ``SEND_SHUTDOWN``);
    a blocked-for-nothing ``recv`` returns EOF at once, and sending still works."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, AF_INET)
        before = host.stats()["TcpOutSegs"]
        client.shutdown(SHUT_RD)
        assert host.stats()["TcpOutSegs"] == before
        assert await client.recv(10) == b""
        await client.send(b"still here")
        assert await server.recv(100) == b"still here"
        client.close()
        server.close()


# -- calls the state forbids -------------------------------------------------------------------


@FAMILIES
async def test_a_socket_that_never_connected(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(family, SOCK_STREAM)
        assert sock.getsockname()[:2] == (ANY[family], 0)
        with raises_errno(errno.ENOTCONN):
            sock.getpeername()
        with raises_errno(errno.ENOTCONN):
            await sock.recv(10)
        with raises_errno(errno.EPIPE):  # sk_stream_wait_connect: not connecting → EPIPE
            await sock.send(b"x")
        with raises_errno(errno.ENOTCONN):
            sock.shutdown(SHUT_WR)
        with raises_errno(errno.EINVAL):  # inet_csk_accept on a non-listener
            await sock.accept()
        sock.close()
        with raises_errno(errno.EBADF):
            await sock.recv(10)


@FAMILIES
async def test_listener_calls(family: int, autojump_clock: trio.testing.MockClock) -> None:
    """A listener has no stream: ``recv`` is ``ENOTCONN``, ``send`` ``EPIPE``; it cannot be
    bound again (``EINVAL``) nor connect (``EISCONN``: ``__inet_stream_connect`` finds an
    unconnected socket that is not in CLOSE)."""
    async with netsim.open_host() as host:
        listener = host.socket(family, SOCK_STREAM)
        await listener.bind((LOCAL[family], 0))
        listener.listen(4)
        listener.listen(8)  # a second listen() only changes the backlog
        with raises_errno(errno.ENOTCONN):
            await listener.recv(1)
        with raises_errno(errno.EPIPE):
            await listener.send(b"x")
        with raises_errno(errno.EINVAL):
            await listener.bind((LOCAL[family], 0))
        with raises_errno(errno.EISCONN):
            await listener.connect(listener.getsockname())
        with raises_errno(errno.ENOTCONN):
            listener.getpeername()
        listener.close()


@ALLOCATORS
@FAMILIES
async def test_connected_socket_calls(
    family: int, allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """``connect`` again is ``EISCONN``, ``listen`` is ``EINVAL``, ``bind`` is ``EINVAL``;
    a non-blocking ``recv`` with nothing queued is ``EAGAIN`` (``BlockingIOError``)."""
    async with netsim.open_host(allocator=allocator) as host:
        client, server = await _pair(host, family)
        peer = client.getpeername()
        with raises_errno(errno.EISCONN):
            await client.connect(peer)
        with raises_errno(errno.EISCONN):
            await server.connect(client.getsockname())
        with raises_errno(errno.EINVAL):
            client.listen(1)
        with raises_errno(errno.EINVAL):
            await client.bind((LOCAL[family], 0))
        with pytest.raises(BlockingIOError) as excinfo:
            await client.recv(10, MSG_DONTWAIT)
        assert excinfo.value.errno == errno.EAGAIN
        assert client.getpeername() == peer  # nothing changed
        await server.send(b"now there is")
        assert await client.recv(100, MSG_DONTWAIT) == b"now there is"
        client.close()
        server.close()


@FAMILIES
async def test_a_reset_connection_is_still_connected_as_far_as_calls_go(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Unlike a refused connect, a reset does not disconnect the socket (``sock->state``
    stays ``SS_CONNECTED``): ``connect`` is ``EISCONN`` and ``listen`` ``EINVAL``."""
    async with netsim.open_host() as host:
        client, _ = await _reset_by_peer(host, family)
        with raises_errno(errno.EISCONN):
            await client.connect((LOCAL[family], 9))
        with raises_errno(errno.EINVAL):
            client.listen(1)
        client.close()


@FAMILIES
async def test_bind_errors(family: int, autojump_clock: trio.testing.MockClock) -> None:
    """``EADDRINUSE`` for a port a listener holds — even with ``SO_REUSEADDR`` on both, which
    never lets a second socket share a listening port — and ``EADDRNOTAVAIL`` for an address
    the host does not have."""
    async with netsim.open_host() as host:
        listener = host.socket(family, SOCK_STREAM)
        listener.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        await listener.bind((LOCAL[family], 0))
        listener.listen(1)
        other = host.socket(family, SOCK_STREAM)
        with raises_errno(errno.EADDRINUSE):
            await other.bind(listener.getsockname())
        other.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        with raises_errno(errno.EADDRINUSE):
            await other.bind(listener.getsockname())
        with raises_errno(errno.EADDRINUSE):  # the wildcard overlaps the listener
            await other.bind((ANY[family], listener.getsockname()[1]))
        with raises_errno(errno.EADDRNOTAVAIL):
            await other.bind(({AF_INET: "192.0.2.1", AF_INET6: "2001:db8::1"}[family], 0))
        await other.bind((LOCAL[family], 0))  # the failed attempts left it unbound
        other.close()
        listener.close()


async def _fill(sock: netsim.Socket, chunk: bytes) -> tuple[int, BlockingIOError]:
    """``MSG_DONTWAIT`` sends until one is refused: the bytes taken, and the refusal."""
    total = 0
    while True:
        try:
            total += await sock.send(chunk, MSG_DONTWAIT)
        except BlockingIOError as exc:
            return total, exc


@FAMILIES
async def test_nonblocking_send_fills_the_buffer_then_says_eagain(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """With nobody reading, ``MSG_DONTWAIT`` sends are taken until the peer's window and our
    send buffer are full, then ``EAGAIN``; everything taken is delivered intact."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family)
        chunk = bytes(range(256)) * 256  # 64 KiB
        total, refused = await _fill(client, chunk)
        assert refused.errno == errno.EAGAIN
        assert total >= len(chunk)
        got = bytearray()
        while len(got) < total:
            got += await server.recv(total - len(got))
        assert got == (chunk * (total // len(chunk) + 1))[:total]
        client.close()
        server.close()
