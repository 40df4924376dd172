"""TCP write-queue skb layouts a reader can check by hand (spec/tx-paths.md §1 and §2.4).

``tcp_sendmsg_locked`` appends user bytes to the tail skb: into the last frag when the page
and offset line up (``skb_can_coalesce``), else into a new frag slot, and it starts a new skb
at ``size_goal`` or at ``net.core.max_skb_frags``.  Every test runs with both allocators.  The
layouts agree except where the allocators really differ: the old ``page_frag`` restarts a page
at offset 0 whenever it holds the only reference, the cache only when it has run out of room.
On loopback the receiver holds the transmitted clone, so the reader's pace decides which.
"""

from __future__ import annotations

import pytest
import trio

import netsim
from netsim.mm import Page
from netsim.skb import skb_check
from netsim.tcp.sock import tcb
from netsim.wire.tcp import TCPHDR_PSH

ALLOCATORS = ["page_frag", "page_frag_cache"]
PAGE = 32768  # SKB_FRAG_PAGE_ORDER 3


async def _pair(
    host: netsim.Host, family: int = netsim.AF_INET
) -> tuple[netsim.Socket, netsim.Socket]:
    local = "127.0.0.1" if family == netsim.AF_INET else "::1"
    listener = host.socket(family, netsim.SOCK_STREAM)
    await listener.bind((local, 0))
    listener.listen(1)
    client = host.socket(family, netsim.SOCK_STREAM)
    await client.connect(listener.getsockname())
    server, _ = await listener.accept()
    listener.close()
    return client, server


def _rx_frag(sock: netsim.Socket) -> tuple[Page, int, int]:
    """(page, offset, len) of the newest frag in the receive queue: on loopback the receiver
    holds the transmitted clone, sharing its frags with the sender's retransmit-queue skb
    (``tcp_try_coalesce`` may have appended them to the previous skb's frags)."""
    frag = sock.sk.sk_receive_queue[-1].frags[-1]
    return frag.page, frag.offset, frag.len


async def _read_exactly(sock: netsim.Socket, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        chunk = await sock.recv(n - len(got))
        assert chunk
        got += chunk
    return bytes(got)


@pytest.mark.parametrize("family", [netsim.AF_INET, netsim.AF_INET6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_corked_small_writes_coalesce_into_one_frag(allocator: str, family: int) -> None:
    """Three corked 100-byte writes: one skb, one frag of 300 bytes.  The first write fills
    a new frag slot (``commit``: a page reference), the next two extend it (``commit_noref``,
    no reference)."""
    async with netsim.open_host(allocator=allocator) as host:
        client, server = await _pair(host, family)
        client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_CORK, 1)
        before = host.stats()
        for chunk in (b"a" * 100, b"b" * 100, b"c" * 100):
            await client.send(chunk)
        (skb,) = client.sk.sk_write_queue
        skb_check(skb)
        assert (skb.len, skb.headlen, skb.data_len) == (300, 0, 300)
        assert netsim.skb_layout(skb) == [("p0", 0, 300)]
        delta = host.stats() - before
        assert (delta["skb_new_frag"], delta["skb_coalesce"]) == (1, 2)
        assert (delta["frag_commit"], delta["frag_commit_noref"]) == (1, 2)
        assert delta["TcpExtTCPOrigDataSent"] == 0  # corked: nothing left
        if allocator == "page_frag":
            assert (delta["page_get"], delta["page_ref_add"]) == (1, 0)  # get_page per slot
        else:
            assert (delta["page_get"], delta["page_ref_add"]) == (0, 1)  # bias, at refill
        client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_CORK, 0)  # pushes
        assert not client.sk.sk_write_queue
        assert (host.stats() - before)["TcpExtTCPOrigDataSent"] == 1
        assert await _read_exactly(server, 300) == b"a" * 100 + b"b" * 100 + b"c" * 100
        client.close()
        server.close()


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_write_crossing_a_32k_page_continues_in_a_new_page(allocator: str) -> None:
    """20000 bytes sent and left unread, then a corked 20000-byte write: its skb takes the
    12768 bytes left in the page, then the other 7232 from a fresh page, as a second frag."""
    async with netsim.open_host(allocator=allocator) as host:
        client, server = await _pair(host)
        await client.send(b"1" * 20000)
        first_page, first_off, first_len = _rx_frag(server)
        assert (first_off, first_len) == (0, 20000)
        client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_CORK, 1)
        before = host.stats()
        await client.send(b"2" * 20000)
        (skb,) = client.sk.sk_write_queue
        skb_check(skb)
        frags = [(f.page, f.offset, f.len) for f in skb.frags]
        assert frags[0] == (first_page, 20000, PAGE - 20000)
        assert frags[1][1:] == (0, 20000 - (PAGE - 20000))
        assert frags[1][0] is not first_page
        assert frags[1][0].order == 3
        delta = host.stats() - before
        assert (delta["page_alloc"], delta["frag_refill"], delta["frag_abandon"]) == (1, 1, 1)
        assert delta["skb_new_frag"] == 2
        client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_CORK, 0)
        assert await _read_exactly(server, 40000) == b"1" * 20000 + b"2" * 20000
        client.close()
        server.close()


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_a_tail_under_32_bytes_is_abandoned(allocator: str) -> None:
    """``sk_page_frag_refill`` wants 32 free bytes: with 20 left in the page, the next write
    goes to a new page and the 20 bytes are never used."""
    async with netsim.open_host(allocator=allocator) as host:
        client, server = await _pair(host)
        await client.send(b"w" * 20000)  # sent, left unread
        client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_CORK, 1)
        await client.send(b"x" * (PAGE - 20 - 20000))
        (skb,) = client.sk.sk_write_queue
        page = skb.frags[0].page
        await client.send(b"y" * 10)
        assert [(f.page is page, f.offset, f.len) for f in skb.frags] == [
            (True, 20000, PAGE - 20 - 20000),
            (False, 0, 10),
        ]
        client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_CORK, 0)
        expected = b"w" * 20000 + b"x" * (PAGE - 20 - 20000) + b"y" * 10
        assert await _read_exactly(server, PAGE - 10) == expected
        client.close()
        server.close()


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_max_skb_frags_limit_pushes_and_starts_a_new_skb(
    allocator: str, autojump_clock: trio.abc.Clock
) -> None:
    """With ``net.core.max_skb_frags = 4`` and two sockets of one task taking turns at the
    shared task frag (so nothing coalesces), the fifth write to ``a`` cannot take a fifth
    slot: the full skb is marked PSH and a new skb starts.  The push at the end of the call
    then finds a short head with more behind it, and 6.18's ``tcp_write_xmit`` grows it
    first (``tcp_grow_skb`` → ``skb_shift``, which is bounded by the build's
    ``MAX_SKB_FRAGS``, not by the sysctl): the fifth frag moves over with its page
    reference, the emptied skb is eaten, and the grown skb — the tail again — waits for the
    cork."""
    async with netsim.open_host(allocator=allocator) as host:
        host.sysctl["net.core.max_skb_frags"] = 4
        a, ra = await _pair(host)
        b, rb = await _pair(host)
        for sock in (a, b):
            sock.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_CORK, 1)
        # MSG_MORE: tcp_push() leaves PSH off, so a PSH below comes from the frag limit
        for i in range(4):
            await a.send(bytes([65 + i]) * 100, netsim.MSG_MORE)
            await b.send(b"." * 100)
        (first,) = a.sk.sk_write_queue
        assert not tcb(first).tcp_flags & TCPHDR_PSH
        before = host.stats()
        await a.send(b"E" * 100, netsim.MSG_MORE)
        delta = host.stats() - before
        assert delta["TcpExtTCPOrigDataSent"] == 0  # grown into the corked tail
        assert (delta["skb_alloc"], delta["skb_free"]) == (1, 1)  # the new skb, eaten
        # the old allocator's get_page for the new slot; nothing else: the frag moved whole
        assert delta["page_get"] == (1 if allocator == "page_frag" else 0)
        assert delta["page_put"] == 0
        assert tcb(first).tcp_flags & TCPHDR_PSH
        assert list(a.sk.sk_write_queue) == [first]
        assert (tcb(first).seq + 500, first.len, first.nr_frags) == (tcb(first).end_seq, 500, 5)
        assert netsim.skb_layout(first) == [
            ("p0", 0, 100), ("p0", 200, 100), ("p0", 400, 100), ("p0", 600, 100), ("p0", 800, 100),
        ]  # fmt: skip
        skb_check(first)
        (b_skb,) = b.sk.sk_write_queue  # b's four writes: four slots, none coalesced
        assert b_skb.nr_frags == 4
        before = host.stats()
        for sock in (a, b):
            sock.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_CORK, 0)  # pushes pending frames
        assert (host.stats() - before)["TcpExtTCPOrigDataSent"] == 2
        assert await _read_exactly(ra, 500) == b"".join(bytes([65 + i]) * 100 for i in range(5))
        assert await _read_exactly(rb, 400) == b"." * 400
        for sock in (a, ra, b, rb):
            sock.close()


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_reader_pace_decides_whether_page_frag_restarts_the_page(
    allocator: str, autojump_clock: trio.abc.Clock
) -> None:
    """Once the ACK has freed the retransmit-queue skb and the reader has consumed the clone,
    the pfrag holds the page's only reference.  The old ``page_frag`` then restarts the page
    at offset 0, mid-page; the cache keeps appending.  While the clone sits unread in the
    receive queue, both append."""
    async with netsim.open_host(allocator=allocator) as host:
        client, server = await _pair(host)
        client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_NODELAY, 1)
        await client.send(b"a" * 1000)
        page, offset, _ = _rx_frag(server)
        assert offset == 0
        await trio.sleep(1)  # the delayed ACK frees the original
        assert not client.tcp_sk.tcp_rtx_queue
        # unread: the clone keeps the data reference, so the page is not the pfrag's alone
        await client.send(b"b" * 1000)
        assert _rx_frag(server)[:2] == (page, 1000)
        assert await _read_exactly(server, 2000) == b"a" * 1000 + b"b" * 1000
        await trio.sleep(1)
        assert not client.tcp_sk.tcp_rtx_queue
        assert not server.sk.sk_receive_queue
        # consumed and acknowledged: only the allocator holds the page now
        expected_refs = 1 if allocator == "page_frag" else None
        if expected_refs is not None:
            assert page.refcount == expected_refs
        before = host.stats()
        await client.send(b"c" * 1000)
        assert _rx_frag(server)[:2] == (page, 0 if allocator == "page_frag" else 2000)
        delta = host.stats() - before
        assert delta["page_alloc"] == 0
        assert await _read_exactly(server, 1000) == b"c" * 1000
        client.close()
        server.close()


@pytest.mark.parametrize("read_first", [True, False], ids=["consumed", "unread"])
async def test_cache_recycles_a_full_page_only_when_its_bias_shows_no_users(
    read_first: bool, autojump_clock: trio.abc.Clock
) -> None:
    """``page_frag_cache``: when the page runs out of room, the cache gives back its bias;
    if that was the last reference (everything acknowledged and read) it reuses the page
    from 0 (``frag_recycle``), else it refills with a new page and the old one is freed when
    the reader gets to it."""
    async with netsim.open_host(allocator="page_frag_cache") as host:
        client, server = await _pair(host)
        client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_NODELAY, 1)
        await client.send(b"a" * 16384)
        page = _rx_frag(server)[0]
        await client.send(b"b" * (PAGE - 16384))  # fills the page exactly
        assert _rx_frag(server)[:2] == (page, 16384)
        if read_first:
            assert len(await _read_exactly(server, PAGE)) == PAGE
        await trio.sleep(1)  # delayed ACKs
        assert not client.tcp_sk.tcp_rtx_queue
        before = host.stats()
        await client.send(b"c" * 100)
        new_page, offset, _ = _rx_frag(server)
        delta = host.stats() - before
        assert offset == 0
        if read_first:
            assert new_page is page
            assert (delta["frag_recycle"], delta["page_alloc"]) == (1, 0)
        else:
            assert new_page is not page
            assert (delta["frag_recycle"], delta["page_alloc"]) == (0, 1)
            assert delta["page_free"] == 0  # the unread clones still hold the old page
            assert len(await _read_exactly(server, PAGE)) == PAGE
        assert await _read_exactly(server, 100) == b"c" * 100
        # the old page went back only if a new one was taken
        assert (host.stats() - before)["page_free"] == (0 if read_first else 1)
        client.close()
        server.close()


@pytest.mark.parametrize("read_first", [True, False], ids=["consumed", "unread"])
async def test_page_frag_takes_a_new_page_only_while_the_reader_holds_the_old(
    read_first: bool, autojump_clock: trio.abc.Clock
) -> None:
    """The old ``page_frag`` with a full page: at refcount 1 it restarts it; otherwise it
    drops its reference and allocates a new page (``frag_abandon``)."""
    async with netsim.open_host(allocator="page_frag") as host:
        client, server = await _pair(host)
        client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_NODELAY, 1)
        await client.send(b"a" * 16384)
        page = _rx_frag(server)[0]
        await client.send(b"b" * (PAGE - 16384))
        if read_first:
            assert len(await _read_exactly(server, PAGE)) == PAGE
        await trio.sleep(1)
        before = host.stats()
        await client.send(b"c" * 100)
        new_page, offset, _ = _rx_frag(server)
        delta = host.stats() - before
        assert offset == 0
        if read_first:
            assert new_page is page
            assert (delta["page_alloc"], delta["frag_abandon"]) == (0, 0)
        else:
            assert new_page is not page
            assert (delta["page_alloc"], delta["frag_abandon"]) == (1, 1)
            assert len(await _read_exactly(server, PAGE)) == PAGE
        assert await _read_exactly(server, 100) == b"c" * 100
        client.close()
        server.close()
