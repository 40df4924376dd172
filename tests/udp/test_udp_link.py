"""End to end between two hosts over a point-to-point link: datagrams of every size arrive
byte-exact, fragmented as ``ip_do_fragment``/``ip6_fragment`` cut them and reassembled by
``ip_defrag``/``ipv6_frag_rcv``; timing follows serialization + propagation delay; an
incomplete datagram expires after ``ipfrag_time`` (net/ipv4/ip_fragment.c ``ip_expire``,
net/ipv6/reassembly.c ``ip6_frag_expire``) without leaking a page."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, AF_INET6, SOCK_DGRAM
from netsim.dev.link import LinkDevice

PEER = {AF_INET: "10.0.0.2", AF_INET6: "fd00::2"}
MTU = 1500


def _fragments(family: int, payload: int) -> int:
    """How many IP packets a datagram of ``payload`` bytes becomes on a 1500-byte link:
    1480 bytes of IPv4 payload per fragment; 1448 per IPv6 fragment (8 kept for the
    fragment header, rounded down to 8)."""
    udp = payload + 8
    if family == AF_INET:
        return 1 if udp + 20 <= MTU else math.ceil(udp / 1480)
    return 1 if udp + 40 <= MTU else math.ceil(udp / 1448)


@asynccontextmanager
async def _linked(
    **link_args: float | bool,
) -> AsyncIterator[tuple[netsim.Host, netsim.Host, netsim.Socket]]:
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, mtu=MTU, **link_args)  # type: ignore[arg-type]
        rx = b.socket(AF_INET6, SOCK_DGRAM)
        await rx.bind(("::", 7000))
        yield a, b, rx


SIZES = [(AF_INET, n) for n in (100, 1472, 1473, 40000, 65507)]
SIZES += [(AF_INET6, n) for n in (1452, 1453, 40000, 65527)]


@pytest.mark.parametrize("csum_offload", [False, True])
@pytest.mark.parametrize(("family", "size"), SIZES)
async def test_sizes_arrive_byte_exact(
    family: int, size: int, csum_offload: bool, autojump_clock: trio.testing.MockClock
) -> None:
    async with _linked(csum_offload=csum_offload) as (a, b, rx):
        tx = a.socket(family, SOCK_DGRAM)
        payload = random.Random(size).randbytes(size)
        assert await tx.sendto(payload, (PEER[family], 7000)) == size
        data, addr = await rx.recvfrom(70000)
        assert data == payload
        src = "::ffff:10.0.0.1" if family == AF_INET else "fd00::1"
        assert addr == (src, tx.getsockname()[1], 0, 0)

        frags = _fragments(family, size)
        assert a.devices["eth0"].tx_packets == frags
        assert b.devices["eth0"].rx_packets == frags
        ip, udp = ("Ip", "Udp") if family == AF_INET else ("Ip6", "Udp6")
        sa, sb = a.stats(), b.stats()
        assert sa[udp + "OutDatagrams"] == 1
        assert sa[ip + "OutRequests"] == 1
        assert sb[udp + "InDatagrams"] == 1
        assert sb[udp + "InErrors"] == 0
        assert sb[udp + "InCsumErrors"] == 0
        assert sb[ip + "InReceives"] == frags
        assert sb[ip + "InDelivers"] == 1
        if frags > 1:
            assert sa[ip + "FragCreates"] == frags
            assert sa[ip + "FragOKs"] == 1
            assert sb[ip + "ReasmReqds"] == frags
            assert sb[ip + "ReasmOKs"] == 1
        else:
            assert sa[ip + "FragCreates"] == 0
            assert sb[ip + "ReasmReqds"] == 0
        assert sb[ip + "ReasmFails"] == 0


async def test_many_datagrams_both_ways(autojump_clock: trio.testing.MockClock) -> None:
    rng = random.Random(7)
    async with _linked(rate=100e6, delay=0.001) as (a, b, rx):
        tx = a.socket(AF_INET6, SOCK_DGRAM)
        await tx.connect(("fd00::2", 7000))
        sent = [rng.randbytes(rng.choice([0, 1, 500, 1452, 1453, 3000, 9000, 30000]))
                for _ in range(40)]  # fmt: skip
        echoed: list[bytes] = []

        async def echo() -> None:
            for _ in sent:
                data, addr = await rx.recvfrom(70000)
                await rx.sendto(data, addr)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(echo)
            for payload in sent:
                await tx.send(payload)
            for _ in sent:
                echoed.append(await tx.recv(70000))
        assert echoed == sent
        assert a.stats()["Udp6InDatagrams"] == b.stats()["Udp6InDatagrams"] == len(sent)
        frames = sum(_fragments(AF_INET6, len(p)) for p in sent)
        assert a.devices["eth0"].tx_packets == b.devices["eth0"].tx_packets == frames


@pytest.mark.parametrize(("family", "headers"), [(AF_INET, 28), (AF_INET6, 48)])
@pytest.mark.parametrize(("rate", "delay"), [(1e6, 0.01), (10e6, 0.0), (56e3, 0.25)])
async def test_arrival_time_is_serialization_plus_delay(
    family: int,
    headers: int,
    rate: float,
    delay: float,
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with _linked(rate=rate, delay=delay) as (a, _, rx):
        tx = a.socket(family, SOCK_DGRAM)
        start = trio.current_time()
        await tx.sendto(b"x" * 100, (PEER[family], 7000))
        assert trio.current_time() == start  # the send does not wait for the wire
        assert await rx.recv(200) == b"x" * 100
        expected = (100 + headers) * 8 / rate + delay  # no link-layer header: L3 link
        assert trio.current_time() - start == pytest.approx(expected, abs=1e-12)


async def test_fragments_are_serialized_back_to_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate, delay = 1e6, 0.005
    async with _linked(rate=rate, delay=delay) as (a, _, rx):
        tx = a.socket(AF_INET, SOCK_DGRAM)
        start = trio.current_time()
        await tx.sendto(bytes(3000), ("10.0.0.2", 7000))  # 1500 + 1500 + 48 bytes on the wire
        assert await rx.recv(5000) == bytes(3000)
        wire_bytes = 1500 + 1500 + (20 + 3008 - 2960)
        assert trio.current_time() - start == pytest.approx(wire_bytes * 8 / rate + delay)


def _live_skbs(host: netsim.Host) -> int:
    stats = host.stats()
    return stats["skb_alloc"] - stats["skb_free"]


def _drop_frames(dev: LinkDevice, drop: Callable[[int, bytes], bool]) -> list[int]:
    """Make the wire into ``dev`` lose the frames for which ``drop(index, frame)`` is true;
    returns the list of dropped indexes (filled as it happens)."""
    dropped: list[int] = []
    counter = 0

    def wire(frame: bytes) -> list[bytes]:
        nonlocal counter
        index = counter
        counter += 1
        if drop(index, frame):
            dropped.append(index)
            return []
        return [frame]

    dev.wire = wire
    return dropped


@pytest.mark.parametrize(
    ("family", "timeout_sysctl", "lost"),
    [
        (AF_INET, "net.ipv4.ipfrag_time", 1),
        (AF_INET6, "net.ipv6.ip6frag_time", 1),
        (AF_INET, "net.ipv4.ipfrag_time", 0),
        (AF_INET6, "net.ipv6.ip6frag_time", 0),
    ],
)
async def test_reassembly_timeout(
    family: int, timeout_sysctl: str, lost: int, autojump_clock: trio.testing.MockClock
) -> None:
    """A lost fragment leaves an incomplete queue; ``ipfrag_time`` later it is dropped
    (``ReasmTimeout`` and ``ReasmFails``), its pages freed, and the next datagram is fine.
    When the first fragment had arrived, the receiver tells the sender with an ICMP time
    exceeded (fragment reassembly time exceeded); when it was the one lost, it says
    nothing."""
    async with _linked(delay=0.001) as (a, b, rx):
        eth0 = b.devices["eth0"]
        assert isinstance(eth0, LinkDevice)
        dropped = _drop_frames(eth0, lambda index, _: index == lost)
        timeout = b.sysctl[timeout_sysctl]
        assert timeout == (30 if family == AF_INET else 60)
        tx = a.socket(family, SOCK_DGRAM)
        await tx.sendto(bytes(4000), (PEER[family], 7000))  # three fragments
        await trio.sleep(1)
        assert dropped == [lost]
        ip, icmp = ("Ip", "Icmp") if family == AF_INET else ("Ip6", "Icmp6")
        assert b.stats()[ip + "ReasmReqds"] == 2
        assert b.stats()[ip + "ReasmTimeout"] == 0
        assert _live_skbs(b) == 2  # two fragments wait in the reassembly queue
        assert not rx.is_readable()

        await trio.sleep(timeout - 2)  # 1 s before the deadline: still waiting
        assert b.stats()[ip + "ReasmTimeout"] == 0
        await trio.sleep(1.5)
        sb = b.stats()
        assert sb[ip + "ReasmTimeout"] == 1
        assert sb[ip + "ReasmFails"] == 1
        assert sb[ip + "ReasmOKs"] == 0
        assert not rx.is_readable()
        answered = 1 if lost != 0 else 0
        assert sb[icmp + "OutMsgs"] == answered
        assert a.stats()[icmp + "InMsgs"] == answered
        assert a.stats()[icmp + "InDestUnreachs"] == 0

        assert _live_skbs(b) == 0  # the queue's fragments were freed
        await tx.sendto(b"after the timeout", (PEER[family], 7000))
        assert await rx.recv(100) == b"after the timeout"
        assert b.stats()[ip + "ReasmFails"] == 1


async def test_lost_fragment_then_complete_retry(autojump_clock: trio.testing.MockClock) -> None:
    """A retry of the same data is a new datagram (new IP ID): it reassembles on its own while
    the broken one still waits for its timeout."""
    async with _linked() as (a, b, rx):
        eth0 = b.devices["eth0"]
        assert isinstance(eth0, LinkDevice)
        _drop_frames(eth0, lambda index, _: index == 2)
        tx = a.socket(AF_INET, SOCK_DGRAM)
        payload = random.Random(5).randbytes(5000)
        await tx.sendto(payload, ("10.0.0.2", 7000))
        await tx.sendto(payload, ("10.0.0.2", 7000))
        assert await rx.recv(6000) == payload
        await trio.sleep(31)
        assert not rx.is_readable()
        assert b.stats()["IpReasmOKs"] == 1
        assert b.stats()["IpReasmTimeout"] == 1


@pytest.mark.parametrize("mtu", [3968, 3969, 9000, 65000])
async def test_jumbo_frames_span_page_sized_rx_buffers(
    mtu: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Above a 3968-byte MTU a frame no longer fits one RX buffer of at most a page (the
    page-frag cache serves nothing larger once its first page is used up): the driver
    chains page-sized buffers, one frag each, truesize a buffer each.  Datagrams and a TCP
    stream arrive byte-exact, and nothing is dropped."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b, mtu=mtu)
        eth0 = b.devices["eth0"]
        assert isinstance(eth0, LinkDevice)
        layouts: list[tuple[int, list[int]]] = []

        class Layouts:
            """A packet tap noting each received skb's truesize and frag lengths."""

            def record(self, skb: netsim.SkBuff) -> None:
                layouts.append((skb.truesize, [f.len for f in skb.shinfo.frags]))

        eth0.taps.append(Layouts())
        rx = b.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("0.0.0.0", 7000))
        tx = a.socket(AF_INET, SOCK_DGRAM)
        payload = random.Random(mtu).randbytes(min(mtu - 28, 65507))
        await tx.sendto(payload, ("10.0.0.2", 7000))
        assert await rx.recv(70000) == payload
        buf = min(4096, max(2048, 1 << (mtu + 127).bit_length()))
        (truesize, frags), *_ = layouts
        assert len(frags) == -(-mtu // buf)  # ceil: buffers the frame needed
        assert sum(frags) == mtu - 28  # everything after the IP and UDP headers
        assert truesize >= len(frags) * buf
        listener = b.socket(AF_INET, netsim.SOCK_STREAM)
        await listener.bind(("0.0.0.0", 80))
        listener.listen(1)
        client = a.socket(AF_INET, netsim.SOCK_STREAM)
        await client.connect(("10.0.0.2", 80))
        conn, _ = await listener.accept()
        data = random.Random(1).randbytes(300_000)
        got = bytearray()
        async with trio.open_nursery() as nursery:

            async def read() -> None:
                while chunk := await conn.recv(65536):
                    got.extend(chunk)

            nursery.start_soon(read)
            view = memoryview(data)
            while view:
                view = view[await client.send(view) :]
            client.shutdown(netsim.SHUT_WR)
        assert got == data
        assert eth0.rx_dropped == 0
        for sock in (tx, rx, client, conn, listener):
            sock.close()
