"""End to end: ``current->task_frag`` — the per-task fragment allocator behind
``sk_page_frag()`` (include/net/sock.h) and ``ip_make_skb`` (net/ipv4/ip_output.c).

Each trio task that sends on a host has its own allocator, created on its first send and
drained when the task exits (``do_exit``), while the host keeps running.  Two tasks never draw
from one page; one task writing to two sockets does.  A socket with ``sk_use_task_frag`` off
uses its own ``sk_frag`` for corked appends, but an uncorked send still uses the task's."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, AF_INET6, MSG_DONTWAIT, MSG_MORE, SOCK_DGRAM

#: big enough that the datagram's payload goes to page frags (fraglen + headroom above
#: SKB_MAX_ALLOC, 16064), small enough that two fit one 32 KiB page
PAGED = 16100
ALLOCATORS = ["page_frag", "page_frag_cache"]


def _frag_pages(skb: netsim.SkBuff) -> list[tuple[netsim.Page, int, int]]:
    return [(f.page, f.offset, f.len) for f in skb.frags]


async def _receiver(host: netsim.Host) -> netsim.Socket:
    rx = host.socket(AF_INET, SOCK_DGRAM)
    await rx.bind(("127.0.0.1", 0))
    return rx


@pytest.mark.parametrize("allocator", sorted(netsim.available_frag_allocators()))
async def test_task_frag_is_drained_when_the_task_exits(
    allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host(allocator) as host:
        rx = await _receiver(host)
        pages = host.page_allocator
        sent = trio.Event()
        may_exit = trio.Event()

        async def child() -> None:
            tx = host.socket(AF_INET, SOCK_DGRAM)
            await tx.sendto(bytes(range(100)) * 200, rx.getsockname())
            sent.set()
            await may_exit.wait()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(child, name="sender")
            await sent.wait()
            assert await rx.recv(30000) == bytes(range(100)) * 200
            # the datagram's frags are freed; the page stays, held by the child's task frag
            assert pages.pages_in_use() == 1
            held = pages.live_pages()[0]
            assert held.refcount >= 1
            await trio.sleep(10)
            assert pages.pages_in_use() == 1  # nothing but the task's exit frees it
            may_exit.set()
        assert pages.pages_in_use() == 0  # drained at task exit, with the host still open
        assert not host.closed
        stats = host.stats()
        assert stats["page_alloc"] == stats["page_free"]


async def test_task_frag_is_drained_when_the_task_fails(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        rx = await _receiver(host)

        async def child() -> None:
            tx = host.socket(AF_INET6, SOCK_DGRAM)
            await tx.sendto(bytes(PAGED), ("::ffff:127.0.0.1", rx.getsockname()[1]))
            raise ValueError("the task dies")

        with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match="the task dies")):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(child)
        assert host.page_allocator.pages_in_use() == 1  # the queued datagram's frag
        assert await rx.recv(PAGED) == bytes(PAGED)
        assert host.page_allocator.pages_in_use() == 0


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_two_tasks_do_not_share_a_frag(
    allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """Tasks A and B send in strict alternation (A, B, A, B): A's datagrams sit back to back
    in A's page, B's in B's — the other task's sends never come between them."""
    async with netsim.open_host(allocator) as host:
        rx = await _receiver(host)
        turns = [trio.Event() for _ in range(5)]

        async def sender(my_turns: list[int]) -> None:
            tx = host.socket(AF_INET, SOCK_DGRAM)
            for k in my_turns:
                await turns[k].wait()
                await tx.sendto(bytes([k]) * PAGED, rx.getsockname())
                turns[k + 1].set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender, [0, 2], name="A")
            nursery.start_soon(sender, [1, 3], name="B")
            turns[0].set()

        queue = list(rx.sk.sk_receive_queue)
        assert [skb.nr_frags for skb in queue] == [1, 1, 1, 1]
        (a1,), (b1,), (a2,), (b2,) = (_frag_pages(skb) for skb in queue)
        assert a1[0] is a2[0]
        assert b1[0] is b2[0]
        assert a1[0] is not b1[0]
        assert a2[1] == a1[1] + a1[2]  # A's second datagram right after its first
        assert b2[1] == b1[1] + b1[2]
        assert [await rx.recv(PAGED) for _ in range(4)] == [bytes([k]) * PAGED for k in range(4)]


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_one_task_shares_its_frag_between_sockets(
    allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """The contrast: one task alternating between two sockets interleaves their bytes in one
    page (spec tx-paths §1.1)."""
    async with netsim.open_host(allocator) as host:
        rx = await _receiver(host)
        tx_a = host.socket(AF_INET, SOCK_DGRAM)
        tx_b = host.socket(AF_INET, SOCK_DGRAM)
        await tx_a.sendto(b"a" * PAGED, rx.getsockname())
        await tx_b.sendto(b"b" * PAGED, rx.getsockname())
        (a1,), (b1,) = (_frag_pages(skb) for skb in rx.sk.sk_receive_queue)
        assert a1[0] is b1[0]
        assert b1[1] == a1[1] + a1[2]
        assert host.task_context().task_frag is not None


async def test_sk_use_task_frag_off_uses_the_socket_frag_for_corked_sends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        rx = await _receiver(host)
        tx = host.socket(AF_INET, SOCK_DGRAM)
        await tx.connect(rx.getsockname())
        tx.sk.sk_use_task_frag = False
        task = host.task_context()

        await tx.send(b"head " * 4000, MSG_MORE)  # 20000 bytes: a paged skb, corked
        await tx.send(b"tail")
        assert host.task_context().task_frag is None  # the task's allocator was never used
        own = tx.sk.sk_frag
        assert own is not None
        (skb,) = rx.sk.sk_receive_queue
        assert {f.page for f in skb.frags} == {own.page}
        assert await rx.recv(30000) == b"head " * 4000 + b"tail"

        # an uncorked send takes the task's frag whatever sk_use_task_frag says
        await tx.send(b"x" * 20000)
        assert task.task_frag is not None
        (skb,) = rx.sk.sk_receive_queue
        assert {f.page for f in skb.frags} == {task.task_frag.page}
        assert task.task_frag.page is not own.page
        assert await rx.recv(30000) == b"x" * 20000

        # closing the socket drains its own frag
        live = host.page_allocator.pages_in_use()
        tx.close()
        assert tx.sk.sk_frag is None
        assert host.page_allocator.pages_in_use() == live - 1


async def test_corked_sends_use_the_task_frag_by_default(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        rx = await _receiver(host)
        tx = host.socket(AF_INET, SOCK_DGRAM)
        await tx.connect(rx.getsockname())
        await tx.send(b"head " * 4000, MSG_MORE)
        await tx.send(b"tail")
        assert tx.sk.sk_frag is None
        task_frag = host.task_context().task_frag
        assert task_frag is not None
        (skb,) = rx.sk.sk_receive_queue
        assert {f.page for f in skb.frags} == {task_frag.page}
        assert await rx.recv(30000, MSG_DONTWAIT) == b"head " * 4000 + b"tail"


async def test_each_host_has_its_own_task_context(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host(name="one") as one, netsim.open_host(name="two") as two:
        rx1 = await _receiver(one)
        rx2 = await _receiver(two)
        await one.socket(AF_INET, SOCK_DGRAM).sendto(bytes(PAGED), rx1.getsockname())
        await two.socket(AF_INET, SOCK_DGRAM).sendto(bytes(PAGED), rx2.getsockname())
        ctx1, ctx2 = one.task_context(), two.task_context()
        assert ctx1 is not ctx2
        assert ctx1.task_frag is not None
        assert ctx2.task_frag is not None
        assert ctx1.task_frag.page is not None
        assert ctx1.task_frag.page.allocator is one.page_allocator
        assert ctx2.task_frag.page is not None
        assert ctx2.task_frag.page.allocator is two.page_allocator
