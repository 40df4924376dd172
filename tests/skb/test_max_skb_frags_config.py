"""``CONFIG_MAX_SKB_FRAGS`` is a build-time constant of the kernel, and every size derived from
it follows: ``sizeof(struct skb_shared_info)`` (48 bytes + 16 per slot), ``SKB_TRUESIZE``,
``SKB_SMALL_HEAD_CACHE_SIZE`` (kept off powers of two), ``SKB_MAX_ALLOC``, and each test
against ``MAX_SKB_FRAGS`` (include/linux/skbuff.h, net/core/skbuff.c).  netsim makes it a host
property (``open_host(max_skb_frags=N)``): these tests check the sizes by hand-computed value
and that a host built with 45 uses them everywhere."""

from __future__ import annotations

import errno

import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, IPPROTO_TCP, SOCK_DGRAM, SOCK_STREAM, TCP_CORK
from netsim.skb import (
    DEFAULT_SKB_LAYOUT,
    SKB_SMALL_HEAD_CACHE_SIZE,
    SKB_TRUESIZE,
    alloc_skb,
    kfree_skb,
    skb_check,
    skb_layout_for,
)
from netsim.stats import Counters

# (MAX_SKB_FRAGS, sizeof(skb_shared_info), SKB_DATA_ALIGN of it, SKB_SMALL_HEAD_CACHE_SIZE,
#  SKB_MAX_ALLOC, SKB_TRUESIZE of a TCP skb's 384-byte head)
#  small head = SKB_HEAD_ALIGN(368) = 384 + aligned shinfo, plus 64 if that is a power of two;
#  SKB_MAX_ALLOC = 16384 - aligned shinfo; truesize = head (small head - aligned shinfo)
#  + 256 (sk_buff) + aligned shinfo
SIZES = [
    (17, 320, 320, 704, 16064, 960),
    (18, 336, 384, 768, 16000, 1024),
    (34, 592, 640, 1088, 15744, 1344),  # 384 + 640 = 1024, a power of two: one line more
    (37, 640, 640, 1088, 15744, 1344),
    (38, 656, 704, 1088, 15680, 1344),
    (45, 768, 768, 1152, 15616, 1408),
]


@pytest.mark.parametrize(("frags", "shinfo", "aligned", "small", "max_alloc", "tcp"), SIZES)
def test_sizes_follow_config_max_skb_frags(
    frags: int, shinfo: int, aligned: int, small: int, max_alloc: int, tcp: int
) -> None:
    layout = skb_layout_for(frags)
    assert layout.max_frags == frags
    assert (layout.shinfo_size, layout.shinfo_aligned) == (shinfo, aligned)
    assert layout.small_head_cache_size == small
    assert layout.max_alloc == max_alloc
    assert layout.truesize(layout.head_size(320)) == tcp  # alloc_skb(MAX_TCP_HEADER)
    skb = alloc_skb(320, stats=Counters(), layout=layout)
    assert (skb.end, skb.truesize, skb.layout) == (small - aligned, tcp, layout)
    kfree_skb(skb)


def test_the_default_build_is_17() -> None:
    assert DEFAULT_SKB_LAYOUT is skb_layout_for(17) is skb_layout_for()
    assert SKB_SMALL_HEAD_CACHE_SIZE == 704
    assert SKB_TRUESIZE(384) == 960
    with pytest.raises(ValueError, match=r"17\.\.45"):
        skb_layout_for(16)
    with pytest.raises(ValueError, match=r"17\.\.45"):
        skb_layout_for(46)


@pytest.mark.parametrize(("frags", "truesize"), [(17, 960), (45, 1408)])
@pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])
async def test_a_tcp_skb_is_as_large_as_the_hosts_build(
    frags: int, truesize: int, allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """``tcp_stream_alloc_skb`` charges ``SKB_TRUESIZE`` of the head in the host's build, and
    a corked TCP skb takes frags up to ``net.core.max_skb_frags`` (whose default and maximum
    is ``CONFIG_MAX_SKB_FRAGS``) before a new skb is started.  Writes alternate between two
    sockets of one task, so every write lands in a new place of the task's page and needs a
    slot of its own."""
    async with netsim.open_host(allocator, max_skb_frags=frags) as host:
        assert host.sysctl["net.core.max_skb_frags"] == frags
        listener = host.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        a, b = host.socket(AF_INET, SOCK_STREAM), host.socket(AF_INET, SOCK_STREAM)
        for s in (a, b):
            await s.connect(("127.0.0.1", port))
            s.setsockopt(IPPROTO_TCP, TCP_CORK, 1)
        for _ in range(frags + 3):
            await a.send(b"a" * 10)
            await b.send(b"b" * 10)
        # the full skb went out despite the cork (no longer the tail: tcp_write_xmit pushes
        # it); the next one holds the last three writes
        hist = host.stats().tx_nr_frags
        assert hist[frags] == 2  # one from each socket
        assert sum(hist) == 2
        (tail,) = a.sk.write_queue
        assert tail.nr_frags == 3
        assert tail.truesize == truesize + 30
        skb_check(tail)
        for s in (a, b, listener):
            s.close()


async def test_udp_datagram_frag_cap_is_the_build_constant(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``__ip_append_data`` fails a datagram that needs more than ``MAX_SKB_FRAGS`` slots
    with ``EMSGSIZE``: 17 by default, 45 on a host built with 45 (the sysctl does not
    matter here)."""
    for frags in (17, 45):
        async with netsim.open_host(max_skb_frags=frags) as host:
            host.sysctl["net.core.max_skb_frags"] = 8
            rx = host.socket(AF_INET, SOCK_DGRAM)
            await rx.bind(("127.0.0.1", 0))
            a = host.socket(AF_INET, SOCK_DGRAM)
            other = host.socket(AF_INET, SOCK_DGRAM)
            await a.connect(rx.getsockname())
            await other.connect(rx.getsockname())
            for i in range(frags + 2):
                # a small piece to the corked datagram, then one for another socket, so the
                # next piece cannot coalesce with this one; the first piece is linear (its skb
                # is allocated for it), each later one takes a frag slot
                if i <= frags:
                    await a.send(b"x" * 10, netsim.MSG_MORE)
                else:
                    with pytest.raises(OSError, match="more than") as info:
                        await a.send(b"x" * 10, netsim.MSG_MORE)
                    assert info.value.errno == errno.EMSGSIZE
                await other.send(b"y" * 10, netsim.MSG_MORE)
            for s in (a, other, rx):
                s.close()
