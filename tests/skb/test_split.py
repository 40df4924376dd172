"""``skb_split`` (net/core/skbuff.c ``skb_split_inside_header`` / ``skb_split_no_header``;
spec/mm-skb.md §4.14): what TCP's ``tcp_fragment`` / ``tso_fragment`` use."""

from __future__ import annotations

from collections import Counter

import pytest

from netsim.mm import GFP_KERNEL, Page, PageAllocator, get_page
from netsim.skb import (
    SKBFL_PURE_ZEROCOPY,
    SKBFL_SHARED_FRAG,
    SKBFL_ZEROCOPY_ENABLE,
    BadSkbError,
    SkBuff,
    alloc_skb,
    kfree_skb,
    skb_check,
    skb_clone,
    skb_fill_page_desc,
    skb_len_add,
    skb_put,
    skb_reserve,
    skb_split,
    skb_to_bytes,
)

HEADLEN = 100


def _build(pa: PageAllocator) -> tuple[SkBuff, Page, Page, bytes]:
    """100 linear bytes, then A = 400 bytes at P1+0, B = 600 at P1+1000, C = 500 at P2+0."""
    skb = alloc_skb(32 + HEADLEN, stats=pa.stats)
    skb_reserve(skb, 32)
    linear = bytes(range(HEADLEN))
    off = skb_put(skb, HEADLEN)
    skb.head[off : off + HEADLEN] = linear
    p1 = pa.alloc_pages(GFP_KERNEL, 3)
    p2 = pa.alloc_pages(GFP_KERNEL, 0)
    assert p1 is not None
    assert p2 is not None
    a = bytes((i * 3 + 1) & 0xFF for i in range(400))
    b = bytes((i * 5 + 2) & 0xFF for i in range(600))
    c = bytes((i * 7 + 3) & 0xFF for i in range(500))
    p1.view[0:400] = a
    p1.view[1000:1600] = b
    p2.view[0:500] = c
    skb_fill_page_desc(skb, 0, p1, 0, 400)
    get_page(p1)
    skb_fill_page_desc(skb, 1, p1, 1000, 600)
    skb_fill_page_desc(skb, 2, p2, 0, 500)
    skb_len_add(skb, 1500)
    return skb, p1, p2, linear + a + b + c


def _layout(skb: SkBuff) -> list[tuple[Page, int, int]]:
    return [(f.page, f.offset, f.len) for f in skb.frags]


def _assert_refcounts_match_slots(pages: list[Page], *skbs: SkBuff) -> None:
    slots = Counter(f.page.head for s in skbs for f in s.frags)
    for page in pages:
        assert page.refcount == slots[page], (page, slots[page])


def test_split_inside_the_header_moves_every_frag(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb, p1, p2, data = _build(page_allocator)
    frags = _layout(skb)
    truesize = skb.truesize
    skb1 = alloc_skb(HEADLEN - 40, stats=stats)
    skb1_truesize = skb1.truesize
    gets, puts = stats.page_get, stats.page_put

    skb_split(skb, skb1, 40)

    assert (skb.len, skb.data_len, skb.headlen, skb.nr_frags) == (40, 0, 40, 0)
    assert skb.tail == skb.data + 40
    assert (skb1.len, skb1.data_len, skb1.headlen) == (60 + 1500, 1500, 60)
    assert _layout(skb1) == frags  # moved as they are
    assert (stats.page_get, stats.page_put) == (gets, puts)
    assert (p1.refcount, p2.refcount) == (2, 1)
    assert (skb.truesize, skb1.truesize) == (truesize, skb1_truesize)  # the caller's job
    assert skb_to_bytes(skb) == data[:40]
    assert skb_to_bytes(skb1) == data[40:]
    skb_check(skb)
    skb_check(skb1)
    kfree_skb(skb)
    assert (p1.refcount, p2.refcount) == (2, 1)  # every slot moved to skb1
    kfree_skb(skb1)
    assert p1.freed
    assert p2.freed


def test_split_at_headlen_moves_every_frag(page_allocator: PageAllocator) -> None:
    skb, p1, p2, data = _build(page_allocator)
    frags = _layout(skb)
    skb1 = alloc_skb(0, stats=page_allocator.stats)
    skb_split(skb, skb1, HEADLEN)
    assert (skb.len, skb.data_len, skb.nr_frags) == (HEADLEN, 0, 0)
    assert (skb1.len, skb1.data_len, skb1.headlen) == (1500, 1500, 0)
    assert _layout(skb1) == frags
    assert (p1.refcount, p2.refcount) == (2, 1)
    assert skb_to_bytes(skb) + skb_to_bytes(skb1) == data
    kfree_skb(skb)
    kfree_skb(skb1)
    assert p1.freed
    assert p2.freed


def test_split_straddling_a_frag_shares_it_with_one_more_reference(
    page_allocator: PageAllocator,
) -> None:
    stats = page_allocator.stats
    skb, p1, p2, data = _build(page_allocator)
    skb1 = alloc_skb(0, stats=stats)
    gets = stats.page_get
    cut = HEADLEN + 400 + 250  # 250 bytes into B

    skb_split(skb, skb1, cut)

    assert stats.page_get == gets + 1  # skb_frag_ref on the straddling frag
    assert (p1.refcount, p2.refcount) == (3, 1)
    # skb keeps A and B's first 250 bytes; skb1 gets B from +250 (off += 250, len -= 250), C
    assert _layout(skb) == [(p1, 0, 400), (p1, 1000, 250)]
    assert _layout(skb1) == [(p1, 1250, 350), (p2, 0, 500)]
    assert (skb.len, skb.data_len, skb.headlen) == (cut, cut - HEADLEN, HEADLEN)
    assert (skb1.len, skb1.data_len, skb1.headlen) == (1600 - cut, 1600 - cut, 0)
    assert skb_to_bytes(skb) == data[:cut]
    assert skb_to_bytes(skb1) == data[cut:]
    skb_check(skb)
    skb_check(skb1)
    kfree_skb(skb1)
    assert p2.freed
    assert p1.refcount == 2
    kfree_skb(skb)
    assert p1.freed


def test_split_on_a_frag_boundary_takes_no_reference(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb, p1, p2, data = _build(page_allocator)
    skb1 = alloc_skb(0, stats=stats)
    gets = stats.page_get
    skb_split(skb, skb1, HEADLEN + 400)
    assert stats.page_get == gets
    assert _layout(skb) == [(p1, 0, 400)]
    assert _layout(skb1) == [(p1, 1000, 600), (p2, 0, 500)]
    assert (p1.refcount, p2.refcount) == (2, 1)
    assert skb_to_bytes(skb) + skb_to_bytes(skb1) == data
    kfree_skb(skb)
    kfree_skb(skb1)
    assert p1.freed
    assert p2.freed


def test_split_at_the_end_moves_nothing(page_allocator: PageAllocator) -> None:
    skb, p1, p2, data = _build(page_allocator)
    frags = _layout(skb)
    skb1 = alloc_skb(0, stats=page_allocator.stats)
    skb_split(skb, skb1, 1600)
    assert _layout(skb) == frags
    assert skb.len == 1600
    assert (skb1.len, skb1.data_len, skb1.nr_frags) == (0, 0, 0)
    assert skb_to_bytes(skb) == data
    kfree_skb(skb)
    kfree_skb(skb1)
    assert p1.freed
    assert p2.freed


def test_every_split_point_keeps_bytes_and_references(page_allocator: PageAllocator) -> None:
    for cut in range(0, 1601, 7):
        skb, p1, p2, data = _build(page_allocator)
        skb1 = alloc_skb(max(HEADLEN - cut, 0), stats=page_allocator.stats)
        skb_split(skb, skb1, cut)
        assert skb.len == cut
        assert skb1.len == 1600 - cut
        assert skb_to_bytes(skb) == data[:cut]
        assert skb_to_bytes(skb1) == data[cut:]
        for part in (skb, skb1):
            skb_check(part)
            assert part.len == part.headlen + sum(f.len for f in part.frags)
        _assert_refcounts_match_slots([p1, p2], skb, skb1)
        kfree_skb(skb)
        kfree_skb(skb1)
        assert p1.freed
        assert p2.freed
    assert page_allocator.pages_in_use() == 0


def test_split_copies_the_shared_frag_flags(page_allocator: PageAllocator) -> None:
    skb, _, _, _ = _build(page_allocator)
    skb.shinfo.flags |= SKBFL_SHARED_FRAG | SKBFL_PURE_ZEROCOPY
    skb1 = alloc_skb(0, stats=page_allocator.stats)
    skb1.shinfo.flags |= SKBFL_ZEROCOPY_ENABLE  # already there: kept
    skb_split(skb, skb1, 700)
    assert skb1.shinfo.flags == SKBFL_SHARED_FRAG | SKBFL_PURE_ZEROCOPY | SKBFL_ZEROCOPY_ENABLE
    skb1.shinfo.flags = 0
    kfree_skb(skb)
    kfree_skb(skb1)


def test_split_of_a_cloned_skb_raises(page_allocator: PageAllocator) -> None:
    skb, p1, _, data = _build(page_allocator)
    clone = skb_clone(skb)
    skb1 = alloc_skb(0, stats=page_allocator.stats)
    with pytest.raises(BadSkbError, match="cloned"):
        skb_split(skb, skb1, 700)
    assert skb_to_bytes(skb) == data
    assert skb1.len == 0
    assert p1.refcount == 2
    kfree_skb(clone)
    # no longer shared: the split is allowed now
    skb_split(skb, skb1, 700)
    assert skb_to_bytes(skb) + skb_to_bytes(skb1) == data
    kfree_skb(skb)
    kfree_skb(skb1)


@pytest.mark.parametrize("cut", [-1, 1601])
def test_split_outside_the_skb_raises(page_allocator: PageAllocator, cut: int) -> None:
    skb, _, _, data = _build(page_allocator)
    skb1 = alloc_skb(200, stats=page_allocator.stats)
    with pytest.raises(BadSkbError, match="skb_split"):
        skb_split(skb, skb1, cut)
    assert skb_to_bytes(skb) == data
    assert skb1.len == 0
    kfree_skb(skb)
    kfree_skb(skb1)
