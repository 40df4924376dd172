"""End to end: the receive buffer.  ``__udp_enqueue_schedule_skb`` (net/ipv4/udp.c) queues a
datagram while ``sk_rmem_alloc + truesize <= sk_rcvbuf`` — or whatever its size when the queue
is empty — and otherwise drops it, counting ``UdpRcvbufErrors`` and ``UdpInErrors``
(``Udp6*`` over IPv6).  What is read afterwards is exactly what was queued."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, AF_INET6, MSG_DONTWAIT, SO_RCVBUF, SOCK_DGRAM, SOL_SOCKET

LOOPBACK = {AF_INET: "127.0.0.1", AF_INET6: "::1"}
MIB = {AF_INET: "Udp", AF_INET6: "Udp6"}


async def _pair(host: netsim.Host, family: int) -> tuple[netsim.Socket, netsim.Socket]:
    tx = host.socket(family, SOCK_DGRAM)
    rx = host.socket(family, SOCK_DGRAM)
    await rx.bind((LOOPBACK[family], 0))
    await tx.connect(rx.getsockname())
    return tx, rx


async def _drain(sock: netsim.Socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(await sock.recv(70000, MSG_DONTWAIT))
        except BlockingIOError:
            return out


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_small_rcvbuf_drops_what_does_not_fit(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        tx, rx = await _pair(host, family)
        rx.setsockopt(SOL_SOCKET, SO_RCVBUF, 4096)
        assert rx.getsockopt(SOL_SOCKET, SO_RCVBUF) == 8192  # doubled

        for i in range(20):
            await tx.send(bytes([i]) * 1000)
        queue = rx.sk.sk_receive_queue
        truesize = queue[0].truesize
        # a linear 1000-byte datagram sits in a 2 KiB kmalloc head: SKB_TRUESIZE(2048)
        assert truesize == 2304
        assert all(skb.truesize == truesize for skb in queue)
        fits = 8192 // truesize
        assert fits == 3
        assert len(queue) == fits
        assert rx.sk.sk_rmem_alloc == fits * truesize

        stats = host.stats()
        assert stats[MIB[family] + "OutDatagrams"] == 20  # the sender saw no error
        assert stats[MIB[family] + "RcvbufErrors"] == 20 - fits
        assert stats[MIB[family] + "InErrors"] == 20 - fits
        assert stats[MIB[family] + "InDatagrams"] == 0

        # exactly the first three were kept, in order
        assert await _drain(rx) == [bytes([i]) * 1000 for i in range(fits)]
        assert rx.sk.sk_rmem_alloc == 0
        assert host.stats()[MIB[family] + "InDatagrams"] == fits

        # room again
        await tx.send(b"after")
        assert await rx.recv(100) == b"after"
        assert host.stats()[MIB[family] + "RcvbufErrors"] == 20 - fits


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_first_datagram_is_accepted_whatever_its_size(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        tx, rx = await _pair(host, family)
        rx.setsockopt(SOL_SOCKET, SO_RCVBUF, 0)
        rcvbuf = rx.getsockopt(SOL_SOCKET, SO_RCVBUF)
        assert rcvbuf == 2304  # SOCK_MIN_RCVBUF
        big = bytes(range(256)) * 200  # 51200 bytes, far more than rcvbuf
        await tx.send(big)
        assert rx.sk.sk_rmem_alloc > rcvbuf
        await tx.send(b"tiny")  # the queue is not empty: even a tiny one is dropped
        assert host.stats()[MIB[family] + "RcvbufErrors"] == 1
        assert await _drain(rx) == [big]
        await tx.send(b"tiny")
        assert await _drain(rx) == [b"tiny"]


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_reader_keeping_up_loses_nothing(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host() as host:
        tx, rx = await _pair(host, family)
        rx.setsockopt(SOL_SOCKET, SO_RCVBUF, 4096)
        received: list[bytes] = []

        async def reader() -> None:
            for _ in range(50):
                received.append(await rx.recv(2000))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            for i in range(50):
                await tx.send(i.to_bytes(2, "big") * 500)
                if i % 3 == 2:
                    await trio.testing.wait_all_tasks_blocked()  # let the reader catch up
        assert received == [i.to_bytes(2, "big") * 500 for i in range(50)]
        assert host.stats()[MIB[family] + "RcvbufErrors"] == 0


async def test_drops_happen_only_while_the_queue_is_full(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        tx, rx = await _pair(host, AF_INET)
        rx.setsockopt(SOL_SOCKET, SO_RCVBUF, 4096)
        expected: list[bytes] = []
        for i in range(12):
            payload = bytes([i]) * 1000
            queued_before = len(rx.sk.sk_receive_queue)
            await tx.send(payload)
            if len(rx.sk.sk_receive_queue) > queued_before:
                expected.append(payload)
            if i % 4 == 3:  # read one now and then
                assert await rx.recv(2000) == expected.pop(0)
        assert await _drain(rx) == expected
        stats = host.stats()
        assert stats["UdpInDatagrams"] == 3 + len(expected)
        assert stats["UdpRcvbufErrors"] == 12 - stats["UdpInDatagrams"]


async def test_rmem_default_and_rmem_max(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        old = host.socket(AF_INET, SOCK_DGRAM)
        assert old.getsockopt(SOL_SOCKET, SO_RCVBUF) == host.sysctl["net.core.rmem_default"]
        host.sysctl["net.core.rmem_default"] = 16384
        new = host.socket(AF_INET, SOCK_DGRAM)
        assert new.getsockopt(SOL_SOCKET, SO_RCVBUF) == 16384  # not doubled
        assert old.getsockopt(SOL_SOCKET, SO_RCVBUF) == 212992  # kept its copy

        host.sysctl["net.core.rmem_max"] = 10000
        new.setsockopt(SOL_SOCKET, SO_RCVBUF, 1 << 20)
        assert new.getsockopt(SOL_SOCKET, SO_RCVBUF) == 20000

        # the clamped size is what limits the queue
        await new.bind(("127.0.0.1", 0))
        tx = host.socket(AF_INET, SOCK_DGRAM)
        await tx.connect(new.getsockname())
        for i in range(20):
            await tx.send(bytes([i]) * 1000)
        assert len(new.sk.sk_receive_queue) == 20000 // 2304
