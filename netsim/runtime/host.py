"""``open_host()`` and :class:`Host`: an emulated machine inside a trio run.

Model
-----
A :class:`Host` wraps one sans-IO :class:`~netsim.netns.Net` and adds what needs trio:

* **one timer task** per host sleeps until the earliest deadline in the host's timer queue
  (links' packets in flight, reassembly timeouts, later TCP's RTO and delayed ACKs) and runs
  what is due.  Under ``MockClock(autojump_threshold=0)`` virtual time jumps straight there.
* **per-task state**: each trio task that sends on the host gets a
  :class:`~netsim.sock.TaskContext` — its ``current->task_frag``.  A trio ``Instrument`` drains
  it when the task exits (``do_exit``); errors in the instrument are recorded and re-raised
  when the host closes, because trio silently disables an instrument that raises.
* **sockets**: :meth:`Host.socket` returns a :class:`~netsim.runtime.Socket`, a
  ``trio.socket.SocketType`` whose blocking calls park on the socket's wait queue.

Leaving ``async with open_host()`` closes every socket, drains every task's allocator, frees
what devices still hold, and then checks that **every page went back**: if not, it raises
:class:`~netsim.PageLeakError` with the leak report — or, if the body itself raised, attaches
the report to that exception as a note.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, Final, NamedTuple, TypeAlias

import trio

from ..errors import PageLeakError, errno, exception_leaves, kernel_error
from ..mm import FragAllocatorFactory, PageAllocator
from ..netns import Net
from ..skb import MAX_SKB_FRAGS
from ..sock.constants import AF_INET, SOCK_STREAM
from ..sock.task import TaskContext
from ..stats import StatsSnapshot, Tracer

if TYPE_CHECKING:
    from ..dev.device import NetDevice
    from ..dev.faults import FaultPlan
    from ..dev.link import Link
    from ..dev.tap import PcapTap
    from ..mm import FragAllocator, Page
    from ..skb import SkBuff
    from ..skb.render import PageMap
    from ..sock.sysctl import Sysctl
    from .socket import Socket

__all__ = ["Host", "HostHook", "host_hook", "link", "open_host", "render_pages"]

#: what :func:`host_hook` registers: called with each host :func:`open_host` opens; it may
#: return a context manager, entered then and exited once the host has closed
HostHook: TypeAlias = "Callable[[Host], AbstractContextManager[object] | None]"

_host_hooks: list[HostHook] = []


@contextmanager
def host_hook(hook: HostHook) -> Iterator[HostHook]:
    """While the block runs, call ``hook(host)`` for every host :func:`open_host` opens — in
    any trio run of the process — once the host is ready and before the body of
    ``async with open_host()`` runs.  If the hook returns a context manager, it is entered
    there and exited when the host has closed: after its last packet (every socket closed,
    every device shut) and before the leak check.  Hooks run in the order they were
    registered and are exited in reverse.

    What it is for: tooling that must see every host without the code under test doing
    anything — the pytest plugin's capture switch (``--netsim-capture``,
    :mod:`netsim.testing.capture`) captures every device of every host with it, together
    with :meth:`Host.watch_devices`.  An exception a hook raises propagates from
    ``open_host`` (at entry) or from its exit (unless the body raised)."""
    _host_hooks.append(hook)
    try:
        yield hook
    finally:
        _host_hooks.remove(hook)


class _DeviceTable(dict[str, "NetDevice"]):
    """``Net.devices`` once :meth:`Host.watch_devices` has a watcher: a dict that tells the
    watchers about each device stored in it — ``Net.add_device`` (``register_netdevice``)
    stores every device there, whoever registers it (:func:`link`, a stream link, a test
    calling ``host.net.add_device``), before the device carries a packet."""

    __slots__ = ("watchers",)

    def __init__(self, devices: dict[str, NetDevice]) -> None:
        super().__init__(devices)
        self.watchers: list[Callable[[NetDevice], None]] = []

    def __setitem__(self, name: str, dev: NetDevice) -> None:
        super().__setitem__(name, dev)
        for watcher in tuple(self.watchers):
            watcher(dev)


class _TaskExitInstrument(trio.abc.Instrument):
    """Drains a task's fragment allocator when the task exits (``do_exit``)."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        ctx = self.host._tasks.pop(task, None)
        if ctx is None:
            return
        try:
            ctx.exit()
        except BaseException as exc:  # trio would disable the instrument; keep it for later
            self.host._instrument_errors.append(exc)


class Host:
    """An emulated host.  Create it with :func:`open_host`."""

    def __init__(self, net: Net) -> None:
        self.net = net
        #: the trio run's clock (``trio.current_time()`` without the lookups, for the hot path)
        self.clock: trio.abc.Clock = trio.lowlevel.current_clock()
        self._tasks: dict[trio.lowlevel.Task, TaskContext] = {}
        self._task_serial = 0
        self._instrument = _TaskExitInstrument(self)
        self._instrument_errors: list[BaseException] = []
        self._sockets: set[Socket] = set()
        self._timer_scope: trio.CancelScope | None = None
        self._next_fd = 1000
        self.hosts: dict[str, list[str]] = {}  # /etc/hosts for as_trio_network()
        self.closed = False
        net.timers.on_earlier_deadline = self._earlier_deadline

    # -- what users touch ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The host's name."""
        return self.net.name

    @property
    def sysctl(self) -> Sysctl:
        """The host's sysctls, by Linux name: ``host.sysctl["net.core.max_skb_frags"] = 8``."""
        return self.net.sysctl

    @property
    def page_allocator(self) -> PageAllocator:
        """The host's memory."""
        return self.net.page_allocator

    @property
    def devices(self) -> dict[str, NetDevice]:
        """The host's devices by name (``lo`` always)."""
        return self.net.devices

    def render_pages(self, label: Callable[[SkBuff], str] | None = None) -> str:
        """A picture of every live page of this host (:func:`netsim.skb.render_pages`): its
        references (holders and the allocator's share), an occupancy bar, the cursor of each
        fragment allocator carving it — the trio tasks' ``task_frag``, the sockets' ``sk_frag``,
        the NICs' RX caches — and the byte ranges the frags of every queued skb hold (each
        socket's write, retransmit, receive, out-of-order and backlog queues, each link's
        transmit queue).  ``label`` names the skbs (``tracer.skb`` to match a trace's names);
        by default each is named by its queue and position."""
        from ..skb.render import render_page_map

        return render_page_map(self.page_map(label))

    def page_map(self, label: Callable[[SkBuff], str] | None = None) -> PageMap:
        """:meth:`render_pages` as data (:func:`netsim.skb.page_map`): every live page with
        its holders, the allocators' cursors and the ranges queued skbs' frags hold, and every
        queued skb's geometry — the frame of ``netsim trace --json`` (docs/trace.md)."""
        from ..skb.render import page_map

        walk = self._page_walk()
        return page_map(walk.pages, walk.skbs, walk.allocators, label)

    def _page_walk(self) -> _PageWalk:
        """What :meth:`page_map` draws: the live pages; every queued skb by
        ``"<socket> <queue>[i]"`` (sockets in (protocol, source port, destination port)
        order); every fragment allocator by owner."""
        net = self.net
        allocators: list[tuple[str, FragAllocator]] = []
        for ctx in self._tasks.values():
            if ctx.task_frag is not None:
                allocators.append((f"task {ctx.name or '?'} task_frag", ctx.task_frag))
        skbs: list[tuple[str, SkBuff]] = []
        for n, sk in enumerate(sorted(net.sockets, key=_sock_key)):
            label = _sock_label(sk, n)
            if sk.sk_frag is not None:
                allocators.append((f"{label} sk_frag", sk.sk_frag))
            for queue in _SOCK_QUEUES:
                for i, skb in enumerate(getattr(sk, queue, ()) or ()):
                    skbs.append((f"{label} {queue}[{i}]", skb))
        for dev in net.devices.values():
            cache = getattr(dev, "rx_cache", None)
            if cache is not None:
                allocators.append((f"{dev.name} rx", cache))
            for i, (_, skb) in enumerate(getattr(dev, "txqueue", ())):
                skbs.append((f"{dev.name} txqueue[{i}]", skb))
        return _PageWalk(net.page_allocator.live_pages(), skbs, allocators)

    def stats(self) -> StatsSnapshot:
        """A read-only snapshot of every counter: ``host.stats()["page_get"]``."""
        return self.net.page_allocator.snapshot()

    def socket(self, family: int = AF_INET, type: int = SOCK_STREAM, proto: int = 0) -> Socket:
        """A new emulated socket (``socket(2)``), a ``trio.socket.SocketType``."""
        from .socket import Socket

        if self.closed:
            raise kernel_error(errno.EBADF, "the host is closed")
        sock = Socket(self, family, type, proto)
        self._sockets.add(sock)
        return sock

    async def open_tcp_stream(self, host: str, port: int) -> trio.SocketStream:
        """Connect to ``(host, port)`` (a numeric address or a name this host resolves) and
        return a ``trio.SocketStream`` — which sets ``TCP_NODELAY`` and ``TCP_NOTSENT_LOWAT``
        as trio always does.  Code that must behave like netcat uses :meth:`socket`."""
        from .network import HostResolver

        infos = await HostResolver(self).getaddrinfo(host, port, 0, SOCK_STREAM)
        error: OSError | None = None
        for family, _type, _proto, _name, addr in infos:
            sock = self.socket(family, SOCK_STREAM)
            try:
                await sock.connect(addr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            except BaseException:
                sock.close()
                raise
            return trio.SocketStream(sock)
        assert error is not None
        raise error

    async def open_tcp_listener(
        self, port: int = 0, *, host: str | None = None, backlog: int = 128
    ) -> trio.SocketListener:
        """A listening ``trio.SocketListener`` on ``(host, port)`` (all addresses by default:
        an IPv6 socket that also takes IPv4), with ``SO_REUSEADDR`` as trio sets it."""
        from ..sock.constants import AF_INET6, SO_REUSEADDR, SOL_SOCKET

        family = AF_INET6 if host is None or ":" in host else AF_INET
        sock = self.socket(family, SOCK_STREAM)
        try:
            sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
            await sock.bind((host or "", port))
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        return trio.SocketListener(sock)

    def task_context(self) -> TaskContext:
        """The calling trio task's context on this host (``current``), created on demand."""
        task = trio.lowlevel.current_task()
        ctx = self._tasks.get(task)
        if ctx is None:
            # the trio task's name and a per-host serial: two tasks running the same function
            # (two writers) stay apart in reprs and pictures
            self._task_serial += 1
            ctx = self._tasks[task] = TaskContext(self.net, f"{task.name}#{self._task_serial}")
        return ctx

    def now(self) -> float:
        """Bring the host's clock to trio's and return it."""
        now = self.clock.current_time()
        self.net.now = now
        return now

    @contextmanager
    def capture(
        self,
        path: str | BinaryIO,
        dev: str = "lo",
        *,
        snaplen: int = 262144,
        on_error: Callable[[PcapTap], None] | None = None,
    ) -> Iterator[PcapTap]:
        """Write every packet through device ``dev`` to a pcap file (``LINKTYPE_RAW``,
        complete checksums) for the duration of the block: ``tcpdump -i dev -w path``.
        A file object passed in is flushed, not closed.

        Opening the file (or writing its header) fails here, as ``open`` does.  Once the
        capture runs, an I/O error of its file (a full disk, ``/dev/full``) **stops the
        capture, never the traffic**: the tap detaches and closes the file, the error is in
        ``tap.error`` (the block goes on and ends normally), and ``on_error(tap)`` is called
        once — from inside the data path, so it must not raise.  A final flush that fails
        at the block's end is handled the same way.  (On Linux a tap cannot fail a
        transmit either: a packet socket that cannot take its copy drops the copy.)"""
        from ..dev.pcap import PcapWriter
        from ..dev.tap import PcapTap

        device = self.net.devices[dev]
        fileobj: BinaryIO = open(path, "wb") if isinstance(path, str) else path  # noqa: SIM115
        try:
            writer = PcapWriter(fileobj, snaplen=snaplen, close_file=isinstance(path, str))
        except BaseException:
            if isinstance(path, str):
                with contextlib.suppress(OSError):
                    fileobj.close()
            raise
        tap = PcapTap(device, writer, on_error).attach()
        try:
            yield tap
        finally:
            tap.close()

    def watch_devices(self, callback: Callable[[NetDevice], None]) -> Callable[[], None]:
        """Call ``callback(dev)`` now for each device of the host (``lo`` first) and then for
        every device registered on it later — by :func:`link`, a stream link
        (:mod:`netsim.runtime.wire`) or ``host.net.add_device`` — as it is registered, before
        it carries a packet (its addresses are not assigned yet).  Returns a function that
        ends the watch.  ``callback`` runs inside the registering call: it must not raise.

        The capture switch of the pytest plugin uses it to put a pcap tap on every device.
        The first watcher makes ``host.net.devices`` a ``dict`` subclass that reports what is
        stored in it (``Net.add_device`` stores every device there; the compiled core's dict
        store falls back to ``__setitem__`` for a subclass); lookups stay dict lookups, and
        a host nobody watches keeps its plain dict."""
        devices = self.net.devices
        if not isinstance(devices, _DeviceTable):
            devices = _DeviceTable(devices)
            self.net.devices = devices
        table = devices
        table.watchers.append(callback)
        for dev in list(table.values()):
            callback(dev)

        def unwatch() -> None:
            if callback in table.watchers:
                table.watchers.remove(callback)

        return unwatch

    @contextmanager
    def tracing(self, tracer: Tracer | None = None) -> Iterator[Tracer]:
        """Record what the cores decide, step by step, for the duration of the block:
        page allocations and frees, refcount operations, the fragment allocator's refills,
        recycles and commits, and — for every copy — whether the bytes coalesced into the
        previous frag or took a new slot, and why (:mod:`netsim.stats.trace`)::

            with host.tracing() as trace:
                await sock.send(b"x" * 100)
            print(trace.text(decisions_only=True))

        Without a tracer attached the cores pay one ``None`` test per decision.  One tracer
        may watch several hosts; a host has at most one tracer at a time."""
        if self.net.stats.tracer is not None:
            raise RuntimeError(f"host {self.name!r} is already being traced")
        if tracer is None:
            tracer = Tracer()
        if tracer.clock is None:
            tracer.clock = self.clock.current_time
        self.net.page_allocator.set_tracer(tracer)
        try:
            yield tracer
        finally:
            self.net.page_allocator.set_tracer(None)

    @contextmanager
    def as_trio_network(self) -> Iterator[Host]:
        """Make trio's own networking (``trio.socket.socket``, ``trio.open_tcp_stream``,
        ``trio.serve_tcp``, ``getaddrinfo``) use this host, for the duration of the block.
        trio's socket factory is per run: one host at a time."""
        from .network import HostResolver, HostSocketFactory

        old_factory = trio.socket.set_custom_socket_factory(HostSocketFactory(self))
        old_resolver = trio.socket.set_custom_hostname_resolver(HostResolver(self))
        try:
            yield self
        finally:
            trio.socket.set_custom_socket_factory(old_factory)
            trio.socket.set_custom_hostname_resolver(old_resolver)

    # -- timers ---------------------------------------------------------------------------------

    def _earlier_deadline(self, deadline: float) -> None:
        scope = self._timer_scope
        if scope is not None and deadline < scope.deadline:
            scope.deadline = deadline

    async def _timer_task(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        timers = self.net.timers
        task_status.started()
        while True:
            deadline = timers.next_deadline()
            with trio.CancelScope(deadline=deadline) as scope:
                self._timer_scope = scope
                await trio.sleep_forever()
            self._timer_scope = None
            self.net.run_timers(trio.current_time())
            if math.isinf(deadline) and not scope.cancelled_caught:
                return  # pragma: no cover - sleep_forever only ends by cancellation

    # -- lifetime -------------------------------------------------------------------------------

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for sock in list(self._sockets):
            sock.close()
        for ctx in list(self._tasks.values()):
            ctx.exit()
        self._tasks.clear()
        self.net.close()

    def leak_report(self) -> str:
        """Pages of this host still referenced (empty when none)."""
        return self.net.page_allocator.leak_report()

    def __repr__(self) -> str:
        return f"<Host {self.name} allocator={self.net.allocator_name}>"


@asynccontextmanager
async def open_host(
    allocator: str | FragAllocatorFactory = "page_frag_cache",
    *,
    name: str = "host",
    page_allocator: PageAllocator | None = None,
    max_skb_frags: int = MAX_SKB_FRAGS,
    seed: int = 0,
    check_leaks: bool = True,
) -> AsyncIterator[Host]:
    """Run an emulated host for the duration of the block.

    Args:
        allocator: the fragment allocator behind ``sk_page_frag()``, by registered name
            (``"page_frag"``, ``"page_frag_cache"``, ``"page_frag_cache_countdown"``, …) or a
            factory.
        name: the host's name.
        page_allocator: the host's memory (limits, fault injection); default unlimited.
        max_skb_frags: ``CONFIG_MAX_SKB_FRAGS`` (17..45).
        seed: seeds the host's RNG.
        check_leaks: raise :class:`~netsim.PageLeakError` at exit if a page is still held.
    """
    net = Net(
        name,
        allocator=allocator,
        page_allocator=page_allocator,
        max_skb_frags=max_skb_frags,
        seed=seed,
    )
    host = Host(net)
    host.now()
    hooks = contextlib.ExitStack()
    try:
        for hook in tuple(_host_hooks):
            entered = hook(host)
            if entered is not None:
                hooks.enter_context(entered)
    except BaseException:
        host._close()
        hooks.close()
        raise
    trio.lowlevel.add_instrument(host._instrument)
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(host._timer_task)
            try:
                yield host
            except BaseException as exc:
                body_error = exc
                raise
            finally:
                host._close()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # the nursery wraps whatever the body raised; give the caller the body's own exception
        if body_error is not None and _only(group, body_error):
            raise body_error from None
        raise
    finally:
        host._close()
        with contextlib.suppress(KeyError):  # trio already removed it after an error
            trio.lowlevel.remove_instrument(host._instrument)
        try:
            hooks.close()  # after the host's last packet
        except Exception as exc:
            if body_error is None:
                raise
            body_error.add_note(f"netsim: a host hook failed at exit on host {name!r}: {exc!r}")
        problems = list(host._instrument_errors)
        report = host.leak_report() if check_leaks else ""
        if body_error is not None:
            if report:
                body_error.add_note(f"netsim: page leak on host {name!r}:\n{report}")
        elif problems:
            raise problems[0]
        elif report:
            raise PageLeakError(f"page leak on host {name!r} at exit", report)


def _only(group: BaseExceptionGroup[BaseException], exc: BaseException) -> bool:
    """Is ``exc`` the only exception in ``group`` (cancellations aside)?"""
    leaves = exception_leaves(group)
    return exc in leaves and all(e is exc or isinstance(e, trio.Cancelled) for e in leaves)


def link(
    a: Host,
    b: Host,
    *,
    mtu: int = 1500,
    rate: float | None = None,
    delay: float = 0.0,
    csum_offload: bool = False,
    addrs: tuple[str, str] = ("10.0.0.1/24", "10.0.0.2/24"),
    addrs6: tuple[str, str] = ("fd00::1/64", "fd00::2/64"),
    names: tuple[str, str] = ("eth0", "eth0"),
    default_route: bool = True,
    faults: FaultPlan | None = None,
    tls_offload: bool = False,
) -> Link:
    """Wire two hosts together with a point-to-point :class:`~netsim.dev.Link` (MTU, rate in
    bits/s, one-way delay in seconds), give each end its addresses, make it each host's
    default route, and put each host's name in the other's ``hosts`` table.  ``faults``: a
    :class:`~netsim.FaultPlan` for both directions (each with its own random stream; one
    direction alone: ``link.dev_a.set_faults(plan)``).  ``tls_offload``: both NICs advertise
    ``NETIF_F_HW_TLS_TX`` (kTLS device offload; it implies checksum offload, which Linux
    requires of a TLS-offload device in ``netdev_fix_features``)."""
    from ..dev.link import Link

    wire = Link(
        a.net,
        b.net,
        mtu=mtu,
        rate=rate,
        delay=delay,
        csum_offload=csum_offload or tls_offload,
        names=names,
    )
    if tls_offload:
        from ..dev.device import NETIF_F_HW_TLS_TX

        wire.dev_a.features |= NETIF_F_HW_TLS_TX
        wire.dev_b.features |= NETIF_F_HW_TLS_TX
    ipv6 = mtu >= 1280  # below IPv6's minimum MTU a device has no IPv6 (ipv6_add_dev)
    a.net.add_device(wire.dev_a, (addrs[0], addrs6[0]) if ipv6 else (addrs[0],))
    b.net.add_device(wire.dev_b, (addrs[1], addrs6[1]) if ipv6 else (addrs[1],))
    if default_route:
        a.net.set_default_route(names[0])
        b.net.set_default_route(names[1])
    a.hosts[b.name] = [addrs[1].split("/")[0]] + ([addrs6[1].split("/")[0]] if ipv6 else [])
    b.hosts[a.name] = [addrs[0].split("/")[0]] + ([addrs6[0].split("/")[0]] if ipv6 else [])
    if faults is not None:
        wire.dev_a.set_faults(faults)
        wire.dev_b.set_faults(faults)
    return wire


#: the socket queues :meth:`Host.page_map` walks, in this order
_SOCK_QUEUES: Final = (
    "sk_write_queue",
    "tcp_rtx_queue",
    "sk_receive_queue",
    "out_of_order_queue",
    "sk_backlog",
)


class _PageWalk(NamedTuple):
    pages: list[Page]
    skbs: list[tuple[str, SkBuff]]
    allocators: list[tuple[str, FragAllocator]]


def _sock_key(sk: Any) -> tuple[int, int, int]:
    return (sk.sk_protocol, sk.inet_sport, sk.inet_dport)


def _sock_label(sk: Any, n: int) -> str:
    proto = {6: "tcp", 17: "udp"}.get(sk.sk_protocol, str(sk.sk_protocol))
    return f"{proto} :{sk.inet_sport}->:{sk.inet_dport}"


def render_pages(host: Host) -> str:
    """``host.render_pages()``: every live page of ``host`` with its references, the
    allocators' cursors and the skb frags that hold its bytes."""
    return host.render_pages()
