"""Property tests: random sequences of socket operations on emulated hosts (DESIGN.md
"Testing"; issue 9 item 5).

hypothesis draws, one operation at a time, a sequence of socket calls on a TCP connection
(client and the server side from a listener's ``accept``) or a pair of bound UDP sockets —
``send``/``sendto``/``sendmsg`` of 0..200 KiB (biased to the sizes around the MSS, a page and
32 KiB) with ``MSG_MORE``, ``MSG_DONTWAIT``, ``MSG_OOB``; ``recv``/``recv_into``/``recvfrom``/
``recvfrom_into``/``recvmsg`` with ``MSG_PEEK``, ``MSG_WAITALL``, ``MSG_TRUNC``, ``MSG_DONTWAIT``,
``MSG_OOB``; ``setsockopt``; ``shutdown``; ``close``; the passing of time; and two calls at once —
each blocking call under ``trio.move_on_after`` of a drawn virtual time, so blocked sends on a
full buffer, blocked receives and (in the connect test) handshakes are cancelled at random
points.  Each example is its own ``trio.run`` on ``MockClock(autojump_threshold=0)`` with fresh
hosts: one host (loopback) or two joined by a link with a small MTU, a rate and a delay, so
that data is in flight; AF_INET and AF_INET6; every fragment allocator.

The model beside the sockets:

* **TCP** — each direction is a stream whose byte at position ``p`` is ``_pattern(p)`` (a
  1 MiB + 4099-byte period, so a frag put at the wrong offset or on the wrong page shows).  What
  ``send`` returned was accepted (``lo``); a call cut short by a close in another task may have
  accepted more (``hi``).  Every read is the stream's next bytes, never beyond ``hi``; ``MSG_PEEK``
  does not consume; EOF comes only after the peer's FIN and everything it accepted (or after our
  ``SHUT_RD``, or once a reset is possible: an abortive close, data sent to a closed socket, an
  orphan's FIN_WAIT2 timeout).  At the end both sides shut down and drain: without a reset,
  each reader must get exactly what the other side accepted, then EOF.
* **UDP** — each datagram read is one that was sent to that socket, in order, possibly
  truncated; skipping a datagram is allowed only when a drop counter says one was dropped.
  Corked pieces (``MSG_MORE``, ``UDP_CORK``) make one datagram; ``UDP_SEGMENT`` cuts one.
* **Errors** — every exception is an ``OSError`` whose errno Linux could give that call in that
  state (a per-call allowed set), ``trio.ClosedResourceError`` when another task closed the
  socket, or ``trio.Cancelled`` only when the call's own deadline passed; anything else fails
  the example.

After every operation, on every host: every skb reachable from every socket's queues (write,
retransmit, receive, out-of-order, backlog, UDP cork), the host's softirq backlog, link devices'
TX queues and the IP reassembly queues satisfies ``skb_check`` and ``len == headlen + Σ frag.len
+ Σ frag_list.len``, ``nr_frags <= CONFIG_MAX_SKB_FRAGS``, ``truesize >= len``; every shared
info is referenced by as many skbs as its ``dataref`` says; and every live page's refcount
equals its holders — the frags of live skbs (a shared info counts once) plus the fragment
allocators' own references (``page_frag``: one; ``page_frag_cache``: ``pagecnt_bias``) of every
task, socket and device.  Leaving ``open_host`` runs the leak check inside the example, and the
page allocators are checked empty after it.

Seeds: the examples are derandomized (a fixed seed per test, no database), so CI runs the same
sequences every time; ``NETSIM_FULL=1`` runs 20 times as many.  ``NETSIM_PROPERTY_RANDOM=1``
draws fresh random examples instead (to hunt for new failures; hypothesis prints a reproduction
blob for any it finds).
"""

from __future__ import annotations

import errno
import os
import random
import struct
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any, cast

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    IPPROTO_TCP,
    MSG_DONTWAIT,
    MSG_MORE,
    MSG_OOB,
    MSG_PEEK,
    MSG_TRUNC,
    MSG_WAITALL,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
    SO_LINGER,
    SO_RCVBUF,
    SO_SNDBUF,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_SOCKET,
    SOL_UDP,
    TCP_CORK,
    TCP_MAXSEG,
    TCP_NODELAY,
    TCP_NOTSENT_LOWAT,
    UDP_CORK,
    UDP_SEGMENT,
)
from netsim.dev.link import LinkDevice, WireDevice
from netsim.ipv4.fragment import FragQueue
from netsim.ipv6.reassembly import Frag6Queue
from netsim.mm import FragAllocator, Page, PageAllocator, PageFrag, PageFragCache
from netsim.skb import SKB_DATAREF_MASK, SKBFL_MANAGED_FRAG_REFS, BadSkbError, SkBuff, skb_check
from netsim.sock.sock import Sock, sock_rfree, sock_wfree
from netsim.tcp import TcpSock
from netsim.tcp.output import tcp_wfree
from netsim.udp import UdpSock

#: hypothesis draws the operations, the links' delays and rates and the cancellations, and
#: each run may draw new ones: readers that stall (tail loss probes, D-SACKs), receive buffers
#: that overflow, ACKs slower than the probe timer, crossing FINs
pytestmark = pytest.mark.netsim_capture_allow(
    "tcp.analysis.*",
    "tcp.options.sack.dsack",
    reason="random operations over random links: retransmissions are part of what is drawn",
)

FULL = os.environ.get("NETSIM_FULL") == "1"
RANDOM = os.environ.get("NETSIM_PROPERTY_RANDOM") == "1"


KiB = 1 << 10
ALLOCATORS = ["page_frag", "page_frag_cache", "page_frag_cache_countdown"]
LOCAL = {AF_INET: "127.0.0.1", AF_INET6: "::1"}
LINK_ADDR = {AF_INET: ("10.0.0.1", "10.0.0.2"), AF_INET6: ("fd00::1", "fd00::2")}
FAMILY_NAME = {AF_INET: "ipv4", AF_INET6: "ipv6"}


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples * 20 if FULL else examples,
        derandomize=not RANDOM,
        database=None,
        deadline=None,
        print_blob=RANDOM,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- payload ----------------------------------------------------------------------------------

#: The period of the payload pattern: odd, so no page-multiple misplacement reproduces it.
_PERIOD = (1 << 20) + 4099
_BASE = random.Random(0x9E3779B9).randbytes(_PERIOD)
_BASE2 = _BASE + _BASE


def _pattern(pos: int, n: int) -> bytes:
    """Bytes ``pos .. pos + n`` of an endless seeded pattern."""
    out = bytearray()
    while n > 0:
        start = pos % _PERIOD
        take = min(n, _PERIOD)
        out += _BASE2[start : start + take]
        pos += take
        n -= take
    return bytes(out)


# -- the invariants: skbs and page references -------------------------------------------------


def _socks(host: netsim.Host) -> list[Sock]:
    """Every kernel socket on the host: in its tables, and behind the user's sockets."""
    found: dict[int, Sock] = {id(sk): sk for sk in host.net.sockets}
    for sock in host._sockets:
        found.setdefault(id(sock.sk), sock.sk)
    return list(found.values())


def _queued_skbs(host: netsim.Host) -> Iterator[tuple[str, SkBuff]]:
    """Every skb the host holds at rest, with where it sits."""
    net = host.net
    for sk in _socks(host):
        name = f"{sk!r}"
        for skb in sk.sk_write_queue:
            yield f"{name} write queue", skb
        for skb in sk.sk_receive_queue:
            yield f"{name} receive queue", skb
        if isinstance(sk, TcpSock):
            for skb in sk.tcp_rtx_queue:
                yield f"{name} rtx queue", skb
            for skb in sk.out_of_order_queue:
                yield f"{name} ofo queue", skb
            for skb in sk.sk_backlog:
                yield f"{name} backlog", skb
        if isinstance(sk, UdpSock):
            for skb in sk.cork.queue:
                yield f"{name} cork queue", skb
    for skb in net.backlog:
        yield "softirq backlog", skb
    for dev in net.devices.values():
        if isinstance(dev, LinkDevice):
            for _, skb in dev.txqueue:
                yield f"{dev.name} txqueue", skb
    for q4 in net.ipv4_frags.values():
        for _, _, skb in cast(FragQueue, q4).frags:
            yield "ipv4 reassembly", skb
    for q6 in net.ipv6_frags.values():
        for _, _, skb in cast(Frag6Queue, q6).frags:
            yield "ipv6 reassembly", skb


def _frag_allocators(host: netsim.Host) -> Iterator[tuple[str, FragAllocator]]:
    """Every fragment allocator of the host: tasks' ``task_frag``, sockets' ``sk_frag``,
    devices' RX caches."""
    for ctx in host._tasks.values():
        if ctx.task_frag is not None:
            yield f"task {ctx.name!r}", ctx.task_frag
    for sk in _socks(host):
        if sk.sk_frag is not None:
            yield f"{sk!r} sk_frag", sk.sk_frag
    for dev in host.net.devices.values():
        if isinstance(dev, WireDevice) and dev.rx_cache is not None:
            yield f"{dev.name} rx cache", dev.rx_cache


def _allocator_refs(nc: FragAllocator) -> int:
    """The references a fragment allocator itself holds on its current page."""
    if isinstance(nc, PageFragCache):
        return nc.pagecnt_bias
    if isinstance(nc, PageFrag):
        return 1
    raise AssertionError(f"unknown fragment allocator {nc!r}")


def check_host(host: netsim.Host) -> int:
    """Check every skb and every page reference on ``host``; return the number of skbs."""
    max_frags = host.net.max_skb_frags
    refs: Counter[int] = Counter()
    holders: dict[int, list[str]] = {}
    users: Counter[int] = Counter()
    shinfos: dict[int, SkBuff] = {}
    wmem: Counter[int] = Counter()
    rmem: Counter[int] = Counter()
    count = 0

    def visit(where: str, skb: SkBuff) -> None:
        nonlocal count
        count += 1
        if skb.destructor is sock_wfree or skb.destructor is tcp_wfree:
            wmem[id(skb.sk)] += skb.truesize
        elif skb.destructor is sock_rfree:
            rmem[id(skb.sk)] += skb.truesize
        try:
            skb_check(skb, max_frags)
        except BadSkbError as exc:
            raise AssertionError(f"{where}: {exc}\n{netsim.skb_describe(skb)}") from exc
        paged = sum(frag.len for frag in skb.frags) + sum(sub.len for sub in skb.frag_list)
        assert skb.len == skb.headlen + paged, f"{where}: {netsim.skb_describe(skb)}"
        assert skb.nr_frags <= max_frags, f"{where}: {netsim.skb_describe(skb)}"
        assert skb.truesize >= skb.len, f"{where}: truesize < len: {netsim.skb_describe(skb)}"
        shinfo = skb.shinfo
        users[id(shinfo)] += 1
        if id(shinfo) in shinfos:
            return
        shinfos[id(shinfo)] = skb
        if not shinfo.flags & SKBFL_MANAGED_FRAG_REFS:
            for frag in shinfo.frags:
                head = frag.page.head
                refs[id(head)] += 1
                holders.setdefault(id(head), []).append(where)
        for sub in shinfo.frag_list:
            visit(f"{where} frag_list", sub)

    for where, skb in _queued_skbs(host):
        visit(where, skb)
    for key, skb in shinfos.items():
        dataref = skb.shinfo.dataref & SKB_DATAREF_MASK
        assert users[key] == dataref, (
            f"shared info referenced by {dataref} skbs, {users[key]} found: "
            f"{netsim.skb_describe(skb)}"
        )
    for where, nc in _frag_allocators(host):
        page = nc.page
        n = _allocator_refs(nc)
        if page is not None and n:
            refs[id(page.head)] += n
            holders.setdefault(id(page.head), []).append(f"{where} ({n})")
    pages: dict[int, Page] = {id(p): p for p in host.page_allocator.live_pages()}
    for key, page in pages.items():
        assert page.refcount == refs[key], (
            f"{page!r}: refcount {page.refcount}, holders {refs[key]}: {holders.get(key, [])}"
        )
    stray = [holders[key] for key in refs if key not in pages]
    assert not stray, f"references to pages that are not live: {stray}"
    for sk in _socks(host):
        # what a socket is charged is the truesize of the skbs it owns
        assert sk.sk_wmem_alloc == wmem[id(sk)], f"{sk!r}: sk_wmem_alloc {sk.sk_wmem_alloc}"
        assert sk.sk_rmem_alloc == rmem[id(sk)], f"{sk!r}: sk_rmem_alloc {sk.sk_rmem_alloc}"
        if isinstance(sk, TcpSock):
            # sk_wmem_queued: the truesize of the write and retransmit queues
            queued = sum(s.truesize for s in sk.sk_write_queue)
            queued += sum(s.truesize for s in sk.tcp_rtx_queue)
            assert sk.sk_wmem_queued == queued, f"{sk!r}: sk_wmem_queued {sk.sk_wmem_queued}"
    return count


def check_hosts(hosts: list[netsim.Host]) -> int:
    return sum(check_host(host) for host in hosts)


def check_quiet(hosts: list[netsim.Host]) -> None:
    """Everything closed and finished: no socket, no skb, no page but the allocators'."""
    for host in hosts:
        assert not host.net.sockets, f"{host.name}: sockets left {host.net.sockets}"
        assert check_host(host) == 0
        assert not host.net.tcp_ehash
        assert not host.net.tcp_table
        assert not host.net.udp_table
        assert not host.net.ipv4_frags
        assert not host.net.ipv6_frags


def check_after_exit(hosts: list[netsim.Host]) -> None:
    """After ``open_host`` (whose leak check already ran): the allocators are empty."""
    for host in hosts:
        pa = host.page_allocator
        assert pa.pages_in_use() == 0, pa.leak_report()
        s = host.stats()
        assert s["page_alloc"] == s["page_free"]
        assert s["skb_alloc"] == s["skb_free"], (s["skb_alloc"], s["skb_free"])


# -- strategies -------------------------------------------------------------------------------


class Medium:
    """Loopback on one host, or a link between two."""

    def __init__(self, mtu: int | None, rate: float | None, delay: float) -> None:
        self.mtu = mtu
        self.rate = rate
        self.delay = delay

    @property
    def link(self) -> bool:
        return self.mtu is not None

    def __repr__(self) -> str:
        if self.mtu is None:
            return "loopback"
        return f"link(mtu={self.mtu}, rate={self.rate}, delay={self.delay})"


MEDIA = st.one_of(
    st.just(Medium(None, None, 0.0)),
    st.builds(
        Medium,
        st.sampled_from([576, 1280, 1500, 9000]),
        st.sampled_from([None, 1e6, 1e8, 1e9]),
        st.sampled_from([0.0, 1e-4, 0.005, 0.05]),
    ),
)


def _sizes(boundaries: list[int], top: int) -> st.SearchStrategy[int]:
    """0..``top``, biased to each boundary and its neighbours."""
    near = sorted({max(0, min(top, b + d)) for b in boundaries for d in (-1, 0, 1)})
    return st.one_of(
        st.sampled_from(near), st.integers(0, 64), st.integers(0, 4 * KiB), st.integers(0, top)
    )


#: timeouts for blocking calls: immediately cancelled, a tick, an RTT or two, a long wait
TIMEOUTS = st.sampled_from([0.0, 1e-6, 0.001, 0.05, 0.3, 2.0, 30.0])
SLEEPS = st.sampled_from([0.0, 0.001, 0.04, 0.2, 1.0, 5.0, 61.0])
HOWS = st.sampled_from([SHUT_RD, SHUT_WR, SHUT_RDWR])


def _flags(names: dict[int, int]) -> st.SearchStrategy[int]:
    """A combination of flags, each with its own weight out of 16."""

    @st.composite
    def build(draw: st.DrawFn) -> int:
        flags = 0
        for flag, weight in names.items():
            if draw(st.integers(0, 15)) >= 16 - weight:  # shrinks towards no flag
                flags |= flag
        return flags

    return build()


def _weighted(
    kinds: dict[str, tuple[int, st.SearchStrategy[tuple[Any, ...]]]],
) -> st.SearchStrategy[tuple[Any, ...]]:
    """One of the operations, each as often as its weight says (the first shrinks best)."""
    names = [name for name, (weight, _) in kinds.items() for _ in range(weight)]
    return st.sampled_from(names).flatmap(lambda name: kinds[name][1])


def _flag_names(flags: int) -> str:
    names = [
        (MSG_OOB, "OOB"),
        (MSG_PEEK, "PEEK"),
        (MSG_TRUNC, "TRUNC"),
        (MSG_DONTWAIT, "DONTWAIT"),
        (MSG_WAITALL, "WAITALL"),
        (MSG_MORE, "MORE"),
    ]
    return "|".join(n for f, n in names if flags & f) or "0"


async def _with_timeout(
    limit: float, call: Callable[[], Awaitable[Any]]
) -> tuple[Any, BaseException | None, trio.CancelScope]:
    """Run ``call`` under ``move_on_after(limit)``: ``(result, exception, scope)``.
    ``OSError`` and trio's resource errors are returned, not raised; everything else (an
    ``AssertionError``, a ``BadPageError`` …) propagates and fails the example."""
    result: Any = None
    error: BaseException | None = None
    with trio.move_on_after(limit) as scope:
        try:
            result = await call()
        except (OSError, trio.ClosedResourceError, trio.BusyResourceError) as exc:
            error = exc
    return result, error, scope


def _errname(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return type(exc).__name__


#: what ``OSError(errno, ...)`` may construct: the plain class or its errno subclasses
_OSERROR_TYPES = (
    OSError,
    BlockingIOError,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionRefusedError,
    ConnectionAbortedError,
    TimeoutError,
    InterruptedError,
)


def _check_error(what: str, exc: BaseException, allowed: set[int], closable: bool) -> None:
    """Fail unless ``exc`` is an errno Linux could give here (or a close in another task)."""
    if isinstance(exc, trio.ClosedResourceError) and closable:
        return
    if isinstance(exc, OSError) and type(exc) in _OSERROR_TYPES and exc.errno in allowed:
        return
    allowed_names = sorted(errno.errorcode[e] for e in allowed)
    raise AssertionError(f"{what}: unexpected {_errname(exc)} (allowed {allowed_names})") from exc


# -- scenario plumbing ------------------------------------------------------------------------

#: fault plans for the hosts' memory: none; no high-order page (every frag page order 0);
#: one page allocation in 50 failing (a seeded RNG) — senders wait for memory or fail with
#: ENOBUFS/ENOMEM, receiving NICs drop frames
FAULTS = st.sampled_from(["none", "none", "none", "order0", "flaky"])


def _page_allocator(faults: str, seed: int) -> PageAllocator:
    if faults == "order0":
        return PageAllocator(fail_high_order=True)
    if faults == "flaky":
        return PageAllocator(fail_probability=0.02, seed=seed)
    return PageAllocator()


class Scenario:
    """Hosts, and the draw-one-operation-at-a-time loop shared by the tests."""

    kind = "?"

    def __init__(self, data: st.DataObject, medium: Medium, family: int) -> None:
        self.data = data
        self.medium = medium
        self.family = family
        self.hosts: list[netsim.Host] = []
        self.step = 0

    def draw(self, strategy: st.SearchStrategy[Any], label: str | None = None) -> Any:
        return self.data.draw(strategy, label=label)

    def log(self, text: str) -> None:
        note(f"[{self.step:2d} t={trio.current_time():.6f}] {text}")

    def failed(self, what: str, exc: BaseException) -> None:
        """Log an (allowed) error, and count it among the example's events."""
        self.log(f"   -> {_errname(exc)}")
        call = what.split("(")[0].rsplit(".", 1)[-1]
        event(f"{self.kind}: {call} -> {_errname(exc)}")

    async def open_hosts(
        self, stack: AsyncExitStack, allocator: str, max_frags: int, faults: str = "none"
    ) -> None:
        a = await stack.enter_async_context(
            netsim.open_host(
                allocator=allocator,
                name="a",
                max_skb_frags=max_frags,
                page_allocator=_page_allocator(faults, 1),
            )
        )
        self.hosts.append(a)
        if self.medium.link:
            b = await stack.enter_async_context(
                netsim.open_host(
                    allocator=allocator,
                    name="b",
                    max_skb_frags=max_frags,
                    seed=1,
                    page_allocator=_page_allocator(faults, 2),
                )
            )
            self.hosts.append(b)
            assert self.medium.mtu is not None
            mtu = self.medium.mtu
            if self.family == AF_INET6:
                mtu = max(mtu, 1280)
            netsim.link(a, b, mtu=mtu, rate=self.medium.rate, delay=self.medium.delay)

    @property
    def client_host(self) -> netsim.Host:
        return self.hosts[0]

    @property
    def server_host(self) -> netsim.Host:
        return self.hosts[-1]

    @property
    def server_addr(self) -> str:
        return LINK_ADDR[self.family][1] if self.medium.link else LOCAL[self.family]

    @property
    def client_addr(self) -> str:
        return LINK_ADDR[self.family][0] if self.medium.link else LOCAL[self.family]

    def check(self) -> int:
        return check_hosts(self.hosts)

    @property
    def max_frags(self) -> int:
        """The hosts' ``CONFIG_MAX_SKB_FRAGS`` (what ``__ip_append_data`` caps at)."""
        return self.hosts[0].net.max_skb_frags

    def set_max_frags(self, value: int) -> None:
        for host in self.hosts:
            host.sysctl["net.core.max_skb_frags"] = value

    def op_strategy(self) -> st.SearchStrategy[tuple[Any, ...]]:
        raise NotImplementedError

    async def run_op(self, op: tuple[Any, ...]) -> None:
        raise NotImplementedError

    async def finish(self) -> None:
        raise NotImplementedError

    async def play(self, max_ops: int, label_events: bool = True) -> None:
        """Draw up to ``max_ops`` operations and run them, checking the hosts after each;
        then :meth:`finish`."""
        n_ops = self.data.draw(st.integers(0, max_ops), label="operations")
        if label_events:
            event(f"{self.kind}: {n_ops // 10 * 10}+ operations")
        strategy = self.op_strategy()
        for step in range(n_ops):
            self.step = step
            op = self.data.draw(strategy, label=f"op {step}")
            await self.run_op(op)
            self.check()
        await self.finish()


# == TCP ======================================================================================


class Stream:
    """One direction of a TCP connection, as the model sees it."""

    def __init__(self, start: int) -> None:
        self.start = start  # pattern offset of stream position 0
        self.lo = 0  # bytes send() said it accepted
        self.pending = 0  # bytes of a send in progress (in another task)
        self.oob_pending = False  # that send is a MSG_OOB one: its last byte taken is urgent
        self.extra = 0  # bytes a send cut short by close() may have queued
        self.read = 0  # stream position of the reader's next byte
        self.fin = False  # the sender shut down writing: a FIN follows what it accepted
        self.clean_eof = False  # the reader saw EOF after everything accepted
        self.urgent: list[int] = []  # positions sent as the last byte of a MSG_OOB send

    @property
    def hi(self) -> int:
        return self.lo + max(self.pending, self.extra)

    def urgent_between(self, a: int, b: int) -> int:
        return sum(1 for p in self.urgent if a <= p < b)


class TcpEnd:
    def __init__(self, name: str, sock: netsim.Socket) -> None:
        self.name = name
        self.sock = sock
        self.closed = False
        self.closed_at = 0.0
        self.shut_rd = False
        self.shut_wr = False
        self.linger = False  # SO_LINGER on: close() may abort
        self.closing = False  # another task may close it during the current operation
        self.peer: tuple[Any, ...] = sock.getpeername()


SEND_FLAGS = {MSG_MORE: 4, MSG_DONTWAIT: 3, MSG_OOB: 1}
RECV_FLAGS = {MSG_PEEK: 2, MSG_WAITALL: 4, MSG_TRUNC: 1, MSG_DONTWAIT: 3, MSG_OOB: 1}
SEND_APIS = ["send", "sendto", "sendmsg"]
RECV_APIS = ["recv", "recv_into", "recvfrom", "recvfrom_into", "recvmsg"]

TCP_OPTIONS: list[tuple[str, int, int, list[Any]]] = [
    ("TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, [0, 1]),
    ("TCP_CORK", IPPROTO_TCP, TCP_CORK, [0, 1]),
    ("SO_SNDBUF", SOL_SOCKET, SO_SNDBUF, [0, 1, 4096, 16 * KiB, 64 * KiB, 1 << 20, -1]),
    ("SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, [0, 1, 4096, 16 * KiB, 64 * KiB, 1 << 20, -1]),
    ("TCP_NOTSENT_LOWAT", IPPROTO_TCP, TCP_NOTSENT_LOWAT, [0, 1, 4096, 16 * KiB, 1 << 20, -1]),
    ("TCP_MAXSEG", IPPROTO_TCP, TCP_MAXSEG, [0, 50, 88, 536, 1400, 40000]),
    ("SO_LINGER", SOL_SOCKET, SO_LINGER, [(0, 0), (1, 0), (1, 1)]),
    ("UDP_CORK", SOL_UDP, UDP_CORK, [1]),
]


class TcpScenario(Scenario):
    kind = "tcp"

    def __init__(self, data: st.DataObject, medium: Medium, family: int) -> None:
        super().__init__(data, medium, family)
        self.ends: list[TcpEnd] = []
        self.streams: list[Stream] = [Stream(0), Stream(_PERIOD // 3)]
        self.reset = False
        self.fin_timeout = 60.0
        self.listener: netsim.Socket | None = None

    # -- model helpers ----------------------------------------------------------------------

    def out(self, i: int) -> Stream:
        return self.streams[i]

    def into(self, i: int) -> Stream:
        return self.streams[1 - i]

    def maybe_reset(self, why: str) -> None:
        if not self.reset:
            self.log(f"   (a reset is possible from here: {why})")
            event(f"tcp: reset possible ({why})")
            self.reset = True

    def refresh(self) -> None:
        """Time-driven state changes the model must allow for."""
        now = trio.current_time()
        for i in (0, 1):
            end, other = self.ends[i], self.ends[1 - i]
            if (
                end.closed
                and not other.closed
                and not self.into(i).fin
                and now - end.closed_at >= self.fin_timeout - 1e-6
            ):
                # tcp_keepalive_timer: an orphan in FIN_WAIT2 past tcp_fin_timeout resets
                self.maybe_reset("an orphan timed out in FIN_WAIT2")

    def eof_allowed(self, i: int) -> bool:
        stream = self.into(i)
        skippable = stream.urgent_between(stream.read, stream.lo)
        return (
            self.reset
            or self.ends[i].shut_rd
            or (stream.fin and stream.read >= stream.lo - skippable)
        )

    def consume(self, i: int, data: bytes | None, n: int, peek: bool, what: str) -> None:
        """The reader of direction ``into(i)`` got ``n`` bytes (``data``, if known)."""
        stream = self.into(i)
        if data is not None:
            end = self._match(stream, data)
            assert end is not None, (
                f"{what}: read {n} bytes at stream position {stream.read} that are not the "
                f"stream's (accepted {stream.lo}..{stream.hi}, urgent {stream.urgent})"
            )
        else:
            end = stream.read + n
        assert end <= stream.hi, (
            f"{what}: read up to {end}, but only {stream.lo}..{stream.hi} bytes were sent"
        )
        assert not stream.clean_eof or self.reset, f"{what}: data after a clean EOF"
        if not peek:
            stream.read = end

    def _match(self, stream: Stream, data: bytes) -> int | None:
        """Where a read of ``data`` at ``stream.read`` ends, letting urgent bytes be absent
        from the in-band stream (as they are, without SO_OOBINLINE, once MSG_OOB is
        modelled); ``None`` if ``data`` is not the stream's."""
        pos = stream.read
        urgent = [p for p in stream.urgent if p >= pos]
        expected = _pattern(stream.start + pos, len(data) + len(urgent))

        def walk(j: int, k: int) -> int | None:
            # data[j:] against expected[k:], each urgent byte either there or not
            while j < len(data):
                if k >= len(expected):
                    return None
                if pos + k in urgent:
                    if data[j] == expected[k]:
                        kept = walk(j + 1, k + 1)
                        if kept is not None:
                            return kept
                    return walk(j, k + 1)
                if data[j] != expected[k]:
                    return None
                j += 1
                k += 1
            return pos + k

        if data == expected[: len(data)]:
            return pos + len(data)
        return walk(0, 0)

    # -- setup ------------------------------------------------------------------------------

    async def connect(self, rcvbuf: int | None, sndbuf: int | None) -> None:
        server_host, client_host = self.server_host, self.client_host
        listener = server_host.socket(self.family, SOCK_STREAM)
        if rcvbuf is not None:
            listener.setsockopt(SOL_SOCKET, SO_RCVBUF, rcvbuf)
        await listener.bind((self.server_addr, 5001))
        listener.listen(1)
        client = client_host.socket(self.family, SOCK_STREAM)
        if sndbuf is not None:
            client.setsockopt(SOL_SOCKET, SO_SNDBUF, sndbuf)
        await client.connect((self.server_addr, 5001))
        server, _ = await listener.accept()
        self.listener = listener
        self.ends = [TcpEnd("client", client), TcpEnd("server", server)]
        self.fin_timeout = float(server_host.net.sysctl_int("net.ipv4.tcp_fin_timeout"))

    # -- operations -------------------------------------------------------------------------

    async def op_send(self, i: int, size: int, flags: int, api: str, limit: float) -> None:
        end, peer = self.ends[i], self.ends[1 - i]
        stream = self.out(i)
        if flags & MSG_OOB:
            # a MSG_OOB send that waits for buffer space marks what it has written so far as
            # urgent before each wait (tcp_push() in wait_for_space, as Linux does), so any
            # byte before a wait may end up urgent; a non-blocking one marks exactly its last
            # byte, which is what the model follows
            flags |= MSG_DONTWAIT
        what = f"{end.name}.{api}({size}, {_flag_names(flags)}) timeout {limit}"
        self.log(what)
        if peer.closed and size:
            self.maybe_reset("data sent to a closed socket")
        elif peer.shut_rd and peer.shut_wr and size:
            self.maybe_reset("data sent to a socket shut down both ways")
        payload = _pattern(stream.start + stream.lo, size)
        allowed: set[int] = set()
        if end.closed or end.closing:
            allowed.add(errno.EBADF)
        if flags & MSG_DONTWAIT:
            allowed.add(errno.EAGAIN)
        if end.shut_wr:
            allowed.add(errno.EPIPE)
        sock = end.sock

        async def call() -> int:
            if api == "send":
                return await sock.send(payload, flags)
            if api == "sendto":
                return await sock.sendto(payload, flags, end.peer)
            cut = [0, size // 3, size // 3 + size // 4, size]
            bufs = [memoryview(payload)[cut[k] : cut[k + 1]] for k in range(3)]
            return await sock.sendmsg(bufs, (), flags)

        assert stream.pending == 0
        stream.pending = size
        stream.oob_pending = bool(flags & MSG_OOB)
        try:
            n, error, scope = await _with_timeout(limit, call)
        finally:
            stream.pending = 0
            stream.oob_pending = False
        self.refresh()  # (a long wait may have let an orphan time out)
        if self.reset:
            allowed |= {errno.EPIPE, errno.ECONNRESET}
        if error is not None:
            if isinstance(error, trio.ClosedResourceError) and end.closing:
                stream.extra = size  # it may have queued some of it before the close
            _check_error(what, error, allowed, end.closing)
            self.failed(what, error)
            return
        if scope.cancelled_caught:
            self.log("   -> cancelled")
            assert not (end.shut_wr and limit), f"{what}: blocked after SHUT_WR (EPIPE at once)"
            return
        assert isinstance(n, int), what
        self.log(f"   -> {n}")
        assert 0 <= n <= size, f"{what} returned {n}"
        if n < size:
            assert flags & MSG_DONTWAIT or scope.cancel_called or self.reset, (
                f"{what}: a blocking send returned {n} of {size} without cancellation or error"
            )
            event("tcp: short send")
        assert not end.closed or end.closing, f"{what}: a send on a closed socket returned {n}"
        assert not end.shut_wr, f"{what}: a send after SHUT_WR returned {n}"
        stream.lo += n
        if flags & MSG_OOB and n:
            stream.urgent.append(stream.lo - 1)
            event("tcp: MSG_OOB send accepted")

    async def op_recv(self, i: int, size: int, flags: int, api: str, limit: float) -> None:
        end = self.ends[i]
        stream = self.into(i)
        what = f"{end.name}.{api}({size}, {_flag_names(flags)}) timeout {limit}"
        self.log(what)
        if flags & MSG_TRUNC and any(p >= stream.read for p in stream.urgent):
            # a discarding read says how many bytes it took but not which: with an urgent
            # byte ahead (skipped in line, or not, by tcp_recvmsg) the model could not tell
            # where the stream stands afterwards, so this read copies its bytes instead
            flags &= ~MSG_TRUNC
            what = f"{end.name}.{api}({size}, {_flag_names(flags)}) timeout {limit}"
            self.log("   (MSG_TRUNC dropped: an urgent byte is ahead)")
        allowed: set[int] = set()
        if end.closed or end.closing:
            allowed.add(errno.EBADF)
        if flags & MSG_DONTWAIT:
            allowed.add(errno.EAGAIN)
        if flags & MSG_OOB:
            allowed |= {errno.EINVAL, errno.EAGAIN}
        sock = end.sock
        buf = bytearray(size)

        async def call() -> tuple[bytes | None, int, int]:
            """``(data if known, bytes counted, msg_flags)``."""
            if api == "recv":
                data = await sock.recv(size, flags)
                return data, len(data), 0
            if api == "recvfrom":
                data, addr = await sock.recvfrom(size, flags)
                assert addr is None, f"{what}: TCP recvfrom gave an address {addr}"
                return data, len(data), 0
            if api == "recvmsg":
                data, anc, msg_flags, addr = await sock.recvmsg(size, 0, flags)
                assert anc == []
                assert addr is None, f"{what}: TCP recvmsg gave an address {addr}"
                return data, len(data), msg_flags
            if api == "recv_into":
                n = await sock.recv_into(buf, size, flags)
            else:
                n, addr = await sock.recvfrom_into(buf, size, flags)
                assert addr is None, f"{what}: TCP recvfrom_into gave an address {addr}"
            return bytes(buf[:n]), n, 0

        result, error, scope = await _with_timeout(limit, call)
        self.refresh()
        if self.reset:
            allowed |= {errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE}
        if error is not None:
            _check_error(what, error, allowed, end.closing)
            self.failed(what, error)
            return
        if scope.cancelled_caught:
            self.log("   -> cancelled")
            # at EOF, after SHUT_RD or with a pending error a read returns at once
            assert not ((stream.clean_eof or end.shut_rd) and limit), f"{what}: blocked at EOF"
            return
        data, n, msg_flags = result
        self.log(f"   -> {n} bytes")
        assert not end.closed or end.closing, f"{what}: a receive on a closed socket returned"
        assert 0 <= n <= size, f"{what} returned {n}"
        # tcp_recvmsg() says MSG_OOB in msg_flags for the urgent byte, and nothing else —
        # but tcp_recv_urg() takes the byte into a zero-length buffer away with MSG_TRUNC too
        oob_flags = (0, MSG_OOB, MSG_OOB | MSG_TRUNC) if size == 0 else (0, MSG_OOB)
        assert msg_flags in (oob_flags if flags & MSG_OOB else (0,)), (
            f"{what}: msg_flags {msg_flags:#x}"
        )
        peek = bool(flags & MSG_PEEK)
        if flags & MSG_TRUNC:
            # tcp_recvmsg: MSG_TRUNC discards the bytes instead of copying them; recv()'s
            # buffer holds whatever it held
            data = None
        if flags & MSG_OOB:
            if n == 1 and data is not None and self._is_urgent(stream, data):
                event("tcp: urgent byte read with MSG_OOB")
                return
            assert not n, f"{what}: recv(MSG_OOB) returned {n} bytes that are not urgent"
        if n == 0:
            if size == 0:
                return
            assert self.eof_allowed(i), (
                f"{what}: EOF at stream position {stream.read}, but the peer "
                f"{'shut down writing after' if stream.fin else 'has not shut down; it sent'} "
                f"{stream.lo} bytes"
            )
            if not self.reset and not end.shut_rd and not peek:
                stream.clean_eof = True
                stream.extra = 0
            return
        self.consume(i, data, n, peek, what)
        waitall = flags & MSG_WAITALL and not flags & (MSG_DONTWAIT | MSG_PEEK)
        if waitall and not scope.cancel_called and n < size:
            assert self.eof_allowed(i), f"{what}: MSG_WAITALL returned {n} of {size}"

    def _is_urgent(self, stream: Stream, data: bytes) -> bool:
        if any(p >= stream.read and _pattern(stream.start + p, 1) == data for p in stream.urgent):
            return True
        # a MSG_OOB send running in the other task has queued its bytes (the core call is
        # synchronous) but not yet returned: its last accepted byte, wherever that is, is
        # urgent already
        return stream.oob_pending and any(
            _pattern(stream.start + p, 1) == data
            for p in range(stream.lo, stream.lo + stream.pending)
        )

    def op_setsockopt(self, i: int, name: str, level: int, opt: int, value: Any) -> None:
        end = self.ends[i]
        what = f"{end.name}.setsockopt({name}, {value})"
        self.log(what)
        allowed: set[int] = set()
        if end.closed:
            allowed.add(errno.EBADF)
        if name == "UDP_CORK":
            allowed.add(errno.ENOPROTOOPT)  # SOL_UDP on a TCP socket
        if name == "TCP_MAXSEG" and value and not 88 <= value <= 32767:
            allowed.add(errno.EINVAL)
        raw = struct.pack("ii", *value) if name == "SO_LINGER" else value
        try:
            end.sock.setsockopt(level, opt, raw)
        except OSError as exc:
            _check_error(what, exc, allowed, False)
            self.failed(what, exc)
            return
        assert not end.closed, f"{what} succeeded on a closed socket"
        assert name != "UDP_CORK", f"{what}: SOL_UDP accepted on a TCP socket"
        assert errno.EINVAL not in allowed, f"{what}: accepted"
        if name == "SO_LINGER":
            end.linger = bool(value[0])
            event("tcp: SO_LINGER accepted")

    def op_shutdown(self, i: int, how: int) -> None:
        end = self.ends[i]
        what = f"{end.name}.shutdown({['SHUT_RD', 'SHUT_WR', 'SHUT_RDWR'][how]})"
        self.log(what)
        allowed: set[int] = set()
        if end.closed:
            allowed.add(errno.EBADF)
        if self.reset or (self.out(i).fin and self.into(i).fin):
            allowed.add(errno.ENOTCONN)  # the connection may have reached CLOSE
        error: OSError | None = None
        try:
            end.sock.shutdown(how)
        except OSError as exc:
            _check_error(what, exc, allowed, False)
            self.failed(what, exc)
            error = exc
        if end.closed:
            assert error is not None, f"{what} succeeded on a closed socket"
            return
        # inet_shutdown() marks the socket even when it answers ENOTCONN
        if how in (SHUT_RD, SHUT_RDWR):
            end.shut_rd = True
        if how in (SHUT_WR, SHUT_RDWR):
            end.shut_wr = True
            self.out(i).fin = True
        stream = self.into(i)
        if end.shut_rd and end.shut_wr and stream.hi > stream.read:
            # tcp_rcv_state_process(): new data for FIN_WAIT with RCV_SHUTDOWN is reset
            self.maybe_reset("shut down both ways with data on its way")

    def op_close(self, i: int) -> None:
        end = self.ends[i]
        self.log(f"{end.name}.close()")
        self.close_model(i)
        end.sock.close()

    def close_model(self, i: int) -> None:
        end = self.ends[i]
        if end.closed:
            return
        stream = self.into(i)
        if stream.hi > stream.read and not end.shut_rd:
            # tcp_close(): unread data (or data still on its way) is answered with an RST
            self.maybe_reset("closed with data unread")
        elif stream.hi > stream.read:
            self.maybe_reset("closed after SHUT_RD with data unread")
        if end.linger:
            self.maybe_reset("closed with SO_LINGER")
        end.closed = True
        end.closed_at = trio.current_time()
        self.out(i).fin = True

    async def op_close_later(self, i: int, delay: float) -> None:
        await trio.sleep(delay)
        self.op_close(i)

    # -- the sequence -----------------------------------------------------------------------

    def op_strategy(self) -> st.SearchStrategy[tuple[Any, ...]]:
        mss = [536, 1448, 1428, 65483, 65463]
        if self.medium.mtu is not None:
            mss += [self.medium.mtu - 52, self.medium.mtu - 72]
        sizes = _sizes([*mss, 4096, 8192, 32 * KiB, 64 * KiB, 200 * KiB], 200 * KiB)
        rsizes = _sizes([*mss, 4096, 32 * KiB, 64 * KiB], 256 * KiB)
        side = st.integers(0, 1)
        send = st.tuples(
            st.just("send"),
            side,
            sizes,
            _flags(SEND_FLAGS),
            st.sampled_from(SEND_APIS),
            TIMEOUTS,
        )
        recv = st.tuples(
            st.just("recv"),
            side,
            rsizes,
            _flags(RECV_FLAGS),
            st.sampled_from(RECV_APIS),
            TIMEOUTS,
        )
        opt = st.tuples(st.just("setsockopt"), side, st.sampled_from(range(len(TCP_OPTIONS))))
        kinds: dict[str, tuple[int, st.SearchStrategy[tuple[Any, ...]]]] = {
            # closing is rare: after it, most of a sequence would only collect EBADF
            "send": (16, send),
            "recv": (16, recv),
            "both": (10, st.tuples(st.just("both"), send, recv)),
            "close_while_blocked": (
                1,
                st.tuples(st.just("close_while_blocked"), side, st.booleans(), SLEEPS, sizes),
            ),
            "setsockopt": (6, opt),
            "shutdown": (3, st.tuples(st.just("shutdown"), side, HOWS)),
            "close": (1, st.tuples(st.just("close"), side)),
            "sleep": (4, st.tuples(st.just("sleep"), SLEEPS)),
            "max_skb_frags": (1, st.tuples(st.just("max_skb_frags"), st.integers(1, 17))),
        }
        return _weighted(kinds)

    async def run_op(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        self.refresh()
        if kind == "send":
            await self.op_send(*op[1:])
        elif kind == "recv":
            await self.op_recv(*op[1:])
        elif kind == "both":
            send, recv = op[1], op[2]
            self.log("-- at once:")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.op_send, *send[1:])
                nursery.start_soon(self.op_recv, *recv[1:])
            self.log("-- done")
        elif kind == "close_while_blocked":
            _, i, sending, delay, size = op
            end = self.ends[i]
            self.log(f"-- {end.name} blocks while another task closes it after {delay}:")
            end.closing = True
            try:
                async with trio.open_nursery() as nursery:
                    if sending:
                        nursery.start_soon(self.op_send, i, size, 0, "send", 30.0)
                    else:
                        nursery.start_soon(self.op_recv, i, size, 0, "recv", 30.0)
                    nursery.start_soon(self.op_close_later, i, delay)
            finally:
                end.closing = False
            self.log("-- done")
        elif kind == "setsockopt":
            _, i, k = op
            name, level, opt, values = TCP_OPTIONS[k]
            value = self.draw(st.sampled_from(values), label=f"{name} value")
            self.op_setsockopt(i, name, level, opt, value)
        elif kind == "shutdown":
            self.op_shutdown(op[1], op[2])
        elif kind == "close":
            self.op_close(op[1])
        elif kind == "sleep":
            self.log(f"sleep({op[1]})")
            await trio.sleep(op[1])
        elif kind == "max_skb_frags":
            self.log(f"sysctl net.core.max_skb_frags={op[1]}")
            self.set_max_frags(op[1])
        else:  # pragma: no cover
            raise AssertionError(kind)

    async def finish(self) -> None:
        """Shut down both sides, read both directions to EOF, check delivery, close."""
        self.log("== finish: shut down both sides and drain")
        self.refresh()
        for i in (0, 1):
            end = self.ends[i]
            if not end.closed and not end.shut_wr:
                self.op_shutdown(i, SHUT_WR)

        async def drain(i: int) -> None:
            end = self.ends[i]
            stream = self.into(i)
            with trio.move_on_after(600) as scope:
                while True:
                    try:
                        data = await end.sock.recv(256 * KiB)
                    except OSError as exc:
                        self.refresh()
                        allowed = {errno.ECONNRESET} if self.reset else set()
                        _check_error(f"{end.name} drain", exc, allowed, False)
                        return
                    if not data:
                        self.refresh()
                        assert self.eof_allowed(i), (
                            f"{end.name} drain: EOF at {stream.read}, the peer accepted {stream.lo}"
                        )
                        return
                    self.consume(i, data, len(data), False, f"{end.name} drain")
            assert not scope.cancelled_caught or self.reset, (
                f"{end.name}: no EOF after 600 s: read {stream.read} of {stream.lo} "
                f"(peer {'shut down' if stream.fin else 'open'})"
            )

        async with trio.open_nursery() as nursery:
            for i in (0, 1):
                if not self.ends[i].closed:
                    nursery.start_soon(drain, i)
        self.check()
        for i in (0, 1):
            end, stream = self.ends[i], self.into(i)
            if end.closed or end.shut_rd or self.reset:
                continue
            skippable = stream.urgent_between(stream.read, stream.lo)
            assert stream.lo - skippable <= stream.read <= stream.hi, (
                f"{end.name} read {stream.read} bytes; the peer accepted {stream.lo}"
            )
            if stream.lo:
                event("tcp: a stream delivered completely")
        for i in (0, 1):
            if not self.ends[i].closed:
                self.op_close(i)
        assert self.listener is not None
        self.listener.close()
        await trio.sleep(self.fin_timeout + 130)  # FIN_WAIT2, TIME_WAIT, RTOs all over
        check_quiet(self.hosts)


async def _tcp_example(data: st.DataObject) -> list[netsim.Host]:
    medium = data.draw(MEDIA, label="medium")
    family = data.draw(st.sampled_from([AF_INET, AF_INET6]), label="family")
    allocator = data.draw(st.sampled_from(ALLOCATORS), label="allocator")
    max_frags = data.draw(st.sampled_from([17, 45]), label="CONFIG_MAX_SKB_FRAGS")
    bufs = st.one_of(st.none(), st.sampled_from([2 * KiB, 16 * KiB, 64 * KiB]))
    rcvbuf = data.draw(bufs, label="listener SO_RCVBUF")
    sndbuf = data.draw(bufs, label="client SO_SNDBUF")
    faults = data.draw(FAULTS, label="memory faults")
    event(f"tcp: {'link' if medium.link else 'loopback'} {FAMILY_NAME[family]} {allocator}")
    event(f"tcp: memory faults {faults}")
    scenario = TcpScenario(data, medium, family)
    async with AsyncExitStack() as stack:
        await scenario.open_hosts(stack, allocator, max_frags, faults)
        await scenario.connect(rcvbuf, sndbuf)
        scenario.check()
        await scenario.play(40)
    return scenario.hosts


@pytest.mark.slow
@_settings(250)
@given(data=st.data())
def test_tcp_random_operations(data: st.DataObject) -> None:
    hosts = trio.run(_tcp_example, data, clock=trio.testing.MockClock(autojump_threshold=0))
    check_after_exit(hosts)


# == UDP ======================================================================================


class Dgram:
    """One datagram sent (or being built, corked): its payload is ``_pattern(start, length)``."""

    def __init__(self, start: int, gso: int) -> None:
        self.start = start
        self.length = 0
        self.gso = gso  # UDP_SEGMENT when its first piece was appended (the cork keeps it)
        self.optional = False  # pushed where errors are not reported: it may never arrive
        self.tentative = False  # its send() has not returned yet
        self.pieces = 0  # send() calls that appended to it (each may start a new frag)

    def payload(self, n: int) -> bytes:
        return _pattern(self.start, min(n, self.length))

    def segments(self) -> list[Dgram]:
        """What the receiver gets: one datagram, or ``UDP_SEGMENT``-sized ones."""
        if not self.gso or self.length <= self.gso:
            return [self]
        out = []
        for off in range(0, self.length, self.gso):
            seg = Dgram(self.start + off, 0)
            seg.length = min(self.gso, self.length - off)
            seg.optional = self.optional
            seg.tentative = self.tentative
            out.append(seg)
        return out

    def __repr__(self) -> str:
        return f"Dgram({self.length}{', optional' if self.optional else ''})"


class DgramFlow:
    """The datagrams one UDP socket sent to the other."""

    def __init__(self) -> None:
        self.sent: list[Dgram] = []
        self.next = 0  # the first datagram not yet read or skipped
        self.pending: Dgram | None = None  # corked
        self.free_skips = 0  # reads that may have consumed a datagram, or not


class UdpEnd:
    def __init__(self, name: str, sock: netsim.Socket) -> None:
        self.name = name
        self.sock = sock
        self.addr: tuple[Any, ...] = sock.getsockname()
        self.closed = False
        self.closing = False
        self.shut_rd = False
        self.shut_wr = False
        self.connected = False
        self.cork = False
        self.gso = 0
        self.refused = False  # an ICMP port unreachable may be pending: ECONNREFUSED


UDP_SEND_FLAGS = {MSG_MORE: 4, MSG_DONTWAIT: 3, MSG_OOB: 1}
UDP_RECV_FLAGS = {MSG_PEEK: 3, MSG_TRUNC: 3, MSG_DONTWAIT: 4, MSG_WAITALL: 1, MSG_OOB: 1}

UDP_OPTIONS: list[tuple[str, int, int, list[Any]]] = [
    ("UDP_CORK", SOL_UDP, UDP_CORK, [0, 1]),
    ("UDP_SEGMENT", SOL_UDP, UDP_SEGMENT, [0, 100, 536, 1200, 1400, 1472, 8000, 70000]),
    ("SO_SNDBUF", SOL_SOCKET, SO_SNDBUF, [0, 4096, 16 * KiB, 1 << 20]),
    ("SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, [0, 4096, 16 * KiB, 1 << 20]),
    ("SO_LINGER", SOL_SOCKET, SO_LINGER, [(0, 0), (1, 0)]),
    ("TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, [1]),
]

#: counters that say a datagram was dropped somewhere
_DROP_COUNTERS = (
    "UdpRcvbufErrors",
    "Udp6RcvbufErrors",
    "UdpInErrors",
    "Udp6InErrors",
    "UdpSndbufErrors",
    "Udp6SndbufErrors",
    "IpReasmFails",
    "Ip6ReasmFails",
    "IpInDiscards",
    "Ip6InDiscards",
    "IpOutDiscards",
    "Ip6OutDiscards",
)


class UdpScenario(Scenario):
    kind = "udp"

    def __init__(self, data: st.DataObject, medium: Medium, family: int) -> None:
        super().__init__(data, medium, family)
        self.ends: list[UdpEnd] = []
        self.flows = [DgramFlow(), DgramFlow()]  # flows[i]: from ends[i] to the other
        self.skipped = 0
        self.faults = "none"
        self.next_start = 0
        self.max_payload = 65507 if family == AF_INET else 65527

    def drops(self) -> int:
        total = 0
        for host in self.hosts:
            s = host.stats()
            total += sum(s[name] for name in _DROP_COUNTERS)
            for dev in host.devices.values():
                total += dev.tx_dropped + dev.rx_dropped
        return total

    async def setup(self, connect: tuple[bool, bool]) -> None:
        a = self.client_host.socket(self.family, SOCK_DGRAM)
        await a.bind((self.client_addr, 0))
        b = self.server_host.socket(self.family, SOCK_DGRAM)
        await b.bind((self.server_addr, 0))
        self.ends = [UdpEnd("a", a), UdpEnd("b", b)]
        for i in (0, 1):
            if connect[i]:
                await self.op_connect(i)

    def new_dgram(self, gso: int) -> Dgram:
        d = Dgram(self.next_start, gso)
        self.next_start += 104729  # a prime: every datagram starts elsewhere in the pattern
        return d

    # -- operations -------------------------------------------------------------------------

    async def op_connect(self, i: int) -> None:
        end, peer = self.ends[i], self.ends[1 - i]
        what = f"{end.name}.connect({peer.addr})"
        self.log(what)
        try:
            await end.sock.connect(peer.addr)
        except OSError as exc:
            _check_error(what, exc, {errno.EBADF} if end.closed else set(), False)
            self.failed(what, exc)
            return
        assert not end.closed
        end.connected = True

    def _deliver(self, i: int, d: Dgram) -> list[Dgram]:
        """``d`` left ``ends[i]``: expect it at the other end, unless that one is closed."""
        peer = self.ends[1 - i]
        if peer.closed:
            # the ICMP port unreachable comes back: udp_err() sets ECONNREFUSED if the
            # socket is connected when it arrives
            self.ends[i].refused = True
            return []
        segs = d.segments()
        self.flows[i].sent.extend(segs)
        return segs

    async def op_send(self, i: int, size: int, flags: int, api: str, limit: float) -> None:
        end = self.ends[i]
        flow = self.flows[i]
        sk = end.sock.sk
        assert isinstance(sk, UdpSock)
        what = f"{end.name}.{api}({size}, {_flag_names(flags)}) timeout {limit}"
        self.log(what)
        pending = flow.pending
        total = (pending.length if pending is not None else 0) + size
        corking = end.cork or bool(flags & MSG_MORE)
        gso = pending.gso if pending is not None else end.gso
        allowed = {errno.ENOBUFS}
        if self.faults == "flaky":
            allowed.add(errno.ENOMEM)  # __ip_append_data: no page for the frag
        if end.closed or end.closing:
            allowed.add(errno.EBADF)
        if flags & MSG_DONTWAIT:
            allowed.add(errno.EAGAIN)
        if flags & MSG_OOB:
            allowed.add(errno.EOPNOTSUPP)
        if total > self.max_payload or size > 0xFFFF:
            allowed.add(errno.EMSGSIZE)
        # __ip_append_data: a datagram needing more than MAX_SKB_FRAGS frag slots is EMSGSIZE.
        # Each append may start a new slot (another socket's bytes may sit between), and each
        # page the bytes cross one more: 32 KiB pages, or 4 KiB ones when high orders fail
        unit = 4096 if self.faults in ("order0", "flaky") else 32768
        pieces = (pending.pieces if pending is not None else 0) + 1
        if pieces + -(-total // unit) + 1 > self.max_frags:
            allowed.add(errno.EMSGSIZE)
        if gso:
            allowed |= {errno.EINVAL, errno.EMSGSIZE}
        if end.shut_wr:
            allowed.add(errno.EPIPE)
        if end.refused and end.connected:
            allowed.add(errno.ECONNREFUSED)
        if api == "send" and not end.connected and pending is None:
            allowed.add(errno.EDESTADDRREQ)
        d = pending if pending is not None else self.new_dgram(gso)
        payload = _pattern(d.start + d.length, size)
        sock, peer_addr = end.sock, self.ends[1 - i].addr

        async def call() -> int:
            if api == "send":
                return await sock.send(payload, flags)
            if api == "sendto":
                return await sock.sendto(payload, flags, peer_addr)
            cut = [0, size // 2, size]
            bufs = [memoryview(payload)[cut[k] : cut[k + 1]] for k in range(2)]
            return await sock.sendmsg(bufs, (), flags, peer_addr)

        # a datagram this call would send may be read (by a task running at the same time)
        # before the call returns: expect it, tentatively
        tentative: list[Dgram] = []
        if not corking and self.ends[1 - i].closed:
            end.refused = True  # (set before the call: a receive at the same time may see it)
        if not corking and not (errno.EDESTADDRREQ in allowed and api == "send"):
            whole = Dgram(d.start, d.gso)
            whole.length = d.length + size
            whole.tentative = True
            if not self.ends[1 - i].closed:
                tentative = self._deliver(i, whole)
        n, error, scope = await _with_timeout(limit, call)
        for seg in tentative:
            seg.tentative = False
        failed = error is not None or scope.cancelled_caught
        if failed and tentative:
            idx = [k for k, seg in enumerate(flow.sent) if any(seg is t for t in tentative)]
            assert all(k >= flow.next for k in idx), (
                f"{what}: a datagram of a send that failed was received"
            )
            flow.sent = [seg for seg in flow.sent if not any(seg is t for t in tentative)]
        if error is not None:
            _check_error(what, error, allowed, end.closing)
            self.failed(what, error)
            if pending is not None and not sk.pending:
                flow.pending = None  # udp_flush_pending_frames(): the corked datagram is gone
                event("udp: an error dropped the corked datagram")
            return
        if scope.cancelled_caught:
            self.log("   -> cancelled")
            assert not (end.shut_wr and pending is None and limit), f"{what}: blocked after SHUT_WR"
            return
        self.log(f"   -> {n}")
        assert n == size, f"{what} returned {n}: a datagram goes whole or not at all"
        assert not end.closed or end.closing, f"{what}: a send on a closed socket returned"
        d.length += size
        d.pieces += 1
        if corking:
            flow.pending = d
            assert sk.pending, f"{what}: corked, but nothing is pending"
        else:
            flow.pending = None
            if not tentative:
                self._deliver(i, d)  # (to a closed peer: an ICMP error comes back)
            if gso and d.length > gso:
                event("udp: UDP_SEGMENT cut a datagram")

    async def op_recv(self, i: int, size: int, flags: int, api: str, limit: float) -> None:
        end = self.ends[i]
        flow = self.flows[1 - i]
        what = f"{end.name}.{api}({size}, {_flag_names(flags)}) timeout {limit}"
        self.log(what)
        allowed: set[int] = set()
        if end.closed or end.closing:
            allowed.add(errno.EBADF)
        if flags & MSG_DONTWAIT:
            allowed.add(errno.EAGAIN)
        if end.refused and end.connected:
            allowed.add(errno.ECONNREFUSED)
        sock = end.sock
        buf = bytearray(size)
        peer_addr = self.ends[1 - i].addr
        trunc = bool(flags & MSG_TRUNC)

        async def call() -> tuple[bytes, int | None, int | None]:
            """``(first bytes, the datagram's length if the call said it, msg_flags)``."""
            if api == "recv":
                data = await sock.recv(size, flags)
                return data[: min(size, len(data))], None, None
            if api == "recvfrom":
                data, addr = await sock.recvfrom(size, flags)
                assert addr in (peer_addr, None), f"{what}: from {addr}, not {peer_addr}"
                return data[: min(size, len(data))], None, None
            if api == "recvmsg":
                data, anc, msg_flags, addr = await sock.recvmsg(size, 0, flags)
                assert anc == []
                assert addr in (peer_addr, None), f"{what}: from {addr}, not {peer_addr}"
                return data, None, msg_flags
            if api == "recv_into":
                n = await sock.recv_into(buf, size, flags)
            else:
                n, addr = await sock.recvfrom_into(buf, size, flags)
                assert addr in (peer_addr, None), f"{what}: from {addr}, not {peer_addr}"
            # udp_recvmsg(): with MSG_TRUNC the return value is the datagram's real length
            return bytes(buf[: min(n, size)]), (n if trunc else None), None

        result, error, scope = await _with_timeout(limit, call)
        if error is not None:
            if end.refused and end.connected:  # (a send running at the same time may do it)
                allowed.add(errno.ECONNREFUSED)
            _check_error(what, error, allowed, end.closing)
            self.failed(what, error)
            return
        if scope.cancelled_caught:
            self.log("   -> cancelled")
            # after SHUT_RD an empty queue answers a blocking read at once
            assert not (end.shut_rd and limit and not flags & MSG_DONTWAIT), (
                f"{what}: blocked after SHUT_RD"
            )
            return
        data, length, msg_flags = result
        self.log(f"   -> {len(data)} bytes (length {length}, msg_flags {msg_flags})")
        assert not end.closed or end.closing, f"{what}: a receive on a closed socket returned"
        if size == 0 and api in ("recv", "recv_into"):
            # CPython's recv()/recv_into() of 0 bytes make no system call: nothing is taken
            assert data == b"", f"{what}: {data!r}"
            return
        peek, nonblock = bool(flags & MSG_PEEK), bool(flags & MSG_DONTWAIT)
        self.match(i, flow, data, size, length, msg_flags, peek, nonblock, what)

    def match(
        self,
        i: int,
        flow: DgramFlow,
        data: bytes,
        size: int,
        length: int | None,
        msg_flags: int | None,
        peek: bool,
        nonblock: bool,
        what: str,
    ) -> None:
        """Find the datagram ``data`` is (the earliest that fits); what it skipped was lost."""
        end = self.ends[i]
        if end.shut_rd and not data and not nonblock:
            # a blocking receive after SHUT_RD returns at once, empty, with nothing queued
            # (__skb_wait_for_more_packets): it may or may not have taken an empty datagram
            flow.free_skips += 1
            return
        for k in range(flow.next, len(flow.sent)):
            d = flow.sent[k]
            if len(data) != min(size, d.length) or data != d.payload(size):
                continue
            if length is not None and length != d.length:
                continue
            if msg_flags is not None and bool(msg_flags & MSG_TRUNC) != (d.length > size):
                continue
            break
        else:
            raise AssertionError(
                f"{what}: {len(data)} bytes that are none of the datagrams sent "
                f"(unread: {flow.sent[flow.next :]})"
            )
        lost = [s for s in flow.sent[flow.next : k] if not s.optional]
        if lost:
            # a peek takes nothing: what it skipped is settled by the read that takes it
            free = min(flow.free_skips, len(lost))
            skipped = self.skipped + len(lost) - free
            event("udp: datagrams lost")
            assert skipped <= self.drops(), (
                f"{what}: {len(lost)} datagram(s) skipped ({skipped} in all) but only "
                f"{self.drops()} counted as dropped: {lost}"
            )
            if not peek:
                flow.free_skips -= free
                self.skipped = skipped
        if not peek:
            flow.next = k + 1
        if d.length > size:
            event("udp: a datagram truncated")

    def op_setsockopt(self, i: int, name: str, level: int, opt: int, value: Any) -> None:
        end = self.ends[i]
        what = f"{end.name}.setsockopt({name}, {value})"
        self.log(what)
        allowed: set[int] = set()
        if end.closed:
            allowed.add(errno.EBADF)
        if name == "TCP_NODELAY":
            allowed.add(errno.ENOPROTOOPT)  # SOL_TCP on a UDP socket
        if name == "UDP_SEGMENT" and value > 0xFFFF:
            allowed.add(errno.EINVAL)
        raw = struct.pack("ii", *value) if name == "SO_LINGER" else value
        try:
            end.sock.setsockopt(level, opt, raw)
        except OSError as exc:
            _check_error(what, exc, allowed, False)
            self.failed(what, exc)
            return
        assert not end.closed, f"{what} succeeded on a closed socket"
        assert name != "TCP_NODELAY", f"{what}: SOL_TCP accepted on a UDP socket"
        assert errno.EINVAL not in allowed, f"{what}: accepted"
        if name == "UDP_CORK":
            end.cork = bool(value)
            flow = self.flows[i]
            if not value and flow.pending is not None:
                # udp_lib_setsockopt() pushes the corked datagram and ignores the result
                d, flow.pending = flow.pending, None
                d.optional = True
                self._deliver(i, d)
                event("udp: UDP_CORK off pushed a datagram")
        elif name == "UDP_SEGMENT":
            end.gso = value

    def op_shutdown(self, i: int, how: int) -> None:
        end = self.ends[i]
        what = f"{end.name}.shutdown({['SHUT_RD', 'SHUT_WR', 'SHUT_RDWR'][how]})"
        self.log(what)
        try:
            end.sock.shutdown(how)
        except OSError as exc:
            allowed = {errno.EBADF} if end.closed else {errno.ENOTCONN}
            _check_error(what, exc, allowed, False)
            self.failed(what, exc)
            assert end.closed or not end.connected, f"{what}: ENOTCONN, but it is connected"
        else:
            assert not end.closed, f"{what} succeeded on a closed socket"
            assert end.connected, f"{what} succeeded on an unconnected socket (Linux: ENOTCONN)"
        if end.closed:
            return
        # inet_shutdown() marks the socket even when it answers ENOTCONN
        if how in (SHUT_RD, SHUT_RDWR):
            end.shut_rd = True
        if how in (SHUT_WR, SHUT_RDWR):
            end.shut_wr = True

    def op_close(self, i: int) -> None:
        end = self.ends[i]
        self.log(f"{end.name}.close()")
        end.closed = True
        self.flows[i].pending = None
        if self.flows[1 - i].next < len(self.flows[1 - i].sent):
            self.ends[1 - i].refused = True  # what is still in flight meets a closed port
        end.sock.close()

    async def op_close_later(self, i: int, delay: float) -> None:
        await trio.sleep(delay)
        self.op_close(i)

    # -- the sequence -----------------------------------------------------------------------

    def op_strategy(self) -> st.SearchStrategy[tuple[Any, ...]]:
        mtu = self.medium.mtu or 65536
        boundaries = [mtu - 28, mtu - 48, 1472, 1452, 4096, 8192, 32 * KiB, 65507, 65527]
        sizes = _sizes(boundaries, 70000)
        side = st.integers(0, 1)
        send = st.tuples(
            st.just("send"),
            side,
            sizes,
            _flags(UDP_SEND_FLAGS),
            st.sampled_from(["sendto", "send", "sendmsg", "sendto"]),
            TIMEOUTS,
        )
        recv = st.tuples(
            st.just("recv"),
            side,
            _sizes(boundaries, 70000),
            _flags(UDP_RECV_FLAGS),
            st.sampled_from(RECV_APIS),
            TIMEOUTS,
        )
        opt = st.tuples(st.just("setsockopt"), side, st.sampled_from(range(len(UDP_OPTIONS))))
        kinds: dict[str, tuple[int, st.SearchStrategy[tuple[Any, ...]]]] = {
            "send": (16, send),
            "recv": (12, recv),
            "both": (6, st.tuples(st.just("both"), send, recv)),
            "setsockopt": (8, opt),
            "connect": (2, st.tuples(st.just("connect"), side)),
            "close_while_blocked": (1, st.tuples(st.just("close_while_blocked"), side, SLEEPS)),
            "shutdown": (2, st.tuples(st.just("shutdown"), side, HOWS)),
            "close": (1, st.tuples(st.just("close"), side)),
            "sleep": (4, st.tuples(st.just("sleep"), SLEEPS)),
            "max_skb_frags": (1, st.tuples(st.just("max_skb_frags"), st.integers(1, 17))),
        }
        return _weighted(kinds)

    async def run_op(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "send":
            await self.op_send(*op[1:])
        elif kind == "recv":
            await self.op_recv(*op[1:])
        elif kind == "both":
            self.log("-- at once:")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.op_recv, *op[2][1:])
                nursery.start_soon(self.op_send, *op[1][1:])
            self.log("-- done")
        elif kind == "connect":
            await self.op_connect(op[1])
        elif kind == "close_while_blocked":
            _, i, delay = op
            end = self.ends[i]
            self.log(f"-- {end.name} blocks in recv while another task closes it after {delay}:")
            end.closing = True
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self.op_recv, i, 65536, 0, "recv", 30.0)
                    nursery.start_soon(self.op_close_later, i, delay)
            finally:
                end.closing = False
            self.log("-- done")
        elif kind == "setsockopt":
            _, i, k = op
            name, level, opt, values = UDP_OPTIONS[k]
            value = self.draw(st.sampled_from(values), label=f"{name} value")
            self.op_setsockopt(i, name, level, opt, value)
        elif kind == "shutdown":
            self.op_shutdown(op[1], op[2])
        elif kind == "close":
            self.op_close(op[1])
        elif kind == "sleep":
            self.log(f"sleep({op[1]})")
            await trio.sleep(op[1])
        elif kind == "max_skb_frags":
            self.log(f"sysctl net.core.max_skb_frags={op[1]}")
            self.set_max_frags(op[1])
        else:  # pragma: no cover
            raise AssertionError(kind)

    async def finish(self) -> None:
        """Push what is corked, let everything arrive (or time out in reassembly), read it
        all, and account for every datagram."""
        self.log("== finish: uncork, wait, read everything")
        for i in (0, 1):
            if not self.ends[i].closed:
                self.op_setsockopt(i, "UDP_CORK", SOL_UDP, UDP_CORK, 0)
        await trio.sleep(40)  # links deliver; reassembly gives up after 30 s (a drop)
        for i in (0, 1):
            end = self.ends[i]
            if end.closed:
                continue
            flow = self.flows[1 - i]
            while True:
                try:
                    data = await end.sock.recv(0x10000, MSG_DONTWAIT)
                except OSError as exc:
                    refused = end.refused and end.connected
                    allowed = {errno.EAGAIN} | ({errno.ECONNREFUSED} if refused else set())
                    _check_error(f"{end.name} drain", exc, allowed, False)
                    if exc.errno == errno.EAGAIN:
                        break
                    continue
                self.match(i, flow, data, 0x10000, None, None, False, True, f"{end.name} drain")
            unread = [d for d in flow.sent[flow.next :] if not d.optional]
            free = min(flow.free_skips, len(unread))
            assert self.skipped + len(unread) - free <= self.drops(), (
                f"{end.name}: {len(unread)} datagram(s) never arrived, {self.skipped} skipped, "
                f"{self.drops()} drops counted: {unread}"
            )
            if flow.sent:
                event("udp: a flow accounted for")
        self.check()
        for i in (0, 1):
            if not self.ends[i].closed:
                self.op_close(i)
        await trio.sleep(1)
        check_quiet(self.hosts)


async def _udp_example(data: st.DataObject) -> list[netsim.Host]:
    medium = data.draw(MEDIA, label="medium")
    family = data.draw(st.sampled_from([AF_INET, AF_INET6]), label="family")
    allocator = data.draw(st.sampled_from(ALLOCATORS), label="allocator")
    max_frags = data.draw(st.sampled_from([17, 45]), label="CONFIG_MAX_SKB_FRAGS")
    connect = data.draw(st.tuples(st.booleans(), st.booleans()), label="connected")
    faults = data.draw(FAULTS, label="memory faults")
    event(f"udp: {'link' if medium.link else 'loopback'} {FAMILY_NAME[family]} {allocator}")
    event(f"udp: memory faults {faults}")
    scenario = UdpScenario(data, medium, family)
    scenario.faults = faults
    async with AsyncExitStack() as stack:
        await scenario.open_hosts(stack, allocator, max_frags, faults)
        await scenario.setup(connect)
        scenario.check()
        await scenario.play(40)
    return scenario.hosts


@pytest.mark.slow
@_settings(250)
@given(data=st.data())
def test_udp_random_operations(data: st.DataObject) -> None:
    hosts = trio.run(_udp_example, data, clock=trio.testing.MockClock(autojump_threshold=0))
    check_after_exit(hosts)


# == connect, accept, cancellation ============================================================


class Conn:
    """A TCP socket of the connect test: a client, or a server side from ``accept``."""

    def __init__(self, name: str, sock: netsim.Socket, connected: bool) -> None:
        self.name = name
        self.sock = sock
        self.connected = connected  # connect() (or accept()) returned it
        self.cancelled = False  # a connect() on it was cancelled: it may be closed now
        self.closed = False
        self.sent = 0
        self.read = 0


class ConnectScenario(Scenario):
    """Clients connect (cancelled at random points) to a listener with a small backlog —
    or to none — over loopback or a link with a delay; the listener accepts (also
    cancelled), anything may be closed; small sends and receives on whatever is there."""

    kind = "connect"
    PORT = 5002

    def __init__(self, data: st.DataObject, medium: Medium, family: int) -> None:
        super().__init__(data, medium, family)
        self.clients: list[Conn] = []
        self.servers: list[Conn] = []
        self.listener: netsim.Socket | None = None
        self.listening = False

    async def setup(self, listen: bool, backlog: int, clients: int) -> None:
        if listen:
            listener = self.server_host.socket(self.family, SOCK_STREAM)
            await listener.bind((self.server_addr, self.PORT))
            listener.listen(backlog)
            self.listener = listener
            self.listening = True
        for k in range(clients):
            sock = self.client_host.socket(self.family, SOCK_STREAM)
            self.clients.append(Conn(f"c{k}", sock, False))

    def conns(self) -> list[Conn]:
        return self.clients + self.servers

    async def op_connect(self, k: int, limit: float) -> None:
        conn = self.clients[k]
        what = f"{conn.name}.connect() timeout {limit}"
        self.log(what)
        allowed = {errno.ECONNREFUSED, errno.ETIMEDOUT, errno.ECONNRESET}
        if conn.closed or conn.cancelled:
            allowed.add(errno.EBADF)
        if conn.connected:
            allowed.add(errno.EISCONN)
        if conn.cancelled:
            # the cancelled attempt may still be in SYN_SENT, or have finished since
            allowed |= {errno.EALREADY, errno.EISCONN}
        sock = conn.sock

        async def call() -> None:
            await sock.connect((self.server_addr, self.PORT))

        _, error, scope = await _with_timeout(limit, call)
        if error is not None:
            _check_error(what, error, allowed, False)
            self.failed(what, error)
            return
        if scope.cancelled_caught:
            self.log("   -> cancelled")
            conn.cancelled = True
            event("connect: cancelled")
            return
        self.log("   -> connected")
        assert not conn.closed, f"{what} succeeded on a closed socket"
        if not conn.connected:
            assert self.listener is not None, f"{what}: connected to nobody"
        conn.connected = True
        event("connect: connected")

    async def op_accept(self, limit: float) -> None:
        what = f"listener.accept() timeout {limit}"
        self.log(what)
        listener = self.listener
        if listener is None:
            return
        allowed = set() if self.listening else {errno.EBADF}

        async def call() -> tuple[netsim.Socket, Any]:
            return await listener.accept()

        result, error, scope = await _with_timeout(limit, call)
        if error is not None:
            _check_error(what, error, allowed, False)
            self.failed(what, error)
            return
        if scope.cancelled_caught:
            self.log("   -> cancelled")
            event("accept: cancelled")
            return
        sock, addr = result
        assert self.listening, f"{what} succeeded on a closed listener"
        conn = Conn(f"s{len(self.servers)}", sock, True)
        self.servers.append(conn)
        self.log(f"   -> {conn.name} from {addr}")
        event("accept: accepted")

    def _conn_errors(self, conn: Conn) -> set[int]:
        # anything may have happened to the connection: refused, reset, timed out, closed
        allowed = {errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ETIMEDOUT}
        allowed.add(errno.ECONNREFUSED)  # a failed connect's error, left for the next call
        if conn.closed or conn.cancelled:
            allowed.add(errno.EBADF)
        return allowed

    async def op_send(self, k: int, size: int, limit: float) -> None:
        conns = self.conns()
        conn = conns[k % len(conns)]
        what = f"{conn.name}.send({size}) timeout {limit}"
        self.log(what)
        allowed = self._conn_errors(conn) | {errno.EAGAIN}
        payload = _pattern(conn.sent, size)
        sock = conn.sock

        async def call() -> int:
            return await sock.send(payload, MSG_DONTWAIT)

        n, error, scope = await _with_timeout(limit, call)
        if error is not None:
            _check_error(what, error, allowed, False)
            self.failed(what, error)
            return
        if scope.cancelled_caught:
            return
        self.log(f"   -> {n}")
        assert not conn.closed
        conn.sent += n

    async def op_recv(self, k: int, size: int, limit: float) -> None:
        conns = self.conns()
        conn = conns[k % len(conns)]
        what = f"{conn.name}.recv({size}) timeout {limit}"
        self.log(what)
        allowed = self._conn_errors(conn)
        sock = conn.sock

        async def call() -> bytes:
            return await sock.recv(size)

        data, error, scope = await _with_timeout(limit, call)
        if error is not None:
            _check_error(what, error, allowed, False)
            self.failed(what, error)
            return
        if scope.cancelled_caught:
            return
        self.log(f"   -> {len(data)} bytes")
        assert not conn.closed
        # every socket's peer writes the same pattern from position 0
        assert data == _pattern(conn.read, len(data)), f"{what}: not the peer's bytes"
        conn.read += len(data)

    def op_shutdown(self, k: int, how: int) -> None:
        conns = self.conns()
        conn = conns[k % len(conns)]
        what = f"{conn.name}.shutdown({how})"
        self.log(what)
        try:
            conn.sock.shutdown(how)
        except OSError as exc:
            allowed = {errno.ENOTCONN} | ({errno.EBADF} if conn.closed or conn.cancelled else set())
            _check_error(what, exc, allowed, False)
            self.failed(what, exc)

    def op_close(self, k: int) -> None:
        targets: list[Conn | None] = [*self.conns(), None]
        conn = targets[k % len(targets)]
        if conn is None:
            self.log("listener.close()")
            if self.listener is not None:
                self.listener.close()
            self.listening = False
            return
        self.log(f"{conn.name}.close()")
        conn.closed = True
        conn.sock.close()

    def op_strategy(self) -> st.SearchStrategy[tuple[Any, ...]]:
        index = st.integers(0, 5)
        kinds: dict[str, tuple[int, st.SearchStrategy[tuple[Any, ...]]]] = {
            "connect": (
                5,
                st.tuples(st.just("connect"), st.integers(0, len(self.clients) - 1), TIMEOUTS),
            ),
            "accept": (4, st.tuples(st.just("accept"), TIMEOUTS)),
            "send": (3, st.tuples(st.just("send"), index, st.integers(0, 70000), TIMEOUTS)),
            "recv": (3, st.tuples(st.just("recv"), index, st.integers(0, 70000), TIMEOUTS)),
            "shutdown": (1, st.tuples(st.just("shutdown"), index, HOWS)),
            "close": (2, st.tuples(st.just("close"), index)),
            "sleep": (2, st.tuples(st.just("sleep"), SLEEPS)),
        }
        return _weighted(kinds)

    async def run_op(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "connect":
            await self.op_connect(op[1], op[2])
        elif kind == "accept":
            await self.op_accept(op[1])
        elif kind == "send":
            await self.op_send(*op[1:])
        elif kind == "recv":
            await self.op_recv(*op[1:])
        elif kind == "shutdown":
            self.op_shutdown(op[1], op[2])
        elif kind == "close":
            self.op_close(op[1])
        elif kind == "sleep":
            self.log(f"sleep({op[1]})")
            await trio.sleep(op[1])
        else:  # pragma: no cover
            raise AssertionError(kind)

    async def finish(self) -> None:
        self.log("== finish: close everything")
        for conn in self.conns():
            conn.sock.close()
        if self.listener is not None:
            self.listener.close()
        await trio.sleep(300)  # SYN retries, FIN_WAIT2, TIME_WAIT
        check_quiet(self.hosts)


async def _connect_example(data: st.DataObject) -> list[netsim.Host]:
    medium = data.draw(MEDIA, label="medium")
    family = data.draw(st.sampled_from([AF_INET, AF_INET6]), label="family")
    allocator = data.draw(st.sampled_from(ALLOCATORS), label="allocator")
    listen = data.draw(st.integers(0, 4), label="no listener if 4") != 4
    backlog = data.draw(st.integers(0, 2), label="backlog")
    clients = data.draw(st.integers(1, 3), label="clients")
    event(f"connect: {'link' if medium.link else 'loopback'} {FAMILY_NAME[family]}")
    scenario = ConnectScenario(data, medium, family)
    async with AsyncExitStack() as stack:
        await scenario.open_hosts(stack, allocator, 17)
        await scenario.setup(listen, backlog, clients)
        await scenario.play(30, label_events=False)
    return scenario.hosts


@pytest.mark.slow
@_settings(150)
@given(data=st.data())
def test_connect_accept_with_cancellation(data: st.DataObject) -> None:
    hosts = trio.run(_connect_example, data, clock=trio.testing.MockClock(autojump_threshold=0))
    check_after_exit(hosts)
