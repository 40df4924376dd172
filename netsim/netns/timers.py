"""The host's timer queue: every deadline a host has (RTO, delayed ACK, TIME_WAIT, reassembly
timeouts, packets in flight on a link) in one heap.

Model
-----
Only time creates concurrency in netsim.  The cores never sleep: they :meth:`TimerQueue.add` a
callback for a deadline and return.  The runtime runs **one** timer task per host that sleeps
until :meth:`TimerQueue.next_deadline` and then calls :meth:`TimerQueue.run_due` with the current
time.  Callbacks run in deadline order, ties broken by insertion order, so runs are
reproducible whatever order trio schedules tasks in.

``on_earlier_deadline`` is the runtime's hook: called when an added timer becomes the earliest,
so a sleeping timer task can move its wake-up forward.  Cancelled timers stay in the heap until
they surface (lazy deletion), which keeps ``cancel`` O(1).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

__all__ = ["Timer", "TimerQueue"]


class Timer:
    """One scheduled callback; :meth:`cancel` it to stop it from running."""

    __slots__ = ("active", "callback", "deadline")

    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.active = True

    def cancel(self) -> None:
        """Stop the callback from running (idempotent)."""
        self.active = False

    def __repr__(self) -> str:
        state = "" if self.active else " cancelled"
        return f"<Timer at {self.deadline:.6f}{state} {self.callback!r}>"


class TimerQueue:
    """A heap of :class:`Timer`\\ s ordered by ``(deadline, insertion order)``."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self.on_earlier_deadline: Callable[[float], None] | None = None

    def add(self, deadline: float, callback: Callable[[], None]) -> Timer:
        """Schedule ``callback`` at ``deadline`` (seconds on the host's clock)."""
        timer = Timer(deadline, callback)
        earliest = self.next_deadline()
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, timer))
        if deadline < earliest and self.on_earlier_deadline is not None:
            self.on_earlier_deadline(deadline)
        return timer

    def next_deadline(self) -> float:
        """The earliest pending deadline, or ``inf``."""
        heap = self._heap
        while heap and not heap[0][2].active:
            heapq.heappop(heap)
        return heap[0][0] if heap else math.inf

    def run_due(self, now: float) -> int:
        """Run every active timer with ``deadline <= now``, in order; returns how many ran.
        Timers added by callbacks for ``<= now`` run in the same call."""
        heap = self._heap
        ran = 0
        while heap and heap[0][0] <= now:
            _, _, timer = heapq.heappop(heap)
            if timer.active:
                timer.active = False
                timer.callback()
                ran += 1
        return ran

    def __len__(self) -> int:
        return sum(1 for _, _, t in self._heap if t.active)

    def clear(self) -> None:
        """Cancel everything (the host is closing)."""
        for _, _, timer in self._heap:
            timer.active = False
        self._heap.clear()
