"""``alloc_skb`` geometry and the linear-area helpers (net/core/skbuff.c ``__alloc_skb`` /
``kmalloc_reserve``; include/linux/skbuff.h ``skb_put``, ``skb_push``, ``skb_pull``,
``skb_reserve``)."""

from __future__ import annotations

import pytest

from netsim.mm import GFP_KERNEL, PageAllocator, get_page
from netsim.skb import (
    SIZEOF_SK_BUFF,
    SIZEOF_SKB_SHARED_INFO,
    SKB_DATA_ALIGN,
    SKB_HEAD_ALIGN,
    SKB_SMALL_HEAD_CACHE_SIZE,
    SKB_TRUESIZE,
    SKB_WITH_OVERHEAD,
    BadSkbError,
    alloc_skb,
    kfree_skb,
    kmalloc_size_roundup,
    skb_fill_page_desc,
    skb_head_size,
    skb_len_add,
    skb_pull,
    skb_push,
    skb_put,
    skb_reserve,
    skb_to_bytes,
)
from netsim.stats import Counters

# -- constants ---------------------------------------------------------------------------------


def test_layout_constants_match_x86_64() -> None:
    assert SIZEOF_SK_BUFF == 232
    assert SIZEOF_SKB_SHARED_INFO == 48 + 16 * 17 == 320
    assert SKB_DATA_ALIGN(232) == 256
    assert SKB_DATA_ALIGN(320) == 320
    assert SKB_DATA_ALIGN(1) == 64
    assert SKB_DATA_ALIGN(64) == 64
    assert SKB_HEAD_ALIGN(1500) == 1536 + 320 == 1856
    assert SKB_WITH_OVERHEAD(2048) == 1728
    # X + SKB_DATA_ALIGN(sizeof(struct sk_buff)) + SKB_DATA_ALIGN(sizeof(skb_shared_info))
    assert SKB_TRUESIZE(0) == 576
    assert SKB_TRUESIZE(384) == 960
    # SKB_HEAD_ALIGN(max(MAX_TCP_HEADER=320, GRO_MAX_HEAD_PAD=368)) = 384 + 320; not a power of 2
    assert SKB_SMALL_HEAD_CACHE_SIZE == 704


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (1, 8),
        (8, 8),
        (9, 16),
        (65, 96),
        (97, 128),
        (129, 192),
        (193, 256),
        (257, 512),
        (513, 1024),
        (1025, 2048),
        (2049, 4096),
        (4097, 8192),
        (8192, 8192),
        (8193, 16384),  # kmalloc_large: page-order sizes above 8 KiB
        (12288, 16384),
        (16385, 32768),
        (65536, 65536),
    ],
)
def test_kmalloc_size_roundup_classes(size: int, expected: int) -> None:
    assert kmalloc_size_roundup(size) == expected


# -- alloc_skb geometry --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 64, 320, 383, 384])
def test_small_heads_come_from_the_704_byte_cache(size: int) -> None:
    """SKB_HEAD_ALIGN(size) <= 704 -> the dedicated cache: end 384, truesize 960."""
    stats = Counters()
    skb = alloc_skb(size, stats=stats)
    assert (skb.end, len(skb.head), skb.truesize) == (384, 384, 960)
    assert skb.truesize == SKB_TRUESIZE(384)
    assert skb_head_size(size) == 384
    kfree_skb(skb)


def test_max_tcp_header_skb_geometry() -> None:
    """tcp_stream_alloc_skb(MAX_TCP_HEADER): empty, all tailroom, no frags, dataref 1."""
    stats = Counters()
    skb = alloc_skb(320, stats=stats)
    assert (skb.data, skb.tail, skb.end) == (0, 0, 384)
    assert (skb.len, skb.data_len, skb.headlen) == (0, 0, 0)
    assert (skb.headroom, skb.tailroom) == (0, 384)
    assert skb.nr_frags == 0
    assert skb.frags == []
    assert skb.frag_list == []
    assert skb.shinfo.dataref == 1
    assert (skb.shinfo.gso_size, skb.shinfo.gso_segs, skb.shinfo.gso_type) == (0, 0, 0)
    assert not skb.cloned
    assert skb.users == 1
    assert not skb.freed
    assert not skb.pfmemalloc
    assert (skb.mac_header, skb.network_header, skb.transport_header) == (-1, -1, -1)
    assert stats.skb_alloc == 1
    kfree_skb(skb)
    assert stats.skb_free == 1


@pytest.mark.parametrize(
    ("size", "end"),
    [
        (385, 704),  # 448 + 320 = 768 -> kmalloc-1k
        (704, 704),  # 704 + 320 = 1024
        (705, 1728),  # 768 + 320 = 1088 -> kmalloc-2k
        (1500, 1728),  # 1536 + 320 = 1856 -> 2048
        (1728, 1728),
        (1729, 3776),  # -> 4096
        (3776, 3776),
        (3777, 7872),  # 3840 + 320 = 4160 -> 8192
        (10000, 16064),  # 10048 + 320 = 10368 -> 16384 (kmalloc_large)
    ],
)
def test_larger_heads_use_kmalloc_size_classes(size: int, end: int) -> None:
    stats = Counters()
    skb = alloc_skb(size, stats=stats)
    assert skb.end == len(skb.head) == end
    assert skb.end >= size
    assert skb.truesize == SKB_TRUESIZE(end) == end + 576
    assert skb_head_size(size) == end
    kfree_skb(skb)


def test_alloc_skb_1500_worked_example() -> None:
    stats = Counters()
    skb = alloc_skb(1500, stats=stats)
    assert SKB_HEAD_ALIGN(1500) == 1856
    assert kmalloc_size_roundup(1856) == 2048
    assert skb.end == 2048 - 320 == 1728
    assert skb.truesize == 1728 + 256 + 320 == 2304
    kfree_skb(skb)


def test_alloc_skb_negative_size_is_rejected() -> None:
    stats = Counters()
    with pytest.raises(ValueError, match="alloc_skb"):
        alloc_skb(-1, stats=stats)
    assert stats.skb_alloc == 0


# -- skb_put / skb_push / skb_pull / skb_reserve ---------------------------------------------------


def test_reserve_put_push_pull_move_the_pointers() -> None:
    stats = Counters()
    skb = alloc_skb(200, stats=stats)
    end = skb.end
    skb_reserve(skb, 64)
    assert (skb.data, skb.tail, skb.len) == (64, 64, 0)
    assert (skb.headroom, skb.tailroom) == (64, end - 64)

    old_tail = skb_put(skb, 100)
    assert old_tail == 64
    skb.head[old_tail : old_tail + 100] = bytes(range(100))
    assert (skb.data, skb.tail, skb.len, skb.headlen) == (64, 164, 100, 100)
    assert skb.tailroom == end - 164

    new_data = skb_push(skb, 20)
    assert new_data == skb.data == 44
    skb.head[44:64] = b"H" * 20
    assert (skb.len, skb.headlen, skb.headroom) == (120, 120, 44)
    assert bytes(skb.linear()) == b"H" * 20 + bytes(range(100))
    assert skb_to_bytes(skb) == b"H" * 20 + bytes(range(100))

    assert skb_pull(skb, 30) == skb.data == 74
    assert (skb.len, skb.headlen, skb.tail) == (90, 90, 164)
    assert skb_to_bytes(skb) == bytes(range(10, 100))
    kfree_skb(skb)


def test_skb_put_to_exactly_end_is_allowed() -> None:
    stats = Counters()
    skb = alloc_skb(0, stats=stats)
    skb_put(skb, 384)
    assert (skb.tail, skb.len, skb.tailroom) == (384, 384, 0)
    kfree_skb(skb)


def test_skb_over_panic_leaves_the_skb_unchanged() -> None:
    stats = Counters()
    skb = alloc_skb(0, stats=stats)
    skb_reserve(skb, 32)
    skb_put(skb, 300)
    with pytest.raises(BadSkbError, match="skb_over_panic"):
        skb_put(skb, 384 - 332 + 1)
    assert (skb.data, skb.tail, skb.len) == (32, 332, 300)
    kfree_skb(skb)


def test_skb_under_panic_leaves_the_skb_unchanged() -> None:
    stats = Counters()
    skb = alloc_skb(100, stats=stats)
    skb_reserve(skb, 16)
    skb_put(skb, 10)
    assert skb_push(skb, 16) == 0  # all the headroom is fine
    with pytest.raises(BadSkbError, match="skb_under_panic"):
        skb_push(skb, 1)
    assert (skb.data, skb.tail, skb.len) == (0, 26, 26)
    kfree_skb(skb)


def test_skb_put_on_a_nonlinear_skb_panics(page_allocator: PageAllocator) -> None:
    """SKB_LINEAR_ASSERT: no skb_put once the skb has paged data."""
    skb = alloc_skb(100, stats=page_allocator.stats)
    page = page_allocator.alloc_pages(GFP_KERNEL, 0)
    assert page is not None
    skb_fill_page_desc(skb, 0, page, 0, 10)  # the allocation's reference moves to the slot
    skb_len_add(skb, 10)
    with pytest.raises(BadSkbError, match="nonlinear"):
        skb_put(skb, 1)
    assert (skb.tail, skb.len, skb.data_len) == (0, 10, 10)
    kfree_skb(skb)
    assert page.freed


def test_skb_pull_longer_than_len_returns_none() -> None:
    stats = Counters()
    skb = alloc_skb(100, stats=stats)
    skb_put(skb, 10)
    assert skb_pull(skb, 11) is None
    assert (skb.data, skb.len) == (0, 10)
    assert skb_pull(skb, 10) == 10
    assert (skb.len, skb.headlen, skb.data, skb.tail) == (0, 0, 10, 10)
    kfree_skb(skb)


def test_skb_pull_past_headlen_needs_pskb_pull(page_allocator: PageAllocator) -> None:
    skb = alloc_skb(100, stats=page_allocator.stats)
    skb_put(skb, 8)
    page = page_allocator.alloc_pages(GFP_KERNEL, 0)
    assert page is not None
    skb_fill_page_desc(skb, 0, page, 0, 100)
    skb_len_add(skb, 100)
    with pytest.raises(BadSkbError, match="pskb_pull"):
        skb_pull(skb, 9)
    assert (skb.data, skb.len, skb.data_len) == (0, 108, 100)
    assert skb_pull(skb, 8) == 8  # exactly the linear part is fine
    assert (skb.len, skb.headlen, skb.data_len) == (100, 0, 100)
    kfree_skb(skb)


def test_skb_reserve_only_on_an_empty_skb() -> None:
    stats = Counters()
    skb = alloc_skb(0, stats=stats)
    with pytest.raises(BadSkbError, match="beyond end"):
        skb_reserve(skb, 385)
    assert (skb.data, skb.tail) == (0, 0)
    skb_reserve(skb, 384)  # every byte as headroom
    assert (skb.data, skb.tail, skb.tailroom) == (384, 384, 0)
    kfree_skb(skb)

    skb = alloc_skb(0, stats=stats)
    skb_put(skb, 1)
    with pytest.raises(BadSkbError, match="non-empty"):
        skb_reserve(skb, 1)
    kfree_skb(skb)


def test_headlen_and_tailroom_of_a_nonlinear_skb(page_allocator: PageAllocator) -> None:
    """``skb_tailroom()`` is 0 once the skb has paged data, whatever room the head has."""
    skb = alloc_skb(1500, stats=page_allocator.stats)
    skb_reserve(skb, 128)
    skb_put(skb, 72)
    assert skb.tailroom == 1728 - 200
    page = page_allocator.alloc_pages(GFP_KERNEL, 3)
    assert page is not None
    get_page(page)  # the allocation's reference for slot 0, this one for slot 1
    skb_fill_page_desc(skb, 0, page, 0, 1000)
    skb_fill_page_desc(skb, 1, page, 5000, 3000)
    skb_len_add(skb, 4000)
    assert page.refcount == 2
    assert (skb.len, skb.data_len, skb.headlen) == (4072, 4000, 72)
    assert skb.tailroom == 0
    assert skb.headroom == 128
    kfree_skb(skb)
    assert page.freed
