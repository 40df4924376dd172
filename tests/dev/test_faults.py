"""Seeded fault plans on a link direction (netsim/dev/faults.py, after sch_netem.c): every
fault does what it says to the frames, the counts say what happened, the receiver counts a
damaged frame where Linux does and never delivers it, the same seed gives the same run, and
TCP gets every byte across a lossy, reordering, duplicating link — all in virtual time."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, AF_INET6, SOCK_DGRAM, SOCK_STREAM, FaultPlan, GilbertElliott
from netsim.dev.faults import FaultState
from netsim.dev.link import LinkDevice

PEER = {AF_INET: "10.0.0.2", AF_INET6: "fd00::2"}


@asynccontextmanager
async def _pair(
    plan: FaultPlan | None, *, csum_offload: bool = False, allocator: str = "page_frag_cache"
) -> AsyncIterator[tuple[netsim.Host, netsim.Host, FaultState | None]]:
    async with (
        netsim.open_host(allocator, name="a") as a,
        netsim.open_host(allocator, name="b", seed=1) as b,
    ):
        wire = netsim.link(a, b, rate=1e8, delay=0.001, csum_offload=csum_offload)
        state = wire.dev_a.set_faults(plan)  # a -> b only
        yield a, b, state


async def _datagrams(
    plan: FaultPlan | None,
    count: int = 400,
    size: int = 200,
    gap: float = 1e-4,
    csum_offload: bool = False,
) -> tuple[list[int], FaultState, netsim.Host]:
    """Send ``count`` numbered datagrams a -> b, one every ``gap`` seconds (0: back to back);
    the numbers received, in order of arrival."""
    async with _pair(plan, csum_offload=csum_offload) as (a, b, state):
        assert state is not None
        rx = b.socket(AF_INET, SOCK_DGRAM)
        await rx.bind(("0.0.0.0", 7000))
        tx = a.socket(AF_INET, SOCK_DGRAM)
        got: list[int] = []

        async def read() -> None:
            while True:
                data = await rx.recv(2048)
                assert data[4:] == bytes(size - 4)  # never a damaged payload
                got.append(int.from_bytes(data[:4], "big"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            for i in range(count):
                await tx.sendto(i.to_bytes(4, "big") + bytes(size - 4), (PEER[AF_INET], 7000))
                if gap:
                    await trio.sleep(gap)
            await trio.sleep(1.0)  # everything still on the wire arrives
            nursery.cancel_scope.cancel()
        tx.close()
        rx.close()
        return got, state, b


async def test_no_plan_is_a_perfect_wire(autojump_clock: trio.testing.MockClock) -> None:
    got, state, _ = await _datagrams(FaultPlan())
    assert got == list(range(400))
    assert state.counts() == {
        "sent": 400,
        "lost": 0,
        "down_lost": 0,
        "duplicated": 0,
        "corrupted": 0,
        "reordered": 0,
    }


async def test_random_loss_loses_what_it_counts(autojump_clock: trio.testing.MockClock) -> None:
    got, state, b = await _datagrams(FaultPlan(loss=0.1, seed=7))
    assert 20 <= state.lost <= 60  # 10 % of 400, give or take
    assert len(got) == 400 - state.lost
    assert got == sorted(got)  # loss alone never reorders
    assert b.stats()["UdpInDatagrams"] == len(got)


async def test_the_same_seed_gives_the_same_run(autojump_clock: trio.testing.MockClock) -> None:
    plan = FaultPlan(loss=0.05, duplicate=0.05, reorder=0.1, jitter=2e-4, seed=3)
    first, s1, _ = await _datagrams(plan)
    again, s2, _ = await _datagrams(plan)
    other, _s3, _ = await _datagrams(attrs.evolve(plan, seed=4))
    assert first == again
    assert s1.counts() == s2.counts()
    assert other != first


async def test_duplicates_arrive_twice(autojump_clock: trio.testing.MockClock) -> None:
    got, state, _ = await _datagrams(FaultPlan(duplicate=0.2, seed=1))
    assert state.duplicated > 40
    assert len(got) == 400 + state.duplicated
    assert sorted(set(got)) == list(range(400))
    assert sum(1 for i in set(got) if got.count(i) == 2) == state.duplicated


async def test_reordering_overtakes_and_loses_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # back to back, so that later frames are there to overtake a held-back one
    got, state, _ = await _datagrams(FaultPlan(reorder=0.2, reorder_depth=5, seed=2), gap=0)
    assert state.reordered > 40
    assert sorted(got) == list(range(400))
    late = [i for i, n in enumerate(got) if n < max(got[:i], default=-1)]
    # a held-back datagram arrives after later ones — unless none came in time behind it (two
    # held in a row, or the last few sent): nearly all, never more
    assert 0.9 * state.reordered <= len(late) <= state.reordered
    overtaken_by = [sum(1 for m in got[:i] if m > n) for i, n in enumerate(got) if i in late]
    assert max(overtaken_by) <= 5 + 1  # about reorder_depth frames passed it


@pytest.mark.parametrize("csum_offload", [False, True])
async def test_corruption_is_caught_counted_and_dropped(
    csum_offload: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """One flipped bit per damaged frame: in the IP header the header checksum catches it
    (``IpInHdrErrors``), elsewhere UDP's checksum — in software, or judged bad by the
    offloading NIC and then checked in software (``UdpInCsumErrors``).  None is delivered."""
    got, state, b = await _datagrams(FaultPlan(corrupt=0.2, seed=5), csum_offload=csum_offload)
    stats = b.stats()
    assert state.corrupted > 40
    caught = stats["IpInHdrErrors"] + stats["UdpInCsumErrors"]
    assert len(got) == 400 - state.corrupted
    assert caught == state.corrupted
    assert stats["UdpInCsumErrors"] > 0


async def test_a_link_that_goes_down_loses_what_is_sent_meanwhile(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # 400 datagrams at 100 us each span 40 ms: down from 10 ms to 20 ms
    got, state, _ = await _datagrams(FaultPlan(down=[(0.010, 0.020)]))
    assert 90 <= state.down_lost <= 110
    assert len(got) == 400 - state.down_lost
    missing = sorted(set(range(400)) - set(got))
    assert missing == list(range(missing[0], missing[0] + len(missing)))  # one gap


async def test_burst_loss_comes_in_bursts(autojump_clock: trio.testing.MockClock) -> None:
    plan = FaultPlan(burst=GilbertElliott(p=0.02, r=0.25), seed=9)
    got, state, _ = await _datagrams(plan, count=1000)
    missing = sorted(set(range(1000)) - set(got))
    assert len(missing) == state.lost > 0
    bursts = 1 + sum(1 for x, y in itertools.pairwise(missing) if y != x + 1)
    assert len(missing) / bursts > 2  # mean burst 1/r = 4 frames; random loss would give ~1


def test_plans_are_checked() -> None:
    with pytest.raises(ValueError, match="loss must be a probability"):
        FaultPlan(loss=1.5)
    with pytest.raises(ValueError, match="two loss models"):
        FaultPlan(loss=0.1, burst=GilbertElliott(p=0.1, r=0.5))
    with pytest.raises(ValueError, match="down interval"):
        FaultPlan(down=[(2.0, 1.0)])
    with pytest.raises(ValueError, match="reorder_depth"):
        FaultPlan(reorder=0.1, reorder_depth=0)
    with pytest.raises(ValueError, match="r must be a probability"):
        GilbertElliott(p=0.1, r=-0.1)


@pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])
@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
async def test_tcp_gets_every_byte_across_a_faulty_link(
    family: int, allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """Loss, duplication, reordering and corruption in both directions: TCP (today by
    retransmission timeouts) delivers the stream byte-exact, and every page comes back."""
    plan = FaultPlan(loss=0.02, duplicate=0.01, reorder=0.02, corrupt=0.01, seed=11)
    payload = random.Random(family).randbytes(256 * 1024)
    async with (
        netsim.open_host(allocator, name="a") as a,
        netsim.open_host(allocator, name="b", seed=1) as b,
    ):
        netsim.link(a, b, rate=1e8, delay=0.001, faults=plan)
        listener = b.socket(family, SOCK_STREAM)
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(family, SOCK_STREAM)
        received = bytearray()

        async def serve() -> None:
            conn, _ = await listener.accept()
            with conn:
                while chunk := await conn.recv(65536):
                    received.extend(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            await client.connect((PEER[family], 5001))
            view = memoryview(payload)
            while view:
                view = view[await client.send(view) :]
            client.shutdown(netsim.SHUT_WR)
        assert bytes(received) == payload
        assert client.tcp_sk.info()["total_retrans"] > 0
        dev = a.devices["eth0"]
        assert isinstance(dev, LinkDevice)
        assert dev.faults is not None
        counts = dev.faults.counts()
        assert counts["lost"] + counts["corrupted"] > 0
        client.close()
        listener.close()
