"""A step-by-step account of the decisions the cores make: structured trace events.

Model
-----
The kernel answers "why did this write land there?" with tracepoints (``trace_kfree_skb``,
``trace_mm_page_alloc``…) that cost a patched-out branch when nobody listens.  netsim does the
same: a :class:`Tracer` hangs off a host's counters (``Counters.tracer``, ``None`` by default),
and every place that decides something about pages and frags tests it once::

    tracer = stats.tracer
    if tracer is not None:
        tracer.emit("coalesce", "tcp_sendmsg_locked", "contiguous in the same page", ...)

so an untraced host pays one attribute read and a ``None`` test per site, and the fields of an
event are only formatted when someone listens.  The events are values (:class:`TraceEvent`):
the page is named by its pfn, the skb by a label the tracer gives it when it is first seen
(``skb1``, ``skb2`` — a clone is ``skb3``, with ``clone_of="skb2"``).  Objects are never kept
by an event, so a trace can outlive the host.

Event kinds (``TRACE_KINDS``), by layer:

* pages — ``page_alloc``, ``page_free``, and the refcount operations the series saves:
  ``get_page``, ``put_page``, ``page_ref_add``, ``page_ref_sub_and_test`` (each with the count
  after it, ``ref``);
* fragment allocators — ``refill``, ``recycle``, ``abandon``, ``reuse`` (the old page_frag's
  restart at offset 0), ``prepare``, ``commit``, ``commit_noref``, ``abort``;
* skbs — ``skb_alloc``, ``skb_clone``, ``skb_free``; ``new_frag`` and ``coalesce`` (the bytes
  of a copy went into a new frag slot, or were merged into the previous frag — with the
  reason), ``linear`` (bytes copied into the head);
* protocols — ``new_skb`` (why the next bytes could not go into the tail skb: ``size_goal``,
  frags full, ``EOR``, an empty queue, a datagram or fragment boundary), ``transmit`` (a
  segment leaves, with why now), ``retransmit`` (RTO, fast recovery or a tail loss probe,
  a new clone of the kept skb), ``hold`` (why the write queue waits: cork, Nagle, autocork,
  window, congestion window), ``grow`` (``tcp_grow_skb`` pulls bytes from the next skb into
  the head of the write queue before sending it), ``rx_coalesce`` (the receiver merges an
  arriving segment's frags into the tail of its receive queue);
* kTLS — ``coalesce`` / ``new_frag`` into a record's frags (``record`` instead of ``skb``:
  ``rec1``, ``rec2``…), ``record_push`` (a closed record handed to TCP).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Final

import attrs

__all__ = ["TRACE_KINDS", "TraceEvent", "Tracer"]

#: Every event kind, in the order of the module docstring.
TRACE_KINDS: Final[tuple[str, ...]] = (
    "page_alloc",
    "page_free",
    "get_page",
    "put_page",
    "page_ref_add",
    "page_ref_sub_and_test",
    "refill",
    "recycle",
    "abandon",
    "reuse",
    "prepare",
    "commit",
    "commit_noref",
    "abort",
    "skb_alloc",
    "skb_clone",
    "skb_free",
    "new_frag",
    "coalesce",
    "linear",
    "new_skb",
    "transmit",
    "retransmit",
    "hold",
    "grow",
    "rx_coalesce",
    "record_push",
)

#: The bookkeeping under the decisions: page allocation, refcount operations, the fragment
#: allocator's prepare/commit steps and skb allocation.
BOOKKEEPING_KINDS: Final[frozenset[str]] = frozenset(
    {
        "page_alloc",
        "get_page",
        "put_page",
        "page_ref_add",
        "page_ref_sub_and_test",
        "prepare",
        "commit",
        "commit_noref",
        "abort",
        "skb_alloc",
    }
)

#: The kinds a learner reads first: the decisions, without the refcount bookkeeping.
DECISION_KINDS: Final[frozenset[str]] = frozenset(TRACE_KINDS) - BOOKKEEPING_KINDS

Field = int | str


@attrs.frozen
class TraceEvent:
    """One decision.  ``seq`` numbers the events of a tracer from 1; ``time`` is the host's
    clock (virtual under ``MockClock``); ``where`` is the kernel function that decided;
    ``reason`` says why in words (empty where there is no choice); ``fields`` are the values
    (``pfn``, ``skb``, ``offset``, ``len``, ``ref``, …) as ints and strings."""

    seq: int
    time: float
    kind: str
    where: str
    reason: str
    fields: Mapping[str, Field]

    def __str__(self) -> str:
        parts = " ".join(f"{k}={_show(k, v)}" for k, v in self.fields.items())
        text = f"{self.kind:<13} {parts}"
        if self.reason:
            text += f"  -- {self.reason}"
        return text

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict (``netsim trace --json``, the HTML view)."""
        return {
            "seq": self.seq,
            "time": self.time,
            "kind": self.kind,
            "where": self.where,
            "reason": self.reason,
            "fields": dict(self.fields),
        }


def _show(key: str, value: Field) -> str:
    if key == "pfn" and isinstance(value, int):
        return f"{value:#x}"
    return str(value)


class Tracer:
    """Collects :class:`TraceEvent` s from the cores of the hosts it is attached to
    (``host.tracing()``).  ``kinds`` limits what is kept (default: everything);
    ``listener`` is called with each event as it is recorded (the HTML view uses it to take
    a picture of the pages after every step)."""

    __slots__ = ("_labels", "_roles", "_serials", "clock", "events", "kinds", "listener")

    def __init__(
        self,
        kinds: frozenset[str] | None = None,
        listener: Callable[[TraceEvent], None] | None = None,
    ) -> None:
        if kinds is not None:
            unknown = sorted(kinds - set(TRACE_KINDS))
            if unknown:
                raise ValueError(f"unknown trace event kinds: {', '.join(unknown)}")
        self.kinds = kinds
        self.listener = listener
        self.events: list[TraceEvent] = []
        #: the host's clock, set when attached (``None``: time 0)
        self.clock: Callable[[], float] | None = None
        self._labels: dict[object, str] = {}
        self._roles: dict[object, str] = {}
        self._serials: dict[str, int] = {}

    def emit(self, kind: str, where: str, reason: str, fields: dict[str, Field]) -> None:
        """Record one event (called by the cores only when a tracer is attached)."""
        kinds = self.kinds
        if kinds is not None and kind not in kinds:
            return
        clock = self.clock
        event = TraceEvent(
            len(self.events) + 1, clock() if clock is not None else 0.0, kind, where, reason, fields
        )
        self.events.append(event)
        listener = self.listener
        if listener is not None:
            listener(event)

    def skb(self, skb: object) -> str:
        """The label of ``skb`` (``skb1``…), given on first sight."""
        return self.label(skb, "skb")

    def label(self, obj: object, prefix: str) -> str:
        """The label of ``obj`` (``prefix`` and a number counting up per prefix: ``skb3``,
        ``rec1``), given on first sight."""
        label = self._labels.get(obj)
        if label is None:
            serial = self._serials.get(prefix, 0) + 1
            self._serials[prefix] = serial
            label = self._labels[obj] = f"{prefix}{serial}"
        return label

    def set_role(self, obj: object, role: str) -> None:
        """Say what ``obj`` is for — an skb that carries no data: a pure ACK, a reset, a
        window probe, the SYN — so that its ``skb_free`` (and its clones') name it."""
        self._roles[obj] = role

    def role(self, obj: object) -> str:
        """What :meth:`set_role` said ``obj`` is for (``""``: nothing)."""
        return self._roles.get(obj, "")

    def forget(self, obj: object, prefix: str = "skb") -> str:
        """The label of ``obj``, which is being freed: a later object never inherits it (nor
        its role)."""
        label = self.label(obj, prefix)
        del self._labels[obj]
        self._roles.pop(obj, None)
        return label

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def of(self, *kinds: str) -> list[TraceEvent]:
        """The events of the given kinds, in order."""
        return [e for e in self.events if e.kind in kinds]

    def text(self, decisions_only: bool = False) -> str:
        """Every event, one per line (``decisions_only``: without the page refcount
        bookkeeping and the allocator's prepare/commit steps)."""
        return "\n".join(
            f"{e.seq:>4} {e}" for e in self.events if not decisions_only or e.kind in DECISION_KINDS
        )
