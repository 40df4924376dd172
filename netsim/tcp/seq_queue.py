"""A TCP socket's queues of skbs in sequence order: ``tcp_rtx_queue`` (sent, not yet
acknowledged) and ``out_of_order_queue`` (received ahead of ``rcv_nxt``).  The kernel keeps
each in an rbtree keyed by ``TCP_SKB_CB(skb)->seq`` (``tcp_rbtree_insert``,
``tcp_rtx_queue_head``, ``tcp_rtx_queue_unlink``, ``skb_rbtree_purge``; include/net/tcp.h,
net/ipv4/tcp_input.c).

Their traffic is mostly at the ends: an skb joins the retransmit queue at the tail when first
sent (``tcp_event_new_data_sent``), or right after the skb it was cut from
(``tcp_fragment``), and leaves from the head when acknowledged (``tcp_clean_rtx_queue``);
out-of-order data mostly arrives in order behind a hole and leaves from the head once the hole
fills (``tcp_ofo_queue``).  So :class:`SeqQueue` is an array with a moving head — both ends
O(1), an insertion or a lookup by sequence number a binary search — and a compiled class, so
the per-segment operations cost no Python-level call (they did with the
``sortedcontainers.SortedKeyList`` it replaced, a noticeable share of a compiled TCP flow).
Its methods are that class's, keyed by ``seq`` (``add``, ``pop``, ``remove``, ``discard``,
``bisect_key_left``/``right``, ``irange_key``, ``index``, indexing, iteration), and its tests
check it against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Final, final

if TYPE_CHECKING:
    from ..skb import SkBuff
    from .sock import TcpSkbCb

__all__ = ["SeqQueue"]

#: compact the array once this many slots at its front are dead (and half of it is)
_COMPACT_AT: Final = 64


def _seq(skb: SkBuff) -> int:
    cb: TcpSkbCb = skb.cb
    return cb.seq


@final
class SeqQueue:
    """skbs ordered by ``TCP_SKB_CB(skb)->seq`` (equal ones in arrival order)."""

    __slots__ = ("_head", "_items")

    def __init__(self) -> None:
        self._items: list[SkBuff | None] = []
        self._head = 0  # the first live slot; the slots before it are None

    # -- size and access ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._items) - self._head

    def __bool__(self) -> bool:
        return len(self._items) > self._head

    def _slot(self, index: int) -> int:
        n = len(self._items) - self._head
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("queue index out of range")
        return self._head + index

    def __getitem__(self, index: int) -> SkBuff:
        skb = self._items[self._slot(index)]
        assert skb is not None
        return skb

    def __iter__(self) -> Iterator[SkBuff]:
        items = self._items
        for i in range(self._head, len(items)):
            skb = items[i]
            assert skb is not None
            yield skb

    def __reversed__(self) -> Iterator[SkBuff]:
        items = self._items
        for i in range(len(items) - 1, self._head - 1, -1):
            skb = items[i]
            assert skb is not None
            yield skb

    def __repr__(self) -> str:
        return f"SeqQueue({list(self)!r})"

    # -- adding and removing --------------------------------------------------------------------

    def add(self, skb: SkBuff) -> None:
        """``tcp_rbtree_insert()``: in sequence order, after any skb with the same ``seq``."""
        items = self._items
        seq = _seq(skb)
        if len(items) == self._head:
            # empty: start the array over rather than grow it behind a dead front
            items.clear()
            self._head = 0
            items.append(skb)
            return
        last = items[len(items) - 1]
        assert last is not None
        if _seq(last) <= seq:
            items.append(skb)
            return
        items.insert(self._bisect(seq, True), skb)

    def pop(self, index: int = -1) -> SkBuff:
        """Remove and return the skb at ``index`` (the head: ``pop(0)``)."""
        items = self._items
        slot = self._slot(index)
        skb = items[slot]
        assert skb is not None
        if slot == self._head:
            items[slot] = None
            self._head += 1
            self._compact()
        elif slot == len(items) - 1:
            items.pop()
        else:
            del items[slot]
        return skb

    def remove(self, skb: SkBuff) -> None:
        """``tcp_rtx_queue_unlink()`` / ``rb_erase``: take out this skb (``ValueError`` if
        absent)."""
        self.pop(self.index(skb))

    def discard(self, skb: SkBuff) -> None:
        """Take out this skb if it is here."""
        try:
            index = self.index(skb)
        except ValueError:
            return
        self.pop(index)

    def clear(self) -> None:
        self._items.clear()
        self._head = 0

    def _compact(self) -> None:
        head = self._head
        items = self._items
        if head == len(items):
            items.clear()
            self._head = 0
        elif head >= _COMPACT_AT and head * 2 >= len(items):
            del items[:head]
            self._head = 0

    # -- lookup by sequence number --------------------------------------------------------------

    def _bisect(self, seq: int, right: bool) -> int:
        """The slot of the first skb whose ``seq`` is >= (``right``: >) ``seq``."""
        items = self._items
        lo = self._head
        hi = len(items)
        while lo < hi:
            mid = (lo + hi) >> 1
            skb = items[mid]
            assert skb is not None
            key = _seq(skb)
            if key < seq or (right and key == seq):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def bisect_key_left(self, seq: int) -> int:
        """The index of the first skb starting at or after ``seq``."""
        return self._bisect(seq, False) - self._head

    def bisect_key_right(self, seq: int) -> int:
        """The index of the first skb starting after ``seq``."""
        return self._bisect(seq, True) - self._head

    def irange_key(self, min_key: int, max_key: int) -> Iterator[SkBuff]:
        """The skbs whose ``seq`` lies in ``[min_key, max_key]``, in order."""
        items = self._items
        for i in range(self._bisect(min_key, False), self._bisect(max_key, True)):
            skb = items[i]
            assert skb is not None
            yield skb

    def index(self, skb: SkBuff) -> int:
        """The index of this very skb (``ValueError`` if absent)."""
        items = self._items
        seq = _seq(skb)
        for i in range(self._bisect(seq, False), len(items)):
            other = items[i]
            if other is skb:
                return i - self._head
            assert other is not None
            if _seq(other) != seq:
                break
        raise ValueError(f"{skb!r} is not in the queue")

    def __contains__(self, skb: object) -> bool:
        items = self._items
        return any(items[i] is skb for i in range(self._head, len(items)))
