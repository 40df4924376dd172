"""netsim's benchmarks: one entry point, one subcommand per benchmark.

    python benchmarks/run.py alloc [--sizes 12,256,2048] [--count N] [--repeat N] [--json]
    python benchmarks/run.py tcp [--mib N] [--write-size N] [--read-size N] [--json]
    python benchmarks/run.py nc [--bytes 256M] [--read-size N] [--allocators A,B] [--real auto]
                                [--repeat N] [--json] [--rss [--rss-sizes 1G,8G]] [--no-tls]
    python benchmarks/run.py loss [--bytes 16M] [--losses 0,0.01,0.05] [--seed N] [--json]
    python benchmarks/run.py both {alloc,tcp,nc,loss} [ARGS]   # pure, then compiled (mypyc)

Every benchmark prints **ratios measured in the same run** (DESIGN.md): absolute nanoseconds
depend on the machine and the Python build; how far an allocator is from a bare Python
operation, measured seconds apart, does not.  Speed is measured here only, never in a test.

Adding a benchmark: write ``_add_<name>(subparsers)`` that adds its parser and sets
``func=<a function taking the parsed arguments and returning an exit status>``, and append it
to :data:`SUBCOMMANDS`.

``alloc`` — the fragment allocator fast path
--------------------------------------------
For every registered allocator that offers ``alloc`` and every size, a timed loop of
``nc.alloc(size, GFP_KERNEL)``, then — untimed — a ``put_page`` of every fragment it got.
A batch is as many fragments as fit in one 32 KiB page, so when the next batch starts the page
has been given back entirely and is recycled (page_frag_cache) or restarted at offset 0
(page_frag): the steady state of a sender whose frags are freed as fast as they are made.  The
per-page work (recycle, refill) is included, amortised over the page's fragments.

The baseline is the cheapest way Python has to name a piece of a buffer, ``mv[off:off + size]``
on a ``memoryview``, in exactly the same loop: same ``for``, same store into the same list, same
timing per batch, same untimed clean-up.  The timer's own cost (one ``perf_counter_ns`` call
per batch) is measured and subtracted from both.  Each case keeps its best repeat (``timeit``'s
rule: the minimum is the run least disturbed by the rest of the machine), with the garbage
collector off while timing.

The refcount operations per fragment come from the page allocator's counters over one repeat
(the frees included): the atomics each allocator would cost in the kernel.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

import netsim
from netsim.mm import (
    GFP_KERNEL,
    PAGE_FRAG_CACHE_MAX_SIZE,
    FragAllocator,
    Page,
    PageAllocator,
    available_frag_allocators,
    put_page,
)
from netsim.stats import StatsSnapshot

ROOT = Path(__file__).resolve().parents[1]
REFCOUNT_COUNTERS = ("page_get", "page_put", "page_ref_add", "page_ref_sub_and_test")
BASELINE = "(bare memoryview slice)"

# -- alloc -------------------------------------------------------------------------------


def _timer_cost(samples: int = 2000) -> int:
    """What one ``perf_counter_ns()`` call adds to a timed interval, in ns (the minimum over
    ``samples`` back-to-back pairs)."""
    clock = time.perf_counter_ns
    best = sys.maxsize
    for _ in range(samples):
        t0 = clock()
        best = min(best, clock() - t0)
    return best


def _time_alloc(nc: FragAllocator, size: int, batches: int, batch: int) -> int:
    """ns spent in ``batches`` timed loops of ``batch`` allocations (frees untimed)."""
    alloc = nc.alloc
    gfp = GFP_KERNEL
    clock = time.perf_counter_ns
    slots = range(batch)
    empty: list[tuple[Page, int] | None] = [None] * batch
    held = empty.copy()
    total = 0
    for _ in range(batches):
        t0 = clock()
        for i in slots:
            held[i] = alloc(size, gfp)
        total += clock() - t0
        for frag in held:
            if frag is None:
                raise MemoryError(f"{nc.name}.alloc({size}) failed")
            put_page(frag[0])
        held[:] = empty
    return total


def _time_slice(mv: memoryview, size: int, batches: int, batch: int) -> int:
    """The baseline: the same loop, with ``mv[off:off + size]`` for the allocation."""
    off = 0
    clock = time.perf_counter_ns
    slots = range(batch)
    empty: list[memoryview | None] = [None] * batch
    held = empty.copy()
    total = 0
    for _ in range(batches):
        t0 = clock()
        for i in slots:
            held[i] = mv[off : off + size]
        total += clock() - t0
        for view in held:
            if view is None:
                raise MemoryError("no slice")
        held[:] = empty
    return total


@attrs.frozen
class AllocCase:
    """One measured (allocator, size): the best repeat, and the counters of one repeat."""

    allocator: str
    size: int
    frags: int  #: fragments per repeat (``--count`` rounded up to whole batches)
    best_ns: int  #: the best repeat's timed ns, timer cost subtracted
    counters: StatsSnapshot | None  #: None for the baseline

    @property
    def ns_per_frag(self) -> float:
        return self.best_ns / self.frags

    def per_frag(self, counter: str) -> float:
        return self.counters[counter] / self.frags if self.counters is not None else 0.0


def _measure_once(
    allocator: str | None, size: int, batches: int, batch: int, timer_ns: int
) -> tuple[int, StatsSnapshot | None]:
    """One repeat of one case, on a fresh page allocator; checks that nothing leaked."""
    if allocator is None:
        mv = memoryview(bytearray(PAGE_FRAG_CACHE_MAX_SIZE))
        ns = _time_slice(mv, size, batches, batch)
        mv.release()
        return max(0, ns - batches * timer_ns), None
    pa = PageAllocator()
    nc = available_frag_allocators()[allocator](pa)
    ns = _time_alloc(nc, size, batches, batch)
    counters = pa.stats.snapshot()  # the steady state, before the final drain
    nc.drain()
    pa.assert_no_leaks(f"after the alloc benchmark of {allocator}, size {size}")
    return max(0, ns - batches * timer_ns), counters


def alloc_allocators() -> list[str]:
    """Registered allocators that offer ``alloc`` (checked on an instance: factories may be
    plain functions)."""
    names = []
    for name, factory in sorted(available_frag_allocators().items()):
        if callable(getattr(factory(PageAllocator()), "alloc", None)):
            names.append(name)
    return names


def bench_alloc(
    sizes: Sequence[int], count: int, repeat: int, allocators: Sequence[str]
) -> list[AllocCase]:
    """Measure the baseline and every allocator at every size; repeats are interleaved across
    cases so that a slow moment of the machine hits all of them alike."""
    timer_ns = _timer_cost()
    cases = [(name, size) for size in sizes for name in (None, *allocators)]
    best: dict[tuple[str | None, int], int] = {}
    counters: dict[tuple[str | None, int], StatsSnapshot | None] = {}
    frags: dict[int, tuple[int, int]] = {}
    for size in sizes:
        batch = max(1, PAGE_FRAG_CACHE_MAX_SIZE // size)  # one 32 KiB page's worth
        frags[size] = (-(-count // batch), batch)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            for name, size in cases:
                batches, batch = frags[size]
                ns, snap = _measure_once(name, size, batches, batch, timer_ns)
                best[name, size] = min(ns, best.get((name, size), ns))
                counters[name, size] = snap
    finally:
        if gc_was_enabled:
            gc.enable()
    return [
        AllocCase(
            allocator=BASELINE if name is None else name,
            size=size,
            frags=frags[size][0] * frags[size][1],
            best_ns=best[name, size],
            counters=counters[name, size],
        )
        for name, size in cases
    ]


def _rate(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:.3f}" if x >= 0.001 else f"{x:.1e}"


def _print_alloc_table(cases: Sequence[AllocCase], args: argparse.Namespace) -> None:
    print(
        f"alloc fast path: {args.count} fragments per case, best of {args.repeat}, "
        f"{platform.python_implementation()} {platform.python_version()}, netsim {netsim.BUILD}"
    )
    print(
        "timed: nc.alloc(size, GFP_KERNEL) in batches of one 32 KiB page's worth; put_page untimed"
    )
    print()
    heads = ("allocator", "size", "ns/frag", "x slice", "get", "put", "ref_add", "sub_test")
    width = max(len(c.allocator) for c in cases)
    fmt = f"{{:<{width}}} {{:>5}} {{:>8}} {{:>8}} {{:>8}} {{:>8}} {{:>8}} {{:>8}}"
    print(fmt.format(*heads))
    baseline: dict[int, float] = {}
    for c in cases:
        if c.counters is None:
            baseline[c.size] = c.ns_per_frag
            refs = ["", "", "", ""]
        else:
            refs = [_rate(c.per_frag(n)) for n in REFCOUNT_COUNTERS]
        base = baseline.get(c.size, 0.0)
        ratio = f"{c.ns_per_frag / base:.2f}" if base else "-"
        print(fmt.format(c.allocator, c.size, f"{c.ns_per_frag:.1f}", ratio, *refs).rstrip())
    print()
    print(
        "get/put/ref_add/sub_test: page_get, page_put, page_ref_add, page_ref_sub_and_test per\n"
        "fragment, frees included -- the refcount atomics the kernel would execute. The times\n"
        "are Python's; only the ratios to the slice in this same run are worth comparing."
    )


def _alloc_json(cases: Sequence[AllocCase], args: argparse.Namespace) -> dict[str, Any]:
    baseline = {c.size: c.ns_per_frag for c in cases if c.counters is None}
    return {
        "benchmark": "alloc",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "build": netsim.BUILD,
        "count": args.count,
        "repeat": args.repeat,
        "baseline": [
            {"size": c.size, "frags": c.frags, "ns_per_op": c.ns_per_frag}
            for c in cases
            if c.counters is None
        ],
        "results": [
            {
                "allocator": c.allocator,
                "size": c.size,
                "frags": c.frags,
                "ns_per_frag": c.ns_per_frag,
                "ratio_to_slice": c.ns_per_frag / baseline[c.size] if baseline[c.size] else None,
                "refcount_per_frag": {n: c.per_frag(n) for n in REFCOUNT_COUNTERS},
                "counters": c.counters.nonzero(),
            }
            for c in cases
            if c.counters is not None
        ],
    }


def cmd_alloc(args: argparse.Namespace) -> int:
    known = alloc_allocators()
    names: list[str] = args.allocators or known
    unknown = [n for n in names if n not in known]
    if unknown:
        print(
            f"run.py alloc: no allocator offering alloc() named {', '.join(unknown)}; "
            f"available: {', '.join(known)}",
            file=sys.stderr,
        )
        return 2
    cases = bench_alloc(args.sizes, args.count, args.repeat, names)
    if args.json:
        print(json.dumps(_alloc_json(cases, args), indent=2))
    else:
        _print_alloc_table(cases, args)
    return 0


def _add_alloc(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "alloc",
        help="fragment allocator fast path, ns per fragment, vs a bare memoryview slice",
        description="Time nc.alloc(size, GFP_KERNEL) for every registered allocator, freeing "
        "each page's worth of fragments (untimed) so pages recycle, against mv[off:off + size] "
        "in the same loop. See the docstring of benchmarks/run.py for the method.",
    )
    p.add_argument(
        "--sizes",
        type=_int_list,
        default=[12, 256, 2048],
        metavar="N,N,...",
        help="fragment sizes in bytes, each in 1..4096 (default: 12,256,2048)",
    )
    p.add_argument(
        "--count", type=_positive, default=200_000, help="fragments per repeat (default: 200000)"
    )
    p.add_argument("--repeat", type=_positive, default=5, help="repeats; best kept (default: 5)")
    p.add_argument(
        "--allocators",
        type=lambda s: [n for n in s.split(",") if n],
        metavar="A,B,...",
        help="only these allocators (default: every registered one that offers alloc)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_alloc)


# -- tcp ---------------------------------------------------------------------------------
#
# ``tcp`` -- a one-way TCP stream through the emulated stack
# A client task writes ``--mib`` MiB in ``--write-size`` writes while a reader task drains the
# other end with ``recv_into`` into one ``--read-size`` buffer; wall time from the first write
# to EOF.  Flows: IPv4 and IPv6 over loopback, and IPv4 over a 1500-MTU link of unlimited
# rate (software GSO, checksums and the RX driver's copy), with each allocator.  The
# baseline, in the same run, is the ceiling of any emulator with netsim's data model: a trio
# loop doing only the two copies (user bytes into a 32 KiB page, page out to the reader's
# buffer) with one checkpoint per write and per read.


def _ceiling(total: int, write_size: int, read_size: int, *, frags: bool = False) -> float:
    """Seconds for the bare two-copy loop to move ``total`` bytes.  With ``frags`` it also does
    the least frag bookkeeping a sender and a reader need (``nc``'s ceiling): each copy into the
    page becomes a ``(page, offset, len)`` frag on a small queue, holding a page reference the
    reader gives back when it copies the frag out."""
    import trio

    async def run() -> float:
        src = memoryview(bytes(range(256)) * (write_size // 256 + 1))[:write_size]
        page = bytearray(32768)
        out = bytearray(read_size)
        queue: deque[tuple[bytearray, int, int]] = deque()
        refs = 0  # the page's reference count, as the frags hold it
        t0 = time.perf_counter()
        off = moved = 0
        while moved < total:
            n = min(write_size, total - moved)
            done = 0
            while done < n:
                if off == len(page):
                    off = 0
                chunk = min(n - done, len(page) - off, read_size)
                page[off : off + chunk] = src[done : done + chunk]
                if frags:
                    queue.append((page, off, chunk))
                    refs += 1
                await trio.lowlevel.checkpoint()
                if frags:
                    frag_page, frag_off, frag_len = queue.popleft()
                    out[:frag_len] = frag_page[frag_off : frag_off + frag_len]
                    refs -= 1
                else:
                    out[:chunk] = page[off : off + chunk]
                await trio.lowlevel.checkpoint()
                off += chunk
                done += chunk
            moved += n
        assert refs == 0, refs
        assert not queue, queue
        return time.perf_counter() - t0

    return trio.run(run)


def _tcp_flow(
    total: int, write_size: int, read_size: int, allocator: str, family: str, link: bool
) -> tuple[float, dict[str, int]]:
    import trio
    import trio.testing

    import netsim

    fam = netsim.AF_INET6 if family == "ipv6" else netsim.AF_INET

    async def run() -> tuple[float, dict[str, int]]:
        async with netsim.open_host(allocator=allocator, name="a") as a:
            if link:
                async with netsim.open_host(allocator=allocator, name="b") as b:
                    netsim.link(a, b, mtu=1500)
                    addr = "10.0.0.2" if fam == netsim.AF_INET else "fd00::2"
                    return await _stream(a, b, addr)
            return await _stream(a, a, "127.0.0.1" if fam == netsim.AF_INET else "::1")

    async def _stream(
        tx_host: netsim.Host, rx_host: netsim.Host, addr: str
    ) -> tuple[float, dict[str, int]]:
        listener = rx_host.socket(fam, netsim.SOCK_STREAM)
        await listener.bind((addr, 0))
        listener.listen(1)
        client = tx_host.socket(fam, netsim.SOCK_STREAM)
        await client.connect(listener.getsockname())
        server, _ = await listener.accept()
        src = memoryview(bytes(range(256)) * (write_size // 256 + 1))[:write_size]
        buf = bytearray(read_size)
        got = 0
        before = tx_host.stats()

        async def reader() -> None:
            nonlocal got
            while n := await server.recv_into(buf):
                got += n

        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            sent = 0
            while sent < total:
                sent += await client.send(src[: min(write_size, total - sent)])
            client.shutdown(netsim.SHUT_WR)
        elapsed = time.perf_counter() - t0
        if got != total:
            raise RuntimeError(f"received {got} of {total} bytes")
        delta = tx_host.stats() - before
        for sock in (client, server, listener):
            sock.close()
        keys = ("TcpOutSegs", "skb_alloc", "page_alloc", "page_get", "page_ref_add")
        return elapsed, {k: delta[k] for k in keys}

    return trio.run(run, clock=trio.testing.MockClock(autojump_threshold=0))


def cmd_tcp(args: argparse.Namespace) -> int:
    total = args.mib << 20
    gc.collect()
    ceiling = min(_ceiling(total, args.write_size, args.read_size) for _ in range(2))
    rows: list[dict[str, Any]] = []
    for path, family, link in (
        ("loopback", "ipv4", False),
        ("loopback", "ipv6", False),
        ("link1500", "ipv4", True),
    ):
        for allocator in ("page_frag", "page_frag_cache"):
            elapsed, counters = _tcp_flow(
                total, args.write_size, args.read_size, allocator, family, link
            )
            rows.append(
                {
                    "path": path,
                    "family": family,
                    "allocator": allocator,
                    "seconds": elapsed,
                    "MB/s": total / elapsed / 1e6,
                    "ratio_to_ceiling": ceiling / elapsed,
                    **{f"{k}_per_MiB": v / args.mib for k, v in counters.items()},
                }
            )
    if args.json:
        print(
            json.dumps(
                {
                    "python": platform.python_version(),
                    "build": netsim.BUILD,
                    "bytes": total,
                    "write_size": args.write_size,
                    "read_size": args.read_size,
                    "ceiling_MB/s": total / ceiling / 1e6,
                    "flows": rows,
                },
                indent=2,
            )
        )
        return 0
    print(
        f"TCP, {args.mib} MiB one way, {args.write_size}-byte writes, "
        f"{args.read_size}-byte reads (Python {platform.python_version()}, netsim {netsim.BUILD})"
    )
    print(f"ceiling (two copies + a checkpoint each, bare trio): {total / ceiling / 1e6:8.0f} MB/s")
    print(
        f"{'path':10} {'family':6} {'allocator':16} {'MB/s':>8} {'of ceiling':>10} "
        f"{'segs/MiB':>9} {'page_get/MiB':>12} {'ref_add/MiB':>11}"
    )
    for r in rows:
        print(
            f"{r['path']:10} {r['family']:6} {r['allocator']:16} {r['MB/s']:8.0f} "
            f"{r['ratio_to_ceiling']:10.3f} {r['TcpOutSegs_per_MiB']:9.1f} "
            f"{r['page_get_per_MiB']:12.1f} {r['page_ref_add_per_MiB']:11.1f}"
        )
    return 0


def _add_tcp(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "tcp",
        help="TCP stream throughput through the emulated stack, vs a bare two-copy loop",
        description="Stream --mib MiB over emulated TCP (loopback IPv4/IPv6, a 1500-MTU "
        "link) with each allocator; report MB/s and the ratio to a bare trio loop doing only "
        "the two copies.",
    )
    p.add_argument("--mib", type=_positive, default=64, help="MiB per flow (default: 64)")
    p.add_argument(
        "--write-size", type=_positive, default=16384, help="bytes per send (default: 16384)"
    )
    p.add_argument(
        "--read-size", type=_positive, default=16384, help="bytes per recv (default: 16384)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_tcp)


# -- nc ----------------------------------------------------------------------------------
#
# ``nc`` -- the series' netcat runs: the real kernel, netsim and the ceiling, in one run
# For each flow (tcp4, tcp6, udp4, udp6), ``--bytes`` zeros in 16 KiB writes, read with
# ``--read-size`` reads:
#
# * **real**: the machine's own loopback.  With OpenBSD netcat (Debian's netcat-openbsd),
#   literally the series' commands -- ``nc -l [-u] [-6] -k PORT > /dev/null`` in one process,
#   ``head -c N /dev/zero | nc -N [-u] ADDR PORT`` in another; otherwise a trio program over
#   real sockets doing the same writes and reads.  TCP is timed until the client exits (with
#   ``-N`` that is after the listener read EOF); UDP has no EOF, so the sender's wall time is
#   the measure (Debian's ``nc -u`` waits for replies forever unless given ``-q 0``) and the
#   listener is killed afterwards.  UDP datagrams the kernel dropped are the delta of
#   ``RcvbufErrors`` in /proc/net/snmp (or snmp6) -- machine-wide.
# * **netsim**: ``netsim nc``'s own flow (``netsim.cli.nc.run_flow``), in this process, once
#   per allocator: one emulated host, a listener task and a client task.
# * **ceiling**: ``_ceiling(frags=True)``, the bare trio loop doing only netsim's two copies and
#   the frag bookkeeping, with a checkpoint per write and per read: what any emulator built on
#   netsim's data model could reach; netsim/ceiling is the cost of the stack's own logic.
#
# The real run and the ceiling keep the best of ``--repeat`` (they take a fraction of a
# second); each netsim run is timed once.  ``--rss`` then runs ``netsim nc`` on TCP in a child
# process for each of ``--rss-sizes`` (default 1 GiB and 8 GiB) and reports the child's peak
# RSS (``os.wait4``'s ``ru_maxrss``), next to a child that only imports netsim: memory must not
# grow with the bytes sent.

NC_CHUNK = 16384  # OpenBSD netcat's BUFSIZE: the client's write size

#: (name, udp, ipv6, address) for the series' four runs.
NC_FLOWS: tuple[tuple[str, bool, bool, str], ...] = (
    ("tcp4", False, False, "127.0.0.1"),
    ("tcp6", False, True, "::1"),
    ("udp4", True, False, "127.0.0.1"),
    ("udp6", True, True, "::1"),
)


@attrs.frozen
class RealRun:
    """One flow over the machine's real loopback."""

    seconds: float
    lost: int | None = None  #: UDP datagrams the receiver dropped (RcvbufErrors), if known


@attrs.frozen
class NetsimRun:
    """One flow through ``netsim nc``'s machinery, with one allocator."""

    allocator: str
    seconds: float
    sent: int
    received: int
    lost: int  #: UDP datagrams the emulated receive buffer dropped
    refcount_per_mib: dict[str, float]
    #: --tls flows: the client's ``tls_info`` txconf ("hw"/"sw") and kTLS records per MiB
    txconf: str | None = None
    records_per_mib: float = 0.0


def openbsd_nc() -> tuple[str, bool] | None:
    """The path of OpenBSD netcat, and whether it takes Debian's ``-q``; None without it."""
    import shutil
    import subprocess

    path = shutil.which("nc")
    if path is None:
        return None
    try:
        proc = subprocess.run([path, "-h"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    usage = proc.stdout + proc.stderr
    if "OpenBSD" not in usage:
        return None
    return path, "-q seconds" in usage or "-q secs" in usage


def _free_port(udp: bool, ipv6: bool, addr: str) -> int:
    import socket

    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as s:
        s.bind((addr, 0))
        port: int = s.getsockname()[1]
    return port


def _port_bound(port: int, udp: bool) -> bool | None:
    """Whether a socket listens on (TCP) or is bound to (UDP) ``port``, from /proc/net; None
    where /proc/net cannot tell."""
    found = False
    for table in ("udp", "udp6") if udp else ("tcp", "tcp6"):
        try:
            with open(f"/proc/net/{table}") as f:
                rows = [line.split() for line in f.readlines()[1:]]
        except OSError:
            return None
        for row in rows:
            local, state = row[1], row[3]
            if int(local.rsplit(":", 1)[1], 16) == port and state == ("07" if udp else "0A"):
                found = True
    return found


def _udp_rcvbuf_errors(ipv6: bool) -> int | None:
    """The kernel's ``UdpRcvbufErrors`` (``Udp6RcvbufErrors``), machine-wide; None if unknown."""
    try:
        if ipv6:
            with open("/proc/net/snmp6") as f:
                for line in f:
                    name, value = line.split()
                    if name == "Udp6RcvbufErrors":
                        return int(value)
            return None
        with open("/proc/net/snmp") as f:
            header, values = (line.split() for line in f if line.startswith("Udp:"))
        return int(values[header.index("RcvbufErrors")])
    except (OSError, ValueError):
        return None


def _real_nc(nc: tuple[str, bool], udp: bool, ipv6: bool, addr: str, nbytes: int) -> RealRun:
    """The series' two commands, as two processes; see the section comment."""
    import subprocess

    path, has_q = nc
    port = _free_port(udp, ipv6, addr)
    flags = [*(["-u"] if udp else []), *(["-6"] if ipv6 else [])]
    listener = subprocess.Popen(
        [path, "-l", *flags, "-k", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while not (bound := _port_bound(port, udp)):
            if listener.poll() is not None or time.monotonic() > deadline:
                err = listener.stderr.read().decode() if listener.stderr else ""
                raise RuntimeError(f"nc -l {' '.join(flags)} -k {port} did not start: {err}")
            if bound is None:  # no /proc/net to look at: give it a moment
                time.sleep(0.5)
                break
            time.sleep(0.01)
        # -N: shutdown(SHUT_WR) at EOF; Debian's nc -u also needs -q 0 to exit at EOF
        eof = ["-q", "0"] if udp and has_q else ["-N"]
        lost_before = _udp_rcvbuf_errors(ipv6) if udp else None
        t0 = time.perf_counter()
        head = subprocess.Popen(["head", "-c", str(nbytes), "/dev/zero"], stdout=subprocess.PIPE)
        client = subprocess.Popen([path, *eof, *flags, addr, str(port)], stdin=head.stdout)
        assert head.stdout is not None
        head.stdout.close()  # the client holds the pipe's read end now
        try:
            status = client.wait(timeout=600)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
            head.wait()
        seconds = time.perf_counter() - t0
        if status != 0:
            raise RuntimeError(f"nc {' '.join(eof + flags)} {addr} {port} exited with {status}")
        lost_after = _udp_rcvbuf_errors(ipv6) if udp else None
    finally:
        listener.terminate()
        listener.wait()
        if listener.stderr is not None:
            listener.stderr.close()
    lost = None if lost_before is None or lost_after is None else lost_after - lost_before
    return RealRun(seconds, lost)


def _real_trio(udp: bool, ipv6: bool, addr: str, nbytes: int, read_size: int) -> RealRun:
    """The same flow as a trio program over the machine's real sockets (no netcat here)."""
    import socket

    import trio

    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM

    async def run() -> RealRun:
        listener = trio.socket.socket(family, kind)
        client = trio.socket.socket(family, kind)
        with listener, client:
            await listener.bind((addr, 0))
            if not udp:
                listener.listen(1)
            await client.connect(listener.getsockname())
            buf = bytearray(read_size)
            datagrams = [0, 0]  # sent, received
            sender_done = trio.Event()

            async def reader() -> None:
                if not udp:
                    conn, _ = await listener.accept()
                    with conn:
                        while await conn.recv_into(buf):
                            pass
                    return
                while True:  # UDP: until the sender is done and nothing came for 50 ms
                    with trio.move_on_after(0.05) as idle:
                        await listener.recv_into(buf)
                        datagrams[1] += 1
                    if idle.cancelled_caught and sender_done.is_set():
                        return

            zeros = memoryview(bytes(NC_CHUNK))
            t0 = time.perf_counter()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(reader)
                left = nbytes
                while left:
                    left -= await client.send(zeros[: min(left, NC_CHUNK)])
                    datagrams[0] += 1
                if udp:
                    seconds = time.perf_counter() - t0  # the sender's time, as with nc -u
                    sender_done.set()
                else:
                    client.shutdown(socket.SHUT_WR)
            if not udp:
                seconds = time.perf_counter() - t0  # until the reader saw EOF
            return RealRun(seconds, datagrams[0] - datagrams[1] if udp else None)

    return trio.run(run)


def _netsim_nc(
    udp: bool,
    ipv6: bool,
    addr: str,
    nbytes: int,
    read_size: int,
    allocator: str,
    tls: str | None = None,
) -> NetsimRun:
    """``netsim nc -N [-u] ADDR PORT --bytes N --read-size R --allocator A``, in-process;
    ``tls`` "sw" adds ``--tls``, "device" ``--tls-offload``."""
    import trio

    import netsim
    from netsim.cli.nc import NcOptions, run_flow, zero_source

    opts = NcOptions(
        host=addr,
        port=1234,
        udp=udp,
        family=netsim.AF_INET6 if ipv6 else netsim.AF_INET,
        shutdown_on_eof=True,
        nbytes=nbytes,
        allocator=allocator,
        read_size=read_size,
        write_size=NC_CHUNK,
        interval=0.0,
        progress=False,
        tls=tls is not None,
        tls_offload=tls == "device",
    )
    source = zero_source(nbytes, NC_CHUNK)
    result = trio.run(functools.partial(run_flow, opts, allocator, source))
    if result.received != nbytes and not udp:
        raise RuntimeError(f"netsim nc: received {result.received} of {nbytes} bytes")
    report = result.report
    assert report is not None
    txconf = result.tls.tx_conf if result.tls is not None else None
    if tls is not None and txconf != ("hw" if tls == "device" else "sw"):
        raise RuntimeError(f"netsim nc --tls ({tls}): the client's TLS_TX is {txconf}")
    return NetsimRun(
        allocator=allocator,
        seconds=result.seconds,
        sent=result.sent,
        received=result.received,
        lost=result.datagrams_sent - result.datagrams_received,
        refcount_per_mib={n: report.per_mib(n) for n in REFCOUNT_COUNTERS},
        txconf=txconf,
        records_per_mib=result.tls.per_mib("tls_records", nbytes) if result.tls else 0.0,
    )


# -- nc's TLS flows -------------------------------------------------------------------------
#
# ``--tls`` flows (default on; ``--no-tls`` skips them): the same bytes through kTLS, TLS 1.2
# AES-GCM-128 in 16 KiB records, over IPv4 and IPv6 loopback:
#
# * **netsim**: ``netsim nc --tls`` (software kTLS) and ``--tls-offload`` (device offload on
#   the emulated lo), once per allocator;
# * **real**: the machine's own kTLS software path over the real loopback -- a real socket
#   pair given ``TCP_ULP "tls"`` and ``TLS_TX``/``TLS_RX`` with the same key, 16 KiB writes
#   from one thread, reads in another -- when the kernel has the tls module (``modprobe tls``
#   is tried once); otherwise Python's ``ssl`` (OpenSSL) over real loopback sockets, TLS 1.2
#   ECDHE-ECDSA-AES128-GCM-SHA256 with a self-signed certificate made at run time (the
#   ``cryptography`` package; written to a temporary directory, never kept), timed from the
#   end of the handshake to the reader's EOF.  The header says which;
# * **ceiling**: the plain ceiling's bare loop plus what sealing and opening each 16 KiB
#   record with AES-GCM-128 costs (``cryptography``), both measured here.
#
# Besides netsim/real and netsim/ceiling, ``tls/plain`` is the TLS flow's speed over netsim's
# plain TCP flow with the same allocator in this run: what kTLS costs in the emulator.

#: (name, ipv6, address) of the TLS flows; each runs in software kTLS and device offload
NC_TLS_FLOWS: tuple[tuple[str, bool, str], ...] = (
    ("tcp4", False, "127.0.0.1"),
    ("tcp6", True, "::1"),
)
NC_TLS_MODES = ("sw", "device")
_SOL_TLS, _TCP_ULP, _TLS_TX, _TLS_RX = 282, 31, 1, 2  # include/uapi/linux/{tls,tcp}.h


def _ktls_crypto_info() -> bytes:
    """``struct tls12_crypto_info_aes_gcm_128`` for a real socket: netsim nc's demo key."""
    from netsim.cli.nc import tls_demo_crypto_info

    return tls_demo_crypto_info()


def _ktls_probe() -> str | None:
    """None when the kernel takes ``TCP_ULP "tls"`` on a real loopback socket (after one
    ``modprobe tls`` if it did not at first); else why not."""
    import shutil
    import socket

    def attempt() -> str | None:
        client, peer = _stream_pair(False, "127.0.0.1")
        with client, peer:
            try:
                client.setsockopt(socket.SOL_TCP, _TCP_ULP, b"tls")
                client.setsockopt(_SOL_TLS, _TLS_TX, _ktls_crypto_info())
                peer.setsockopt(socket.SOL_TCP, _TCP_ULP, b"tls")
                peer.setsockopt(_SOL_TLS, _TLS_RX, _ktls_crypto_info())
            except OSError as exc:
                return f'TCP_ULP "tls": {exc.strerror or exc}'
        return None

    why = attempt()
    if why is None:
        return None
    modprobe = shutil.which("modprobe")
    if modprobe is None:
        return f"{why}; no modprobe to load the tls module"
    try:
        done = subprocess.run(
            [modprobe, "tls"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{why}; modprobe tls: {exc}"
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return f"{why}; modprobe tls: {detail[0]}"
    return attempt()


def _stream_pair(ipv6: bool, addr: str) -> tuple[Any, Any]:
    """A connected TCP pair over the real loopback: (client, accepted server end)."""
    import socket

    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    with socket.create_server((addr, 0), family=family) as server:
        client = socket.create_connection(server.getsockname()[:2])
        peer, _ = server.accept()
    return client, peer


def _timed_transfer(send: Callable[[], None], receive: Callable[[], int], nbytes: int) -> float:
    """Run ``receive`` in a thread and ``send`` here; seconds until the receiver saw EOF."""
    import threading

    got: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            got.append(receive())
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=reader)
    t0 = time.perf_counter()
    thread.start()
    send()
    thread.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise errors[0]
    if got != [nbytes]:
        raise RuntimeError(f"the real TLS reader got {got} of {nbytes} bytes")
    return seconds


def _real_ktls(ipv6: bool, addr: str, nbytes: int, read_size: int) -> RealRun:
    """The kernel's kTLS software path: TLS_TX and TLS_RX on a real loopback pair."""
    import socket

    client, peer = _stream_pair(ipv6, addr)
    with client, peer:
        client.setsockopt(socket.SOL_TCP, _TCP_ULP, b"tls")
        client.setsockopt(_SOL_TLS, _TLS_TX, _ktls_crypto_info())
        peer.setsockopt(socket.SOL_TCP, _TCP_ULP, b"tls")
        peer.setsockopt(_SOL_TLS, _TLS_RX, _ktls_crypto_info())
        return RealRun(_timed_transfer(*_plain_ends(client, peer, nbytes, read_size), nbytes))


def _plain_ends(
    client: Any, peer: Any, nbytes: int, read_size: int
) -> tuple[Callable[[], None], Callable[[], int]]:
    """The writer (16 KiB writes, then ``SHUT_WR``) and the reader (until EOF) of a flow."""
    import socket

    zeros = memoryview(bytes(NC_CHUNK))

    def send() -> None:
        left = nbytes
        while left:
            left -= client.send(zeros[: min(left, NC_CHUNK)])
        client.shutdown(socket.SHUT_WR)

    def receive() -> int:
        buf = bytearray(read_size)
        total = 0
        while n := peer.recv_into(buf):
            total += n
        return total

    return send, receive


def _self_signed(workdir: str) -> tuple[str, str]:
    """A self-signed ECDSA P-256 certificate for 127.0.0.1/::1, made now, in ``workdir``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netsim benchmark")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(workdir, "cert.pem")
    key_path = os.path.join(workdir, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


SSL_CIPHER = "ECDHE-ECDSA-AES128-GCM-SHA256"


def _real_ssl(ipv6: bool, addr: str, nbytes: int, read_size: int, cert: tuple[str, str]) -> RealRun:
    """Python's ``ssl`` over a real loopback pair, TLS 1.2 AES-128-GCM; the handshake is
    done before the clock starts (kTLS gets its keys after one, too)."""
    import ssl
    import threading

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(*cert)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(cert[0])
    for ctx in (server_ctx, client_ctx):
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(SSL_CIPHER)
    raw_client, raw_peer = _stream_pair(ipv6, addr)
    wrapped: list[ssl.SSLSocket] = []
    handshake = threading.Thread(
        target=lambda: wrapped.append(server_ctx.wrap_socket(raw_peer, server_side=True))
    )
    handshake.start()
    client = client_ctx.wrap_socket(raw_client, server_hostname=addr)
    handshake.join()
    if not wrapped:
        raise RuntimeError("the ssl server's handshake failed")
    peer = wrapped[0]
    with client, peer:
        cipher = client.cipher()
        if cipher is None or cipher[0] != SSL_CIPHER:
            raise RuntimeError(f"ssl negotiated {cipher}, not {SSL_CIPHER}")
        return RealRun(_timed_transfer(*_plain_ends(client, peer, nbytes, read_size), nbytes))


def _aead_seconds(total: int, repeat: int) -> float:
    """Seconds to seal and open ``total`` bytes in 16 KiB records with AES-GCM-128 (the
    ``cryptography`` AEAD netsim's kTLS uses): the best of ``repeat``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(bytes(16))
    record = bytes(16384)
    nonce, aad = bytes(12), bytes(13)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        left = total
        while left > 0:
            n = min(left, 16384)
            sealed = aead.encrypt(nonce, record[:n] if n < 16384 else record, aad)
            aead.decrypt(nonce, sealed, aad)
            left -= n
        best = min(best, time.perf_counter() - t0)
    return best


def _nc_tls(
    args: argparse.Namespace, allocators: Sequence[str], plain: dict[tuple[str, str], float]
) -> dict[str, Any]:
    """The TLS flows, their reference and ceiling; ``plain``: netsim's plain TCP seconds by
    (flow, allocator) from this run."""
    import ssl
    import tempfile

    nbytes, read_size = args.bytes, args.read_size
    why_not = _ktls_probe()
    with tempfile.TemporaryDirectory(prefix="netsim-bench-") as workdir:
        cert = _self_signed(workdir) if why_not is not None else None

        def real_of(ipv6: bool, addr: str) -> Callable[[], RealRun]:
            if cert is None:
                return functools.partial(_real_ktls, ipv6, addr, nbytes, read_size)
            return functools.partial(_real_ssl, ipv6, addr, nbytes, read_size, cert)

        if cert is None:
            method = (
                'the kernel\'s kTLS, software path (TCP_ULP "tls", TLS_TX/TLS_RX), real loopback'
            )
        else:
            method = f"Python ssl ({ssl.OPENSSL_VERSION}), TLS 1.2 {SSL_CIPHER}, real loopback"
        gc.collect()
        plain_ceiling = min(
            _ceiling(nbytes, NC_CHUNK, read_size, frags=True) for _ in range(args.repeat)
        )
        ceiling = plain_ceiling + _aead_seconds(nbytes, args.repeat)
        flows: list[dict[str, Any]] = []
        for name, ipv6, addr in NC_TLS_FLOWS:
            real = _best(real_of(ipv6, addr), args.repeat)
            for mode in NC_TLS_MODES:
                runs = []
                for allocator in allocators:
                    gc.collect()
                    runs.append(_netsim_nc(False, ipv6, addr, nbytes, read_size, allocator, mode))
                flows.append(
                    {
                        "flow": name,
                        "mode": mode,
                        "real": real,
                        "netsim": runs,
                        "plain": {r.allocator: plain.get((name, r.allocator), 0.0) for r in runs},
                    }
                )
    return {
        "real_method": method,
        "no_ktls": why_not,
        "ceiling": ceiling,
        "flows": flows,
    }


@attrs.frozen
class RssRun:
    """Peak RSS of one child process."""

    label: str
    nbytes: int  #: bytes sent (0: the child only imported netsim)
    maxrss_kib: int
    seconds: float  #: the flow's own time, from its JSON (0 for the import-only child)


#: The ``--rss`` child: netsim's command line, then its own peak RSS on stderr.  The peak is
#: read inside the child, from ``VmHWM`` (the high-water mark of the child's own memory map):
#: ``ru_maxrss`` from ``wait4`` would not do, as Linux starts a child's ``ru_maxrss`` at its
#: parent's peak at fork time, and this parent has run netsim already.
RSS_CHILD = """\
import sys

import trio
import netsim.cli.nc
from netsim.cli import main

status = main(sys.argv[1:])
try:
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
except (OSError, StopIteration):  # no /proc: ru_maxrss, which counts the parent's peak too
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"peak_rss_kib={peak}", file=sys.stderr)
sys.exit(status)
"""


def _child_rss(args: list[str]) -> tuple[int, str]:
    """Run ``netsim ARGS`` in a child; its peak RSS in KiB, and its stdout."""
    import re
    import subprocess

    # run from the tree this process imported netsim from: ``-c`` puts the working directory
    # first on the path, and `both` must measure the compiled copy's child, not the sources'
    proc = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(netsim.__file__).resolve().parents[1],
    )
    found = re.search(r"^peak_rss_kib=(\d+)$", proc.stderr, re.MULTILINE)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"netsim {' '.join(args)} exited with {proc.returncode}: {proc.stderr}")
    return int(found.group(1)), proc.stdout


def nc_rss(sizes: Sequence[int], allocator: str, read_size: int) -> list[RssRun]:
    """Peak RSS of ``netsim nc -N 127.0.0.1 1234 --bytes N`` (TCP) for each size, and of the
    same child running only ``netsim --version`` (everything imported, no flow)."""
    floor, _ = _child_rss(["--version"])
    runs = [RssRun("netsim imported, no flow", 0, floor, 0.0)]
    for nbytes in sizes:
        print(f"run.py nc --rss: emulating {_size(nbytes)} over TCP ...", file=sys.stderr)
        args = ["nc", "-N", "127.0.0.1", "1234", "--bytes", str(nbytes)]
        args += ["--allocator", allocator, "--read-size", str(read_size)]
        args += ["--interval", "0", "--no-progress", "--json"]
        rss, out = _child_rss(args)
        doc = json.loads(out)
        build = doc["start"]["test_start"]["netsim_build"]
        if build != netsim.BUILD:
            raise RuntimeError(
                f"the --rss child ran the {build} build, this process {netsim.BUILD}"
            )
        received = doc["end"]["sum_received"]
        if received["bytes"] != nbytes:
            raise RuntimeError(f"netsim nc received {received['bytes']} of {nbytes} bytes")
        runs.append(RssRun(f"netsim nc, TCP, {_size(nbytes)}", nbytes, rss, received["seconds"]))
    return runs


def _size(nbytes: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift and nbytes % (1 << shift) == 0:
            return f"{nbytes >> shift} {unit}"
    return f"{nbytes} bytes"


def _best(measure: Callable[[], RealRun], repeat: int) -> RealRun:
    runs = []
    for _ in range(repeat):
        gc.collect()
        runs.append(measure())
    return min(runs, key=lambda r: r.seconds)


def cmd_nc(args: argparse.Namespace) -> int:
    known = sorted(available_frag_allocators())
    allocators: list[str] = args.allocators or known
    unknown = [n for n in allocators if n not in known]
    if unknown:
        print(
            f"run.py nc: no allocator named {', '.join(unknown)}; available: {', '.join(known)}",
            file=sys.stderr,
        )
        return 2
    if args.rss and args.rss_allocator not in known:
        print(f"run.py nc: no allocator named {args.rss_allocator}", file=sys.stderr)
        return 2
    nbytes, read_size = args.bytes, args.read_size
    nc = openbsd_nc() if args.real != "trio" else None
    if args.real == "nc" and nc is None:
        print("run.py nc: --real nc, but no OpenBSD netcat (netcat-openbsd) found", file=sys.stderr)
        return 2
    real_method = (
        f"OpenBSD netcat ({nc[0]}), two processes" if nc else "trio over the kernel's sockets"
    )
    if nc and read_size != NC_CHUNK:
        real_method += f" (nc reads {NC_CHUNK} bytes at a time whatever --read-size says)"
    gc.collect()
    ceiling = min(_ceiling(nbytes, NC_CHUNK, read_size, frags=True) for _ in range(args.repeat))
    flows: list[dict[str, Any]] = []
    for name, udp, ipv6, addr in NC_FLOWS:
        if nc is not None:
            measure = functools.partial(_real_nc, nc, udp, ipv6, addr, nbytes)
        else:
            measure = functools.partial(_real_trio, udp, ipv6, addr, nbytes, read_size)
        real = _best(measure, args.repeat)
        runs = []
        for allocator in allocators:
            gc.collect()
            runs.append(_netsim_nc(udp, ipv6, addr, nbytes, read_size, allocator))
        flows.append({"flow": name, "udp": udp, "real": real, "netsim": runs})
    tls: dict[str, Any] | None = None
    if args.tls:
        plain = {
            (f["flow"], r.allocator): r.seconds for f in flows if not f["udp"] for r in f["netsim"]
        }
        tls = _nc_tls(args, allocators, plain)
    rss = nc_rss(args.rss_sizes, args.rss_allocator, read_size) if args.rss else []
    if args.json:
        print(json.dumps(_nc_json(args, real_method, ceiling, flows, rss, tls), indent=2))
    else:
        _print_nc_table(args, real_method, ceiling, flows, rss)
        if tls is not None:
            print()
            _print_nc_tls_table(args, tls)
    return 0


def _mbs(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e6 if seconds > 0 else 0.0


def _nc_json(
    args: argparse.Namespace,
    real_method: str,
    ceiling: float,
    flows: Sequence[dict[str, Any]],
    rss: Sequence[RssRun],
    tls: dict[str, Any] | None = None,
) -> dict[str, Any]:
    n = args.bytes
    doc = {
        "benchmark": "nc",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "build": netsim.BUILD,
        "bytes": n,
        "write_size": NC_CHUNK,
        "read_size": args.read_size,
        "repeat": args.repeat,
        "real_method": real_method,
        "ceiling_MB/s": _mbs(n, ceiling),
        "flows": [
            {
                "flow": f["flow"],
                "real": {
                    "seconds": f["real"].seconds,
                    "MB/s": _mbs(n, f["real"].seconds),
                    "lost_datagrams": f["real"].lost,
                },
                "netsim": [
                    {
                        "allocator": r.allocator,
                        "seconds": r.seconds,
                        "MB/s": _mbs(n, r.seconds),
                        "ratio_to_real": f["real"].seconds / r.seconds,
                        "ratio_to_ceiling": ceiling / r.seconds,
                        "received": r.received,
                        "lost_datagrams": r.lost if f["udp"] else None,
                        "refcount_per_MiB": r.refcount_per_mib,
                    }
                    for r in f["netsim"]
                ],
            }
            for f in flows
        ],
        "rss": [
            {"label": r.label, "bytes": r.nbytes, "max_rss_kib": r.maxrss_kib, "seconds": r.seconds}
            for r in rss
        ],
    }
    if tls is not None:
        doc["tls"] = _nc_tls_json(n, tls)
    return doc


def _nc_tls_json(n: int, tls: dict[str, Any]) -> dict[str, Any]:
    ceiling: float = tls["ceiling"]
    return {
        "real_method": tls["real_method"],
        "real_is_ktls": tls["no_ktls"] is None,
        "no_ktls_because": tls["no_ktls"],
        "ceiling_MB/s": _mbs(n, ceiling),
        "flows": [
            {
                "flow": f["flow"],
                "mode": f["mode"],
                "real": {"seconds": f["real"].seconds, "MB/s": _mbs(n, f["real"].seconds)},
                "netsim": [
                    {
                        "allocator": r.allocator,
                        "txconf": r.txconf,
                        "seconds": r.seconds,
                        "MB/s": _mbs(n, r.seconds),
                        "ratio_to_real": f["real"].seconds / r.seconds,
                        "ratio_to_ceiling": ceiling / r.seconds,
                        "ratio_to_plain": f["plain"][r.allocator] / r.seconds
                        if f["plain"].get(r.allocator)
                        else None,
                        "received": r.received,
                        "records_per_MiB": r.records_per_mib,
                        "refcount_per_MiB": r.refcount_per_mib,
                    }
                    for r in f["netsim"]
                ],
            }
            for f in tls["flows"]
        ],
    }


def _print_nc_tls_table(args: argparse.Namespace, tls: dict[str, Any]) -> None:
    n = args.bytes
    ceiling: float = tls["ceiling"]
    print(
        f"nc --tls: {_size(n)} per flow through kTLS, TLS 1.2 AES-GCM-128 in 16 KiB records;\n"
        "         netsim in software kTLS (sw) and with device offload on the emulated lo (device)"
    )
    print(f"real:    {tls['real_method']}, best of {args.repeat}")
    if tls["no_ktls"] is not None:
        print(f"         (the kernel's kTLS is not available here: {tls['no_ktls']})")
    print("netsim:  netsim nc --tls / --tls-offload, in this process, once per allocator")
    print(
        f"ceiling: the bare loop + AES-GCM-128 sealing and opening each record: "
        f"{_mbs(n, ceiling):.0f} MB/s"
    )
    print()
    flows = tls["flows"]
    width = max(len(r.allocator) for f in flows for r in f["netsim"])
    heads = ("flow", "tls", "allocator", "real MB/s", "netsim MB/s", "netsim/real")
    fmt = f"{{:<8}}  {{:<6}}  {{:<{width}}}  {{:>9}}  {{:>11}}  {{:>11}}  {{:>14}}  {{:>9}}"
    print(fmt.format(*heads, "netsim/ceiling", "tls/plain"))
    for f in flows:
        real: RealRun = f["real"]
        for r in f["netsim"]:
            plain = f["plain"].get(r.allocator)
            print(
                fmt.format(
                    f"{f['flow']}/tls",
                    f["mode"],
                    r.allocator,
                    f"{_mbs(n, real.seconds):.0f}",
                    f"{_mbs(n, r.seconds):.1f}",
                    f"{real.seconds / r.seconds:.4f}",
                    f"{ceiling / r.seconds:.3f}",
                    f"{plain / r.seconds:.3f}" if plain else "-",
                )
            )
    print()
    print(
        "real: the same reference for both modes (no real loopback offloads TLS). tls/plain:\n"
        "netsim's TLS flow over its plain TCP flow with the same allocator, above: what kTLS\n"
        "costs the emulator. Only the ratios of this one run are worth comparing."
    )


def _print_nc_table(
    args: argparse.Namespace,
    real_method: str,
    ceiling: float,
    flows: Sequence[dict[str, Any]],
    rss: Sequence[RssRun],
) -> None:
    n = args.bytes
    print(
        f"nc: {_size(n)} of zeros per flow, {NC_CHUNK}-byte writes, {args.read_size}-byte reads "
        f"({platform.python_implementation()} {platform.python_version()}, "
        f"netsim {netsim.BUILD})"
    )
    print(f"real:    {real_method}, best of {args.repeat}")
    print("netsim:  netsim nc's flow in this process, one emulated host, once per allocator")
    print(
        f"ceiling: bare trio loop, two copies + frag bookkeeping, best of {args.repeat}: "
        f"{_mbs(n, ceiling):.0f} MB/s"
    )
    print()
    width = max(len(r.allocator) for f in flows for r in f["netsim"])
    heads = ("flow", "allocator", "real MB/s", "netsim MB/s", "netsim/real", "netsim/ceiling")
    fmt = f"{{:<4}}  {{:<{width}}}  {{:>9}}  {{:>11}}  {{:>11}}  {{:>14}}  {{:>16}}"
    print(fmt.format(*heads, "lost real/netsim"))
    for f in flows:
        real: RealRun = f["real"]
        for r in f["netsim"]:
            lost = ""
            if f["udp"]:
                real_lost = "?" if real.lost is None else str(real.lost)
                lost = f"{real_lost}/{r.lost}"
            print(
                fmt.format(
                    f["flow"],
                    r.allocator,
                    f"{_mbs(n, real.seconds):.0f}",
                    f"{_mbs(n, r.seconds):.1f}",
                    f"{real.seconds / r.seconds:.4f}",
                    f"{ceiling / r.seconds:.3f}",
                    lost,
                ).rstrip()
            )
    print()
    print(
        "netsim/real: netsim's MB/s over the real loopback's; netsim/ceiling: over the bare\n"
        "loop's (what is missing is the cost of the stack's own logic). lost: UDP datagrams the\n"
        "receive buffer dropped, real (the machine's RcvbufErrors) / netsim. UDP's real MB/s is\n"
        "the sender's. MB/s measure Python against the kernel; only the ratios of this one run\n"
        "are worth comparing."
    )
    if rss:
        print()
        print(
            f"peak RSS of the emulated run (a child process each; allocator {args.rss_allocator}):"
        )
        label_w = max(len(r.label) for r in rss)
        for r in rss:
            rate = f"  {_mbs(r.nbytes, r.seconds):6.1f} MB/s" if r.seconds else ""
            print(f"  {r.label:<{label_w}}  {r.maxrss_kib / 1024:8.1f} MiB{rate}")
        flows_rss = [r for r in rss if r.nbytes]
        if len(flows_rss) >= 2:
            first, last = flows_rss[0], flows_rss[-1]
            growth = (last.maxrss_kib - first.maxrss_kib) / 1024
            print(
                f"  {_size(first.nbytes)} -> {_size(last.nbytes)}: {growth:+.1f} MiB "
                f"for {last.nbytes / first.nbytes:.0f}x the bytes"
            )


def _add_nc(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "nc",
        help="the series' netcat runs: real loopback vs netsim nc vs a bare loop, as ratios",
        description="For tcp4, tcp6, udp4 and udp6: the machine's loopback (OpenBSD nc if "
        "installed, else trio over real sockets), netsim nc with each allocator, and a bare "
        "trio loop doing only the copies and frag bookkeeping, on the same bytes; prints MB/s "
        "and the ratios; then the TLS flows (netsim nc --tls and --tls-offload against the "
        "kernel's kTLS, or Python ssl where the kernel has none). The comments '-- nc' and "
        "'-- nc's TLS flows' in benchmarks/run.py give the method.",
    )
    p.add_argument(
        "--bytes",
        type=_nc_size,
        default=256 << 20,
        metavar="N",
        help="bytes per flow, as head -c takes them (default: 256M)",
    )
    p.add_argument(
        "--read-size", type=_positive, default=16384, help="bytes per recv (default: 16384)"
    )
    p.add_argument(
        "--allocators",
        type=lambda s: [n for n in s.split(",") if n],
        metavar="A,B,...",
        help="netsim with these allocators (default: every registered one)",
    )
    p.add_argument(
        "--real",
        choices=("auto", "nc", "trio"),
        default="auto",
        help="the real side: OpenBSD nc, trio over real sockets, or nc if installed (default)",
    )
    p.add_argument(
        "--repeat",
        type=_positive,
        default=3,
        help="repeats of the real run and the ceiling, best kept (default: 3)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also the TLS flows: netsim nc --tls and --tls-offload over tcp4/tcp6 against "
        "the kernel's kTLS, or Python ssl where the kernel has no tls module (default: on)",
    )
    p.add_argument(
        "--rss",
        action="store_true",
        help="also the peak RSS of netsim nc (TCP, a child process) for each of --rss-sizes",
    )
    p.add_argument(
        "--rss-sizes",
        type=lambda s: [_nc_size(x) for x in s.split(",") if x],
        default=[1 << 30, 8 << 30],
        metavar="N,N",
        help="bytes for the --rss runs (default: 1G,8G)",
    )
    p.add_argument(
        "--rss-allocator",
        default="page_frag_cache",
        help="allocator of the --rss runs (default: page_frag_cache)",
    )
    p.set_defaults(func=cmd_nc)


def _nc_size(text: str) -> int:
    from netsim.cli.nc import parse_size

    value = parse_size(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text!r}")
    return value


# -- command line ------------------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {value}")
    return value


def _int_list(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not sizes or any(not 0 < s <= 4096 for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be in 1..4096: {text!r}")
    return sizes


#: One function per subcommand, adding its parser.
# -- both builds, one run -----------------------------------------------------------------------

_COMPILED_TREE = ROOT / "build" / "compiled-tree"


def _sync_compiled_tree() -> Path:
    """A copy of the sources with the core compiled in place (``build/compiled-tree``):
    rebuilt when a source changed since the last build, else reused."""
    import hashlib
    import shutil

    tree = _COMPILED_TREE
    files = ["setup.py", "pyproject.toml", "README.md"]
    files += [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "netsim").rglob("*.py"))]
    digest = hashlib.sha256()
    for rel in files:
        digest.update(rel.encode() + b"\0" + (ROOT / rel).read_bytes())
    stamp = tree / ".sources"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return tree
    if tree.exists():
        shutil.rmtree(tree)
    for rel in files:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, tree / rel)
    print(f"building the compiled core in {tree} (about a minute)...", file=sys.stderr)
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=tree,
        env={**os.environ, "NETSIM_MYPYC": "1"},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    stamp.write_text(digest.hexdigest())
    return tree


def _run_both(args: argparse.Namespace) -> int:
    """Run one benchmark on the pure sources and on the compiled build, one after the other,
    each in its own process (each prints its build in its header)."""
    if not args.rest or args.rest[0] not in ("alloc", "tcp", "nc", "loss"):
        print("usage: run.py both {alloc,tcp,nc,loss} [ARGS...]", file=sys.stderr)
        return 2
    trees = {"pure Python": ROOT, "compiled (mypyc)": _sync_compiled_tree()}
    status = 0
    for name, tree in trees.items():
        print(f"=== {name} ({tree})", flush=True)
        env = {**os.environ, "PYTHONPATH": str(tree)}
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), *args.rest], env=env, check=False
        )
        status = status or done.returncode
        print(flush=True)
    return status


def _add_both(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "both",
        help="run a benchmark on the pure build and on the compiled one, side by side",
        description="Run BENCHMARK [ARGS] twice, on the pure sources and on a copy of them "
        "with the core compiled by mypyc (build/compiled-tree, rebuilt when a source "
        "changed), each in its own process.",
    )
    p.add_argument("rest", nargs=argparse.REMAINDER, metavar="BENCHMARK [ARGS]")
    p.set_defaults(func=_run_both)


# -- loss: TCP across a lossy link, in virtual time --------------------------------------------


@attrs.frozen
class LossRun:
    """One lossy transfer: its virtual duration and what it cost in wall time."""

    loss: float
    nbytes: int
    virtual_seconds: float
    wall_seconds: float
    retransmits: int
    timeouts: int
    recoveries: int
    loss_probes: int
    congestion_control: str


def _loss_flow(loss: float, nbytes: int, seed: int, family: int, cc: str = "cubic") -> LossRun:
    """``nbytes`` over a 1500-MTU link (1 Gbit/s, 0.5 ms one way) losing ``loss`` of the
    frames each way (a seeded ``FaultPlan``), in virtual time; byte-exact or an error."""
    import trio
    import trio.testing

    payload = bytes(range(256)) * (nbytes // 256) + bytes(nbytes % 256)
    peer = "10.0.0.2" if family == netsim.AF_INET else "fd00::2"

    async def run() -> tuple[float, int, int, int, int]:
        async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
            for host in (a, b):
                host.sysctl["net.ipv4.tcp_congestion_control"] = cc
            plan = netsim.FaultPlan(loss=loss, seed=seed) if loss else None
            netsim.link(a, b, rate=1e9, delay=0.0005, faults=plan)
            listener = b.socket(family, netsim.SOCK_STREAM)
            await listener.bind(("", 5001))
            listener.listen(1)
            client = a.socket(family, netsim.SOCK_STREAM)
            got = bytearray()

            async def serve() -> None:
                conn, _ = await listener.accept()
                with conn:
                    while chunk := await conn.recv(65536):
                        got.extend(chunk)

            start = trio.current_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(serve)
                await client.connect((peer, 5001))
                view = memoryview(payload)
                while view:
                    view = view[await client.send(view) :]
                client.shutdown(netsim.SHUT_WR)
            if bytes(got) != payload:
                raise RuntimeError(f"loss {loss}: {len(got)} of {nbytes} bytes, or not the same")
            elapsed = trio.current_time() - start
            retrans = client.tcp_sk.info()["total_retrans"]
            s = a.stats()
            client.close()
            listener.close()
            return (
                elapsed,
                retrans,
                s["TcpExtTCPTimeouts"],
                s["TcpExtTCPSackRecovery"],
                s["TcpExtTCPLossProbes"],
            )

    wall = time.perf_counter()
    virtual, retrans, timeouts, recoveries, probes = trio.run(
        run, clock=trio.testing.MockClock(autojump_threshold=0)
    )
    return LossRun(
        loss, nbytes, virtual, time.perf_counter() - wall, retrans, timeouts, recoveries, probes, cc
    )


def cmd_loss(args: argparse.Namespace) -> int:
    family = netsim.AF_INET6 if args.ipv6 else netsim.AF_INET
    runs = [_loss_flow(loss, args.bytes, args.seed, family, args.cc) for loss in args.losses]
    if args.json:
        doc = {
            "python": platform.python_version(),
            "netsim_build": netsim.BUILD,
            "runs": [attrs.asdict(r) for r in runs],
        }
        print(json.dumps(doc, indent=2))
        return 0
    print(
        f"loss: {_size(args.bytes)} of TCP over a 1500-MTU link, 1 Gbit/s, 0.5 ms one way, "
        f"each way losing the given share of frames (seed {args.seed}), {args.cc}; virtual "
        f"time (CPython {platform.python_version()}, netsim {netsim.BUILD})"
    )
    print(
        f"{'loss':>6}  {'virtual s':>10}  {'wall s':>7}  {'retransmits':>11}  {'timeouts':>8}  "
        f"{'recoveries':>10}  {'loss probes':>11}"
    )
    for r in runs:
        print(
            f"{r.loss:6.1%}  {r.virtual_seconds:10.3f}  {r.wall_seconds:7.2f}  "
            f"{r.retransmits:11d}  {r.timeouts:8d}  {r.recoveries:10d}  {r.loss_probes:11d}"
        )
    return 0


def _loss_list(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid loss list {text!r}") from None
    if not values or not all(0.0 <= v < 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"losses are fractions in [0, 1): {text!r}")
    return values


def _add_loss(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "loss",
        help="TCP across a lossy link: virtual and wall seconds per loss rate",
        description="For each loss rate, the same bytes over a 1500-MTU link (1 Gbit/s, "
        "0.5 ms one way) with a seeded FaultPlan losing that share of the frames each way, "
        "in virtual time (trio's MockClock): how long TCP takes to recover, as the emulated "
        "clock measures it, and what that costs in wall time.",
    )
    p.add_argument("--bytes", type=_nc_size, default=16 << 20, help="bytes per run (16M)")
    p.add_argument(
        "--losses", type=_loss_list, default=[0.0, 0.01, 0.05], help="0,0.01,0.05 (fractions)"
    )
    p.add_argument("--seed", type=int, default=5, help="the fault plan's seed (5)")
    p.add_argument("--ipv6", action="store_true", help="over IPv6 instead of IPv4")
    p.add_argument(
        "--cc",
        choices=("cubic", "reno"),
        default="cubic",
        help="net.ipv4.tcp_congestion_control on both hosts (cubic, the default)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_loss)


SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _add_alloc,
    _add_tcp,
    _add_nc,
    _add_loss,
    _add_both,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="run.py", description="netsim benchmarks (ratios measured in the same run)"
    )
    subparsers = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for add in SUBCOMMANDS:
        add(subparsers)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
