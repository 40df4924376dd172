"""page_frag_test.ko, emulated: the series' fragment-allocator micro-benchmark on trio.

The kernel module (tools/testing/selftests/mm/page_frag/page_frag_test.c, spec/mm-skb.md §5)
starts two kthreads on two CPUs:

* **push** allocates ``test_alloc_len``-byte fragments from ONE ``page_frag_cache`` and
  produces them into a 512-slot ``ptr_ring``.  When the ring is full it frees the fragment it
  just got and calls ``cond_resched()`` — that fragment is not counted.
* **pop** consumes fragments from the ring and frees each one (``page_frag_free``, the
  cross-CPU free), calling ``cond_resched()`` only when the ring is empty.

The module prints how long ``nr_test`` fragments took to go through, then returns ``-EAGAIN``
on purpose so that insmod "fails" and the module never stays loaded.  Run it as insmod would::

    python examples/page_frag_test.py test_push_cpu=16 test_pop_cpu=17 test_alloc_len=12 \\
        nr_test=51200000 test_align=1 test_prepare=1
    python examples/page_frag_test.py test_alloc_len=12 nr_test=1000000 \\
        --compare page_frag_cache,page_frag_cache_countdown,page_frag

Here the two kthreads are two trio tasks on one thread, the ring is a ``collections.deque``
with a capacity check, ``cond_resched()`` is ``trio.lowlevel.checkpoint()``, and
``page_frag_free`` is ``put_page``.  ``test_push_cpu``/``test_pop_cpu`` are accepted and
reported, but nominal.  The time printed is Python's wall time for the emulation, not the
kernel's; what carries over to the kernel are the counters — how many refcount atomics each
allocator needed per fragment.

Differences from the module, on purpose:

* ``--allocator``/``--compare`` pick any registered fragment allocator offering ``alloc``
  (the module always uses ``page_frag_cache``).
* A misaligned fragment WARNs once and the run continues (as in v20; upstream also stops the
  test); any WARN makes the exit status 1.
* Unknown parameters are refused (the kernel only logs "unknown parameter ... ignored";
  test_page_frag.sh checks names against ``modinfo``), and so is a negative ``nr_test``.
* After the run every page must be back in the page allocator (``assert_no_leaks``).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import trio

from netsim.mm import (
    GFP_KERNEL,
    PAGE_SIZE,
    FragAllocator,
    Page,
    PageAllocator,
    get_frag_allocator,
    put_page,
)
from netsim.stats import StatsSnapshot

#: ``nr_objs`` in the module: the ptr_ring's size.
RING_SIZE = 512
#: ``SMP_CACHE_BYTES`` on x86-64: the alignment ``test_align=1`` asks for.
SMP_CACHE_BYTES = 64
#: The module logs progress every time its 10 s ``wait_for_completion_timeout`` expires.
PROGRESS_INTERVAL = 10.0

MODULE = "page_frag_test"
INSMOD_EINVAL = "insmod: ERROR: could not insert module page_frag_test.ko: Invalid parameters"

#: The counters that stand for refcount atomics in the kernel (DESIGN.md).
REFCOUNT_COUNTERS = ("page_get", "page_put", "page_ref_add", "page_ref_sub_and_test")

Frag = tuple[Page, int]


# -- module parameters --------------------------------------------------------------------


@attrs.frozen
class Params:
    """The module's parameters (``module_param``), with the module's defaults."""

    nr_test: int = 2000000
    test_align: bool = False
    test_alloc_len: int = 2048
    test_push_cpu: int = 0
    test_pop_cpu: int = 0
    test_prepare: bool = False

    def describe(self) -> str:
        """The parameters as insmod would be given them."""
        return " ".join(f"{k}={int(v)}" for k, v in attrs.asdict(self).items())


#: ``MODULE_PARM_DESC`` of each parameter, and whether it is a bool (else an int).
PARAM_DOCS: dict[str, tuple[bool, str]] = {
    "nr_test": (False, "number of iterations to test"),
    "test_align": (True, "use align API for testing"),
    "test_alloc_len": (False, "alloc len for testing"),
    "test_push_cpu": (False, "test cpu for pushing fragment"),
    "test_pop_cpu": (False, "test cpu for popping fragment"),
    "test_prepare": (True, "use prepare API for testing (v20)"),
}


class UnknownParameterError(ValueError):
    """A key the module does not have (exit status 2)."""


class InvalidParameterError(ValueError):
    """A value the module refuses: insmod fails with -EINVAL (exit status 1)."""


_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_TRUE = {"1", "y", "yes", "t", "true", "on"}
_FALSE = {"0", "n", "no", "f", "false", "off"}


def kstrtoint(text: str) -> int:
    """``kstrtoint(s, 0, &v)``: decimal, ``0x`` hex or leading-``0`` octal, within C ``int``."""
    m = _INT.fullmatch(text)
    if m is None:
        raise ValueError(text)
    sign, digits = m.groups()
    base = 16 if digits[:2].lower() == "0x" else 8 if digits.startswith("0") else 10
    value = int(digits, base) * (-1 if sign == "-" else 1)
    if not -(2**31) <= value < 2**31:
        raise ValueError(text)  # -ERANGE
    return value


def kstrtobool(text: str) -> bool:
    """``param_set_bool``: y/n, 1/0, true/false, on/off (the kernel reads only the first one or
    two characters; this is stricter and refuses anything else)."""
    word = text.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(text)


def parse_module_params(args: Sequence[str]) -> Params:
    """Parse ``key=value`` arguments as ``parse_args()`` does for insmod, then check them as
    ``page_frag_test_init()`` does.  Later keys win; ``-`` and ``_`` are the same in a key; a
    bool given without ``=value`` is true."""
    values: dict[str, Any] = {}
    for arg in args:
        key, eq, text = arg.partition("=")
        name = key.replace("-", "_")
        if name not in PARAM_DOCS:
            valid = ", ".join(PARAM_DOCS)
            raise UnknownParameterError(f"unknown parameter {key!r}; valid parameters: {valid}")
        is_bool = PARAM_DOCS[name][0]
        try:
            if is_bool:
                values[name] = kstrtobool(text) if eq else True
            else:
                values[name] = kstrtoint(text)
        except ValueError:
            kind = "a bool: 1/0, y/n, true/false" if is_bool else "a C int"
            raise InvalidParameterError(
                f"'{text}' invalid for parameter '{name}' (expected {kind})"
            ) from None
    params = Params(**values)
    if not 0 < params.test_alloc_len <= PAGE_SIZE:
        raise InvalidParameterError(
            f"test_alloc_len={params.test_alloc_len} is out of range: it must be in"
            f" (0, PAGE_SIZE], i.e. 1..{PAGE_SIZE}"
        )
    for name in ("test_push_cpu", "test_pop_cpu"):
        cpu = getattr(params, name)
        if cpu < 0:
            raise InvalidParameterError(f"{name}={cpu}: not an active CPU (cpu_active() fails)")
    if params.nr_test < 0:
        raise InvalidParameterError(f"nr_test={params.nr_test}: must be >= 0")
    return params


# -- the test -----------------------------------------------------------------------------


@attrs.frozen
class Result:
    """What one run did: the module's timing line plus netsim's counters."""

    allocator: str
    params: Params
    duration_ns: int  #: wall time from waking the tasks until both finished
    ring_full: int  #: fragments freed at once because the ring was full (not counted)
    warnings: tuple[str, ...]  #: every WARN, in order (printed once each, like WARN_ONCE)
    counters: StatsSnapshot  #: counter delta over the whole run, drain included

    @property
    def duration_us(self) -> int:
        """``ktime_us_delta(ktime_get(), start)``: whole microseconds."""
        return self.duration_ns // 1000

    @property
    def ns_per_frag(self) -> float:
        return self.duration_ns / self.params.nr_test if self.params.nr_test else 0.0

    def per_frag(self, counter: str) -> float:
        """``counter`` divided by ``nr_test`` (the fragments pushed and popped)."""
        return self.counters[counter] / self.params.nr_test if self.params.nr_test else 0.0

    def module_line(self) -> str:
        """The line the module prints to dmesg (v20 format when ``test_prepare`` is set)."""
        p = self.params
        what = "aligned" if p.test_align else "non-aligned"
        if p.test_prepare:
            what += " prepare API"
        return f"{p.nr_test} of iterations for {what} testing took: {self.duration_us}us"


@attrs.define
class _Test:
    """The module's static state: the cache, the ring, the progress counters, the WARNs."""

    nc: FragAllocator
    params: Params
    ring: deque[Frag] = attrs.field(factory=deque)
    pushed: int = 0
    popped: int = 0
    ring_full: int = 0
    warnings: list[str] = attrs.field(factory=list)
    warned: set[str] = attrs.field(factory=set)

    def warn_once(self, site: str, detail: str = "") -> None:
        """``WARN_ONCE``/``WARN_ON_ONCE``: print the first warning from each ``site``, record
        every one."""
        message = f"{site}: {detail}" if detail else site
        if site not in self.warned:
            self.warned.add(site)
            print(f"WARNING: {MODULE}: {message}")
        self.warnings.append(message)


def _prepare_probe_commit(t: _Test) -> Callable[[int, int, int], Frag | None]:
    """An ``alloc``-shaped function using the v20 API: ``page_frag_alloc_refill_prepare``,
    then ``..._probe`` with the same size and alignment (it must describe the same room), then
    ``page_frag_commit`` of ``test_alloc_len`` bytes."""
    nc = t.nc

    def alloc(size: int, gfp: int, align: int) -> Frag | None:
        span = nc.prepare(size, gfp, align)
        probe = nc.probe(size, align)
        if span is None or probe is None:
            if span is not probe:
                t.warn_once("va != probe_va", f"prepare() gave {span}, probe() gave {probe}")
            return None
        if probe != span:
            t.warn_once("probe() disagrees with prepare()", f"{probe} != {span}")
        nc.commit(span, size)
        return span.page, span.offset

    return alloc


async def _push_thread(t: _Test) -> None:
    """``page_frag_push_thread``: allocate, check alignment, produce (or free if full)."""
    p = t.params
    size, nr_test = p.test_alloc_len, p.nr_test
    align = SMP_CACHE_BYTES if p.test_align else 1
    alloc = _prepare_probe_commit(t) if p.test_prepare else t.nc.alloc
    ring = t.ring
    pushed = 0
    while pushed < nr_test:
        frag = alloc(size, GFP_KERNEL, align)
        if frag is None:
            continue  # the module retries
        page, offset = frag
        if align > 1 and (page.virt + offset) & (SMP_CACHE_BYTES - 1):
            t.warn_once("unaligned va returned")
        if len(ring) >= RING_SIZE:  # __ptr_ring_produce() fails: -ENOSPC
            put_page(page)
            t.ring_full += 1
            t.pushed = pushed
            await trio.lowlevel.checkpoint()  # cond_resched()
        else:
            ring.append(frag)
            pushed += 1
    t.pushed = pushed


async def _pop_thread(t: _Test) -> None:
    """``page_frag_pop_thread``: consume and free; yield only when the ring is empty."""
    nr_test = t.params.nr_test
    ring = t.ring
    popped = 0
    while popped < nr_test:
        if ring:
            page, _ = ring.popleft()  # __ptr_ring_consume()
            put_page(page)  # page_frag_free(): the other CPU's free
            popped += 1
        else:
            t.popped = popped
            await trio.lowlevel.checkpoint()  # cond_resched()
    t.popped = popped


async def _progress(t: _Test) -> None:
    """The module's ``wait_for_completion_timeout(10 s)`` loop: log progress."""
    while True:
        await trio.sleep(PROGRESS_INTERVAL)
        print(f"{MODULE} progress: pushed = {t.pushed}, popped = {t.popped}", flush=True)


def make_allocator(name: str, pa: PageAllocator, *, prepare: bool = False) -> FragAllocator:
    """The registered allocator ``name`` on ``pa``; ``ValueError`` if it is unknown or lacks
    the calls the test makes (``alloc``; with ``prepare``, also prepare/probe/commit)."""
    nc = get_frag_allocator(name)(pa)
    calls = ("alloc", "prepare", "probe", "commit") if prepare else ("alloc",)
    missing = [c for c in calls if not callable(getattr(nc, c, None))]
    if missing:
        raise ValueError(f"frag allocator {name!r} does not offer {', '.join(missing)}()")
    return nc


async def run(params: Params, allocator_name: str = "page_frag_cache") -> Result:
    """``page_frag_test_init()``: run push and pop to completion, then drain the cache and check
    that every page went back."""
    pa = PageAllocator()
    before = pa.stats.snapshot()
    t = _Test(make_allocator(allocator_name, pa, prepare=params.test_prepare), params)
    async with trio.open_nursery() as watchdog:
        watchdog.start_soon(_progress, t)
        start = time.perf_counter_ns()
        async with trio.open_nursery() as kthreads:
            kthreads.start_soon(_push_thread, t, name="page_frag_push")
            kthreads.start_soon(_pop_thread, t, name="page_frag_pop")
        duration = time.perf_counter_ns() - start
        watchdog.cancel_scope.cancel()
    assert not t.ring, "both tasks finished, so every pushed fragment was popped"
    t.nc.drain()  # page_frag_cache_drain(&test_nc)
    pa.assert_no_leaks(f"after {MODULE} with {allocator_name}")
    return Result(
        allocator=allocator_name,
        params=params,
        duration_ns=duration,
        ring_full=t.ring_full,
        warnings=tuple(t.warnings),
        counters=pa.stats.snapshot() - before,
    )


# -- reports ------------------------------------------------------------------------------

_COUNTER_NOTES = {
    "page_get": "get_page(): the old page_frag's one per fragment",
    "page_put": "put_page(): each fragment freed (and page_frag's own drops)",
    "page_ref_add": "page_ref_add(32768): page_frag_cache prepays a page",
    "page_ref_sub_and_test": "unused prepaid references given back (page full, drain)",
}


def _rate(x: float) -> str:
    """A per-fragment rate, readable whether it is 1.0 or 1/2730."""
    if x == 0:
        return "0"
    return f"{x:.4f}" if x >= 0.001 else f"{x:.2e}"


def print_report(r: Result) -> None:
    """The module line, then what the allocator did, per fragment."""
    c = r.counters
    print(r.module_line())
    print(
        f"  ^ the emulator's wall time (Python, {r.ns_per_frag:.0f} ns per fragment), "
        "not the kernel's"
    )
    print()
    print(f"refcount operations (atomics in the kernel) with {r.allocator}:")
    print(f"  {'':<22} {'per frag':>9} {'calls':>10}")
    for name in REFCOUNT_COUNTERS:
        rate = _rate(r.per_frag(name))
        print(f"  {name:<22} {rate:>9} {c[name]:>10}  {_COUNTER_NOTES[name]}")
    print(
        f"pages: {c['frag_refill']} refills, {c['frag_recycle']} recycles, "
        f"{c['frag_abandon']} abandons, {c['frag_reuse']} reuses; "
        f"{c['page_alloc']} allocated, {c['page_free']} freed, none leaked"
    )
    print(
        f"ring full {r.ring_full} times: those fragments were freed at once and not counted "
        f"({c['frag_commit']} fragments allocated in all)"
    )


def print_comparison(results: Sequence[Result]) -> None:
    """One column per allocator, one row per measure."""
    first = results[0]
    rows: list[tuple[str, list[str]]] = [
        ("time", [f"{r.duration_ns / 1e9:.3f} s" for r in results]),
        ("ns per fragment", [f"{r.ns_per_frag:.0f}" for r in results]),
        (
            f"  time vs {first.allocator}",
            [
                f"{r.duration_ns / first.duration_ns:.2f}x" if first.duration_ns else "-"
                for r in results
            ],
        ),
    ]
    rows += [(f"{n} / frag", [_rate(r.per_frag(n)) for r in results]) for n in REFCOUNT_COUNTERS]
    for label, key in (
        ("refills", "frag_refill"),
        ("recycles", "frag_recycle"),
        ("reuses", "frag_reuse"),
        ("abandons", "frag_abandon"),
    ):
        rows.append((label, [str(r.counters[key]) for r in results]))
    rows.append(("ring full", [str(r.ring_full) for r in results]))
    widths = [
        2 + max(len(r.allocator), *(len(cells[i]) for _, cells in rows))
        for i, r in enumerate(results)
    ]
    rows.insert(0, ("", [r.allocator for r in results]))
    print()
    print(first.params.describe())
    for label, cells in rows:
        line = "".join(f"{cell:>{w}}" for cell, w in zip(cells, widths, strict=True))
        print(f"{label:<28}{line}")
    print("(time is the emulator's Python wall time; the counters are what carries over to C)")


# -- command line -------------------------------------------------------------------------


def _allocator_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected allocator names separated by commas")
    return names


def _parser() -> argparse.ArgumentParser:
    params = "\n".join(
        f"  {name:<15} {'bool' if is_bool else 'int':<5} default "
        f"{int(getattr(Params(), name))!s:<8} {doc}"
        for name, (is_bool, doc) in PARAM_DOCS.items()
    )
    parser = argparse.ArgumentParser(
        prog="page_frag_test.py",
        description="Emulate `insmod page_frag_test.ko key=value ...` on netsim.",
        epilog=f"module parameters (as modinfo lists them):\n{params}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("params", nargs="*", metavar="key=value", help="module parameters")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--allocator", default="page_frag_cache", help="fragment allocator (default: %(default)s)"
    )
    which.add_argument(
        "--compare",
        type=_allocator_list,
        metavar="A,B[,C]",
        help="run with each allocator and print them side by side",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse like insmod, run, report.  0: done; 1: invalid parameters or a WARN; 2: usage."""
    parser = _parser()
    try:
        args = parser.parse_intermixed_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        params = parse_module_params(args.params)
    except UnknownParameterError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    except InvalidParameterError as exc:
        print(INSMOD_EINVAL, file=sys.stderr)
        print(f"{MODULE}: {exc}", file=sys.stderr)
        return 1
    names: list[str] = args.compare or [args.allocator]
    try:
        for name in names:
            make_allocator(name, PageAllocator(), prepare=params.test_prepare)
    except ValueError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2

    print(f"{MODULE}: {params.describe()}")
    print(
        f"{MODULE}: push and pop are two trio tasks on one thread "
        f"(cpu {params.test_push_cpu} and {params.test_pop_cpu} are nominal)"
    )
    results = []
    for name in names:
        print(f"{MODULE}: allocator {name}", flush=True)
        result = trio.run(run, params, name)
        results.append(result)
        if len(names) == 1:
            print_report(result)
        else:
            print(result.module_line())
    if len(names) > 1:
        print_comparison(results)
    warned = [r for r in results if r.warnings]
    for r in warned:
        print(f"{MODULE}: {len(r.warnings)} WARN(s) with {r.allocator}: it broke an invariant")
    return 1 if warned else 0


if __name__ == "__main__":
    raise SystemExit(main())
