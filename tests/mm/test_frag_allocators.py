"""The FragAllocator API on the built-in allocators (spec/mm-skb.md §1, §2, §2B, §7).

Generic tests use the plugin's ``frag_allocator`` fixture (every registered allocator); tests of
one allocator's own rules build it directly.  The last section drives the same write pattern
through the API the way ``tcp_sendmsg_locked`` does and pins the atomics each allocator takes:
one ``page_get`` per new frag for ``page_frag``, one ``page_ref_add`` per refill for
``page_frag_cache``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from netsim.errors import BadPageError
from netsim.mm import (
    GFP_KERNEL,
    PAGE_FRAG_CACHE_MAX_SIZE,
    PAGE_FRAG_CACHE_PFMEMALLOC_BIT,
    PAGE_SIZE,
    FragAllocator,
    FragSpan,
    Gfp,
    Page,
    PageAllocator,
    PageFrag,
    PageFragCache,
    PageFragCacheCountdown,
    encoded_page_decode_pfmemalloc,
    put_page,
)

BIAS_FULL = PAGE_FRAG_CACHE_MAX_SIZE + 1  # 32769
COUNT_UP: list[Callable[[PageAllocator], FragAllocator]] = [PageFrag, PageFragCache]
MEMALLOC = GFP_KERNEL | Gfp.MEMALLOC


def _freed(page: Page) -> bool:
    """``page.freed`` through a call, so mypy does not narrow the property across a free."""
    return page.freed


def _snap(pa: PageAllocator) -> dict[str, int]:
    return dict(pa.stats.snapshot())


def _delta(pa: PageAllocator, before: dict[str, int]) -> dict[str, int]:
    now = dict(pa.stats.snapshot())
    return {k: v - before[k] for k, v in now.items() if v != before[k]}


def _prepare(fa: FragAllocator, fragsz: int, align: int = 1, **kw: int) -> FragSpan:
    span = fa.prepare(fragsz, GFP_KERNEL, align, **kw)
    assert span is not None
    return span


def _alloc(
    fa: FragAllocator, fragsz: int, align: int = 1, gfp: int = GFP_KERNEL
) -> tuple[Page, int]:
    got = fa.alloc(fragsz, gfp, align)
    assert got is not None
    return got


def _state(fa: FragAllocator) -> tuple[Page | None, int, int | None, int | None]:
    page = fa.page
    return (
        page,
        fa.offset,
        page.refcount if page is not None else None,
        getattr(fa, "pagecnt_bias", None),
    )


@pytest.fixture(params=COUNT_UP, ids=["page_frag", "page_frag_cache"])
def count_up(
    request: pytest.FixtureRequest, page_allocator: PageAllocator
) -> Iterator[FragAllocator]:
    """The two allocators whose offsets count up from 0, drained at teardown."""
    factory: Callable[[PageAllocator], FragAllocator] = request.param
    allocator = factory(page_allocator)
    yield allocator
    allocator.drain()


# -- prepare / probe -----------------------------------------------------------------------


def test_prepare_consumes_nothing(
    frag_allocator: FragAllocator, page_allocator: PageAllocator
) -> None:
    span = _prepare(frag_allocator, 100)
    page = span.page
    assert page.order == 3
    assert frag_allocator.page is page
    assert span.size >= 100
    assert span.offset + span.size <= page.size
    state = _state(frag_allocator)
    before = _snap(page_allocator)
    again = _prepare(frag_allocator, 100)
    assert again == span
    assert _state(frag_allocator) == state
    assert _delta(page_allocator, before) == {}
    stats = page_allocator.stats
    assert (stats.frag_commit, stats.frag_commit_noref, stats.page_get) == (0, 0, 0)
    frag_allocator.drain()
    assert _freed(page)  # no reference was handed out


def test_prepare_offers_all_the_room_when_counting_up(count_up: FragAllocator) -> None:
    span = _prepare(count_up, 100)
    assert (span.offset, span.size) == (0, 32768)
    count_up.commit(span, 1000)
    nxt = _prepare(count_up, 100)
    assert (nxt.page, nxt.offset, nxt.size) == (span.page, 1000, 32768 - 1000)
    put_page(span.page)
    count_up.drain()


def test_probe_on_an_empty_allocator_never_allocates(
    frag_allocator: FragAllocator, page_allocator: PageAllocator
) -> None:
    assert frag_allocator.probe(1) is None
    assert frag_allocator.probe(1, 64) is None
    assert frag_allocator.page is None
    assert page_allocator.stats.page_alloc == 0
    assert page_allocator.pages_in_use() == 0
    assert page_allocator.stats.snapshot().nonzero() == {}


def test_probe_changes_nothing(
    frag_allocator: FragAllocator, page_allocator: PageAllocator
) -> None:
    page, _ = _alloc(frag_allocator, 100)
    state = _state(frag_allocator)
    before = _snap(page_allocator)
    span = frag_allocator.probe(50)
    assert span is not None
    assert span.page is page
    assert frag_allocator.probe(32768) is None  # does not fit any more
    assert _state(frag_allocator) == state
    assert _delta(page_allocator, before) == {}
    assert _prepare(frag_allocator, 50) == span  # probe describes what prepare would
    put_page(page)


def test_probe_does_not_refill_a_full_page(
    frag_allocator: FragAllocator, page_allocator: PageAllocator
) -> None:
    page, offset = _alloc(frag_allocator, 32768)
    assert offset == 0
    assert frag_allocator.probe(1) is None
    assert frag_allocator.page is page
    assert page_allocator.stats.page_alloc == 1
    put_page(page)


def test_probe_honours_alignment(count_up: FragAllocator) -> None:
    page, _ = _alloc(count_up, 3)
    span = count_up.probe(10, 64)
    assert span == FragSpan(page, 64, 32768 - 64)
    assert count_up.probe(32768 - 64, 64) is not None
    assert count_up.probe(32768 - 63, 64) is None
    put_page(page)


# -- commit / commit_noref / abort ---------------------------------------------------------


def test_commit_hands_out_exactly_one_reference(
    frag_allocator: FragAllocator, page_allocator: PageAllocator
) -> None:
    span = _prepare(frag_allocator, 64)
    assert frag_allocator.commit(span, 64) == 64
    assert page_allocator.stats.frag_commit == 1
    frag_allocator.drain()
    page = span.page
    assert not _freed(page)
    assert page.refcount == 1
    put_page(page)
    assert _freed(page)
    assert page_allocator.pages_in_use() == 0


def test_commit_noref_hands_out_no_reference(
    frag_allocator: FragAllocator, page_allocator: PageAllocator
) -> None:
    span = _prepare(frag_allocator, 64)
    before = _snap(page_allocator)
    assert frag_allocator.commit_noref(span, 64) == 64
    assert _delta(page_allocator, before) == {"frag_commit_noref": 1}
    frag_allocator.drain()
    assert _freed(span.page)


def test_page_frag_commit_is_a_get_page(page_allocator: PageAllocator) -> None:
    pf = PageFrag(page_allocator)
    span = _prepare(pf, 64)
    assert span.page.refcount == 1
    before = _snap(page_allocator)
    pf.commit(span, 64)
    assert span.page.refcount == 2
    assert _delta(page_allocator, before) == {"page_get": 1, "frag_commit": 1}
    assert pf.offset == 64
    put_page(span.page)
    pf.drain()


def test_page_frag_cache_commit_is_bias_minus_one(page_allocator: PageAllocator) -> None:
    nc = PageFragCache(page_allocator)
    before = _snap(page_allocator)
    span = _prepare(nc, 64)
    assert _delta(page_allocator, before) == {
        "page_alloc": 1,
        "page_ref_add": 1,
        "frag_refill": 1,
    }
    assert span.page.refcount == nc.pagecnt_bias == BIAS_FULL
    before = _snap(page_allocator)
    nc.commit(span, 64)
    assert _delta(page_allocator, before) == {"frag_commit": 1}  # no atomic
    assert span.page.refcount == BIAS_FULL
    assert nc.pagecnt_bias == BIAS_FULL - 1
    assert nc.offset == 64
    before = _snap(page_allocator)
    nc.commit_noref(_prepare(nc, 1), 100)
    assert _delta(page_allocator, before) == {"frag_commit_noref": 1}
    assert nc.pagecnt_bias == BIAS_FULL - 1
    assert nc.offset == 164
    put_page(span.page)
    nc.drain()


def test_commit_returns_bytes_consumed_with_padding(count_up: FragAllocator) -> None:
    page, _ = _alloc(count_up, 3)
    span = _prepare(count_up, 8, 64)
    assert span.offset == 64
    assert count_up.commit_noref(span, 10) == 64 - 3 + 10
    assert count_up.offset == 74
    put_page(page)


def test_countdown_commit_consumes_the_whole_span(page_allocator: PageAllocator) -> None:
    nc = PageFragCacheCountdown(page_allocator)
    span = _prepare(nc, 32, want=1000)
    assert (span.offset, span.size) == (32768 - 1000, 1000)
    assert nc.commit(span, 600) == 1000
    assert nc.offset == 32768 - 1000
    put_page(span.page)
    nc.drain()


def test_commit_of_a_stale_span_raises(
    frag_allocator: FragAllocator, page_allocator: PageAllocator
) -> None:
    span = _prepare(frag_allocator, 64)
    frag_allocator.commit(span, 64)
    state = _state(frag_allocator)
    with pytest.raises(BadPageError, match="stale"):
        frag_allocator.commit(span, 64)
    with pytest.raises(BadPageError, match="stale"):
        frag_allocator.commit_noref(span, 1)
    assert _state(frag_allocator) == state
    assert page_allocator.stats.frag_commit == 1
    put_page(span.page)


def test_commit_of_a_span_from_a_drained_page_raises(
    frag_allocator: FragAllocator, page_allocator: PageAllocator
) -> None:
    span = _prepare(frag_allocator, 64)
    frag_allocator.drain()
    assert _freed(span.page)
    with pytest.raises(BadPageError):
        frag_allocator.commit(span, 64)
    with pytest.raises(BadPageError):
        frag_allocator.commit_noref(span, 64)
    assert page_allocator.pages_in_use() == 0


def test_commit_of_more_than_the_span_raises(
    frag_allocator: FragAllocator, page_allocator: PageAllocator
) -> None:
    span = _prepare(frag_allocator, 64)
    state = _state(frag_allocator)
    with pytest.raises(BadPageError):
        frag_allocator.commit(span, span.size + 1)
    with pytest.raises(BadPageError):
        frag_allocator.commit_noref(span, span.size + 1)
    with pytest.raises(BadPageError):
        frag_allocator.commit(span, -1)
    assert _state(frag_allocator) == state
    assert page_allocator.stats.frag_commit == 0
    frag_allocator.commit(span, span.size)  # the whole span is fine
    put_page(span.page)


def test_abort_gives_back_the_reference(
    frag_allocator: FragAllocator, page_allocator: PageAllocator
) -> None:
    span = _prepare(frag_allocator, 100)
    state = _state(frag_allocator)
    frag_allocator.commit(span, 100)
    frag_allocator.abort(100)
    assert _state(frag_allocator) == state
    assert page_allocator.stats.frag_abort == 1
    frag_allocator.drain()
    assert _freed(span.page)  # the aborted fragment holds nothing


def test_abort_on_an_empty_allocator_raises(frag_allocator: FragAllocator) -> None:
    with pytest.raises(BadPageError, match="abort"):
        frag_allocator.abort(1)


def test_abort_keeps_alignment_padding(count_up: FragAllocator) -> None:
    page, _ = _alloc(count_up, 3)
    got = _alloc(count_up, 10, 64)
    assert got == (page, 64)
    count_up.abort(10)
    assert count_up.offset == 64  # padding 3..64 stays consumed
    put_page(page)


def test_abort_beyond_the_offset_raises(count_up: FragAllocator) -> None:
    page, _ = _alloc(count_up, 10)
    with pytest.raises(BadPageError, match="abort"):
        count_up.abort(11)
    assert count_up.offset == 10
    put_page(page)


def test_page_frag_abort_is_a_put_page(page_allocator: PageAllocator) -> None:
    pf = PageFrag(page_allocator)
    page, _ = _alloc(pf, 100)
    before = _snap(page_allocator)
    pf.abort(100)
    assert _delta(page_allocator, before) == {"page_put": 1, "frag_abort": 1}
    assert page.refcount == 1
    assert pf.offset == 0
    pf.drain()


def test_page_frag_cache_abort_is_bias_plus_one(page_allocator: PageAllocator) -> None:
    nc = PageFragCache(page_allocator)
    page, _ = _alloc(nc, 100)
    before = _snap(page_allocator)
    nc.abort(100)
    assert _delta(page_allocator, before) == {"frag_abort": 1}
    assert nc.pagecnt_bias == BIAS_FULL == page.refcount
    assert nc.offset == 0
    nc.drain()


# -- alloc and alignment -------------------------------------------------------------------


def test_alloc_aligns_up_when_counting_up(count_up: FragAllocator) -> None:
    a = _alloc(count_up, 3)
    b = _alloc(count_up, 10, 64)
    c = _alloc(count_up, 1, 8)
    d = _alloc(count_up, 1)
    e = _alloc(count_up, 100, 32)
    page = a[0]
    assert [a, b, c, d, e] == [(page, 0), (page, 64), (page, 80), (page, 81), (page, 96)]
    assert count_up.offset == 196
    for _ in range(5):
        put_page(page)


@pytest.mark.parametrize("align", [1, 2, 4, 8, 16, 32, 64])
def test_alloc_offsets_are_multiples_of_align(frag_allocator: FragAllocator, align: int) -> None:
    held: list[Page] = []
    for size in (1, 7, 100, 333, 1000):
        page, offset = _alloc(frag_allocator, size, align)
        assert offset % align == 0
        assert offset + size <= page.size
        held.append(page)
    for page in held:
        put_page(page)


def test_countdown_offsets_go_down_from_the_end(page_allocator: PageAllocator) -> None:
    nc = PageFragCacheCountdown(page_allocator)
    a = _alloc(nc, 100)
    b = _alloc(nc, 100)
    c = _alloc(nc, 10, 64)
    d = _alloc(nc, 1)
    page = a[0]
    assert a == (page, 32768 - 100)
    assert b == (page, 32768 - 200)
    assert c == (page, (32568 - 10) & -64) == (page, 32512)  # aligned *down*
    assert d == (page, 32511)
    assert nc.offset == 32511
    # a fragment never continues its predecessor upward: skb_can_coalesce() cannot merge them
    frags = [(a[1], 100), (b[1], 100), (c[1], 10), (d[1], 1)]
    for (prev_off, prev_len), (off, _) in itertools.pairwise(frags):
        assert prev_off + prev_len != off
        assert off < prev_off
    for _ in range(4):
        put_page(page)
    nc.drain()


def test_countdown_refills_when_the_page_is_used_up(page_allocator: PageAllocator) -> None:
    nc = PageFragCacheCountdown(page_allocator)
    first = _alloc(nc, 32000)
    second = _alloc(nc, 1000)  # 768 left: does not fit
    assert first == (first[0], 768)
    assert second[0] is not first[0]
    assert second[1] == 32768 - 1000
    assert page_allocator.stats.frag_abandon == 1
    put_page(first[0])
    put_page(second[0])
    nc.drain()


def test_countdown_tcp_like_writes_never_coalesce(page_allocator: PageAllocator) -> None:
    nc = PageFragCacheCountdown(page_allocator)
    frags: list[tuple[Page, int, int]] = []
    for want in (100, 200, 300, 400):
        span = _prepare(nc, 32, want=want)
        assert span.size == want
        if frags and frags[-1][0] is span.page and sum(frags[-1][1:]) == span.offset:
            pytest.fail("a count-down span continued the previous fragment")
        nc.commit(span, want)
        frags.append((span.page, span.offset, want))
    assert [f[1] for f in frags] == [32668, 32468, 32168, 31768]
    assert page_allocator.stats.frag_commit == 4
    for page, _, _ in frags:
        put_page(page)
    nc.drain()


# -- page_frag_cache: the fragsz > PAGE_SIZE NULL case, pfmemalloc, recycling --------------


def test_cache_fragsz_above_page_size_keeps_the_order0_page(
    page_leak_check: list[PageAllocator],
) -> None:
    pa = PageAllocator(fail_high_order=True)
    nc = PageFragCache(pa)
    page, offset = _alloc(nc, 100)
    assert page.order == 0
    assert offset == 0
    state = _state(nc)
    before = _snap(pa)
    assert nc.prepare(8192, GFP_KERNEL) is None
    assert nc.page is page
    assert _state(nc) == state
    assert _delta(pa, before) == {"frag_alloc_fail": 1}  # no allocation, no atomic
    assert _alloc(nc, 100) == (page, 100)  # the cache carries on
    put_page(page)
    put_page(page)
    nc.drain()
    assert pa.pages_in_use() == 0


def test_cache_fragsz_above_page_size_on_an_empty_cache(
    page_leak_check: list[PageAllocator],
) -> None:
    pa = PageAllocator(fail_high_order=True)
    nc = PageFragCache(pa)
    assert nc.prepare(8192, GFP_KERNEL) is None
    page = nc.page
    assert page is not None
    assert page.order == 0
    assert nc.pagecnt_bias == BIAS_FULL == page.refcount
    nc.drain()
    assert _freed(page)


def test_cache_fragsz_above_page_size_keeps_a_nearly_full_order3_page(
    page_allocator: PageAllocator,
) -> None:
    nc = PageFragCache(page_allocator)
    page, _ = _alloc(nc, 30000)
    assert nc.prepare(8192, GFP_KERNEL) is None
    assert nc.page is page
    assert nc.offset == 30000
    assert page_allocator.stats.frag_abandon == 0
    assert page_allocator.stats.page_ref_sub_and_test == 0
    fits = _prepare(nc, 2768)  # still usable for what fits
    assert (fits.page, fits.offset, fits.size) == (page, 30000, 2768)
    put_page(page)
    nc.drain()


def test_cache_high_order_refill_never_uses_the_reserve(
    page_leak_check: list[PageAllocator],
) -> None:
    """§2.3: the order-3 attempt carries __GFP_NOMEMALLOC; only the order-0 fallback with the
    caller's gfp may dip into the reserve."""
    pa = PageAllocator(limit=64 * PAGE_SIZE, reserve=64 * PAGE_SIZE)
    nc = PageFragCache(pa)
    page, _ = _alloc(nc, 100, gfp=MEMALLOC)
    assert page.order == 0
    assert page.pfmemalloc
    assert nc.is_pfmemalloc()
    assert encoded_page_decode_pfmemalloc(nc.encoded_page)
    assert nc.encoded_page & PAGE_FRAG_CACHE_PFMEMALLOC_BIT
    assert pa.stats.page_alloc_fail_order[3] == 1
    assert pa.stats.page_alloc_pfmemalloc == 1
    put_page(page)
    nc.drain()


def test_page_frag_high_order_refill_may_use_the_reserve(
    page_leak_check: list[PageAllocator],
) -> None:
    """§1.3 step 3: skb_page_frag_refill's order-3 gfp has no __GFP_NOMEMALLOC."""
    pa = PageAllocator(limit=64 * PAGE_SIZE, reserve=64 * PAGE_SIZE)
    pf = PageFrag(pa)
    page, _ = _alloc(pf, 100, gfp=MEMALLOC)
    assert page.order == 3
    assert page.pfmemalloc
    assert pa.stats.page_alloc_fail == 0
    put_page(page)
    pf.drain()


def _pfmemalloc_cache() -> tuple[PageAllocator, PageFragCache]:
    # everything is below the watermark: only __GFP_MEMALLOC allocations succeed, and they come
    # back pfmemalloc; fail_high_order forces the order-0 fallback
    pa = PageAllocator(limit=4 * PAGE_SIZE, reserve=4 * PAGE_SIZE, fail_high_order=True)
    return pa, PageFragCache(pa)


def test_cache_never_recycles_a_pfmemalloc_page(page_leak_check: list[PageAllocator]) -> None:
    pa, nc = _pfmemalloc_cache()
    a = _alloc(nc, 2048, gfp=MEMALLOC)
    b = _alloc(nc, 2048, gfp=MEMALLOC)
    old = a[0]
    assert old.pfmemalloc
    assert old.order == 0
    assert b == (old, 2048)
    put_page(old)
    put_page(old)
    assert old.refcount == nc.pagecnt_bias  # drained to the bias: would be recyclable
    before = _snap(pa)
    new, offset = _alloc(nc, 2048, gfp=MEMALLOC)
    assert _freed(old)  # given back to the allocator ...
    assert new is not old
    assert new.pfn != old.pfn
    assert offset == 0
    assert new.pfmemalloc
    delta = _delta(pa, before)
    assert delta.get("frag_recycle", 0) == 0
    assert delta.get("frag_abandon", 0) == 0
    assert delta["page_free"] == 1
    assert delta["page_alloc_pfmemalloc"] == 1
    assert delta["frag_refill"] == 1
    assert delta["page_ref_sub_and_test"] == 1
    put_page(new)
    nc.drain()
    assert pa.pages_in_use() == 0


def test_cache_recycles_the_same_setup_without_pfmemalloc(
    page_leak_check: list[PageAllocator],
) -> None:
    pa = PageAllocator(fail_high_order=True)
    nc = PageFragCache(pa)
    old, _ = _alloc(nc, 2048)
    _alloc(nc, 2048)
    put_page(old)
    put_page(old)
    again = _alloc(nc, 2048)
    assert again == (old, 0)
    assert pa.stats.frag_recycle == 1
    assert pa.stats.page_free == 0
    assert old.refcount == nc.pagecnt_bias + 1 == BIAS_FULL
    put_page(old)
    nc.drain()


def test_cache_abandons_a_pfmemalloc_page_with_live_fragments(
    page_leak_check: list[PageAllocator],
) -> None:
    pa, nc = _pfmemalloc_cache()
    old, _ = _alloc(nc, 4096, gfp=MEMALLOC)
    new, _ = _alloc(nc, 1, gfp=MEMALLOC)
    assert new is not old
    assert not _freed(old)
    assert old.refcount == 1
    assert pa.stats.frag_abandon == 1
    put_page(old)
    assert _freed(old)
    put_page(new)
    nc.drain()


def test_page_frag_does_not_track_pfmemalloc(page_leak_check: list[PageAllocator]) -> None:
    """§1.3: nothing in the pfrag tracks pfmemalloc: a reserve page is reused like any other."""
    pa = PageAllocator(limit=8 * PAGE_SIZE, reserve=8 * PAGE_SIZE)
    pf = PageFrag(pa)
    page, _ = _alloc(pf, 100, gfp=MEMALLOC)
    assert page.pfmemalloc
    put_page(page)
    assert _alloc(pf, 100, gfp=MEMALLOC) == (page, 0)
    assert pa.stats.frag_reuse == 1
    put_page(page)
    pf.drain()


def test_cache_refill_failure(page_leak_check: list[PageAllocator]) -> None:
    pa = PageAllocator(fail_probability=1.0)
    nc = PageFragCache(pa)
    assert nc.prepare(100, GFP_KERNEL) is None
    assert nc.alloc(100, GFP_KERNEL) is None
    assert nc.page is None
    assert pa.stats.frag_alloc_fail == 2
    assert pa.stats.page_alloc_fail_order[3] == 2
    assert pa.stats.page_alloc_fail_order[0] == 2


def test_cache_abandon_then_refill_failure_leaves_it_empty(
    page_leak_check: list[PageAllocator],
) -> None:
    pa = PageAllocator()
    nc = PageFragCache(pa)
    page, _ = _alloc(nc, 32768)
    pa.fail_probability = 1.0
    assert nc.prepare(1, GFP_KERNEL) is None
    assert nc.page is None
    assert page.refcount == 1  # the outstanding fragment keeps it
    assert pa.stats.frag_abandon == 1
    put_page(page)
    nc.drain()
    assert pa.pages_in_use() == 0


def test_prepare_may_recycle_without_committing(page_allocator: PageAllocator) -> None:
    """§2B.1: a prepare that is never committed may still have recycled the page."""
    nc = PageFragCache(page_allocator)
    page, _ = _alloc(nc, 32768)
    put_page(page)
    span = _prepare(nc, 1)
    assert (span.page, span.offset, span.size) == (page, 0, 32768)
    assert page_allocator.stats.frag_recycle == 1
    assert nc.offset == 0
    assert nc.pagecnt_bias == BIAS_FULL == page.refcount
    nc.drain()


# -- old page_frag restart versus cache recycle --------------------------------------------


def test_page_frag_restarts_at_refcount_one_even_with_room_left(
    page_allocator: PageAllocator,
) -> None:
    pf = PageFrag(page_allocator)
    page, _ = _alloc(pf, 100)
    assert _alloc(pf, 100) == (page, 100)  # shared: carries on
    put_page(page)
    put_page(page)
    assert page.refcount == 1
    assert _alloc(pf, 100) == (page, 0)  # sole holder: restart at 0, room notwithstanding
    assert page_allocator.stats.frag_reuse == 1
    assert page_allocator.stats.page_alloc == 1
    put_page(page)
    pf.drain()


def test_cache_recycles_only_when_exhausted_and_drained_to_bias(
    page_allocator: PageAllocator,
) -> None:
    nc = PageFragCache(page_allocator)
    page, _ = _alloc(nc, 100)
    put_page(page)
    assert page.refcount == nc.pagecnt_bias  # drained to the bias ...
    assert _alloc(nc, 100) == (page, 100)  # ... but not exhausted: no restart
    rest = _alloc(nc, 32768 - 200)
    assert rest == (page, 200)
    assert nc.offset == 32768
    assert page_allocator.stats.frag_recycle == 0
    put_page(page)
    put_page(page)
    assert _alloc(nc, 1) == (page, 0)  # exhausted and drained: recycled
    stats = page_allocator.stats
    assert (stats.frag_recycle, stats.frag_abandon, stats.page_alloc) == (1, 0, 1)
    assert page.refcount == BIAS_FULL
    assert nc.pagecnt_bias == BIAS_FULL - 1
    put_page(page)
    nc.drain()


# -- drain ---------------------------------------------------------------------------------


def test_drain_releases_everything(
    frag_allocator: FragAllocator, page_allocator: PageAllocator
) -> None:
    held = [_alloc(frag_allocator, 4000)[0] for _ in range(24)]  # several pages
    assert page_allocator.pages_in_use() == 3
    for page in held:
        put_page(page)
    frag_allocator.drain()
    assert frag_allocator.page is None
    assert page_allocator.pages_in_use() == 0
    assert page_allocator.stats.page_free == page_allocator.stats.page_alloc
    frag_allocator.drain()  # draining an empty allocator does nothing
    assert page_allocator.pages_in_use() == 0


def test_drain_leaves_outstanding_fragments_alive(
    frag_allocator: FragAllocator, page_allocator: PageAllocator
) -> None:
    page, offset = _alloc(frag_allocator, 100)
    page.view[offset : offset + 5] = b"hello"
    _alloc(frag_allocator, 100)
    frag_allocator.drain()
    assert not _freed(page)
    assert page.refcount == 2
    assert bytes(page.view[offset : offset + 5]) == b"hello"
    put_page(page)
    put_page(page)
    assert _freed(page)
    assert page_allocator.pages_in_use() == 0


def test_cache_drain_is_one_sub_and_test(page_allocator: PageAllocator) -> None:
    nc = PageFragCache(page_allocator)
    page, _ = _alloc(nc, 100)
    put_page(page)
    before = _snap(page_allocator)
    nc.drain()
    assert _delta(page_allocator, before) == {"page_ref_sub_and_test": 1, "page_free": 1}
    assert _freed(page)
    assert nc.pagecnt_bias == 0
    assert nc.offset == 0


def test_page_frag_drain_is_one_put(page_allocator: PageAllocator) -> None:
    pf = PageFrag(page_allocator)
    page, _ = _alloc(pf, 100)
    put_page(page)
    before = _snap(page_allocator)
    pf.drain()
    assert _delta(page_allocator, before) == {"page_put": 1, "page_free": 1}
    assert _freed(page)
    assert (pf.offset, pf.size) == (0, 0)


# -- the same writes through the API, the way TCP does -------------------------------------


class _Frag:
    """An skb frag: one page reference, ``length`` bytes at ``offset``."""

    __slots__ = ("length", "offset", "page")

    def __init__(self, page: Page, offset: int, length: int) -> None:
        self.page = page
        self.offset = offset
        self.length = length


def _tcp_like_send(
    fa: FragAllocator, writes: list[int], size_goal: int, stream: bytearray
) -> list[list[_Frag]]:
    """tcp_sendmsg_locked's copy loop over the FragAllocator API: a new skb every
    ``size_goal`` bytes; per chunk prepare(32), copy = min(left, span.size, room in the skb),
    then commit_noref if the bytes continue the skb's last frag, else commit a new frag."""
    skbs: list[list[_Frag]] = []
    skb_len = size_goal
    pos = 0
    for want in writes:
        left = want
        while left:
            if skb_len >= size_goal:
                skbs.append([])
                skb_len = 0
            span = fa.prepare(32, GFP_KERNEL)
            assert span is not None
            copy = min(left, span.size, size_goal - skb_len)
            span.page.view[span.offset : span.offset + copy] = stream[pos : pos + copy]
            frags = skbs[-1]
            last = frags[-1] if frags else None
            if (
                last is not None
                and last.page is span.page
                and last.offset + last.length == (span.offset)
            ):
                fa.commit_noref(span, copy)
                last.length += copy
            else:
                fa.commit(span, copy)
                frags.append(_Frag(span.page, span.offset, copy))
            pos += copy
            left -= copy
            skb_len += copy
    return skbs


@pytest.mark.parametrize(
    ("writes", "size_goal", "chunks", "frags", "pages"),
    [
        # every 16 KiB write its own skb: one new frag per write, two per 32 KiB page
        ([16384] * 64, 16384, 64, 64, 32),
        # 64 KiB skbs: the second write on a page continues the first frag
        ([16384] * 64, 65536, 64, 32, 32),
        # 10000-byte writes: 64 + 19 page crossings = 83 chunks, one frag per page
        ([10000] * 64, 65536, 83, 20, 20),
        # small writes, one skb each: 512 writes + 15 page crossings, nothing merges
        ([1000] * 512, 1000, 527, 527, 16),
    ],
    ids=["16k-per-skb", "16k-in-64k-skbs", "10000-in-64k-skbs", "1000-per-skb"],
)
@pytest.mark.parametrize("name", ["page_frag", "page_frag_cache"])
def test_same_writes_cost_page_get_per_frag_versus_ref_add_per_refill(
    page_leak_check: list[PageAllocator],
    name: str,
    writes: list[int],
    size_goal: int,
    chunks: int,
    frags: int,
    pages: int,
) -> None:
    pa = PageAllocator(poison=True)
    fa: FragAllocator = PageFrag(pa) if name == "page_frag" else PageFragCache(pa)
    total = sum(writes)
    stream = bytearray((i * 131 + (i >> 8)) & 0xFF for i in range(total))
    skbs = _tcp_like_send(fa, writes, size_goal, stream)
    held = [f for skb in skbs for f in skb]
    assert len(held) == frags
    # byte-exact: the frags, in order, hold the stream
    got = b"".join(bytes(f.page.view[f.offset : f.offset + f.length]) for f in held)
    assert got == stream
    # every frag owns exactly one reference on its page (plus the allocator's hold)
    for f in held:
        assert f.page.refcount >= sum(1 for g in held if g.page is f.page)
    s = pa.stats
    assert (s.frag_commit, s.frag_commit_noref) == (frags, chunks - frags)
    assert (s.page_alloc, s.frag_refill, s.frag_abandon) == (pages, pages, pages - 1)
    if name == "page_frag":
        assert s.page_get == frags  # one get_page per new frag slot
        assert s.page_ref_add == 0
        assert s.page_put == pages - 1  # the pfrag letting go of each full page
    else:
        assert s.page_get == 0
        assert s.page_ref_add == pages  # one per refill: about one per 32 KiB
        assert s.page_ref_sub_and_test == pages - 1  # one per exhausted page
        assert s.page_put == 0
    for f in held:  # the skbs are freed
        put_page(f.page)
    fa.drain()
    assert pa.pages_in_use() == 0
    assert s.page_free == pages
    assert s.page_put == (frags + pages if name == "page_frag" else frags)
    if name == "page_frag_cache":
        assert s.page_ref_sub_and_test == pages  # plus the drain
