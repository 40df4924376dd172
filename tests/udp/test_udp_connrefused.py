"""End to end: a datagram to a port nobody listens on is answered with an ICMP port
unreachable (``__udp4_lib_rcv`` → ``icmp_send``), which a **connected** socket turns into
``ECONNREFUSED`` on its next send or receive (``__udp4_lib_err``/``__udp6_lib_err``,
``sock_error``) and an unconnected one ignores unless ``IP_RECVERR``."""

from __future__ import annotations

import errno
from contextlib import AbstractContextManager

import pytest
import trio
import trio.testing

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    IP_RECVERR,
    IPV6_RECVERR,
    MSG_DONTWAIT,
    SO_ERROR,
    SOCK_DGRAM,
    SOL_IP,
    SOL_IPV6,
    SOL_SOCKET,
)

LOOPBACK = {AF_INET: "127.0.0.1", AF_INET6: "::1"}
#: (UDP MIB prefix, ICMP MIB prefix) per family
MIB = {AF_INET: ("Udp", "Icmp"), AF_INET6: ("Udp6", "Icmp6")}
CLOSED_PORT = 9


def raises_errno(code: int) -> AbstractContextManager[pytest.ExceptionInfo[OSError]]:
    """``pytest.raises`` for an ``OSError`` carrying exactly ``code``."""
    return pytest.raises(OSError, match=rf"^\[Errno {code}\] ")


def _counts(host: netsim.Host, family: int) -> dict[str, int]:
    udp, icmp = MIB[family]
    stats = host.stats()
    return {
        "NoPorts": stats[udp + "NoPorts"],
        "OutDatagrams": stats[udp + "OutDatagrams"],
        "IcmpOutDestUnreachs": stats[icmp + "OutDestUnreachs"],
        "IcmpInDestUnreachs": stats[icmp + "InDestUnreachs"],
        "IcmpOutMsgs": stats[icmp + "OutMsgs"],
        "IcmpInMsgs": stats[icmp + "InMsgs"],
    }


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_connected_socket_gets_econnrefused_on_next_send(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(family, SOCK_DGRAM)
        await sock.connect((LOOPBACK[family], CLOSED_PORT))
        assert await sock.send(b"anyone?") == 7  # the send itself succeeds
        assert _counts(host, family) == {
            "NoPorts": 1,
            "OutDatagrams": 1,
            "IcmpOutDestUnreachs": 1,
            "IcmpInDestUnreachs": 1,
            "IcmpOutMsgs": 1,
            "IcmpInMsgs": 1,
        }
        with pytest.raises(ConnectionRefusedError) as info:
            await sock.send(b"again")
        assert info.value.errno == errno.ECONNREFUSED
        # the failed send sent nothing; the error is reported once
        assert _counts(host, family)["OutDatagrams"] == 1
        assert sock.getsockopt(SOL_SOCKET, SO_ERROR) == 0
        assert await sock.send(b"third") == 5
        assert _counts(host, family)["NoPorts"] == 2


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_connected_socket_gets_econnrefused_on_next_recv(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(family, SOCK_DGRAM)
        await sock.connect((LOOPBACK[family], CLOSED_PORT))
        await sock.send(b"x")
        assert sock.is_readable()  # POLLERR
        with raises_errno(errno.ECONNREFUSED):
            await sock.recv(100, MSG_DONTWAIT)
        with raises_errno(errno.EAGAIN):
            await sock.recv(100, MSG_DONTWAIT)


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_so_error_reports_once(family: int, autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(family, SOCK_DGRAM)
        await sock.connect((LOOPBACK[family], CLOSED_PORT))
        assert sock.getsockopt(SOL_SOCKET, SO_ERROR) == 0
        await sock.send(b"x")
        assert sock.getsockopt(SOL_SOCKET, SO_ERROR) == errno.ECONNREFUSED
        assert sock.getsockopt(SOL_SOCKET, SO_ERROR) == 0
        # reading SO_ERROR consumed it: the next send goes out
        await sock.send(b"y")
        assert _counts(host, family)["OutDatagrams"] == 2
        assert sock.getsockopt(SOL_SOCKET, SO_ERROR, 4) == errno.ECONNREFUSED.to_bytes(4, "little")


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_unconnected_socket_ignores_port_unreachable(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(family, SOCK_DGRAM)
        for _ in range(3):
            await sock.sendto(b"x", (LOOPBACK[family], CLOSED_PORT))
        assert sock.getsockopt(SOL_SOCKET, SO_ERROR) == 0
        with pytest.raises(BlockingIOError):
            await sock.recv(100, MSG_DONTWAIT)
        counts = _counts(host, family)
        assert counts["NoPorts"] == 3
        assert counts["IcmpOutDestUnreachs"] == 3
        assert counts["IcmpInDestUnreachs"] == 3
        assert counts["OutDatagrams"] == 3


@pytest.mark.parametrize(
    ("family", "level", "option"),
    [(AF_INET, SOL_IP, IP_RECVERR), (AF_INET6, SOL_IPV6, IPV6_RECVERR)],
)
async def test_recverr_reports_to_an_unconnected_socket(
    family: int, level: int, option: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(family, SOCK_DGRAM)
        sock.setsockopt(level, option, 1)
        assert sock.getsockopt(level, option) == 1
        await sock.sendto(b"x", (LOOPBACK[family], CLOSED_PORT))
        with raises_errno(errno.ECONNREFUSED):
            await sock.sendto(b"x", (LOOPBACK[family], CLOSED_PORT))


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_blocked_recv_is_woken_by_the_error(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(family, SOCK_DGRAM)
        await sock.connect((LOOPBACK[family], CLOSED_PORT))
        errors: list[int | None] = []

        async def reader() -> None:
            try:
                await sock.recv(100)
            except OSError as exc:
                errors.append(exc.errno)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            await sock.send(b"x")
        assert errors == [errno.ECONNREFUSED]


async def test_a_listening_port_is_not_refused(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("127.0.0.1", 0))
        sock = host.socket(AF_INET, SOCK_DGRAM)
        await sock.connect(rx.getsockname())
        for _ in range(3):
            await sock.send(b"fine")
        assert _counts(host, AF_INET)["NoPorts"] == 0
        assert sock.getsockopt(SOL_SOCKET, SO_ERROR) == 0
        rx.close()  # now nobody listens
        await sock.send(b"gone")
        with pytest.raises(ConnectionRefusedError):
            await sock.send(b"gone")


@pytest.mark.parametrize(("family", "peer"), [(AF_INET, "10.0.0.2"), (AF_INET6, "fd00::2")])
async def test_refusal_across_a_link_arrives_after_a_round_trip(
    family: int, peer: str, autojump_clock: trio.testing.MockClock
) -> None:
    """Over a link the error is asynchronous: sends before the ICMP message is back succeed;
    after one round trip the next send fails."""
    async with (
        netsim.open_host(name="client") as client,
        netsim.open_host(name="server", seed=1) as server,
    ):
        netsim.link(client, server, delay=0.005)
        sock = client.socket(family, SOCK_DGRAM)
        await sock.connect((peer, CLOSED_PORT))
        await sock.send(b"one")
        await sock.send(b"two")  # no answer yet
        await trio.sleep(0.0099)
        await sock.send(b"three")  # 9.9 ms: still no answer
        await trio.sleep(0.0002)
        with pytest.raises(ConnectionRefusedError):
            await sock.send(b"four")
        await trio.sleep(0.1)  # the answers to "two" and "three" arrive
        udp, icmp = MIB[family]
        assert server.stats()[udp + "NoPorts"] == 3
        assert server.stats()[icmp + "OutDestUnreachs"] == 3
        assert client.stats()[icmp + "InDestUnreachs"] == 3
        assert client.stats()[udp + "OutDatagrams"] == 3
