"""``netsim trace``: watch the frag model decide, one write at a time.

A scenario on one emulated host over loopback — a TCP connection or a UDP flow, IPv4 or
IPv6, one or two sending sockets — runs in virtual time (``MockClock(autojump_threshold=0)``)
under ``host.tracing()`` (:mod:`netsim.stats.trace`).  Every user action is a *step*: each
write (``send``, with ``MSG_MORE`` under ``--more``), each read of what arrived (``--read``),
the uncork at the end (``--cork``), a second of idle virtual time for TCP's timers, the
close, and the exit of the writing task (``do_exit`` drains its ``task_frag``).  For each
step the output shows the trace events it produced (``seq kind fields -- reason``; the
decisions only, unless ``--all`` adds the refcount bookkeeping and the allocator's
prepare/commit steps), then every skb on the sockets' write and retransmit queues
(:func:`netsim.skb.skb_describe`; receive queues in one line per skb) and every live page
(:meth:`netsim.Host.render_pages`), skbs named as the events name them.  A summary closes
it: the frag and refcount counters with their meaning, and what happened in plain words.

``--json FILE`` writes the whole run as data — the steps, the events and, after every event,
a :meth:`~netsim.Host.page_map` frame (docs/trace.md gives the schema); ``--html FILE`` hands
the same data to :mod:`netsim.cli.trace_html`.

Exit status: 0; 1 when the run fails (a write the kernel refuses — ``EMSGSIZE`` for a
datagram over 65507 B —, a write that never completes, a page leak, a file that cannot be
written); 2 for bad arguments.  The host closes and every page goes back in every case.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from collections.abc import Callable
from typing import IO, Any, Final

import attrs
import trio
import trio.testing

from ..errors import PageLeakError
from ..mm import available_frag_allocators
from ..runtime import Host, Socket, open_host
from ..skb import MAX_SKB_FRAGS, PageMap, SkBuff, skb_describe
from ..sock.constants import (
    AF_INET,
    AF_INET6,
    MSG_DONTWAIT,
    MSG_MORE,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_TCP,
    SOL_UDP,
    TCP_CORK,
    TCP_NODELAY,
    UDP_CORK,
)
from ..stats import TraceEvent, Tracer
from ..stats.trace import DECISION_KINDS
from ._args import allocator_name, file_name

__all__ = [
    "TraceOptions",
    "TraceRun",
    "build_parser",
    "main",
    "parse_args",
    "run",
    "summary",
    "trace",
]

#: version of the ``--json`` layout (docs/trace.md)
SCHEMA_VERSION: Final = 1
#: the port the receiving socket listens on
PORT: Final = 5000
#: bounds that keep a trace readable (and its ``--json`` frames affordable)
MAX_WRITE: Final = 1 << 20
MAX_WRITES: Final = 100
MAX_TOTAL: Final = 4 << 20
#: virtual seconds a write may wait before the run gives up on it
STALL: Final = 10.0
#: virtual seconds of the idle step that lets TCP's timers (delayed ACK, RTO) run
IDLE: Final = 1.0
#: output width the event lines wrap at
WIDTH: Final = 80

#: the counters the summary lists, with what each counts
SUMMARY_COUNTERS: Final[tuple[tuple[str, str], ...]] = (
    ("frag_refill", "fresh pages for the fragment allocator"),
    ("frag_recycle", "page_frag_cache pages reused in place"),
    ("frag_reuse", "page_frag pages restarted at offset 0"),
    ("frag_abandon", "pages let go while frags still held them"),
    ("frag_commit", "fragments with a reference: new frag slots"),
    ("frag_commit_noref", "bytes merged into a frag: no reference"),
    ("skb_coalesce", "copies that grew the previous frag"),
    ("skb_new_frag", "copies that took a new frag slot"),
    ("page_get", "get_page(): one atomic each"),
    ("page_put", "put_page(): one atomic each"),
    ("page_ref_add", "page_ref_add(): many references, one atomic"),
    ("page_ref_sub_and_test", "page_ref_sub_and_test(): many, one atomic"),
)


@attrs.frozen
class TraceOptions:
    """A parsed ``netsim trace`` command line."""

    proto: str = "tcp"
    family: int = 4
    allocator: str = "page_frag_cache"
    writes: tuple[int, ...] = (100, 100, 100)
    more: bool = False
    cork: bool = False
    nodelay: bool = False
    max_skb_frags: int | None = None
    read: bool = False
    sockets: int = 1
    all: bool = False
    json: str | None = None
    html: str | None = None
    title: str = "netsim trace"


# -- arguments -------------------------------------------------------------------------------


def _size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20}
    digits, scale = text.strip(), 1
    if digits.startswith("-") and _size(digits[1:]) >= 0:
        return -_size(digits[1:])
    if digits[-1:].lower() in units:
        digits, scale = digits[:-1], units[digits[-1].lower()]
    if not digits.isdigit():
        raise ValueError(text)
    return int(digits) * scale


def _writes(text: str) -> tuple[int, ...]:
    sizes: list[int] = []
    for item in text.split(","):
        try:
            size = _size(item)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"write sizes are byte counts separated by commas (100,100,40000; 16K), "
                f"not {text!r}"
            ) from None
        if size <= 0:
            raise argparse.ArgumentTypeError(f"a write of {item.strip()} bytes: sizes must be >= 1")
        if size > MAX_WRITE:
            raise argparse.ArgumentTypeError(
                f"a write of {size} B: at most {MAX_WRITE} B (1M) per write in a trace"
            )
        sizes.append(size)
    if len(sizes) > MAX_WRITES:
        raise argparse.ArgumentTypeError(f"{len(sizes)} writes: at most {MAX_WRITES} in a trace")
    if sum(sizes) > MAX_TOTAL:
        raise argparse.ArgumentTypeError(
            f"{sum(sizes)} B in all: at most {MAX_TOTAL} B (4M) in a trace"
        )
    return tuple(sizes)


def _max_frags(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_SKB_FRAGS:
        raise argparse.ArgumentTypeError(
            f"net.core.max_skb_frags takes 1..{MAX_SKB_FRAGS} (CONFIG_MAX_SKB_FRAGS), not {text!r}"
        )
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The ``netsim trace`` argument parser."""
    p = argparse.ArgumentParser(
        prog="netsim trace",
        description=(
            "Run a few writes on one emulated host over loopback, in virtual time, and show "
            "what the cores decided: which bytes coalesced into the previous frag and which "
            "took a new one (and why), when a new skb started, what was sent or held, the "
            "skbs and the pages after each step."
        ),
        epilog=(
            "examples:\n"
            "  netsim trace tcp --writes 100,100,40000 --allocator page_frag\n"
            "  netsim trace tcp --writes 100,100,40000 --cork\n"
            "  netsim trace udp -6 --more --writes 100,100,100\n"
            "  netsim trace tcp --writes 100,100,100 --allocator page_frag_cache_countdown\n"
            "  netsim trace tcp --cork --writes 100,100,100 --max-skb-frags 2 "
            "--allocator page_frag_cache_countdown\n"
            "docs/trace.md describes the events and the --json layout."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("proto", choices=("tcp", "udp"), help="the protocol of the flow")
    fam = p.add_mutually_exclusive_group()
    fam.add_argument("-4", dest="family", action="store_const", const=4, help="IPv4 (default)")
    fam.add_argument("-6", dest="family", action="store_const", const=6, help="IPv6")
    p.add_argument(
        "--writes",
        type=_writes,
        default=(100, 100, 100),
        metavar="N,N,...",
        help="the sizes of the writes, in order (default 100,100,100; K and M suffixes)",
    )
    p.add_argument(
        "--allocator",
        type=allocator_name,
        default="page_frag_cache",
        help="the fragment allocator behind sk_page_frag() (default page_frag_cache; "
        f"available: {', '.join(sorted(available_frag_allocators()))})",
    )
    p.add_argument(
        "--more", action="store_true", help="send every write but the last with MSG_MORE"
    )
    p.add_argument(
        "--cork",
        action="store_true",
        help="set TCP_CORK (UDP_CORK for udp) before the writes; uncork after them",
    )
    p.add_argument("--nodelay", action="store_true", help="set TCP_NODELAY (tcp only)")
    p.add_argument(
        "--max-skb-frags",
        type=_max_frags,
        metavar="N",
        help=f"set net.core.max_skb_frags (1..{MAX_SKB_FRAGS}; tcp only) to reach the frag limit",
    )
    p.add_argument(
        "--read",
        action="store_true",
        help="the receiver reads everything after each write, so pages come back",
    )
    p.add_argument(
        "--two-sockets",
        action="store_true",
        help="two sockets take turns writing from one task: they share its task_frag",
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="every event: add the refcount operations and the allocator's prepare/commit",
    )
    p.add_argument(
        "--json",
        type=file_name,
        metavar="FILE",
        help="write steps, events and a page map after each event as JSON ('-': stdout, "
        "instead of the text)",
    )
    p.add_argument("--html", type=file_name, metavar="FILE", help="write the same as an HTML page")
    return p


def parse_args(argv: list[str]) -> TraceOptions:
    """Parse ``netsim trace`` arguments; bad ones exit with the usage message and status 2."""
    parser = build_parser()
    argv = list(argv)
    for i, arg in enumerate(argv[:-1]):  # "--writes -5": a value, not an option like -4
        if arg == "--writes" and argv[i + 1][:1] == "-" and argv[i + 1][1:2].isdigit():
            argv[i : i + 2] = [f"--writes={argv[i + 1]}"]
            break
    args = parser.parse_args(argv)
    udp = args.proto == "udp"
    if udp and args.nodelay:
        parser.error("--nodelay is TCP_NODELAY: tcp only")
    if udp and args.max_skb_frags is not None:
        parser.error(
            "--max-skb-frags sets net.core.max_skb_frags, which caps TCP's copy path only "
            f"(ip_append_data uses CONFIG_MAX_SKB_FRAGS, {MAX_SKB_FRAGS}): tcp only"
        )
    if args.html == "-":
        parser.error("--html needs a file name")
    if args.json is not None and args.json != "-" and args.json == args.html:
        parser.error(f"--json and --html name the same file, {args.json}")
    return TraceOptions(
        proto=args.proto,
        family=args.family or 4,
        allocator=args.allocator,
        writes=args.writes,
        more=args.more,
        cork=args.cork,
        nodelay=args.nodelay,
        max_skb_frags=args.max_skb_frags,
        read=args.read,
        sockets=2 if args.two_sockets else 1,
        all=args.all,
        json=args.json,
        html=args.html,
        title=" ".join(["netsim trace", *argv]),
    )


# -- the run ---------------------------------------------------------------------------------


@attrs.define
class Step:
    """A user action and the seq range of the events it produced (``first > last``: none)."""

    label: str
    first: int
    last: int


@attrs.define
class TraceRun:
    """What :func:`trace` recorded."""

    opts: TraceOptions
    steps: list[Step] = attrs.Factory(list)
    events: list[TraceEvent] = attrs.Factory(list)
    #: ``len(events) + 1`` page maps when asked for (``frames=True``), else empty
    frames: list[PageMap] = attrs.Factory(list)
    #: the host's counters over the trace
    counters: dict[str, int] = attrs.Factory(dict)
    #: how many ``new_frag``, ``coalesce``, ``linear``, ``new_skb`` and data ``transmit``
    #: events there were
    copies: dict[str, int] = attrs.Factory(dict)
    max_skb_frags: int = MAX_SKB_FRAGS
    #: the sizes of the writes that completed
    written: list[int] = attrs.Factory(list)
    pages_left: int = 0
    #: what went wrong, in one line (``None``: the run completed)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` document (docs/trace.md)."""
        opts = self.opts
        events: list[dict[str, object]] = []
        for event in self.events:
            row = event.as_dict()
            row["step"] = _step_of(self.steps, event.seq)
            events.append(row)
        return {
            "version": SCHEMA_VERSION,
            "title": opts.title,
            "scenario": {
                "proto": opts.proto,
                "family": opts.family,
                "allocator": opts.allocator,
                "writes": list(opts.writes),
                "more": opts.more,
                "cork": opts.cork,
                "nodelay": opts.nodelay,
                "max_skb_frags": self.max_skb_frags,
                "read": opts.read,
            },
            "steps": [{"label": s.label, "first": s.first, "last": s.last} for s in self.steps],
            "events": events,
            "frames": self.frames,
        }


def _step_of(steps: list[Step], seq: int) -> int:
    for i, step in enumerate(steps):
        if step.first <= seq <= step.last:
            return i
    return len(steps) - 1


class _Scenario:
    """The sockets of a run and the steps on them, printing each step as it ends."""

    def __init__(
        self, host: Host, opts: TraceOptions, tracer: Tracer, out: Callable[[str], None]
    ) -> None:
        self.host = host
        self.opts = opts
        self.tracer = tracer
        self.out = out
        self.steps: list[Step] = []
        self.clients: list[Socket] = []
        self.servers: list[Socket] = []
        self.listener: Socket | None = None
        self.written: list[int] = []
        self._first = 1
        self._reads = 0

    # -- setup (untraced) -------------------------------------------------------------------

    async def open(self) -> None:
        opts, host = self.opts, self.host
        family = AF_INET6 if opts.family == 6 else AF_INET
        addr = ("::1" if opts.family == 6 else "127.0.0.1", PORT)
        if opts.proto == "tcp":
            self.listener = host.socket(family, SOCK_STREAM)
            await self.listener.bind(addr)
            self.listener.listen()
            for _ in range(opts.sockets):
                client = host.socket(family, SOCK_STREAM)
                self.clients.append(client)
                await client.connect(addr)
                server, _ = await self.listener.accept()
                self.servers.append(server)
                if opts.nodelay:
                    client.setsockopt(SOL_TCP, TCP_NODELAY, 1)
                if opts.cork:
                    client.setsockopt(SOL_TCP, TCP_CORK, 1)
        else:
            server = host.socket(family, SOCK_DGRAM)
            self.servers.append(server)
            await server.bind(addr)
            for _ in range(opts.sockets):
                client = host.socket(family, SOCK_DGRAM)
                self.clients.append(client)
                await client.connect(addr)
                if opts.cork:
                    client.setsockopt(SOL_UDP, UDP_CORK, 1)

    def preamble(self, max_frags: int) -> str:
        """Who is who: the command, the host, the sockets (named as the queues name them)."""
        opts = self.opts
        options = [
            name
            for name, on in (
                ("TCP_NODELAY", opts.nodelay),
                ("TCP_CORK" if opts.proto == "tcp" else "UDP_CORK", opts.cork),
            )
            if on
        ]
        addr = "::1" if opts.family == 6 else "127.0.0.1"
        lines = [
            opts.title,
            f"host: lo {addr}, allocator {opts.allocator}, net.core.max_skb_frags "
            f"{max_frags}; virtual time",
        ]
        for i, client in enumerate(self.clients):
            who = "sender" if opts.sockets == 1 else f"socket {'AB'[i]}"
            lines.append(
                f"{who}: {_sock_name(client)}" + (f" ({', '.join(options)})" if options else "")
            )
        lines.append("receiver: " + ", ".join(_sock_name(s) for s in self.servers))
        lines.append(
            "events: every one (--all)"
            if opts.all
            else "events: the decisions (--all adds refcount operations, prepare/commit)"
        )
        return "\n".join(lines) + "\n"

    def close_all(self) -> None:
        for sock in [*self.clients, *self.servers]:
            sock.close()
        if self.listener is not None:
            self.listener.close()

    # -- steps --------------------------------------------------------------------------------

    def end_step(self, label: str, *, keep_empty: bool = True, note: str = "") -> None:
        """Close the current step (its events are those since the last one) and print it."""
        last = len(self.tracer.events)
        if last < self._first and not keep_empty:
            return
        step = Step(label, self._first, last)
        self.steps.append(step)
        self._first = last + 1
        self.out(self.picture(step, note))

    def _name(self, i: int) -> str:
        return "" if self.opts.sockets == 1 else f"socket {'AB'[i]} "

    async def run(self) -> str | None:
        """The steps; what went wrong, in one line, or ``None``."""
        opts = self.opts
        error: str | None = None
        try:
            error = await self._writes()
            if error is None and opts.cork:
                for i, client in enumerate(self.clients):
                    level, option = (
                        (SOL_TCP, TCP_CORK) if opts.proto == "tcp" else (SOL_UDP, UDP_CORK)
                    )
                    client.setsockopt(level, option, 0)
                    name = "TCP_CORK" if opts.proto == "tcp" else "UDP_CORK"
                    self.end_step(f"uncork: {self._name(i)}setsockopt({name}, 0)")
                await self._read()
            if error is None and opts.proto == "tcp":
                await trio.sleep(IDLE)
                self.end_step(
                    f"idle: {IDLE:g} s of virtual time (delayed ACK, timers)", keep_empty=False
                )
                await self._read()
        finally:
            self.close_all()
            self.end_step("close: close() every socket")
        return error

    async def _writes(self) -> str | None:
        opts = self.opts
        count = len(opts.writes)
        for n, size in enumerate(opts.writes, 1):
            i = (n - 1) % len(self.clients)
            flags = MSG_MORE if opts.more and n < count else 0
            label = (
                f"write {n}: {self._name(i)}send({size} B" + (", MSG_MORE" if flags else "") + ")"
            )
            payload = bytes([0x61 + (n - 1) % 26]) * size
            try:
                with trio.move_on_after(STALL) as scope:
                    view = memoryview(payload)
                    while view:  # a stream send may return early; the rest is the same write
                        sent = await self.clients[i].send(view, flags)
                        view = view[sent:]
                if scope.cancelled_caught:
                    error = (
                        f"write {n} ({size} B) did not complete in {STALL:g} s of virtual "
                        "time: the receiver's window is full (add --read)"
                    )
                    self.end_step(label, note=error)
                    return error
            except OSError as exc:
                error = f"write {n}: send({size} B) failed: {exc}"
                self.end_step(label, note=error)
                return error
            self.written.append(size)
            self.end_step(label)
            await self._read()
        return None

    async def _read(self) -> None:
        if not self.opts.read:
            return
        total = 0
        for server in self.servers:
            while True:
                try:
                    data = await server.recv(65536, MSG_DONTWAIT)
                except BlockingIOError:
                    break
                if not data and self.opts.proto == "tcp":
                    break
                total += len(data)
        steps = len(self.steps)
        self.end_step(f"read {self._reads + 1}: recv() -> {total} B", keep_empty=total > 0)
        if len(self.steps) > steps:
            self._reads += 1

    # -- pictures -----------------------------------------------------------------------------

    def picture(self, step: Step, note: str = "") -> str:
        """The step's header and events, the queued skbs and the live pages."""
        lines = [f"== {step.label} =="]
        events = self.tracer.events[step.first - 1 : step.last]
        lines.extend(_event_lines(e) for e in events)
        if not events:
            lines.append("     (no events)")
        if note:
            lines.extend(textwrap.wrap(f"!! {note}", WIDTH, subsequent_indent="   "))
        label = self.tracer.skb
        queued = self.host._page_walk().skbs
        for queue, skb in queued:
            if skb.freed:
                continue
            if "write_queue" in queue or "rtx_queue" in queue:
                lines.append(f"{queue}: {label(skb)}")
                lines.append(skb_describe(skb, "  "))
            else:
                lines.extend(
                    textwrap.wrap(
                        f"{queue}: {_brief(label(skb), skb)}", WIDTH, subsequent_indent="    "
                    )
                )
        pages = self.host.render_pages(label)
        lines.append(pages if pages else "(no live pages)")
        return "\n".join(lines) + "\n"


def _sock_name(sock: Socket) -> str:
    sk = sock.sk
    proto = "tcp" if sk.sk_protocol == 6 else "udp"
    return f"{proto} :{sk.inet_sport}->:{sk.inet_dport}"


def _event_lines(event: TraceEvent) -> str:
    text = f"{event.seq:>4} {event}"
    if len(text) <= WIDTH:
        return text
    head, sep, reason = text.partition("  -- ")
    body = textwrap.wrap(head, WIDTH, subsequent_indent=" " * 19)
    if sep:
        body.extend(
            textwrap.wrap("-- " + reason, WIDTH, initial_indent=" " * 7, subsequent_indent=" " * 10)
        )
    return "\n".join(body)


def _brief(label: str, skb: SkBuff) -> str:
    frags = ", ".join(
        f"page#{f.page.pfn:#x} [{f.offset}, {f.offset + f.len})" for f in skb.shinfo.frags
    )
    return f"{label} len={skb.len} headlen={skb.headlen} nr_frags={skb.nr_frags}" + (
        f": {frags}" if frags else ""
    )


async def trace(
    opts: TraceOptions, out: Callable[[str], None] = print, frames: bool = False
) -> TraceRun:
    """Run the scenario of ``opts`` on a fresh host, traced, calling ``out`` with the picture
    of each step as it ends; ``frames``: take a page map after every event.  Run it under
    ``MockClock(autojump_threshold=0)`` (:func:`run` does)."""
    result = TraceRun(opts)
    async with open_host(allocator=opts.allocator) as host:
        if opts.max_skb_frags is not None:
            host.sysctl["net.core.max_skb_frags"] = opts.max_skb_frags
        max_frags = host.sysctl["net.core.max_skb_frags"]
        assert isinstance(max_frags, int)
        result.max_skb_frags = max_frags

        def take_frame(event: TraceEvent) -> None:
            result.frames.append(host.page_map(tracer.skb))

        tracer = Tracer(
            kinds=None if opts.all else DECISION_KINDS, listener=take_frame if frames else None
        )
        scenario = _Scenario(host, opts, tracer, out)
        await scenario.open()  # untraced: the handshake is not what this is about
        out(scenario.preamble(result.max_skb_frags))
        before = host.stats()
        if frames:
            result.frames.append(host.page_map(tracer.skb))
        with host.tracing(tracer):
            async with trio.open_nursery() as nursery:

                async def writer() -> None:
                    result.error = await scenario.run()

                nursery.start_soon(writer, name="writer")
            scenario.end_step("exit: the writing task ends; do_exit() drains its task_frag")
        result.steps = scenario.steps
        result.written = scenario.written
        result.events = list(tracer.events)
        result.counters = dict(host.stats() - before)
        result.pages_left = host.page_allocator.pages_in_use()
        result.copies = _copies(tracer.events)
    return result


def _copies(events: list[TraceEvent]) -> dict[str, int]:
    counts = {"new_frag": 0, "coalesce": 0, "linear": 0, "new_skb": 0, "transmit": 0}
    for event in events:
        if event.kind == "transmit" and not event.fields.get("len"):
            continue  # a bare FIN or ACK: the summary counts segments that carry data
        if event.kind in counts:
            counts[event.kind] += 1
    return counts


# -- the summary -----------------------------------------------------------------------------


def summary(result: TraceRun) -> str:
    """The counters that matter, each with its meaning, and what happened in plain words."""
    c = result.counters
    lines = ["== summary ==", "counters over the trace:"]
    for name, meaning in SUMMARY_COUNTERS:
        lines.append(f"  {name:<22}{c.get(name, 0):>7}  {meaning}")
    lines.append("")
    lines.extend(textwrap.wrap(_in_words(result), WIDTH))
    return "\n".join(lines)


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _in_words(result: TraceRun) -> str:
    opts, c, k = result.opts, result.counters, result.copies
    written = result.written
    text = f"{_plural(len(written), 'write')} ({sum(written)} B)"
    copies = k["new_frag"] + k["coalesce"] + k["linear"]
    if copies:
        parts = [f"{k['new_frag']} into a new frag", f"{k['coalesce']} coalesced into the last"]
        if k["linear"]:
            parts.append(f"{k['linear']} into the linear head")
        text += f" made {_plural(copies, 'copy', 'copies')}: {', '.join(parts)}"
    else:
        text += " copied nothing"
    text += (
        f"; {_plural(k['new_skb'], 'new skb')}, "
        f"{_plural(k['transmit'], 'data segment')} transmitted."
    )
    if (
        k["coalesce"] == 0
        and len(written) > 1
        and k["new_skb"] >= len(written)
        and not (opts.cork or opts.more)
    ):
        text += (
            " Every write started a new skb (the last one had already left: Nagle lets a "
            "segment go when nothing small is in flight), so there was no frag to coalesce "
            "into; --cork or --more keeps the tail skb waiting."
            if opts.proto == "tcp"
            else " Every write was a datagram of its own; --more or --cork appends the "
            "writes to one."
        )
    commits = c.get("frag_commit", 0)
    refills = c.get("frag_refill", 0)
    gets = c.get("page_get", 0)
    if opts.allocator == "page_frag" and commits:
        text += (
            f" page_frag took one get_page per new frag: {commits} of the {gets} get_page "
            "counted"
            + (", the rest the receive side's" if gets > commits else "")
            + f", on {_plural(refills, 'fresh page')}."
        )
    elif opts.allocator.startswith("page_frag_cache") and commits:
        text += (
            f" {opts.allocator} prepaid its references, one page_ref_add per refill "
            f"({_plural(refills, 'refill')}): its {_plural(commits, 'new frag')} took no "
            "get_page" + (f" (the {gets} counted are the receive side's)" if gets else "") + "."
        )
    elif commits:
        text += f" {opts.allocator}: {_plural(refills, 'refill')}, {_plural(commits, 'commit')}."
    if opts.allocator == "page_frag_cache_countdown" and commits > 1:
        text += " It hands fragments out downward: consecutive ones are never contiguous."
    atomics = sum(
        c.get(n, 0) for n in ("page_get", "page_put", "page_ref_add", "page_ref_sub_and_test")
    )
    left = result.pages_left
    text += (
        f" Refcount atomics in all: {atomics}; pages allocated {c.get('page_alloc', 0)}, "
        f"freed {c.get('page_free', 0)}"
        + (", every page given back." if left == 0 else f", {_plural(left, 'page')} still live.")
    )
    return text


# -- entry points ----------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"netsim trace: {message}", file=sys.stderr)


def run(opts: TraceOptions) -> int:
    """Run ``opts`` in virtual time and report; the exit status."""
    write_html: Callable[[dict[str, Any], str], None] | None = None
    if opts.html is not None:
        try:
            from .trace_html import write_html
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.trace_html":
                raise
            _say(f"--html needs the module {exc.name}, which this netsim does not have")
            return 1
    to_stdout = opts.json == "-"
    json_file: IO[str] | None = None
    if opts.json is not None and not to_stdout:
        try:
            json_file = open(opts.json, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            _say(f"--json {opts.json}: {exc.strerror or exc}")
            return 1

    chunks: list[str] = []
    want = opts.json is not None or opts.html is not None
    try:
        try:
            result = trio.run(
                trace,
                opts,
                chunks.append,
                want,
                clock=trio.testing.MockClock(autojump_threshold=0),
            )
        except PageLeakError as exc:
            _say(str(exc))
            return 1
        chunks.append(summary(result))
        if not to_stdout:
            print("\n".join(chunks))
        status = 0
        if result.error is not None:
            _say(result.error)
            status = 1
        data = result.as_json() if want else None
        if data is not None and opts.json is not None:
            text = json.dumps(data, indent=1)
            if to_stdout:
                print(text)
            else:
                assert json_file is not None
                try:
                    json_file.write(text + "\n")
                    json_file.close()
                except OSError as exc:
                    _say(f"--json {opts.json}: {exc.strerror or exc}")
                    status = 1
        if data is not None and write_html is not None and opts.html is not None:
            try:
                write_html(data, opts.html)
            except OSError as exc:
                _say(f"--html {opts.html}: {exc.strerror or exc}")
                status = 1
        return status
    finally:
        if json_file is not None and not json_file.closed:
            json_file.close()


def main(argv: list[str] | None = None) -> int:
    """``netsim trace``; the exit status: 0, 1 (the run failed), 2 (bad arguments)."""
    try:
        opts = parse_args(list(sys.argv[2:] if argv is None else argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return run(opts)
    except KeyboardInterrupt:  # the host closed on the way out: every page went back
        _say("interrupted")
        return 130
    except BrokenPipeError:  # `netsim trace ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
