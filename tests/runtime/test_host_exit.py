"""End to end: leaving ``async with netsim.open_host()``.  Everything the host holds is given
back (sockets' queues, corked datagrams, task frags, frames on a link, reassembly queues); a
page still referenced after that is a leak — ``PageLeakError`` naming the page, or, when the
body raised, a note on the body's own exception (which propagates unwrapped).

Each leak here is made on purpose and given back after the check, so the suite's own leak
fixture (tests/conftest.py) sees a clean allocator."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, AF_INET6, GFP_KERNEL, MSG_MORE, SOCK_DGRAM
from netsim.mm import get_page, put_page


async def test_leaked_page_raises_page_leak_error(autojump_clock: trio.testing.MockClock) -> None:
    grabbed: list[netsim.Page] = []

    async def body() -> None:
        async with netsim.open_host(name="leaky") as host:
            page = host.page_allocator.alloc_pages(GFP_KERNEL, 0, owner="test-leak")
            assert page is not None
            grabbed.append(page)
            get_page(page)  # refcount 2: our extra reference
            put_page(page)  # back to 1: still ours, never given back

    with pytest.raises(netsim.PageLeakError, match="page leak on host 'leaky'") as info:
        await body()
    (leaked,) = grabbed
    error = info.value
    assert isinstance(error, AssertionError)
    assert isinstance(error, netsim.NetsimError)
    assert f"pfn {leaked.pfn:#x} order 0 refcount 1" in str(error)
    assert "owner test-leak" in error.report
    assert error.report.startswith("1 page(s) still referenced (4096 bytes)")
    # give it back: the allocator ends with no live page
    assert leaked.refcount == 1
    allocator = leaked.allocator
    put_page(leaked)
    assert allocator.pages_in_use() == 0
    assert allocator.leak_report() == ""


async def test_leaked_compound_page(autojump_clock: trio.testing.MockClock) -> None:
    grabbed: list[netsim.Page] = []

    async def body() -> None:
        async with netsim.open_host() as host:
            page = host.page_allocator.alloc_pages(GFP_KERNEL, 3, owner="big-leak")
            assert page is not None
            grabbed.append(page)
            get_page(page.subpage(5))  # a tail page's reference lands on the head

    with pytest.raises(netsim.PageLeakError) as info:
        await body()
    (leaked,) = grabbed
    assert f"pfn {leaked.pfn:#x} order 3 refcount 2" in str(info.value)
    assert "(32768 bytes)" in info.value.report
    put_page(leaked)
    put_page(leaked.subpage(5))
    assert leaked.allocator.pages_in_use() == 0


async def test_body_error_propagates_unwrapped_with_the_leak_as_a_note(
    autojump_clock: trio.testing.MockClock,
) -> None:
    grabbed: list[netsim.Page] = []

    async def body() -> None:
        async with netsim.open_host(name="noted") as host:
            page = host.page_allocator.alloc_pages(GFP_KERNEL, 0, owner="note-leak")
            assert page is not None
            grabbed.append(page)
            raise KeyError("the body's own error")

    with pytest.raises(KeyError) as info:
        await body()
    (leaked,) = grabbed
    error = info.value
    assert type(error) is KeyError  # not an ExceptionGroup, not a PageLeakError
    assert error.args == ("the body's own error",)
    notes = error.__notes__
    assert len(notes) == 1
    assert notes[0].startswith("netsim: page leak on host 'noted':")
    assert f"pfn {leaked.pfn:#x}" in notes[0]
    assert "owner note-leak" in notes[0]
    put_page(leaked)
    assert leaked.allocator.pages_in_use() == 0


async def test_body_error_without_a_leak_has_no_note(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def body() -> None:
        async with netsim.open_host() as host:
            sock = host.socket(AF_INET, SOCK_DGRAM)
            await sock.bind(("127.0.0.1", 0))
            await sock.sendto(bytes(20000), sock.getsockname())
            raise ValueError("plain")

    with pytest.raises(ValueError, match="plain") as info:
        await body()
    assert type(info.value) is ValueError
    assert not getattr(info.value, "__notes__", [])


async def test_body_error_raised_after_a_child_task_ran(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The body's exception stays unwrapped even when the body ran a nursery of its own."""

    async def body() -> None:
        async with netsim.open_host() as host:
            rx = host.socket(AF_INET, SOCK_DGRAM)
            await rx.bind(("127.0.0.1", 0))

            async def child() -> None:
                tx = host.socket(AF_INET, SOCK_DGRAM)
                await tx.sendto(bytes(20000), rx.getsockname())

            async with trio.open_nursery() as nursery:
                nursery.start_soon(child)
            raise RuntimeError("after the nursery")

    with pytest.raises(RuntimeError, match="after the nursery") as info:
        await body()
    assert type(info.value) is RuntimeError


async def test_check_leaks_false_does_not_raise(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host(check_leaks=False) as host:
        allocator = host.page_allocator
        leaked = allocator.alloc_pages(GFP_KERNEL, 0)
        assert leaked is not None
    assert allocator.pages_in_use() == 1
    put_page(leaked)
    assert allocator.pages_in_use() == 0


async def test_exit_gives_back_everything_in_flight(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """No leak error although, at exit, datagrams sit unread in receive queues, a corked
    datagram is half built, frames are on the wire, a reassembly queue is incomplete and
    several tasks' frags hold pages."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, rate=1e6, delay=0.5)
        rx = b.socket(AF_INET6, SOCK_DGRAM)
        await rx.bind(("::", 7000))
        local_rx = a.socket(AF_INET, SOCK_DGRAM)
        await local_rx.bind(("127.0.0.1", 0))

        async def sender(n: int) -> None:
            tx = a.socket(AF_INET, SOCK_DGRAM)
            await tx.sendto(bytes([n]) * 20000, local_rx.getsockname())  # unread
            await tx.sendto(bytes([n]) * 40000, ("10.0.0.2", 7000))  # on the wire

        async with trio.open_nursery() as nursery:
            for n in range(3):
                nursery.start_soon(sender, n)
        corked = a.socket(AF_INET6, SOCK_DGRAM)
        await corked.connect(("fd00::2", 7000))
        await corked.send(bytes(30000), MSG_MORE)
        await trio.sleep(0.6)  # the first fragments of the first datagram have arrived
        assert b.stats()["IpReasmReqds"] > 0
        assert b.stats()["IpReasmOKs"] == 0
        assert a.page_allocator.pages_in_use() > 0
        assert b.page_allocator.pages_in_use() > 0
    assert a.page_allocator.pages_in_use() == 0
    assert b.page_allocator.pages_in_use() == 0
    assert a.closed
    assert b.closed


async def test_sockets_are_unusable_after_exit(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        sock = host.socket(AF_INET6, SOCK_DGRAM)
    assert sock.fileno() == -1
    with pytest.raises(OSError, match="Bad file descriptor"):
        await sock.sendto(b"x", ("::1", 9))
