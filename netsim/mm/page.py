"""Pages: real bytes with a real reference count (include/linux/mm.h, include/linux/page_ref.h).

Model
-----
A :class:`Page` is what ``alloc_pages(gfp, order)`` returns: ``PAGE_SIZE << order`` bytes
(a ``bytearray`` owned by the page), a reference count that starts at 1, the allocation
``order``, and the ``pfmemalloc`` mark the allocator sets when the page came from the emergency
reserve.  A high-order page is a *compound* page: its 4 KiB sub-pages are reachable as tail
pages (:meth:`Page.subpage`), and every reference operation on a tail page acts on the head,
exactly as ``get_page()``/``put_page()`` act on the folio.

Contract (the xv6 ``bio.c`` way):

* ``get_page`` / ``page_ref_inc`` / ``page_ref_add`` take references; ``put_page`` drops one and
  gives the page back to its allocator when the count reaches 0.
* ``page_ref_sub_and_test`` and ``put_page_testzero`` only *test* for zero; the caller then frees
  with ``free_frozen_pages`` (the page_frag_cache recycles instead).
* Every operation on a freed page raises :class:`~netsim.errors.BadPageError`, as does a count
  going below zero.  The allocator reuses a freed page's ``bytearray`` but wraps it in a **new**
  ``Page`` with a new ``pfn``, and releases the old page's ``memoryview``: a stale reference can
  never alias a later allocation.

Each reference operation counts one call in the host's counters (``page_get``, ``page_put``,
``page_ref_add``, ``page_ref_sub_and_test``): the atomics the page_frag_cache series saves.
``page_ref_inc`` is counted as ``page_get`` (the same atomic increment); ``set_page_count`` is a
plain store and is not counted.

Addresses: ``page.virt`` is a kernel-like direct-map address (``PAGE_OFFSET + pfn * PAGE_SIZE``);
pfns are never reused and a compound page's pfn is aligned to its size, so tail pages have the
pfns that follow the head's and ``virt_to_page`` is well defined.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..errors import BadPageError

if TYPE_CHECKING:
    from ..stats import Counters
    from .allocator import PageAllocator

__all__ = [
    "PAGE_MASK",
    "PAGE_OFFSET",
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "Page",
    "compound_head",
    "free_frozen_pages",
    "get_order",
    "get_page",
    "page_address",
    "page_ref_add",
    "page_ref_count",
    "page_ref_inc",
    "page_ref_sub_and_test",
    "put_page",
    "put_page_testzero",
    "set_page_count",
]

PAGE_SHIFT: Final = 12
PAGE_SIZE: Final = 1 << PAGE_SHIFT
PAGE_MASK: Final = ~(PAGE_SIZE - 1)
#: Start of x86-64's direct map: ``page_address()`` of pfn 0.
PAGE_OFFSET: Final = 0xFFFF_8880_0000_0000


def get_order(size: int) -> int:
    """``get_order()``: the smallest order with ``PAGE_SIZE << order >= size``."""
    if size <= PAGE_SIZE:
        return 0
    return ((size - 1) >> PAGE_SHIFT).bit_length()


class Page:
    """One allocation from a :class:`~netsim.mm.PageAllocator` (or a tail page of one).

    Hand-written ``__slots__`` rather than attrs: pages are built only by the allocator, refer
    to themselves (``head``), and sit on the hot path.
    """

    __slots__ = (
        "_data",
        "_refcount",
        "_tails",
        "_view",
        "allocator",
        "frag_owner",
        "head",
        "index",
        "order",
        "owner",
        "pfmemalloc",
        "pfn",
        "size",
        "stats",
    )

    pfn: int
    order: int
    size: int
    pfmemalloc: bool
    head: Page
    index: int
    owner: str
    allocator: PageAllocator
    stats: Counters
    _refcount: int
    _data: bytearray | None
    _view: memoryview | None
    _tails: list[Page | None] | None

    def __init__(
        self,
        allocator: PageAllocator,
        pfn: int,
        order: int,
        data: bytearray | None,
        *,
        pfmemalloc: bool = False,
        owner: str = "",
        stats: Counters | None = None,
        head: Page | None = None,
        index: int = 0,
    ) -> None:
        """A head page of ``order`` over ``data``; or, with ``head`` and ``index``, the
        ``index``-th 4 KiB tail page of ``head`` (no data of its own, count 0: it acts on the
        head)."""
        self.allocator = allocator
        self.stats = allocator.stats if stats is None else stats
        self.pfn = pfn
        self.order = order
        self.size = PAGE_SIZE << order
        self.pfmemalloc = pfmemalloc
        self.owner = owner
        #: the fragment allocator now carving this page (set and cleared by it), so a picture
        #: of an skb can tell the allocator's prepaid bias from real holders — netsim's own
        #: field for the renderings (struct page has none)
        self.frag_owner: object | None = None
        self._tails = None
        if head is None:
            assert data is not None
            self._refcount = 1
            self.head = self
            self.index = 0
            self._data = data
            self._view = memoryview(data)
        else:
            assert head._view is not None
            self._refcount = 0
            self.head = head
            self.index = index
            self._data = None
            self._view = head._view[index * PAGE_SIZE :]

    @classmethod
    def _tail(cls, head: Page, index: int) -> Page:
        return cls(
            head.allocator,
            head.pfn + index,
            0,
            None,
            pfmemalloc=head.pfmemalloc,
            owner=head.owner,
            stats=head.stats,
            head=head,
            index=index,
        )

    # -- identity and geometry -------------------------------------------------------------

    @property
    def virt(self) -> int:
        """``page_address(page)``: this (sub)page's kernel virtual address."""
        return PAGE_OFFSET + (self.pfn << PAGE_SHIFT)

    @property
    def is_tail(self) -> bool:
        """True for a 4 KiB sub-page of a compound page other than its head."""
        return self.head is not self

    @property
    def freed(self) -> bool:
        """True once the page has gone back to its allocator."""
        return self.head._view is None

    def subpage(self, index: int) -> Page:
        """The ``index``-th 4 KiB page of this compound page (``nth_page``); ``0`` is the head.

        Tail page objects are created once and cached, so identity comparisons
        (``skb_can_coalesce`` compares ``struct page`` pointers) behave as in the kernel.
        """
        head = self.head
        _check_live(head)
        if index == 0:
            return head
        n = 1 << head.order
        if not 0 <= index < n:
            raise IndexError(f"sub-page {index} of an order-{head.order} page")
        if head._tails is None:
            head._tails = [None] * n
        tail = head._tails[index]
        if tail is None:
            tail = head._tails[index] = Page._tail(head, index)
        return tail

    # -- bytes -----------------------------------------------------------------------------

    @property
    def view(self) -> memoryview:
        """A writable ``memoryview`` from this (sub)page's first byte to the end of its compound
        page (an offset from a tail page may run past 4 KiB, as ``page_address(tail) + off``
        can in the kernel).

        Copies use slice assignment on it (``page.view[off:off + n] = src``), the fastest copy
        Python has.  Raises :class:`BadPageError` once the page is freed.
        """
        view = self._view
        if view is None or self.head._view is None:
            raise BadPageError(f"use after free: {self!r}")
        return view

    @property
    def data(self) -> bytearray | memoryview:
        """The page's bytes: the ``bytearray`` for a head page, a window of the head's
        ``memoryview`` for a tail page.  Raises :class:`BadPageError` once the page is freed."""
        if self.head is self:
            if self._data is None:
                raise BadPageError(f"use after free: {self!r}")
            return self._data
        return self.view

    # -- reference count -------------------------------------------------------------------

    @property
    def refcount(self) -> int:
        """``page_ref_count()`` of the compound head."""
        return self.head._refcount

    def __repr__(self) -> str:
        if self.head is not self:
            return f"<Page pfn={self.pfn:#x} tail {self.index} of {self.head!r}>"
        state = "freed" if self._view is None else f"ref={self._refcount}"
        flags = " pfmemalloc" if self.pfmemalloc else ""
        owner = f" owner={self.owner}" if self.owner else ""
        return f"<Page pfn={self.pfn:#x} order={self.order} {state}{flags}{owner}>"


def _check_live(head: Page) -> None:
    if head._view is None:
        raise BadPageError(f"use after free: {head!r}")


def _bad(op: str, head: Page) -> BadPageError:
    if head._view is None:
        return BadPageError(f"{op} on a freed page (use after free): {head!r}")
    return BadPageError(f"{op} on a page with refcount {head._refcount}: {head!r}")


def compound_head(page: Page) -> Page:
    """``compound_head()``: the head page of ``page``'s compound page."""
    return page.head


def page_address(page: Page) -> int:
    """``page_address()`` (include/linux/mm.h): the (sub)page's virtual address."""
    return page.virt


def page_ref_count(page: Page) -> int:
    """``page_ref_count()`` (include/linux/page_ref.h)."""
    return page.head._refcount


def get_page(page: Page) -> None:
    """``get_page()`` (include/linux/mm.h): take one reference on the compound head.

    Taking a reference on a page whose count is 0 is a bug (``VM_BUG_ON``) and raises.
    """
    head = page.head
    if head._refcount <= 0:
        raise _bad("get_page", head)
    head._refcount += 1
    head.stats.page_get += 1
    tracer = head.stats.tracer
    if tracer is not None:
        tracer.emit("get_page", "get_page", "", {"pfn": head.pfn, "ref": head._refcount})


def page_ref_inc(page: Page) -> None:
    """``page_ref_inc()`` (include/linux/page_ref.h): the increment the old TCP path uses per
    new frag; the same atomic as ``get_page``, so it is counted as ``page_get``."""
    get_page(page)


def page_ref_add(page: Page, nr: int) -> None:
    """``page_ref_add()`` (include/linux/page_ref.h): add ``nr`` references in one atomic."""
    head = page.head
    if head._refcount <= 0 or nr < 0:
        raise _bad(f"page_ref_add({nr})", head)
    head._refcount += nr
    head.stats.page_ref_add += 1
    tracer = head.stats.tracer
    if tracer is not None:
        tracer.emit(
            "page_ref_add", "page_ref_add", "", {"pfn": head.pfn, "nr": nr, "ref": head._refcount}
        )


def page_ref_sub_and_test(page: Page, nr: int) -> bool:
    """``page_ref_sub_and_test()`` (include/linux/page_ref.h): drop ``nr`` references in one
    atomic and report whether the count reached 0.  The page is **not** freed here; the caller
    decides (free it, or — in page_frag_cache — recycle it with ``set_page_count``)."""
    head = page.head
    count = head._refcount - nr
    if head._view is None or count < 0 or nr < 0:
        raise _bad(f"page_ref_sub_and_test({nr})", head)
    head._refcount = count
    head.stats.page_ref_sub_and_test += 1
    tracer = head.stats.tracer
    if tracer is not None:
        tracer.emit(
            "page_ref_sub_and_test",
            "page_ref_sub_and_test",
            "",
            {"pfn": head.pfn, "nr": nr, "ref": count},
        )
    return count == 0


def put_page_testzero(page: Page) -> bool:
    """``put_page_testzero()`` (include/linux/mm.h): drop one reference, report whether it was
    the last.  Counted as ``page_put``."""
    head = page.head
    if head._refcount <= 0:
        raise _bad("put_page", head)
    head._refcount -= 1
    head.stats.page_put += 1
    tracer = head.stats.tracer
    if tracer is not None:
        tracer.emit("put_page", "put_page_testzero", "", {"pfn": head.pfn, "ref": head._refcount})
    return head._refcount == 0


def put_page(page: Page) -> None:
    """``put_page()`` (include/linux/mm.h): drop one reference; at 0 the whole compound page
    goes back to its allocator."""
    head = page.head
    if head._refcount <= 0:
        raise _bad("put_page", head)
    head._refcount -= 1
    head.stats.page_put += 1
    tracer = head.stats.tracer
    if tracer is not None:
        tracer.emit("put_page", "put_page", "", {"pfn": head.pfn, "ref": head._refcount})
    if head._refcount == 0:
        head.allocator.free_pages(head)


def set_page_count(page: Page, count: int) -> None:
    """``set_page_count()`` (include/linux/page_ref.h): a plain store, legal only on a page
    nobody else can see — page_frag_cache uses it to recycle a page whose count drained to 0."""
    head = page.head
    _check_live(head)
    if count < 0:
        raise BadPageError(f"set_page_count({count}): {head!r}")
    head._refcount = count


def free_frozen_pages(page: Page) -> None:
    """``free_frozen_pages()`` (mm/page_alloc.c; ``free_unref_page`` before ~6.15): free a page
    whose count is already 0."""
    head = page.head
    if head._refcount != 0:
        raise _bad("free_frozen_pages", head)
    head.allocator.free_pages(head)
