"""Frag descriptors and the TX copy: ``skb_can_coalesce``, ``skb_fill_page_desc``,
``skb_add_frag_nocache`` and friends (include/linux/skbuff.h, include/net/sock.h,
net/core/skbuff.c; spec/mm-skb.md §4.5-§4.9)."""

from __future__ import annotations

import errno

import pytest

from netsim.mm import GFP_ATOMIC, GFP_KERNEL, Gfp, Page, PageAllocator, get_page, put_page
from netsim.skb import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    MAX_SKB_FRAGS,
    SKB_TRUESIZE,
    SKBFL_ZEROCOPY_ENABLE,
    BadSkbError,
    SkBuff,
    __skb_fill_page_desc,
    alloc_skb,
    kfree_skb,
    skb_add_frag_nocache,
    skb_add_rx_frag,
    skb_append_pagefrags,
    skb_can_coalesce,
    skb_check,
    skb_coalesce_rx_frag,
    skb_fill_page_desc,
    skb_frag_off_add,
    skb_frag_ref,
    skb_frag_size_add,
    skb_frag_size_sub,
    skb_frag_unref,
    skb_len_add,
    skb_pagelen,
    skb_put,
    skb_to_bytes,
    skb_zcopy,
)
from netsim.wire import csum_partial


class Owner:
    """The two ``struct sock`` fields ``skb_add_frag_nocache`` charges."""

    def __init__(self, forward_alloc: int = 65536) -> None:
        self.sk_wmem_queued = 0
        self.sk_forward_alloc = forward_alloc


def _page(pa: PageAllocator, order: int = 0) -> Page:
    page = pa.alloc_pages(GFP_KERNEL, order)
    assert page is not None
    return page


def _skb(pa: PageAllocator) -> SkBuff:
    return alloc_skb(0, stats=pa.stats)


# -- skb_can_coalesce ----------------------------------------------------------------------------


def test_coalesce_needs_the_same_page_and_a_contiguous_offset(
    page_allocator: PageAllocator,
) -> None:
    skb = _skb(page_allocator)
    page = _page(page_allocator, 3)
    other = _page(page_allocator, 3)
    skb_fill_page_desc(skb, 0, page, 100, 50)
    assert skb_can_coalesce(skb, 1, page, 150)
    assert not skb_can_coalesce(skb, 1, page, 149)
    assert not skb_can_coalesce(skb, 1, page, 151)
    assert not skb_can_coalesce(skb, 1, page, 100)
    assert not skb_can_coalesce(skb, 1, other, 150)
    kfree_skb(skb)
    put_page(other)


def test_coalesce_is_never_possible_at_slot_zero(page_allocator: PageAllocator) -> None:
    skb = _skb(page_allocator)
    page = _page(page_allocator)
    assert not skb_can_coalesce(skb, 0, page, 0)
    skb_fill_page_desc(skb, 0, page, 0, 10)
    assert not skb_can_coalesce(skb, 0, page, 10)  # i == 0 even though frags[0] ends there
    assert skb_can_coalesce(skb, 1, page, 10)
    kfree_skb(skb)


def test_coalesce_looks_at_slot_i_minus_one(page_allocator: PageAllocator) -> None:
    skb = _skb(page_allocator)
    a = _page(page_allocator)
    b = _page(page_allocator)
    skb_fill_page_desc(skb, 0, a, 0, 10)
    skb_fill_page_desc(skb, 1, b, 0, 20)
    assert skb_can_coalesce(skb, 1, a, 10)
    assert not skb_can_coalesce(skb, 1, b, 20)
    assert skb_can_coalesce(skb, 2, b, 20)
    assert not skb_can_coalesce(skb, 2, a, 10)
    kfree_skb(skb)


def test_zerocopy_skb_never_coalesces(page_allocator: PageAllocator) -> None:
    skb = _skb(page_allocator)
    page = _page(page_allocator)
    skb_fill_page_desc(skb, 0, page, 0, 10)
    skb.shinfo.flags |= SKBFL_ZEROCOPY_ENABLE
    assert skb_zcopy(skb)
    assert not skb_can_coalesce(skb, 1, page, 10)
    skb.shinfo.flags &= ~SKBFL_ZEROCOPY_ENABLE
    assert not skb_zcopy(skb)
    assert skb_can_coalesce(skb, 1, page, 10)
    kfree_skb(skb)


def test_another_subpage_of_the_same_compound_page_does_not_coalesce(
    page_allocator: PageAllocator,
) -> None:
    """The kernel compares ``struct page`` pointers: byte-contiguous is not enough."""
    skb = _skb(page_allocator)
    page = _page(page_allocator, 3)
    skb_fill_page_desc(skb, 0, page, 4000, 96)  # ends exactly at the first 4 KiB boundary
    sub1 = page.subpage(1)
    assert sub1.virt == page.virt + 4096  # byte-contiguous with the frag's end...
    assert not skb_can_coalesce(skb, 1, sub1, 0)  # ...but another struct page
    assert skb_can_coalesce(skb, 1, page, 4096)  # the head page at 4096 does
    kfree_skb(skb)


def test_the_same_subpage_object_coalesces(page_allocator: PageAllocator) -> None:
    skb = _skb(page_allocator)
    page = _page(page_allocator, 3)
    sub1 = page.subpage(1)
    assert page.subpage(1) is sub1  # tail pages are cached: identity is stable
    get_page(sub1)  # a reference on the compound head
    assert page.refcount == 2
    skb_fill_page_desc(skb, 0, sub1, 0, 10)
    assert skb_can_coalesce(skb, 1, page.subpage(1), 10)
    assert not skb_can_coalesce(skb, 1, page, 4096 + 10)  # head page: a different pointer
    assert not skb_can_coalesce(skb, 1, page.subpage(2), 10)
    put_page(page)
    kfree_skb(skb)
    assert page.freed


# -- descriptor fill helpers ---------------------------------------------------------------------


def test_fill_page_desc_takes_no_reference(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb = _skb(page_allocator)
    page = _page(page_allocator, 3)
    get_page(page)
    gets = stats.page_get
    skb_fill_page_desc(skb, 0, page, 0, 100)
    skb_fill_page_desc(skb, 1, page, 200, 300)
    assert stats.page_get == gets
    assert page.refcount == 2
    assert skb.nr_frags == 2
    assert [(f.page, f.offset, f.len) for f in skb.frags] == [(page, 0, 100), (page, 200, 300)]
    # lengths are the caller's business
    assert (skb.len, skb.data_len, skb.truesize) == (0, 0, SKB_TRUESIZE(384))
    skb_len_add(skb, 400)
    skb_check(skb)
    kfree_skb(skb)
    assert page.freed


def test_fill_page_desc_sets_nr_frags_to_i_plus_one(page_allocator: PageAllocator) -> None:
    skb = _skb(page_allocator)
    pages = [_page(page_allocator) for _ in range(3)]
    for i, p in enumerate(pages):
        skb_fill_page_desc(skb, i, p, 0, 10)
    assert skb.nr_frags == 3
    replacement = _page(page_allocator)
    # rewriting slot 1 with skb_fill_page_desc makes nr_frags = 2 (slot 2 is forgotten)
    skb_fill_page_desc(skb, 1, replacement, 8, 4)
    assert skb.nr_frags == 2
    assert (skb.frags[1].page, skb.frags[1].offset, skb.frags[1].len) == (replacement, 8, 4)
    # the forgotten slots still own their references: drop them by hand
    put_page(pages[1])
    put_page(pages[2])
    kfree_skb(skb)
    assert all(p.freed for p in pages)
    assert replacement.freed


def test___skb_fill_page_desc_appends_or_replaces(page_allocator: PageAllocator) -> None:
    skb = _skb(page_allocator)
    a = _page(page_allocator)
    b = _page(page_allocator)
    c = _page(page_allocator)
    __skb_fill_page_desc(skb, 0, a, 0, 10)
    __skb_fill_page_desc(skb, 1, b, 0, 10)
    assert skb.nr_frags == 2
    __skb_fill_page_desc(skb, 0, c, 5, 6)  # replace: nr_frags unchanged
    assert skb.nr_frags == 2
    assert [(f.page, f.offset, f.len) for f in skb.frags] == [(c, 5, 6), (b, 0, 10)]
    with pytest.raises(BadSkbError, match="frag slot 3"):
        __skb_fill_page_desc(skb, 3, a, 0, 1)
    assert skb.nr_frags == 2
    put_page(a)
    kfree_skb(skb)


def test_pfmemalloc_page_marks_the_skb(page_leak_check: list[PageAllocator]) -> None:
    # Memory below the min watermark: only a __GFP_MEMALLOC allocation gets it, marked.
    pa = PageAllocator(limit=4 * 4096, reserve=16 * 4096)
    reserve_page = pa.alloc_pages(GFP_ATOMIC | Gfp.MEMALLOC, 0)
    assert reserve_page is not None
    assert reserve_page.pfmemalloc
    normal = PageAllocator().alloc_pages(GFP_KERNEL, 0)
    assert normal is not None
    assert not normal.pfmemalloc

    skb = alloc_skb(0, stats=pa.stats)
    skb_fill_page_desc(skb, 0, normal, 0, 10)
    after_normal = skb.pfmemalloc
    skb_fill_page_desc(skb, 1, reserve_page, 0, 10)
    assert (after_normal, skb.pfmemalloc) == (False, True)
    kfree_skb(skb)

    skb = alloc_skb(0, stats=pa.stats)
    page = pa.alloc_pages(GFP_ATOMIC | Gfp.MEMALLOC, 0)
    assert page is not None
    assert page.pfmemalloc
    __skb_fill_page_desc(skb, 0, page, 0, 1)  # the double-underscore variant marks too
    assert skb.pfmemalloc
    kfree_skb(skb)


def test_frag_size_and_offset_helpers(page_allocator: PageAllocator) -> None:
    skb = _skb(page_allocator)
    page = _page(page_allocator)
    skb_fill_page_desc(skb, 0, page, 100, 50)
    frag = skb.frags[0]
    skb_frag_size_add(frag, 25)
    assert (frag.offset, frag.len, frag.end) == (100, 75, 175)
    skb_frag_size_sub(frag, 5)
    assert (frag.offset, frag.len, frag.end) == (100, 70, 170)
    skb_frag_off_add(frag, 10)
    assert (frag.offset, frag.len, frag.end) == (110, 70, 180)
    assert (skb.len, skb.data_len) == (0, 0)  # descriptors only
    kfree_skb(skb)


def test_skb_len_add_grows_len_data_len_and_truesize() -> None:
    from netsim.stats import Counters

    skb = alloc_skb(0, stats=Counters())
    skb_put(skb, 10)
    skb_len_add(skb, 1234)
    assert (skb.len, skb.data_len, skb.headlen, skb.truesize) == (1244, 1234, 10, 960 + 1234)
    skb_len_add(skb, -234)
    assert (skb.len, skb.data_len, skb.truesize) == (1010, 1000, 960 + 1000)
    skb_len_add(skb, -1000)
    kfree_skb(skb)


def test_skb_pagelen_counts_head_and_frags(page_allocator: PageAllocator) -> None:
    skb = _skb(page_allocator)
    skb_put(skb, 7)
    page = _page(page_allocator)
    skb_fill_page_desc(skb, 0, page, 0, 30)
    skb_len_add(skb, 30)
    assert skb_pagelen(skb) == 37
    kfree_skb(skb)


def test_frag_ref_and_unref_count_one_atomic_each(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb = _skb(page_allocator)
    page = _page(page_allocator, 3)
    skb_fill_page_desc(skb, 0, page.subpage(2), 100, 10)
    gets, puts = stats.page_get, stats.page_put
    skb_frag_ref(skb, 0)
    assert page.refcount == 2
    assert stats.page_get == gets + 1
    skb_frag_unref(skb, 0)
    assert page.refcount == 1
    assert stats.page_put == puts + 1
    kfree_skb(skb)
    assert page.freed


# -- skb_add_frag_nocache ------------------------------------------------------------------------


def test_add_frag_nocache_copies_and_accounts_exactly(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb = _skb(page_allocator)
    skb.ip_summed = CHECKSUM_PARTIAL
    owner = Owner(forward_alloc=8192)
    page = _page(page_allocator, 3)
    before = bytes(page.view[:6000])
    src = bytes((7 * i + 3) & 0xFF for i in range(5000))
    truesize = skb.truesize

    skb_add_frag_nocache(owner, memoryview(src), skb, page, 1000, 3000)

    assert bytes(page.view[1000:4000]) == src[:3000]
    assert bytes(page.view[:1000]) == before[:1000]  # nothing written outside the copy
    assert bytes(page.view[4000:6000]) == before[4000:6000]
    assert (skb.len, skb.data_len, skb.truesize) == (3000, 3000, truesize + 3000)
    assert (owner.sk_wmem_queued, owner.sk_forward_alloc) == (3000, 8192 - 3000)
    assert skb.nr_frags == 0  # the caller fills or grows the frag
    assert skb.csum == 0  # CHECKSUM_PARTIAL: no software sum
    assert stats.skb_copy_bytes == 3000
    assert page.refcount == 1  # no reference taken either

    # the caller's part: a new slot owning the allocation's reference
    skb_fill_page_desc(skb, 0, page, 1000, 3000)
    skb_add_frag_nocache(owner, memoryview(src)[3000:], skb, page, 4000, 2000)
    assert skb_can_coalesce(skb, 1, page, 4000)
    skb_frag_size_add(skb.frags[0], 2000)
    assert (skb.len, skb.data_len, skb.truesize) == (5000, 5000, truesize + 5000)
    assert (owner.sk_wmem_queued, owner.sk_forward_alloc) == (5000, 8192 - 5000)
    assert skb_to_bytes(skb) == src
    skb_check(skb)
    kfree_skb(skb)
    assert page.freed


@pytest.mark.parametrize(
    "sizes",
    [
        [1, 1, 1, 1, 1],
        [1, 3, 2, 7, 5, 1000, 1],
        [3, 3, 3, 2, 1, 999],
        [4095, 1, 2, 4097],
        [2, 4, 6],
    ],
)
def test_add_frag_nocache_checksum_none_sums_the_whole_payload(
    page_allocator: PageAllocator, sizes: list[int]
) -> None:
    """``csum_block_add`` at ``skb->len``: copies starting at odd offsets still sum right."""
    skb = _skb(page_allocator)
    assert skb.ip_summed == CHECKSUM_NONE
    owner = Owner()
    page = _page(page_allocator, 3)
    payload = bytes((i * 131 + 17) & 0xFF for i in range(sum(sizes)))
    off = 0
    for n in sizes:
        skb_add_frag_nocache(owner, memoryview(payload)[off:], skb, page, 11 + off, n)
        off += n
        assert skb.csum == csum_partial(payload[:off])
    skb_fill_page_desc(skb, 0, page, 11, off)
    assert skb_to_bytes(skb) == payload
    assert skb.csum == csum_partial(skb_to_bytes(skb))
    kfree_skb(skb)


def test_add_frag_nocache_checksum_all_ones_and_zeroes(page_allocator: PageAllocator) -> None:
    """Edge sums: 0xFFFF words and zero bytes keep the folded representation consistent."""
    skb = _skb(page_allocator)
    owner = Owner()
    page = _page(page_allocator)
    chunks = [b"\xff", b"\xff\xff\xff", b"\x00" * 5, b"\xff", b"\x00\x01"]
    off = 0
    for chunk in chunks:
        skb_add_frag_nocache(owner, memoryview(chunk), skb, page, off, len(chunk))
        off += len(chunk)
    assert skb.csum == csum_partial(b"".join(chunks))
    put_page(page)
    kfree_skb(skb)


def test_add_frag_nocache_short_source_is_efault(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb = _skb(page_allocator)
    owner = Owner(forward_alloc=100)
    page = _page(page_allocator)
    skb_add_frag_nocache(owner, memoryview(b"abc"), skb, page, 0, 3)
    state = (skb.len, skb.data_len, skb.truesize, skb.csum, skb.nr_frags)
    with pytest.raises(OSError, match="Bad address") as exc:
        skb_add_frag_nocache(owner, memoryview(b"defg"), skb, page, 3, 5)
    assert exc.value.errno == errno.EFAULT
    assert (skb.len, skb.data_len, skb.truesize, skb.csum, skb.nr_frags) == state
    assert (owner.sk_wmem_queued, owner.sk_forward_alloc) == (3, 97)
    assert stats.skb_copy_bytes == 3
    put_page(page)
    kfree_skb(skb)


# -- skb_append_pagefrags / RX adders ------------------------------------------------------------


def test_append_pagefrags_coalesces_or_takes_a_reference(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb = _skb(page_allocator)
    page = _page(page_allocator)
    gets = stats.page_get
    skb_append_pagefrags(skb, page, 0, 100)
    assert stats.page_get == gets + 1
    assert page.refcount == 2
    skb_append_pagefrags(skb, page, 100, 50)  # contiguous: grows frags[0], no reference
    assert stats.page_get == gets + 1
    assert page.refcount == 2
    assert [(f.offset, f.len) for f in skb.frags] == [(0, 150)]
    skb_append_pagefrags(skb, page, 200, 10)  # a gap: new slot, new reference
    assert page.refcount == 3
    assert skb.nr_frags == 2
    assert (skb.len, skb.data_len) == (0, 0)  # lengths are the caller's
    skb_len_add(skb, 160)
    skb_check(skb)
    put_page(page)
    kfree_skb(skb)
    assert page.freed


def test_append_pagefrags_emsgsize_at_max_frags(page_allocator: PageAllocator) -> None:
    skb = _skb(page_allocator)
    page = _page(page_allocator)
    for i in range(3):
        skb_append_pagefrags(skb, page, 10 * i, 5, max_frags=3)
    refs = page.refcount
    with pytest.raises(OSError, match="Message too long") as exc:
        skb_append_pagefrags(skb, page, 100, 5, max_frags=3)
    assert exc.value.errno == errno.EMSGSIZE
    assert page.refcount == refs
    assert skb.nr_frags == 3
    skb_append_pagefrags(skb, page, 25, 5, max_frags=3)  # coalescing still works when full
    assert skb.frags[2].len == 10
    assert page.refcount == refs
    assert MAX_SKB_FRAGS == 17
    put_page(page)
    kfree_skb(skb)
    assert page.freed


def test_rx_frag_adders(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb = _skb(page_allocator)
    page = _page(page_allocator)
    truesize = skb.truesize
    gets = stats.page_get
    skb_add_rx_frag(skb, 0, page, 64, 1000, 2048)  # the caller's reference moves to the skb
    assert stats.page_get == gets
    assert page.refcount == 1
    assert (skb.len, skb.data_len, skb.truesize) == (1000, 1000, truesize + 2048)
    skb_coalesce_rx_frag(skb, 0, 500, 512)
    assert (skb.frags[0].offset, skb.frags[0].len) == (64, 1500)
    assert (skb.len, skb.data_len, skb.truesize) == (1500, 1500, truesize + 2560)
    assert page.refcount == 1
    skb_check(skb)
    kfree_skb(skb)
    assert page.freed


def test_append_pagefrags_does_not_propagate_pfmemalloc(
    page_leak_check: list[PageAllocator],
) -> None:
    """``skb_fill_page_desc_noacc``: the appended page belongs to someone else."""
    pa = PageAllocator(limit=4 * 4096, reserve=16 * 4096)
    page = pa.alloc_pages(GFP_ATOMIC | Gfp.MEMALLOC, 0)
    assert page is not None
    assert page.pfmemalloc
    skb = alloc_skb(0, stats=pa.stats)
    skb_append_pagefrags(skb, page, 0, 100)
    assert skb.nr_frags == 1
    assert page.refcount == 2
    assert not skb.pfmemalloc
    put_page(page)
    kfree_skb(skb)
    assert page.freed
