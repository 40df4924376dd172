"""The worked examples of spec/mm-skb.md §2.6 (page_frag_cache) and §1.3 (page_frag)."""

from __future__ import annotations

from netsim.mm import (
    GFP_KERNEL,
    PAGE_FRAG_CACHE_MAX_SIZE,
    PAGE_OFFSET,
    PAGE_SIZE,
    PageAllocator,
    PageFrag,
    PageFragCache,
    encoded_page_decode_order,
    encoded_page_decode_pfmemalloc,
    encoded_page_decode_virt,
    put_page,
)


def test_cache_first_alloc_is_order3_with_full_bias(page_allocator: PageAllocator) -> None:
    nc = PageFragCache(page_allocator)
    got = nc.alloc(2048, GFP_KERNEL)
    assert got is not None
    page, offset = got
    assert (page.order, offset) == (3, 0)
    assert page.refcount == PAGE_FRAG_CACHE_MAX_SIZE + 1 == 32769
    assert nc.pagecnt_bias == 32768
    assert nc.offset == 2048
    enc = nc.encoded_page
    assert encoded_page_decode_order(enc) == 3
    assert not encoded_page_decode_pfmemalloc(enc)
    assert encoded_page_decode_virt(enc) == page.virt == PAGE_OFFSET + page.pfn * PAGE_SIZE
    put_page(page)
    nc.drain()


def test_cache_second_alloc_follows_the_first(page_allocator: PageAllocator) -> None:
    nc = PageFragCache(page_allocator)
    a = nc.alloc(2048, GFP_KERNEL)
    b = nc.alloc(2048, GFP_KERNEL)
    assert a is not None
    assert b is not None
    assert b == (a[0], 2048)
    assert nc.pagecnt_bias == 32767
    put_page(a[0])
    put_page(b[0])
    nc.drain()


def test_cache_recycles_when_all_16_were_freed(page_allocator: PageAllocator) -> None:
    nc = PageFragCache(page_allocator)
    frags = [nc.alloc(2048, GFP_KERNEL) for _ in range(16)]
    assert nc.offset == 32768
    page = frags[0][0] if frags[0] else None
    assert page is not None
    for f in frags:
        assert f is not None
        put_page(f[0])
    assert page.refcount == 32769 - 16 == 32753 == nc.pagecnt_bias
    seventeenth = nc.alloc(2048, GFP_KERNEL)
    assert seventeenth == (page, 0)  # same page, recycled at +0
    stats = page_allocator.stats
    assert (stats.frag_recycle, stats.frag_abandon, stats.page_alloc) == (1, 0, 1)
    assert page.refcount == 32769
    assert nc.pagecnt_bias == 32768
    put_page(page)
    nc.drain()


def test_cache_abandons_when_one_fragment_lives(page_allocator: PageAllocator) -> None:
    nc = PageFragCache(page_allocator)
    frags = [nc.alloc(2048, GFP_KERNEL) for _ in range(16)]
    old = frags[0][0] if frags[0] else None
    assert old is not None
    for f in frags[1:]:
        assert f is not None
        put_page(f[0])
    new = nc.alloc(2048, GFP_KERNEL)
    assert new is not None
    assert new[0] is not old
    assert new[1] == 0
    assert old.refcount == 1  # only the surviving fragment holds the abandoned page
    stats = page_allocator.stats
    assert (stats.frag_recycle, stats.frag_abandon, stats.page_alloc) == (0, 1, 2)
    put_page(old)
    assert old.freed
    put_page(new[0])
    nc.drain()


def test_page_frag_reuses_at_refcount_one(page_allocator: PageAllocator) -> None:
    """§1.3 step 1a: the pfrag is the only holder → restart at offset 0, whatever room is left."""
    pf = PageFrag(page_allocator)
    span = pf.prepare(32, GFP_KERNEL)
    assert span is not None
    assert span.page.order == 3
    pf.commit(span, 1000)
    assert span.page.refcount == 2
    put_page(span.page)  # the frag's holder goes away
    again = pf.prepare(32, GFP_KERNEL)
    assert again is not None
    assert (again.page, again.offset, again.size) == (span.page, 0, 32768)
    assert page_allocator.stats.frag_reuse == 1
    pf.drain()


def test_page_frag_keeps_a_shared_page_while_room_remains(page_allocator: PageAllocator) -> None:
    """§1.3 step 1b: shared page with room → keep it at its offset."""
    pf = PageFrag(page_allocator)
    span = pf.prepare(32, GFP_KERNEL)
    assert span is not None
    pf.commit(span, 32768 - 32)
    again = pf.prepare(32, GFP_KERNEL)
    assert again is not None
    assert (again.page, again.offset, again.size) == (span.page, 32736, 32)
    put_page(span.page)
    pf.drain()


def test_page_frag_puts_and_reallocates_when_full(page_allocator: PageAllocator) -> None:
    """§1.3 step 1c + 2-3: shared page without room → put_page, new order-3 page at 0."""
    pf = PageFrag(page_allocator)
    span = pf.prepare(32, GFP_KERNEL)
    assert span is not None
    pf.commit(span, 32768 - 31)
    old = span.page
    assert old.refcount == 2
    again = pf.prepare(32, GFP_KERNEL)
    assert again is not None
    assert again.page is not old
    assert again.offset == 0
    assert again.page.order == 3
    assert old.refcount == 1  # the frag still holds it; the pfrag let go
    assert page_allocator.stats.frag_abandon == 1
    put_page(old)
    pf.drain()


def test_page_frag_falls_back_to_order0(page_leak_check: list[PageAllocator]) -> None:
    """§1.3 step 4: the order-3 attempt fails → one order-0 page with the caller's gfp."""
    pa = PageAllocator(fail_high_order=True)
    pf = PageFrag(pa)
    span = pf.prepare(32, GFP_KERNEL)
    assert span is not None
    assert span.page.order == 0
    assert span.size == PAGE_SIZE
    assert pa.stats.page_alloc_fail_order[3] == 1
    assert pa.stats.page_alloc_order[0] == 1
    pf.drain()


def test_page_frag_high_order_alloc_disable(page_leak_check: list[PageAllocator]) -> None:
    """``net.core.high_order_alloc_disable`` skips the order-3 attempt entirely."""
    pa = PageAllocator()
    pa.net_high_order_alloc_disable = True
    pf = PageFrag(pa)
    span = pf.prepare(32, GFP_KERNEL)
    assert span is not None
    assert span.page.order == 0
    assert pa.stats.page_alloc_fail == 0
    pf.drain()


def test_page_frag_failure_leaves_no_page(page_leak_check: list[PageAllocator]) -> None:
    """§1.3 step 5: both attempts fail → False and ``page`` is None (the old one was put)."""
    pa = PageAllocator()
    pf = PageFrag(pa)
    span = pf.prepare(32, GFP_KERNEL)
    assert span is not None
    pf.commit(span, 32768 - 8)
    pa.fail_probability = 1.0
    assert pf.prepare(32, GFP_KERNEL) is None
    assert pf.page is None
    assert span.page.refcount == 1  # only the committed fragment holds it
    put_page(span.page)
