"""End to end over loopback: what ``sendto``/``recvfrom`` and friends do with addresses, flags,
buffer sizes and datagram limits (net/ipv4/udp.c ``udp_sendmsg``/``udp_recvmsg``,
net/ipv6/udp.c ``udpv6_sendmsg``, net/ipv4/ip_output.c ``__ip_append_data``)."""

from __future__ import annotations

import errno
import random
import socket as stdlib_socket
from contextlib import AbstractContextManager

import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, AF_INET6, MSG_DONTWAIT, MSG_PEEK, MSG_TRUNC, SOCK_DGRAM

LO4 = "127.0.0.1"
LO6 = "::1"
LOOPBACK = {AF_INET: LO4, AF_INET6: LO6}
MIB = {AF_INET: "Udp", AF_INET6: "Udp6"}


def raises_errno(code: int) -> AbstractContextManager[pytest.ExceptionInfo[OSError]]:
    """``pytest.raises`` for an ``OSError`` carrying exactly ``code``."""
    return pytest.raises(OSError, match=rf"^\[Errno {code}\] ")


def _payload(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


async def _pair(host: netsim.Host, family: int) -> tuple[netsim.Socket, netsim.Socket]:
    """An unconnected sender and a receiver bound on loopback."""
    tx = host.socket(family, SOCK_DGRAM)
    rx = host.socket(family, SOCK_DGRAM)
    await tx.bind((LOOPBACK[family], 0))
    await rx.bind((LOOPBACK[family], 0))
    return tx, rx


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_sendto_recvfrom_addresses(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        tx, rx = await _pair(host, family)
        n = await tx.sendto(b"datagram one", rx.getsockname())
        assert n == len(b"datagram one")
        data, addr = await rx.recvfrom(100)
        assert data == b"datagram one"
        assert addr == tx.getsockname()
        # flags in the middle, as socket.sendto(data, flags, address)
        await tx.sendto(b"two", 0, rx.getsockname())
        assert await rx.recvfrom(100) == (b"two", tx.getsockname())
        # and sendmsg with an address and several buffers
        assert await tx.sendmsg(
            [b"th", bytearray(b"r"), memoryview(b"ee")], [], 0, rx.getsockname()
        )
        assert await rx.recvfrom(100) == (b"three", tx.getsockname())


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_connected_send_and_recv(family: int, autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        a, b = await _pair(host, family)
        await a.connect(b.getsockname())
        await b.connect(a.getsockname())
        assert await a.send(b"hello") == 5
        assert await b.recv(100) == b"hello"
        await b.send(b"world")
        assert await a.recvfrom(100) == (b"world", b.getsockname())
        # a connected socket only takes datagrams from its peer
        other = host.socket(family, SOCK_DGRAM)
        await other.sendto(b"stranger", a.getsockname())
        await b.send(b"peer")
        assert await a.recv(100) == b"peer"
        with pytest.raises(BlockingIOError):
            await a.recv(100, MSG_DONTWAIT)
        # an explicit destination overrides the connected one (udp_sendmsg)
        await a.sendto(b"elsewhere", other.getsockname())
        assert await other.recv(100) == b"elsewhere"


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_send_on_unconnected_socket_is_edestaddrreq(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(family, SOCK_DGRAM)
        for call in (sock.send(b"x"), sock.sendmsg([b"x"])):
            with raises_errno(errno.EDESTADDRREQ):
                await call
        await sock.connect((LOOPBACK[family], 9))
        await sock.disconnect()
        with raises_errno(errno.EDESTADDRREQ):
            await sock.send(b"x")
        assert host.stats()[MIB[family] + "OutDatagrams"] == 0


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_destination_port_zero_is_einval(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(family, SOCK_DGRAM)
        with raises_errno(errno.EINVAL):
            await sock.sendto(b"x", (LOOPBACK[family], 0))
        assert host.stats()[MIB[family] + "OutDatagrams"] == 0


async def test_ipv4_socket_refuses_an_ipv6_destination(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """As trio's (and the stdlib's) sockets: an address of the other family is not numeric
    for this one, so it goes to getaddrinfo(), which finds no IPv4 address for it."""
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET, SOCK_DGRAM)
        for call in (sock.sendto(b"x", (LO6, 9)), sock.connect((LO6, 9))):
            with pytest.raises(stdlib_socket.gaierror) as info:
                await call
            assert info.value.errno == stdlib_socket.EAI_ADDRFAMILY
        assert host.stats()["UdpOutDatagrams"] == 0
        assert host.stats()["Udp6OutDatagrams"] == 0


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_msg_dontwait_on_empty_queue_is_eagain(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        _, rx = await _pair(host, family)
        start = trio.current_time()
        for call in (
            rx.recv(10, MSG_DONTWAIT),
            rx.recvfrom(10, MSG_DONTWAIT),
            rx.recv_into(bytearray(10), 0, MSG_DONTWAIT),
            rx.recvmsg(10, 0, MSG_DONTWAIT),
        ):
            with pytest.raises(BlockingIOError) as info:
                await call
            assert isinstance(info.value, OSError)
            assert info.value.errno == errno.EAGAIN
        assert trio.current_time() == start  # nothing waited
        assert not rx.is_readable()


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_small_buffer_truncates(family: int, autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        tx, rx = await _pair(host, family)
        payload = _payload(3000, seed=1)

        await tx.sendto(payload, rx.getsockname())
        data, ancdata, msg_flags, addr = await rx.recvmsg(1000)
        assert data == payload[:1000]
        assert ancdata == []
        assert msg_flags & MSG_TRUNC
        assert addr == tx.getsockname()

        await tx.sendto(payload, rx.getsockname())
        data, ancdata, msg_flags, addr = await rx.recvmsg(3000)
        assert data == payload
        assert msg_flags == 0

        # the rest of a truncated datagram is gone: the next read sees the next datagram
        await tx.sendto(payload, rx.getsockname())
        await tx.sendto(b"next", rx.getsockname())
        assert await rx.recv(10) == payload[:10]
        assert await rx.recv(10) == b"next"

        # recv_into with MSG_TRUNC reports the datagram's real length (udp_recvmsg)
        await tx.sendto(payload, rx.getsockname())
        buf = bytearray(100)
        assert await rx.recv_into(buf, 50, MSG_TRUNC) == 3000
        assert buf[:50] == payload[:50]
        assert buf[50:] == bytes(50)


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_recv_into_and_recvfrom_into(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        tx, rx = await _pair(host, family)
        await tx.sendto(b"0123456789", rx.getsockname())
        buf = bytearray(b"." * 16)
        assert await rx.recv_into(buf) == 10
        assert buf == b"0123456789......"

        await tx.sendto(b"abcdefghij", rx.getsockname())
        buf = bytearray(b"." * 16)
        n, addr = await rx.recvfrom_into(buf, 4)
        assert (n, addr) == (4, tx.getsockname())
        assert buf == b"abcd............"

        await tx.sendto(b"xyz", rx.getsockname())
        view = memoryview(bytearray(8))
        n, addr = await rx.recvfrom_into(view[2:])
        assert n == 3
        assert bytes(view) == b"\0\0xyz\0\0\0"

        with pytest.raises(ValueError, match="buffer too small"):
            await rx.recv_into(bytearray(4), 5)


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_msg_peek_leaves_the_datagram(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        tx, rx = await _pair(host, family)
        await tx.sendto(b"first", rx.getsockname())
        await tx.sendto(b"second", rx.getsockname())
        assert await rx.recvfrom(100, MSG_PEEK) == (b"first", tx.getsockname())
        assert await rx.recv(3, MSG_PEEK) == b"fir"
        buf = bytearray(5)
        assert await rx.recv_into(buf, 0, MSG_PEEK) == 5
        assert host.stats()[MIB[family] + "InDatagrams"] == 0  # peeking reads nothing
        assert await rx.recv(100) == b"first"
        assert await rx.recv(100) == b"second"
        assert host.stats()[MIB[family] + "InDatagrams"] == 2


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_zero_length_datagrams(family: int, autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        tx, rx = await _pair(host, family)
        assert await tx.sendto(b"", rx.getsockname()) == 0
        await tx.sendmsg([], [], 0, rx.getsockname())
        await tx.sendto(b"after", rx.getsockname())
        assert rx.is_readable()
        assert await rx.recvfrom(100) == (b"", tx.getsockname())
        data, _, msg_flags, _ = await rx.recvmsg(0)
        assert (data, msg_flags) == (b"", 0)
        assert await rx.recv(100) == b"after"
        stats = host.stats()
        assert stats[MIB[family] + "OutDatagrams"] == 3
        assert stats[MIB[family] + "InDatagrams"] == 3


@pytest.mark.parametrize(("family", "largest"), [(AF_INET, 65507), (AF_INET6, 65527)])
async def test_largest_datagram(
    family: int, largest: int, autojump_clock: trio.testing.MockClock
) -> None:
    """65535 - 20 - 8 for IPv4 (``maxnonfragsize`` is ``IP_MAX_MTU``); 65535 - 8 for IPv6,
    whose payload length does not count the 40-byte header."""
    async with netsim.open_host() as host:
        tx, rx = await _pair(host, family)
        payload = _payload(largest, seed=largest)
        assert await tx.sendto(payload, rx.getsockname()) == largest
        assert await rx.recv(70000) == payload

        with raises_errno(errno.EMSGSIZE):
            await tx.sendto(payload + b"!", rx.getsockname())
        with raises_errno(errno.EMSGSIZE):
            await tx.sendto(bytes(100_000), rx.getsockname())
        with pytest.raises(BlockingIOError):
            await rx.recv(70000, MSG_DONTWAIT)
        stats = host.stats()
        assert stats[MIB[family] + "OutDatagrams"] == 1
        assert stats[MIB[family] + "InDatagrams"] == 1


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_many_sizes_arrive_byte_exact(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    rng = random.Random(1234)
    sizes = [0, 1, 7, 8, 100, 1472, 4096, 16000, 16100, 32768, 40000, 60000]
    sizes += [rng.randrange(65508) for _ in range(10)]
    async with netsim.open_host() as host:
        tx, rx = await _pair(host, family)
        sent = []
        for i, n in enumerate(sizes):
            payload = _payload(n, seed=i)
            sent.append(payload)
            await tx.sendto(payload, rx.getsockname())
            if i % 3 == 2:  # read some of them late
                for expected in sent:
                    assert await rx.recv(65536) == expected
                sent.clear()
        for expected in sent:
            assert await rx.recv(65536) == expected
        assert host.stats()[MIB[family] + "InDatagrams"] == len(sizes)


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_in_datagrams_counts_reads_not_arrivals(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        tx, rx = await _pair(host, family)
        for i in range(5):
            await tx.sendto(bytes([i]) * 10, rx.getsockname())
        stats = host.stats()
        assert stats[MIB[family] + "OutDatagrams"] == 5
        assert stats[MIB[family] + "InDatagrams"] == 0
        assert len(rx.sk.sk_receive_queue) == 5
        for i in range(3):
            assert await rx.recv(10) == bytes([i]) * 10
            assert host.stats()[MIB[family] + "InDatagrams"] == i + 1
        rx.close()  # the two unread datagrams are dropped, not counted
        assert host.stats()[MIB[family] + "InDatagrams"] == 3
        assert host.stats()[MIB[family] + "InErrors"] == 0


async def test_blocking_recv_waits_for_data(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        tx, rx = await _pair(host, AF_INET)
        got: list[tuple[float, bytes]] = []

        async def reader() -> None:
            data = await rx.recv(100)
            got.append((trio.current_time(), data))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.sleep(5)
            assert got == []
            await tx.sendto(b"wake up", rx.getsockname())
        ((when, data),) = got
        assert data == b"wake up"
        assert when == pytest.approx(5.0)


@pytest.mark.parametrize(("family", "anyaddr"), [(AF_INET, "0.0.0.0"), (AF_INET6, "::")])
async def test_wildcard_destination_means_this_host(
    family: int, anyaddr: str, autojump_clock: trio.testing.MockClock
) -> None:
    """Sending or connecting to ``0.0.0.0`` / ``::`` reaches the local host: routing rewrites
    the destination (``ip_route_output_key_hash_rcu``: the bound source, else 127.0.0.1;
    ``udpv6_sendmsg``/``__ip6_datagram_connect``: ``::1``)."""
    async with netsim.open_host() as host:
        rx = host.socket(family, SOCK_DGRAM)
        await rx.bind((anyaddr, 0))
        port = rx.getsockname()[1]
        tx = host.socket(family, SOCK_DGRAM)
        await tx.sendto(b"to any", (anyaddr, port))
        data, addr = await rx.recvfrom(100)
        assert data == b"to any"
        assert addr[0] == LOOPBACK[family]

        await tx.connect((anyaddr, port))
        assert tx.getpeername()[:2] == (LOOPBACK[family], port)
        await tx.send(b"connected to any")
        assert await rx.recv(100) == b"connected to any"
        await rx.sendto(b"reply", tx.getsockname())
        assert await tx.recv(100) == b"reply"


async def test_wildcard_destination_uses_the_bound_source(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("127.0.0.5", 0))
        port = rx.getsockname()[1]
        tx = host.socket(AF_INET, SOCK_DGRAM)
        await tx.bind(("127.0.0.5", 0))
        await tx.sendto(b"self", ("0.0.0.0", port))
        assert await rx.recvfrom(100) == (b"self", tx.getsockname())


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_shutdown(family: int, autojump_clock: trio.testing.MockClock) -> None:
    """``inet_shutdown`` on UDP: ``SHUT_RD`` makes an empty blocking receive return 0 bytes
    at once — a non-blocking one is still ``EAGAIN`` (``__skb_recv_udp``; checked on the
    6.18 host; netsim returned 0 bytes, found by the property tests) — but does not stop
    datagrams from being queued (the UDP receive path never looks at ``RCV_SHUTDOWN``);
    ``SHUT_WR`` makes sends fail with ``EPIPE``; an unconnected socket reports ``ENOTCONN``
    yet is shut down all the same."""
    async with netsim.open_host() as host:
        a, b = await _pair(host, family)
        await a.connect(b.getsockname())
        await b.connect(a.getsockname())
        b.shutdown(stdlib_socket.SHUT_RD)
        assert await b.recv(100) == b""  # does not block
        with raises_errno(errno.EAGAIN):
            await b.recv(100, MSG_DONTWAIT)
        await a.send(b"after SHUT_RD")
        assert await b.recv(100) == b"after SHUT_RD"
        assert await b.recv(100) == b""
        assert host.stats()[MIB[family] + "RcvbufErrors"] == 0

        b.shutdown(stdlib_socket.SHUT_WR)
        with raises_errno(errno.EPIPE):
            await b.send(b"x")
        assert b.did_shutdown_SHUT_WR

        lone = host.socket(family, SOCK_DGRAM)
        with raises_errno(errno.ENOTCONN):
            lone.shutdown(stdlib_socket.SHUT_RDWR)
        assert await lone.recv(100) == b""
        with raises_errno(errno.EPIPE):
            await lone.sendto(b"x", b.getsockname())
        with raises_errno(errno.EINVAL):
            lone.shutdown(7)


async def test_recv_would_wait_exactly_when_a_blocking_recvmsg_would_sleep(
    netsim_udp_pair: tuple[netsim.Socket, netsim.Socket], autojump_clock: trio.abc.Clock
) -> None:
    """``udp_recv_would_wait`` (what the runtime tests before it parks a reader) agrees with
    the core: a blocking ``udp_recvmsg`` raises ``SockWait`` exactly when it says so — an
    empty queue; not with a datagram, a pending error, or after ``SHUT_RD``."""
    from netsim.sock import SockWait
    from netsim.udp import UdpSock, udp_recv_would_wait, udp_recvmsg

    a, b = netsim_udp_pair
    sk = b.sk
    assert isinstance(sk, UdpSock)

    def core_would_sleep() -> bool:
        try:
            udp_recvmsg(sk, 100, netsim.MSG_PEEK, False)
        except SockWait:
            return True
        except OSError:
            return False
        return False

    assert udp_recv_would_wait(sk)
    assert core_would_sleep()
    await a.send(b"x")
    assert not udp_recv_would_wait(sk)
    assert not core_would_sleep()
    assert await b.recv(10) == b"x"
    assert udp_recv_would_wait(sk)
    sk.sk_err = errno.ECONNREFUSED  # what an ICMP port unreachable leaves
    assert not udp_recv_would_wait(sk)
    with pytest.raises(ConnectionRefusedError):
        await b.recv(10)
    assert udp_recv_would_wait(sk)  # the error was reported once
    b.shutdown(netsim.SHUT_RD)
    assert not udp_recv_would_wait(sk)
    assert not core_would_sleep()
    assert await b.recv(10) == b""  # a blocking read after SHUT_RD returns, empty
