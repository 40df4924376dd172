"""Addresses as Linux 6.18 and trio's sockets take them (each expectation checked against the
live kernel through trio): name and literal resolution (``_resolve_address_nocp``), the
wildcard as a destination (``ip_route_output_key_hash_rcu``, ``tcp_v6_connect``), broadcast
and multicast destinations (``tcp_v4_connect``, ``udp_sendmsg``), and what ``bind`` accepts
(``__inet_bind``, ``__inet6_bind``)."""

from __future__ import annotations

import errno
import socket as stdlib_socket
from contextlib import AbstractContextManager

import pytest
import trio
import trio.testing

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    IPPROTO_IPV6,
    IPV6_V6ONLY,
    SO_BROADCAST,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_SOCKET,
)

FAMILIES = pytest.mark.parametrize("family", [AF_INET, AF_INET6], ids=["ipv4", "ipv6"])
KINDS = pytest.mark.parametrize("kind", [SOCK_STREAM, SOCK_DGRAM], ids=["tcp", "udp"])
LOCAL = {AF_INET: "127.0.0.1", AF_INET6: "::1"}
ANY = {AF_INET: "0.0.0.0", AF_INET6: "::"}


def raises_errno(code: int) -> AbstractContextManager[pytest.ExceptionInfo[OSError]]:
    return pytest.raises(OSError, match=rf"^\[Errno {code}\] ")


async def _listener(host: netsim.Host, family: int, kind: int) -> netsim.Socket:
    sock = host.socket(family, kind)
    await sock.bind((ANY[family], 0))
    if kind == SOCK_STREAM:
        sock.listen(4)
    return sock


# -- resolution ------------------------------------------------------------------------------


@KINDS
async def test_ipv4_literal_and_localhost_on_an_ipv6_socket(
    kind: int, autojump_clock: trio.testing.MockClock
) -> None:
    """trio resolves with ``AI_V4MAPPED`` on a dual-stack socket: ``"127.0.0.1"`` binds
    ``::ffff:127.0.0.1``; ``"localhost"`` is ``::1`` (the host's resolver knows both)."""
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET6, kind)
        await sock.bind(("127.0.0.1", 0))
        assert sock.getsockname()[0] == "::ffff:127.0.0.1"
        other = host.socket(AF_INET6, kind)
        await other.bind(("localhost", 0))
        assert other.getsockname()[0] == "::1"
        v6only = host.socket(AF_INET6, kind)
        v6only.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1)
        with pytest.raises(stdlib_socket.gaierror) as info:  # no AI_V4MAPPED when v6-only
            await v6only.bind(("127.0.0.1", 0))
        assert info.value.errno == stdlib_socket.EAI_ADDRFAMILY
        for s in (sock, other, v6only):
            s.close()


async def test_names_and_inet_aton_forms(autojump_clock: trio.testing.MockClock) -> None:
    """Names go to the host's resolver (``localhost``, ``host.hosts``); an IPv4 address in a
    form only ``inet_aton`` reads (``127.1``) is numeric to ``getaddrinfo``; a name nobody
    knows is ``EAI_NONAME``; the port may be a numeric string; a tuple of the wrong shape is
    ``ValueError`` — all as trio's own sockets answer."""
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("localhost", "5000"))
        assert rx.getsockname() == ("127.0.0.1", 5000)
        tx = host.socket(AF_INET, SOCK_DGRAM)
        host.hosts["peer.test"] = ["127.0.0.1"]
        for dest in (("127.1", 5000), ("peer.test", 5000), ("0x7f.1", 5000)):
            assert await tx.sendto(b"hi", dest) == 2
            assert await rx.recv(10) == b"hi"
        with pytest.raises(stdlib_socket.gaierror) as info:
            await tx.sendto(b"hi", ("nowhere.test", 5000))
        assert info.value.errno == stdlib_socket.EAI_NONAME
        with pytest.raises(stdlib_socket.gaierror):
            await tx.sendto(b"hi", ("127.0.0.1 junk", 5000))  # inet_aton would stop at " "
        for bad in (("127.0.0.1",), ("127.0.0.1", 1, 2), "127.0.0.1:1"):
            with pytest.raises(ValueError, match="address should be a"):
                await tx.sendto(b"hi", bad)
        with pytest.raises(OverflowError):
            await tx.sendto(b"hi", ("127.0.0.1", 70000))
        assert host.stats()["UdpOutDatagrams"] == 3
        rx.close()
        tx.close()


# -- the wildcard as a destination --------------------------------------------------------------


@FAMILIES
@KINDS
async def test_connect_to_the_wildcard_reaches_this_host(
    family: int, kind: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``connect(("0.0.0.0", port))`` / ``("::", port)``: the route turns "no destination"
    into this host's loopback address; the connection is made at once and names
    ``127.0.0.1`` / ``::1`` as its peer (the "bind the wildcard, connect to getsockname()"
    idiom)."""
    async with netsim.open_host() as host:
        listener = await _listener(host, family, kind)
        client = host.socket(family, kind)
        start = trio.current_time()
        await client.connect(listener.getsockname())
        assert trio.current_time() == start
        assert client.getpeername()[:2] == (LOCAL[family], listener.getsockname()[1])
        assert client.getsockname()[0] == LOCAL[family]
        if kind == SOCK_STREAM:
            server, _ = await listener.accept()
            await client.send(b"ping")
            assert await server.recv(10) == b"ping"
            server.close()
        for s in (client, listener):
            s.close()


async def test_wildcard_on_a_mapped_socket_is_ipv4_loopback(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``tcp_v6_connect``: ``::`` from a socket bound to an IPv4-mapped address is
    ``::ffff:127.0.0.1``; so is ``::ffff:0.0.0.0`` from any dual-stack socket."""
    async with netsim.open_host() as host:
        listener = await _listener(host, AF_INET6, SOCK_STREAM)
        port = listener.getsockname()[1]
        a = host.socket(AF_INET6, SOCK_STREAM)
        await a.bind(("::ffff:127.0.0.1", 0))
        await a.connect(("::", port))
        assert a.getpeername()[0] == "::ffff:127.0.0.1"
        b = host.socket(AF_INET6, SOCK_STREAM)
        await b.connect(("::ffff:0.0.0.0", port))
        assert b.getpeername()[0] == "::ffff:127.0.0.1"
        for s in (a, b, listener):
            s.close()


# -- broadcast and multicast --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "dest"),
    [
        (AF_INET, "127.255.255.255"),  # lo's broadcast address
        (AF_INET, "224.0.0.1"),
        (AF_INET6, "ff05::1"),
        (AF_INET6, "::ffff:127.255.255.255"),
    ],
)
async def test_tcp_connect_to_broadcast_or_multicast_is_enetunreach(
    family: int, dest: str, autojump_clock: trio.testing.MockClock
) -> None:
    """``tcp_v4_connect``: a route with ``RTCF_BROADCAST``/``RTCF_MULTICAST`` is
    ``ENETUNREACH``; ``tcp_v6_connect`` refuses multicast before routing.  Nothing is sent
    and the socket can connect elsewhere afterwards."""
    async with netsim.open_host() as host:
        if dest == "224.0.0.1":
            host.net.set_default_route("lo")  # a route exists, and is refused for its type
        listener = await _listener(host, family, SOCK_STREAM)
        sock = host.socket(family, SOCK_STREAM)
        with raises_errno(errno.ENETUNREACH):
            await sock.connect((dest, 9))
        assert host.stats()["TcpActiveOpens"] == 0
        await sock.connect((LOCAL[family], listener.getsockname()[1]))
        sock.close()
        listener.close()


@FAMILIES
async def test_udp_broadcast_needs_so_broadcast(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``udp_sendmsg`` and ``ip4_datagram_connect``: a broadcast route without
    ``SO_BROADCAST`` is ``EACCES`` (nothing sent); with it the datagram goes out — on ``lo``,
    to a socket bound to the wildcard."""
    dest = "127.255.255.255" if family == AF_INET else "::ffff:127.255.255.255"
    async with netsim.open_host() as host:
        rx = host.socket(family, SOCK_DGRAM)
        await rx.bind((ANY[family], 5000))
        tx = host.socket(family, SOCK_DGRAM)
        with raises_errno(errno.EACCES):
            await tx.sendto(b"all", (dest, 5000))
        with raises_errno(errno.EACCES):
            await tx.connect((dest, 5000))
        assert host.stats()["UdpOutDatagrams"] == 0
        tx.setsockopt(SOL_SOCKET, SO_BROADCAST, 1)
        assert tx.getsockopt(SOL_SOCKET, SO_BROADCAST) == 1
        assert await tx.sendto(b"all", (dest, 5000)) == 3
        assert await rx.recv(10) == b"all"
        tx.close()
        rx.close()


async def test_limited_broadcast_without_a_route_is_enetunreach(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``255.255.255.255`` needs a route (a host with only ``lo`` has none) — unless the
    socket is bound to a local address, which sends it out through that address's device."""
    async with netsim.open_host() as host:
        tx = host.socket(AF_INET, SOCK_DGRAM)
        tx.setsockopt(SOL_SOCKET, SO_BROADCAST, 1)
        with raises_errno(errno.ENETUNREACH):
            await tx.sendto(b"x", ("255.255.255.255", 9))
        bound = host.socket(AF_INET, SOCK_DGRAM)
        bound.setsockopt(SOL_SOCKET, SO_BROADCAST, 1)
        await bound.bind(("127.0.0.1", 0))
        assert await bound.sendto(b"x", ("<broadcast>", 9)) == 1
        tx.close()
        bound.close()


# -- bind --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "kind", "addr", "result"),
    [
        (AF_INET, SOCK_DGRAM, "224.0.0.1", None),
        (AF_INET, SOCK_STREAM, "224.0.0.1", None),
        (AF_INET, SOCK_STREAM, "255.255.255.255", None),
        (AF_INET, SOCK_DGRAM, "127.255.255.255", None),
        (AF_INET, SOCK_DGRAM, "10.9.9.9", errno.EADDRNOTAVAIL),
        (AF_INET6, SOCK_DGRAM, "ff05::1", None),
        (AF_INET6, SOCK_STREAM, "ff05::1", errno.EINVAL),  # multicast on a stream socket
        (AF_INET6, SOCK_DGRAM, "ff02::1", errno.EINVAL),  # link scope needs a device
        (AF_INET6, SOCK_DGRAM, "fe80::1", errno.EINVAL),
        (AF_INET6, SOCK_DGRAM, "fd00::9", errno.EADDRNOTAVAIL),
        (AF_INET6, SOCK_STREAM, "::ffff:224.0.0.1", None),
    ],
)
async def test_bind_addresses(
    family: int, kind: int, addr: str, result: int | None, autojump_clock: trio.testing.MockClock
) -> None:
    """``inet_addr_valid_or_nonlocal``: this host's, broadcast and multicast addresses are
    accepted (for receiving; the source of what is sent is then the route's)."""
    async with netsim.open_host() as host:
        sock = host.socket(family, kind)
        if result is None:
            await sock.bind((addr, 0))
            assert sock.getsockname()[0] == addr
        else:
            with raises_errno(result):
                await sock.bind((addr, 0))
            await sock.bind((ANY[family], 0))  # nothing was taken: the socket binds again
        sock.close()


async def test_a_multicast_bound_socket_sends_from_the_route(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Bound to a multicast address, a socket receives on it but sends from the address the
    route picks (``inet_saddr = 0``, "use device")."""
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("127.0.0.1", 5000))
        tx = host.socket(AF_INET, SOCK_DGRAM)
        await tx.bind(("224.0.0.7", 0))
        await tx.sendto(b"from", ("127.0.0.1", 5000))
        data, source = await rx.recvfrom(10)
        assert (data, source[0]) == (b"from", "127.0.0.1")
        tx.close()
        rx.close()


@KINDS
async def test_binding_a_specific_ipv6_address_makes_the_socket_v6_only(
    kind: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``__inet6_bind``: an IPv6 address (not ``::``, not IPv4-mapped) cannot receive IPv4,
    so the bind sets ``IPV6_V6ONLY``; an IPv4-mapped or wildcard bind leaves it alone; and a
    bind that fails puts it back."""
    async with netsim.open_host() as host:
        specific = host.socket(AF_INET6, kind)
        assert specific.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY) == 0
        await specific.bind(("::1", 0))
        assert specific.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY) == 1
        mapped = host.socket(AF_INET6, kind)
        await mapped.bind(("::ffff:127.0.0.1", 0))
        assert mapped.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY) == 0
        clash = host.socket(AF_INET6, kind)
        with raises_errno(errno.EADDRINUSE):
            await clash.bind(("::1", specific.getsockname()[1]))
        assert clash.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY) == 0
        if kind == SOCK_DGRAM:
            with raises_errno(errno.ENETUNREACH):  # udpv6_sendmsg: ipv6_only_sock
                await specific.sendto(b"x", ("::ffff:127.0.0.1", 9))
        for s in (specific, mapped, clash):
            s.close()


async def test_v6only_udp_to_a_mapped_peer_is_enetunreach(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An ``IPV6_V6ONLY`` socket has no IPv4: ``sendto`` and ``connect`` to an IPv4-mapped
    address are ``ENETUNREACH`` and no IPv4 receiver gets anything."""
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("127.0.0.1", 5000))
        tx = host.socket(AF_INET6, SOCK_DGRAM)
        tx.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1)
        with raises_errno(errno.ENETUNREACH):
            await tx.sendto(b"x", ("::ffff:127.0.0.1", 5000))
        with raises_errno(errno.ENETUNREACH):
            await tx.connect(("::ffff:127.0.0.1", 5000))
        assert host.stats()["UdpOutDatagrams"] == 0
        tx.close()
        rx.close()


async def test_udp_connected_to_port_zero_has_no_peer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``inet_getname``: without a peer port there is no peer (``ENOTCONN``), though the
    connect succeeded and fixed the source address and port."""
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        await sock.connect(("127.0.0.1", 0))
        with raises_errno(errno.ENOTCONN):
            sock.getpeername()
        assert sock.getsockname()[0] == "127.0.0.1"
        assert sock.getsockname()[1] != 0
        sock.close()


async def test_a_failed_send_still_binds_the_socket(autojump_clock: trio.testing.MockClock) -> None:
    """``inet_send_prepare`` autobinds before the protocol looks at the datagram: a send that
    fails (destination port 0) leaves the socket with a port."""
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        with raises_errno(errno.EINVAL):
            await sock.sendto(b"x", ("127.0.0.1", 0))
        assert sock.getsockname()[1] != 0
        sock.close()


async def test_a_link_below_ipv6s_minimum_mtu_carries_no_ipv6(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``ipv6_add_dev``: a device with an MTU below 1280 has no IPv6 — no address (adding
    one is ``EINVAL``), no route (``ENETUNREACH``); IPv4 works over it as usual."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b, mtu=1000)
        assert not a.devices["eth0"].addrs6
        with raises_errno(errno.EINVAL):
            a.net.add_address("eth0", "fd00::9/64")
        sock = a.socket(AF_INET6, SOCK_DGRAM)
        with raises_errno(errno.ENETUNREACH):
            await sock.sendto(b"x", ("fd00::2", 9))
        rx = b.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("10.0.0.2", 9))
        tx = a.socket(AF_INET, SOCK_DGRAM)
        await tx.sendto(b"v4", ("10.0.0.2", 9))
        assert await rx.recv(10) == b"v4"
        for s in (sock, rx, tx):
            s.close()
