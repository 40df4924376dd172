"""``skb_shift`` (net/core/skbuff.c): what 6.18's ``tcp_grow_skb`` uses to pull bytes from the
next write-queue skb into a short head.  Frags move with their references, a frag split
between the two skbs takes one more reference, a frag merged into the target's last frag
drops its own, and a refusal changes nothing.  Page references are counted on the page and in
the counters, before and after."""

from __future__ import annotations

import pytest

from netsim.mm import GFP_KERNEL, Page, PageAllocator, put_page
from netsim.skb import (
    CHECKSUM_PARTIAL,
    BadSkbError,
    SkBuff,
    alloc_skb,
    kfree_skb,
    skb_check,
    skb_fill_page_desc,
    skb_len_add,
    skb_put,
    skb_shift,
    skb_to_bytes,
)


def _paged(pa: PageAllocator, *frags: tuple[Page, int, int]) -> SkBuff:
    """An skb with no linear data and ``frags`` (each slot takes a page reference)."""
    skb = alloc_skb(64, stats=pa.stats)
    for i, (page, off, size) in enumerate(frags):
        page.view[off : off + size] = bytes((off + k) & 0xFF for k in range(size))
        page.head._refcount += 1  # the slot's reference, as a frag allocator's commit gives
        skb_fill_page_desc(skb, i, page, off, size)
        skb_len_add(skb, size)
    return skb


def _page(pa: PageAllocator) -> Page:
    page = pa.alloc_pages(GFP_KERNEL, 3)
    assert page is not None
    return page


def _layout(skb: SkBuff) -> list[tuple[int, int, int]]:
    return [(f.page.pfn, f.offset, f.len) for f in skb.frags]


def _free(pa: PageAllocator, *skbs: SkBuff, pages: tuple[Page, ...] = ()) -> None:
    for skb in skbs:
        kfree_skb(skb)
    for page in pages:
        put_page(page)
    pa.assert_no_leaks()


def test_whole_frags_move_with_their_references() -> None:
    pa = PageAllocator()
    p, q = _page(pa), _page(pa)
    tgt = _paged(pa, (p, 0, 100))
    src = _paged(pa, (q, 0, 300), (q, 500, 200))
    data = skb_to_bytes(tgt) + skb_to_bytes(src)
    truesize = tgt.truesize + src.truesize
    gets, puts = pa.stats.page_get, pa.stats.page_put
    assert skb_shift(tgt, src, 500) == 500
    assert _layout(tgt) == [(p.pfn, 0, 100), (q.pfn, 0, 300), (q.pfn, 500, 200)]
    assert src.frags == []
    assert (src.len, src.data_len) == (0, 0)
    assert q.refcount == 3  # the allocator's and the two slots': moved, not taken again
    assert (pa.stats.page_get, pa.stats.page_put) == (gets, puts)
    assert (tgt.len, tgt.data_len) == (600, 600)
    assert tgt.truesize + src.truesize == truesize  # truesize moves with the bytes
    assert tgt.ip_summed == src.ip_summed == CHECKSUM_PARTIAL
    assert skb_to_bytes(tgt) == data
    skb_check(tgt)
    skb_check(src)
    _free(pa, tgt, src, pages=(p, q))


def test_a_split_frag_takes_one_more_reference() -> None:
    pa = PageAllocator()
    p, q = _page(pa), _page(pa)
    tgt = _paged(pa, (p, 0, 100))
    src = _paged(pa, (q, 0, 300), (q, 500, 200))
    data = skb_to_bytes(tgt) + skb_to_bytes(src)
    gets = pa.stats.page_get
    assert skb_shift(tgt, src, 400) == 400
    assert _layout(tgt) == [(p.pfn, 0, 100), (q.pfn, 0, 300), (q.pfn, 500, 100)]
    assert _layout(src) == [(q.pfn, 600, 100)]
    assert q.refcount == 4  # the split frag is held by both skbs
    assert pa.stats.page_get == gets + 1
    assert skb_to_bytes(tgt) + skb_to_bytes(src) == data
    assert (src.len, tgt.len) == (100, 500)
    _free(pa, tgt, src, pages=(p, q))


def test_a_contiguous_frag_merges_and_drops_its_reference() -> None:
    """The source's first frag continues the target's last (``skb_can_coalesce``): its bytes
    join that frag, and the slot's own reference is dropped once it is merged whole."""
    pa = PageAllocator()
    p = _page(pa)
    tgt = _paged(pa, (p, 0, 100))
    src = _paged(pa, (p, 100, 50), (p, 1000, 70))
    data = skb_to_bytes(tgt) + skb_to_bytes(src)
    assert p.refcount == 4
    puts = pa.stats.page_put
    assert skb_shift(tgt, src, 120) == 120
    assert _layout(tgt) == [(p.pfn, 0, 150), (p.pfn, 1000, 70)]
    assert src.frags == []
    assert p.refcount == 3
    assert pa.stats.page_put == puts + 1
    assert skb_to_bytes(tgt) == data
    _free(pa, tgt, src, pages=(p,))


def test_part_of_a_contiguous_frag_only_grows_the_last_frag() -> None:
    pa = PageAllocator()
    p = _page(pa)
    tgt = _paged(pa, (p, 0, 100))
    src = _paged(pa, (p, 100, 50))
    refs = p.refcount
    assert skb_shift(tgt, src, 20) == 20
    assert _layout(tgt) == [(p.pfn, 0, 120)]
    assert _layout(src) == [(p.pfn, 120, 30)]
    assert p.refcount == refs
    _free(pa, tgt, src, pages=(p,))


def test_refusals_change_nothing() -> None:
    """Linear data in the source, or more frags than the target's ``MAX_SKB_FRAGS`` slots,
    and ``skb_shift`` says 0 and leaves both skbs (and the pages) as they were."""
    pa = PageAllocator()
    p, q = _page(pa), _page(pa)
    tgt = _paged(pa, *((p, 200 * i, 100) for i in range(16)))
    src = _paged(pa, (q, 0, 10), (q, 100, 10), (q, 200, 10))
    before = (_layout(tgt), _layout(src), p.refcount, q.refcount, tgt.len, src.len)
    assert skb_shift(tgt, src, 30) == 0  # a whole skb that cannot fit
    assert skb_shift(tgt, src, 25) == 0  # runs out of slots half way
    assert (_layout(tgt), _layout(src), p.refcount, q.refcount, tgt.len, src.len) == before
    assert skb_shift(tgt, src, 10) == 10  # one frag fits in the last slot
    assert tgt.nr_frags == 17
    linear = alloc_skb(64, stats=pa.stats)
    skb_put(linear, 10)
    skb_len_add(linear, 0)
    small = _paged(pa, (p, 3500, 10))
    assert skb_shift(small, linear, 10) == 0
    with pytest.raises(BadSkbError):
        skb_shift(small, src, src.len + 1)
    _free(pa, tgt, src, linear, small, pages=(p, q))
