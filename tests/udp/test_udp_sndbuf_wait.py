"""A blocking UDP send that must wait for send-buffer space sleeps inside the call
(``sock_alloc_send_pskb`` → ``sock_wait_for_wmem``, net/core/sock.c) and then succeeds: the
wait is not an error.  ``__ip_append_data`` counts ``IpOutDiscards`` / ``Ip6OutDiscards`` only
at its ``error:`` label (net/ipv4/ip_output.c, net/ipv6/ip6_output.c), so a send that waited
counts nothing, and nothing of the datagram is lost or sent twice."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, AF_INET6, SO_SNDBUF, SOCK_DGRAM, SOL_SOCKET

PEER = {AF_INET: "10.0.0.2", AF_INET6: "fd00::2"}
COUNT = 60
SIZE = 8000


@pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])
@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
@pytest.mark.parametrize("cork", [False, True])
async def test_blocking_sends_over_a_slow_link_count_no_discards(
    family: int, allocator: str, cork: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """Sixty blocking 8000-byte datagrams over a 1 Mbit/s link with a small send buffer:
    most sends wait for TX completions to return memory; every datagram arrives once, in
    order and byte-exact, and no discard is counted on either side.  With ``cork`` each
    datagram is built by two calls (``MSG_MORE`` then the rest), so the wait happens while
    starting a corked datagram."""
    rng = random.Random(14)
    sent = [rng.randbytes(SIZE) for _ in range(COUNT)]
    async with (
        netsim.open_host(allocator, name="a") as a,
        netsim.open_host(allocator, name="b", seed=1) as b,
    ):
        netsim.link(a, b, rate=1e6, delay=0.001)
        rx = b.socket(family, SOCK_DGRAM)
        await rx.bind(("", 7000))
        rx.setsockopt(SOL_SOCKET, netsim.SO_RCVBUF, 1 << 20)
        tx = a.socket(family, SOCK_DGRAM)
        tx.setsockopt(SOL_SOCKET, SO_SNDBUF, 16384)  # 32 KiB: about three datagrams' worth
        await tx.connect((PEER[family], 7000))
        got: list[bytes] = []
        waited = 0

        async def read() -> None:
            for _ in sent:
                got.append(await rx.recv(SIZE + 1))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            for payload in sent:
                before = trio.current_time()
                if cork:
                    assert await tx.send(payload[:3000], netsim.MSG_MORE) == 3000
                    assert await tx.send(payload[3000:]) == SIZE - 3000
                else:
                    assert await tx.send(payload) == SIZE
                waited += trio.current_time() > before
        assert got == sent
        assert waited >= COUNT // 3  # the scenario really waits for the link
        ip = "Ip" if family == AF_INET else "Ip6"
        sa, sb = a.stats(), b.stats()
        assert sa[ip + "OutDiscards"] == 0
        assert sa[ip + "OutRequests"] == COUNT
        assert sa["UdpOutDatagrams" if family == AF_INET else "Udp6OutDatagrams"] == COUNT
        assert sa["UdpSndbufErrors" if family == AF_INET else "Udp6SndbufErrors"] == 0
        assert sb[ip + "ReasmOKs"] == COUNT
        assert sb[ip + "ReasmFails"] == 0
        assert tx.getsockopt(SOL_SOCKET, netsim.SO_ERROR) == 0


async def test_a_nonblocking_send_that_cannot_wait_is_a_discard(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The other side of the rule: ``MSG_DONTWAIT`` on a full send buffer fails with
    ``EAGAIN`` at ``error:``, which counts ``IpOutDiscards`` once, and the next send that
    fits goes through."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, rate=1e6, delay=0.001)
        rx = b.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("", 7000))
        tx = a.socket(AF_INET, SOCK_DGRAM)
        tx.setsockopt(SOL_SOCKET, SO_SNDBUF, 4608)  # the minimum, 9216 bytes
        await tx.connect(("10.0.0.2", 7000))
        sent = 0
        while True:
            try:
                await tx.send(bytes(SIZE), netsim.MSG_DONTWAIT)
            except BlockingIOError:
                break
            sent += 1
        assert sent > 0
        assert a.stats()["IpOutDiscards"] == 1
        await tx.send(b"after")  # waits for the link, then goes
        for _ in range(sent):
            assert await rx.recv(SIZE) == bytes(SIZE)
        assert await rx.recv(10) == b"after"
        assert a.stats()["IpOutDiscards"] == 1
