"""Event counters a host keeps, and the frozen snapshots it hands out.

Model
-----
The kernel keeps per-netns MIB counters (``/proc/net/snmp``, read with ``nstat``) and, for the
page allocator, ``/proc/vmstat``.  netsim keeps one :class:`Counters` object per host: the page
allocator, the fragment allocators, the skb helpers and (later) the protocols all increment the
same plain ``int`` attributes.  Plain ints in ``__slots__`` are the cheapest counter Python has,
and the hot path (copy into a frag, free an skb) bumps several of them per call.

Every counter counts **calls, not references**: ``page_ref_add(page, 32768)`` is one
``page_ref_add``.  The four refcount counters (``page_get``, ``page_put``, ``page_ref_add``,
``page_ref_sub_and_test``) are the atomic operations the page_frag_cache series saves; reports
give them per MiB sent.

``snapshot()`` returns a :class:`StatsSnapshot`: a read-only ``Mapping[str, int]`` frozen at the
moment it was taken (trio's ``statistics()`` convention), plus ``per_order`` for the counters
that the page allocator also breaks down by allocation order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import attrs

__all__ = ["COUNTER_NAMES", "MAX_PAGE_ORDER", "PER_ORDER_NAMES", "Counters", "StatsSnapshot"]

#: Highest allocation order the buddy allocator serves (``MAX_PAGE_ORDER``, include/linux/mmzone.h).
MAX_PAGE_ORDER = 10

#: Scalar counters, in report order.  Names are public API (DESIGN.md).
COUNTER_NAMES: tuple[str, ...] = (
    # page allocator (mm/page_alloc.c)
    "page_alloc",
    "page_free",
    "page_alloc_fail",
    "page_alloc_pfmemalloc",
    # page refcount operations (include/linux/page_ref.h, include/linux/mm.h)
    "page_get",
    "page_put",
    "page_ref_add",
    "page_ref_sub_and_test",
    # fragment allocators
    "frag_refill",
    "frag_recycle",
    "frag_abandon",
    "frag_reuse",
    "frag_commit",
    "frag_commit_noref",
    "frag_abort",
    "frag_alloc_fail",
    # skbs
    "skb_alloc",
    "skb_free",
    "skb_clone",
    "skb_coalesce",
    "skb_new_frag",
    "skb_copy_bytes",
)

#: Counters that are also kept per allocation order.
PER_ORDER_NAMES: tuple[str, ...] = ("page_alloc", "page_free", "page_alloc_fail")


class Counters:
    """Mutable counters, one plain ``int`` attribute per name in :data:`COUNTER_NAMES`.

    Cores increment attributes directly (``stats.page_get += 1``).  Readers call
    :meth:`snapshot`; they never hold on to the live object.
    """

    __slots__ = (*COUNTER_NAMES, "page_alloc_order", "page_free_order", "page_alloc_fail_order")

    page_alloc: int
    page_free: int
    page_alloc_fail: int
    page_alloc_pfmemalloc: int
    page_get: int
    page_put: int
    page_ref_add: int
    page_ref_sub_and_test: int
    frag_refill: int
    frag_recycle: int
    frag_abandon: int
    frag_reuse: int
    frag_commit: int
    frag_commit_noref: int
    frag_abort: int
    frag_alloc_fail: int
    skb_alloc: int
    skb_free: int
    skb_clone: int
    skb_coalesce: int
    skb_new_frag: int
    skb_copy_bytes: int
    page_alloc_order: list[int]
    page_free_order: list[int]
    page_alloc_fail_order: list[int]

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Set every counter back to zero."""
        for name in COUNTER_NAMES:
            setattr(self, name, 0)
        for name in PER_ORDER_NAMES:
            setattr(self, name + "_order", [0] * (MAX_PAGE_ORDER + 1))

    def snapshot(self) -> StatsSnapshot:
        """Freeze the current values into a read-only :class:`StatsSnapshot`."""
        values = {name: getattr(self, name) for name in COUNTER_NAMES}
        per_order = {name: tuple(getattr(self, name + "_order")) for name in PER_ORDER_NAMES}
        return StatsSnapshot(values, per_order)

    def __repr__(self) -> str:
        nonzero = ", ".join(f"{n}={getattr(self, n)}" for n in COUNTER_NAMES if getattr(self, n))
        return f"Counters({nonzero})"


@attrs.frozen(init=False)
class StatsSnapshot(Mapping[str, int]):
    """Counter values frozen at one moment: ``snap["page_get"]``, ``snap.per_order["page_alloc"]``.

    Snapshots subtract: ``after - before`` gives the counts of what happened in between.
    """

    _values: Mapping[str, int]
    per_order: Mapping[str, tuple[int, ...]]

    def __init__(self, values: Mapping[str, int], per_order: Mapping[str, tuple[int, ...]]):
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "per_order", dict(per_order))

    def __getitem__(self, key: str) -> int:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __sub__(self, other: StatsSnapshot) -> StatsSnapshot:
        values = {k: v - other._values.get(k, 0) for k, v in self._values.items()}
        per_order = {
            k: tuple(a - b for a, b in zip(v, other.per_order.get(k, (0,) * len(v)), strict=True))
            for k, v in self.per_order.items()
        }
        return StatsSnapshot(values, per_order)

    def nonzero(self) -> dict[str, int]:
        """The counters that are not zero, in report order."""
        return {k: v for k, v in self._values.items() if v}
