"""The report's formats, as the tools they imitate print them: dd's summary line and
iperf3's Transfer and Bitrate columns; and ``--explain``'s sentences and row meanings for the
cases a netcat flow seldom produces (made-up counters, so each branch is reached on purpose)."""

from __future__ import annotations

import re

import pytest

from netsim.stats import RX_ACCOUNT_SUFFIX, TX_FRAG_ACCOUNT, Counters
from netsim.stats.report import (
    FragReport,
    dd_line,
    explain_compare,
    format_compare,
    iperf_bitrate,
    iperf_bytes,
)


@pytest.mark.parametrize(
    ("nbytes", "seconds", "line"),
    [
        (
            67108864,
            0.75,
            "67108864 bytes (67 MB, 64 MiB) copied, 0.75 s, 89.5 MB/s, 85.3 MiB/s",
        ),
        (0, 0.0001, "0 bytes copied, 0.0001 s, 0.0 MB/s, 0.0 MiB/s"),
        (1, 0.5, "1 byte copied, 0.5 s, 0.0 MB/s, 0.0 MiB/s"),
        (999, 1.0, "999 bytes copied, 1 s, 0.0 MB/s, 0.0 MiB/s"),
        (1000, 1.0, "1000 bytes (1.0 kB, 1000 B) copied, 1 s, 0.0 MB/s, 0.0 MiB/s"),
    ],
)
def test_dd_line(nbytes: int, seconds: float, line: str) -> None:
    assert dd_line(nbytes, seconds) == line


def test_iperf_columns() -> None:
    """unit_snprintf(): 2 decimals below 10, 1 below 100, none above."""
    assert iperf_bytes(0) == "0 Bytes"
    assert iperf_bytes(1 << 20) == "1.00 MBytes"
    assert iperf_bytes(58_511_360) == "55.8 MBytes"
    assert iperf_bytes(256 << 20) == "256 MBytes"
    assert iperf_bitrate(468e6) == "468 Mbits/sec"
    assert iperf_bitrate(55.8e6) == "55.8 Mbits/sec"
    assert iperf_bitrate(1.1e9) == "1.10 Gbits/sec"


# -- --explain: the rows' meanings and the sentences, on counters made up for each case ---------

MIB = 1 << 20


def _counters(values: dict[str, int], hist: dict[int, int] | None = None) -> Counters:
    """Counters with ``values``; every page allocated is of order 3."""
    c = Counters()
    for name, value in values.items():
        setattr(c, name, value)
    c.page_alloc_order[3] = values.get("page_alloc", 0)
    for n, count in (hist or {}).items():
        c.tx_nr_frags[n] = count
    return c


def _report(
    allocator: str,
    tx: dict[str, int],
    host: dict[str, int] | None = None,
    *,
    hist: dict[int, int] | None = None,
    rx: dict[str, int] | None = None,
    nbytes: int = MIB,
) -> FragReport:
    """A report of ``nbytes`` sent: ``tx`` the socket allocator's counters (its pages
    allocated are its refills), ``host`` the host's own (copies, segments), ``rx`` an
    ``eth0 rx`` account."""
    accounts = {TX_FRAG_ACCOUNT: _counters(tx | {"page_alloc": tx.get("frag_refill", 0)})}
    if rx is not None:
        accounts["eth0" + RX_ACCOUNT_SUFFIX] = _counters(rx | {"page_alloc": rx["frag_refill"]})
    delta = _counters(host or {}, hist=hist).snapshot(accounts)
    return FragReport(allocator, nbytes, 0.5, delta)


#: 64 frag slots of one 16 KiB write each, TCP: the host's side of a 1 MiB flow
FLOW = {"skb_new_frag": 64, "TcpOutSegs": 128}
SINGLE = {1: 64}


def test_explain_page_frag_that_never_reuses_nor_abandons() -> None:
    """One page served everything (refcount never back at 1, never too full): the sentences
    say so instead of giving zeros."""
    tx = {"frag_commit": 2, "page_get": 2, "page_put": 3, "frag_refill": 1}
    report = _report("page_frag", tx, {"skb_new_frag": 2, "UdpOutDatagrams": 2}, hist={1: 2})
    text = "\n".join(report.explain())
    assert "2 get_page (2.00 per MiB): one per new frag slot — 2 slots, 2.00 per MiB" in text
    assert "the other" not in text  # every get_page was a new slot's
    assert "(when it is drained)" in text
    assert "It never reused its page" in text
    assert "by datagrams waiting for the reader to read them" in text
    assert "It never abandoned a page." in text
    assert "Pages allocated: 1 refills, 1.00 per MiB (1 of order 3): the first page" in text


def test_explain_an_unknown_allocator_by_its_counters() -> None:
    """A registered allocator netsim does not know is placed by its counters: prepaid
    (page_ref_add), per-slot get_page, or neither."""
    bias = {"frag_commit": 64, "page_ref_add": 3, "page_ref_sub_and_test": 3, "frag_refill": 3}
    bias |= {"frag_abandon": 2, "page_put": 64}
    text = "\n".join(_report("my_cache", bias, FLOW, hist=SINGLE).explain())
    assert "Its 64 new frag slots took no get_page" in text
    assert "No get_page at all" not in text
    getter = {"frag_commit": 64, "page_get": 64, "page_put": 66, "frag_refill": 2}
    getter |= {"frag_abandon": 1}
    text = "\n".join(_report("my_frag", getter, FLOW, hist=SINGLE).explain())
    assert "64 get_page (64.00 per MiB): one per new frag slot" in text
    assert "my_frag prepays no references" in text
    getter["page_ref_add"] = 1  # not page_frag's way: said as counted
    text = "\n".join(_report("page_frag", getter, FLOW, hist=SINGLE).explain())
    assert "1 page_ref_add and 0 page_ref_sub_and_test: page_frag prepays references too." in text
    other = {"frag_commit": 64, "frag_refill": 4, "frag_recycle": 1, "frag_abandon": 2}
    text = "\n".join(_report("my_own", other, {"skb_new_frag": 64}).explain())
    assert "my_own is not one of netsim's own allocators" in text
    assert "64 frags handed out, 4 refills, 1 recycles, 0 reuses, 2 abandons" in text
    assert "a new page when there was none or after an abandon" in text  # 4 != 2 + 1
    assert "by skbs not yet freed" not in text  # no mechanism told for an unknown one


def test_explain_a_cache_whose_page_never_filled() -> None:
    tx = {"frag_commit": 3, "page_ref_add": 1, "page_ref_sub_and_test": 1, "frag_refill": 1}
    tx["page_put"] = 3
    report = _report("page_frag_cache", tx, {"skb_new_frag": 2, "skb_coalesce": 1}, hist={2: 1})
    text = "\n".join(report.explain())
    assert "Its page never filled up: the 3 frags fit in the pages it refilled" in text
    assert "0 recycles, 0 abandons and 1 when it was drained at the end" in text
    assert "1 of the 3 copies into frags (33.3%) were merged into the previous frag" in text
    assert "get_page (" not in text


def test_explain_copies_that_took_a_slot_each_in_shared_skbs() -> None:
    """No copy merged although skbs carried several frags (another owner's page between
    them, say): no claim that a single frag per skb was the reason."""
    tx = {"frag_commit": 4, "page_get": 4, "page_put": 5, "frag_refill": 1}
    text = "\n".join(_report("page_frag", tx, {"skb_new_frag": 4}, hist={2: 2}).explain())
    assert (
        "No copy was merged into a previous frag: each of the 4 copies took a new frag slot."
        in (text)
    )


def test_explain_names_the_rx_buffers_apart() -> None:
    rx = {"frag_refill": 1, "frag_recycle": 5, "page_ref_add": 1, "page_ref_sub_and_test": 5}
    idle = _report("page_frag", {}, {"TcpOutSegs": 3}, rx=rx, nbytes=0)
    first, rx_sentence = idle.explain()
    assert "handed out no frags here" in first
    assert rx_sentence.startswith("The RX buffers of eth0 come from the driver's own")
    text = idle.format("t", explain=True)
    assert "eth0 RX buffers" in text
    assert re.search(r"frag recycles\s+#  page_frag_cache: page full, every frag freed", text)
    assert "(no data skbs)" in text


def _pair() -> dict[str, FragReport]:
    old = {"frag_commit": 64, "page_get": 66, "page_put": 76, "frag_refill": 10}
    old |= {"frag_reuse": 30, "frag_abandon": 9}
    new = {"frag_commit": 64, "page_get": 2, "page_put": 66, "frag_refill": 16}
    new |= {"page_ref_add": 16, "page_ref_sub_and_test": 32, "frag_recycle": 16}
    new |= {"frag_abandon": 15}
    return {
        "page_frag": _report("page_frag", old, FLOW, hist=SINGLE),
        "page_frag_cache": _report("page_frag_cache", new, FLOW, hist=SINGLE),
    }


def test_compare_table_rows_and_change_columns() -> None:
    reports = _pair()
    plain = format_compare(reports)
    lines = plain.splitlines()
    assert lines[0].split() == ["page_frag", "page_frag_cache", "change"]
    (total,) = (line for line in lines if line.startswith("refcount ops (all) /MiB"))
    assert total.split()[-3:] == ["142.00", "116.00", "-18%"]  # 66+76 -> 2+66+16+32
    (abandons,) = (line for line in lines if line.startswith("frag abandons"))
    assert abandons.split()[-2:] == ["9", "15"]
    explained = format_compare(reports, explain=True)
    assert explained.splitlines()[0].split()[-1] == "meaning"
    assert (
        "frag recycles                             0               16            page_frag_cache"
        in (explained)
    )
    assert "In words (--explain):" in explained


def test_explain_compare_both_ways() -> None:
    reports = _pair()
    words = "\n".join(explain_compare(reports))
    assert "page_frag → page_frag_cache: 142.00 → 116.00 refcount operations per MiB (-18%)" in (
        words
    )
    assert "page_get 66.00 → 2.00 (page_frag_cache takes no get_page per new frag slot" in words
    assert "page_put 76.00 → 66.00 (one per frag reference freed; page_frag also puts its own" in (
        words
    )
    assert "Pages allocated per MiB: 10.00 → 16.00 (+60%)." in words
    assert "page_frag looks at its page before every copy: it reused the page 30 times" in words
    assert "recycled the page 16 times (every frag freed) and abandoned it 15 times" in words
    assert "Frag slots" not in words  # both made the same 64
    back = "\n".join(explain_compare(dict(reversed(list(reports.items())))))
    assert "page_get 2.00 → 66.00 (page_frag takes a get_page per new frag slot)" in back
    assert "page_ref_add 16.00 → 0.00 (one per refill of a prepaid page)" in back
    assert explain_compare(dict(list(reports.items())[:1])) == []


def test_explain_compare_of_two_caches() -> None:
    """Same mechanism, different counts: the get_page and put_page differences come from
    frags shared by a second skb, and the one with more frag slots is named."""
    cache = {"frag_commit": 56, "page_get": 50, "page_put": 106, "frag_refill": 33}
    cache |= {"page_ref_add": 33, "page_ref_sub_and_test": 33, "frag_abandon": 32}
    down = cache | {"frag_commit": 81, "page_get": 78, "page_put": 159}
    reports = {
        "page_frag_cache": _report(
            "page_frag_cache", cache, {"skb_new_frag": 56, "skb_coalesce": 25}, hist={1: 25, 2: 3}
        ),
        "page_frag_cache_countdown": _report(
            "page_frag_cache_countdown", down, {"skb_new_frag": 81}, hist={1: 3, 2: 3, 3: 24}
        ),
    }
    words = "\n".join(explain_compare(reports))
    assert (
        "page_get 50.00 → 78.00 (where a frag came to be held by a second skb: split, segmented "
        "or merged; page_frag_cache_countdown made 25 more frag slots)" in words
    )
    assert "page_ref_add" not in words  # the same 33.00 on both sides
    assert "Frag slots: page_frag_cache made 56 and merged 25 copies" in words
    assert "page_frag_cache_countdown places each fragment below the previous one" in words
    assert "docs/page-appetite.md" not in words
    three = format_compare({**reports, "page_frag": _pair()["page_frag"]})
    assert "(change: each allocator against the first, page_frag_cache)" in three
    assert "3 vs 1" in three.splitlines()[0]


def test_explain_a_cache_that_only_recycled() -> None:
    """Every full page found with all its frags freed: one page for the whole run.  (No
    copies counted on the host — a caller of its own that filled frags directly — and no
    sentence about coalescing.)"""
    tx = {"frag_commit": 64, "page_put": 64, "frag_refill": 1, "page_ref_add": 1}
    tx |= {"frag_recycle": 31, "page_ref_sub_and_test": 32}
    text = "\n".join(_report("page_frag_cache", tx, {"UdpOutDatagrams": 64}).explain())
    assert "31 times every frag on it had already been freed (the reader had read those" in text
    assert "It never abandoned a page: every time it was full, all its frags had been freed." in (
        text
    )
    assert "31 recycles, 0 abandons and 1 when it was drained at the end" in text
    assert "copies" not in text
