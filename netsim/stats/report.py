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

``report.format(explain=True)`` and ``format_compare(reports, explain=True)`` (``netsim nc
--explain``) add what each row means and say, in sentences built from the run's own counters,
where each allocator spent its refcount operations and why it recycled, reused or abandoned its
pages (:meth:`FragReport.explain`, :func:`explain_compare`)::

    for sentence in report.explain():
        print(sentence)
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
from mypy_extensions import mypyc_attr

from .counters import RX_ACCOUNT_SUFFIX, TX_FRAG_ACCOUNT, StatsSnapshot

__all__ = [
    "REFCOUNT_OPS",
    "ROW_MEANINGS",
    "FragReport",
    "dd_line",
    "explain_compare",
    "format_compare",
    "iperf_bitrate",
    "iperf_bytes",
]

#: The page refcount operations, in report order.
REFCOUNT_OPS: Final = ("page_get", "page_put", "page_ref_add", "page_ref_sub_and_test")

MIB: Final = 1 << 20

#: What each report row means, in one line (``netsim nc --explain``): the ``perf stat`` block's
#: rows and the ``--compare`` table's (by their name without `` /MiB``).
ROW_MEANINGS: Final[dict[str, str]] = {
    "skbs": "data skbs handed to IP",
    "copies into frags": "a merge takes no new slot and no reference",
    "bytes copied": "from the writer's buffers into page frags",
    "pages allocated": "one per refill; recycles and reuses take none",
    "frag refills": "a new page: the first, then one per abandon",
    "frag recycles": "page_frag_cache: page full, every frag freed: reused",
    "frag reuses": "page_frag: count back at 1 (frags freed): reused",
    "frag abandons": "page full, still held by frags: left to them",
    "page_get": "page_frag: one per new frag slot; frags shared by 2 skbs",
    "page_put": "one per frag reference freed; page_frag's own too",
    "page_ref_add": "page_frag_cache: one per refill, prepaying refs",
    "page_ref_sub_and_test": "page_frag_cache: bias given back (recycle, abandon, drain)",
    "refcount ops (all)": "the four together: the atomics the series trades",
    "frags/skb": "page frags per data skb, on average",
    "coalesce rate": "copies merged into the previous frag",
    "segments": "sent by the host, ACKs included",
    "retransmits": "segments TCP sent again",
    "MB/s (emulator speed)": "Python's speed, not the kernel's",
}

#: The perf block's short notes on the allocator rows (without ``--explain``).
_ROW_NOTES: Final[dict[str, str]] = {
    "pages allocated": "one per refill",
    "frag refills": "the allocator took a new page",
    "frag recycles": "page_frag_cache: full page reused from 0, no allocation",
    "frag reuses": "page_frag: page back at refcount 1, reused from 0",
    "frag abandons": "full page left to the frags holding it; a refill follows",
}

#: Text width of the ``--explain`` sentences.
EXPLAIN_WIDTH: Final = 100


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

    def format(self, title: str = "netsim", *, explain: bool = False) -> str:
        """A ``perf stat``-style block: a count, a name, and a ``#`` comment per line; the
        socket allocator's figures, then each NIC's RX buffers apart.  With ``explain``, each
        row also says what it means, and the block ends with :meth:`explain`'s sentences."""
        d = self.delta
        rows: list[_Row] = [
            (f"{self.skbs:,}", "skbs", f"{self.frags_per_skb:.2f} frags/skb", ""),
            (
                f"{d['skb_new_frag'] + d['skb_coalesce']:,}",
                "copies into frags",
                f"{self.coalesce_rate:.1%} coalesced into the previous frag",
                "",
            ),
            (f"{d['skb_copy_bytes']:,}", "bytes copied", "", ""),
        ]
        rows += self._allocator_rows(self.tx)
        rows += [
            (f"{self.segments:,}", "segments", "", "sent by the host, ACKs included"),
            (f"{self.retransmits:,}", "retransmits", "", ""),
        ]
        if self.retransmits or self.delta["TcpExtTCPTimeouts"]:
            rec = self.loss_recovery()
            rows += [
                (f"{rec['fast_recoveries']:,}", "fast recoveries", "", "SACK (RACK) or NewReno"),
                (f"{rec['fast_retransmits']:,}", "fast retransmits", "", ""),
                (f"{rec['loss_probes']:,}", "tail loss probes", "", "RACK-TLP"),
                (f"{rec['timeouts']:,}", "retransmission timeouts", "", ""),
                (f"{rec['spurious_timeouts']:,}", "spurious timeouts", "", "found by F-RTO"),
                (f"{rec['undone']:,}", "reductions undone", "", "timestamps, D-SACKs, F-RTO"),
            ]
        rx = self.rx
        rx_rows = {dev: self._allocator_rows(share, rx=True) for dev, share in rx.items()}
        width = max(len(r[0]) for r in rows + [r for v in rx_rows.values() for r in v])
        build = f", {self.build}" if self.build else ""
        lines = [
            f" Performance counter stats for '{title}' (allocator {self.allocator}{build}):",
            "",
        ]
        lines += _format_rows(rows, width, explain)
        for dev, dev_rows in rx_rows.items():
            lines += ["", f"  {dev} RX buffers (the driver's own page_frag_cache, counted apart):"]
            lines += _format_rows(dev_rows, width, explain)
        lines.append("")
        lines.append(f"  frags/skb histogram: {_histogram(d.tx_nr_frags)}")
        if explain:
            lines += ["", f"  What {self.allocator} did, and why (--explain):"]
            lines += _wrap(self.explain())
        return "\n".join(lines)

    def _allocator_rows(self, share: StatsSnapshot, rx: bool = False) -> list[_Row]:
        rows: list[_Row] = []
        for order, count in _by_order(share).items():
            rows.append((f"{count:,}", f"pages allocated (order {order})", "", ""))
        rows += [
            (f"{share['frag_refill']:,}", "frag refills", "", ""),
            (f"{share['frag_recycle']:,}", "frag recycles", "", ""),
        ]
        if not rx:
            rows.append((f"{share['frag_reuse']:,}", "frag reuses", "", ""))
        rows.append((f"{share['frag_abandon']:,}", "frag abandons", "", ""))
        for name in REFCOUNT_OPS:
            if rx and not share[name]:
                continue
            per_mib = self.per_mib(name, share)
            rows.append((f"{share[name]:,}", name, f"{per_mib:10.2f} /MiB", ""))
        return rows

    # -- in words (--explain) ------------------------------------------------------------

    def explain(self) -> list[str]:
        """Where the sockets' allocator spent its refcount operations, and why it recycled,
        reused or abandoned pages: one sentence (or two) per point, every number taken from
        this run's counters, and what did not happen said too (no recycles, and why not).

        The known allocators get their mechanism told (``page_frag``: a ``get_page`` per new
        frag slot; ``page_frag_cache``: prepaid references, one ``page_ref_add`` per refill;
        ``page_frag_cache_countdown``: why it never coalesces); another registered allocator
        is placed by what its counters show."""
        tx = self.tx
        name = self.allocator or "the allocator"
        style = _style(self.allocator, tx)
        if not tx["frag_commit"] and not tx["frag_refill"]:
            return [
                f"The sockets' allocator ({name}) handed out no frags here: no payload was "
                "copied into page frags on this host (a datagram that fits the skb's linear "
                "part goes there, and a listener only receives), so it took no refcount "
                "operations.",
                *self._explain_rx(),
            ]
        ops = [tx[op] for op in REFCOUNT_OPS]
        total = sum(ops)
        sentences = [
            f"{self.allocator or 'The allocator'} took {total:,} refcount operations for "
            f"{self.mib:.2f} MiB of payload, "
            f"{_pm(total, self.mib)} per MiB: "
            + ", ".join(f"{n:,} {op}" for op, n in zip(REFCOUNT_OPS, ops, strict=True))
            + ". Each is an atomic in the kernel, the cost the series cuts."
        ]
        if style == "get":
            sentences += self._explain_get(name, tx)
        elif style == "bias":
            sentences += self._explain_bias(name, tx)
        else:
            sentences += self._explain_other(name, tx)
        sentences += self._explain_coalescing(name)
        sentences += self._explain_rx()
        return sentences

    def _holders(self) -> tuple[str, str]:
        """Who holds a frag until it is freed, and what freeing them took, in this flow's
        words: (still held by ..., every frag freed because ...)."""
        d = self.delta
        if d["TcpOutSegs"]:
            return (
                "by skbs waiting for their ACK or for the reader to read them",
                "the reader had read the data and the ACKs had freed the sender's copies",
            )
        if d["UdpOutDatagrams"] or d["Udp6OutDatagrams"]:
            return (
                "by datagrams waiting for the reader to read them",
                "the reader had read those datagrams",
            )
        return ("by skbs not yet freed", "every skb using it had been freed")

    def _explain_get(self, name: str, tx: StatsSnapshot) -> list[str]:
        """``page_frag``: a ``get_page`` per new frag slot; it restarts its page whenever the
        count is back at 1, and abandons it when it is too full and still held."""
        mib = self.mib
        commits, gets, puts = tx["frag_commit"], tx["page_get"], tx["page_put"]
        refills, reuses, abandons = tx["frag_refill"], tx["frag_reuse"], tx["frag_abandon"]
        other = gets - commits
        get = (
            f"{gets:,} get_page ({_pm(gets, mib)} per MiB): one per new frag slot — {commits:,} "
            f"slots, {_pm(commits, mib)} per MiB — because each frag in an skb holds its own "
            "page reference, taken when the slot is created"
        )
        if other > 0:
            get += (
                f"; the other {other:,} were taken where a frag came to be held by a second skb "
                "(split, segmented, or merged by the receiver), as with any allocator"
            )
        lost = f"at each of its {abandons:,} abandons and " if abandons else ""
        sentences = [
            get + ".",
            f"{puts:,} put_page ({_pm(puts, mib)} per MiB): one per frag reference dropped when "
            f"its skb is freed, plus {name}'s own reference on each page it lets go of "
            f"({lost}when it is drained).",
        ]
        if tx["page_ref_add"] or tx["page_ref_sub_and_test"]:
            sentences.append(
                f"{tx['page_ref_add']:,} page_ref_add and {tx['page_ref_sub_and_test']:,} "
                f"page_ref_sub_and_test: {name} prepays references too."
            )
        else:
            sentences.append(
                f"No page_ref_add and no page_ref_sub_and_test: {name} prepays no references."
            )
        held, freed = self._holders()
        if reuses:
            sentences.append(
                f"It looks at its page before every copy: {reuses:,} times the count was back at "
                f"1 — every frag on the page freed ({freed}), only its own reference left — and "
                "it started the page again from offset 0 (a reuse: no allocation, no atomic)."
            )
        else:
            sentences.append(
                "It never reused its page: before every copy it looks for the count back at 1 "
                f"(every frag freed), and it never was — frags were still held {held}."
            )
        if abandons:
            sentences.append(
                f"{abandons:,} times the page had too little room left while frags still held it "
                f"({held}): {name} dropped its own reference — the page lives on until those "
                "frags are freed, and the last put_page frees it — and refilled with a new page."
            )
        else:
            sentences.append("It never abandoned a page.")
        sentences.append(self._pages(refills, abandons))
        return sentences

    def _explain_bias(self, name: str, tx: StatsSnapshot) -> list[str]:
        """``page_frag_cache``: prepaid references (``pagecnt_bias``); it looks at its page
        only when it is full, and then recycles or abandons it."""
        mib = self.mib
        commits, gets, puts = tx["frag_commit"], tx["page_get"], tx["page_put"]
        adds, subs = tx["page_ref_add"], tx["page_ref_sub_and_test"]
        refills, recycles, abandons = tx["frag_refill"], tx["frag_recycle"], tx["frag_abandon"]
        sentences = [
            f"Its {commits:,} new frag slots took no get_page: each took one of the references "
            "prepaid at refill, a pagecnt_bias decrement — a plain subtraction in the cache, "
            "not an atomic."
        ]
        if gets:
            sentences.append(
                f"The {gets:,} get_page ({_pm(gets, mib)} per MiB) were taken where a frag came "
                "to be held by a second skb (split, segmented, or merged by the receiver), as "
                "with any allocator."
            )
        sentences.append(
            f"{adds:,} page_ref_add ({_pm(adds, mib)} per MiB): one per refill ({refills:,}), "
            "each giving a new page all the references the cache will hand out, in one atomic."
        )
        drains = subs - recycles - abandons
        end = f" and {drains:,} when it was drained at the end" if drains > 0 else ""
        sentences.append(
            f"{subs:,} page_ref_sub_and_test ({_pm(subs, mib)} per MiB): one each time the cache "
            f"was done with a page and gave back the references it had not handed out — "
            f"{recycles:,} recycles, {abandons:,} abandons{end}."
        )
        sentences.append(
            f"{puts:,} put_page ({_pm(puts, mib)} per MiB): one per frag reference dropped when "
            "its skb is freed; the cache's own prepaid references never go through put_page."
        )
        held, freed = self._holders()
        full = recycles + abandons
        if not full:
            sentences.append(
                f"Its page never filled up: the {commits:,} frags fit in the pages it refilled, "
                "so there was nothing to recycle or abandon."
            )
        else:
            sentences.append(
                "It looks at its page only when the page is full (the next frag does not fit): "
                f"{full:,} times here."
            )
            if recycles:
                sentences.append(
                    f"{recycles:,} times every frag on it had already been freed ({freed}): the "
                    "count had drained to the bias, and the cache recycled the page — the same "
                    "page again from offset 0, no allocation, no page_ref_add."
                )
            else:
                sentences.append(
                    "It never recycled: each time the page was full, frags on it were still "
                    f"held ({held})."
                )
            if abandons:
                sentences.append(
                    f"{abandons:,} times frags on it were still held ({held}): the cache "
                    "abandoned the page — it lives on until those frags are freed, and the last "
                    "put_page frees it — and refilled with a new page."
                )
            else:
                sentences.append(
                    "It never abandoned a page: every time it was full, all its frags had been "
                    "freed."
                )
        sentences.append(self._pages(refills, abandons))
        return sentences

    def _explain_other(self, name: str, tx: StatsSnapshot) -> list[str]:
        """An allocator netsim does not know: what its counters show, without a mechanism."""
        return [
            f"{name} is not one of netsim's own allocators; its counters: "
            f"{tx['frag_commit']:,} frags handed out, {tx['frag_refill']:,} refills, "
            f"{tx['frag_recycle']:,} recycles, {tx['frag_reuse']:,} reuses, "
            f"{tx['frag_abandon']:,} abandons.",
            self._pages(tx["frag_refill"], tx["frag_abandon"]),
        ]

    def _pages(self, refills: int, abandons: int) -> str:
        orders = ", ".join(f"{n:,} of order {o}" for o, n in _by_order(self.tx).items()) or "none"
        why = (
            "the first page, then one after each abandon"
            if refills == abandons + 1
            else ("a new page when there was none or after an abandon")
        )
        return (
            f"Pages allocated: {refills:,} refills, {_pm(refills, self.mib)} per MiB ({orders}): "
            f"{why}. A recycle or a reuse allocates nothing."
        )

    def _explain_coalescing(self, name: str) -> list[str]:
        d = self.delta
        merged, new = d["skb_coalesce"], d["skb_new_frag"]
        copies = merged + new
        if not copies:
            return []
        single = self.skbs > 0 and self.frags_per_skb <= 1.0
        if self.allocator == COUNTDOWN:
            text = (
                f"{name} hands fragments out downward from the end of its page: each one sits "
                "below the previous, so skb_can_coalesce (same page, starting where the "
                f"previous frag ends) never merges a copy into the previous frag — {merged:,} "
                f"of {copies:,} copies merged, {new:,} new frag slots, "
                f"{self.frags_per_skb:.2f} frags per skb."
            )
            if not merged and single:
                text += (
                    " In this run that cost nothing: each skb carried a single frag, so no copy "
                    "had a previous frag in its skb to continue."
                )
            else:
                text += (
                    " A count-up allocator merges consecutive copies into one frag; here each "
                    "takes a slot of its own, a prepaid reference, and a put_page when the skb "
                    "is freed."
                )
            return [text]
        if merged:
            return [
                f"{merged:,} of the {copies:,} copies into frags ({self.coalesce_rate:.1%}) were "
                "merged into the previous frag (skb_can_coalesce: the same page, starting where "
                "that frag ends) and took no reference at all — with any allocator."
            ]
        if single:
            return [
                f"No copy was merged into a previous frag: each skb carried a single frag, so "
                f"each of the {copies:,} copies started a new frag slot."
            ]
        return [
            f"No copy was merged into a previous frag: each of the {copies:,} copies took a new "
            "frag slot."
        ]

    def _explain_rx(self) -> list[str]:
        devs = list(self.rx)
        if not devs:
            return []
        return [
            f"The RX buffers of {', '.join(devs)} come from the driver's own page_frag_cache "
            "and are counted apart: they are the same whichever allocator the sockets use."
        ]


#: A report row: (value, name, figure, note) — the figure (``64.50 /MiB``) and the note are
#: the ``#`` comment; with ``--explain`` the note gives way to :data:`ROW_MEANINGS`.
_Row = tuple[str, str, str, str]

COUNTDOWN: Final = "page_frag_cache_countdown"


def _style(allocator: str, share: StatsSnapshot) -> str:
    """How an allocator hands out references: ``"get"`` (a ``get_page`` per new frag slot, as
    ``page_frag``), ``"bias"`` (prepaid, as ``page_frag_cache``), or ``""`` (unknown)."""
    if allocator == "page_frag":
        return "get"
    if allocator in ("page_frag_cache", COUNTDOWN):
        return "bias"
    if share["page_ref_add"]:
        return "bias"
    if share["frag_commit"] and share["page_get"] >= share["frag_commit"]:
        return "get"
    return ""


def _pm(count: int, mib: float) -> str:
    """``count`` per MiB, as the report's columns print it."""
    return f"{count / mib if mib else 0.0:.2f}"


def _row_key(name: str) -> str:
    """The :data:`ROW_MEANINGS` key of a row: ``pages allocated (order 3)`` → ``pages
    allocated``, ``page_get /MiB`` → ``page_get``."""
    return name.split(" (order ")[0].removesuffix(" /MiB")


def _meaning(name: str, note: str = "") -> str:
    return ROW_MEANINGS.get(_row_key(name), note)


def _wrap(sentences: Sequence[str], indent: str = "  ") -> list[str]:
    """The ``--explain`` sentences as a list, one item each, wrapped to the report's width."""
    lines: list[str] = []
    for sentence in sentences:
        lines += textwrap.wrap(
            sentence,
            EXPLAIN_WIDTH,
            initial_indent=indent + "* ",
            subsequent_indent=indent + "  ",
            break_on_hyphens=False,
        )
    return lines


def _by_order(share: StatsSnapshot) -> dict[int, int]:
    return {o: n for o, n in enumerate(share.per_order["page_alloc"]) if n}


def _format_rows(rows: Sequence[_Row], width: int, explain: bool = False) -> list[str]:
    lines = []
    for value, name, figure, note in rows:
        if explain:
            comment = "  ".join(x for x in (figure, _meaning(name, note)) if x)
        else:
            comment = figure or note or _ROW_NOTES.get(_row_key(name), "")
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


def _total_per_mib(report: FragReport) -> float:
    return sum(report.per_mib(op) for op in REFCOUNT_OPS)


def format_compare(reports: Mapping[str, FragReport], *, explain: bool = False) -> str:
    """A before/after table across allocators, like the series' cover letter: the socket
    allocators' refcount operations per MiB first, then the rest (pages allocated per MiB: the
    series' trade-off of page appetite against atomics); MB/s labelled as the emulator's
    speed.  RX buffers are left out: they are the driver's, whichever allocator the sockets
    use.  Every per-MiB row, the total of the four refcount operations included, has a change
    column per allocator after the first, against the first.

    With ``explain``, each row ends with what it means, and sentences follow the table
    (:func:`explain_compare`)."""
    names = list(reports)
    values = list(reports.values())
    rows: list[tuple[str, list[str]]] = []
    for op in REFCOUNT_OPS:
        rows.append((f"{op} /MiB", [f"{r.per_mib(op):.2f}" for r in values]))
    rows.append(("refcount ops (all) /MiB", [f"{_total_per_mib(r):.2f}" for r in values]))
    rows.append(("frags/skb", [f"{r.frags_per_skb:.2f}" for r in values]))
    rows.append(("coalesce rate", [f"{r.coalesce_rate:.1%}" for r in values]))
    rows.append(("pages allocated /MiB", [f"{r.per_mib('page_alloc'):.2f}" for r in values]))
    rows.append(("frag recycles", [f"{r.tx['frag_recycle']}" for r in values]))
    rows.append(("frag reuses", [f"{r.tx['frag_reuse']}" for r in values]))
    rows.append(("frag abandons", [f"{r.tx['frag_abandon']}" for r in values]))
    rows.append(("segments", [f"{r.segments}" for r in values]))
    rows.append(
        (
            "MB/s (emulator speed)",
            [f"{r.nbytes / r.seconds / 1e6:.1f}" if r.seconds else "-" for r in values],
        )
    )
    label_w = max(len(label) for label, _ in rows)
    col_w = max(12, *(len(n) for n in names))
    # one change column per allocator after the first: "change" for a pair, else "2 vs 1"...
    changes = ["change"] if len(names) == 2 else [f"{i + 1} vs 1" for i in range(1, len(names))]
    header = f"{'':{label_w}}  " + "  ".join(f"{n:>{col_w}}" for n in names)
    header += "".join(f"  {c:>8}" for c in changes)
    if explain:
        header += "  meaning"
    lines = [header.rstrip() if not explain else header]
    for label, cells in rows:
        line = f"{label:{label_w}}  " + "  ".join(f"{v:>{col_w}}" for v in cells)
        per_mib = label.endswith("/MiB")
        line += "".join(f"  {_change(cells[0], cell) if per_mib else '':>8}" for cell in cells[1:])
        if explain:
            line += f"  {_meaning(label)}"
        lines.append(line.rstrip())
    if len(names) > 2:
        lines.append(f"(change: each allocator against the first, {names[0]})")
    if explain:
        lines += ["", "In words (--explain):"]
        lines += _wrap(explain_compare(reports), indent="")
    return "\n".join(lines)


def explain_compare(reports: Mapping[str, FragReport]) -> list[str]:
    """The ``--compare`` table in sentences: each allocator after the first against the first
    — the refcount operations per MiB and which of the four made the difference, the pages
    allocated per MiB and why (when each allocator looks at its page), and frag slots where
    coalescing differed.  The numbers are the table's."""
    items = list(reports.items())
    if len(items) < 2:
        return []
    a, base = items[0]
    sentences: list[str] = []
    for b, other in items[1:]:
        sentences += _compare_pair(a, base, b, other)
    return sentences


def _compare_pair(a: str, ra: FragReport, b: str, rb: FragReport) -> list[str]:
    sa, sb = _style(ra.allocator, ra.tx), _style(rb.allocator, rb.tx)
    ta, tb = _total_per_mib(ra), _total_per_mib(rb)
    new_a, new_b = ra.delta["skb_new_frag"], rb.delta["skb_new_frag"]
    more = ""
    if new_a != new_b:
        name, extra = (b, new_b - new_a) if new_b > new_a else (a, new_a - new_b)
        more = f"; {name} made {extra:,} more frag slots"
    parts: list[str] = []
    for op in REFCOUNT_OPS:
        va, vb = f"{ra.per_mib(op):.2f}", f"{rb.per_mib(op):.2f}"
        if va == vb:
            continue
        why = _why_op(op, a, sa, b, sb)
        if op in ("page_get", "page_put") and sa == sb:
            why += more
        parts.append(f"{op} {va} → {vb} ({why})")
    refcounts = (
        f"{a} → {b}: {ta:.2f} → {tb:.2f} refcount operations per MiB "
        f"({_change(f'{ta:.2f}', f'{tb:.2f}') or 'no change'})"
    )
    refcounts += (": " + "; ".join(parts) + ".") if parts else "."
    sentences = [refcounts]
    pa, pb = f"{ra.per_mib('page_alloc'):.2f}", f"{rb.per_mib('page_alloc'):.2f}"
    pages = f"Pages allocated per MiB: {pa} → {pb} ({_change(pa, pb) or 'no change'})."
    looks = {"get": "before every copy", "bias": "only when it is full"}
    for name, r, style in ((a, ra, sa), (b, rb, sb)):
        tx = r.tx
        when = f" looks at its page {looks[style]}: it" if style in looks else ""
        kept = []
        if tx["frag_reuse"]:
            kept.append(f"reused the page {tx['frag_reuse']:,} times (count back at 1)")
        if tx["frag_recycle"]:
            kept.append(f"recycled the page {tx['frag_recycle']:,} times (every frag freed)")
        kept.append(
            f"abandoned it {tx['frag_abandon']:,} times (frags still held: a new page each)"
        )
        pages += f" {name}{when} " + ", ".join(kept[:-1]) + " and " * (len(kept) > 1)
        pages += kept[-1] + "."
    if sa != sb and "" not in (sa, sb):
        pages += " docs/page-appetite.md traces why, write by write."
    sentences.append(pages)
    merged_a, merged_b = ra.delta["skb_coalesce"], rb.delta["skb_coalesce"]
    if (merged_a, new_a) != (merged_b, new_b):
        frags = (
            f"Frag slots: {a} made {new_a:,} and merged {merged_a:,} copies into the previous "
            f"frag ({ra.coalesce_rate:.1%}), {b} made {new_b:,} and merged {merged_b:,} "
            f"({rb.coalesce_rate:.1%}): {ra.frags_per_skb:.2f} → {rb.frags_per_skb:.2f} frags "
            "per skb."
        )
        for name in (a, b):
            if name == COUNTDOWN:
                frags += (
                    f" {name} places each fragment below the previous one, so consecutive "
                    "copies never coalesce."
                )
        sentences.append(frags)
    return sentences


def _why_op(op: str, a: str, sa: str, b: str, sb: str) -> str:
    """Why ``op`` differs between ``a`` and ``b`` (their styles ``sa``, ``sb``)."""
    if op == "page_get":
        if sa == "get" and sb == "bias":
            return f"{b} takes no get_page per new frag slot, a bias decrement instead"
        if sa == "bias" and sb == "get":
            return f"{b} takes a get_page per new frag slot"
        return "where a frag came to be held by a second skb: split, segmented or merged"
    if op == "page_ref_add":
        return "one per refill of a prepaid page"
    if op == "page_ref_sub_and_test":
        return "one per recycle, abandon or drain of a prepaid page"
    own = [n for n, s in ((a, sa), (b, sb)) if s == "get"]
    if own:
        return (
            f"one per frag reference freed; {' and '.join(own)} also puts its own reference on "
            "each page it lets go of"
        )
    return "one per frag reference freed"


def _change(before: str, after: str) -> str:
    a, b = float(before), float(after)
    if a == 0:
        return "" if b == 0 else "new"
    return f"{(b - a) / a:+.0%}"
