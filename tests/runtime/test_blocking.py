"""End to end on a slow link: blocking, non-blocking and cancelled calls.

On a 1 Mbit/s link an skb stays charged to its socket (``sk_wmem_alloc``) until the device has
serialized it (TX completion, ``sock_wfree``).  ``sock_alloc_send_skb`` (net/core/sock.c)
makes a sender wait while ``sk_wmem_alloc >= sk_sndbuf`` (or fail with ``EAGAIN`` under
``MSG_DONTWAIT``, counted as ``UdpSndbufErrors``); ``sock_def_write_space`` wakes it once less
than half of ``sk_sndbuf`` is in flight (``sock_writeable``).  Cancellation never loses or
duplicates a datagram, and closing a socket wakes the tasks blocked on it."""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager

import pytest
import trio
import trio.testing

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    MSG_DONTWAIT,
    SO_SNDBUF,
    SO_SNDBUFFORCE,
    SOCK_DGRAM,
    SOL_SOCKET,
)

RATE = 1e6  # bits/s
DELAY = 0.002  # one way, seconds
PEER = {AF_INET: "10.0.0.2", AF_INET6: "fd00::2"}
HEADERS = {AF_INET: 20 + 8, AF_INET6: 40 + 8}
#: a linear datagram of up to ~1 KB sits in a 2 KiB kmalloc head: SKB_TRUESIZE(2048)
TRUESIZE = 2304


def raises_errno(code: int) -> AbstractContextManager[pytest.ExceptionInfo[OSError]]:
    """``pytest.raises`` for an ``OSError`` carrying exactly ``code``."""
    return pytest.raises(OSError, match=rf"^\[Errno {code}\] ")


def _tx_time(payload: int, family: int = AF_INET) -> float:
    """Seconds to serialize one unfragmented datagram (the IP packet; netsim's links are L3)."""
    return (payload + HEADERS[family]) * 8 / RATE


@asynccontextmanager
async def _slow_link(
    family: int = AF_INET,
) -> AsyncIterator[tuple[netsim.Host, netsim.Host, netsim.Socket, netsim.Socket]]:
    """A sender with an 8 KiB send buffer on host ``a``, connected across a 1 Mbit/s link to a
    receiver on ``b``."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, rate=RATE, delay=DELAY)
        rx = b.socket(family, SOCK_DGRAM)
        await rx.bind((PEER[family], 7000))
        tx = a.socket(family, SOCK_DGRAM)
        tx.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096)
        assert tx.getsockopt(SOL_SOCKET, SO_SNDBUF) == 8192
        await tx.connect(rx.getsockname())
        yield a, b, tx, rx


def _datagram(i: int) -> bytes:
    return i.to_bytes(2, "big") * 500


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_sender_blocks_on_sndbuf_and_resumes_at_tx_completion(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    count = 16
    async with _slow_link(family) as (a, _, tx, rx):
        start = trio.current_time()
        sent_at: list[float] = []
        peak = 0

        async def sender() -> None:
            nonlocal peak
            for i in range(count):
                await tx.send(_datagram(i))
                sent_at.append(trio.current_time() - start)
                peak = max(peak, tx.sk.sk_wmem_alloc)

        received: list[bytes] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            for _ in range(count):
                received.append(await rx.recv(2000))

        assert received == [_datagram(i) for i in range(count)]  # everything, in order
        skb_time = _tx_time(1000, family)
        # four skbs fit before sk_wmem_alloc (4 x 2304) reaches sk_sndbuf (8192); then the
        # sender sleeps until TX completion brings it under half of sk_sndbuf (one skb left)
        # and refills three at a time
        expected = [0.0] * 4 + [skb_time * 3 * ((i - 1) // 3) for i in range(4, count)]
        assert sent_at == pytest.approx(expected)
        assert peak == 4 * TRUESIZE
        assert tx.sk.sk_wmem_alloc == 0
        udp = "Udp" if family == AF_INET else "Udp6"
        assert a.stats()[udp + "OutDatagrams"] == count
        assert a.stats()[udp + "SndbufErrors"] == 0
        assert a.devices["eth0"].tx_packets == count


async def test_arrival_times_follow_serialization(autojump_clock: trio.testing.MockClock) -> None:
    async with _slow_link() as (_, _, tx, rx):
        start = trio.current_time()
        for i in range(3):
            await tx.send(_datagram(i))
        arrivals = []
        for _ in range(3):
            await rx.recv(2000)
            arrivals.append(trio.current_time() - start)
        skb_time = _tx_time(1000)
        assert arrivals == pytest.approx([skb_time * (k + 1) + DELAY for k in range(3)])


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_msg_dontwait_gets_eagain_and_counts_sndbuf_errors(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with _slow_link(family) as (a, _, tx, rx):
        udp = "Udp" if family == AF_INET else "Udp6"
        for i in range(4):
            await tx.send(_datagram(i), MSG_DONTWAIT)
        for _ in range(3):
            with pytest.raises(BlockingIOError) as info:
                await tx.send(b"no room", MSG_DONTWAIT)
            assert info.value.errno == errno.EAGAIN
        assert a.stats()[udp + "SndbufErrors"] == 3
        assert a.stats()[udp + "OutDatagrams"] == 4
        assert tx.sk.sk_wmem_alloc == 4 * TRUESIZE

        # one TX completion later there is room again (sleep past it: trio orders tasks
        # woken at the same instant at random)
        await trio.sleep(1.5 * _tx_time(1000, family))
        await tx.send(_datagram(4), MSG_DONTWAIT)
        assert [await rx.recv(2000) for _ in range(5)] == [_datagram(i) for i in range(5)]
        assert a.stats()[udp + "SndbufErrors"] == 3


async def test_cancelled_blocked_send_queues_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with _slow_link() as (a, b, tx, rx):
        for i in range(4):
            await tx.send(_datagram(i))
        wmem = tx.sk.sk_wmem_alloc
        with trio.move_on_after(0.001) as scope:
            await tx.send(b"cancelled while waiting for sndbuf")
        assert scope.cancelled_caught
        assert tx.sk.sk_wmem_alloc == wmem  # nothing was charged
        assert not tx.sk.sk_write_queue
        await tx.send(_datagram(4))  # blocks until there is room, then goes
        await trio.sleep(1)
        got = []
        while rx.is_readable():
            got.append(await rx.recv(2000))
        assert got == [_datagram(i) for i in range(5)]
        assert a.stats()["UdpOutDatagrams"] == 5
        assert b.stats()["UdpInDatagrams"] == 5
        assert a.devices["eth0"].tx_packets == 5


async def test_cancelled_send_before_it_starts_sends_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with _slow_link() as (a, _, tx, _rx):
        with trio.CancelScope() as scope:
            scope.cancel()
            await tx.send(b"never")
        assert scope.cancelled_caught
        assert a.stats()["UdpOutDatagrams"] == 0
        assert tx.sk.sk_wmem_alloc == 0


async def test_cancelled_recv_loses_nothing(autojump_clock: trio.testing.MockClock) -> None:
    async with _slow_link() as (_, _, tx, rx):
        with trio.move_on_after(5) as scope:
            await rx.recv(2000)
        assert scope.cancelled_caught
        await tx.send(b"next one")
        assert await rx.recv(2000) == b"next one"


async def test_recv_cancelled_as_the_datagram_arrives_keeps_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The receive deadline and the frame's arrival fall on the same instant: whichever trio
    runs first, the datagram is either returned or stays queued — never dropped."""
    async with _slow_link() as (_, _, tx, rx):
        arrival = trio.current_time() + _tx_time(100) + DELAY
        await tx.send(b"x" * 100)
        got = None
        with trio.move_on_at(arrival):
            got = await rx.recv(2000)
        if got is None:  # cancelled first: the datagram is (or is about to be) queued
            got = await rx.recv(2000)
        assert got == b"x" * 100
        assert trio.current_time() == pytest.approx(arrival)
        assert not rx.is_readable()


async def test_recv_deadlines_on_every_arrival_lose_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A sender keeps the wire busy; the reader's every receive has its deadline exactly at
    the next frame's arrival.  Whichever way each race goes, every datagram is read once, in
    order.  (One reader: like trio's real sockets, a second task waiting to read the same
    socket would get ``BusyResourceError``.)"""
    count = 30
    async with _slow_link() as (_, _, tx, rx):
        start = trio.current_time()
        skb_time = _tx_time(1000)

        async def sender() -> None:
            for i in range(count):
                await tx.send(_datagram(i))

        received: list[bytes] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            for k in range(count):
                got = None
                with trio.move_on_at(start + (k + 1) * skb_time + DELAY):
                    got = await rx.recv(2000)
                if got is None:
                    got = await rx.recv(2000)
                received.append(got)
        assert received == [_datagram(i) for i in range(count)]
        assert not rx.is_readable()


async def test_close_wakes_a_blocked_recv(autojump_clock: trio.testing.MockClock) -> None:
    async with _slow_link() as (_, _, _tx, rx):
        outcome: list[BaseException] = []

        async def reader() -> None:
            try:
                await rx.recv(2000)
            except trio.ClosedResourceError as exc:
                outcome.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.sleep(3)
            assert outcome == []
            rx.close()
        assert len(outcome) == 1
        assert isinstance(outcome[0], trio.ClosedResourceError)
        with raises_errno(errno.EBADF):
            await rx.recv(2000)


async def test_close_wakes_a_blocked_send(autojump_clock: trio.testing.MockClock) -> None:
    async with _slow_link() as (a, _, tx, _rx):
        for i in range(4):
            await tx.send(_datagram(i))
        outcome: list[BaseException] = []

        async def sender() -> None:
            try:
                await tx.send(b"blocked")
            except trio.ClosedResourceError as exc:
                outcome.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            await trio.testing.wait_all_tasks_blocked()
            tx.close()
        assert len(outcome) == 1
        await trio.sleep(1)  # the four in flight still complete and free their memory
        assert a.stats()["UdpOutDatagrams"] == 4


async def test_wait_writable_waits_for_half_the_send_buffer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``sock_writeable``: ``sk_wmem_alloc`` (with the kernel's bias of 1) below
    ``sk_sndbuf >> 1``.  With ``sk_sndbuf`` = 2 x (truesize + 1), one skb in flight is exactly
    at the limit: not writable until its TX completion."""
    async with _slow_link() as (_, _, tx, _rx):
        tx.setsockopt(SOL_SOCKET, SO_SNDBUFFORCE, TRUESIZE + 1)
        assert tx.getsockopt(SOL_SOCKET, SO_SNDBUF) == 2 * (TRUESIZE + 1)
        await tx.wait_writable()  # nothing in flight
        start = trio.current_time()
        await tx.send(_datagram(0))
        assert tx.sk.sk_wmem_alloc == TRUESIZE
        await tx.wait_writable()
        assert trio.current_time() - start == pytest.approx(_tx_time(1000))
        assert tx.sk.sk_wmem_alloc == 0


async def test_wait_writable_with_the_default_buffer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with _slow_link() as (_, _, tx, _rx):
        tx.setsockopt(SOL_SOCKET, SO_SNDBUF, 8 * TRUESIZE)  # sk_sndbuf = 16 skbs
        start = trio.current_time()
        for i in range(10):
            await tx.send(_datagram(i))  # never blocks: 10 x 2304 < 16 x 2304
        assert trio.current_time() == start
        await tx.wait_writable()
        # writable once at most 7 skbs (7 x 2304 + 1 < 8 x 2304) are left: after 3 completions
        assert trio.current_time() - start == pytest.approx(3 * _tx_time(1000))


async def test_sndbuf_errors_count_every_later_send_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``udp_sendmsg`` counts ``UdpSndbufErrors`` for ``ENOBUFS`` or whenever the socket's
    ``SOCK_NOSPACE`` flag is set — and for UDP nothing clears that flag once
    ``sock_alloc_send_pskb`` set it (only ``sk_stream_write_space`` does, for TCP).  So after
    one wait for sndbuf, every later send error on the socket counts."""
    async with _slow_link() as (a, _, tx, _rx):
        tx.setsockopt(netsim.SOL_IP, netsim.IP_MTU_DISCOVER, netsim.IP_PMTUDISC_DO)
        with raises_errno(errno.EMSGSIZE):
            await tx.send(bytes(2000))
        assert a.stats()["UdpSndbufErrors"] == 0  # never short of sndbuf yet
        for i in range(4):
            await tx.send(_datagram(i))
        await tx.send(_datagram(4))  # waits for room: SOCK_NOSPACE is set from now on
        await trio.sleep(1)
        assert tx.sk.sk_wmem_alloc == 0
        with raises_errno(errno.EMSGSIZE):
            await tx.send(bytes(2000))
        assert a.stats()["UdpSndbufErrors"] == 1
