"""``struct net``: one emulated host's network namespace, sans-IO.

Model
-----
Everything a host owns lives here, and nowhere else (no module-level state): the page allocator
and the fragment-allocator factory behind ``sk_page_frag()``, the counters, the sysctls, the
devices and their addresses, the routing decisions, the socket tables, the reassembly queues,
the timer queue and the receive backlog.  The runtime's ``Host`` wraps one ``Net`` and adds
trio; tests drive a ``Net`` directly.

**Softirq is synchronous.**  A device's receive path calls :meth:`Net.netif_rx`, which queues
the skb on the backlog and — unless the backlog is already being processed further up the call
stack — processes it right away (``net_rx_action``).  So a loopback transmit delivers into the
receiving socket within the sending call, as Linux does at ``local_bh_enable``, and replies
generated while receiving are queued rather than recursed into.

**Time** is whatever the runtime last set in :attr:`Net.now` (trio's clock, virtual under
``MockClock``); cores read it and schedule work with :attr:`Net.timers`.
"""

from __future__ import annotations

import ipaddress
import random
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final

from ..dev.device import NetDevice
from ..dev.loopback import Loopback
from ..dev.ptype import PTYPE_BASE
from ..errors import errno, kernel_error
from ..mm import FragAllocator, FragAllocatorFactory, PageAllocator, get_frag_allocator
from ..skb import MAX_SKB_FRAGS, SkBuff, kfree_skb, skb_layout_for
from ..sock.sysctl import Sysctl, SysctlValue
from ..stats import TX_FRAG_ACCOUNT, Counters
from .timers import TimerQueue

if TYPE_CHECKING:
    from ..sock.sock import Sock

#: ``IPV6_MIN_MTU`` (RFC 8200): a link must carry 1280-byte packets to carry IPv6
IPV6_MIN_MTU: Final = 1280

__all__ = ["Net"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Net:
    """One host's network namespace.

    Args:
        name: the host's name (in reprs and leak reports).
        allocator: the fragment allocator ``sk_page_frag()`` hands out: a registered name
            (``"page_frag"``, ``"page_frag_cache"``, …) or a factory taking the page allocator.
        page_allocator: the host's memory (default: a new unlimited one).  Host-wide counters
            live in its ``stats``; the sockets' fragment allocators count in its account
            :data:`TX_FRAG_ACCOUNT` and each NIC's RX buffers in ``"<dev> rx"``.
        max_skb_frags: ``CONFIG_MAX_SKB_FRAGS`` for this host (17..45).
        seed: seeds the host's RNG (IP IDs, ephemeral ports, fault injection on links).
    """

    def __init__(
        self,
        name: str = "host",
        *,
        allocator: str | FragAllocatorFactory = "page_frag_cache",
        page_allocator: PageAllocator | None = None,
        max_skb_frags: int = MAX_SKB_FRAGS,
        seed: int = 0,
    ) -> None:
        self.name = name
        if page_allocator is None:
            page_allocator = PageAllocator()
        self.page_allocator = page_allocator
        self.stats: Counters = page_allocator.stats
        if isinstance(allocator, str):
            self.allocator_name = allocator
            self.frag_factory: FragAllocatorFactory = get_frag_allocator(allocator)
        else:
            self.allocator_name = getattr(allocator, "name", type(allocator).__name__)
            self.frag_factory = allocator
        if not 17 <= max_skb_frags <= 45:
            raise ValueError(
                f"max_skb_frags (CONFIG_MAX_SKB_FRAGS) must be 17..45: {max_skb_frags}"
            )
        self.max_skb_frags = max_skb_frags
        #: the sizes CONFIG_MAX_SKB_FRAGS fixes (shared info, truesize, small heads, caps)
        self.skb_layout = skb_layout_for(max_skb_frags)
        self.sysctl = Sysctl(max_skb_frags=max_skb_frags, on_change=self._sysctl_changed)
        self.rng = random.Random(seed)
        #: the key of the flow hash behind automatic IPv6 flow labels (the kernel's
        #: ``hashrnd``): empty until first needed, then drawn from ``rng``
        #: (``net_get_random_once``; netsim.ipv6.flowlabel)
        self.flow_hashrnd = b""
        self.now = 0.0
        self.timers = TimerQueue()
        self.devices: dict[str, NetDevice] = {}
        #: every address assigned to a device, packed (4 or 16 bytes): the per-packet
        #: ``inet_addr_type() == RTN_LOCAL`` test is one set lookup
        self.local_addrs: set[bytes] = set()
        self._next_ifindex = 1
        self.default_dev4: NetDevice | None = None
        self.default_dev6: NetDevice | None = None
        # socket tables: port -> sockets bound to it
        self.udp_table: dict[int, list[Sock]] = {}
        self.tcp_table: dict[int, list[Sock]] = {}
        self.tcp_ehash: dict[tuple[bytes, int, bytes, int], Sock] = {}
        #: how long TIME_WAIT lasts (Linux: TCP_TIMEWAIT_LEN, 60 s, not a sysctl)
        self.tcp_timewait_len = 60.0
        self.sockets: set[Sock] = set()
        # IP identification (ip_select_ident) and IPv6 fragment ids, per flow
        self.ip_idents: dict[tuple[bytes, bytes, int], int] = {}
        # reassembly queues, owned by ipv4.fragment / ipv6.reassembly
        self.ipv4_frags: dict[tuple[bytes, bytes, int, int], object] = {}
        self.ipv6_frags: dict[tuple[bytes, bytes, int], object] = {}
        # receive backlog (softnet_data.input_pkt_queue)
        self.backlog: deque[SkBuff] = deque()
        self._in_softirq = False
        self.closed = False
        #: ``tcp_memory_pressure``: set when a TCP socket could not get memory or TCP's pool
        #: passed ``tcp_mem[1]`` (``tcp_enter_memory_pressure``), cleared below ``tcp_mem[0]``
        self.tcp_memory_pressure = False
        #: ``tcp_memory_allocated``: pages charged to TCP's pool by the sockets' send side
        #: (``sk_forward_alloc`` in whole pages), judged against ``net.ipv4.tcp_mem``
        self.tcp_memory_allocated = 0
        self.add_device(Loopback(), ("127.0.0.1/8", "::1/128"))

    # -- configuration ----------------------------------------------------------------------

    @property
    def lo(self) -> NetDevice:
        """The loopback device (or the wrapper standing in for it)."""
        return self.devices["lo"]

    def sysctl_int(self, name: str) -> int:
        """An integer sysctl's current value (the cores' hot-path read)."""
        return self.sysctl.data[name]  # type: ignore[return-value]  # Sysctl checks at set

    def sysctl_str(self, name: str) -> str:
        """A string sysctl's current value (``tcp_congestion_control`` …)."""
        value = self.sysctl.data[name]
        assert isinstance(value, str)
        return value

    def sysctl_vec(self, name: str) -> tuple[int, ...]:
        """A vector sysctl's current value (``tcp_wmem`` …)."""
        value = self.sysctl.data[name]
        assert isinstance(value, tuple)
        return value

    def _sysctl_changed(self, name: str, value: SysctlValue) -> None:
        if name == "net.core.high_order_alloc_disable":
            self.page_allocator.net_high_order_alloc_disable = bool(value)
        elif name == "net.ipv6.conf.lo.hop_limit":
            lo = self.devices.get("lo")
            if lo is not None and lo.ipv6_hop_limit > 0 and isinstance(value, int):
                lo.ipv6_hop_limit = value
        elif name in ("net.ipv6.auto_flowlabels", "net.ipv6.flowlabel_state_ranges"):
            # sockets keep the flow label they worked out (netsim.ipv6.flowlabel); Linux
            # reads these at every packet, so the next packet must see the new value
            for sk in self.sockets:
                sk.tx_flowlabel = -1

    def new_frag_allocator(self) -> FragAllocator:
        """A fresh allocator of the host's kind (a task's or a socket's ``page_frag``)."""
        return self.frag_factory(self.page_allocator.account(TX_FRAG_ACCOUNT))

    def add_device(self, dev: NetDevice, addrs: Iterable[str] = ()) -> NetDevice:
        """Register ``dev`` (``register_netdevice``) and give it ``addrs`` (``"10.0.0.1/24"``,
        ``"fd00::1/64"``)."""
        if dev.name in self.devices:
            raise kernel_error(errno.EEXIST, f"device {dev.name} exists")
        dev.net = self
        dev.ifindex = self._next_ifindex
        self._next_ifindex += 1
        dev.rx_handler = self.netif_rx
        if dev.mtu >= IPV6_MIN_MTU:  # ipv6_add_dev(): the IPv6 config, from conf.default
            dev.ipv6_hop_limit = self.sysctl_int(
                "net.ipv6.conf.lo.hop_limit"
                if dev.name == "lo"
                else "net.ipv6.conf.default.hop_limit"
            )
        self.devices[dev.name] = dev
        for addr in addrs:
            self.add_address(dev.name, addr)
        return dev

    def add_address(self, devname: str, addr: str) -> None:
        """``ip addr add ADDR dev DEVNAME``.  A device whose MTU is below IPv6's minimum
        (1280) has no IPv6 (``ipv6_add_dev``): an IPv6 address is ``EINVAL``."""
        dev = self.devices[devname]
        iface = ipaddress.ip_interface(addr)
        if isinstance(iface, ipaddress.IPv4Interface):
            dev.addrs4.append(iface)
        else:
            if dev.mtu < IPV6_MIN_MTU:
                raise kernel_error(
                    errno.EINVAL, f"{devname}: MTU {dev.mtu} is below IPv6's minimum of 1280"
                )
            dev.addrs6.append(iface)
        self.local_addrs.add(iface.ip.packed)

    def set_default_route(self, devname: str, *, family: int | None = None) -> None:
        """``ip route add default dev DEVNAME`` (for IPv4, IPv6 or both)."""
        dev = self.devices[devname]
        if family in (None, 2):
            self.default_dev4 = dev
        if family in (None, 10):
            self.default_dev6 = dev

    def local_addresses(self) -> list[Address]:
        """Every address assigned to a device of this host."""
        out: list[Address] = []
        for dev in self.devices.values():
            out.extend(i.ip for i in dev.addrs4)
            out.extend(i.ip for i in dev.addrs6)
        return out

    # -- receive: softirq -------------------------------------------------------------------

    def netif_rx(self, skb: SkBuff) -> None:
        """``netif_rx()``: queue on the backlog; process it now unless already processing."""
        self.backlog.append(skb)
        if not self._in_softirq:
            self.net_rx_action()

    def net_rx_action(self) -> None:
        """Drain the backlog (``process_backlog``), handing each skb to its L3 protocol."""
        self._in_softirq = True
        try:
            backlog = self.backlog
            handlers = PTYPE_BASE  # the L3 protocols registered themselves (dev_add_pack)
            while backlog:
                skb = backlog.popleft()
                handler = handlers.get(skb.protocol)
                if handler is None:
                    kfree_skb(skb)
                else:
                    handler(self, skb)
        finally:
            self._in_softirq = False

    # -- time ---------------------------------------------------------------------------------

    def run_timers(self, now: float) -> int:
        """Advance the host's clock to ``now`` and run every timer due — in softirq context,
        as the kernel's timer softirq: packets a timer sends on loopback are queued on the
        backlog and delivered after it (NET_RX runs after TIMER), never inside it."""
        self.now = now
        if self._in_softirq:
            return self.timers.run_due(now)
        self._in_softirq = True
        try:
            ran = self.timers.run_due(now)
        finally:
            self._in_softirq = False
        if self.backlog:
            self.net_rx_action()
        return ran

    def run_softirq(self, now: float, work: Callable[[], object]) -> None:
        """Run a driver's interrupt work — frames read from a wire, TX completions — at
        ``now`` in softirq context, then process what it queued on the backlog (``NET_RX``)."""
        self.now = now
        if self._in_softirq:
            work()
            return
        self._in_softirq = True
        try:
            work()
        finally:
            self._in_softirq = False
        if self.backlog:
            self.net_rx_action()

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        """Free everything the host holds: sockets' queues and frags, devices' in-flight
        packets, reassembly queues, timers.  Pages held by tasks' allocators are drained by the
        runtime, which knows the tasks."""
        if self.closed:
            return
        self.closed = True
        for sk in list(self.sockets):
            sk.release()
        self.timers.clear()
        from ..ipv4.fragment import ipv4_frags_flush
        from ..ipv6.reassembly import ipv6_frags_flush

        ipv4_frags_flush(self)
        ipv6_frags_flush(self)
        for dev in list(self.devices.values()):
            dev.close()
        while self.backlog:
            kfree_skb(self.backlog.popleft())

    def __repr__(self) -> str:
        return f"<Net {self.name} allocator={self.allocator_name}>"
