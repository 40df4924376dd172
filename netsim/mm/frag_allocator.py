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

from collections.abc import Callable
from importlib import metadata
from typing import TYPE_CHECKING, NamedTuple

from .frag_protocol import FragAllocator as FragAllocator

if TYPE_CHECKING:
    from .allocator import PageSource
    from .page import Page

__all__ = [
    "ENTRY_POINT_GROUP",
    "FragAllocator",
    "FragAllocatorFactory",
    "FragSpan",
    "available_frag_allocators",
    "get_frag_allocator",
]

ENTRY_POINT_GROUP = "netsim.frag_allocators"


class FragSpan(NamedTuple):
    """Room described by ``prepare``/``probe``: the kernel's on-stack ``struct page_frag``.

    ``size`` is the room from ``offset`` on (not the page size): the most a caller may commit.
    """

    page: Page
    offset: int
    size: int


FragAllocatorFactory = Callable[["PageSource"], FragAllocator]


def _builtins() -> dict[str, FragAllocatorFactory]:
    from .page_frag import PageFrag
    from .page_frag_cache import PageFragCache, PageFragCacheCountdown

    return {
        "page_frag": PageFrag,
        "page_frag_cache": PageFragCache,
        "page_frag_cache_countdown": PageFragCacheCountdown,
    }


def available_frag_allocators() -> dict[str, FragAllocatorFactory]:
    """Every allocator by name: the built-ins, then the ``netsim.frag_allocators`` entry points.

    The entry points are read on every call, so a distribution installed (or a path added to
    ``sys.path``) at run time is seen.  A broken entry point is skipped here and reported by
    :func:`get_frag_allocator` when asked for by name.
    """
    found = _builtins()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue
        try:
            found[ep.name] = ep.load()
        except Exception:
            continue
    return found


def get_frag_allocator(name: str) -> FragAllocatorFactory:
    """The factory registered as ``name``: ``get_frag_allocator("page_frag_cache")(pa)``.

    Raises ``ValueError`` naming the available allocators when ``name`` is unknown, and
    re-raises an entry point's import error with context.
    """
    builtins = _builtins()
    if name in builtins:
        return builtins[name]
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            factory: FragAllocatorFactory = ep.load()
        except Exception as exc:
            raise ValueError(f"frag allocator {name!r} ({ep.value}) failed to load") from exc
        if not callable(factory):
            raise ValueError(f"frag allocator {name!r} ({ep.value}) is not callable")
        return factory
    names = ", ".join(sorted(available_frag_allocators()))
    raise ValueError(f"unknown frag allocator {name!r}; available: {names}")
