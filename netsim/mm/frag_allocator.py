"""The fragment-allocator protocol behind ``sk_page_frag()``, and the registry of allocators.

Model
-----
The page_frag_cache series gives every fragment user one API — *prepare* room, copy, *commit*
what was used — and netsim writes its protocol code against exactly that API, once.  Each
allocator implements it on its own terms:

=================  ============================================================================
call               meaning
=================  ============================================================================
``prepare``        make sure at least ``fragsz`` bytes are available (may refill, recycle or
                   abandon a page) and describe the room as a :class:`FragSpan`
                   ``(page, offset, size)``; consumes nothing.  ``None`` when memory runs out.
``probe``          the same description without ever allocating or changing anything.
``commit``         consume ``used`` bytes of a span and hand the caller **one page reference**
                   (page_frag_cache: ``pagecnt_bias - 1``, no atomic; old page_frag:
                   ``get_page()``).  Returns the bytes consumed including alignment padding.
``commit_noref``   consume without a reference — the bytes were merged into a frag that
                   already holds one (``skb_can_coalesce()`` said yes).
``abort``          give back the last commit of ``fragsz`` bytes and its reference.
``alloc``          ``page_frag_alloc_align()``: prepare + commit in one call.
``drain``          drop the allocator's own hold on its current page.
=================  ============================================================================

The old ``struct page_frag`` implements ``commit`` as ``get_page()`` + offset advance, which is
precisely what ``tcp_sendmsg_locked`` did before the series — so the same protocol code runs on
both, and the counters show the difference (one ``page_get`` per new frag versus one
``page_ref_add`` per 32 KiB refill).

``want`` is a netsim extension for allocators whose fragment position depends on its length
(the count-down cache): the caller passes the number of bytes it intends to use, and the span is
sized to it.  Count-up allocators offer all their room and ignore it.

Registry
--------
Allocators are found by name: the built-ins (``page_frag``, ``page_frag_cache``,
``page_frag_cache_countdown``) plus whatever installed distributions declare in the entry-point
group ``netsim.frag_allocators``.  An entry point names a callable taking the host's
:class:`~netsim.mm.PageAllocator` and returning a :class:`FragAllocator`.  A host calls it with
one of its allocator's accounts (:class:`~netsim.mm.PageAccount`, ``"sk_page_frag"``), which
offers the same ``alloc_pages`` and ``stats``: an allocator that allocates and counts through
what it was given has its figures reported apart from the NICs' RX buffers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from .frag_protocol import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from .frag_protocol import FragAllocator as FragAllocator
from .frag_protocol import FragAllocatorFactory as FragAllocatorFactory
from .frag_protocol import available_frag_allocators as available_frag_allocators
from .frag_protocol import get_frag_allocator as get_frag_allocator

if TYPE_CHECKING:
    from .page import Page

__all__ = [
    "ENTRY_POINT_GROUP",
    "FragAllocator",
    "FragAllocatorFactory",
    "FragSpan",
    "available_frag_allocators",
    "get_frag_allocator",
]


@final
class FragSpan:
    """Room described by ``prepare``/``probe``: the kernel's on-stack ``struct page_frag``.

    ``size`` is the room from ``offset`` on (not the page size): the most a caller may commit.
    A value: equal spans compare equal.  (A slots class rather than a ``NamedTuple``: one is
    made per copy into a frag, and a compiled class is built without a Python-level call.)
    """

    __slots__ = ("offset", "page", "size")

    def __init__(self, page: Page, offset: int, size: int) -> None:
        self.page = page
        self.offset = offset
        self.size = size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FragSpan):
            return NotImplemented
        return self.page is other.page and self.offset == other.offset and self.size == other.size

    def __hash__(self) -> int:
        return hash((id(self.page), self.offset, self.size))

    def __repr__(self) -> str:
        return f"FragSpan(page={self.page!r}, offset={self.offset}, size={self.size})"
