"""The page allocator: ``alloc_pages()`` / ``free_pages`` for one emulated host (mm/page_alloc.c).

Model
-----
A host's memory is a :class:`PageAllocator`.  It hands out :class:`~netsim.mm.Page` objects of a
given order and takes them back when their count reaches 0.  It is deliberately small — no zones,
no buddies — but keeps the behaviours the transmit path depends on:

* **Memory limit and watermark.**  With ``limit`` set, allocations fail once the pages in use
  would exceed it.  The last ``reserve`` bytes sit below the *min watermark*: an ordinary
  allocation may not take them, a ``__GFP_HIGH`` one may take half, ``GFP_ATOMIC`` (high and
  non-blocking) five eighths, and one that
  is allowed to ignore watermarks (``__GFP_MEMALLOC`` without ``__GFP_NOMEMALLOC``,
  ``gfp_pfmemalloc_allowed``) may take all of them — and its page comes back marked
  ``pfmemalloc``, as ``ALLOC_NO_WATERMARKS`` pages do.  Holders of such pages should give them
  back quickly; page_frag_cache never recycles one.
* **Free lists per order.**  A freed page's ``bytearray`` is kept and reused for the next
  allocation of the same order: no new ``bytearray`` when a freed one fits.  The ``Page`` object
  is always new (see :mod:`netsim.mm.page`).
* **Deterministic fault injection**, evaluated in this order for each call:
  ``fail_high_order`` (every order > 0 allocation fails, as under fragmentation),
  ``fail_every`` (the Nth, 2Nth … call fails), ``fail_probability`` (drawn from a
  ``random.Random(seed)``).  All three may be changed at any time.
* **Counters** (calls): ``page_alloc``, ``page_free``, ``page_alloc_fail`` with per-order
  breakdowns, and ``page_alloc_pfmemalloc``.
* **Accounts.**  :meth:`PageAllocator.account` gives one user of the memory — the sockets'
  ``sk_page_frag()`` allocators, a NIC's RX buffer cache — a :class:`PageAccount`: the same
  pages, limits, faults and leak tracking, but its own :class:`~netsim.stats.Counters`.  A
  page remembers the counters it was allocated under (``page.stats``), so everything that
  happens to it later — ``get_page``/``put_page`` by whichever skb holds it, its free — is
  counted there too, and the fragment allocator built on the account counts its refills and
  recycles there.  :meth:`PageAllocator.snapshot` gives the totals (the allocator's own
  counters plus every account's) with each account's share in ``accounts``.
* **Leak accounting**: every live page is tracked; :meth:`pages_in_use`, :meth:`leak_report`
  and :meth:`assert_no_leaks` say what is still referenced.

``net_high_order_alloc_disable`` mirrors the host's ``net.core.high_order_alloc_disable`` sysctl
(a static key in net/core/sock.c) so that the old ``page_frag`` refill can read it; the host
writes it.  Everything here is synchronous and single-threaded: a host runs on one trio thread.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final, Protocol

from ..errors import BadPageError, MemoryLimitWarning, PageLeakError
from ..stats import MAX_PAGE_ORDER, Counters, StatsSnapshot, Tracer
from .gfp import Gfp, gfp_pfmemalloc_allowed
from .page import PAGE_SHIFT, PAGE_SIZE, Page

__all__ = ["PageAccount", "PageAllocator", "PageSource", "track_page_allocators"]

# Leak checks in test suites need every allocator a test creates, including those built deep
# inside hosts.  A context variable (not a global list) carries the collecting list: trio tasks
# inherit it, and code outside a ``track_page_allocators()`` block pays one ``get()``.
_tracking: ContextVar[list[PageAllocator] | None] = ContextVar(
    "netsim_page_allocators", default=None
)


@contextmanager
def track_page_allocators() -> Iterator[list[PageAllocator]]:
    """Collect every :class:`PageAllocator` created in this context (and in trio tasks started
    from it) into the yielded list — what the pytest plugin's leak check walks at teardown."""
    created: list[PageAllocator] = []
    token = _tracking.set(created)
    try:
        yield created
    finally:
        _tracking.reset(token)


_GFP_HIGH: Final = int(Gfp.HIGH)
_GFP_ZERO: Final = int(Gfp.ZERO)
#: the bits that make an allocation not GFP_ATOMIC's kind (it may block, or may not dip)
_GFP_NOT_ATOMIC: Final = int(Gfp.DIRECT_RECLAIM | Gfp.NOMEMALLOC)
_POISON_FREE: Final = 0x6B  # the kernel's POISON_FREE byte
_ZERO_PAGE: Final = bytes(PAGE_SIZE << 3)


class PageAllocator:
    """Pages for one host.  All arguments are keyword-only and may be changed later as attributes.

    Args:
        limit: bytes of page memory the host may use (``None``: unlimited).
        reserve: bytes below the min watermark (default: 1/32 of ``limit``, at least one
            order-3 page).  Ignored without ``limit``.  A ``limit`` at or below the default
            reserve leaves nothing for ordinary allocations and warns
            (:class:`~netsim.errors.MemoryLimitWarning`).  Size a limit for what will hold
            pages at once: a NIC's RX cache and each socket's frag allocator take 32 KiB
            pages, so a TCP flow over a link wants about 128 KiB — at 64 KiB (32 KiB above
            the reserve) one RX page can leave a writer waiting for memory indefinitely.
        fail_high_order: fail every allocation of order > 0.
        fail_every: fail every Nth call (0: never).
        fail_probability: fail each call with this probability, from ``random.Random(seed)``.
        seed: seed for ``fail_probability``.
        poison: fill freed pages with ``0x6b`` (``POISON_FREE``) so stale reads show.
        stats: the counters to increment (a host passes its own; default: a new one).
    """

    def __init__(
        self,
        *,
        limit: int | None = None,
        reserve: int | None = None,
        fail_high_order: bool = False,
        fail_every: int = 0,
        fail_probability: float = 0.0,
        seed: int = 0,
        poison: bool = False,
        stats: Counters | None = None,
    ) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        if fail_every < 0:
            raise ValueError(f"fail_every must be >= 0, not {fail_every}")
        if not 0.0 <= fail_probability <= 1.0:
            raise ValueError(f"fail_probability must be in [0, 1], not {fail_probability}")
        self.stats = stats if stats is not None else Counters()
        self.limit = limit
        if reserve is None:
            reserve = 0 if limit is None else max(limit // 32, PAGE_SIZE << 3)
            if limit is not None and limit <= reserve:
                warnings.warn(
                    f"page limit of {limit} bytes is at or below its reserve of {reserve} "
                    f"bytes (the min watermark: at least {PAGE_SIZE << 3} bytes): no "
                    "ordinary allocation can succeed, so sockets get no page frags and wait "
                    "for memory forever; only GFP_ATOMIC and __GFP_MEMALLOC allocations dip "
                    "into the reserve. Give a larger limit (a TCP flow over a link wants "
                    "about 128 KiB), or an explicit reserve.",
                    MemoryLimitWarning,
                    stacklevel=2,
                )
        self.reserve = reserve
        self.fail_high_order = fail_high_order
        self.fail_every = fail_every
        self.fail_probability = fail_probability
        self.rng = random.Random(seed)
        self.poison = poison
        self.net_high_order_alloc_disable = False
        self._calls = 0
        self._next_pfn = 0x1000  # leave the low pfns unused, like a real memory map
        self._pages_used = 0  # in units of PAGE_SIZE
        self._free_lists: list[list[bytearray]] = [[] for _ in range(MAX_PAGE_ORDER + 1)]
        self._live: dict[int, Page] = {}
        self.accounts: dict[str, PageAccount] = {}
        sink = _tracking.get()
        if sink is not None:
            sink.append(self)

    # -- allocation ------------------------------------------------------------------------

    def alloc_pages(self, gfp: int, order: int, *, owner: str = "") -> Page | None:
        """``alloc_pages(gfp, order)``: a new page with refcount 1, or ``None`` on failure.

        ``owner`` names the caller in leak reports (e.g. ``"page_frag_cache"``).
        """
        return self._alloc_pages(gfp, order, owner, self.stats)

    def _alloc_pages(self, gfp: int, order: int, owner: str, stats: Counters) -> Page | None:
        if not 0 <= order <= MAX_PAGE_ORDER:
            raise ValueError(f"order must be in [0, {MAX_PAGE_ORDER}], not {order}")
        self._calls += 1
        pfmemalloc = False
        nr = 1 << order
        if self._injected_failure(order):
            _fail(stats, order)
            return None
        if self.limit is not None:
            free = (self.limit >> PAGE_SHIFT) - self._pages_used - nr
            wmark = self.reserve >> PAGE_SHIFT
            if gfp & _GFP_HIGH:
                # __zone_watermark_ok(): ALLOC_MIN_RESERVE takes half the min reserve; one
                # that also may not block (ALLOC_NON_BLOCK: GFP_ATOMIC) a quarter of the rest,
                # so GFP_ATOMIC leaves 3/8 of min untouched
                wmark -= wmark >> 1
                if not gfp & _GFP_NOT_ATOMIC:
                    wmark -= wmark >> 2
            if free < wmark:
                if free < 0 or not gfp_pfmemalloc_allowed(gfp):
                    _fail(stats, order)
                    return None
                pfmemalloc = True
        free_list = self._free_lists[order]
        if free_list:
            data = free_list.pop()
            if gfp & _GFP_ZERO:
                data[:] = _zeroes(len(data))
        else:
            data = bytearray(PAGE_SIZE << order)
        pfn = (self._next_pfn + nr - 1) & -nr
        self._next_pfn = pfn + nr
        page = Page(self, pfn, order, data, pfmemalloc=pfmemalloc, owner=owner, stats=stats)
        self._live[pfn] = page
        self._pages_used += nr
        stats.page_alloc += 1
        stats.page_alloc_order[order] += 1
        tracer = stats.tracer
        if tracer is not None:
            tracer.emit(
                "page_alloc", "alloc_pages", "", {"pfn": pfn, "order": order, "owner": owner}
            )
        if pfmemalloc:
            stats.page_alloc_pfmemalloc += 1
        return page

    def alloc_page(self, gfp: int, *, owner: str = "") -> Page | None:
        """``alloc_page(gfp)``: an order-0 page."""
        return self.alloc_pages(gfp, 0, owner=owner)

    def _injected_failure(self, order: int) -> bool:
        if self.fail_high_order and order > 0:
            return True
        if self.fail_every and self._calls % self.fail_every == 0:
            return True
        return bool(self.fail_probability) and self.rng.random() < self.fail_probability

    # -- freeing ---------------------------------------------------------------------------

    def free_pages(self, page: Page) -> None:
        """Take back a head page whose count is 0 (``__free_pages`` / ``free_frozen_pages``).

        Called by ``put_page`` at zero; calling it on a referenced or already freed page raises.
        """
        if page.head is not page:
            raise BadPageError(f"free_pages on a tail page: {page!r}")
        data = page._data
        if data is None or self._live.get(page.pfn) is not page:
            raise BadPageError(f"double free: {page!r}")
        if page._refcount != 0:
            raise BadPageError(f"freeing a page with refcount {page._refcount}: {page!r}")
        del self._live[page.pfn]
        self._pages_used -= 1 << page.order
        if page._tails is not None:
            for tail in page._tails:
                if tail is not None and tail._view is not None:
                    tail._view.release()  # a stale tail view must not alias a later page
                    tail._view = None
        page._data = None
        view = page._view
        page._view = None
        if view is not None:
            view.release()
        if self.poison:
            data[:] = bytes([_POISON_FREE]) * len(data)
        self._free_lists[page.order].append(data)
        stats = page.stats
        stats.page_free += 1
        stats.page_free_order[page.order] += 1
        tracer = stats.tracer
        if tracer is not None:
            tracer.emit(
                "page_free",
                "free_pages",
                "the last reference was dropped",
                {"pfn": page.pfn, "order": page.order},
            )

    # -- accounts and counters --------------------------------------------------------------

    def set_tracer(self, tracer: Tracer | None) -> None:
        """Attach ``tracer`` to these counters and every account's (and to accounts made
        later); ``None`` detaches it.  See :mod:`netsim.stats.trace`."""
        self.stats.tracer = tracer
        for account in self.accounts.values():
            account.stats.tracer = tracer

    def account(self, name: str) -> PageAccount:
        """The account ``name`` (created on first use): memory from this allocator, counted
        apart.  Asking again for the same name gives the same account, so its counts survive
        the fragment allocators built on it."""
        account = self.accounts.get(name)
        if account is None:
            account = self.accounts[name] = PageAccount(self, name)
            account.stats.tracer = self.stats.tracer
        return account

    def snapshot(self) -> StatsSnapshot:
        """Every counter, totalled over this allocator's own counters and its accounts'; each
        account's share is in the snapshot's ``accounts``."""
        return self.stats.snapshot({n: a.stats for n, a in self.accounts.items()})

    # -- accounting ------------------------------------------------------------------------

    def pages_in_use(self) -> int:
        """Live allocations (a compound page counts once); 0 when everything was given back."""
        return len(self._live)

    def bytes_in_use(self) -> int:
        """Bytes of page memory currently allocated."""
        return self._pages_used << PAGE_SHIFT

    def live_pages(self) -> list[Page]:
        """The pages not yet freed, oldest first."""
        return list(self._live.values())

    def virt_to_page(self, virt: int) -> Page:
        """``virt_to_page()``: the live (sub)page containing kernel virtual address ``virt``."""
        from .page import PAGE_OFFSET

        pfn = (virt - PAGE_OFFSET) >> PAGE_SHIFT
        for order in range(MAX_PAGE_ORDER + 1):
            head = self._live.get(pfn & -(1 << order))
            if head is not None and pfn - head.pfn < (1 << head.order):
                return head.subpage(pfn - head.pfn)
        raise BadPageError(f"virt_to_page({virt:#x}): no live page there")

    def leak_report(self) -> str:
        """One line per live page with its refcount; empty when nothing is live."""
        live = self.live_pages()
        if not live:
            return ""
        total = sum(p.size for p in live)
        lines = [f"{len(live)} page(s) still referenced ({total} bytes):"]
        for page in live:
            flags = " pfmemalloc" if page.pfmemalloc else ""
            owner = page.owner or "?"
            lines.append(
                f"  pfn {page.pfn:#x} order {page.order} refcount {page._refcount}"
                f"{flags} owner {owner}"
            )
        return "\n".join(lines)

    def assert_no_leaks(self, context: str = "") -> None:
        """Raise :class:`~netsim.errors.PageLeakError` if any page is still referenced."""
        if self._live:
            where = f" {context}" if context else ""
            raise PageLeakError(f"page leak{where}", self.leak_report())

    def __repr__(self) -> str:
        limit = "unlimited" if self.limit is None else f"{self.limit} bytes"
        return f"<PageAllocator {len(self._live)} live pages, limit {limit}>"


class PageSource(Protocol):
    """What a fragment allocator needs from the memory it carves: a :class:`PageAllocator`
    or one of its :class:`PageAccount`\\ s."""

    @property
    def stats(self) -> Counters:
        """Where the fragment allocator counts, and where its pages' events are counted."""

    @property
    def net_high_order_alloc_disable(self) -> bool:
        """``net.core.high_order_alloc_disable`` of the host."""

    def alloc_pages(self, gfp: int, order: int, *, owner: str = "") -> Page | None:
        """``alloc_pages(gfp, order)``."""


class PageAccount:
    """A share of a host's memory with its own counters: what a memory cgroup's statistics
    are to the kernel's page allocator.  Pages come from :attr:`allocator` (its limit,
    reserve, fault injection and leak tracking apply); their allocation, refcount operations
    and free, and the counts of the fragment allocator built on the account, go to
    :attr:`stats`.  Made by :meth:`PageAllocator.account`."""

    __slots__ = ("allocator", "name", "stats")

    def __init__(self, allocator: PageAllocator, name: str) -> None:
        self.allocator = allocator
        self.name = name
        self.stats = Counters()

    @property
    def net_high_order_alloc_disable(self) -> bool:
        """The allocator's ``net.core.high_order_alloc_disable``."""
        return self.allocator.net_high_order_alloc_disable

    def alloc_pages(self, gfp: int, order: int, *, owner: str = "") -> Page | None:
        """``alloc_pages(gfp, order)`` charged to this account."""
        return self.allocator._alloc_pages(gfp, order, owner, self.stats)

    def alloc_page(self, gfp: int, *, owner: str = "") -> Page | None:
        """``alloc_page(gfp)`` charged to this account."""
        return self.allocator._alloc_pages(gfp, 0, owner, self.stats)

    def __repr__(self) -> str:
        return f"<PageAccount {self.name!r} of {self.allocator!r}>"


def _fail(stats: Counters, order: int) -> None:
    stats.page_alloc_fail += 1
    stats.page_alloc_fail_order[order] += 1


def _zeroes(n: int) -> bytes:
    return _ZERO_PAGE[:n] if n <= len(_ZERO_PAGE) else bytes(n)
