"""The old transmit allocator: ``struct page_frag`` + ``skb_page_frag_refill()``.

Model (include/linux/mm_types_task.h, net/core/sock.c)
-----------------------------------------------------
A ``page_frag`` is ``{page, offset, size}``: the current page (order 3 when it can get one),
the first free byte, and the page's size.  The page_frag itself owns **one** reference on
``page``; every skb frag that points into the page owns one more, taken with ``get_page()``
when the frag slot is created.  Coalescing into the previous slot takes none.

``skb_page_frag_refill(sz, pfrag, gfp)`` runs, in order:

1. If there is a page and its refcount is 1 — nobody but the pfrag uses it — restart it at
   offset 0 (``frag_reuse``), whether or not room remained.
2. Else if ``offset + sz <= size``: keep it.
3. Else ``put_page()`` it (``frag_abandon``: its last user frees it) and allocate: first an
   order-3 compound page with direct reclaim stripped and ``__GFP_COMP | __GFP_NOWARN |
   __GFP_NORETRY`` added (unless ``net.core.high_order_alloc_disable``), then one order-0 page
   with the caller's gfp.  On failure ``page`` is ``None``.

Invariant: ``page_ref_count(page) == 1 + live frag slots and other holders`` while ``page`` is
current.

As a :class:`~netsim.mm.FragAllocator`, ``prepare`` is the refill, ``commit`` is ``get_page()``
plus the offset advance (what ``tcp_sendmsg_locked`` does after ``skb_fill_page_desc``), and
``commit_noref`` only advances the offset.
"""

from __future__ import annotations

from typing import ClassVar, Final

from mypy_extensions import mypyc_attr

from ..errors import BadPageError
from .allocator import PageSource
from .frag_allocator import FragSpan
from .gfp import Gfp
from .page import PAGE_SIZE, Page, get_order, get_page, put_page

__all__ = ["SKB_FRAG_PAGE_ORDER", "PageFrag"]

#: ``SKB_FRAG_PAGE_ORDER`` (include/net/sock.h): ``get_order(32768)``, 3 on 4 KiB pages.
SKB_FRAG_PAGE_ORDER: Final = get_order(32768)

_HIGH_ORDER_STRIP: Final = ~int(Gfp.DIRECT_RECLAIM)
_HIGH_ORDER_ADD: Final = int(Gfp.COMP | Gfp.NOWARN | Gfp.NORETRY)


@mypyc_attr(allow_interpreted_subclasses=True)
class PageFrag:
    """``struct page_frag`` with ``skb_page_frag_refill()``, usable as a ``FragAllocator``."""

    __slots__ = ("allocator", "offset", "page", "size", "stats")

    name: ClassVar[str] = "page_frag"

    def __init__(self, allocator: PageSource) -> None:
        self.allocator = allocator
        self.stats = allocator.stats
        self.page: Page | None = None
        self.offset = 0
        self.size = 0

    def refill(self, sz: int, gfp: int) -> bool:
        """``skb_page_frag_refill(sz, pfrag, gfp)`` (net/core/sock.c), as described above."""
        page = self.page
        if page is not None:
            if page.head._refcount == 1:
                if self.offset:
                    self.stats.frag_reuse += 1
                    tracer = self.stats.tracer
                    if tracer is not None:
                        tracer.emit(
                            "reuse",
                            "skb_page_frag_refill",
                            "every frag on the page was freed (refcount 1: only ours): "
                            "start again at offset 0",
                            {"allocator": self.name, "pfn": page.pfn, "was": self.offset},
                        )
                self.offset = 0
                return True
            if self.offset + sz <= self.size:
                return True
            self.stats.frag_abandon += 1
            tracer = self.stats.tracer
            if tracer is not None:
                held = page.head._refcount - 1
                tracer.emit(
                    "abandon",
                    "skb_page_frag_refill",
                    f"fewer than {sz} bytes left and {held} reference{'s' if held != 1 else ''} "
                    "still held by frags: put_page our reference, the page lives on until "
                    "they are freed",
                    {"allocator": self.name, "pfn": page.pfn, "offset": self.offset, "ref": held},
                )
            page.frag_owner = None
            put_page(page)
        self.offset = 0
        pa = self.allocator
        new: Page | None = None
        if SKB_FRAG_PAGE_ORDER and not pa.net_high_order_alloc_disable:
            high_gfp = (gfp & _HIGH_ORDER_STRIP) | _HIGH_ORDER_ADD
            new = pa.alloc_pages(high_gfp, SKB_FRAG_PAGE_ORDER, owner=self.name)
        if new is None:
            new = pa.alloc_pages(gfp, 0, owner=self.name)
        self.page = new
        if new is None:
            self.size = 0
            return False
        new.frag_owner = self
        self.size = new.size
        self.stats.frag_refill += 1
        tracer = self.stats.tracer
        if tracer is not None:
            tracer.emit(
                "refill",
                "skb_page_frag_refill",
                f"a new order-{new.order} page; the allocator keeps one reference, each new "
                "frag takes its own with get_page",
                {"allocator": self.name, "pfn": new.pfn, "order": new.order, "size": new.size},
            )
        return True

    # -- FragAllocator ---------------------------------------------------------------------

    def prepare(
        self, fragsz: int, gfp: int, align: int = 1, *, want: int | None = None
    ) -> FragSpan | None:
        """Refill for ``fragsz`` bytes (plus alignment padding) and describe all the room."""
        pad = -self.offset % align if self.page is not None else 0
        if not self.refill(fragsz + pad, gfp):
            self.stats.frag_alloc_fail += 1
            return None
        page = self.page
        assert page is not None
        offset = -(-self.offset // align) * align if align > 1 else self.offset
        if offset + fragsz > self.size:
            # only an order-0 fallback page can be too small (fragsz > PAGE_SIZE)
            self.stats.frag_alloc_fail += 1
            return None
        tracer = self.stats.tracer
        if tracer is not None:
            tracer.emit(
                "prepare",
                "skb_page_frag_refill",
                "",
                {
                    "allocator": self.name,
                    "pfn": page.pfn,
                    "offset": offset,
                    "room": self.size - offset,
                },
            )
        return FragSpan(page, offset, self.size - offset)

    def probe(self, fragsz: int, align: int = 1, *, want: int | None = None) -> FragSpan | None:
        """The current room, if ``fragsz`` bytes fit; changes nothing."""
        page = self.page
        if page is None:
            return None
        offset = -(-self.offset // align) * align if align > 1 else self.offset
        if offset + fragsz > self.size:
            return None
        return FragSpan(page, offset, self.size - offset)

    def _consume(self, span: FragSpan, used: int) -> int:
        if span.page is not self.page or span.offset < self.offset:
            raise BadPageError(f"commit of a stale span {span!r} (page_frag at {self.offset})")
        if not 0 <= used <= span.size:
            raise BadPageError(f"commit of {used} bytes from a span of {span.size}")
        old = self.offset
        self.offset = span.offset + used
        return self.offset - old

    def commit(self, span: FragSpan, used: int) -> int:
        """``get_page()`` + ``offset += used``: the new frag slot owns one reference."""
        true_size = self._consume(span, used)
        get_page(span.page)
        self.stats.frag_commit += 1
        if self.stats.tracer is not None:
            self._trace_commit(span.page, span.offset, used)
        return true_size

    def _trace_commit(self, page: Page, offset: int, used: int) -> None:
        tracer = self.stats.tracer
        if tracer is not None:
            tracer.emit(
                "commit",
                "page_ref_inc",
                "a new frag takes its own reference: one get_page (an atomic)",
                {"allocator": self.name, "pfn": page.head.pfn, "offset": offset, "len": used},
            )

    def commit_noref(self, span: FragSpan, used: int) -> int:
        """``offset += used`` only: the bytes were merged into a slot that holds a reference."""
        true_size = self._consume(span, used)
        self.stats.frag_commit_noref += 1
        tracer = self.stats.tracer
        if tracer is not None:
            tracer.emit(
                "commit_noref",
                "skb_frag_size_add",
                "merged into a frag that already holds a reference: no get_page",
                {
                    "allocator": self.name,
                    "pfn": span.page.head.pfn,
                    "offset": span.offset,
                    "len": used,
                },
            )
        return true_size

    def abort(self, fragsz: int) -> None:
        """Undo the last ``commit`` of ``fragsz`` bytes: ``put_page()`` and rewind the offset."""
        page = self.page
        if page is None or fragsz > self.offset:
            raise BadPageError(f"abort({fragsz}) beyond offset {self.offset}")
        put_page(page)
        self.offset -= fragsz
        self.stats.frag_abort += 1
        tracer = self.stats.tracer
        if tracer is not None:
            tracer.emit(
                "abort",
                "put_page",
                "the last commit is undone: put_page, offset back",
                {"allocator": self.name, "len": fragsz, "offset": self.offset},
            )

    def alloc(self, fragsz: int, gfp: int, align: int = 1) -> tuple[Page, int] | None:
        """A ``fragsz``-byte fragment with one reference (refill + ``get_page`` + advance)."""
        page = self.page
        if page is not None and page.head._refcount != 1:
            offset = self.offset if align == 1 else -(-self.offset // align) * align
            end = offset + fragsz
            if end <= self.size:  # fast path: room left, page shared (no restart due)
                self.offset = end
                get_page(page)
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
        """Drop the pfrag's reference (``do_exit`` / ``__sk_destruct`` / ``tcp_disconnect``)."""
        page = self.page
        if page is not None:
            self.page = None
            self.offset = 0
            self.size = 0
            page.frag_owner = None
            put_page(page)

    def __repr__(self) -> str:
        return f"<PageFrag page={self.page!r} offset={self.offset} size={self.size}>"


assert PAGE_SIZE << SKB_FRAG_PAGE_ORDER == 32768
