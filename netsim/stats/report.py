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
saves.  They, the pages and the refills/recycles are those of the sockets' ``sk_page_frag()``
allocators alone (the host's ``"sk_page_frag"`` page account); a link NIC's RX buffers have
their own ``page_frag_cache`` and are reported apart, so comparing allocators compares only
what the sockets' allocator changes.  MB/s is the emulator's speed — it measures Python, not
the kernel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
from mypy_extensions import mypyc_attr

from .counters import RX_ACCOUNT_SUFFIX, TX_FRAG_ACCOUNT, StatsSnapshot

__all__ = [
    "REFCOUNT_OPS",
    "FragReport",
    "dd_line",
    "format_compare",
    "iperf_bitrate",
    "iperf_bytes",
]

#: The page refcount operations, in report order.
REFCOUNT_OPS: Final = ("page_get", "page_put", "page_ref_add", "page_ref_sub_and_test")

MIB: Final = 1 << 20


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


@mypyc_attr(native_class=False)  # attrs builds it: a Python class
@attrs.frozen
class FragReport:
    """A host's counters over one run, reduced to what the series is about.

    The protocol figures (skbs, copies, segments) are the host's; the allocator figures
    (pages, refills, recycles, refcount operations) are those of the sockets'
    ``sk_page_frag()`` allocators alone (:attr:`tx`), so a NIC's RX buffer cache never mixes
    into what the allocator under test did.  Each NIC's RX buffers are in :attr:`rx`; the
    host's totals stay in :attr:`delta`."""

    allocator: str
    nbytes: int
    seconds: float
    delta: StatsSnapshot
    #: which build ran (``netsim.BUILD``: ``"compiled (mypyc)"`` / ``"pure Python"``)
    build: str = ""

    @classmethod
    def between(
        cls,
        before: StatsSnapshot,
        after: StatsSnapshot,
        nbytes: int,
        seconds: float,
        *,
        allocator: str = "",
        build: str = "",
    ) -> FragReport:
        return cls(allocator, nbytes, seconds, after - before, build)

    # -- derived figures ---------------------------------------------------------------------

    @property
    def tx(self) -> StatsSnapshot:
        """The ``sk_page_frag()`` allocators' share: what the allocator under test did."""
        return self.delta.account(TX_FRAG_ACCOUNT)

    @property
    def rx(self) -> dict[str, StatsSnapshot]:
        """Each NIC's RX buffer cache (by device name), where it did anything."""
        return {
            name.removesuffix(RX_ACCOUNT_SUFFIX): share
            for name, share in self.delta.accounts.items()
            if name.endswith(RX_ACCOUNT_SUFFIX) and share.nonzero()
        }

    @property
    def mib(self) -> float:
        return self.nbytes / MIB if self.nbytes else 0.0

    def per_mib(self, name: str, share: StatsSnapshot | None = None) -> float:
        """A counter per MiB of payload: the socket allocator's for the allocator counters
        (``page_*``, ``frag_*``), the host's for the rest; or ``share``'s."""
        if share is None:
            share = self.tx if name.startswith(("page_", "frag_")) else self.delta
        return share[name] / self.mib if self.mib else 0.0

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
        """Pages the socket allocators allocated, by order."""
        return _by_order(self.tx)

    @property
    def segments(self) -> int:
        d = self.delta
        return d["TcpOutSegs"] + d["UdpOutDatagrams"] + d["Udp6OutDatagrams"]

    @property
    def retransmits(self) -> int:
        return self.delta["TcpRetransSegs"]

    def loss_recovery(self) -> dict[str, int]:
        """How TCP recovered what was lost (the kernel's counters, summed where Linux keeps
        one per flavour): fast recoveries (SACK or NewReno), tail loss probes,
        retransmission timeouts, spurious timeouts found by F-RTO, and window reductions
        undone (by timestamps, D-SACKs or F-RTO)."""
        d = self.delta
        return {
            "fast_recoveries": d["TcpExtTCPSackRecovery"] + d["TcpExtTCPRenoRecovery"],
            "fast_retransmits": d["TcpExtTCPFastRetrans"],
            "loss_probes": d["TcpExtTCPLossProbes"],
            "timeouts": d["TcpExtTCPTimeouts"],
            "spurious_timeouts": d["TcpExtTCPSpuriousRTOs"],
            "undone": d["TcpExtTCPLossUndo"]
            + d["TcpExtTCPFullUndo"]
            + d["TcpExtTCPPartialUndo"]
            + d["TcpExtTCPDSACKUndo"],
        }

    # -- output ------------------------------------------------------------------------------

    def as_json(self) -> dict[str, Any]:
        """The ``frag_stats`` object of ``netsim nc --json``."""
        d = self.delta
        hist = d.tx_nr_frags
        last = max((n for n, c in enumerate(hist) if c), default=0)
        doc: dict[str, Any] = {
            "allocator": self.allocator,
            "build": self.build,
            "bytes": self.nbytes,
            "skbs": self.skbs,
            "frags_per_skb": round(self.frags_per_skb, 3),
            "frags_histogram": list(hist[: last + 1]),
            "coalesce_hits": d["skb_coalesce"],
            "new_frags": d["skb_new_frag"],
            "coalesce_rate": round(self.coalesce_rate, 4),
            **self._allocator_json(self.tx),
            "bytes_copied": d["skb_copy_bytes"],
            "segments": self.segments,
            "retransmits": self.retransmits,
            "loss_recovery": self.loss_recovery(),
            "rx_buffers": {dev: self._allocator_json(share) for dev, share in self.rx.items()},
            "host_refcount_ops": {name: d[name] for name in REFCOUNT_OPS},
        }
        return doc

    def _allocator_json(self, share: StatsSnapshot) -> dict[str, Any]:
        return {
            "pages_allocated_by_order": {str(o): n for o, n in _by_order(share).items()},
            "pages_allocated_per_mib": round(self.per_mib("page_alloc", share), 3),
            "pages_freed": share["page_free"],
            "refills": share["frag_refill"],
            "recycles": share["frag_recycle"],
            "abandons": share["frag_abandon"],
            "reuses": share["frag_reuse"],
            "refcount_ops": {name: share[name] for name in REFCOUNT_OPS},
            "refcount_ops_per_mib": {
                name: round(self.per_mib(name, share), 3) for name in REFCOUNT_OPS
            },
        }

    def format(self, title: str = "netsim") -> str:
        """A ``perf stat``-style block: a count, a name, and a ``#`` comment per line; the
        socket allocator's figures, then each NIC's RX buffers apart."""
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
        rows += self._allocator_rows(self.tx)
        rows += [
            (f"{self.segments:,}", "segments", "sent by the host, ACKs included"),
            (f"{self.retransmits:,}", "retransmits", ""),
        ]
        if self.retransmits or self.delta["TcpExtTCPTimeouts"]:
            rec = self.loss_recovery()
            rows += [
                (f"{rec['fast_recoveries']:,}", "fast recoveries", "SACK (RACK) or NewReno"),
                (f"{rec['fast_retransmits']:,}", "fast retransmits", ""),
                (f"{rec['loss_probes']:,}", "tail loss probes", "RACK-TLP"),
                (f"{rec['timeouts']:,}", "retransmission timeouts", ""),
                (f"{rec['spurious_timeouts']:,}", "spurious timeouts", "found by F-RTO"),
                (f"{rec['undone']:,}", "reductions undone", "timestamps, D-SACKs, F-RTO"),
            ]
        rx = self.rx
        rx_rows = {dev: self._allocator_rows(share, rx=True) for dev, share in rx.items()}
        width = max(len(r[0]) for r in rows + [r for v in rx_rows.values() for r in v])
        build = f", {self.build}" if self.build else ""
        lines = [
            f" Performance counter stats for '{title}' (allocator {self.allocator}{build}):",
            "",
        ]
        lines += _format_rows(rows, width)
        for dev, dev_rows in rx_rows.items():
            lines += ["", f"  {dev} RX buffers (the driver's own page_frag_cache, counted apart):"]
            lines += _format_rows(dev_rows, width)
        lines.append("")
        lines.append(f"  frags/skb histogram: {_histogram(d.tx_nr_frags)}")
        return "\n".join(lines)

    def _allocator_rows(self, share: StatsSnapshot, rx: bool = False) -> list[tuple[str, str, str]]:
        rows: list[tuple[str, str, str]] = []
        for order, count in _by_order(share).items():
            rows.append((f"{count:,}", f"pages allocated (order {order})", ""))
        rows += [
            (f"{share['frag_refill']:,}", "frag refills", ""),
            (f"{share['frag_recycle']:,}", "frag recycles", "page_frag_cache: same page from 0"),
        ]
        if not rx:
            rows.append(
                (f"{share['frag_reuse']:,}", "frag reuses", "page_frag: restart at refcount 1")
            )
        rows.append((f"{share['frag_abandon']:,}", "frag abandons", "page left to its other users"))
        for name in REFCOUNT_OPS:
            if rx and not share[name]:
                continue
            per_mib = self.per_mib(name, share)
            rows.append((f"{share[name]:,}", name, f"{per_mib:10.2f} /MiB"))
        return rows


def _by_order(share: StatsSnapshot) -> dict[int, int]:
    return {o: n for o, n in enumerate(share.per_order["page_alloc"]) if n}


def _format_rows(rows: Sequence[tuple[str, str, str]], width: int) -> list[str]:
    lines = []
    for value, name, comment in rows:
        line = f"  {value:>{width}}      {name:<32}"
        if comment:
            line += f"#  {comment}"
        lines.append(line.rstrip())
    return lines


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
    """A before/after table across allocators, like the series' cover letter: the socket
    allocators' refcount operations per MiB first, then the rest (pages allocated per MiB: the
    series' trade-off of page appetite against atomics); MB/s labelled as the emulator's
    speed.  RX buffers are left out: they are the driver's, whichever allocator the sockets
    use."""
    names = list(reports)
    rows: list[tuple[str, list[str]]] = []
    for op in REFCOUNT_OPS:
        rows.append((f"{op} /MiB", [f"{r.per_mib(op):.2f}" for r in reports.values()]))
    total_ops = [sum(r.per_mib(op) for op in REFCOUNT_OPS) for r in reports.values()]
    rows.append(("refcount ops (all) /MiB", [f"{v:.2f}" for v in total_ops]))
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
