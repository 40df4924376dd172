"""Stateful property tests (hypothesis) for the fragment allocators (spec/mm-skb.md §1, §2, §7).

A model runs beside each allocator: the fragments handed out and not yet freed (each with a
unique byte pattern written into it), the last commit (for ``abort``) and the last fragment
(for ``commit_noref`` merging).  Rules allocate, prepare + commit, merge with commit_noref,
abort, free a fragment and drain, on pages that may be order 3, order 0, pfmemalloc, scarce or
flaky.  After every step:

* the reference balance holds — caches: ``refcount == pagecnt_bias + outstanding`` on the
  current page; page_frag: ``refcount == 1 + outstanding``; any other live page is held by its
  outstanding fragments alone;
* no two outstanding fragments overlap, and their bytes are intact;
* each allocation that did not fit recycled the page **iff** every fragment on it was freed and
  it is not pfmemalloc (else the page was abandoned, or freed when pfmemalloc), as the
  ``frag_recycle`` / ``frag_abandon`` counters report.

The leak check runs inside each example (teardown), since a fixture teardown cannot shrink.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from netsim.mm import (
    GFP_KERNEL,
    PAGE_FRAG_CACHE_MAX_SIZE,
    PAGE_SIZE,
    FragAllocator,
    FragSpan,
    Gfp,
    Page,
    PageAllocator,
    PageFrag,
    PageFragCache,
    PageFragCacheCountdown,
    put_page,
)
from netsim.testing import assert_no_page_leaks

BIAS_FULL = PAGE_FRAG_CACHE_MAX_SIZE + 1
_PATTERN = random.Random(20241008).randbytes(2 * 32768 + PAGE_SIZE)

SIZES = st.one_of(
    st.integers(1, 64), st.integers(1, PAGE_SIZE), st.just(PAGE_SIZE), st.just(PAGE_SIZE // 2)
)
ALIGNS = st.sampled_from([1, 2, 4, 8, 16, 32, 64])
MODES = st.sampled_from(["order3", "order0", "pfmemalloc", "scarce", "flaky"])

MACHINE_SETTINGS = settings(
    max_examples=150,
    stateful_step_count=50,
    derandomize=True,
    database=None,
    deadline=None,
)


class _Frag:
    """One outstanding fragment: owns one page reference; ``length`` bytes at ``offset``."""

    __slots__ = ("length", "offset", "page", "seed")

    def __init__(self, page: Page, offset: int, length: int, seed: int) -> None:
        self.page = page
        self.offset = offset
        self.length = length
        self.seed = seed

    def pattern(self, start: int = 0) -> bytes:
        """This fragment's unique bytes (from ``start`` to its end)."""
        return _PATTERN[self.seed + start : self.seed + self.length]

    def write(self, start: int = 0) -> None:
        base = self.offset
        self.page.view[base + start : base + self.length] = self.pattern(start)

    def intact(self) -> bool:
        view = self.page.view
        return bytes(view[self.offset : self.offset + self.length]) == self.pattern()


class _FragAllocatorMachine(RuleBasedStateMachine):
    """The model and rules shared by the three allocators; subclasses set ``factory``."""

    factory: Callable[[PageAllocator], FragAllocator]

    def __init__(self) -> None:
        super().__init__()
        self.pa: PageAllocator | None = None
        self.fa: FragAllocator | None = None
        self.gfp = GFP_KERNEL
        self.frags: list[_Frag] = []
        self.abortable: tuple[_Frag, int] | None = None
        self.last: _Frag | None = None
        self.serial = 0

    # -- set-up ----------------------------------------------------------------------------

    @initialize(mode=MODES, seed=st.integers(0, 2**16))
    def setup(self, mode: str, seed: int) -> None:
        if mode == "order3":
            pa = PageAllocator(poison=True)
        elif mode == "order0":
            pa = PageAllocator(poison=True, fail_high_order=True)
        elif mode == "pfmemalloc":
            # all memory is reserve: only __GFP_MEMALLOC succeeds, order 0, pfmemalloc pages
            pa = PageAllocator(
                poison=True, limit=256 * PAGE_SIZE, reserve=256 * PAGE_SIZE, fail_high_order=True
            )
            self.gfp = GFP_KERNEL | Gfp.MEMALLOC
        elif mode == "scarce":
            pa = PageAllocator(poison=True, limit=3 * 32768 + 2 * PAGE_SIZE, reserve=0)
        else:
            pa = PageAllocator(poison=True, fail_probability=0.2, seed=seed)
        event(f"mode {mode}")
        self.pa = pa
        self.fa = type(self).factory(pa)

    # -- model helpers ---------------------------------------------------------------------

    @property
    def _pa(self) -> PageAllocator:
        assert self.pa is not None
        return self.pa

    @property
    def _fa(self) -> FragAllocator:
        assert self.fa is not None
        return self.fa

    def _outstanding_on(self, page: Page) -> int:
        return sum(1 for f in self.frags if f.page is page)

    def _expect(self, fragsz: int, align: int) -> str:
        """What the allocator must do to serve ``fragsz`` bytes at ``align``."""
        fa = self._fa
        page = fa.page
        if page is None:
            return "refill"
        busy = self._outstanding_on(page) > 0
        if isinstance(fa, PageFrag):  # §1.3
            if not busy:
                return "reuse"
            pad = -fa.offset % align
            return "keep" if fa.offset + pad + fragsz <= page.size else "abandon"
        if isinstance(fa, PageFragCacheCountdown):  # §2.4, old downward variant
            fits = fa.offset >= fragsz
        else:  # §2.4
            fits = ((fa.offset + align - 1) & -align) + fragsz <= page.size
        if fits:
            return "keep"
        assert fragsz <= PAGE_SIZE
        if busy:
            return "abandon"
        return "free" if page.pfmemalloc else "recycle"

    def _served(self, expected: str, call: Callable[[], Page | None]) -> Page | None:
        """Run ``call`` (which prepares or allocates) and check it did what ``expected`` says."""
        fa = self._fa
        old_page = fa.page
        old_offset = fa.offset
        before = dict(self._pa.stats.snapshot())
        page = call()
        event(expected if page is not None else f"{expected} failed")
        now = dict(self._pa.stats.snapshot())
        delta = {k: now[k] - before[k] for k in now}
        assert delta["frag_recycle"] == (expected == "recycle"), (expected, delta)
        assert delta["frag_abandon"] == (expected == "abandon"), (expected, delta)
        if isinstance(fa, PageFrag):
            assert delta["frag_reuse"] == (expected == "reuse" and old_offset != 0)
        allocating = expected in ("refill", "abandon", "free")
        if not allocating:
            assert page is not None
            assert page.head is old_page
            assert delta["page_alloc"] == 0
            assert delta["frag_refill"] == 0
        else:
            assert delta["frag_refill"] == (page is not None)
            if page is None:
                assert fa.page is None
                assert delta["page_alloc"] == 0
                assert delta["page_alloc_fail"] >= 1
                assert delta["frag_alloc_fail"] == 1
            else:
                assert page is not old_page
                assert delta["page_alloc"] == 1
        if expected == "free":
            assert old_page is not None
            assert old_page.freed
            assert delta["page_free"] == 1
        if expected == "abandon":
            assert old_page is not None
            assert not old_page.freed
        if expected == "recycle":
            assert page is not None
            assert page.refcount == BIAS_FULL
        if page is not None:
            assert fa.page is page
        return page

    def _fresh_start(self, expected: str, page: Page, offset: int, n: int, align: int) -> None:
        """After a refill, recycle or restart the first fragment sits at the page's start:
        0 counting up, ``(size - n)`` aligned down counting down."""
        if expected == "keep":
            return
        if isinstance(self._fa, PageFragCacheCountdown):
            assert offset == (page.size - n) & -align
        else:
            assert offset == 0

    def _new_frag(self, page: Page, offset: int, length: int) -> _Frag:
        self.serial += 1
        frag = _Frag(page, offset, length, (self.serial * 4099) % 32768)
        frag.write()
        self.frags.append(frag)
        return frag

    def _forget(self, frag: _Frag) -> None:
        self.frags.remove(frag)
        if self.last is frag:
            self.last = None
        if self.abortable is not None and self.abortable[0] is frag:
            self.abortable = None

    # -- rules -----------------------------------------------------------------------------

    @rule(size=SIZES, align=ALIGNS)
    def alloc(self, size: int, align: int) -> None:
        fa = self._fa
        expected = self._expect(size, align)
        got: list[tuple[Page, int] | None] = []

        def call() -> Page | None:
            got.append(fa.alloc(size, self.gfp, align))
            return got[0][0] if got[0] is not None else None

        self.abortable = None
        page = self._served(expected, call)
        if page is None:
            return
        result = got[0]
        assert result is not None
        offset = result[1]
        assert offset % align == 0
        assert offset >= 0
        assert offset + size <= page.size
        self._fresh_start(expected, page, offset, size, align)
        frag = self._new_frag(page, offset, size)
        self.abortable = (frag, size)
        self.last = frag

    @rule(fragsz=SIZES, align=ALIGNS, used=SIZES)
    def prepare_commit(self, fragsz: int, align: int, used: int) -> None:
        fa = self._fa
        expected = self._expect(fragsz, align)
        spans: list[FragSpan | None] = []

        def call() -> Page | None:
            spans.append(fa.prepare(fragsz, self.gfp, align, want=used))
            return spans[0].page if spans[0] is not None else None

        self.abortable = None
        page = self._served(expected, call)
        if page is None:
            return
        span = spans[0]
        assert span is not None
        assert span.offset % align == 0
        assert span.size >= fragsz
        assert span.offset + span.size <= page.size
        self._fresh_start(expected, page, span.offset, max(fragsz, used), align)
        n = min(used, span.size)
        start = fa.offset
        refcount = page.refcount
        bias = fa.pagecnt_bias if isinstance(fa, PageFragCache) else 0
        gets = self._pa.stats.page_get
        consumed = fa.commit(span, n)
        if isinstance(fa, PageFragCacheCountdown):  # the whole span is used, top moves down
            assert consumed == start - span.offset
            assert fa.offset == span.offset
        else:  # alignment padding + n
            assert consumed == span.offset + n - start
            assert fa.offset == span.offset + n
        if isinstance(fa, PageFragCache):  # one prepaid reference, no atomic
            assert fa.pagecnt_bias == bias - 1
            assert page.refcount == refcount
            assert self._pa.stats.page_get == gets
        else:  # get_page()
            assert page.refcount == refcount + 1
            assert self._pa.stats.page_get == gets + 1
        frag = self._new_frag(page, span.offset, n)
        self.abortable = (frag, n)
        self.last = frag

    @precondition(lambda self: self.last is not None)
    @rule(fragsz=st.integers(1, 64), used=SIZES)
    def prepare_commit_noref(self, fragsz: int, used: int) -> None:
        """TCP's merge: if the room continues the last fragment, extend it without a ref."""
        fa = self._fa
        last = self.last
        assert last is not None
        expected = self._expect(fragsz, 1)
        spans: list[FragSpan | None] = []

        def call() -> Page | None:
            spans.append(fa.prepare(fragsz, self.gfp, 1, want=used))
            return spans[0].page if spans[0] is not None else None

        self.abortable = None
        page = self._served(expected, call)
        span = spans[0]
        if page is None or span is None:
            return
        if span.page is last.page and span.offset == last.offset + last.length:
            n = min(used, span.size)
            before = dict(self._pa.stats.snapshot())
            refcount = page.refcount
            assert fa.commit_noref(span, n) == n
            assert page.refcount == refcount
            assert self._pa.stats.frag_commit_noref == before["frag_commit_noref"] + 1
            event("merged")
            old = last.length
            last.length += n
            last.write(old)

    @precondition(lambda self: self.abortable is not None)
    @rule()
    def abort_last(self) -> None:
        fa = self._fa
        assert self.abortable is not None
        frag, n = self.abortable
        fa.abort(n)
        if isinstance(fa, PageFragCacheCountdown):
            assert fa.offset == frag.offset + n
        else:
            assert fa.offset == frag.offset
        self._forget(frag)

    @precondition(lambda self: bool(self.frags))
    @rule(index=st.integers(min_value=0))
    def free(self, index: int) -> None:
        frag = self.frags[index % len(self.frags)]
        assert frag.intact(), "fragment bytes were overwritten: overlapping allocation"
        self._forget(frag)
        page = frag.page
        put_page(page)
        assert page.freed == (page is not self._fa.page and self._outstanding_on(page) == 0)

    @precondition(lambda self: self.fa is not None and self.fa.page is not None)
    @rule()
    def free_all_on_current_page(self) -> None:
        """Every skb using the current page completes: the next exhaustion may recycle it."""
        page = self._fa.page
        for frag in [f for f in self.frags if f.page is page]:
            assert frag.intact()
            self._forget(frag)
            put_page(frag.page)
        assert page is not None
        assert not page.freed

    @rule()
    def drain(self) -> None:
        fa = self._fa
        old = fa.page
        fa.drain()
        self.abortable = None
        assert fa.page is None
        if old is not None:
            assert old.freed == (self._outstanding_on(old) == 0)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def reference_balance(self) -> None:
        fa = self.fa
        if fa is None:
            return
        counts: dict[int, tuple[Page, int]] = {}
        for f in self.frags:
            page, n = counts.get(id(f.page), (f.page, 0))
            counts[id(f.page)] = (page, n + 1)
        current = fa.page
        for page, n in counts.values():
            assert not page.freed
            if page is not current:
                assert page.refcount == n  # abandoned: its fragments alone hold it
        if current is not None:
            assert not current.freed
            n = self._outstanding_on(current)
            if isinstance(fa, PageFragCache):
                assert current.refcount == fa.pagecnt_bias + n
                assert 0 < fa.pagecnt_bias <= BIAS_FULL
            else:
                assert current.refcount == 1 + n
            assert 0 <= fa.offset <= current.size
        live = {id(p) for p, _ in counts.values()}
        if current is not None:
            live.add(id(current))
        assert self._pa.pages_in_use() == len(live)

    @invariant()
    def no_overlap(self) -> None:
        by_page: dict[int, list[_Frag]] = {}
        for f in self.frags:
            assert f.offset >= 0
            assert f.offset + f.length <= f.page.size
            by_page.setdefault(id(f.page), []).append(f)
        for frags in by_page.values():
            frags.sort(key=lambda f: f.offset)
            for a, b in itertools.pairwise(frags):
                assert a.offset + a.length <= b.offset, "overlapping fragments"

    @invariant()
    def current_page_bytes_intact(self) -> None:
        fa = self.fa
        if fa is None or fa.page is None:
            return
        for f in self.frags:
            if f.page is fa.page:
                assert f.intact()

    # -- teardown: everything back, inside the example -------------------------------------

    def teardown(self) -> None:
        if self.fa is None or self.pa is None:
            return
        for f in self.frags:
            assert f.intact()
        for f in self.frags:
            put_page(f.page)
        self.frags.clear()
        self.fa.drain()
        assert self.pa.pages_in_use() == 0
        assert_no_page_leaks([self.pa], "at the end of the example")


@MACHINE_SETTINGS
class PageFragCacheMachine(_FragAllocatorMachine):
    factory = PageFragCache


@MACHINE_SETTINGS
class PageFragCacheCountdownMachine(_FragAllocatorMachine):
    factory = PageFragCacheCountdown


@MACHINE_SETTINGS
class PageFragMachine(_FragAllocatorMachine):
    factory = PageFrag


TestPageFragCache = PageFragCacheMachine.TestCase
TestPageFragCacheCountdown = PageFragCacheCountdownMachine.TestCase
TestPageFrag = PageFragMachine.TestCase
