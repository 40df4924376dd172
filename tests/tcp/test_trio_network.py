"""Unmodified trio code over emulated TCP: ``host.as_trio_network()`` installs the host as
trio's socket factory and hostname resolver (``trio.socket.set_custom_socket_factory`` /
``set_custom_hostname_resolver``), so ``trio.open_tcp_stream``, ``trio.serve_tcp``,
``trio.open_tcp_listeners`` and ``trio.testing.open_stream_to_socket_listener`` run on it as
they are; ``Host.open_tcp_stream`` / ``Host.open_tcp_listener`` give the same objects without
touching trio's globals.

(No test here makes a real socket: inside an autojump run real I/O would race virtual time.)
"""

from __future__ import annotations

import errno
import socket as stdlib_socket
from functools import partial

import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, AF_INET6, IPPROTO_TCP, SOCK_STREAM, TCP_NODELAY, TCP_NOTSENT_LOWAT
from netsim.tcp import TcpSock

FAMILIES = pytest.mark.parametrize("family", [AF_INET, AF_INET6], ids=["ipv4", "ipv6"])
LOCAL = {AF_INET: "127.0.0.1", AF_INET6: "::1"}


def _tcp(stream: trio.SocketStream) -> TcpSock:
    sock = stream.socket
    assert isinstance(sock, netsim.Socket)
    sk = sock.sk
    assert isinstance(sk, TcpSock)
    return sk


async def _echo(stream: trio.SocketStream) -> None:
    """A server handler written against trio only: echo until EOF, then close."""
    async with stream:
        async for chunk in stream:
            await stream.send_all(chunk)


async def _round_trip(stream: trio.abc.Stream, message: bytes) -> bytes:
    await stream.send_all(message)
    got = bytearray()
    while len(got) < len(message):
        chunk = await stream.receive_some(1 << 16)
        assert chunk, "EOF before the echo came back"
        got += chunk
    return bytes(got)


# -- trio's own helpers, unmodified ------------------------------------------------------------


@FAMILIES
async def test_serve_tcp_and_open_tcp_stream(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        with host.as_trio_network():
            async with trio.open_nursery() as nursery:
                listeners: list[trio.SocketListener] = await nursery.start(
                    partial(trio.serve_tcp, _echo, 0, host=LOCAL[family])
                )
                (listener,) = listeners
                sock = listener.socket
                assert isinstance(sock, netsim.Socket)
                assert sock.host is host
                assert sock.family == family
                port = sock.getsockname()[1]
                assert port > 0

                stream = await trio.open_tcp_stream(LOCAL[family], port)
                assert isinstance(stream, trio.SocketStream)
                assert isinstance(stream.socket, netsim.Socket)
                assert stream.socket.getpeername()[:2] == (LOCAL[family], port)
                message = bytes(range(256)) * 400  # 100 KiB, more than one segment goal
                assert await _round_trip(stream, message) == message
                await stream.send_eof()
                assert await stream.receive_some() == b""  # the handler saw EOF and closed
                await stream.aclose()
                nursery.cancel_scope.cancel()
        assert host.stats()["TcpActiveOpens"] == 1
        assert host.stats()["TcpPassiveOpens"] == 1


async def test_open_tcp_stream_by_name_localhost(autojump_clock: trio.testing.MockClock) -> None:
    """``localhost`` resolves to both loopback addresses; happy eyeballs tries them in turn
    and the one with a listener wins (the other gets ``ECONNREFUSED`` from an RST)."""
    async with netsim.open_host() as host:
        listener = await host.open_tcp_listener(0, host="::1")
        port = listener.socket.getsockname()[1]
        with host.as_trio_network():
            stream = await trio.open_tcp_stream("localhost", port)
        server = await listener.accept()
        assert stream.socket.getpeername()[:2] == ("::1", port)
        await stream.send_all(b"by name")
        assert await server.receive_some() == b"by name"
        for resource in (stream, server, listener):
            await resource.aclose()


async def test_open_tcp_listeners_wildcard_both_families(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``host=None``: one listener per wildcard address, the IPv6 one ``IPV6_V6ONLY`` as trio
    sets it; each accepts its own family."""
    async with netsim.open_host() as host:
        with host.as_trio_network():
            listeners = await trio.open_tcp_listeners(0)
            assert {listener.socket.family for listener in listeners} == {AF_INET, AF_INET6}
            for listener in listeners:
                sock = listener.socket
                assert isinstance(sock, netsim.Socket)
                assert sock.getsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_REUSEADDR)
                if sock.family == AF_INET6:
                    assert sock.getsockopt(stdlib_socket.IPPROTO_IPV6, stdlib_socket.IPV6_V6ONLY)
                # open_stream_to_socket_listener turns the wildcard into a loopback address
                client = await trio.testing.open_stream_to_socket_listener(listener)
                server = await listener.accept()
                assert isinstance(server, trio.SocketStream)
                local = LOCAL[int(sock.family)]
                assert server.socket.getpeername()[0] == local
                await client.send_all(b"hello " + local.encode())
                assert await server.receive_some() == b"hello " + local.encode()
                await client.aclose()
                await server.aclose()
            for listener in listeners:
                await listener.aclose()


async def test_serve_tcp_many_clients(autojump_clock: trio.testing.MockClock) -> None:
    """Several clients at once, each with its own handler task."""
    async with netsim.open_host() as host:
        with host.as_trio_network():
            async with trio.open_nursery() as nursery:
                listeners = await nursery.start(partial(trio.serve_tcp, _echo, 7000))
                assert {listener.socket.getsockname()[1] for listener in listeners} == {7000}

                async def client(i: int) -> None:
                    stream = await trio.open_tcp_stream("localhost", 7000)
                    async with stream:
                        message = f"client {i} ".encode() * (i * 500 + 1)
                        assert await _round_trip(stream, message) == message

                async with trio.open_nursery() as clients:
                    for i in range(8):
                        clients.start_soon(client, i)
                nursery.cancel_scope.cancel()
        assert host.stats()["TcpPassiveOpens"] == 8


async def test_connect_refused(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        with host.as_trio_network():
            with pytest.raises(OSError, match="all attempts to connect") as info:
                await trio.open_tcp_stream("127.0.0.1", 9)
            cause = info.value.__cause__
            assert isinstance(cause, ExceptionGroup)
            (refused,) = cause.exceptions
            assert isinstance(refused, OSError)
            assert refused.errno == errno.ECONNREFUSED


# -- Host.open_tcp_stream / open_tcp_listener --------------------------------------------------


@FAMILIES
async def test_host_helpers_return_trio_objects(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        listener = await host.open_tcp_listener(0, host=LOCAL[family])
        assert isinstance(listener, trio.SocketListener)
        assert isinstance(listener, trio.abc.Listener)
        lsock = listener.socket
        assert isinstance(lsock, netsim.Socket)
        assert lsock.family == family
        assert lsock.getsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_ACCEPTCONN) == 1
        port = lsock.getsockname()[1]

        client = await host.open_tcp_stream(LOCAL[family], port)
        assert isinstance(client, trio.SocketStream)
        assert isinstance(client, trio.abc.HalfCloseableStream)
        server = await listener.accept()
        assert isinstance(server, trio.SocketStream)
        # trio.SocketStream sets TCP_NODELAY and TCP_NOTSENT_LOWAT = 16 KiB on both ends
        for stream in (client, server):
            assert stream.getsockopt(IPPROTO_TCP, TCP_NODELAY) == 1
            assert stream.getsockopt(IPPROTO_TCP, TCP_NOTSENT_LOWAT) == 16384
            assert _tcp(stream).notsent_lowat == 16384
        assert client.socket.getsockname() == server.socket.getpeername()
        assert client.socket.getpeername() == server.socket.getsockname()

        assert await _round_trip_pair(client, server, b"ping") == b"ping"
        for resource in (client, server, listener):
            await resource.aclose()


async def _round_trip_pair(
    client: trio.SocketStream, server: trio.SocketStream, message: bytes
) -> bytes:
    await client.send_all(message)
    got = await server.receive_some()
    await server.send_all(got)
    return await client.receive_some()


async def test_host_listener_default_is_dual_stack(autojump_clock: trio.testing.MockClock) -> None:
    """``open_tcp_listener(port)`` with no host: an IPv6 wildcard socket that also takes IPv4
    (``IPV6_V6ONLY`` off), so IPv4 peers show up as v4-mapped addresses."""
    async with netsim.open_host() as host:
        listener = await host.open_tcp_listener(0)
        port = listener.socket.getsockname()[1]
        assert listener.socket.family == AF_INET6
        for address, peer in (("127.0.0.1", "::ffff:127.0.0.1"), ("::1", "::1")):
            client = await host.open_tcp_stream(address, port)
            server = await listener.accept()
            assert server.socket.getpeername()[0] == peer
            await client.aclose()
            await server.aclose()
        await listener.aclose()


async def test_setsockopt_through_socket_stream(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        listener = await host.open_tcp_listener(0, host="127.0.0.1")
        client = await host.open_tcp_stream("127.0.0.1", listener.socket.getsockname()[1])
        server = await listener.accept()
        await listener.aclose()
        sk = _tcp(client)
        client.setsockopt(IPPROTO_TCP, TCP_NODELAY, False)
        assert client.getsockopt(IPPROTO_TCP, TCP_NODELAY) == 0
        assert not sk.nonagle & 1  # TCP_NAGLE_OFF
        client.setsockopt(IPPROTO_TCP, TCP_NODELAY, True)
        assert client.getsockopt(IPPROTO_TCP, TCP_NODELAY) == 1
        assert sk.nonagle & 1
        # the raw-buffer form trio passes through
        assert client.getsockopt(IPPROTO_TCP, TCP_NODELAY, 4) == (1).to_bytes(4, "little")
        with pytest.raises(OSError, match=rf"^\[Errno {errno.ENOPROTOOPT}\] "):
            client.setsockopt(IPPROTO_TCP, 9999, 1)
        await client.aclose()
        await server.aclose()


# -- half-close and close ------------------------------------------------------------------------


async def _stream_pair(
    host: netsim.Host, family: int = AF_INET
) -> tuple[trio.SocketStream, trio.SocketStream]:
    listener = await host.open_tcp_listener(0, host=LOCAL[family])
    client = await host.open_tcp_stream(LOCAL[family], listener.socket.getsockname()[1])
    server = await listener.accept()
    await listener.aclose()
    assert isinstance(server, trio.SocketStream)
    return client, server


@FAMILIES
async def test_send_eof_half_close(family: int, autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        client, server = await _stream_pair(host, family)
        await client.send_all(b"request")
        await client.send_eof()
        assert client.socket.did_shutdown_SHUT_WR
        await client.send_eof()  # idempotent
        with pytest.raises(trio.ClosedResourceError):
            await client.send_all(b"more")
        # the server reads the request, then EOF — and can still answer
        got = b""
        while chunk := await server.receive_some():
            got += chunk
        assert got == b"request"
        assert _tcp(server).sk_state == 8  # TCP_CLOSE_WAIT
        await server.send_all(b"response")
        await server.aclose()
        got = b""
        while chunk := await client.receive_some():
            got += chunk
        assert got == b"response"
        await client.aclose()


async def test_aclose_semantics(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        client, server = await _stream_pair(host)
        sock = client.socket
        await client.aclose()
        assert sock.fileno() == -1
        await client.aclose()  # idempotent
        with pytest.raises(trio.ClosedResourceError):
            await client.send_all(b"x")
        with pytest.raises(trio.ClosedResourceError):
            await client.receive_some()
        with pytest.raises(trio.ClosedResourceError):
            await client.send_eof()
        # the peer sees an orderly EOF
        assert await server.receive_some() == b""
        # writing to a peer that is gone: the write draws an RST (tcp_rcv_state_process:
        # data for a closed socket), and the next write fails
        await server.send_all(b"anyone there?")
        await trio.sleep(0.1)
        with pytest.raises(trio.BrokenResourceError):
            await server.send_all(b"anyone there?")
        await server.aclose()


async def test_aclose_wakes_a_blocked_reader(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        client, server = await _stream_pair(host)
        async with trio.open_nursery() as nursery:

            async def reader() -> None:
                with pytest.raises(trio.ClosedResourceError):
                    await client.receive_some()

            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            await client.aclose()
        await server.aclose()


async def test_cancelled_aclose_still_closes(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        client, server = await _stream_pair(host)
        with trio.CancelScope() as scope:
            scope.cancel()
            await client.aclose()
        assert client.socket.fileno() == -1
        assert await server.receive_some() == b""
        await server.aclose()


async def test_unread_data_at_close_resets(autojump_clock: trio.testing.MockClock) -> None:
    """Closing with unread data sends an RST (``tcp_close``), so the peer's next receive
    fails with ``BrokenResourceError`` (``ECONNRESET``) rather than a clean EOF."""
    async with netsim.open_host() as host:
        client, server = await _stream_pair(host)
        await client.send_all(b"unread")
        await trio.testing.wait_all_tasks_blocked()
        await server.aclose()
        assert host.stats()["TcpExtTCPAbortOnClose"] == 1
        with pytest.raises(trio.BrokenResourceError) as info:
            await client.receive_some()
        assert isinstance(info.value.__cause__, OSError)
        assert info.value.__cause__.errno == errno.ECONNRESET
        await client.aclose()


# -- two hosts, by name ------------------------------------------------------------------------


@pytest.mark.parametrize("family", [None, AF_INET, AF_INET6], ids=["any", "ipv4", "ipv6"])
async def test_two_hosts_by_name(
    family: int | None, autojump_clock: trio.testing.MockClock
) -> None:
    """After ``netsim.link`` each host knows the other's name: trio code on the client dials
    ``"server"`` and reaches the server host over the link."""
    async with (
        netsim.open_host(name="client") as client_host,
        netsim.open_host(name="server", seed=1) as server_host,
    ):
        netsim.link(client_host, server_host, mtu=1500, rate=100e6, delay=0.005)
        async with trio.open_nursery() as nursery:
            with server_host.as_trio_network():
                listeners = await nursery.start(partial(trio.serve_tcp, _echo, 8080))
            assert all(isinstance(listener.socket, netsim.Socket) for listener in listeners)
            with client_host.as_trio_network():
                if family is None:
                    stream = await trio.open_tcp_stream("server", 8080)
                    expected = "10.0.0.2"  # getaddrinfo's first answer
                else:
                    infos = await trio.socket.getaddrinfo(
                        "server", 8080, family=family, type=SOCK_STREAM
                    )
                    address = infos[0][4][0]
                    assert isinstance(address, str)
                    stream = await trio.open_tcp_stream(address, 8080)
                    expected = "10.0.0.2" if family == AF_INET else "fd00::2"
                sock = stream.socket
                assert isinstance(sock, netsim.Socket)
                assert sock.host is client_host
                assert sock.getpeername()[0] == expected
                start = trio.current_time()
                message = b"over the wire " * 1000
                assert await _round_trip(stream, message) == message
                # at least one round trip of propagation delay
                assert trio.current_time() - start >= 2 * 0.005
                await stream.aclose()
            nursery.cancel_scope.cancel()
        assert client_host.devices["eth0"].tx_packets > 0
        assert server_host.stats()["TcpPassiveOpens"] == 1
