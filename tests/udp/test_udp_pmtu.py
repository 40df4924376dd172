"""End to end across a 1500-byte link: what ``IP_MTU_DISCOVER`` / ``IPV6_MTU_DISCOVER`` /
``IPV6_DONTFRAG`` do to a datagram larger than the path MTU.  A socket that may not fragment
gets ``EMSGSIZE`` up front from ``__ip_append_data``/``__ip6_append_data`` (``maxnonfragsize``)
and nothing is sent; the default (``IP_PMTUDISC_WANT``) fragments locally without DF."""

from __future__ import annotations

import errno
import random
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path

import dpkt
import pytest
import trio
import trio.testing

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    IP_MTU_DISCOVER,
    IP_PMTUDISC_DO,
    IP_PMTUDISC_DONT,
    IP_PMTUDISC_OMIT,
    IP_PMTUDISC_PROBE,
    IP_PMTUDISC_WANT,
    IPV6_DONTFRAG,
    IPV6_MTU_DISCOVER,
    MSG_MORE,
    SOCK_DGRAM,
    SOL_IP,
    SOL_IPV6,
)

PEER = {AF_INET: "10.0.0.2", AF_INET6: "fd00::2"}
#: the largest payload that fits a 1500-byte MTU: 1500 - 20 - 8 and 1500 - 40 - 8
FITS = {AF_INET: 1472, AF_INET6: 1452}


def raises_errno(code: int) -> AbstractContextManager[pytest.ExceptionInfo[OSError]]:
    """``pytest.raises`` for an ``OSError`` carrying exactly ``code``."""
    return pytest.raises(OSError, match=rf"^\[Errno {code}\] ")


@asynccontextmanager
async def _two_hosts() -> AsyncIterator[tuple[netsim.Host, netsim.Host, netsim.Socket]]:
    """Hosts ``a`` and ``b`` on a 1500-byte link; a dual-stack receiver on ``b``, port 7000."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, mtu=1500)
        rx = b.socket(AF_INET6, SOCK_DGRAM)
        await rx.bind(("::", 7000))
        yield a, b, rx


def _payload(n: int) -> bytes:
    return random.Random(n).randbytes(n)


@pytest.mark.parametrize(
    ("family", "level", "option", "value"),
    [
        (AF_INET, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO),
        (AF_INET, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE),
        (AF_INET6, SOL_IPV6, IPV6_MTU_DISCOVER, IP_PMTUDISC_DO),
        (AF_INET6, SOL_IPV6, IPV6_MTU_DISCOVER, IP_PMTUDISC_PROBE),
        (AF_INET6, SOL_IPV6, IPV6_DONTFRAG, 1),
    ],
)
async def test_no_fragmentation_means_emsgsize_and_nothing_sent(
    family: int, level: int, option: int, value: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with _two_hosts() as (a, b, rx):
        sock = a.socket(family, SOCK_DGRAM)
        sock.setsockopt(level, option, value)
        dest = (PEER[family], 7000)
        with raises_errno(errno.EMSGSIZE):
            await sock.sendto(_payload(FITS[family] + 1), dest)
        with raises_errno(errno.EMSGSIZE):
            await sock.sendto(_payload(40000), dest)
        await trio.sleep(1)
        eth0 = a.devices["eth0"]
        assert eth0.tx_packets == 0
        udp, ip = ("Udp", "Ip") if family == AF_INET else ("Udp6", "Ip6")
        assert a.stats()[udp + "OutDatagrams"] == 0
        assert a.stats()[ip + "OutRequests"] == 0
        assert a.stats()[ip + "FragCreates"] == 0

        # what fits goes out whole
        payload = _payload(FITS[family])
        await sock.sendto(payload, dest)
        assert await rx.recv(2000) == payload
        assert eth0.tx_packets == 1
        assert b.stats()[ip + "ReasmReqds"] == 0


@pytest.mark.parametrize(
    ("family", "mode"),
    [
        (AF_INET, IP_PMTUDISC_WANT),
        (AF_INET, IP_PMTUDISC_DONT),
        (AF_INET, IP_PMTUDISC_OMIT),
        (AF_INET6, IP_PMTUDISC_WANT),
        (AF_INET6, IP_PMTUDISC_DONT),
    ],
)
async def test_fragmenting_modes_fragment(
    family: int, mode: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with _two_hosts() as (a, b, rx):
        sock = a.socket(family, SOCK_DGRAM)
        if family == AF_INET:
            sock.setsockopt(SOL_IP, IP_MTU_DISCOVER, mode)
        else:
            sock.setsockopt(SOL_IPV6, IPV6_MTU_DISCOVER, mode)
        payload = _payload(FITS[family] + 1)
        await sock.sendto(payload, (PEER[family], 7000))
        assert await rx.recv(2000) == payload
        ip = "Ip" if family == AF_INET else "Ip6"
        assert a.stats()[ip + "FragCreates"] == 2
        assert a.stats()[ip + "FragOKs"] == 1
        assert b.stats()[ip + "ReasmReqds"] == 2
        assert b.stats()[ip + "ReasmOKs"] == 1
        assert a.devices["eth0"].tx_packets == 2
        assert b.devices["eth0"].rx_packets == 2


async def test_df_on_the_wire(tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """WANT sets DF on what fits and fragments the rest without DF; DO sets DF; DONT never."""
    async with _two_hosts() as (a, _, rx):
        sock = a.socket(AF_INET, SOCK_DGRAM)
        path = tmp_path / "eth0.pcap"
        with a.capture(str(path), "eth0"):
            await sock.sendto(b"small, want", ("10.0.0.2", 7000))
            await sock.sendto(_payload(3000), ("10.0.0.2", 7000))
            sock.setsockopt(SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
            await sock.sendto(b"small, dont", ("10.0.0.2", 7000))
            sock.setsockopt(SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
            await sock.sendto(b"small, do", ("10.0.0.2", 7000))
            await trio.sleep(1)
        frames = []
        with path.open("rb") as f:
            for _, buf in dpkt.pcap.Reader(f):
                ip = dpkt.ip.IP(buf)
                frames.append((len(buf), ip.df, ip.mf, ip.offset * 8))  # dpkt: 8-byte units
        assert frames == [
            (20 + 8 + 11, 1, 0, 0),
            (1500, 0, 1, 0),  # 3008 bytes of UDP in 1480 + 1480 + 48
            (1500, 0, 1, 1480),
            (20 + 48, 0, 0, 2960),
            (20 + 8 + 11, 0, 0, 0),
            (20 + 8 + 9, 1, 0, 0),
        ]
        assert len(rx.sk.sk_receive_queue) == 4


@pytest.mark.parametrize(("family", "level", "option"), [
    (AF_INET, SOL_IP, IP_MTU_DISCOVER),
    (AF_INET6, SOL_IPV6, IPV6_MTU_DISCOVER),
])  # fmt: skip
async def test_corked_datagram_growing_past_the_mtu_is_discarded(
    family: int, level: int, option: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with _two_hosts() as (a, _, rx):
        sock = a.socket(family, SOCK_DGRAM)
        sock.setsockopt(level, option, IP_PMTUDISC_DO)
        await sock.connect((PEER[family], 7000))
        await sock.send(b"a" * 1000, MSG_MORE)
        with raises_errno(errno.EMSGSIZE):
            await sock.send(b"b" * 1000, MSG_MORE)
        # udp_flush_pending_frames: the first piece went with it
        await sock.send(b"fresh")
        assert await rx.recv(5000) == b"fresh"
        await trio.sleep(1)
        assert not rx.is_readable()


async def test_loopback_ipv4_largest_datagram_goes_whole_with_df(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """lo's MTU (65536, capped at ``IP_MAX_MTU``) holds the largest IPv4 datagram."""
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("127.0.0.1", 0))
        tx = host.socket(AF_INET, SOCK_DGRAM)
        tx.setsockopt(SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
        payload = _payload(65507)
        await tx.sendto(payload, rx.getsockname())
        assert await rx.recv(70000) == payload
        assert host.stats()["IpFragCreates"] == 0


@pytest.mark.parametrize(
    ("option", "value"), [(IPV6_DONTFRAG, 1), (IPV6_MTU_DISCOVER, IP_PMTUDISC_DO)]
)
async def test_loopback_ipv6_unfragmented_limit(
    option: int, value: int, autojump_clock: trio.testing.MockClock
) -> None:
    """IPv6 on lo: 65536 - 40 - 8 = 65488 bytes fit one packet.  Anything larger is
    fragmented by default (65527 makes two fragments) and refused with ``IPV6_DONTFRAG`` or
    ``IPV6_PMTUDISC_DO``."""
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET6, SOCK_DGRAM)
        await rx.bind(("::1", 0))
        tx = host.socket(AF_INET6, SOCK_DGRAM)
        await tx.sendto(_payload(65527), rx.getsockname())
        assert await rx.recv(70000) == _payload(65527)
        assert host.stats()["Ip6FragCreates"] == 2
        assert host.stats()["Ip6ReasmOKs"] == 1

        tx.setsockopt(SOL_IPV6, option, value)
        await tx.sendto(_payload(65488), rx.getsockname())
        assert await rx.recv(70000) == _payload(65488)
        with raises_errno(errno.EMSGSIZE):
            await tx.sendto(_payload(65489), rx.getsockname())
        assert host.stats()["Ip6FragCreates"] == 2
        assert host.stats()["Udp6OutDatagrams"] == 2
