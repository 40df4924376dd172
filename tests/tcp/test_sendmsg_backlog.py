"""``tcp_sendmsg_locked`` owns the socket for the whole call, so the ACKs that loopback
delivers meanwhile wait on the socket's backlog — and every 16 new skbs the call processes
them (``sk_flush_backlog``, net/core/sock.c), so a large write frees acknowledged skbs from
its retransmit queue while it is still copying (their pages stay with the unread clones in
the receiver's queue).  Observed from inside the call through the fragment allocator the
host hands to the socket (a recording wrapper: the plug-in API)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, SO_SNDBUF, SOCK_STREAM, SOL_SOCKET
from netsim.mm import FragSpan, Page, PageAccount, PageFrag, PageFragCache, PageSource

MIB = 1 << 20


class Recording:
    """A fragment allocator that delegates to a built-in one and notes, at every
    ``prepare``, how many skbs the host has freed so far."""

    name = "recording"

    def __init__(self, inner: Any, source: PageSource) -> None:
        self.inner = inner
        self.source = source
        self.freed_at_prepare: list[int] = []

    @property
    def page(self) -> Page | None:
        return self.inner.page  # type: ignore[no-any-return]

    @property
    def offset(self) -> int:
        return self.inner.offset  # type: ignore[no-any-return]

    def prepare(
        self, fragsz: int, gfp: int, align: int = 1, *, want: int | None = None
    ) -> FragSpan | None:
        assert isinstance(self.source, PageAccount)
        self.freed_at_prepare.append(self.source.allocator.stats.skb_free)
        return self.inner.prepare(fragsz, gfp, align, want=want)  # type: ignore[no-any-return]

    def probe(self, fragsz: int, align: int = 1, *, want: int | None = None) -> FragSpan | None:
        return self.inner.probe(fragsz, align, want=want)  # type: ignore[no-any-return]

    def commit(self, span: FragSpan, used: int) -> int:
        return self.inner.commit(span, used)  # type: ignore[no-any-return]

    def commit_noref(self, span: FragSpan, used: int) -> int:
        return self.inner.commit_noref(span, used)  # type: ignore[no-any-return]

    def abort(self, fragsz: int) -> None:
        self.inner.abort(fragsz)

    def alloc(self, fragsz: int, gfp: int, align: int = 1) -> tuple[Page, int] | None:
        return self.inner.alloc(fragsz, gfp, align)  # type: ignore[no-any-return]

    def drain(self) -> None:
        self.inner.drain()


@pytest.mark.parametrize("inner", [PageFrag, PageFragCache])
async def test_a_large_write_frees_acknowledged_pages_before_it_returns(
    inner: type, autojump_clock: trio.testing.MockClock
) -> None:
    made: list[Recording] = []

    def factory(source: PageSource) -> Recording:
        rec = Recording(inner(source), source)
        made.append(rec)
        return rec

    async with netsim.open_host(factory) as host:
        listener = host.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = host.socket(AF_INET, SOCK_STREAM)
        client.setsockopt(SOL_SOCKET, SO_SNDBUF, 16 * MIB)  # room for all of it: no wait
        await client.connect(listener.getsockname())
        server, _ = await listener.accept()
        server.setsockopt(SOL_SOCKET, netsim.SO_RCVBUF, 16 * MIB)
        start = trio.current_time()
        before = host.stats()
        assert await client.send(bytes(4 * MIB)) == 4 * MIB
        assert trio.current_time() == start  # the call never slept
        (task_frag,) = [rec for rec in made if rec.freed_at_prepare]
        during = task_frag.freed_at_prepare[-1] - before["skb_free"]
        after = host.stats()["skb_free"] - before["skb_free"]
        # 4 MiB in 64 KiB skbs is 64 skbs: the backlog was flushed after the 16th, 32nd and
        # 48th, freeing the acknowledged rtx skbs then; the rest went at release_sock()
        assert during >= 16
        assert after >= during
        got = 0
        while got < 4 * MIB:
            got += len(await server.recv(MIB))
        for sock in (client, server, listener):
            sock.close()
