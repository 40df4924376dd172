"""Frozen snapshots of a host's counters (:class:`StatsSnapshot`).

Kept apart from :mod:`netsim.stats.counters` because it is a ``Mapping`` (an ABC) built with
attrs: the compiled build leaves this module as Python (a native class cannot have an ABC
metaclass), while the counters themselves — bumped on every hot path — compile.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

import attrs

__all__ = ["MAX_SKB_FRAGS_LIMIT", "StatsSnapshot"]

#: Upper end of ``CONFIG_MAX_SKB_FRAGS``'s Kconfig range (``net/Kconfig``); the frag histogram
#: has a bin for every legal count (the sysctl table validates hosts against it too)
MAX_SKB_FRAGS_LIMIT: Final = 45


@attrs.frozen(init=False)
class StatsSnapshot(Mapping[str, int]):
    """Counter values frozen at one moment: ``snap["page_get"]``, ``snap.per_order["page_alloc"]``.

    Snapshots subtract: ``after - before`` gives the counts of what happened in between.
    """

    _values: Mapping[str, int]
    per_order: Mapping[str, tuple[int, ...]]
    #: ``tx_nr_frags[n]``: data skbs sent with ``n`` frags (see :class:`~netsim.stats.Counters`)
    tx_nr_frags: tuple[int, ...]
    #: each page-allocator account's share of the totals, by account name
    #: (``"sk_page_frag"``: the sockets' fragment allocators; ``"eth0 rx"``: a NIC's RX
    #: buffers); see :meth:`netsim.mm.PageAllocator.account`
    accounts: Mapping[str, StatsSnapshot]

    def __init__(
        self,
        values: Mapping[str, int],
        per_order: Mapping[str, tuple[int, ...]],
        tx_nr_frags: tuple[int, ...] = (0,) * (MAX_SKB_FRAGS_LIMIT + 1),
        accounts: Mapping[str, StatsSnapshot] | None = None,
    ):
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "per_order", dict(per_order))
        object.__setattr__(self, "tx_nr_frags", tuple(tx_nr_frags))
        object.__setattr__(self, "accounts", dict(accounts or {}))

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
        hist = tuple(a - b for a, b in zip(self.tx_nr_frags, other.tx_nr_frags, strict=True))
        accounts = {
            k: v - other.accounts[k] if k in other.accounts else v for k, v in self.accounts.items()
        }
        return StatsSnapshot(values, per_order, hist, accounts)

    def account(self, name: str) -> StatsSnapshot:
        """One account's share (all zero if the account never counted anything)."""
        share = self.accounts.get(name)
        if share is not None:
            return share
        zeros = dict.fromkeys(self._values, 0)
        per_order = {k: (0,) * len(v) for k, v in self.per_order.items()}
        return StatsSnapshot(zeros, per_order, (0,) * len(self.tx_nr_frags))

    def nonzero(self) -> dict[str, int]:
        """The counters that are not zero, in report order."""
        return {k: v for k, v in self._values.items() if v}
