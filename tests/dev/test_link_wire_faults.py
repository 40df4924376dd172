"""What a real network does to frames, and what the receiving kernel must make of it: a
duplicated IP fragment is dropped alone and the datagram still delivered once
(``inet_frag_queue_insert`` → ``IPFRAG_DUP``, net/ipv4/inet_fragment.c, used by
``ip_frag_queue`` and ``ip6_frag_queue``); a fragment that partly overlaps the queue kills it
(``IPFRAG_OVERLAP``); a damaged frame on a link whose NICs offload receive checksums is found
by the NIC's check, dropped and counted, never delivered.  Frames are altered through the
receiving device's ``wire`` hook."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, AF_INET6, SOCK_DGRAM, SOCK_STREAM
from netsim.dev.link import LinkDevice
from netsim.wire.checksum import csum_fold, csum_partial

PEER = {AF_INET: "10.0.0.2", AF_INET6: "fd00::2"}


@asynccontextmanager
async def _linked(
    csum_offload: bool = False,
) -> AsyncIterator[tuple[netsim.Host, netsim.Host, LinkDevice]]:
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, mtu=1500, csum_offload=csum_offload, delay=0.001)
        eth0 = b.devices["eth0"]
        assert isinstance(eth0, LinkDevice)
        yield a, b, eth0


def _fix_ipv4_header(frame: bytearray) -> None:
    frame[10:12] = b"\0\0"
    frame[10:12] = csum_fold(csum_partial(frame[:20])).to_bytes(2, "big")


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
@pytest.mark.parametrize("which", [0, 1, 2], ids=["first", "middle", "last"])
async def test_a_duplicated_fragment_is_dropped_alone(
    family: int, which: int, autojump_clock: trio.testing.MockClock
) -> None:
    """A 4000-byte datagram is three fragments; the wire delivers one of them twice (right
    after itself).  The receiver drops the copy and delivers the datagram once."""
    async with _linked() as (a, b, eth0):
        seen = 0

        def wire(frame: bytes) -> list[bytes]:
            nonlocal seen
            seen += 1
            return [frame, frame] if seen - 1 == which else [frame]

        eth0.wire = wire
        rx = b.socket(family, SOCK_DGRAM)
        await rx.bind(("", 7000))
        tx = a.socket(family, SOCK_DGRAM)
        payload = random.Random(which).randbytes(4000)
        await tx.sendto(payload, (PEER[family], 7000))
        await tx.sendto(b"next", (PEER[family], 7000))
        assert await rx.recv(5000) == payload
        assert await rx.recv(5000) == b"next"
        await trio.sleep(1)
        assert not rx.is_readable()  # delivered once
        ip = "Ip" if family == AF_INET else "Ip6"
        s = b.stats()
        assert (s[ip + "ReasmReqds"], s[ip + "ReasmOKs"], s[ip + "ReasmFails"]) == (4, 1, 0)
        if which < 2:
            assert s["skb_alloc"] - s["skb_free"] == 0  # the copy was freed, nothing waits
        else:
            # the copy of the fragment that completed the datagram comes after reassembly:
            # it starts a queue of its own, which expires (no ICMP: no first fragment)
            assert s["skb_alloc"] - s["skb_free"] == 1
            await trio.sleep(60)
            s = b.stats()
            assert (s[ip + "ReasmTimeout"], s[ip + "ReasmFails"]) == (1, 1)
            assert s["skb_alloc"] - s["skb_free"] == 0
            assert a.stats()[("Icmp" if family == AF_INET else "Icmp6") + "InMsgs"] == 0


async def test_a_partly_overlapping_fragment_kills_the_queue(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The middle fragment arrives a second time claiming an offset 8 bytes later: it
    overlaps the queued bytes and reaches past their run, so the whole queue is discarded
    (``ReasmFails``) and later fragments of that datagram go nowhere until the timeout."""
    async with _linked() as (a, b, eth0):
        seen = 0

        def wire(frame: bytes) -> list[bytes]:
            nonlocal seen
            seen += 1
            if seen != 2:
                return [frame]
            shifted = bytearray(frame)
            word = int.from_bytes(shifted[6:8], "big")
            shifted[6:8] = (word + 1).to_bytes(2, "big")  # offset in 8-byte units
            _fix_ipv4_header(shifted)
            return [frame, bytes(shifted)]

        eth0.wire = wire
        rx = b.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("", 7000))
        tx = a.socket(AF_INET, SOCK_DGRAM)
        await tx.sendto(bytes(4000), ("10.0.0.2", 7000))
        await tx.sendto(b"next", ("10.0.0.2", 7000))
        assert await rx.recv(5000) == b"next"
        s = b.stats()
        assert (s["IpReasmOKs"], s["IpReasmFails"]) == (0, 1)
        await trio.sleep(31)  # the last fragment's new queue expires
        assert not rx.is_readable()
        assert b.stats()["IpReasmTimeout"] == 1


def _flip_one_bit(at: int) -> tuple[list[int], object]:
    hits: list[int] = []
    seen = 0

    def wire(frame: bytes) -> list[bytes]:
        nonlocal seen
        seen += 1
        if seen - 1 != at:
            return [frame]
        damaged = bytearray(frame)
        damaged[-1] ^= 0x01  # a payload bit: the IP header stays valid
        hits.append(seen - 1)
        return [bytes(damaged)]

    return hits, wire


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
@pytest.mark.parametrize("csum_offload", [False, True], ids=["software", "offload"])
async def test_a_damaged_datagram_is_dropped_and_counted(
    family: int, csum_offload: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """One payload bit flips on the wire.  With or without receive-checksum offload the
    datagram is not delivered: ``UdpInCsumErrors`` and ``UdpInErrors`` count it, and the
    next datagram arrives intact."""
    async with _linked(csum_offload) as (a, b, eth0):
        hits, wire = _flip_one_bit(0)
        eth0.wire = wire  # type: ignore[assignment]
        rx = b.socket(family, SOCK_DGRAM)
        await rx.bind(("", 7000))
        tx = a.socket(family, SOCK_DGRAM)
        await tx.sendto(b"damaged on the wire", (PEER[family], 7000))
        await tx.sendto(b"intact", (PEER[family], 7000))
        assert await rx.recv(100) == b"intact"
        assert hits == [0]
        udp = "Udp" if family == AF_INET else "Udp6"
        s = b.stats()
        assert (s[udp + "InCsumErrors"], s[udp + "InErrors"], s[udp + "InDatagrams"]) == (1, 1, 1)


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
@pytest.mark.parametrize("csum_offload", [False, True], ids=["software", "offload"])
async def test_a_damaged_tcp_segment_is_dropped_and_resent(
    family: int, csum_offload: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """A data segment damaged on the wire is dropped at the receiver (``TcpInCsumErrors``,
    ``TcpInErrs``); the sender's retransmission brings the bytes intact."""
    async with _linked(csum_offload) as (a, b, eth0):
        listener = b.socket(family, SOCK_STREAM)
        await listener.bind(("", 7001))
        listener.listen()
        client = a.socket(family, SOCK_STREAM)
        await client.connect((PEER[family], 7001))
        server, _ = await listener.accept()
        hits, wire = _flip_one_bit(0)
        eth0.wire = wire  # type: ignore[assignment]
        payload = random.Random(family).randbytes(1000)
        await client.send(payload)
        got = b""
        while len(got) < len(payload):
            got += await server.recv(4096)
        assert got == payload
        assert hits == [0]
        s = b.stats()
        assert (s["TcpInCsumErrors"], s["TcpInErrs"]) == (1, 1)
        assert a.stats()["TcpRetransSegs"] == 1
        for sock in (client, server, listener):
            sock.close()
