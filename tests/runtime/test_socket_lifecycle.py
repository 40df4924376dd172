"""End to end: creating, naming, binding and closing emulated UDP sockets, with Linux's errnos
(net/socket.c ``__sock_create``, net/ipv4/af_inet.c ``inet_create``/``__inet_bind``,
net/ipv6/af_inet6.c ``__inet6_bind``, net/ipv4/udp.c ``udp_lib_get_port``)."""

from __future__ import annotations

import errno
import socket as stdlib_socket
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager

import pytest
import trio
import trio.testing

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    IPPROTO_UDP,
    IPV6_V6ONLY,
    SO_RCVBUF,
    SO_REUSEADDR,
    SOCK_DGRAM,
    SOL_IPV6,
    SOL_SOCKET,
)

LO4 = "127.0.0.1"
LO6 = "::1"


def raises_errno(code: int) -> AbstractContextManager[pytest.ExceptionInfo[OSError]]:
    """``pytest.raises`` for an ``OSError`` carrying exactly ``code``."""
    return pytest.raises(OSError, match=rf"^\[Errno {code}\] ")


def _errno(exc: BaseException) -> int | None:
    assert isinstance(exc, OSError)
    return exc.errno


# -- socket(2) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "type_", "proto", "expected"),
    [
        (1, SOCK_DGRAM, 0, errno.EAFNOSUPPORT),  # AF_UNIX
        (17, SOCK_DGRAM, 0, errno.EAFNOSUPPORT),  # AF_PACKET
        (AF_INET, 5, 0, errno.ESOCKTNOSUPPORT),  # SOCK_SEQPACKET
        (AF_INET6, 3, 0, errno.ESOCKTNOSUPPORT),  # SOCK_RAW is not emulated
        (AF_INET, SOCK_DGRAM, 6, errno.EPROTONOSUPPORT),  # UDP socket asking for TCP
        (AF_INET6, SOCK_DGRAM, 132, errno.EPROTONOSUPPORT),  # SCTP
    ],
)
async def test_socket_creation_errors(
    family: int, type_: int, proto: int, expected: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        with pytest.raises(OSError, match=r"\[Errno") as info:
            host.socket(family, type_, proto)
        assert info.value.errno == expected
        assert not host._sockets


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_identity_family_type_proto(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        for proto in (0, IPPROTO_UDP):
            sock = host.socket(family, SOCK_DGRAM, proto)
            assert sock.family == family
            assert isinstance(sock.family, stdlib_socket.AddressFamily)
            assert sock.type == SOCK_DGRAM
            assert isinstance(sock.type, stdlib_socket.SocketKind)
            assert sock.proto == IPPROTO_UDP  # 0 means "the default protocol": UDP
            assert isinstance(sock, trio.socket.SocketType)
            sock.close()


async def test_sock_nonblock_cloexec_flags_are_stripped_from_type(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM | netsim.SOCK_NONBLOCK | netsim.SOCK_CLOEXEC)
        assert sock.type == SOCK_DGRAM


async def test_fileno_unique_and_minus_one_after_close(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        socks = [host.socket(AF_INET if i % 2 else AF_INET6, SOCK_DGRAM) for i in range(6)]
        fds = [s.fileno() for s in socks]
        assert len(set(fds)) == len(fds)
        assert all(fd >= 0 for fd in fds)
        socks[2].close()
        assert socks[2].fileno() == -1
        # a new socket never reuses a number that another live socket holds
        fresh = host.socket(AF_INET, SOCK_DGRAM)
        live = [s.fileno() for s in socks if s.fileno() != -1]
        assert fresh.fileno() not in live
        for s in socks:
            s.close()
        assert all(s.fileno() == -1 for s in socks)


async def test_every_call_after_close_is_ebadf(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        peer = host.socket(AF_INET, SOCK_DGRAM)
        await peer.bind((LO4, 0))
        sock = host.socket(AF_INET, SOCK_DGRAM)
        await sock.connect(peer.getsockname())
        sock.close()
        sock.close()  # idempotent
        assert sock.fileno() == -1

        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "send": lambda: sock.send(b"x"),
            "sendto": lambda: sock.sendto(b"x", peer.getsockname()),
            "sendmsg": lambda: sock.sendmsg([b"x"]),
            "recv": lambda: sock.recv(10),
            "recvfrom": lambda: sock.recvfrom(10),
            "recv_into": lambda: sock.recv_into(bytearray(10)),
            "recvfrom_into": lambda: sock.recvfrom_into(bytearray(10)),
            "recvmsg": lambda: sock.recvmsg(10),
            "bind": lambda: sock.bind((LO4, 0)),
            "connect": lambda: sock.connect(peer.getsockname()),
            "wait_writable": lambda: sock.wait_writable(),
        }
        for call in calls.values():
            with raises_errno(errno.EBADF):
                await call()

        sync_calls: dict[str, Callable[[], object]] = {
            "getsockname": sock.getsockname,
            "getpeername": sock.getpeername,
            "getsockopt": lambda: sock.getsockopt(SOL_SOCKET, SO_RCVBUF),
            "setsockopt": lambda: sock.setsockopt(SOL_SOCKET, SO_RCVBUF, 4096),
            "shutdown": lambda: sock.shutdown(stdlib_socket.SHUT_RDWR),
        }
        for sync_call in sync_calls.values():
            with raises_errno(errno.EBADF):
                sync_call()
        assert sock.is_readable()  # a closed socket polls readable (POLLNVAL), as trio expects


async def test_with_block_closes_the_socket(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        with host.socket(AF_INET, SOCK_DGRAM) as sock:
            await sock.bind((LO4, 0))
            port = sock.getsockname()[1]
            assert sock.fileno() >= 0
        assert sock.fileno() == -1
        # the port went back: another socket can bind it
        again = host.socket(AF_INET, SOCK_DGRAM)
        await again.bind((LO4, port))
        assert again.getsockname() == (LO4, port)


async def test_host_exit_closes_open_sockets(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        await sock.bind((LO4, 0))
        await sock.sendto(b"queued and never read", sock.getsockname())
    assert sock.fileno() == -1
    with raises_errno(errno.EBADF):
        host.socket(AF_INET, SOCK_DGRAM)


# -- names -------------------------------------------------------------------------------------


async def test_getsockname_getpeername_v4(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        assert sock.getsockname() == ("0.0.0.0", 0)
        with raises_errno(errno.ENOTCONN):
            sock.getpeername()
        await sock.bind(("", 0))
        host_part, port = sock.getsockname()
        assert host_part == "0.0.0.0"
        assert port != 0
        await sock.connect((LO4, 4242))
        # connect fixes the source address of a wildcard-bound socket
        assert sock.getsockname() == (LO4, port)
        assert sock.getpeername() == (LO4, 4242)
        await sock.disconnect()
        with raises_errno(errno.ENOTCONN):
            sock.getpeername()


async def test_getsockname_getpeername_v6(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET6, SOCK_DGRAM)
        assert sock.getsockname() == ("::", 0, 0, 0)
        with raises_errno(errno.ENOTCONN):
            sock.getpeername()
        await sock.connect((LO6, 4243))  # autobinds
        name = sock.getsockname()
        assert name[0] == LO6
        assert name[1] != 0
        assert name[2:] == (0, 0)
        assert sock.getpeername() == (LO6, 4243, 0, 0)


async def test_send_autobinds_an_unbound_socket(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET, SOCK_DGRAM)
        await rx.bind((LO4, 0))
        tx = host.socket(AF_INET, SOCK_DGRAM)
        await tx.sendto(b"hello", rx.getsockname())
        addr, port = tx.getsockname()
        assert addr == "0.0.0.0"
        low, high = host.sysctl["net.ipv4.ip_local_port_range"]  # type: ignore[misc, str-unpack]
        assert low <= port <= high
        assert await rx.recvfrom(100) == (b"hello", (LO4, port))


# -- bind(2) -------------------------------------------------------------------------------------


async def test_ephemeral_ports_come_from_ip_local_port_range(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        assert host.sysctl["net.ipv4.ip_local_port_range"] == (32768, 60999)
        ports = set()
        for _ in range(20):
            sock = host.socket(AF_INET, SOCK_DGRAM)
            await sock.bind((LO4, 0))
            port = sock.getsockname()[1]
            assert 32768 <= port <= 60999
            ports.add(port)
        assert len(ports) == 20

        host.sysctl["net.ipv4.ip_local_port_range"] = "40000 40002"
        narrow = []
        for _ in range(3):
            sock = host.socket(AF_INET, SOCK_DGRAM)
            await sock.bind(("", 0))
            narrow.append(sock.getsockname()[1])
        assert sorted(narrow) == [40000, 40001, 40002]


async def test_exhausted_port_range(autojump_clock: trio.testing.MockClock) -> None:
    """``bind(port 0)`` with no free port fails as any failed ``get_port`` does in
    ``__inet_bind`` (EADDRINUSE); an implicit bind on send fails as ``inet_autobind`` does
    (EAGAIN)."""
    async with netsim.open_host() as host:
        host.sysctl["net.ipv4.ip_local_port_range"] = "40000 40000"
        first = host.socket(AF_INET, SOCK_DGRAM)
        await first.bind(("", 0))
        assert first.getsockname() == ("0.0.0.0", 40000)

        second = host.socket(AF_INET, SOCK_DGRAM)
        with raises_errno(errno.EADDRINUSE):
            await second.bind(("", 0))
        assert second.getsockname() == ("0.0.0.0", 0)

        third = host.socket(AF_INET, SOCK_DGRAM)
        with raises_errno(errno.EAGAIN):
            await third.sendto(b"x", (LO4, 9))
        with raises_errno(errno.EAGAIN):
            await third.connect((LO4, 9))
        assert host.stats()["UdpOutDatagrams"] == 0


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (LO4, LO4),
        ("0.0.0.0", LO4),
        (LO4, "0.0.0.0"),
        ("0.0.0.0", "0.0.0.0"),
    ],
)
async def test_second_bind_to_the_same_port_is_eaddrinuse(
    first: str, second: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        a = host.socket(AF_INET, SOCK_DGRAM)
        await a.bind((first, 0))
        port = a.getsockname()[1]
        b = host.socket(AF_INET, SOCK_DGRAM)
        with raises_errno(errno.EADDRINUSE):
            await b.bind((second, port))
        # b stayed unbound and can bind elsewhere
        assert b.getsockname() == ("0.0.0.0", 0)
        await b.bind((second, 0))
        assert b.getsockname()[1] != port


async def test_different_local_addresses_share_a_port(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        a = host.socket(AF_INET, SOCK_DGRAM)
        await a.bind(("127.0.0.1", 5353))
        b = host.socket(AF_INET, SOCK_DGRAM)
        await b.bind(("127.0.0.2", 5353))
        tx = host.socket(AF_INET, SOCK_DGRAM)
        await tx.sendto(b"to .2", ("127.0.0.2", 5353))
        await tx.sendto(b"to .1", ("127.0.0.1", 5353))
        assert await b.recv(100) == b"to .2"
        assert await a.recv(100) == b"to .1"


async def test_so_reuseaddr_on_both_allows_the_same_port(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        a = host.socket(AF_INET, SOCK_DGRAM)
        a.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        await a.bind((LO4, 0))
        port = a.getsockname()[1]

        only_b = host.socket(AF_INET, SOCK_DGRAM)  # reuse on one side only: still a conflict
        with raises_errno(errno.EADDRINUSE):
            await only_b.bind((LO4, port))

        b = host.socket(AF_INET, SOCK_DGRAM)
        b.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        assert b.getsockopt(SOL_SOCKET, SO_REUSEADDR) == 1
        await b.bind((LO4, port))
        assert b.getsockname() == a.getsockname()


@pytest.mark.parametrize(
    ("family", "address"),
    [
        (AF_INET, "10.9.8.7"),
        (AF_INET, "192.0.2.1"),
        (AF_INET6, "2001:db8::1"),
        (AF_INET6, "::ffff:192.0.2.1"),
    ],
)
async def test_bind_to_a_foreign_address_is_eaddrnotavail(
    family: int, address: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(family, SOCK_DGRAM)
        with raises_errno(errno.EADDRNOTAVAIL):
            await sock.bind((address, 0))
        assert sock.getsockname()[1] == 0


async def test_bind_twice_is_einval(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        await sock.bind((LO4, 0))
        with raises_errno(errno.EINVAL):
            await sock.bind((LO4, 0))
        # also after an implicit bind by send
        sent = host.socket(AF_INET6, SOCK_DGRAM)
        await sent.sendto(b"x", (LO6, 9))
        with raises_errno(errno.EINVAL):
            await sent.bind((LO6, 0))


# -- IPv6 dual stack -----------------------------------------------------------------------------


async def test_dual_stack_socket_receives_ipv4(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET6, SOCK_DGRAM)
        assert rx.getsockopt(SOL_IPV6, IPV6_V6ONLY) == 0
        await rx.bind(("::", 0))
        port = rx.getsockname()[1]
        tx = host.socket(AF_INET, SOCK_DGRAM)
        await tx.bind((LO4, 0))
        await tx.sendto(b"v4 to a v6 socket", (LO4, port))
        data, peer = await rx.recvfrom(100)
        assert data == b"v4 to a v6 socket"
        assert peer == ("::ffff:127.0.0.1", tx.getsockname()[1], 0, 0)
        # the reply goes back over IPv4 to the mapped address
        await rx.sendto(b"reply", peer)
        assert await tx.recvfrom(100) == (b"reply", (LO4, port))
        stats = host.stats()
        assert stats["UdpInDatagrams"] == 2  # counted as IPv4 datagrams
        assert stats["Udp6InDatagrams"] == 0
        assert stats["UdpOutDatagrams"] == 2


async def test_dual_stack_socket_connected_to_a_mapped_peer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET, SOCK_DGRAM)
        await rx.bind((LO4, 0))
        sock = host.socket(AF_INET6, SOCK_DGRAM)
        await sock.connect(("::ffff:127.0.0.1", rx.getsockname()[1]))
        assert sock.getpeername() == ("::ffff:127.0.0.1", rx.getsockname()[1], 0, 0)
        name = sock.getsockname()
        assert name[0] == "::ffff:127.0.0.1"
        await sock.send(b"mapped")
        assert await rx.recvfrom(100) == (b"mapped", (LO4, name[1]))


async def test_v6only_socket_does_not_receive_ipv4(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET6, SOCK_DGRAM)
        rx.setsockopt(SOL_IPV6, IPV6_V6ONLY, 1)
        assert rx.getsockopt(SOL_IPV6, IPV6_V6ONLY) == 1
        await rx.bind(("::", 0))
        port = rx.getsockname()[1]
        tx = host.socket(AF_INET, SOCK_DGRAM)
        await tx.sendto(b"lost", (LO4, port))
        await tx.sendto(b"lost", (LO4, port))
        tx6 = host.socket(AF_INET6, SOCK_DGRAM)
        await tx6.sendto(b"kept", (LO6, port))
        assert await rx.recv(100) == b"kept"
        with pytest.raises(BlockingIOError):
            await rx.recv(100, netsim.MSG_DONTWAIT)
        stats = host.stats()
        assert stats["UdpNoPorts"] == 2
        assert stats["UdpInDatagrams"] == 0
        assert stats["Udp6InDatagrams"] == 1


async def test_v6only_socket_cannot_bind_or_connect_mapped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET6, SOCK_DGRAM)
        sock.setsockopt(SOL_IPV6, IPV6_V6ONLY, 1)
        with raises_errno(errno.EINVAL):
            await sock.bind(("::ffff:127.0.0.1", 0))
        with raises_errno(errno.ENETUNREACH):
            await sock.connect(("::ffff:127.0.0.1", 9))


async def test_v6only_after_bind_is_einval(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET6, SOCK_DGRAM)
        await sock.bind(("::", 0))
        with raises_errno(errno.EINVAL):
            sock.setsockopt(SOL_IPV6, IPV6_V6ONLY, 1)
        assert sock.getsockopt(SOL_IPV6, IPV6_V6ONLY) == 0


@pytest.mark.parametrize(("v6only", "conflict"), [(False, True), (True, False)])
async def test_dual_stack_bind_conflicts_with_ipv4_wildcard(
    v6only: bool, conflict: bool, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        v4 = host.socket(AF_INET, SOCK_DGRAM)
        await v4.bind(("0.0.0.0", 0))
        port = v4.getsockname()[1]
        v6 = host.socket(AF_INET6, SOCK_DGRAM)
        v6.setsockopt(SOL_IPV6, IPV6_V6ONLY, int(v6only))
        if conflict:
            with raises_errno(errno.EADDRINUSE):
                await v6.bind(("::", port))
        else:
            await v6.bind(("::", port))
            assert v6.getsockname() == ("::", port, 0, 0)


# -- connect(AF_UNSPEC) ------------------------------------------------------------------------


async def test_disconnect_releases_an_implicit_port_and_address(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``__udp_disconnect``: what connect chose is forgotten — the source address unless it
    was bound (``SOCK_BINDADDR_LOCK``), the port unless a non-zero one was bound
    (``SOCK_BINDPORT_LOCK``); the next send binds a fresh ephemeral port."""
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        await sock.connect((LO4, 9))
        port = sock.getsockname()[1]
        assert sock.getsockname() == (LO4, port)
        await sock.disconnect()
        assert sock.getsockname() == ("0.0.0.0", 0)
        other = host.socket(AF_INET, SOCK_DGRAM)
        await other.bind((LO4, port))  # the port is free again
        await sock.sendto(b"x", other.getsockname())
        data, (_, new_port) = await other.recvfrom(10)
        assert data == b"x"
        assert sock.getsockname() == ("0.0.0.0", new_port)
        assert new_port not in (0, port)


async def test_disconnect_keeps_what_was_bound(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        port_bound = host.socket(AF_INET, SOCK_DGRAM)
        await port_bound.bind(("", 45000))
        await port_bound.connect((LO4, 9))
        assert port_bound.getsockname() == (LO4, 45000)
        await port_bound.disconnect()
        # the address connect picked is forgotten: the socket hears every local address again
        assert port_bound.getsockname() == ("0.0.0.0", 45000)
        tx = host.socket(AF_INET, SOCK_DGRAM)
        await tx.sendto(b"to .7", ("127.0.0.7", 45000))
        assert await port_bound.recv(100) == b"to .7"

        addr_bound = host.socket(AF_INET6, SOCK_DGRAM)
        await addr_bound.bind((LO6, 0))
        await addr_bound.connect((LO6, 9))
        await addr_bound.disconnect()
        assert addr_bound.getsockname() == (LO6, 0, 0, 0)  # address kept, port released
