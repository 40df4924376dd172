"""kTLS when pages run short: a send waits (``sk_stream_wait_memory``) and goes on, bytes
arrive exact, no page stays referenced.

Both transmit paths allocate from ``sk_page_frag()``: the device path a record's prepend and
plaintext (``tls_do_allocation``), the software path a whole record's buffer
(``sk_msg_alloc``, which gives back what it got when a page is refused).  A refused page
makes the send wait with ``SOCK_NOSPACE`` set, so the ACK path (or the short memory wait of
``sk_stream_wait_memory``) wakes it — a writer that waited without it slept forever once the
send buffer was full.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

import netsim
from netsim.mm import PageAllocator
from netsim.tls import tls_crypto_info, tls_get_ctx, tls_info

TlsPair = Callable[..., Awaitable[tuple[netsim.Socket, netsim.Socket, netsim.Socket]]]

INFO = tls_crypto_info(bytes(range(16)), bytes(8), b"\x01\x02\x03\x04")


@pytest.mark.parametrize("device", [False, True], ids=["sw", "hw"])
@pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])
async def test_refused_pages_make_the_send_wait_not_fail(
    autojump_clock: trio.testing.MockClock, tls_pair: TlsPair, device: bool, allocator: str
) -> None:
    """30 % of page allocations refused (seeded): the 500,000 bytes arrive exact, pages were
    refused and the frag allocators saw it, every record went out, nothing leaks."""
    pa = PageAllocator(fail_probability=0.3, seed=5)
    payload = random.Random(1).randbytes(500_000)
    async with netsim.open_host(page_allocator=pa, allocator=allocator) as host:
        listener, client, server = await tls_pair(host, INFO, device=device)
        assert tls_info(client.tcp_sk)["txconf"] == ("hw" if device else "sw")
        got = bytearray()

        async def reader() -> None:
            while len(got) < len(payload):
                data = await server.recv(65536)
                assert data
                got.extend(data)

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(reader)
                assert await client.send(payload) == len(payload)
        assert bytes(got) == payload
        stats = host.stats()
        assert stats["page_alloc_fail"] > 0
        assert stats["tls_records"] == -(-len(payload) // 16384)
        ctx = tls_get_ctx(client.tcp_sk)
        assert ctx is not None
        assert ctx.partial is None
        for sock in (client, server, listener):
            sock.close()
    assert pa.pages_in_use() == 0


async def test_sw_record_buffer_is_all_or_nothing(
    autojump_clock: trio.testing.MockClock, tls_pair: TlsPair
) -> None:
    """``sk_msg_alloc`` refused a page part-way through a record's five 4 KiB pages: the
    record's buffer goes back to its size before the call (``sk_msg_trim``, the pages it had
    got released), a non-blocking send is ``EAGAIN`` with ``SOCK_NOSPACE`` set; once pages
    come, the same send goes through.  (With one page in three refused for ever, Linux's
    software path would retry for ever too: each attempt needs five in a row.)"""
    pa = PageAllocator(fail_high_order=True)
    async with netsim.open_host(page_allocator=pa) as host:
        listener, client, server = await tls_pair(host, INFO)
        sk = client.tcp_sk
        pa.fail_every = 3  # 4 KiB pages only, and one in three refused: never five in a row
        with pytest.raises(BlockingIOError):
            await client.send(b"x" * 16384, netsim.MSG_DONTWAIT)
        ctx = tls_get_ctx(sk)
        assert ctx is not None
        assert ctx.tx_sw is not None
        rec = ctx.tx_sw.open_rec
        assert rec is not None
        assert rec.size == 0
        assert rec.frags == []
        assert sk.sock_nospace
        pa.fail_every = 0
        assert await client.send(b"x" * 16384) == 16384
        data = b""
        while len(data) < 16384:
            data += await server.recv(65536)
        assert data == b"x" * 16384
        for sock in (client, server, listener):
            sock.close()


@pytest.mark.parametrize("device", [False, True], ids=["sw", "hw"])
async def test_part_sent_record_is_finished_by_write_space(
    autojump_clock: trio.testing.MockClock, tls_pair: TlsPair, device: bool
) -> None:
    """Non-blocking sends into a small send buffer until ``EAGAIN``, then no more sends: a
    record TCP took only part of is finished when TCP has room again (``tls_write_space``),
    so every byte the sends accepted arrives — none waits for a send that never comes."""
    async with netsim.open_host() as host:
        listener, client, server = await tls_pair(host, INFO, device=device)
        client.setsockopt(netsim.SOL_SOCKET, netsim.SO_SNDBUF, 4096)
        data = random.Random(7).randbytes(200_000)
        accepted = 0
        while True:
            try:
                accepted += await client.send(data[accepted:], netsim.MSG_DONTWAIT)
            except BlockingIOError:
                break
        assert accepted < len(data)
        ctx = tls_get_ctx(client.tcp_sk)
        assert ctx is not None
        if device:
            assert ctx.partial is not None  # the last record is part-sent
        got = bytearray()
        with trio.fail_after(30):
            while len(got) < accepted:
                got += await server.recv(65536)
        assert bytes(got) == data[:accepted]
        assert ctx.partial is None
        for sock in (client, server, listener):
            sock.close()
