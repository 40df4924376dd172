"""netsim's benchmarks: one entry point, one subcommand per benchmark.

    python benchmarks/run.py alloc [--sizes 12,256,2048] [--count N] [--repeat N] [--json]
    python benchmarks/run.py tcp [--mib N] [--write-size N] [--read-size N] [--json]

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
import gc
import json
import platform
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import attrs

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
        f"{platform.python_implementation()} {platform.python_version()}"
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
        assert refs == 0 and not queue
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
        f"{args.read_size}-byte reads (Python {platform.python_version()})"
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


#: One function per subcommand, adding its parser (``nc`` comes next).
SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _add_alloc,
    _add_tcp,
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
