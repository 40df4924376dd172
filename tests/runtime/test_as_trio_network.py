"""End to end: ``host.as_trio_network()`` puts a host behind trio's own socket factory and
hostname resolver, so code written against ``trio.socket`` runs on the emulated host.

(No test here makes a real socket: inside an autojump run real I/O would race virtual time.)"""

from __future__ import annotations

import socket as stdlib_socket
from collections.abc import Iterable
from typing import Any

import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, AF_INET6, IPPROTO_UDP, SOCK_DGRAM


def _sockaddrs(infos: Iterable[tuple[Any, ...]]) -> set[object]:
    return {info[4] for info in infos}


async def test_trio_socket_is_a_netsim_socket(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        with host.as_trio_network() as same:
            assert same is host
            for family in (AF_INET, AF_INET6):
                sock = trio.socket.socket(family, trio.socket.SOCK_DGRAM)
                assert isinstance(sock, netsim.Socket)
                assert sock.host is host
                assert sock.family == family
                assert sock.type == SOCK_DGRAM
                assert sock.proto == IPPROTO_UDP
                sock.close()
        # the previous factory (none) is back
        previous = trio.socket.set_custom_socket_factory(None)
        assert previous is None


async def test_getaddrinfo_localhost(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        with host.as_trio_network():
            infos = await trio.socket.getaddrinfo("localhost", 53)
            assert _sockaddrs(infos) == {("127.0.0.1", 53), ("::1", 53, 0, 0)}
            for family, type_, proto, canonname, _ in infos:
                assert family in (stdlib_socket.AF_INET, stdlib_socket.AF_INET6)
                assert (type_, proto) in (
                    (stdlib_socket.SOCK_STREAM, stdlib_socket.IPPROTO_TCP),
                    (stdlib_socket.SOCK_DGRAM, stdlib_socket.IPPROTO_UDP),
                )
                assert canonname == ""

            udp = await trio.socket.getaddrinfo("localhost", "53", type=trio.socket.SOCK_DGRAM)
            assert [(i[1], i[4]) for i in udp] == [
                (stdlib_socket.SOCK_DGRAM, ("127.0.0.1", 53)),
                (stdlib_socket.SOCK_DGRAM, ("::1", 53, 0, 0)),
            ]
            v6 = await trio.socket.getaddrinfo(b"localhost", 53, family=trio.socket.AF_INET6)
            assert _sockaddrs(v6) == {("::1", 53, 0, 0)}


async def test_getaddrinfo_hosts_table_and_own_name(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host(name="alpha") as alpha, netsim.open_host(name="beta") as beta:
        netsim.link(alpha, beta)
        alpha.hosts["db.internal"] = ["192.0.2.10"]
        with alpha.as_trio_network():
            infos = await trio.socket.getaddrinfo("beta", 7000, type=trio.socket.SOCK_DGRAM)
            assert [i[4] for i in infos] == [("10.0.0.2", 7000), ("fd00::2", 7000, 0, 0)]
            infos = await trio.socket.getaddrinfo(
                "beta", 7000, family=trio.socket.AF_INET, type=trio.socket.SOCK_DGRAM
            )
            assert [i[4] for i in infos] == [("10.0.0.2", 7000)]
            own = await trio.socket.getaddrinfo("alpha", 1, type=trio.socket.SOCK_DGRAM)
            assert _sockaddrs(own) == {("10.0.0.1", 1), ("fd00::1", 1, 0, 0)}
            db = await trio.socket.getaddrinfo("db.internal", 5432, type=trio.socket.SOCK_DGRAM)
            assert _sockaddrs(db) == {("192.0.2.10", 5432)}


async def test_unknown_names_raise_gaierror(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        with host.as_trio_network():
            for name in ("no-such-host", "example.invalid", "gamma"):
                with pytest.raises(stdlib_socket.gaierror) as info:
                    await trio.socket.getaddrinfo(name, 80)
                assert info.value.errno == stdlib_socket.EAI_NONAME
            with pytest.raises(stdlib_socket.gaierror) as info:
                await trio.socket.getaddrinfo("localhost", "http-alt-not-a-number")
            assert info.value.errno == stdlib_socket.EAI_SERVICE


async def test_udp_exchange_written_against_trio_socket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A small echo exchange that only uses ``trio.socket`` — runs on the emulated host."""

    async def echo_once(sock: trio.socket.SocketType) -> None:
        data, addr = await sock.recvfrom(1000)
        await sock.sendto(data.upper(), addr)

    async with netsim.open_host() as host:
        with host.as_trio_network():
            (family, type_, proto, _, addr), *_ = await trio.socket.getaddrinfo(
                "localhost", 0, family=trio.socket.AF_INET6, type=trio.socket.SOCK_DGRAM
            )
            server = trio.socket.socket(family, type_, proto)
            await server.bind(addr)
            client = trio.socket.socket(family, type_, proto)
            await client.connect(server.getsockname())
            async with trio.open_nursery() as nursery:
                nursery.start_soon(echo_once, server)
                await client.send(b"hello over netsim")
                assert await client.recv(1000) == b"HELLO OVER NETSIM"
        assert host.stats()["Udp6InDatagrams"] == 2


async def test_two_hosts_by_name(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host(name="client") as client, netsim.open_host(name="server") as srv:
        netsim.link(client, srv, delay=0.01)
        listener = srv.socket(AF_INET, SOCK_DGRAM)
        await listener.bind(("", 5000))
        with client.as_trio_network():
            infos = await trio.socket.getaddrinfo(
                "server", 5000, family=trio.socket.AF_INET, type=trio.socket.SOCK_DGRAM
            )
            sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
            start = trio.current_time()
            await sock.sendto(b"by name", infos[0][4])
        data, addr = await listener.recvfrom(100)
        assert data == b"by name"
        assert addr == ("10.0.0.1", sock.getsockname()[1])
        assert trio.current_time() - start == pytest.approx(0.01)


async def test_getnameinfo(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        with host.as_trio_network():
            assert await trio.socket.getnameinfo(("127.0.0.1", 53), 0) == ("127.0.0.1", "53")


async def test_connect_resolves_a_host_name(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("127.0.0.1", 5000))
        with host.as_trio_network():
            sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
            await sock.connect(("localhost", 5000))
            await sock.send(b"by name")
        assert await rx.recv(100) == b"by name"
