"""The page allocator and page reference counts (spec/mm-skb.md §6; DESIGN.md "struct page").

What is pinned here: free lists per order (bytearrays reused, ``Page`` objects and pfns never),
the memory limit and the min-watermark reserve (ordinary / ``GFP_ATOMIC`` / ``__GFP_MEMALLOC``),
deterministic fault injection, poisoning and ``__GFP_ZERO``, leak accounting, use-after-free
detection, the refcount primitives with their counters (one counted call each), and compound
pages (tail pages act on the head).
"""

from __future__ import annotations

import re
import warnings

import pytest

from netsim.errors import BadPageError, MemoryLimitWarning, PageLeakError
from netsim.mm import (
    GFP_ATOMIC,
    GFP_KERNEL,
    GFP_NOWAIT,
    PAGE_OFFSET,
    PAGE_SHIFT,
    PAGE_SIZE,
    Gfp,
    Page,
    PageAllocator,
    compound_head,
    free_frozen_pages,
    get_order,
    get_page,
    page_address,
    page_ref_add,
    page_ref_count,
    page_ref_inc,
    page_ref_sub_and_test,
    put_page,
    put_page_testzero,
    set_page_count,
)
from netsim.stats import MAX_PAGE_ORDER

POISON_FREE = 0x6B
GFP_COMP = GFP_KERNEL | Gfp.COMP


def _freed(page: Page) -> bool:
    """``page.freed`` through a call, so mypy does not narrow the property across a free."""
    return page.freed


def _alloc(pa: PageAllocator, order: int = 0, gfp: int = GFP_KERNEL, owner: str = "") -> Page:
    page = pa.alloc_pages(gfp, order, owner=owner)
    assert page is not None
    return page


def _delta(pa: PageAllocator, before: dict[str, int]) -> dict[str, int]:
    """Counters that changed since ``before`` (a ``nonzero()``-style dict of all counters)."""
    now = dict(pa.stats.snapshot())
    return {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}


def _snap(pa: PageAllocator) -> dict[str, int]:
    return dict(pa.stats.snapshot())


# -- get_order, addresses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "order"),
    [
        (1, 0),
        (PAGE_SIZE - 1, 0),
        (PAGE_SIZE, 0),
        (PAGE_SIZE + 1, 1),
        (2 * PAGE_SIZE, 1),
        (2 * PAGE_SIZE + 1, 2),
        (16384, 2),
        (32767, 3),
        (32768, 3),
        (32769, 4),
        (PAGE_SIZE << 10, 10),
    ],
)
def test_get_order(size: int, order: int) -> None:
    assert get_order(size) == order


def test_page_address_is_direct_map_of_pfn() -> None:
    pa = PageAllocator()
    page = _alloc(pa)
    assert page_address(page) == page.virt == PAGE_OFFSET + (page.pfn << PAGE_SHIFT)
    put_page(page)


# -- allocation, free lists, pfns ----------------------------------------------------------


def test_new_page_geometry_and_counters() -> None:
    pa = PageAllocator()
    page = _alloc(pa, 3, GFP_COMP, owner="me")
    assert (page.order, page.size, page.refcount, page.pfmemalloc) == (3, 32768, 1, False)
    assert page.owner == "me"
    assert not _freed(page)
    assert not page.is_tail
    assert isinstance(page.data, bytearray)
    assert len(page.data) == 32768
    assert len(page.view) == 32768
    assert pa.stats.page_alloc == 1
    assert pa.stats.page_alloc_order[3] == 1
    assert pa.pages_in_use() == 1
    assert pa.bytes_in_use() == 32768
    put_page(page)
    assert _freed(page)
    assert pa.stats.page_free == 1
    assert pa.stats.page_free_order[3] == 1
    assert pa.pages_in_use() == 0
    assert pa.bytes_in_use() == 0


def test_alloc_page_is_order0() -> None:
    pa = PageAllocator()
    page = pa.alloc_page(GFP_KERNEL, owner="x")
    assert page is not None
    assert (page.order, page.size, page.owner) == (0, PAGE_SIZE, "x")
    put_page(page)


def test_freed_bytearray_is_reused_by_a_new_page_with_a_new_pfn() -> None:
    pa = PageAllocator()
    first = _alloc(pa, 3, GFP_COMP)
    data = first.data
    pfn = first.pfn
    put_page(first)
    second = _alloc(pa, 3, GFP_COMP)
    assert second.data is data  # no new bytearray: the freed one fits
    assert second is not first
    assert second.pfn != pfn
    assert second.pfn > pfn
    assert _freed(first)
    assert not _freed(second)
    assert second.refcount == 1
    put_page(second)


def test_free_lists_are_per_order() -> None:
    pa = PageAllocator()
    small = _alloc(pa, 0)
    small_data = small.data
    put_page(small)
    big = _alloc(pa, 1)
    assert big.data is not small_data  # an order-0 bytearray does not serve an order-1 request
    assert len(big.data) == 2 * PAGE_SIZE
    again = _alloc(pa, 0)
    assert again.data is small_data
    put_page(big)
    put_page(again)


def test_every_freed_bytearray_of_an_order_is_reused() -> None:
    pa = PageAllocator()
    pages = [_alloc(pa, 2) for _ in range(3)]
    datas = {id(p.data) for p in pages}
    for p in pages:
        put_page(p)
    reused = [_alloc(pa, 2) for _ in range(3)]
    assert {id(p.data) for p in reused} == datas
    fresh = _alloc(pa, 2)  # the free list is empty now: a new bytearray
    assert id(fresh.data) not in datas
    for p in [*reused, fresh]:
        put_page(p)


def test_pfns_are_never_reused_and_strictly_increase() -> None:
    pa = PageAllocator()
    seen: list[int] = []
    for _ in range(5):
        page = _alloc(pa)
        seen.append(page.pfn)
        put_page(page)
    assert seen == sorted(seen)
    assert len(set(seen)) == 5


@pytest.mark.parametrize("order", [1, 2, 3, 5, MAX_PAGE_ORDER])
def test_compound_pfn_is_aligned_to_its_size(order: int) -> None:
    pa = PageAllocator()
    small = _alloc(pa, 0)  # knock the next pfn off any alignment
    page = _alloc(pa, order, GFP_COMP)
    assert page.pfn % (1 << order) == 0
    assert page.pfn > small.pfn
    after = _alloc(pa, 0)
    assert after.pfn >= page.pfn + (1 << order)  # tail pfns are not handed out again
    for p in (small, page, after):
        put_page(p)


def test_order_out_of_range_raises() -> None:
    pa = PageAllocator()
    with pytest.raises(ValueError, match="order"):
        pa.alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER + 1)
    with pytest.raises(ValueError, match="order"):
        pa.alloc_pages(GFP_KERNEL, -1)
    assert pa.stats.page_alloc == 0
    assert pa.stats.page_alloc_fail == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"limit": -1}, {"fail_every": -1}, {"fail_probability": 1.5}, {"fail_probability": -0.1}],
)
def test_invalid_constructor_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        PageAllocator(**kwargs)  # type: ignore[arg-type]


def test_shared_counters_object() -> None:
    first = PageAllocator()
    second = PageAllocator(stats=first.stats)
    page = _alloc(second)
    assert first.stats.page_alloc == 1
    put_page(page)
    assert first.stats.page_free == 1


# -- memory limit and watermarks -----------------------------------------------------------


def test_limit_exhaustion_returns_none_and_counts_per_order() -> None:
    pa = PageAllocator(limit=2 * 32768, reserve=0)
    a = _alloc(pa, 3, GFP_COMP)
    b = _alloc(pa, 3, GFP_COMP)
    assert pa.alloc_pages(GFP_COMP, 3) is None
    assert pa.alloc_pages(GFP_KERNEL, 0) is None
    assert pa.stats.page_alloc_fail == 2
    assert pa.stats.page_alloc_fail_order[3] == 1
    assert pa.stats.page_alloc_fail_order[0] == 1
    assert pa.stats.page_alloc == 2
    assert pa.bytes_in_use() == 65536
    put_page(a)
    c = _alloc(pa, 0)  # room again once something was given back
    assert pa.bytes_in_use() == 32768 + PAGE_SIZE
    for p in (b, c):
        put_page(p)


def test_default_reserve() -> None:
    assert PageAllocator().reserve == 0
    assert PageAllocator(limit=1 << 20).reserve == 32768  # at least one order-3 page
    assert PageAllocator(limit=4 << 20).reserve == (4 << 20) // 32
    assert PageAllocator(limit=1 << 20, reserve=8192).reserve == 8192


def test_a_limit_at_or_below_its_default_reserve_warns() -> None:
    """A limit the default reserve (at least 32 KiB) swallows leaves nothing for ordinary
    allocations: a clear warning, once, at construction — and none when the reserve is
    given explicitly (a test of the reserve itself) or the limit leaves room."""
    for limit in (4096, 32768):
        with pytest.warns(MemoryLimitWarning, match=f"page limit of {limit} bytes is at or below"):
            pa = PageAllocator(limit=limit)
        assert pa.alloc_pages(GFP_KERNEL, 0) is None  # as the warning said
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PageAllocator(limit=32768, reserve=32768)
        PageAllocator(limit=65536)


def test_ordinary_allocation_stops_at_the_reserve() -> None:
    pa = PageAllocator(limit=16 * PAGE_SIZE, reserve=8 * PAGE_SIZE)
    pages = [_alloc(pa) for _ in range(8)]
    assert pa.alloc_pages(GFP_KERNEL, 0) is None
    assert pa.stats.page_alloc_fail == 1
    assert not any(p.pfmemalloc for p in pages)
    assert pa.stats.page_alloc_pfmemalloc == 0
    for p in pages:
        put_page(p)


def test_order3_respects_the_reserve_too() -> None:
    pa = PageAllocator(limit=16 * PAGE_SIZE, reserve=8 * PAGE_SIZE)
    one = _alloc(pa)
    # 15 pages free; taking 8 would leave 7 < 8
    assert pa.alloc_pages(GFP_COMP, 3) is None
    assert pa.stats.page_alloc_fail_order[3] == 1
    put_page(one)
    big = _alloc(pa, 3, GFP_COMP)  # 16 free, 8 left after: exactly the watermark
    put_page(big)


def test_gfp_atomic_may_take_five_eighths_of_the_reserve() -> None:
    """``__zone_watermark_ok()``: ``__GFP_HIGH`` (``ALLOC_MIN_RESERVE``) halves the min
    watermark; an allocation that also may not block (``ALLOC_NON_BLOCK``, as
    ``GFP_ATOMIC``) takes a quarter of what is left: 3/8 of the reserve stays untouched.
    ``__GFP_HIGH`` with direct reclaim gets only the half."""
    pa = PageAllocator(limit=16 * PAGE_SIZE, reserve=8 * PAGE_SIZE)
    pages = [_alloc(pa) for _ in range(8)]
    assert pa.alloc_pages(GFP_KERNEL, 0) is None
    high = [_alloc(pa, 0, GFP_KERNEL | Gfp.HIGH) for _ in range(4)]
    assert pa.alloc_pages(GFP_KERNEL | Gfp.HIGH, 0) is None
    atomic = [_alloc(pa, 0, GFP_ATOMIC)]  # 8 - 4 - 1 = 3 pages (3/8) stay in reserve
    assert not any(p.pfmemalloc for p in high + atomic)
    assert pa.alloc_pages(GFP_ATOMIC, 0) is None
    assert pa.alloc_pages(GFP_ATOMIC | Gfp.NOMEMALLOC, 0) is None
    assert pa.stats.page_alloc_fail == 4
    assert pa.stats.page_alloc_pfmemalloc == 0
    assert pa.bytes_in_use() == 13 * PAGE_SIZE
    for p in pages + high + atomic:
        put_page(p)


def test_gfp_nowait_is_nowarn_and_has_no_reserve() -> None:
    assert GFP_NOWAIT == Gfp.KSWAPD_RECLAIM | Gfp.NOWARN
    pa = PageAllocator(limit=16 * PAGE_SIZE, reserve=8 * PAGE_SIZE)
    pages = [_alloc(pa, 0, GFP_NOWAIT) for _ in range(8)]
    assert pa.alloc_pages(GFP_NOWAIT, 0) is None
    for p in pages:
        put_page(p)


def test_memalloc_may_take_the_whole_reserve_and_is_marked_pfmemalloc() -> None:
    pa = PageAllocator(limit=16 * PAGE_SIZE, reserve=8 * PAGE_SIZE)
    memalloc = GFP_KERNEL | Gfp.MEMALLOC
    # above the watermark MEMALLOC pages are ordinary pages
    above = [_alloc(pa, 0, memalloc) for _ in range(8)]
    assert not any(p.pfmemalloc for p in above)
    assert pa.stats.page_alloc_pfmemalloc == 0
    below = [_alloc(pa, 0, memalloc) for _ in range(8)]
    assert all(p.pfmemalloc for p in below)
    assert pa.stats.page_alloc_pfmemalloc == 8
    assert pa.alloc_pages(memalloc, 0) is None  # the reserve is finite
    assert pa.stats.page_alloc_fail == 1
    assert pa.bytes_in_use() == 16 * PAGE_SIZE
    for p in above + below:
        put_page(p)


def test_nomemalloc_wins_over_memalloc() -> None:
    pa = PageAllocator(limit=16 * PAGE_SIZE, reserve=8 * PAGE_SIZE)
    pages = [_alloc(pa) for _ in range(8)]
    assert pa.alloc_pages(GFP_KERNEL | Gfp.MEMALLOC | Gfp.NOMEMALLOC, 0) is None
    assert pa.stats.page_alloc_pfmemalloc == 0
    assert pa.stats.page_alloc_fail == 1
    for p in pages:
        put_page(p)


def test_atomic_memalloc_is_pfmemalloc_only_below_the_atomic_reserve() -> None:
    pa = PageAllocator(limit=16 * PAGE_SIZE, reserve=8 * PAGE_SIZE)
    gfp = GFP_ATOMIC | Gfp.MEMALLOC
    pages = [_alloc(pa, 0, gfp) for _ in range(16)]
    assert [p.pfmemalloc for p in pages] == [False] * 13 + [True] * 3
    assert pa.stats.page_alloc_pfmemalloc == 3
    for p in pages:
        put_page(p)


def test_limit_can_be_changed_later() -> None:
    pa = PageAllocator()
    page = _alloc(pa)
    pa.limit = PAGE_SIZE
    pa.reserve = 0
    assert pa.alloc_pages(GFP_KERNEL, 0) is None
    pa.limit = None
    other = _alloc(pa)
    put_page(page)
    put_page(other)


# -- fault injection -----------------------------------------------------------------------


def test_fail_high_order_only_fails_order_above_zero() -> None:
    pa = PageAllocator(fail_high_order=True)
    assert pa.alloc_pages(GFP_COMP, 3) is None
    assert pa.alloc_pages(GFP_KERNEL, 1) is None
    page = _alloc(pa, 0)
    assert pa.stats.page_alloc_fail == 2
    assert pa.stats.page_alloc_fail_order[3] == 1
    assert pa.stats.page_alloc_fail_order[1] == 1
    assert pa.stats.page_alloc_fail_order[0] == 0
    pa.fail_high_order = False
    big = _alloc(pa, 3, GFP_COMP)
    put_page(page)
    put_page(big)


def test_fail_every_nth_call() -> None:
    pa = PageAllocator(fail_every=3)
    results = [pa.alloc_pages(GFP_KERNEL, 0) for _ in range(9)]
    assert [r is None for r in results] == [False, False, True] * 3
    assert pa.stats.page_alloc_fail == 3
    assert pa.stats.page_alloc == 6
    for r in results:
        if r is not None:
            put_page(r)


def test_fail_every_counts_calls_of_any_order() -> None:
    pa = PageAllocator(fail_every=2)
    a = pa.alloc_pages(GFP_COMP, 3)
    b = pa.alloc_pages(GFP_KERNEL, 0)
    assert a is not None
    assert b is None
    assert pa.stats.page_alloc_fail_order[0] == 1
    put_page(a)


def _failure_pattern(pa: PageAllocator, n: int) -> list[bool]:
    out: list[bool] = []
    for _ in range(n):
        page = pa.alloc_pages(GFP_KERNEL, 0)
        out.append(page is None)
        if page is not None:
            put_page(page)
    return out


def test_fail_probability_is_deterministic_per_seed() -> None:
    first = _failure_pattern(PageAllocator(fail_probability=0.5, seed=1234), 64)
    second = _failure_pattern(PageAllocator(fail_probability=0.5, seed=1234), 64)
    other = _failure_pattern(PageAllocator(fail_probability=0.5, seed=4321), 64)
    assert first == second
    assert first != other
    assert 0 < sum(first) < 64


def test_fail_probability_extremes() -> None:
    assert _failure_pattern(PageAllocator(fail_probability=1.0), 10) == [True] * 10
    assert _failure_pattern(PageAllocator(fail_probability=0.0), 10) == [False] * 10


def test_fail_probability_counts_failures() -> None:
    pa = PageAllocator(fail_probability=0.5, seed=99)
    pattern = _failure_pattern(pa, 40)
    assert pa.stats.page_alloc_fail == sum(pattern)
    assert pa.stats.page_alloc == 40 - sum(pattern)
    assert pa.stats.page_alloc_fail_order[0] == sum(pattern)


# -- poisoning and __GFP_ZERO --------------------------------------------------------------


def test_poison_fills_freed_pages() -> None:
    pa = PageAllocator(poison=True)
    page = _alloc(pa, 1)
    data = page.data
    data[:] = b"\x11" * len(data)
    put_page(page)
    assert bytes(data) == bytes([POISON_FREE]) * 2 * PAGE_SIZE
    again = _alloc(pa, 1)
    assert again.data is data
    assert again.data[0] == POISON_FREE  # no zeroing without __GFP_ZERO
    put_page(again)


def test_without_poison_reused_pages_keep_old_bytes() -> None:
    pa = PageAllocator()
    page = _alloc(pa)
    page.view[:5] = b"hello"
    put_page(page)
    again = _alloc(pa)
    assert bytes(again.view[:5]) == b"hello"
    put_page(again)


@pytest.mark.parametrize("order", [0, 3, 4])
def test_gfp_zero_clears_a_reused_page(order: int) -> None:
    pa = PageAllocator(poison=True)
    page = _alloc(pa, order)
    put_page(page)
    again = _alloc(pa, order, GFP_KERNEL | Gfp.ZERO)
    assert bytes(again.data) == bytes(PAGE_SIZE << order)
    put_page(again)


def test_fresh_pages_are_zero() -> None:
    pa = PageAllocator(poison=True)
    page = _alloc(pa, 2)
    assert bytes(page.data) == bytes(4 * PAGE_SIZE)
    put_page(page)


# -- leak accounting -----------------------------------------------------------------------


def test_pages_and_bytes_in_use_and_live_pages() -> None:
    pa = PageAllocator()
    a = _alloc(pa, 0)
    b = _alloc(pa, 3, GFP_COMP)
    c = _alloc(pa, 1)
    assert pa.pages_in_use() == 3  # a compound page counts once
    assert pa.bytes_in_use() == PAGE_SIZE + 32768 + 2 * PAGE_SIZE
    assert pa.live_pages() == [a, b, c]
    put_page(b)
    assert pa.live_pages() == [a, c]
    assert pa.bytes_in_use() == 3 * PAGE_SIZE
    put_page(a)
    put_page(c)
    assert pa.pages_in_use() == 0
    assert pa.bytes_in_use() == 0
    assert pa.live_pages() == []


def test_leak_report_lists_pfn_order_refcount_owner() -> None:
    pa = PageAllocator(limit=16 * PAGE_SIZE, reserve=8 * PAGE_SIZE)
    assert pa.leak_report() == ""
    big = _alloc(pa, 3, GFP_COMP, owner="page_frag_cache")
    get_page(big)
    small = _alloc(pa, 0, GFP_KERNEL | Gfp.MEMALLOC)  # below the watermark: pfmemalloc
    assert small.pfmemalloc
    lines = pa.leak_report().splitlines()
    assert lines[0] == f"2 page(s) still referenced ({32768 + PAGE_SIZE} bytes):"
    assert lines[1] == f"  pfn {big.pfn:#x} order 3 refcount 2 owner page_frag_cache"
    assert lines[2] == f"  pfn {small.pfn:#x} order 0 refcount 1 pfmemalloc owner ?"
    assert len(lines) == 3
    put_page(big)
    put_page(big)
    put_page(small)
    assert pa.leak_report() == ""


def test_assert_no_leaks_raises_page_leak_error_with_report() -> None:
    pa = PageAllocator()
    pa.assert_no_leaks()  # nothing live: no error
    page = _alloc(pa, 2, owner="tester")
    with pytest.raises(PageLeakError) as info:
        pa.assert_no_leaks("after the test")
    err = info.value
    assert isinstance(err, AssertionError)
    assert err.report == pa.leak_report()
    text = str(err)
    assert text.startswith("page leak after the test\n")
    assert f"pfn {page.pfn:#x}" in text
    assert "order 2" in text
    assert "refcount 1" in text
    assert "owner tester" in text
    put_page(page)
    pa.assert_no_leaks()


# -- refcount primitives -------------------------------------------------------------------


def test_get_page_counts_one_page_get() -> None:
    pa = PageAllocator()
    page = _alloc(pa)
    before = _snap(pa)
    get_page(page)
    assert page.refcount == page_ref_count(page) == 2
    assert _delta(pa, before) == {"page_get": 1}
    put_page(page)
    put_page(page)


def test_page_ref_inc_counts_as_page_get() -> None:
    pa = PageAllocator()
    page = _alloc(pa)
    before = _snap(pa)
    page_ref_inc(page)
    assert page.refcount == 2
    assert _delta(pa, before) == {"page_get": 1}
    put_page(page)
    put_page(page)


def test_page_ref_add_is_one_counted_call() -> None:
    pa = PageAllocator()
    page = _alloc(pa)
    before = _snap(pa)
    page_ref_add(page, 32768)
    assert page.refcount == 32769
    assert _delta(pa, before) == {"page_ref_add": 1}
    with pytest.raises(BadPageError):
        page_ref_add(page, -1)
    assert page.refcount == 32769
    assert page_ref_sub_and_test(page, 32769)
    free_frozen_pages(page)


def test_put_page_drops_and_frees_at_zero() -> None:
    pa = PageAllocator()
    page = _alloc(pa)
    get_page(page)
    before = _snap(pa)
    put_page(page)
    assert page.refcount == 1
    assert not _freed(page)
    assert _delta(pa, before) == {"page_put": 1}
    before = _snap(pa)
    put_page(page)
    assert _freed(page)
    assert page.refcount == 0
    assert _delta(pa, before) == {"page_put": 1, "page_free": 1}
    assert pa.pages_in_use() == 0


def test_page_ref_sub_and_test_does_not_free() -> None:
    pa = PageAllocator()
    page = _alloc(pa)
    page_ref_add(page, 9)
    before = _snap(pa)
    assert page_ref_sub_and_test(page, 4) is False
    assert page.refcount == 6
    assert _delta(pa, before) == {"page_ref_sub_and_test": 1}
    before = _snap(pa)
    assert page_ref_sub_and_test(page, 6) is True
    assert page.refcount == 0
    assert not _freed(page)
    assert pa.pages_in_use() == 1
    assert _delta(pa, before) == {"page_ref_sub_and_test": 1}
    before = _snap(pa)
    free_frozen_pages(page)
    assert _freed(page)
    assert pa.pages_in_use() == 0
    assert _delta(pa, before) == {"page_free": 1}  # not a page_put


def test_page_ref_sub_and_test_below_zero_raises_and_changes_nothing() -> None:
    pa = PageAllocator()
    page = _alloc(pa)
    before = _snap(pa)
    with pytest.raises(BadPageError):
        page_ref_sub_and_test(page, 2)
    with pytest.raises(BadPageError):
        page_ref_sub_and_test(page, -1)
    assert page.refcount == 1
    assert _delta(pa, before) == {}
    put_page(page)


def test_put_page_testzero() -> None:
    pa = PageAllocator()
    page = _alloc(pa)
    get_page(page)
    before = _snap(pa)
    assert put_page_testzero(page) is False
    assert put_page_testzero(page) is True
    assert page.refcount == 0
    assert not _freed(page)
    assert _delta(pa, before) == {"page_put": 2}
    free_frozen_pages(page)
    assert _freed(page)


def test_set_page_count_is_an_uncounted_store() -> None:
    pa = PageAllocator()
    page = _alloc(pa)
    assert page_ref_sub_and_test(page, 1)
    before = _snap(pa)
    set_page_count(page, 32769)
    assert page.refcount == 32769
    assert _delta(pa, before) == {}
    with pytest.raises(BadPageError):
        set_page_count(page, -1)
    assert page.refcount == 32769
    set_page_count(page, 1)
    put_page(page)
    assert _freed(page)


def test_free_frozen_pages_needs_a_zero_count() -> None:
    pa = PageAllocator()
    page = _alloc(pa)
    with pytest.raises(BadPageError):
        free_frozen_pages(page)
    assert not _freed(page)
    put_page(page)


def test_free_pages_refuses_referenced_pages() -> None:
    pa = PageAllocator()
    page = _alloc(pa)
    with pytest.raises(BadPageError, match="refcount 1"):
        pa.free_pages(page)
    assert not _freed(page)
    assert pa.pages_in_use() == 1
    put_page(page)


def test_get_page_on_a_frozen_page_raises() -> None:
    pa = PageAllocator()
    page = _alloc(pa)
    assert put_page_testzero(page)
    with pytest.raises(BadPageError):
        get_page(page)
    with pytest.raises(BadPageError):
        page_ref_add(page, 1)
    with pytest.raises(BadPageError):
        put_page(page)
    assert page.refcount == 0
    free_frozen_pages(page)


# -- use after free ------------------------------------------------------------------------


@pytest.fixture
def freed_page() -> Page:
    pa = PageAllocator()
    page = _alloc(pa, 3, GFP_COMP)
    put_page(page)
    assert _freed(page)
    return page


def test_get_page_after_free_raises(freed_page: Page) -> None:
    before = _snap(freed_page.allocator)
    with pytest.raises(BadPageError, match="use after free"):
        get_page(freed_page)
    with pytest.raises(BadPageError, match="use after free"):
        page_ref_inc(freed_page)
    assert _delta(freed_page.allocator, before) == {}


def test_double_put_raises(freed_page: Page) -> None:
    before = _snap(freed_page.allocator)
    with pytest.raises(BadPageError, match="use after free"):
        put_page(freed_page)
    with pytest.raises(BadPageError):
        put_page_testzero(freed_page)
    assert _delta(freed_page.allocator, before) == {}
    assert freed_page.allocator.stats.page_free == 1


def test_ref_add_and_sub_after_free_raise(freed_page: Page) -> None:
    with pytest.raises(BadPageError, match="use after free"):
        page_ref_add(freed_page, 1)
    with pytest.raises(BadPageError, match="use after free"):
        page_ref_sub_and_test(freed_page, 0)
    with pytest.raises(BadPageError):
        set_page_count(freed_page, 1)
    with pytest.raises(BadPageError, match="double free"):
        free_frozen_pages(freed_page)


def test_view_and_data_after_free_raise(freed_page: Page) -> None:
    with pytest.raises(BadPageError, match="use after free"):
        _ = freed_page.view
    with pytest.raises(BadPageError, match="use after free"):
        _ = freed_page.data
    with pytest.raises(BadPageError):
        freed_page.subpage(1)


def test_stale_memoryview_is_released() -> None:
    pa = PageAllocator()
    page = _alloc(pa, 3, GFP_COMP)
    view = page.view
    tail_view = page.subpage(2).view
    put_page(page)
    with pytest.raises(ValueError, match="released"):
        _ = view[0]
    with pytest.raises(ValueError, match="released"):
        _ = tail_view[0]
    reuse = _alloc(pa, 3, GFP_COMP)  # the same bytearray, unreachable through the old views
    reuse.view[0] = 1
    put_page(reuse)


def test_tail_page_after_free_raises() -> None:
    pa = PageAllocator()
    page = _alloc(pa, 3, GFP_COMP)
    tail = page.subpage(3)
    put_page(page)
    assert _freed(tail)
    with pytest.raises(BadPageError, match="use after free"):
        _ = tail.view
    with pytest.raises(BadPageError, match="use after free"):
        _ = tail.data
    with pytest.raises(BadPageError):
        get_page(tail)
    with pytest.raises(BadPageError):
        put_page(tail)


# -- compound pages ------------------------------------------------------------------------


def test_subpage_identity_and_geometry() -> None:
    pa = PageAllocator(limit=16 * PAGE_SIZE, reserve=16 * PAGE_SIZE)
    head = _alloc(pa, 3, GFP_COMP | Gfp.MEMALLOC)
    assert head.pfmemalloc
    assert head.subpage(0) is head
    for i in range(1, 8):
        tail = head.subpage(i)
        assert tail is head.subpage(i)  # cached: identity comparisons work
        assert tail.is_tail
        assert tail.head is head
        assert compound_head(tail) is head
        assert tail.index == i
        assert tail.pfn == head.pfn + i
        assert tail.virt == head.virt + i * PAGE_SIZE
        assert (tail.order, tail.size) == (0, PAGE_SIZE)
        assert tail.pfmemalloc
        assert tail.subpage(0) is head
        assert tail.subpage(i) is tail
    assert compound_head(head) is head
    with pytest.raises(IndexError):
        head.subpage(8)
    with pytest.raises(IndexError):
        head.subpage(-1)
    order0 = _alloc(pa, 0, GFP_KERNEL | Gfp.MEMALLOC)
    with pytest.raises(IndexError):
        order0.subpage(1)
    put_page(head)
    put_page(order0)


def test_refcount_ops_on_a_tail_act_on_the_head() -> None:
    pa = PageAllocator()
    head = _alloc(pa, 3, GFP_COMP)
    tail = head.subpage(5)
    before = _snap(pa)
    get_page(tail)
    page_ref_inc(head.subpage(1))
    page_ref_add(tail, 3)
    assert head.refcount == tail.refcount == page_ref_count(tail) == 6
    assert page_ref_sub_and_test(tail, 2) is False
    assert head.refcount == 4
    assert put_page_testzero(tail) is False
    assert _delta(pa, before) == {
        "page_get": 2,
        "page_ref_add": 1,
        "page_ref_sub_and_test": 1,
        "page_put": 1,
    }
    put_page(tail)
    put_page(head.subpage(7))
    assert head.refcount == 1
    assert not _freed(head)
    put_page(tail)  # the last reference, through a tail: the whole compound page goes
    assert _freed(head)
    assert _freed(tail)
    assert pa.pages_in_use() == 0
    assert pa.stats.page_free_order[3] == 1


def test_tail_view_spans_to_the_end_of_the_compound_page() -> None:
    pa = PageAllocator()
    head = _alloc(pa, 3, GFP_COMP)
    tail = head.subpage(6)
    assert len(tail.view) == 2 * PAGE_SIZE
    assert len(tail.data) == 2 * PAGE_SIZE
    tail.view[PAGE_SIZE + 10 : PAGE_SIZE + 13] = b"abc"  # past the tail's own 4 KiB
    assert bytes(head.data[7 * PAGE_SIZE + 10 : 7 * PAGE_SIZE + 13]) == b"abc"
    head.data[6 * PAGE_SIZE] = 0x42
    assert tail.view[0] == 0x42
    put_page(head)


def test_virt_to_page() -> None:
    pa = PageAllocator()
    small = _alloc(pa, 0)
    head = _alloc(pa, 3, GFP_COMP)
    assert pa.virt_to_page(small.virt) is small
    assert pa.virt_to_page(small.virt + PAGE_SIZE - 1) is small
    assert pa.virt_to_page(head.virt) is head
    assert pa.virt_to_page(head.virt + 100) is head
    assert pa.virt_to_page(head.virt + 3 * PAGE_SIZE + 100) is head.subpage(3)
    assert pa.virt_to_page(head.virt + 8 * PAGE_SIZE - 1) is head.subpage(7)
    with pytest.raises(BadPageError, match="no live page"):
        pa.virt_to_page(head.virt + 8 * PAGE_SIZE)
    virt = small.virt
    put_page(small)
    with pytest.raises(BadPageError, match="no live page"):
        pa.virt_to_page(virt)
    put_page(head)


def test_repr_mentions_state() -> None:
    pa = PageAllocator()
    page = _alloc(pa, 3, GFP_COMP, owner="me")
    assert re.fullmatch(rf"<Page pfn={page.pfn:#x} order=3 ref=1 owner=me>", repr(page))
    assert "tail 2" in repr(page.subpage(2))
    put_page(page)
    assert "freed" in repr(page)


# -- accounts ---------------------------------------------------------------------------------


def test_an_account_counts_its_pages_whole_life_apart() -> None:
    """A page allocated through an account is counted there from allocation to free,
    whoever takes or drops a reference; the allocator's snapshot is the total, with each
    account's share under its name."""
    pa = PageAllocator()
    tx = pa.account("sk_page_frag")
    assert pa.account("sk_page_frag") is tx  # one account per name
    own = pa.alloc_page(GFP_KERNEL)
    theirs = tx.alloc_pages(GFP_KERNEL, 3, owner="test")
    assert own is not None
    assert theirs is not None
    assert theirs.stats is tx.stats
    assert own.stats is pa.stats
    get_page(theirs)
    get_page(theirs.subpage(2))  # a tail page acts on its head: same account
    page_ref_add(theirs, 10)
    assert not page_ref_sub_and_test(theirs, 10)
    put_page(theirs)
    put_page(theirs)
    put_page(theirs)
    put_page(own)
    snap = pa.snapshot()
    share = snap.accounts["sk_page_frag"]
    assert (share["page_alloc"], share["page_free"], share["page_get"]) == (1, 1, 2)
    assert (share["page_ref_add"], share["page_ref_sub_and_test"], share["page_put"]) == (1, 1, 3)
    assert share.per_order["page_alloc"][3] == 1
    assert (pa.stats.page_alloc, pa.stats.page_free, pa.stats.page_get) == (1, 1, 0)
    assert (snap["page_alloc"], snap["page_free"], snap["page_put"]) == (2, 2, 4)
    assert snap.per_order["page_alloc"][:4] == (1, 0, 0, 1)
    assert snap.account("nobody").nonzero() == {}
    pa.assert_no_leaks()


def test_an_account_shares_the_memory_limit_and_faults() -> None:
    """An account is not a separate pool: the limit, reserve and injected failures are the
    allocator's, and a failure is counted in the account that asked."""
    pa = PageAllocator(limit=16 * PAGE_SIZE, reserve=0)
    rx = pa.account("eth0 rx")
    big = rx.alloc_pages(GFP_KERNEL, 3)
    assert big is not None
    assert pa.bytes_in_use() == 8 * PAGE_SIZE
    other = pa.alloc_pages(GFP_KERNEL, 3)
    assert other is not None
    assert rx.alloc_page(GFP_KERNEL) is None  # the allocator's memory is used up
    assert rx.stats.page_alloc_fail == 1
    assert pa.stats.page_alloc_fail == 0
    pa.fail_every = 1
    assert rx.alloc_page(GFP_ATOMIC) is None
    assert pa.snapshot()["page_alloc_fail"] == 2
    put_page(big)
    put_page(other)
    before = pa.snapshot()
    pa.fail_every = 0
    page = rx.alloc_page(GFP_KERNEL)
    assert page is not None
    put_page(page)
    delta = pa.snapshot() - before
    assert delta.accounts["eth0 rx"]["page_alloc"] == delta["page_alloc"] == 1
    pa.assert_no_leaks()
