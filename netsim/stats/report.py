"""What a run did, in the formats people already read: dd's summary line, iperf3's units, and
a ``perf stat``-style block of the frag and page counters (ecosystem.md §6).

Everything here is computed from two :class:`~netsim.stats.StatsSnapshot`\\ s — before and after
— plus the payload byte count and the wall time, so the same report serves ``netsim nc``, the
examples and a user's own program::

    before = host.stats()
    ...                                   # send `nbytes`
    report = FragReport.between(before, host.stats(), nbytes, seconds, allocator="page_frag")
    print(dd_line(nbytes, seconds))
    print(report.format())

The refcount operations per MiB (``page_get``, ``page_put``, ``page_ref_add``,
``page_ref_sub_and_test``) are the headline: they are the atomics the page_frag_cache series
saves.  MB/s is the emulator's speed — it measures Python, not the kernel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .counters import StatsSnapshot

__all__ = [
    "REFCOUNT_OPS",
    "FragReport",
    "dd_line",
    "format_compare",
    "iperf_bitrate",
    "iperf_bytes",
]

#: The page refcount operations, in report order.
REFCOUNT_OPS = ("page_get", "page_put", "page_ref_add", "page_ref_sub_and_test")

MIB = 1 << 20


def _si(value: float, unit: str) -> str:
    """dd's human size: 3 significant digits, decimal (kB, MB, GB) or binary (KiB, MiB)."""
    base = 1024.0 if unit == "iB" else 1000.0
    prefixes = ("K", "M", "G", "T", "P") if unit == "iB" else ("k", "M", "G", "T", "P")
    if value < base:
        return f"{value:.0f} B"
    for prefix in prefixes:
        value /= base
        if value < base or prefix == prefixes[-1]:
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return f"{text} {prefix}{'iB' if unit == 'iB' else 'B'}"
    raise AssertionError("unreachable")  # pragma: no cover


def dd_line(nbytes: int, seconds: float) -> str:
    """dd's summary line, with MiB/s added: ``67108864 bytes (67 MB, 64 MiB) copied, 0.75 s,
    89.5 MB/s, 85.3 MiB/s``."""
    rate = nbytes / seconds if seconds > 0 else 0.0
    # dd leaves the parenthesised sizes out while they would carry no prefix (< 1 kB), and
    # says "1 byte"
    amount = (
        f"{nbytes} byte{'' if nbytes == 1 else 's'}"
        if nbytes < 1000
        else f"{nbytes} bytes ({_si(nbytes, 'B')}, {_si(nbytes, 'iB')})"
    )
    return f"{amount} copied, {seconds:.3g} s, {rate / 1e6:.1f} MB/s, {rate / MIB:.1f} MiB/s"


def _iperf_number(value: float) -> str:
    """iperf3's ``unit_snprintf`` precision: 2 decimals below 10, 1 below 100, else none."""
    if value < 9.995:
        return f"{value:.2f}"
    if value < 99.95:
        return f"{value:.1f}"
    return f"{value:.0f}"


def iperf_bytes(nbytes: float) -> str:
    """iperf3's Transfer column: binary units (``55.8 MBytes`` means MiB)."""
    for unit, scale in (("GBytes", 1 << 30), ("MBytes", 1 << 20), ("KBytes", 1 << 10)):
        if nbytes >= scale:
            return f"{_iperf_number(nbytes / scale)} {unit}"
    return f"{nbytes:.0f} Bytes"


def iperf_bitrate(bits_per_second: float) -> str:
    """iperf3's Bitrate column: decimal units (``468 Mbits/sec``)."""
    for unit, scale in (("Gbits/sec", 1e9), ("Mbits/sec", 1e6), ("Kbits/sec", 1e3)):
        if bits_per_second >= scale:
            return f"{_iperf_number(bits_per_second / scale)} {unit}"
    return f"{bits_per_second:.0f} bits/sec"


@attrs.frozen
class FragReport:
    """The sender host's counters over one run, reduced to what the series is about."""

    allocator: str
    nbytes: int
    seconds: float
    delta: StatsSnapshot

    @classmethod
    def between(
        cls,
        before: StatsSnapshot,
        after: StatsSnapshot,
        nbytes: int,
        seconds: float,
        *,
        allocator: str = "",
    ) -> FragReport:
        return cls(allocator, nbytes, seconds, after - before)

    # -- derived figures ---------------------------------------------------------------------

    @property
    def mib(self) -> float:
        return self.nbytes / MIB if self.nbytes else 0.0

    def per_mib(self, name: str) -> float:
        """A counter per MiB of payload."""
        return self.delta[name] / self.mib if self.mib else 0.0

    @property
    def skbs(self) -> int:
        """Data skbs handed to IP (the frag histogram's total)."""
        return sum(self.delta.tx_nr_frags)

    @property
    def frags_per_skb(self) -> float:
        hist = self.delta.tx_nr_frags
        total = sum(hist)
        return sum(n * count for n, count in enumerate(hist)) / total if total else 0.0

    @property
    def coalesce_rate(self) -> float:
        """Copies that grew the previous frag, over all copies into page frags."""
        merged, new = self.delta["skb_coalesce"], self.delta["skb_new_frag"]
        return merged / (merged + new) if merged + new else 0.0

    @property
    def pages_by_order(self) -> dict[int, int]:
        return {o: n for o, n in enumerate(self.delta.per_order["page_alloc"]) if n}

    @property
    def segments(self) -> int:
        d = self.delta
        return d["TcpOutSegs"] + d["UdpOutDatagrams"] + d["Udp6OutDatagrams"]

    @property
    def retransmits(self) -> int:
        return self.delta["TcpRetransSegs"]

    # -- output ------------------------------------------------------------------------------

    def as_json(self) -> dict[str, Any]:
        """The ``frag_stats`` object of ``netsim nc --json``."""
        d = self.delta
        hist = d.tx_nr_frags
        last = max((n for n, c in enumerate(hist) if c), default=0)
        return {
            "allocator": self.allocator,
            "bytes": self.nbytes,
            "skbs": self.skbs,
            "frags_per_skb": round(self.frags_per_skb, 3),
            "frags_histogram": list(hist[: last + 1]),
            "coalesce_hits": d["skb_coalesce"],
            "new_frags": d["skb_new_frag"],
            "coalesce_rate": round(self.coalesce_rate, 4),
            "pages_allocated_by_order": {str(o): n for o, n in self.pages_by_order.items()},
            "pages_freed": d["page_free"],
            "refills": d["frag_refill"],
            "recycles": d["frag_recycle"],
            "abandons": d["frag_abandon"],
            "reuses": d["frag_reuse"],
            "refcount_ops": {name: d[name] for name in REFCOUNT_OPS},
            "refcount_ops_per_mib": {name: round(self.per_mib(name), 3) for name in REFCOUNT_OPS},
            "bytes_copied": d["skb_copy_bytes"],
            "segments": self.segments,
            "retransmits": self.retransmits,
        }

    def format(self, title: str = "netsim") -> str:
        """A ``perf stat``-style block: a count, a name, and a ``#`` comment per line."""
        d = self.delta
        rows: list[tuple[str, str, str]] = [
            (f"{self.skbs:,}", "skbs", f"{self.frags_per_skb:.2f} frags/skb"),
            (
                f"{d['skb_new_frag'] + d['skb_coalesce']:,}",
                "copies into frags",
                f"{self.coalesce_rate:.1%} coalesced into the previous frag",
            ),
            (f"{d['skb_copy_bytes']:,}", "bytes copied", ""),
        ]
        for order, count in self.pages_by_order.items():
            rows.append((f"{count:,}", f"pages allocated (order {order})", ""))
        rows += [
            (f"{d['frag_refill']:,}", "frag refills", ""),
            (f"{d['frag_recycle']:,}", "frag recycles", "page_frag_cache: same page from 0"),
            (f"{d['frag_reuse']:,}", "frag reuses", "page_frag: restart at refcount 1"),
            (f"{d['frag_abandon']:,}", "frag abandons", "page left to its other users"),
        ]
        for name in REFCOUNT_OPS:
            rows.append((f"{d[name]:,}", name, f"{self.per_mib(name):10.2f} /MiB"))
        rows += [
            (f"{self.segments:,}", "segments", "sent by the host, ACKs included"),
            (f"{self.retransmits:,}", "retransmits", ""),
        ]
        width = max(len(r[0]) for r in rows)
        lines = [f" Performance counter stats for '{title}' (allocator {self.allocator}):", ""]
        for value, name, comment in rows:
            line = f"  {value:>{width}}      {name:<32}"
            if comment:
                line += f"#  {comment}"
            lines.append(line.rstrip())
        lines.append("")
        lines.append(f"  frags/skb histogram: {_histogram(d.tx_nr_frags)}")
        return "\n".join(lines)


def _histogram(hist: Sequence[int]) -> str:
    total = sum(hist)
    if not total:
        return "(no data skbs)"
    return ", ".join(
        f"{n} frag{'s' if n != 1 else ''}: {count} ({count / total:.1%})"
        for n, count in enumerate(hist)
        if count
    )


def format_compare(reports: Mapping[str, FragReport]) -> str:
    """A before/after table across allocators, like the series' cover letter: refcount
    operations per MiB first, then the rest; MB/s labelled as the emulator's speed."""
    names = list(reports)
    rows: list[tuple[str, list[str]]] = []
    for op in REFCOUNT_OPS:
        rows.append((f"{op} /MiB", [f"{r.per_mib(op):.2f}" for r in reports.values()]))
    total_ops = [sum(r.per_mib(op) for op in REFCOUNT_OPS) for r in reports.values()]
    rows.append(("refcount ops /MiB (all)", [f"{v:.2f}" for v in total_ops]))
    rows.append(("frags/skb", [f"{r.frags_per_skb:.2f}" for r in reports.values()]))
    rows.append(("coalesce rate", [f"{r.coalesce_rate:.1%}" for r in reports.values()]))
    rows.append(
        ("pages allocated /MiB", [f"{r.per_mib('page_alloc'):.2f}" for r in reports.values()])
    )
    rows.append(("frag recycles", [f"{r.delta['frag_recycle']}" for r in reports.values()]))
    rows.append(("frag reuses", [f"{r.delta['frag_reuse']}" for r in reports.values()]))
    rows.append(("segments", [f"{r.segments}" for r in reports.values()]))
    rows.append(
        (
            "MB/s (emulator speed)",
            [f"{r.nbytes / r.seconds / 1e6:.1f}" if r.seconds else "-" for r in reports.values()],
        )
    )
    label_w = max(len(label) for label, _ in rows)
    col_w = max(12, *(len(n) for n in names))
    header = f"{'':{label_w}}  " + "  ".join(f"{n:>{col_w}}" for n in names)
    if len(names) == 2:
        header += f"  {'change':>8}"
    lines = [header]
    for label, values in rows:
        line = f"{label:{label_w}}  " + "  ".join(f"{v:>{col_w}}" for v in values)
        if len(names) == 2 and label.endswith("/MiB"):
            line += f"  {_change(values[0], values[1]):>8}"
        lines.append(line)
    return "\n".join(lines)


def _change(before: str, after: str) -> str:
    a, b = float(before), float(after)
    if a == 0:
        return "" if b == 0 else "new"
    return f"{(b - a) / a:+.0%}"
