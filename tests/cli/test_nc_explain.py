"""``netsim nc --explain``: the report rows' meanings and the allocators' story in sentences.

Every number a sentence carries is checked against the counters of the same run — the JSON
``frag_stats`` of a ``--json --explain`` run, or the ``perf stat`` rows printed above the
sentences — and the story must follow what happened: recycles when the reader keeps up (a
small ``SO_SNDBUF`` makes the writer wait for it), none when it cannot (32 KiB writes fill a
page per write, and the next write finds it still held), the count-down cache's lost
coalescing.  The flows run in virtual time (``MockClock``); nothing here looks at wall time.
"""

from __future__ import annotations

import io
import json
import pydoc
import re
from typing import Any

import pytest
import trio
import trio.testing

import netsim
from netsim.cli.nc import parse_args, run
from netsim.mm import FragAllocator
from netsim.sock.sock import Sock, sk_page_frag
from netsim.tcp import TcpSock

MIB = 1 << 20
BASE = ["-N", "127.0.0.1", "1234", "--interval", "0", "--explain"]
OPS = ("page_get", "page_put", "page_ref_add", "page_ref_sub_and_test")


def _run(argv: list[str]) -> str:
    """``netsim nc ARGV`` in virtual time; its stdout."""
    out = io.StringIO()
    assert run(parse_args(argv), out=out, clock=trio.testing.MockClock(autojump_threshold=0)) == 0
    return out.getvalue()


def _json(argv: list[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(_run([*argv, "--json"]))
    return doc


def _text(sentences: list[str]) -> str:
    return "\n".join(sentences)


def _pm(count: int, nbytes: int) -> str:
    return f"{count / (nbytes / MIB):.2f}"


def _words(text: str) -> str:
    """The ``--explain`` block as one line per sentence (the text report wraps them)."""
    items = re.split(r"^\s*\* ", text, flags=re.M)[1:]
    return "\n".join(" ".join(item.split()) for item in items)


# -- the sentences carry the run's counters ---------------------------------------------------


def test_page_frag_explains_a_get_page_per_frag_slot() -> None:
    doc = _json([*BASE, "--bytes", "1M", "--allocator", "page_frag"])
    frag, text = doc["frag_stats"], _text(doc["explain"])
    ops, nbytes = frag["refcount_ops"], frag["bytes"]
    slots = frag["new_frags"]  # 16 KiB writes: a frag slot each, never coalesced
    assert frag["coalesce_hits"] == 0
    total = sum(ops.values())
    assert f"page_frag took {total:,} refcount operations" in text
    assert f"{_pm(total, nbytes)} per MiB" in text
    assert (
        f"{ops['page_get']:,} get_page ({_pm(ops['page_get'], nbytes)} per MiB): one per new "
        f"frag slot — {slots:,} slots, {_pm(slots, nbytes)} per MiB" in text
    )
    other = ops["page_get"] - slots
    if other:
        assert f"the other {other:,} were taken where a frag came to be held by a second skb" in (
            text
        )
    assert f"{ops['page_put']:,} put_page ({_pm(ops['page_put'], nbytes)} per MiB)" in text
    assert "No page_ref_add and no page_ref_sub_and_test: page_frag prepays no references" in text
    if frag["abandons"]:
        assert f"at each of its {frag['abandons']:,} abandons" in text
        assert f"{frag['abandons']:,} times the page had too little room left" in text
    assert f"Pages allocated: {frag['refills']:,} refills" in text
    assert f"{frag['reuses']:,} times the count was back at 1" in text
    assert f"each of the {slots:,} copies started a new frag slot" in text


def test_page_frag_cache_explains_prepaid_references() -> None:
    doc = _json([*BASE, "--bytes", "1M", "--allocator", "page_frag_cache"])
    frag, text = doc["frag_stats"], _text(doc["explain"])
    ops, nbytes = frag["refcount_ops"], frag["bytes"]
    refills, recycles, abandons = frag["refills"], frag["recycles"], frag["abandons"]
    assert f"Its {frag['new_frags']:,} new frag slots took no get_page" in text
    assert "pagecnt_bias decrement — a plain subtraction in the cache, not an atomic" in text
    assert ops["page_ref_add"] == refills
    assert (
        f"{ops['page_ref_add']:,} page_ref_add ({_pm(refills, nbytes)} per MiB): one per "
        f"refill ({refills:,})" in text
    )
    subs = ops["page_ref_sub_and_test"]
    drained = subs - recycles - abandons
    assert drained == 1  # the writer's task frag, drained when the task exited
    assert (
        f"{subs:,} page_ref_sub_and_test ({_pm(subs, nbytes)} per MiB): one each time the cache "
        f"was done with a page and gave back the references it had not handed out — "
        f"{recycles:,} recycles, {abandons:,} abandons and 1 when it was drained at the end."
    ) in text
    assert f"{ops['page_put']:,} put_page ({_pm(ops['page_put'], nbytes)} per MiB)" in text
    if ops["page_get"]:
        assert f"The {ops['page_get']:,} get_page" in text
    assert f"only when the page is full (the next frag does not fit): {recycles + abandons:,}" in (
        text
    )
    assert f"Pages allocated: {refills:,} refills, {_pm(refills, nbytes)} per MiB" in text
    assert doc["frag_stats"]["pages_allocated_by_order"] == {"3": refills}
    assert f"({refills:,} of order 3)" in text


def test_text_explanation_matches_the_rows_above_it() -> None:
    """The text report: the sentences under each ``perf stat`` block carry that block's
    counts; each row carries its meaning."""
    out = _run([*BASE, "--bytes", "1M", "--allocator", "page_frag_cache"])
    block, words = out.split("What page_frag_cache did, and why (--explain):")
    rows = {
        m.group(2): int(m.group(1).replace(",", ""))
        for m in re.finditer(r"^\s+([\d,]+)\s{6}(\S[^#]*?)\s+#", block, re.M)
    }
    sentences = _words(words)
    for op in OPS:
        assert f"{rows[op]:,} {op}" in sentences
    assert f"{rows['frag recycles']:,} recycles, {rows['frag abandons']:,} abandons" in sentences
    assert f"Pages allocated: {rows['frag refills']:,} refills" in sentences
    assert re.search(r"page_ref_add\s+#\s+[\d.]+ /MiB  page_frag_cache: one per refill", block)
    assert re.search(r"frag recycles\s+#  page_frag_cache: page full, every frag freed", block)
    assert re.search(r"frag abandons\s+#  page full, still held by frags: left to them", block)


# -- the story follows what happened ------------------------------------------------------------


def test_a_reader_that_keeps_up_lets_the_cache_recycle() -> None:
    """``-O 4096``: the writer waits for send-buffer space after every write, so the reader
    reads and the ACKs free the sender's copies before the page is full: recycles."""
    doc = _json([*BASE, "--bytes", "1M", "-O", "4096", "--allocator", "page_frag_cache"])
    frag, text = doc["frag_stats"], _text(doc["explain"])
    assert frag["recycles"] > 0
    assert (
        f"{frag['recycles']:,} times every frag on it had already been freed (the reader had "
        "read the data and the ACKs had freed the sender's copies): the count had drained to "
        "the bias, and the cache recycled the page" in text
    )
    if frag["abandons"]:
        assert f"{frag['abandons']:,} times frags on it were still held" in text
    else:
        assert "It never abandoned a page: every time it was full" in text
    assert "It never recycled" not in text


@pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])
def test_a_reader_that_falls_behind_leaves_pages_to_it(allocator: str) -> None:
    """32 KiB writes: each write fills a page, and the next write finds it still held by the
    skb the reader has not read yet — every full page is abandoned, a new one allocated."""
    doc = _json([*BASE, "--bytes", "1M", "--write-size", "32768", "--allocator", allocator])
    frag, text = doc["frag_stats"], _text(doc["explain"])
    assert (frag["recycles"], frag["reuses"]) == (0, 0)
    assert frag["abandons"] == frag["refills"] - 1 > 0
    held = "by skbs waiting for their ACK or for the reader to read them"
    if allocator == "page_frag_cache":
        assert (
            f"It never recycled: each time the page was full, frags on it were still held ({held})"
            in text
        )
        assert (
            f"{frag['abandons']:,} times frags on it were still held ({held}): the cache "
            "abandoned the page — it lives on until those frags are freed" in text
        )
    else:
        assert (
            "It never reused its page: before every copy it looks for the count back at 1" in text
        )
        assert f"{frag['abandons']:,} times the page had too little room left" in text
    assert (
        f"Pages allocated: {frag['refills']:,} refills, "
        f"{_pm(frag['refills'], frag['bytes'])} per MiB" in text
    )
    assert "the first page, then one after each abandon" in text


def test_datagrams_in_the_linear_part_leave_the_allocator_idle() -> None:
    doc = _json([*BASE, "-u", "--bytes", "64K", "--write-size", "1000"])
    assert doc["frag_stats"]["refcount_ops"] == dict.fromkeys(OPS, 0)
    (sentence,) = doc["explain"]
    assert "handed out no frags here" in sentence


def test_countdown_explains_why_it_never_coalesces() -> None:
    """32 KiB writes share skbs: the count-up cache merges a write's copy into the previous
    frag where it continues it, the count-down cache never can."""
    argv = [*BASE, "--bytes", "1M", "--write-size", "32768"]
    doc = _json([*argv, "--compare", "page_frag_cache,page_frag_cache_countdown"])
    up, down = (r["frag_stats"] for r in doc["runs"])
    up_text, down_text = (_text(r["explain"]) for r in doc["runs"])
    assert up["coalesce_hits"] > 0 == down["coalesce_hits"]
    copies = down["new_frags"]
    assert (
        "page_frag_cache_countdown hands fragments out downward from the end of its page: each "
        "one sits below the previous, so skb_can_coalesce" in down_text
    )
    assert (
        f"— 0 of {copies:,} copies merged, {copies:,} new frag slots, "
        f"{down['frags_per_skb']:.2f} frags per skb." in down_text
    )
    assert "A count-up allocator merges consecutive copies into one frag" in down_text
    merged = up["coalesce_hits"]
    assert (
        f"{merged:,} of the {merged + up['new_frags']:,} copies into frags "
        f"({up['coalesce_rate']:.1%}) were merged into the previous frag" in up_text
    )
    words = _text(doc["explain"])  # --compare's sentences
    assert (
        f"Frag slots: page_frag_cache made {up['new_frags']:,} and merged {merged:,} copies"
        in words
    )
    assert f"page_frag_cache_countdown made {copies:,} and merged 0 (0.0%)" in words
    assert "places each fragment below the previous one" in words


def test_countdown_with_a_frag_per_skb_loses_nothing() -> None:
    """16 KiB writes on loopback: one frag per skb, so there was nothing to coalesce."""
    doc = _json([*BASE, "--bytes", "1M", "--allocator", "page_frag_cache_countdown"])
    assert doc["frag_stats"]["frags_per_skb"] == 1.0
    assert "In this run that cost nothing: each skb carried a single frag" in _text(doc["explain"])


# -- --compare ------------------------------------------------------------------------------


def _table(out: str) -> dict[str, list[str]]:
    table = out.split("Before/after (per MiB of payload; MB/s is the emulator's speed):\n")[1]
    rows = {}
    for line in table.split("\n\n")[0].splitlines()[1:]:
        label, _, rest = line.partition("  ")
        rows[label.strip()] = rest.split()
    return rows


def test_compare_explains_the_table_in_its_own_numbers() -> None:
    out = _run([*BASE, "--bytes", "1M", "--compare", "page_frag,page_frag_cache"])
    header = out.split("Before/after")[1].splitlines()[1]
    assert header.split() == ["page_frag", "page_frag_cache", "change", "meaning"]
    rows = _table(out)
    total = rows["refcount ops (all) /MiB"]
    old, new, change = total[:3]
    assert change == f"{(float(new) - float(old)) / float(old):+.0%}"
    assert " ".join(total[3:]) == "the four together: the atomics the series trades"
    assert " ".join(rows["frag abandons"][2:]).startswith("page full, still held by frags")
    words = _words(out.split("In words (--explain):")[1])
    assert f"page_frag → page_frag_cache: {old} → {new} refcount operations per MiB ({change})" in (
        words
    )
    get_old, get_new = rows["page_get /MiB"][:2]
    assert (
        f"page_get {get_old} → {get_new} (page_frag_cache takes no get_page per new frag slot, "
        "a bias decrement instead)" in words
    )
    add = rows["page_ref_add /MiB"][1]
    assert f"page_ref_add 0.00 → {add} (one per refill of a prepaid page)" in words
    pages_old, pages_new = rows["pages allocated /MiB"][:2]
    assert f"Pages allocated per MiB: {pages_old} → {pages_new}" in words
    reuses, recycles = rows["frag reuses"][0], rows["frag recycles"][1]
    assert (
        f"page_frag looks at its page before every copy: it reused the page {reuses} times" in words
    )
    assert f"recycled the page {recycles} times (every frag freed)" in words


def test_compare_json_explains_the_compare_numbers() -> None:
    doc = _json([*BASE, "--bytes", "1M", "--compare", "page_frag,page_frag_cache"])
    words = _text(doc["explain"])
    per_mib = {name: v["refcount_ops_per_mib"] for name, v in doc["compare"].items()}
    totals = {name: sum(v.values()) for name, v in per_mib.items()}
    for name, total in totals.items():
        assert f"{total:.2f}" in words, name
    for run_doc in doc["runs"]:
        assert run_doc["explain"], "each run explains itself too"


def test_every_change_column_includes_the_total() -> None:
    """Three allocators: a change column per allocator after the first, the total of the
    four refcount operations included."""
    argv = [*BASE[:-1], "--bytes", "512K"]
    out = _run([*argv, "--compare", "page_frag,page_frag_cache,page_frag_cache_countdown"])
    table = out.split("Before/after")[1]
    header = table.splitlines()[1]
    assert header.index("2 vs 1") < header.index("3 vs 1")
    assert "(change: each allocator against the first, page_frag)" in table
    first, second, third, c2, c3 = _table(out)["refcount ops (all) /MiB"]
    assert c2 == f"{(float(second) - float(first)) / float(first):+.0%}"
    assert c3 == f"{(float(third) - float(first)) / float(first):+.0%}"
    assert "meaning" not in table  # without --explain the table is the plain one


def test_without_explain_the_report_is_unchanged_but_for_the_row_notes() -> None:
    out = _run([*BASE[:-1], "--bytes", "256K", "--allocator", "page_frag_cache"])
    assert "--explain" not in out
    assert re.search(r"pages allocated \(order 3\)\s+#  one per refill$", out, re.M)
    assert re.search(r"frag recycles\s+#  page_frag_cache: full page reused from 0, no alloc", out)
    assert re.search(r"frag abandons\s+#  full page left to the frags holding it; a refill", out)
    assert re.search(r"page_get\s+#\s+[\d.]+ /MiB$", out, re.M)
    assert "explain" not in _json([*BASE[:-1], "--bytes", "256K"])


# -- help() ------------------------------------------------------------------------------------


def test_help_on_a_socket_tells_task_frag_from_sk_frag() -> None:
    """``help(netsim.Socket)`` and ``help(sock.sk)``: which allocator a send copies into."""
    doc = netsim.Socket.__doc__ or ""
    for words in (
        "sk_use_task_frag",
        "sk_frag",
        "current->task_frag",
        "sk_page_frag()",
        "memory reclaim",
        "Uncorked UDP always uses the task frag",
        "ip_make_skb()",
        "include/net/sock.h",
        "net/core/sock.c",
    ):
        assert words in doc, words
    if netsim.BUILD.startswith("compiled"):
        pytest.skip("mypyc drops the compiled core's docstrings (Sock, sk_page_frag)")
    sock_doc = Sock.__doc__ or ""
    for words in ("sk_use_task_frag", "sk_frag", "current->task_frag", "sock_init_data"):
        assert words in sock_doc, words
    func_doc = sk_page_frag.__doc__ or ""
    assert "sk_use_task_frag" in func_doc
    assert "sk->sk_frag" in func_doc
    # help(sock.sk) on a TCP socket shows TcpSock's docstring; the fields are documented as
    # Sock's data descriptors
    text = pydoc.plain(pydoc.render_doc(TcpSock))
    assert re.search(r"sk_use_task_frag\n\s+\|\s+``sk_page_frag\(\)`` may use", text)
    assert re.search(r"sk_frag\n\s+\|\s+``sk->sk_frag``: the socket's own", text)


def _own_frag(sock: netsim.Socket) -> FragAllocator | None:
    return sock.sk.sk_frag


async def test_sk_use_task_frag_false_sends_through_sk_frag(
    autojump_clock: trio.abc.Clock,
) -> None:
    """What the docstrings say, on a host: a TCP socket with ``sk_use_task_frag`` false
    fills its own ``sk_frag``; an uncorked UDP send uses the task frag all the same."""
    async with netsim.open_host() as host:
        listener = host.socket()
        await listener.bind(("127.0.0.1", 5001))
        listener.listen()
        client = host.socket()
        client.sk.sk_use_task_frag = False
        await client.connect(("127.0.0.1", 5001))
        server, _ = await listener.accept()
        assert _own_frag(client) is None
        await client.send(b"x" * 1000)
        frag = _own_frag(client)
        assert frag is not None
        assert frag.page is not None
        assert await server.recv(1000) == b"x" * 1000
        udp = host.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
        udp.sk.sk_use_task_frag = False
        await udp.connect(("127.0.0.1", 9))
        await udp.send(b"y" * 60_000)  # paged: ip_make_skb takes the task frag
        assert _own_frag(udp) is None
        for sock in (udp, server, client, listener):
            sock.close()
