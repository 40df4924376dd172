"""trio's own stream conformance suite on netsim TCP streams (ecosystem.md §4)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import netsim
from netsim.testing.allow import STALLED_READER


async def _pair(host: netsim.Host, family: int) -> tuple[trio.SocketStream, trio.SocketStream]:
    local = "127.0.0.1" if family == netsim.AF_INET else "::1"
    listener = await host.open_tcp_listener(0, host=local)
    port = listener.socket.getsockname()[1]
    client = await host.open_tcp_stream(local, port)
    server = await listener.accept()
    await listener.aclose()
    assert isinstance(server, trio.SocketStream)
    return client, server


async def _fill(stream: trio.SocketStream) -> None:
    """Send until sndbuf and the peer's window are full (trio's clogged maker does the same
    with 10 000-byte sends), then top up with smaller and smaller writes, down to a byte.
    A write that fits in the room left in the tail skb is taken even with sndbuf full
    (``tcp_sendmsg_locked`` asks ``sk_stream_memory_free`` only for a new skb), and the
    probe timer may have cut the tail to fill a window too small for a segment
    (``tcp_write_wakeup``): only a 1-byte send that blocks shows the stream is clogged."""
    for size in (10000, 1000, 100, 10, 1):
        chunk = b"x" * size
        while True:
            with trio.move_on_after(1) as scope:
                await stream.send_all(chunk)
            if scope.cancelled_caught:
                break


@pytest.mark.parametrize("family", [netsim.AF_INET, netsim.AF_INET6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])
@STALLED_READER
async def test_check_half_closeable_stream(
    family: int, allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host(allocator=allocator) as host:

        async def maker() -> tuple[trio.SocketStream, trio.SocketStream]:
            return await _pair(host, family)

        async def clogged() -> tuple[trio.SocketStream, trio.SocketStream]:
            a, b = await _pair(host, family)
            # clog both directions, as trio's own SocketStream test does
            await _fill(a)
            await _fill(b)
            return a, b

        await trio.testing.check_half_closeable_stream(maker, clogged)
