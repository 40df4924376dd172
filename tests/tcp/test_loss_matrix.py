"""TCP across faulty links, end to end: random loss (1 %, 5 %, 20 %), burst loss
(Gilbert-Elliott), reordering and duplication, over IPv4 and IPv6, with both fragment
allocators, each way of a 1500-MTU link (1 Gbit/s, 0.5 ms one way), in virtual time.

Each transfer must arrive byte-exact, finish within a bound of virtual time, recover the way
Linux does (the counters say how: SACK recovery, the tail loss probe, few timeouts), and give
every page back (``open_host``'s leak check).  The issue asks for 16 MiB per transfer; that is
the size with ``NETSIM_FULL=1`` (``NETSIM_FULL=1 python3 -m pytest -m slow
tests/tcp/test_loss_matrix.py``); by default each moves 1 MiB, so ``.ci/run`` stays quick."""

from __future__ import annotations

import hashlib
import os
import random

import attrs
import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, AF_INET6, SOCK_STREAM, FaultPlan, GilbertElliott

FULL = os.environ.get("NETSIM_FULL") == "1"
NBYTES = (16 if FULL else 1) << 20
PEER = {AF_INET: "10.0.0.2", AF_INET6: "fd00::2"}
FAMILIES = pytest.mark.parametrize("family", [AF_INET, AF_INET6], ids=["ipv4", "ipv6"])
ALLOCATORS = pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])

pytestmark = pytest.mark.slow


@attrs.frozen
class Outcome:
    seconds: float  # virtual
    sender: netsim.StatsSnapshot
    receiver: netsim.StatsSnapshot
    info: dict[str, int]


async def _transfer(plan: FaultPlan, family: int, allocator: str) -> Outcome:
    payload = random.Random(7).randbytes(NBYTES)
    digest = hashlib.sha256(payload).digest()
    async with (
        netsim.open_host(allocator, name="a") as a,
        netsim.open_host(allocator, name="b", seed=1) as b,
    ):
        netsim.link(a, b, rate=1e9, delay=0.0005, faults=plan)
        listener = b.socket(family, SOCK_STREAM)
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(family, SOCK_STREAM)
        received = hashlib.sha256()
        count = 0

        async def serve() -> None:
            nonlocal count
            conn, _ = await listener.accept()
            with conn:
                while chunk := await conn.recv(65536):
                    received.update(chunk)
                    count += len(chunk)

        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            await client.connect((PEER[family], 5001))
            view = memoryview(payload)
            while view:
                view = view[await client.send(view) :]
            client.shutdown(netsim.SHUT_WR)
        seconds = trio.current_time() - start
        assert count == NBYTES
        assert received.digest() == digest
        await trio.sleep(1)  # the last ACKs
        info = client.tcp_sk.info()
        assert info["unacked"] == 0
        client.close()
        listener.close()
        return Outcome(seconds, a.stats(), b.stats(), info)


@FAMILIES
@ALLOCATORS
@pytest.mark.parametrize("loss", [0.01, 0.05, 0.20])
async def test_random_loss(
    loss: float, family: int, allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """Lost frames each way.  At 1 % and 5 % SACK recovery and the loss probe repair nearly
    everything and 16 MiB takes seconds of virtual time (Linux: the same order); at 20 %
    each way about a third of the round trips fail, timeouts back off exponentially when the
    head's retransmission or its ACK is lost again, and the transfer is slow — but it ends,
    byte-exact."""
    out = await _transfer(FaultPlan(loss=loss, seed=11), family, allocator)
    s = out.sender
    assert s["TcpRetransSegs"] > 0
    assert s["TcpExtTCPSackRecovery"] > 0
    assert s["TcpExtTCPDelivered"] >= NBYTES // 1448
    if loss <= 0.05:
        # most losses are repaired by SACK recovery and the loss probe, not by timeouts
        assert s["TcpExtTCPTimeouts"] < s["TcpExtTCPSackRecovery"] + s["TcpExtTCPLossProbes"]
        bound = {0.01: 10.0, 0.05: 30.0}[loss] * NBYTES / (16 << 20)
        assert out.seconds < max(bound, 2.0)


@FAMILIES
async def test_burst_loss(family: int, autojump_clock: trio.testing.MockClock) -> None:
    """Gilbert-Elliott: ~1 % of frames lost, in bursts (the bad state loses half)."""
    plan = FaultPlan(burst=GilbertElliott(p=0.01, r=0.3, h=0.5), seed=3)
    out = await _transfer(plan, family, "page_frag_cache")
    assert out.sender["TcpRetransSegs"] > 0
    assert out.seconds < max(20.0 * NBYTES / (16 << 20), 5.0)


@FAMILIES
async def test_reordering_without_loss(family: int, autojump_clock: trio.testing.MockClock) -> None:
    """5 % of frames held back behind up to three others: RACK learns the path reorders
    (``TCPSACKReorder``, ``reord_seen``) and widens its window; what it resent too soon comes
    back D-SACKed."""
    out = await _transfer(FaultPlan(reorder=0.05, reorder_depth=3, seed=5), family, "page_frag")
    s = out.sender
    assert s["TcpExtTCPSACKReorder"] + s["TcpExtTCPTSReorder"] > 0
    assert s["TcpExtTCPTimeouts"] == 0
    assert out.seconds < max(10.0 * NBYTES / (16 << 20), 2.0)


@FAMILIES
async def test_duplication_without_loss(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """2 % of frames delivered twice: the receiver D-SACKs each duplicate data segment
    (``TCPDSACKOldSent``) and the sender resends nothing."""
    out = await _transfer(FaultPlan(duplicate=0.02, seed=9), family, "page_frag_cache")
    assert out.receiver["TcpExtTCPDSACKOldSent"] > 0
    assert out.sender["TcpExtTCPDSACKRecv"] > 0
    assert out.sender["TcpRetransSegs"] == 0
    assert out.sender["TcpExtTCPTimeouts"] == 0
