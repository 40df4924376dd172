"""Seeded faults on a link direction: what Linux's ``netem`` qdisc does to the frames a device
transmits (sch/sch_netem.c: ``loss random``, ``loss gemodel``, ``duplicate``, ``corrupt``,
``reorder``, ``delay ... jitter``), plus the link going down and up at given times.

A :class:`FaultPlan` is a value (what to do); a :class:`FaultState` is one direction's
running state — its own ``random.Random`` seeded from the plan's seed and the device's
name, the Gilbert-Elliott state, the counts.  The same plan and seed give the same faults to
the same sequence of frames, run after run, on either build.  (A TCP flow's own sequence of
frames can differ by an ACK from one run to the next, since trio shuffles the tasks it wakes
together; a fixed sender, such as UDP's, sees the very same faults.)

For each frame the transmitting :class:`~netsim.dev.link.LinkDevice` asks :meth:`FaultState.apply`
what arrives, and when, relative to the fault-free arrival time:

* **down** — the frame is sent while the link is down (one of the plan's ``down`` intervals,
  in seconds since the plan was attached): it is lost (a carrier loss drops the frame on the
  wire; the device's queue and its TX completion go on as before).
* **loss** — lost with probability ``loss`` (netem ``loss random``), or by the
  Gilbert-Elliott model when ``burst`` is set: a good and a bad state, moving good → bad with
  probability ``p`` and bad → good with ``r`` per frame, losing ``1 - h`` in the bad state and
  ``1 - k`` in the good (netem ``loss gemodel p r 1-h 1-k``).
* **duplicate** — with probability ``duplicate`` a second copy arrives right behind the first
  (netem ``duplicate``; the copy is never corrupted or reordered itself).
* **corrupt** — with probability ``corrupt`` one random bit of the frame is flipped (netem
  ``corrupt``).  A link's frames carry complete checksums and the receiver verifies them (in
  software, or the offloading NIC does), so a corrupted frame is counted where Linux counts it
  (``IpInHdrErrors``, ``TcpInCsumErrors``, ``UdpInCsumErrors``…) and dropped.  Loopback has no
  fault plan: Linux does not verify ``CHECKSUM_PARTIAL`` there, and neither does netsim.
* **jitter** — every frame is delayed by a further uniform ``[0, jitter)`` seconds (netem
  ``delay 0 jitter``), so frames may overtake one another.
* **reorder** — with probability ``reorder`` a frame is held back by the time
  ``reorder_depth`` frames of its size take on the wire (10 µs each on a link without a
  rate), so back-to-back traffic overtakes it by about that many frames.

Each decision draws from the direction's RNG in a fixed order (down, loss, corrupt,
duplicate, jitter, reorder), so changing one rate does not reshuffle the others' draws for
frames the changed fault leaves alone.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

import attrs
from mypy_extensions import mypyc_attr

__all__ = ["FaultPlan", "FaultState", "GilbertElliott"]

#: the serialization time a reordered frame is held per ``reorder_depth`` on an unlimited link
_UNLIMITED_FRAME_TIME: Final = 10e-6


def _check_probabilities(**values: float) -> None:
    for name, value in values.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], not {value!r}")


@mypyc_attr(native_class=False)
@attrs.frozen
class GilbertElliott:
    """Burst loss: the Gilbert-Elliott model of netem's ``loss gemodel p r 1-h 1-k``.

    ``p``: good → bad per frame; ``r``: bad → good; ``h``: the chance a frame survives in the
    bad state (netem's ``1-h`` is the loss there); ``k``: the chance it survives in the good
    state (1: the good state loses nothing).  The mean burst is ``1/r`` frames long."""

    p: float
    r: float
    h: float = 0.0
    k: float = 1.0

    def __attrs_post_init__(self) -> None:
        _check_probabilities(p=self.p, r=self.r, h=self.h, k=self.k)


def _down_intervals(value: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    out = tuple((float(a), float(b)) for a, b in value)
    for start, end in out:
        if not 0.0 <= start < end:
            raise ValueError(f"a down interval is (start, end) with 0 <= start < end: {value!r}")
    return out


@mypyc_attr(native_class=False)
@attrs.frozen
class FaultPlan:
    """What a link direction does to the frames it carries (see the module's docs).  All
    rates are probabilities per frame; times are seconds."""

    loss: float = 0.0
    burst: GilbertElliott | None = None
    duplicate: float = 0.0
    corrupt: float = 0.0
    reorder: float = 0.0
    reorder_depth: int = 3
    jitter: float = 0.0
    #: (start, end) pairs, seconds since the plan was attached (any sequence of pairs)
    down: Sequence[tuple[float, float]] = ()
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        _check_probabilities(
            loss=self.loss, duplicate=self.duplicate, corrupt=self.corrupt, reorder=self.reorder
        )
        if self.reorder_depth < 1:
            raise ValueError(f"reorder_depth must be >= 1, not {self.reorder_depth}")
        if self.jitter < 0:
            raise ValueError(f"jitter must be >= 0 seconds, not {self.jitter}")
        if self.burst is not None and self.loss:
            raise ValueError("loss and burst are two loss models: give one")
        # a plain default and a normalising step, not an attrs converter (the module is
        # compiled: a class attribute must be of its annotated type)
        object.__setattr__(self, "down", _down_intervals(self.down))


class FaultState:
    """One direction's faults in motion: the plan, its RNG, the Gilbert-Elliott state, and
    what it did (``sent``, ``lost``, ``down_lost``, ``duplicated``, ``corrupted``,
    ``reordered``)."""

    def __init__(self, plan: FaultPlan, name: str, start: float) -> None:
        self.plan = plan
        self.rng = random.Random(f"{plan.seed}:{name}")
        self.start = start  #: when the plan was attached: ``down`` counts from here
        self.bad = False  #: the Gilbert-Elliott state
        self.sent = 0
        self.lost = 0
        self.down_lost = 0
        self.duplicated = 0
        self.corrupted = 0
        self.reordered = 0

    def counts(self) -> dict[str, int]:
        """What the faults did so far, by name."""
        return {
            "sent": self.sent,
            "lost": self.lost,
            "down_lost": self.down_lost,
            "duplicated": self.duplicated,
            "corrupted": self.corrupted,
            "reordered": self.reordered,
        }

    def is_down(self, now: float) -> bool:
        """Is the link down at ``now`` (a ``down`` interval covers it)?"""
        t = now - self.start
        return any(start <= t < end for start, end in self.plan.down)

    def _lose(self) -> bool:
        plan = self.plan
        rng = self.rng
        burst = plan.burst
        if burst is None:
            return plan.loss > 0.0 and rng.random() < plan.loss
        # move first, then lose by the state moved to (netem's loss_gilb_ell)
        if self.bad:
            if rng.random() < burst.r:
                self.bad = False
        elif rng.random() < burst.p:
            self.bad = True
        survive = burst.h if self.bad else burst.k
        return rng.random() >= survive

    def apply(self, frame: bytes, now: float, frame_time: float) -> list[tuple[float, bytes]]:
        """What arrives for one frame sent at ``now``: ``(extra delay, frame)`` pairs — none
        (lost), one (maybe corrupted, delayed) or two (duplicated).  ``frame_time`` is the
        frame's serialization time on this link (0 without a rate)."""
        plan = self.plan
        rng = self.rng
        self.sent += 1
        if plan.down and self.is_down(now):
            self.down_lost += 1
            return []
        if self._lose():
            self.lost += 1
            return []
        out = frame
        if plan.corrupt > 0.0 and rng.random() < plan.corrupt:
            bit = rng.randrange(len(frame) * 8)
            damaged = bytearray(frame)
            damaged[bit >> 3] ^= 1 << (bit & 7)
            out = bytes(damaged)
            self.corrupted += 1
        dup = plan.duplicate > 0.0 and rng.random() < plan.duplicate
        extra = rng.random() * plan.jitter if plan.jitter > 0.0 else 0.0
        if plan.reorder > 0.0 and rng.random() < plan.reorder:
            per_frame = frame_time if frame_time > 0.0 else _UNLIMITED_FRAME_TIME
            extra += plan.reorder_depth * per_frame
            self.reordered += 1
        arrivals = [(extra, out)]
        if dup:
            self.duplicated += 1
            arrivals.append((extra, frame))
        return arrivals
