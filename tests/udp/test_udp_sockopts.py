"""End to end: socket options on UDP sockets, with Linux's values and errnos
(net/core/sock.c ``sk_setsockopt``/``sk_getsockopt``, net/ipv4/ip_sockglue.c
``do_ip_setsockopt``/``do_ip_getsockopt``, net/ipv6/ipv6_sockglue.c, net/ipv4/udp.c
``udp_lib_setsockopt``), and sysctls that change what sockets do."""

from __future__ import annotations

import errno
import struct
from contextlib import AbstractContextManager
from pathlib import Path

import dpkt
import pytest
import trio
import trio.testing

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    IP_MTU,
    IP_MTU_DISCOVER,
    IP_PMTUDISC_DO,
    IP_PMTUDISC_DONT,
    IP_PMTUDISC_OMIT,
    IP_PMTUDISC_WANT,
    IP_RECVERR,
    IP_TOS,
    IP_TTL,
    IPPROTO_IPV6,
    IPPROTO_UDP,
    IPV6_DONTFRAG,
    IPV6_MTU,
    IPV6_MTU_DISCOVER,
    IPV6_UNICAST_HOPS,
    IPV6_V6ONLY,
    SO_BROADCAST,
    SO_DOMAIN,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_PROTOCOL,
    SO_RCVBUF,
    SO_RCVBUFFORCE,
    SO_REUSEADDR,
    SO_SNDBUF,
    SO_SNDBUFFORCE,
    SO_TYPE,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_IP,
    SOL_IPV6,
    SOL_SOCKET,
    SOL_UDP,
    UDP_CORK,
    UDP_GRO,
    UDP_SEGMENT,
)

SOCK_MIN_SNDBUF = 4608  # 2 * (2048 + SKB_DATA_ALIGN(sizeof(struct sk_buff)))
SOCK_MIN_RCVBUF = 2304  # 2048 + SKB_DATA_ALIGN(sizeof(struct sk_buff))
LOOPBACK = {AF_INET: "127.0.0.1", AF_INET6: "::1"}


def raises_errno(code: int) -> AbstractContextManager[pytest.ExceptionInfo[OSError]]:
    """``pytest.raises`` for an ``OSError`` carrying exactly ``code``."""
    return pytest.raises(OSError, match=rf"^\[Errno {code}\] ")


def _oserror(call: object, *args: object) -> int | None:
    """The errno ``call(*args)`` fails with (the test fails if it does not)."""
    assert callable(call)
    with pytest.raises(OSError, match=r"^\[Errno \d+\] ") as info:
        call(*args)
    return info.value.errno


def _pcap_packets(path: Path) -> list[dpkt.ip.IP | dpkt.ip6.IP6]:
    """Every packet of a LINKTYPE_RAW capture, parsed by dpkt."""
    out = []
    with path.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        assert reader.datalink() == 101  # LINKTYPE_RAW
        for _, buf in reader:
            out.append(dpkt.ip6.IP6(buf) if buf[0] >> 4 == 6 else dpkt.ip.IP(buf))
    return out


# -- SOL_SOCKET ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        (SO_SNDBUF, 4096, 8192),
        (SO_SNDBUF, 65536, 131072),
        (SO_SNDBUF, 0, SOCK_MIN_SNDBUF),
        (SO_SNDBUF, 1000, SOCK_MIN_SNDBUF),
        (SO_SNDBUF, 2304, SOCK_MIN_SNDBUF),
        (SO_SNDBUF, 2305, 4610),
        (SO_SNDBUF, 1 << 30, 2 * (4 << 20)),  # capped at wmem_max (4 MiB), then doubled
        (SO_SNDBUF, -1, 2 * (4 << 20)),  # min_t(u32, ...): -1 is huge
        (SO_RCVBUF, 4096, 8192),
        (SO_RCVBUF, 0, SOCK_MIN_RCVBUF),
        (SO_RCVBUF, 1152, SOCK_MIN_RCVBUF),
        (SO_RCVBUF, 1153, 2306),
        (SO_RCVBUF, 1 << 30, 2 * (4 << 20)),
        (SO_SNDBUFFORCE, 1 << 24, 2 << 24),  # no cap
        (SO_SNDBUFFORCE, -5, SOCK_MIN_SNDBUF),
        (SO_RCVBUFFORCE, 1 << 24, 2 << 24),
        (SO_RCVBUFFORCE, -5, SOCK_MIN_RCVBUF),
    ],
)
async def test_buffer_sizes(
    option: int, value: int, expected: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        sock.setsockopt(SOL_SOCKET, option, value)
        read_back = SO_SNDBUF if option in (SO_SNDBUF, SO_SNDBUFFORCE) else SO_RCVBUF
        assert sock.getsockopt(SOL_SOCKET, read_back) == expected


async def test_buffer_caps_follow_the_sysctls(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        host.sysctl["net.core.wmem_max"] = 50000
        host.sysctl["net.core.rmem_max"] = 60000
        sock = host.socket(AF_INET6, SOCK_DGRAM)
        sock.setsockopt(SOL_SOCKET, SO_SNDBUF, 1 << 20)
        sock.setsockopt(SOL_SOCKET, SO_RCVBUF, 1 << 20)
        assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF) == 100000
        assert sock.getsockopt(SOL_SOCKET, SO_RCVBUF) == 120000
        sock.setsockopt(SOL_SOCKET, SO_SNDBUFFORCE, 1 << 20)
        assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF) == 2 << 20


async def test_wmem_default_applies_to_new_sockets(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        default = 212992  # SK_WMEM_DEFAULT with 17 frags
        old = host.socket(AF_INET, SOCK_DGRAM)
        assert old.getsockopt(SOL_SOCKET, SO_SNDBUF) == default
        assert host.sysctl["net.core.wmem_default"] == default
        host.sysctl["net.core.wmem_default"] = 32768
        new = host.socket(AF_INET6, SOCK_DGRAM)
        assert new.getsockopt(SOL_SOCKET, SO_SNDBUF) == 32768  # taken as is, not doubled
        assert old.getsockopt(SOL_SOCKET, SO_SNDBUF) == default


@pytest.mark.parametrize(("family", "domain"), [(AF_INET, 2), (AF_INET6, 10)])
async def test_read_only_identity_options(
    family: int, domain: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(family, SOCK_DGRAM)
        assert sock.getsockopt(SOL_SOCKET, SO_TYPE) == SOCK_DGRAM
        assert sock.getsockopt(SOL_SOCKET, SO_PROTOCOL) == IPPROTO_UDP
        assert sock.getsockopt(SOL_SOCKET, SO_DOMAIN) == domain
        for option in (SO_TYPE, SO_PROTOCOL, SO_DOMAIN, SO_ERROR):
            assert _oserror(sock.setsockopt, SOL_SOCKET, option, 1) == errno.ENOPROTOOPT
        assert sock.getsockopt(SOL_SOCKET, SO_TYPE) == SOCK_DGRAM


async def test_boolean_socket_options(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        for option in (SO_REUSEADDR, SO_KEEPALIVE, SO_BROADCAST):
            assert sock.getsockopt(SOL_SOCKET, option) == 0
            sock.setsockopt(SOL_SOCKET, option, 7)
            assert sock.getsockopt(SOL_SOCKET, option) == 1  # booleans read back as 1
            sock.setsockopt(SOL_SOCKET, option, 0)
            assert sock.getsockopt(SOL_SOCKET, option) == 0


async def test_unknown_options_and_levels(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        for level, option in [(SOL_SOCKET, 12345), (SOL_UDP, 99), (SOL_IP, 200), (99, 1)]:
            assert _oserror(sock.setsockopt, level, option, 1) == errno.ENOPROTOOPT
            # an unknown level reaches do_ip_getsockopt, which says EOPNOTSUPP (IPv4 only)
            want = errno.EOPNOTSUPP if level == 99 else errno.ENOPROTOOPT
            assert _oserror(sock.getsockopt, level, option) == want
        sock6 = host.socket(AF_INET6, SOCK_DGRAM)
        assert _oserror(sock6.getsockopt, 99, 1) == errno.ENOPROTOOPT  # ipv6_getsockopt
        assert _oserror(sock.getsockopt, netsim.SOL_IPV6, netsim.IPV6_V6ONLY) == errno.EOPNOTSUPP
        assert sock6.getsockopt(SOL_IP, IP_TTL) == 64  # SOL_IP works on AF_INET6 sockets
        assert _oserror(sock.setsockopt, netsim.SOL_TCP, netsim.TCP_NODELAY, 1) == (
            errno.ENOPROTOOPT
        )


async def test_values_as_bytes(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        sock.setsockopt(SOL_SOCKET, SO_SNDBUF, struct.pack("i", 10000))
        assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF) == 20000
        sock.setsockopt(SOL_SOCKET, SO_RCVBUF, bytearray(struct.pack("i", 9000)) + b"junk")
        assert sock.getsockopt(SOL_SOCKET, SO_RCVBUF) == 18000
        # shorter than an int: EINVAL at SOL_SOCKET and SOL_UDP
        for level, option in [(SOL_SOCKET, SO_SNDBUF), (SOL_SOCKET, SO_REUSEADDR)]:
            for short in (b"", b"\x01", b"\x01\x00\x00"):
                assert _oserror(sock.setsockopt, level, option, short) == errno.EINVAL
        assert _oserror(sock.setsockopt, SOL_UDP, UDP_CORK, b"\x01") == errno.EINVAL
        assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF) == 20000
        assert sock.getsockopt(SOL_UDP, UDP_CORK) == 0
        # setsockopt(level, opt, None, optlen) passes a NULL buffer: EINVAL if too short for
        # the option, else the kernel's copy faults (EFAULT); an unknown level never reads it
        assert _oserror(sock.setsockopt, SOL_SOCKET, SO_REUSEADDR, None, 4) == errno.EFAULT
        assert _oserror(sock.setsockopt, SOL_SOCKET, SO_REUSEADDR, None, 2) == errno.EINVAL
        assert _oserror(sock.setsockopt, 99, 1, None, 4) == errno.ENOPROTOOPT
        assert sock.getsockopt(SOL_SOCKET, SO_REUSEADDR) == 0


async def test_small_ip_options_take_a_single_byte(autojump_clock: trio.testing.MockClock) -> None:
    """``do_ip_setsockopt`` reads a value shorter than an int as an unsigned char (and
    ``do_ip_getsockopt`` answers a short buffer with one byte)."""
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        sock.setsockopt(SOL_IP, IP_TTL, b"\x07")
        assert sock.getsockopt(SOL_IP, IP_TTL) == 7
        sock.setsockopt(SOL_IP, IP_TTL, b"\xfe\x00")
        assert sock.getsockopt(SOL_IP, IP_TTL) == 254
        assert _oserror(sock.setsockopt, SOL_IP, IP_TTL, b"") == errno.EINVAL
        assert _oserror(sock.setsockopt, SOL_IP, IP_TTL, b"\x00") == errno.EINVAL  # TTL 0
        sock.setsockopt(SOL_IP, IP_TOS, b"\x10")
        assert sock.getsockopt(SOL_IP, IP_TOS) == 0x10
        sock.setsockopt(SOL_IP, IP_MTU_DISCOVER, b"")  # no value: 0 (IP_PMTUDISC_DONT)
        assert sock.getsockopt(SOL_IP, IP_MTU_DISCOVER) == IP_PMTUDISC_DONT
        assert sock.getsockopt(SOL_IP, IP_TTL, 1) == b"\xfe"
        assert sock.getsockopt(SOL_IP, IP_TTL, 2) == b"\xfe"
        assert sock.getsockopt(SOL_IP, IP_TTL, 4) == struct.pack("i", 254)
        assert sock.getsockopt(SOL_IP, IP_TTL, 8) == struct.pack("i", 254)


async def test_getsockopt_with_buflen_returns_packed_bytes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        sndbuf = sock.getsockopt(SOL_SOCKET, SO_SNDBUF)
        assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF, 4) == struct.pack("i", sndbuf)
        assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF, 16) == struct.pack("i", sndbuf)
        assert sock.getsockopt(SOL_SOCKET, SO_TYPE, 2) == struct.pack("i", SOCK_DGRAM)[:2]
        assert sock.getsockopt(SOL_UDP, UDP_CORK, 4) == bytes(4)
        assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF, 0) == sndbuf  # CPython: 0 is the int form
        # Python's getsockopt refuses a buflen outside 0..1024 before the system call
        for bad in (-1, 1025):
            with pytest.raises(OSError, match="getsockopt buflen out of range"):
                sock.getsockopt(SOL_SOCKET, SO_SNDBUF, bad)


# -- SOL_IP / SOL_IPV6 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "errno_or_result"),
    [(0, errno.EINVAL), (256, errno.EINVAL), (-2, errno.EINVAL), (1, 1), (255, 255), (-1, 64)],
)
async def test_ip_ttl_range(
    value: int, errno_or_result: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        sock.setsockopt(SOL_IP, IP_TTL, 99)
        if value in (0, 256, -2):
            assert _oserror(sock.setsockopt, SOL_IP, IP_TTL, value) == errno_or_result
            assert sock.getsockopt(SOL_IP, IP_TTL) == 99
        else:
            sock.setsockopt(SOL_IP, IP_TTL, value)
            # -1 means "the default": net.ipv4.ip_default_ttl
            assert sock.getsockopt(SOL_IP, IP_TTL) == errno_or_result


async def test_ip_mtu_discover_range(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        assert sock.getsockopt(SOL_IP, IP_MTU_DISCOVER) == IP_PMTUDISC_WANT
        for value in range(IP_PMTUDISC_DONT, IP_PMTUDISC_OMIT + 1):
            sock.setsockopt(SOL_IP, IP_MTU_DISCOVER, value)
            assert sock.getsockopt(SOL_IP, IP_MTU_DISCOVER) == value
        for bad in (-1, 6, 100):
            assert _oserror(sock.setsockopt, SOL_IP, IP_MTU_DISCOVER, bad) == errno.EINVAL
        assert sock.getsockopt(SOL_IP, IP_MTU_DISCOVER) == IP_PMTUDISC_OMIT
        sock6 = host.socket(AF_INET6, SOCK_DGRAM)
        for bad in (-1, 6):
            assert _oserror(sock6.setsockopt, SOL_IPV6, IPV6_MTU_DISCOVER, bad) == errno.EINVAL


async def test_ip_mtu_on_loopback(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        assert _oserror(sock.getsockopt, SOL_IP, IP_MTU) == errno.ENOTCONN
        await sock.bind(("127.0.0.1", 0))
        assert _oserror(sock.getsockopt, SOL_IP, IP_MTU) == errno.ENOTCONN  # bound only
        await sock.connect(("127.0.0.1", 9))
        assert sock.getsockopt(SOL_IP, IP_MTU) == 65535  # lo's 65536 capped at IP_MAX_MTU
        assert _oserror(sock.setsockopt, SOL_IP, IP_MTU, 1000) == errno.ENOPROTOOPT  # read-only
        sock6 = host.socket(AF_INET6, SOCK_DGRAM)
        assert _oserror(sock6.getsockopt, SOL_IPV6, IPV6_MTU) == errno.ENOTCONN
        await sock6.connect(("::1", 9))
        assert sock6.getsockopt(SOL_IPV6, IPV6_MTU) == 65536


async def test_ip_mtu_across_a_link(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, mtu=1500)
        sock = a.socket(AF_INET, SOCK_DGRAM)
        await sock.connect(("10.0.0.2", 9))
        assert sock.getsockopt(SOL_IP, IP_MTU) == 1500
        sock6 = a.socket(AF_INET6, SOCK_DGRAM)
        await sock6.connect(("fd00::2", 9))
        assert sock6.getsockopt(SOL_IPV6, IPV6_MTU) == 1500
        await sock.disconnect()
        assert _oserror(sock.getsockopt, SOL_IP, IP_MTU) == errno.ENOTCONN


async def test_ipv6_options_on_an_ipv4_socket(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        for option in (IPV6_V6ONLY, IPV6_UNICAST_HOPS, IPV6_MTU_DISCOVER, IPV6_DONTFRAG):
            # ip_setsockopt: not SOL_IP, ENOPROTOOPT; do_ip_getsockopt: EOPNOTSUPP
            assert _oserror(sock.setsockopt, SOL_IPV6, option, 1) == errno.ENOPROTOOPT
            assert _oserror(sock.getsockopt, SOL_IPV6, option) == errno.EOPNOTSUPP


async def test_ipv6_options(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET6, SOCK_DGRAM)
        assert sock.getsockopt(SOL_IPV6, IPV6_UNICAST_HOPS) == 64
        sock.setsockopt(SOL_IPV6, IPV6_UNICAST_HOPS, 5)
        assert sock.getsockopt(SOL_IPV6, IPV6_UNICAST_HOPS) == 5
        for bad in (-2, 256):
            assert _oserror(sock.setsockopt, SOL_IPV6, IPV6_UNICAST_HOPS, bad) == errno.EINVAL
        sock.setsockopt(SOL_IPV6, IPV6_UNICAST_HOPS, -1)
        assert sock.getsockopt(SOL_IPV6, IPV6_UNICAST_HOPS) == 64
        assert sock.getsockopt(SOL_IPV6, IPV6_DONTFRAG) == 0
        sock.setsockopt(SOL_IPV6, IPV6_DONTFRAG, 1)
        assert sock.getsockopt(SOL_IPV6, IPV6_DONTFRAG) == 1
        # SOL_IP options work on an AF_INET6 socket too (they apply to its IPv4 traffic)
        sock.setsockopt(SOL_IP, IP_RECVERR, 1)
        assert sock.getsockopt(SOL_IP, IP_RECVERR) == 1


# -- SOL_UDP -------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_udp_level_options(family: int, autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(family, SOCK_DGRAM)
        for option in (UDP_CORK, UDP_SEGMENT, UDP_GRO):
            assert sock.getsockopt(SOL_UDP, option) == 0
        sock.setsockopt(SOL_UDP, UDP_CORK, 5)
        assert sock.getsockopt(SOL_UDP, UDP_CORK) == 1
        sock.setsockopt(SOL_UDP, UDP_CORK, 0)
        sock.setsockopt(SOL_UDP, UDP_SEGMENT, 1400)
        assert sock.getsockopt(SOL_UDP, UDP_SEGMENT) == 1400
        sock.setsockopt(SOL_UDP, UDP_SEGMENT, 65535)
        assert sock.getsockopt(SOL_UDP, UDP_SEGMENT) == 65535
        for bad in (70000, 65536, -1):
            assert _oserror(sock.setsockopt, SOL_UDP, UDP_SEGMENT, bad) == errno.EINVAL
        assert sock.getsockopt(SOL_UDP, UDP_SEGMENT) == 65535
        sock.setsockopt(SOL_UDP, UDP_GRO, 1)
        assert sock.getsockopt(SOL_UDP, UDP_GRO) == 1


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_udp_cork_joins_sends_into_one_datagram(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        rx = host.socket(family, SOCK_DGRAM)
        await rx.bind((LOOPBACK[family], 0))
        tx = host.socket(family, SOCK_DGRAM)
        await tx.connect(rx.getsockname())
        tx.setsockopt(SOL_UDP, UDP_CORK, 1)
        await tx.send(b"one ")
        await tx.send(b"two ")
        await tx.sendmsg([b"three"], [], netsim.MSG_MORE)
        assert not rx.is_readable()
        tx.setsockopt(SOL_UDP, UDP_CORK, 0)  # uncorking pushes the datagram
        assert await rx.recv(100) == b"one two three"
        # MSG_MORE corks one send
        await tx.send(b"a", netsim.MSG_MORE)
        await tx.send(b"b")
        assert await rx.recv(100) == b"ab"
        mib = "Udp" if family == AF_INET else "Udp6"
        assert host.stats()[mib + "OutDatagrams"] == 2


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_udp_segment_and_gro_over_loopback(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        rx = host.socket(family, SOCK_DGRAM)
        await rx.bind((LOOPBACK[family], 0))
        tx = host.socket(family, SOCK_DGRAM)
        await tx.connect(rx.getsockname())
        payload = bytes(range(250)) * 10  # 2500 bytes
        tx.setsockopt(SOL_UDP, UDP_SEGMENT, 1000)
        await tx.send(payload)
        # without UDP_GRO the receiver gets the segments as separate datagrams
        assert [await rx.recv(5000) for _ in range(3)] == [
            payload[:1000],
            payload[1000:2000],
            payload[2000:],
        ]
        # with UDP_GRO it takes the GSO skb whole
        rx.setsockopt(SOL_UDP, UDP_GRO, 1)
        await tx.send(payload)
        assert await rx.recv(5000) == payload
        # a UDP_SEGMENT control message overrides the option for one send
        rx.setsockopt(SOL_UDP, UDP_GRO, 0)
        tx.setsockopt(SOL_UDP, UDP_SEGMENT, 0)
        await tx.sendmsg([payload], [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", 1250))])
        assert [await rx.recv(5000) for _ in range(2)] == [payload[:1250], payload[1250:]]
        # more than UDP_MAX_SEGMENTS (128) segments is EINVAL
        tx.setsockopt(SOL_UDP, UDP_SEGMENT, 100)
        assert await tx.send(bytes(12800)) == 12800
        with raises_errno(errno.EINVAL):
            await tx.send(bytes(12801))


async def test_uncorking_a_datagram_that_cannot_be_sent_is_no_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``udp_lib_setsockopt()`` pushes the corked datagram and ignores what the push returns:
    ``UDP_CORK`` 0 succeeds and the datagram is gone (checked on the 6.18 host, ``lo`` at
    MTU 576).  netsim raised the push's error from ``setsockopt``.  Here ``UDP_SEGMENT`` 1200
    does not fit the 576-byte path (``udp_send_skb``: ``EMSGSIZE``).  Found by the property
    tests."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b, mtu=576)
        rx = b.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("10.0.0.2", 7000))
        tx = a.socket(AF_INET, SOCK_DGRAM)
        tx.setsockopt(SOL_UDP, UDP_SEGMENT, 1200)
        assert await tx.sendto(b"x" * 549, netsim.MSG_MORE, ("10.0.0.2", 7000)) == 549
        tx.setsockopt(SOL_UDP, UDP_CORK, 0)  # no error: the datagram is dropped
        with raises_errno(errno.EMSGSIZE):  # the same datagram sent at once is refused
            await tx.sendto(b"y" * 549, ("10.0.0.2", 7000))
        tx.setsockopt(SOL_UDP, UDP_SEGMENT, 0)
        assert await tx.sendto(b"z" * 549, ("10.0.0.2", 7000)) == 549  # fragmented
        assert await rx.recv(1000) == b"z" * 549  # nothing of the first two
        tx.close()
        rx.close()


# -- sysctls seen on the wire ----------------------------------------------------------------


async def test_ttl_and_tos_on_the_wire(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET6, SOCK_DGRAM)
        await rx.bind(("::", 0))
        port = rx.getsockname()[1]
        v4 = host.socket(AF_INET, SOCK_DGRAM)
        v6 = host.socket(AF_INET6, SOCK_DGRAM)
        path = tmp_path / "lo.pcap"
        with host.capture(str(path)):
            await v4.sendto(b"default ttl", ("127.0.0.1", port))
            host.sysctl["net.ipv4.ip_default_ttl"] = 33
            await v4.sendto(b"sysctl ttl", ("127.0.0.1", port))
            v4.setsockopt(SOL_IP, IP_TTL, 7)
            await v4.sendto(b"socket ttl", ("127.0.0.1", port))
            await v6.sendto(b"default hops", ("::1", port))
            v6.setsockopt(SOL_IPV6, IPV6_UNICAST_HOPS, 3)
            await v6.sendto(b"socket hops", ("::1", port))
            v4.setsockopt(SOL_IP, IP_TOS, 0xB8)
            await v4.sendto(b"tos", ("127.0.0.1", port))
        packets = _pcap_packets(path)
        assert [_hops_and_payload(ip) for ip in packets] == [
            (4, 64, b"default ttl"),
            (4, 33, b"sysctl ttl"),
            (4, 7, b"socket ttl"),
            (6, 64, b"default hops"),
            (6, 3, b"socket hops"),
            (4, 7, b"tos"),
        ]
        assert packets[-1].tos == 0xB8
        assert v4.getsockopt(SOL_IP, IP_TTL) == 7
        v4.setsockopt(SOL_IP, IP_TTL, -1)
        assert v4.getsockopt(SOL_IP, IP_TTL) == 33


def _hops_and_payload(ip: dpkt.ip.IP | dpkt.ip6.IP6) -> tuple[int, int, bytes]:
    if isinstance(ip, dpkt.ip6.IP6):
        return 6, ip.hlim, bytes(ip.data.data)
    return 4, ip.ttl, bytes(ip.data.data)


async def test_hop_limit_follows_the_output_device_conf(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Without ``IPV6_UNICAST_HOPS`` a packet takes its output device's hop limit
    (``ip6_dst_hoplimit``: ``net.ipv6.conf.lo.hop_limit`` on loopback), and a write to
    ``conf.all`` does not reach existing devices (as on the 6.18 host)."""
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET6, SOCK_DGRAM)
        await rx.bind(("::1", 0))
        tx = host.socket(AF_INET6, SOCK_DGRAM)
        path = tmp_path / "lo.pcap"
        with host.capture(str(path)):
            host.sysctl["net.ipv6.conf.lo.hop_limit"] = 9
            await tx.sendto(b"lo conf", rx.getsockname())
            host.sysctl["net.ipv6.conf.all.hop_limit"] = 20
            await tx.sendto(b"all conf", rx.getsockname())
        assert [_hops_and_payload(ip) for ip in _pcap_packets(path)] == [
            (6, 9, b"lo conf"),
            (6, 9, b"all conf"),
        ]


async def test_hop_limit_of_tcp_of_new_devices_and_in_getsockopt(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The device's hop limit everywhere a sender sets none: TCP segments and the resets
    sent for no socket; ``getsockopt(IPV6_UNICAST_HOPS)`` of a connected socket (its route's
    device), ``conf.all``'s of an unconnected one; a device made later starts with
    ``conf.default``'s value and keeps it when ``conf.default`` changes again — each as the
    6.18 host answered."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        a.sysctl["net.ipv6.conf.lo.hop_limit"] = 9
        a.sysctl["net.ipv6.conf.all.hop_limit"] = 20
        a.sysctl["net.ipv6.conf.default.hop_limit"] = 33
        netsim.link(a, b)  # a's eth0 takes conf.default's 33
        a.sysctl["net.ipv6.conf.default.hop_limit"] = 44
        assert a.net.devices["eth0"].ipv6_hop_limit == 33
        listener = a.socket(AF_INET6, SOCK_STREAM)
        await listener.bind(("::1", 0))
        listener.listen(1)
        client = a.socket(AF_INET6, SOCK_STREAM)
        assert client.getsockopt(IPPROTO_IPV6, IPV6_UNICAST_HOPS) == 20
        lo_path, eth_path = tmp_path / "lo.pcap", tmp_path / "eth0.pcap"
        with a.capture(str(lo_path)), a.capture(str(eth_path), "eth0"):
            await client.connect(listener.getsockname())
            server, _ = await listener.accept()
            assert client.getsockopt(IPPROTO_IPV6, IPV6_UNICAST_HOPS) == 9
            assert server.getsockopt(IPPROTO_IPV6, IPV6_UNICAST_HOPS) == 9
            await client.send(b"over lo")
            assert await server.recv(100) == b"over lo"
            stray = a.socket(AF_INET6, SOCK_STREAM)
            with pytest.raises(ConnectionRefusedError):
                await stray.connect(("fd00::1", 9))  # a's own address: a reset, via lo
            udp = a.socket(AF_INET6, SOCK_DGRAM)
            await udp.sendto(b"over eth0", ("fd00::2", 9))
        lo_hops = {ip.hlim for ip in _pcap_packets(lo_path)}
        assert lo_hops == {9}
        assert [(ip.hlim, bytes(ip.data.data)) for ip in _pcap_packets(eth_path)] == [
            (33, b"over eth0")
        ]
        for sock in (client, server, listener, stray, udp):
            sock.close()


async def test_df_bit_follows_ip_mtu_discover(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("127.0.0.1", 0))
        tx = host.socket(AF_INET, SOCK_DGRAM)
        path = tmp_path / "lo.pcap"
        with host.capture(str(path)):
            for mode in (IP_PMTUDISC_DONT, IP_PMTUDISC_WANT, IP_PMTUDISC_DO):
                tx.setsockopt(SOL_IP, IP_MTU_DISCOVER, mode)
                await tx.sendto(b"x" * 100, rx.getsockname())
        assert [ip.df for ip in _pcap_packets(path)] == [0, 1, 1]


async def test_dual_stack_ttl_and_hop_limit_are_separate(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET6, SOCK_DGRAM)
        await rx.bind(("::", 7000))
        sock = host.socket(AF_INET6, SOCK_DGRAM)
        sock.setsockopt(SOL_IPV6, IPV6_UNICAST_HOPS, 5)
        sock.setsockopt(SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
        path = tmp_path / "lo.pcap"
        with host.capture(str(path)):
            await sock.sendto(b"v4", ("::ffff:127.0.0.1", 7000))
            await sock.sendto(b"v6", ("::1", 7000))
        assert [_hops_and_payload(ip) for ip in _pcap_packets(path)] == [
            (4, 64, b"v4"),
            (6, 5, b"v6"),
        ]
        assert sock.getsockopt(SOL_IP, IP_TTL) == 64
        assert sock.getsockopt(SOL_IPV6, IPV6_MTU_DISCOVER) == IP_PMTUDISC_WANT
