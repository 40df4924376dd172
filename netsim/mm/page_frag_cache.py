"""``struct page_frag_cache``: the prepaid-bias fragment cache (mm/page_frag_cache.c).

Model
-----
A cache holds one page and carves fragments from it.  Instead of an atomic ``get_page()`` per
fragment it takes ``PAGE_FRAG_CACHE_MAX_SIZE`` references **once**, at refill, and keeps the
count of references it still owns in ``pagecnt_bias``; handing a fragment out is then a plain
``pagecnt_bias -= 1``.  Invariant, whenever the cache holds a page::

    page_ref_count(page) == pagecnt_bias + fragments handed out and not yet freed

State is the kernel's three words:

* ``encoded_page`` — the page's address with its order in the low byte and the pfmemalloc bit
  above it (``encoded_page_create``); 0 when the cache is empty.
* ``offset`` — counts **up** from 0 (since v6.13, Part-1 of the series), aligned up before use.
* ``pagecnt_bias`` — ``PAGE_FRAG_CACHE_MAX_SIZE + 1`` after a refill or recycle.

When a fragment does not fit (``__page_frag_alloc_align``):

1. ``fragsz > PAGE_SIZE`` → fail and keep the page (releasing it would not help).
2. ``page_ref_sub_and_test(page, pagecnt_bias)``: give back every unused prepaid reference.
   If fragments are still alive the count is not 0: **abandon** the page (its last fragment's
   ``put_page`` frees it) and refill.
3. The count is 0 but the page is pfmemalloc: free it and refill — reserve pages are never
   recycled.
4. Otherwise **recycle**: ``set_page_count(MAX_SIZE + 1)``, reset bias and offset, start over.

A refill tries an order-3 page with direct reclaim stripped and ``__GFP_COMP | __GFP_NOWARN |
__GFP_NORETRY | __GFP_NOMEMALLOC`` added (so only the order-0 fallback, with the caller's gfp,
can be pfmemalloc), then ``page_ref_add(page, MAX_SIZE)``.

The series' API (v20 patches 07 and 10, see ``spec/mm-skb.md`` §2B) splits allocation into
``prepare`` (steps above, consumes nothing), ``commit`` (``bias - 1``: one reference to the
caller), ``commit_noref`` and ``abort``.  :class:`PageFragCacheCountdown` is the pre-v6.13
cache that hands fragments out downward from the end of the page.
"""

from __future__ import annotations

from typing import ClassVar, Final

from mypy_extensions import mypyc_attr

from ..errors import BadPageError
from .allocator import PageSource
from .frag_allocator import FragSpan
from .gfp import Gfp
from .page import (
    PAGE_MASK,
    PAGE_SIZE,
    Page,
    free_frozen_pages,
    get_order,
    page_ref_add,
    page_ref_sub_and_test,
    set_page_count,
)

__all__ = [
    "PAGE_FRAG_CACHE_MAX_ORDER",
    "PAGE_FRAG_CACHE_MAX_SIZE",
    "PAGE_FRAG_CACHE_ORDER_MASK",
    "PAGE_FRAG_CACHE_PFMEMALLOC_BIT",
    "PageFragCache",
    "PageFragCacheCountdown",
    "encoded_page_decode_order",
    "encoded_page_decode_pfmemalloc",
    "encoded_page_decode_virt",
]

#: 32 KiB rounded up to a whole number of pages (include/linux/mm_types_task.h).
PAGE_FRAG_CACHE_MAX_SIZE: Final = -(-32768 // PAGE_SIZE) * PAGE_SIZE
PAGE_FRAG_CACHE_MAX_ORDER: Final = get_order(PAGE_FRAG_CACHE_MAX_SIZE)
#: Low byte of ``encoded_page`` holds the order (include/linux/page_frag_cache.h).
PAGE_FRAG_CACHE_ORDER_MASK: Final = 0xFF if PAGE_SIZE < PAGE_FRAG_CACHE_MAX_SIZE else 0
PAGE_FRAG_CACHE_PFMEMALLOC_BIT: Final = PAGE_FRAG_CACHE_ORDER_MASK + 1

_BIAS_FULL: Final = PAGE_FRAG_CACHE_MAX_SIZE + 1
_REFILL_STRIP: Final = ~int(Gfp.DIRECT_RECLAIM)
_REFILL_ADD: Final = int(Gfp.COMP | Gfp.NOWARN | Gfp.NORETRY | Gfp.NOMEMALLOC)


def encoded_page_decode_order(encoded_page: int) -> int:
    """``encoded_page_decode_order()``: the page order kept in the low bits."""
    return encoded_page & PAGE_FRAG_CACHE_ORDER_MASK


def encoded_page_decode_pfmemalloc(encoded_page: int) -> bool:
    """``encoded_page_decode_pfmemalloc()``."""
    return bool(encoded_page & PAGE_FRAG_CACHE_PFMEMALLOC_BIT)


def encoded_page_decode_virt(encoded_page: int) -> int:
    """``encoded_page_decode_virt()``: the page's address with the low bits masked off."""
    return encoded_page & PAGE_MASK


@mypyc_attr(allow_interpreted_subclasses=True)
class PageFragCache:
    """``struct page_frag_cache`` with the series' prepare / probe / commit / abort API."""

    __slots__ = ("_page", "allocator", "offset", "pagecnt_bias", "stats")

    name: ClassVar[str] = "page_frag_cache"

    def __init__(self, allocator: PageSource) -> None:
        self.allocator = allocator
        self.stats = allocator.stats
        self._page: Page | None = None
        self.offset = 0
        self.pagecnt_bias = 0

    # -- state as the kernel stores it -----------------------------------------------------

    @property
    def page(self) -> Page | None:
        """The cache's current page (``encoded_page_decode_page``), ``None`` when empty."""
        return self._page

    @property
    def encoded_page(self) -> int:
        """``virt | order | pfmemalloc bit``, or 0 when empty (``encoded_page_create``)."""
        page = self._page
        if page is None:
            return 0
        bit = PAGE_FRAG_CACHE_PFMEMALLOC_BIT if page.pfmemalloc else 0
        return page.virt | (page.order & PAGE_FRAG_CACHE_ORDER_MASK) | bit

    def is_pfmemalloc(self) -> bool:
        """``page_frag_cache_is_pfmemalloc()``."""
        return self._page is not None and self._page.pfmemalloc

    # -- refill, recycle, abandon ------------------------------------------------------------

    def _refill(self, gfp: int) -> Page | None:
        """``__page_frag_cache_refill`` + priming: order 3 without reclaim/reserves, else
        order 0 with ``gfp``; then ``page_ref_add(MAX_SIZE)`` and a full bias."""
        pa = self.allocator
        page: Page | None = None
        if PAGE_SIZE < PAGE_FRAG_CACHE_MAX_SIZE:
            page = pa.alloc_pages(
                (gfp & _REFILL_STRIP) | _REFILL_ADD, PAGE_FRAG_CACHE_MAX_ORDER, owner=self.name
            )
        if page is None:
            page = pa.alloc_pages(gfp, 0, owner=self.name)
        self._page = page
        if page is None:
            return None
        page.frag_owner = self
        page_ref_add(page, PAGE_FRAG_CACHE_MAX_SIZE)
        self.pagecnt_bias = _BIAS_FULL
        self.offset = self._start(page)
        self.stats.frag_refill += 1
        tracer = self.stats.tracer
        if tracer is not None:
            tracer.emit(
                "refill",
                "__page_frag_cache_refill",
                f"a new order-{page.order} page, {PAGE_FRAG_CACHE_MAX_SIZE} references "
                "prepaid in one page_ref_add",
                {"allocator": self.name, "pfn": page.pfn, "order": page.order, "bias": _BIAS_FULL},
            )
        return page

    def _start(self, page: Page) -> int:
        """Offset of a fresh page: 0 (count-up)."""
        return 0

    def _exhausted(self, page: Page, gfp: int) -> Page | None:
        """The current page has no room: recycle it, or abandon it and refill."""
        bias = self.pagecnt_bias
        if not page_ref_sub_and_test(page, bias):
            self.stats.frag_abandon += 1
            tracer = self.stats.tracer
            if tracer is not None:
                held = page.refcount
                tracer.emit(
                    "abandon",
                    "__page_frag_cache_prepare",
                    f"page full and {held} reference{'s' if held != 1 else ''} still held by "
                    "frags: the unused bias is given back and the page lives on until they "
                    "are freed",
                    {"allocator": self.name, "pfn": page.pfn, "bias": bias, "ref": held},
                )
            page.frag_owner = None
            return self._refill(gfp)
        if page.pfmemalloc:
            page.frag_owner = None
            free_frozen_pages(page)
            return self._refill(gfp)
        set_page_count(page, _BIAS_FULL)
        self.pagecnt_bias = _BIAS_FULL
        self.offset = self._start(page)
        self.stats.frag_recycle += 1
        tracer = self.stats.tracer
        if tracer is not None:
            tracer.emit(
                "recycle",
                "__page_frag_cache_prepare",
                "page full, and every frag on it was already freed (the count drained to the "
                "bias): the same page is carved again from the start, no allocation",
                {"allocator": self.name, "pfn": page.pfn, "offset": self.offset},
            )
        return page

    # -- FragAllocator ---------------------------------------------------------------------

    def prepare(
        self, fragsz: int, gfp: int, align: int = 1, *, want: int | None = None
    ) -> FragSpan | None:
        """``__page_frag_cache_prepare``: make room for ``fragsz`` bytes and describe all of
        it (``size`` = bytes left in the page after alignment).  Consumes nothing."""
        page = self._page
        if page is None:
            page = self._refill(gfp)
            if page is None:
                self.stats.frag_alloc_fail += 1
                return None
        size = page.size
        offset = (self.offset + align - 1) & -align
        if offset + fragsz > size:
            if fragsz > PAGE_SIZE:
                self.stats.frag_alloc_fail += 1
                return None
            page = self._exhausted(page, gfp)
            if page is None:
                self.stats.frag_alloc_fail += 1
                return None
            size = page.size
            offset = 0
        if self.stats.tracer is not None:
            self._trace_prepare(page, offset, size - offset)
        return FragSpan(page, offset, size - offset)

    def probe(self, fragsz: int, align: int = 1, *, want: int | None = None) -> FragSpan | None:
        """``page_frag_alloc_refill_probe``: the room if ``fragsz`` bytes fit; never allocates."""
        page = self._page
        if page is None:
            return None
        offset = (self.offset + align - 1) & -align
        if offset + fragsz > page.size:
            return None
        return FragSpan(page, offset, page.size - offset)

    def _consume(self, span: FragSpan, used: int) -> int:
        if span.page is not self._page or span.offset < self.offset:
            raise BadPageError(f"commit of a stale span {span!r} (cache at {self.offset})")
        if not 0 <= used <= span.size:
            raise BadPageError(f"commit of {used} bytes from a span of {span.size}")
        old = self.offset
        self.offset = span.offset + used
        return self.offset - old

    def commit(self, span: FragSpan, used: int) -> int:
        """``page_frag_commit``: consume ``used`` bytes; ``pagecnt_bias - 1`` hands the caller
        one prepaid reference.  Returns the bytes consumed, alignment padding included."""
        if self.pagecnt_bias <= 0 and span.page is self._page:
            raise BadPageError(f"page_frag_cache bias exhausted on {self._page!r}")
        true_size = self._consume(span, used)
        self.pagecnt_bias -= 1
        self.stats.frag_commit += 1
        if self.stats.tracer is not None:
            self._trace_commit(span.page, span.offset, used)
        return true_size

    def _trace_commit(self, page: Page, offset: int, used: int) -> None:
        tracer = self.stats.tracer
        if tracer is not None:
            tracer.emit(
                "commit",
                "page_frag_commit",
                "a new frag takes one prepaid reference: pagecnt_bias - 1, no atomic",
                {
                    "allocator": self.name,
                    "pfn": page.head.pfn,
                    "offset": offset,
                    "len": used,
                    "bias": self.pagecnt_bias,
                },
            )

    def _trace_prepare(self, page: Page, offset: int, room: int) -> None:
        tracer = self.stats.tracer
        if tracer is not None:
            tracer.emit(
                "prepare",
                "__page_frag_cache_prepare",
                "",
                {"allocator": self.name, "pfn": page.pfn, "offset": offset, "room": room},
            )

    def commit_noref(self, span: FragSpan, used: int) -> int:
        """``page_frag_commit_noref``: consume ``used`` bytes without handing out a reference."""
        true_size = self._consume(span, used)
        self.stats.frag_commit_noref += 1
        tracer = self.stats.tracer
        if tracer is not None:
            tracer.emit(
                "commit_noref",
                "page_frag_commit_noref",
                "merged into a frag that already holds a reference: no reference taken",
                {
                    "allocator": self.name,
                    "pfn": span.page.head.pfn,
                    "offset": span.offset,
                    "len": used,
                },
            )
        return true_size

    def abort(self, fragsz: int) -> None:
        """``page_frag_alloc_abort`` (v20): ``bias + 1`` and ``offset - fragsz``: undoes the last
        commit when nobody else took a reference (alignment padding is not given back)."""
        if self._page is None or fragsz > self.offset:
            raise BadPageError(f"abort({fragsz}) beyond offset {self.offset}")
        self.pagecnt_bias += 1
        self.offset -= fragsz
        self.stats.frag_abort += 1
        tracer = self.stats.tracer
        if tracer is not None:
            tracer.emit(
                "abort",
                "page_frag_alloc_abort",
                "the last commit is undone: bias + 1, offset back",
                {"allocator": self.name, "len": fragsz, "offset": self.offset},
            )

    def alloc(self, fragsz: int, gfp: int, align: int = 1) -> tuple[Page, int] | None:
        """``page_frag_alloc_align()``: a ``fragsz``-byte fragment ``(page, offset)`` owning
        one reference, or ``None``."""
        page = self._page
        if page is not None:
            offset = self.offset if align == 1 else (self.offset + align - 1) & -align
            end = offset + fragsz
            if end <= page.size:  # fast path: no refill, no atomic
                self.pagecnt_bias -= 1
                self.offset = end
                self.stats.frag_commit += 1
                if self.stats.tracer is not None:
                    self._trace_commit(page, offset, fragsz)
                return page, offset
        span = self.prepare(fragsz, gfp, align)
        if span is None:
            return None
        self.commit(span, fragsz)
        return span.page, span.offset

    def drain(self) -> None:
        """``page_frag_cache_drain``: give back the remaining bias; free the page if that was
        the last reference."""
        page = self._page
        if page is None:
            return
        self._page = None
        page.frag_owner = None
        self.offset = 0
        bias, self.pagecnt_bias = self.pagecnt_bias, 0
        if page.head._refcount == 0:
            raise BadPageError(f"draining a page with refcount 0: {page!r}")
        if page_ref_sub_and_test(page, bias):
            free_frozen_pages(page)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} page={self._page!r} offset={self.offset} "
            f"bias={self.pagecnt_bias}>"
        )


class PageFragCacheCountdown(PageFragCache):
    """The cache as it was before v6.13: fragments handed out **downward** from the end of the
    page, alignment rounding down (``__page_frag_alloc_align`` ≤ v6.12; spec §2.4).

    Each fragment sits *below* the previous one, so two consecutive fragments are never
    contiguous upward and ``skb_can_coalesce()`` never merges them: every write costs a new frag
    slot.  That — and the fact that a count-down fragment's start depends on its length, so
    ``prepare`` cannot offer "all the room that is left" — is why Part-1 of the series reversed
    the direction.

    As a ``FragAllocator``: ``prepare(fragsz, want=n)`` places a fragment of ``max(fragsz, n)``
    bytes (or whatever is left, if at least ``fragsz``) at the top of the free space and
    describes exactly that; ``commit`` moves the top down to the span's start.
    """

    __slots__ = ()

    name: ClassVar[str] = "page_frag_cache_countdown"

    def _start(self, page: Page) -> int:
        return page.size

    def _place(self, fragsz: int, align: int, want: int | None) -> int:
        n = fragsz if want is None or want < fragsz else want
        offset = self.offset - n
        if offset < 0 and self.offset >= fragsz:
            offset = 0
        return offset & -align if offset >= 0 else offset

    def prepare(
        self, fragsz: int, gfp: int, align: int = 1, *, want: int | None = None
    ) -> FragSpan | None:
        """Place ``max(fragsz, want)`` bytes at the top of the free space (refilling,
        recycling or abandoning as the old code did) and describe them."""
        page = self._page
        if page is None:
            page = self._refill(gfp)
            if page is None:
                self.stats.frag_alloc_fail += 1
                return None
        offset = self._place(fragsz, align, want)
        if offset < 0:
            page = self._exhausted(page, gfp)
            if page is None:
                self.stats.frag_alloc_fail += 1
                return None
            offset = self._place(fragsz, align, want)
            if offset < 0:
                self.stats.frag_alloc_fail += 1
                return None
        if self.stats.tracer is not None:
            self._trace_prepare(page, offset, self.offset - offset)
        return FragSpan(page, offset, self.offset - offset)

    def probe(self, fragsz: int, align: int = 1, *, want: int | None = None) -> FragSpan | None:
        """Where the next fragment would go, if it fits; changes nothing."""
        page = self._page
        if page is None:
            return None
        offset = self._place(fragsz, align, want)
        if offset < 0:
            return None
        return FragSpan(page, offset, self.offset - offset)

    def _consume(self, span: FragSpan, used: int) -> int:
        if span.page is not self._page or span.offset + span.size != self.offset:
            raise BadPageError(f"commit of a stale span {span!r} (cache at {self.offset})")
        if not 0 <= used <= span.size:
            raise BadPageError(f"commit of {used} bytes from a span of {span.size}")
        old = self.offset
        self.offset = span.offset
        return old - span.offset

    def abort(self, fragsz: int) -> None:
        """Give back the last fragment: ``bias + 1``, the top moves back up by ``fragsz``."""
        page = self._page
        if page is None or self.offset + fragsz > page.size:
            raise BadPageError(f"abort({fragsz}) beyond the end of the page")
        self.pagecnt_bias += 1
        self.offset += fragsz
        self.stats.frag_abort += 1
        tracer = self.stats.tracer
        if tracer is not None:
            tracer.emit(
                "abort",
                "page_frag_alloc_abort",
                "the last commit is undone: bias + 1, the top moves back up",
                {"allocator": self.name, "len": fragsz, "offset": self.offset},
            )

    def alloc(self, fragsz: int, gfp: int, align: int = 1) -> tuple[Page, int] | None:
        """The pre-v6.13 ``page_frag_alloc_align()``: ``offset = (offset - fragsz) & -align``."""
        page = self._page
        if page is not None:
            offset = (self.offset - fragsz) & -align if self.offset >= fragsz else -1
            if offset >= 0:
                self.pagecnt_bias -= 1
                self.offset = offset
                self.stats.frag_commit += 1
                if self.stats.tracer is not None:
                    self._trace_commit(page, offset, fragsz)
                return page, offset
        span = self.prepare(fragsz, gfp, align)
        if span is None:
            return None
        self.commit(span, span.size)
        return span.page, span.offset
