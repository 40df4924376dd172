"""Control messages on a UDP ``sendmsg`` (net/ipv4/udp.c ``udp_cmsg_send``,
net/ipv4/ip_sockglue.c ``ip_cmsg_send``, net/ipv6/datagram.c ``ip6_datagram_send_ctl``,
net/core/sock.c ``__sock_cmsg_send``), each answer checked against the live 6.18 kernel:
a per-datagram TTL / hop limit / TOS / traffic class that the packet on the wire carries,
messages of other levels skipped, and ``EINVAL`` for a wrong length, value or type — with
nothing sent."""

from __future__ import annotations

import errno
import io
import struct
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
    IP_TOS,
    IP_TTL,
    IPV6_HOPLIMIT,
    IPV6_TCLASS,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_IP,
    SOL_IPV6,
    SOL_SOCKET,
    SOL_UDP,
    UDP_SEGMENT,
)

LOCAL = {AF_INET: "127.0.0.1", AF_INET6: "::1"}
SO_MARK = 36


def raises_errno(code: int) -> AbstractContextManager[pytest.ExceptionInfo[OSError]]:
    return pytest.raises(OSError, match=rf"^\[Errno {code}\] ")


def _int(value: int) -> bytes:
    return struct.pack("i", value)


def _packets(capture: io.BytesIO, family: int) -> list[Any]:
    capture.seek(0)
    cls = dpkt.ip.IP if family == AF_INET else dpkt.ip6.IP6
    return [cls(raw) for _ts, raw in dpkt.pcap.Reader(capture)]


async def _send_and_capture(
    family: int, cmsgs: list[tuple[int, int, bytes]], dest: str | None = None
) -> tuple[Any, bytes]:
    """Send one datagram with ``cmsgs`` over lo; return its IP packet and what arrived."""
    async with netsim.open_host() as host:
        rx = host.socket(family, SOCK_DGRAM)
        await rx.bind((LOCAL[family], 0))
        tx = host.socket(family, SOCK_DGRAM)
        capture = io.BytesIO()
        with host.capture(capture):
            port = rx.getsockname()[1]
            assert await tx.sendmsg([b"payload"], cmsgs, 0, (dest or LOCAL[family], port)) == 7
            data = await rx.recv(100)
        (packet,) = _packets(capture, family)
        tx.close()
        rx.close()
    return packet, data


async def test_ip_ttl_and_tos_apply_to_one_datagram(autojump_clock: trio.testing.MockClock) -> None:
    packet, data = await _send_and_capture(
        AF_INET, [(SOL_IP, IP_TTL, _int(7)), (SOL_IP, IP_TOS, b"\x10")]
    )
    assert data == b"payload"
    assert (packet.ttl, packet.tos) == (7, 0x10)
    packet, _ = await _send_and_capture(AF_INET, [])
    assert (packet.ttl, packet.tos) == (64, 0)  # the socket's own, next time


async def test_ipv6_hop_limit_and_traffic_class(autojump_clock: trio.testing.MockClock) -> None:
    packet, data = await _send_and_capture(
        AF_INET6, [(SOL_IPV6, IPV6_HOPLIMIT, _int(9)), (SOL_IPV6, IPV6_TCLASS, _int(0x20))]
    )
    assert data == b"payload"
    assert (packet.hlim, packet.fc) == (9, 0x20)
    # -1 means the socket's own value
    packet, _ = await _send_and_capture(AF_INET6, [(SOL_IPV6, IPV6_HOPLIMIT, _int(-1))])
    assert packet.hlim == 64


async def test_a_mapped_send_reads_the_ipv4_messages(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """From an ``AF_INET6`` socket to an IPv4-mapped peer the datagram is IPv4, so
    ``ip_cmsg_send`` reads the messages: ``IP_TTL`` applies and ``SOL_IPV6`` ones are
    skipped, however bad."""
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("127.0.0.1", 0))
        tx = host.socket(AF_INET6, SOCK_DGRAM)
        capture = io.BytesIO()
        dest = ("::ffff:127.0.0.1", rx.getsockname()[1])
        with host.capture(capture):
            cmsgs = [(SOL_IP, IP_TTL, _int(5)), (SOL_IPV6, IPV6_HOPLIMIT, _int(999))]
            await tx.sendmsg([b"m"], cmsgs, 0, dest)
            assert await rx.recv(10) == b"m"
        (packet,) = _packets(capture, AF_INET)
        assert packet.ttl == 5
        with raises_errno(errno.EINVAL):
            await tx.sendmsg([b"m"], [(SOL_IP, IP_TTL, _int(0))], 0, dest)
        tx.close()
        rx.close()


@pytest.mark.parametrize("family", [AF_INET, AF_INET6], ids=["ipv4", "ipv6"])
async def test_other_levels_are_skipped(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """A level the IP layer does not read (an unknown one, or the other family's) is
    skipped; ``SO_MARK`` at ``SOL_SOCKET`` is accepted."""
    other = SOL_IPV6 if family == AF_INET else SOL_IP
    cmsgs = [(99, 1, b"anything"), (other, 999, b"x"), (SOL_SOCKET, SO_MARK, _int(5))]
    _packet, data = await _send_and_capture(family, cmsgs)
    assert data == b"payload"


@pytest.mark.parametrize(
    ("family", "cmsg"),
    [
        (AF_INET, (SOL_IP, IP_TTL, _int(0))),  # 1..255
        (AF_INET, (SOL_IP, IP_TTL, _int(256))),
        (AF_INET, (SOL_IP, IP_TTL, b"\x07")),  # an int, nothing shorter
        (AF_INET, (SOL_IP, IP_TOS, b"\x01\x02")),  # an int or one byte
        (AF_INET, (SOL_IP, 99, _int(1))),  # unknown type
        (AF_INET, (SOL_UDP, 1, b"ab")),  # UDP knows only UDP_SEGMENT
        (AF_INET, (SOL_UDP, UDP_SEGMENT, _int(1000))),  # a u16
        (AF_INET, (SOL_SOCKET, 99, _int(1))),
        (AF_INET, (SOL_SOCKET, SO_MARK, b"\x01")),
        (AF_INET6, (SOL_IPV6, IPV6_HOPLIMIT, _int(256))),  # -1..255
        (AF_INET6, (SOL_IPV6, IPV6_TCLASS, _int(-2))),
        (AF_INET6, (SOL_IPV6, 999, _int(1))),
    ],
)
async def test_bad_messages_are_einval_and_send_nothing(
    family: int, cmsg: tuple[int, int, bytes], autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        tx = host.socket(family, SOCK_DGRAM)
        with raises_errno(errno.EINVAL):
            await tx.sendmsg([b"x"], [cmsg], 0, (LOCAL[family], 9))
        mib = "Udp" if family == AF_INET else "Udp6"
        assert host.stats()[mib + "OutDatagrams"] == 0
        tx.close()


async def test_pktinfo_that_selects_nothing_is_accepted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An all-zero ``IP_PKTINFO`` (no interface, no source) changes nothing and is accepted;
    one that picks an interface or a source is not emulated (``EOPNOTSUPP``, said so)."""
    ip_pktinfo = 8
    _packet, data = await _send_and_capture(AF_INET, [(SOL_IP, ip_pktinfo, bytes(12))])
    assert data == b"payload"
    async with netsim.open_host() as host:
        tx = host.socket(AF_INET, SOCK_DGRAM)
        info = struct.pack("i4s4s", 0, bytes([127, 0, 0, 1]), bytes(4))
        with pytest.raises(OSError, match="not emulated by netsim") as exc:
            await tx.sendmsg([b"x"], [(SOL_IP, ip_pktinfo, info)], 0, ("127.0.0.1", 9))
        assert exc.value.errno == errno.EOPNOTSUPP
        tx.close()


async def test_tcp_validates_socket_messages_and_ignores_the_rest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``tcp_sendmsg_locked`` reads only ``SOL_SOCKET`` messages (``sock_cmsg_send``; any
    error there is ``EINVAL``): ``IP_TTL 0`` is ignored on TCP."""
    async with netsim.open_host() as host:
        listener = host.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = host.socket(AF_INET, SOCK_STREAM)
        await client.connect(listener.getsockname())
        server, _ = await listener.accept()
        assert await client.sendmsg([b"ok"], [(SOL_IP, IP_TTL, _int(0))]) == 2
        with raises_errno(errno.EINVAL):
            await client.sendmsg([b"no"], [(SOL_SOCKET, 99, _int(0))])
        assert await server.recv(10) == b"ok"
        for s in (client, server, listener):
            s.close()
