"""``Socket.ioctl``: the queue-size ioctls (``SIOCINQ``/``FIONREAD``, ``SIOCOUTQ``,
``SIOCOUTQNSD``, ``SIOCATMARK``) as net/ipv4/tcp.c ``tcp_ioctl`` and net/ipv4/udp.c
``udp_ioctl`` answer them.  The values were checked on the 6.18 host with
``fcntl.ioctl`` over loopback in a private namespace: a listener's ``SIOCINQ`` and
``SIOCOUTQ`` are ``EINVAL``, an unknown request ``ENOTTY``, a received FIN is not counted, a
UDP socket reports the next datagram's payload size."""

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
    FIONREAD,
    MSG_OOB,
    SHUT_WR,
    SIOCATMARK,
    SIOCINQ,
    SIOCOUTQ,
    SIOCOUTQNSD,
    SOCK_DGRAM,
    SOCK_STREAM,
    TIOCOUTQ,
)

FAMILIES = pytest.mark.parametrize("family", [AF_INET, AF_INET6], ids=["ipv4", "ipv6"])
LOCAL = {AF_INET: "127.0.0.1", AF_INET6: "::1"}
B_ADDR = {AF_INET: "10.0.0.2", AF_INET6: "fd00::2"}


def raises_errno(code: int) -> AbstractContextManager[pytest.ExceptionInfo[OSError]]:
    return pytest.raises(OSError, match=rf"^\[Errno {code}\] ")


async def _pair(
    client_host: netsim.Host, server_host: netsim.Host, family: int, addr: str
) -> tuple[netsim.Socket, netsim.Socket, netsim.Socket]:
    listener = server_host.socket(family, SOCK_STREAM)
    await listener.bind((addr, 0))
    listener.listen(4)
    client = client_host.socket(family, SOCK_STREAM)
    await client.connect(listener.getsockname())
    server, _ = await listener.accept()
    return listener, client, server


@FAMILIES
async def test_tcp_queues_seen_through_ioctl(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Over a 10 ms link: ``SIOCOUTQ`` counts what is unacknowledged and ``SIOCOUTQNSD`` what
    is unsent (a zero window holds it back); ``SIOCINQ`` what the reader may take, not the
    FIN; a listener refuses both queue requests."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, delay=0.01)
        listener, client, server = await _pair(a, b, family, B_ADDR[family])
        with raises_errno(errno.EINVAL):
            listener.ioctl(SIOCINQ)
        with raises_errno(errno.EINVAL):
            listener.ioctl(SIOCOUTQ)
        assert listener.ioctl(SIOCATMARK) == 0
        with raises_errno(errno.ENOTTY):
            listener.ioctl(0x1234)
        listener.close()

        assert await client.send(b"a" * 3000) == 3000
        assert client.ioctl(SIOCOUTQ) == client.ioctl(TIOCOUTQ) == 3000  # in flight
        assert client.ioctl(SIOCOUTQNSD) == 0  # all of it sent
        assert server.ioctl(SIOCINQ) == 0  # not there yet
        await trio.sleep(0.015)
        assert server.ioctl(SIOCINQ) == server.ioctl(FIONREAD) == 3000
        await trio.sleep(0.05)  # the (delayed) ACK is back
        assert client.ioctl(SIOCOUTQ) == 0
        assert await server.recv(1000) == b"a" * 1000
        assert server.ioctl(SIOCINQ) == 2000
        client.shutdown(SHUT_WR)
        await trio.sleep(0.015)
        assert server.ioctl(SIOCINQ) == 2000  # the FIN is no byte to read
        assert len(await server.recv(5000)) == 2000
        assert server.ioctl(SIOCINQ) == 0
        assert await server.recv(10) == b""
        client.close()
        server.close()


async def test_unsent_bytes_and_the_urgent_mark(autojump_clock: trio.testing.MockClock) -> None:
    """``SIOCOUTQNSD`` counts what a closed window keeps in the write queue; with an urgent
    byte ahead ``SIOCINQ`` stops before it and ``SIOCATMARK`` says when the reader is at
    the mark (``sockatmark``) — after the urgent byte was read with ``MSG_OOB`` too, and
    ``SIOCINQ`` stays 0 there, as on the 6.18 host."""
    async with netsim.open_host() as host:
        listener, client, server = await _pair(host, host, AF_INET, LOCAL[AF_INET])
        listener.close()
        assert await client.send(b"12345") == 5
        assert await client.send(b"!", MSG_OOB) == 1
        assert await client.send(b"678") == 3
        await trio.sleep(0.001)
        assert server.ioctl(SIOCINQ) == 5  # up to the urgent byte
        assert server.ioctl(SIOCATMARK) == 0
        assert await server.recv(100) == b"12345"  # recv stops at the mark
        assert server.ioctl(SIOCATMARK) == 1
        assert await server.recv(1, MSG_OOB) == b"!"
        # still at the mark, and nothing counted past it until the reader steps over it
        assert (server.ioctl(SIOCINQ), server.ioctl(SIOCATMARK)) == (0, 1)
        assert await server.recv(100) == b"678"
        assert server.ioctl(SIOCINQ) == 0

        total = 0
        with trio.move_on_after(1):
            while True:
                total += await client.send(b"x" * 65536)
        # the reader took nothing: its window closed; what it holds was acknowledged, the
        # rest is queued here, most of it never sent
        unacked, unsent = client.ioctl(SIOCOUTQ), client.ioctl(SIOCOUTQNSD)
        held = server.ioctl(SIOCINQ)
        assert held > 0
        assert unacked + held == total
        assert 0 < unsent <= unacked
        client.close()
        server.close()


@FAMILIES
async def test_udp_ioctl_is_the_next_datagrams_size(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``SIOCINQ`` on UDP is the next datagram's payload size (not the queue's sum), 0 with
    none queued or for an empty datagram; ``SIOCOUTQ`` what the socket still holds below
    it (nothing, once loopback has delivered); other requests are ``ENOTTY``."""
    async with netsim.open_host() as host:
        rx = host.socket(family, SOCK_DGRAM)
        await rx.bind((LOCAL[family], 0))
        tx = host.socket(family, SOCK_DGRAM)
        assert rx.ioctl(SIOCINQ) == 0
        await tx.sendto(b"x" * 100, rx.getsockname())
        await tx.sendto(b"y" * 300, rx.getsockname())
        assert rx.ioctl(SIOCINQ) == rx.ioctl(FIONREAD) == 100
        assert tx.ioctl(SIOCOUTQ) == 0
        assert await rx.recv(1000) == b"x" * 100
        assert rx.ioctl(SIOCINQ) == 300
        await tx.sendto(b"", rx.getsockname())
        await rx.recv(1000)
        assert rx.ioctl(SIOCINQ) == 0  # the empty datagram
        with raises_errno(errno.ENOTTY):
            rx.ioctl(SIOCOUTQNSD)
        rx.close()
        with raises_errno(errno.EBADF):
            rx.ioctl(SIOCINQ)
        tx.close()
