"""``struct sock``: buffers, memory accounting, ``sk_page_frag()``, and the owner/destructor
helpers every protocol shares (include/net/sock.h, net/core/sock.c, net/core/stream.c).

Model
-----
A :class:`Sock` is the kernel-side socket.  Its transmit accounting has three counters:

* ``sk_wmem_alloc`` — truesize of this socket's skbs still below it (queued in a device, on a
  link, waiting for TX completion).  Charged by :func:`skb_set_owner_w`, released by the
  ``sock_wfree`` destructor when the skb is freed or orphaned.  Datagram sockets block on it:
  ``sock_alloc_send_skb`` waits while ``sk_wmem_alloc >= sk_sndbuf``.  (The kernel keeps a bias
  of 1 in this refcount; netsim's value is the kernel's ``sk_wmem_alloc_get()``.)
* ``sk_wmem_queued`` — TCP's write + retransmit queues, compared with ``sk_sndbuf``.
* ``sk_forward_alloc`` — memory pre-charged to the protocol's pool, consumed by
  ``sk_mem_charge``.

Receive: ``sk_rmem_alloc`` counts the truesize of queued skbs (:func:`skb_set_owner_r`), checked
against ``sk_rcvbuf``.

Fragments: :func:`sk_page_frag` returns the **calling task's** fragment allocator when
``sk_use_task_frag`` (true by default) and the socket's own ``sk_frag`` otherwise (include/net/
sock.h, since v6.2).  A task's allocator is shared by every socket the task writes to — which is
why two sockets written alternately by one task break each other's coalescing.
:func:`sk_page_frag_refill` asks it for at least 32 bytes and, on failure, enters memory pressure
and shrinks ``sk_sndbuf`` (``sk_stream_moderate_sndbuf``).

Waiting: cores never sleep.  Where the kernel would sleep they raise :class:`SockWait`; the
runtime parks the task on the socket's wait queue (``sk_wq``) and retries when a
``sk_data_ready`` / ``sk_write_space`` / ``sk_state_change`` / ``sk_error_report`` wakes it.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final

from mypy_extensions import mypyc_attr

from ..errors import errno, kernel_error
from ..mm import GFP_KERNEL, FragAllocator, FragSpan
from ..skb import SIZEOF_SK_BUFF, SKB_DATA_ALIGN, SkBuff, alloc_skb, kfree_skb, skb_orphan

if TYPE_CHECKING:
    from ..netns import Net
    from .task import TaskContext

__all__ = [
    "RCV_SHUTDOWN",
    "SEND_SHUTDOWN",
    "SHUTDOWN_MASK",
    "SOCK_BINDADDR_LOCK",
    "SOCK_BINDPORT_LOCK",
    "SOCK_MIN_RCVBUF",
    "SOCK_MIN_SNDBUF",
    "SOCK_RCVBUF_LOCK",
    "SOCK_SNDBUF_LOCK",
    "TCP_CLOSE",
    "TCP_CLOSE_WAIT",
    "TCP_CLOSING",
    "TCP_ESTABLISHED",
    "TCP_FIN_WAIT1",
    "TCP_FIN_WAIT2",
    "TCP_LAST_ACK",
    "TCP_LISTEN",
    "TCP_SYN_RECV",
    "TCP_SYN_SENT",
    "TCP_TIME_WAIT",
    "WAIT_CONNECT",
    "WAIT_DATA",
    "WAIT_SNDBUF",
    "Sock",
    "SockWait",
    "WaitQueue",
    "SOCK_TXREHASH_DEFAULT",
    "SOCK_TXREHASH_DISABLED",
    "SOCK_TXREHASH_ENABLED",
    "IP6_AUTO_FLOW_LABEL_FORCED",
    "IP6_AUTO_FLOW_LABEL_OFF",
    "IP6_AUTO_FLOW_LABEL_OPTIN",
    "IP6_AUTO_FLOW_LABEL_OPTOUT",
    "ip6_autoflowlabel",
    "ip6_default_np_autolabel",
    "net_tx_rndhash",
    "sk_page_frag",
    "sk_page_frag_refill",
    "sk_rethink_txhash",
    "sk_set_txhash",
    "sk_stream_moderate_sndbuf",
    "skb_set_owner_r",
    "skb_set_owner_w",
    "sock_alloc_send_skb",
    "sock_destroy_frag",
    "sock_error",
    "sock_rfree",
    "sock_wfree",
    "sock_writeable",
]

# sk_state values (include/net/tcp_states.h); UDP uses ESTABLISHED (connected) and CLOSE.
TCP_ESTABLISHED: Final = 1
TCP_SYN_SENT: Final = 2
TCP_SYN_RECV: Final = 3
TCP_FIN_WAIT1: Final = 4
TCP_FIN_WAIT2: Final = 5
TCP_TIME_WAIT: Final = 6
TCP_CLOSE: Final = 7
TCP_CLOSE_WAIT: Final = 8
TCP_LAST_ACK: Final = 9
TCP_LISTEN: Final = 10
TCP_CLOSING: Final = 11

# sk_userlocks (include/net/sock.h); bind() sets the last two (``__inet_bind``)
SOCK_SNDBUF_LOCK: Final = 1
SOCK_RCVBUF_LOCK: Final = 2
SOCK_BINDADDR_LOCK: Final = 4
SOCK_BINDPORT_LOCK: Final = 8

# sk_txrehash (include/uapi/linux/socket.h): SO_TXREHASH's values
SOCK_TXREHASH_DEFAULT: Final = 255
SOCK_TXREHASH_DISABLED: Final = 0
SOCK_TXREHASH_ENABLED: Final = 1

# net.ipv6.auto_flowlabels (include/net/ipv6.h)
IP6_AUTO_FLOW_LABEL_OFF: Final = 0
IP6_AUTO_FLOW_LABEL_OPTOUT: Final = 1
IP6_AUTO_FLOW_LABEL_OPTIN: Final = 2
IP6_AUTO_FLOW_LABEL_FORCED: Final = 3

# sk_shutdown
RCV_SHUTDOWN: Final = 1
SEND_SHUTDOWN: Final = 2
SHUTDOWN_MASK: Final = 3

#: ``SOCK_MIN_SNDBUF``: ``2 * (2048 + SKB_DATA_ALIGN(sizeof(struct sk_buff)))``.
SOCK_MIN_SNDBUF: Final = 2 * (2048 + SKB_DATA_ALIGN(SIZEOF_SK_BUFF))
#: ``SOCK_MIN_RCVBUF``: ``2048 + SKB_DATA_ALIGN(sizeof(struct sk_buff))``.
SOCK_MIN_RCVBUF: Final = 2048 + SKB_DATA_ALIGN(SIZEOF_SK_BUFF)

# What a blocked call waits for (the runtime only needs to know it must wait).
WAIT_SNDBUF: Final = "sndbuf"
WAIT_DATA: Final = "data"
WAIT_CONNECT: Final = "connect"


class SockWait(Exception):
    """Raised by a core where the kernel would sleep on ``sk_sleep(sk)``.  The runtime waits
    for the socket's wait queue to be woken, then retries the call."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@mypyc_attr(allow_interpreted_subclasses=True)
class WaitQueue:
    """``sk->sk_wq``: what the cores wake.  The sans-IO default does nothing; the runtime
    installs one that unparks trio tasks.  ``sleepers`` counts the tasks asleep on it (the
    runtime keeps it): the wake-up callbacks call :meth:`wake` only when it is non-zero, as
    ``sock_def_readable`` and friends wake only when ``skwq_has_sleeper()`` says so."""

    __slots__ = ("sleepers",)

    def __init__(self) -> None:
        self.sleepers = 0

    def wake(self) -> None:
        """Wake every task sleeping on the socket."""


_NO_WAITERS: Final = WaitQueue()


class Sock:
    """The kernel-side socket (``struct sock`` + ``struct inet_sock``).  Protocols subclass it.

    Its fields keep the kernel's names (include/net/sock.h).  Two of them decide which page
    fragment allocator a send copies its payload into — what :func:`sk_page_frag` returns:

    ``sk_use_task_frag`` (``bool``, default ``True``, as ``sock_init_data`` sets it in
    net/core/sock.c)
        "allow sk_page_frag() to use current->task_frag" (include/net/sock.h, since v6.2).
        ``True``: sends copy into the **calling task's** ``current->task_frag``, one allocator
        shared by every socket that task writes to (drained when the task exits, as
        ``do_exit`` does).  ``False``: they copy into this socket's own ``sk_frag``.  The
        kernel sets it false on sockets used from memory reclaim — NFS's sunrpc, NBD, iSCSI,
        NVMe/TCP, ceph, SMB, DRBD ("Treewide: Stop corrupting socket's task_frag", v6.2) —
        because direct reclaim and page faults can nest inside another socket operation of
        the same task and recurse into ``sk_page_frag()`` while the task's frag is in use;
        and on the kernel's ICMP control sockets, which send from softirq.  No socket option
        sets it; assign it before the first send.  An accepted TCP socket inherits the
        listener's.
    ``sk_frag`` (a :class:`~netsim.mm.FragAllocator`, or ``None``)
        The socket's own allocator, ``sk->sk_frag`` ("cached page frag": a ``struct
        page_frag`` in mainline, a ``struct page_frag_cache`` with the series), the host's
        kind: used only while ``sk_use_task_frag`` is false, created on first use, drained
        when the socket is destroyed (``__sk_destruct``, net/core/sock.c).  ``None`` until
        then.

    Uncorked UDP uses neither choice: ``ip_make_skb()`` / ``ip6_make_skb()``
    (net/ipv4/ip_output.c, net/ipv6/ip6_output.c) always pass ``&current->task_frag``; a
    corked datagram (``MSG_MORE``, ``UDP_CORK``) goes through ``ip_append_data()`` and
    ``sk_page_frag()``.  TCP and kTLS always ask ``sk_page_frag()``.
    """

    #: a dict, so that ``help()`` shows the values as the fields' docstrings (``help(sock.sk)``
    #: lists them under "Data descriptors inherited from Sock"); None: no docstring
    __slots__ = {
        "__weakref__": None,
        "closed": None,
        "dontfrag": None,
        "inet_daddr": None,
        "inet_dport": None,
        "inet_id": None,
        "inet_rcv_saddr": None,
        "inet_saddr": None,
        "inet_sport": None,
        "ipv6_v6only": None,
        "mc_loop": None,
        "net": None,
        "pmtudisc": None,
        "recverr": None,
        "sk_allocation": None,
        "sk_bound_dev_if": None,
        "sk_dst_cache": None,
        "sk_err": None,
        "sk_err_soft": None,
        "sk_family": None,
        "sk_flags": None,
        "sk_forward_alloc": None,
        "sk_frag": (
            "``sk->sk_frag``: the socket's own fragment allocator, used while "
            "``sk_use_task_frag`` is False; None until first needed, drained by "
            "``__sk_destruct`` (net/core/sock.c)."
        ),
        "sk_lingertime": None,
        "sk_mark": None,
        "sk_no_check_tx": None,
        "sk_priority": None,
        "sk_protocol": None,
        "sk_rcvbuf": None,
        "sk_rcvlowat": None,
        "sk_receive_queue": None,
        "sk_reuse": None,
        "sk_reuseport": None,
        "sk_rmem_alloc": None,
        "sk_shutdown": None,
        "sk_sndbuf": None,
        "sk_state": None,
        "sk_txhash": (
            "``sk->sk_txhash``: the socket's random transmit hash (0: none yet), drawn from "
            "the host's seeded RNG by ``sk_set_txhash`` when a TCP socket first transmits or "
            "a UDP socket connects; an IPv6 socket's automatic flow label is made from it."
        ),
        "sk_txrehash": (
            "``sk->sk_txrehash``: may ``sk_rethink_txhash`` draw a new ``sk_txhash`` (1, "
            "from ``net.core.txrehash`` at creation; ``SO_TXREHASH`` on TCP sockets)."
        ),
        "sk_type": None,
        "sk_use_task_frag": (
            "``sk_page_frag()`` may use the calling task's ``current->task_frag`` (True, as "
            "``sock_init_data`` sets it) or must use this socket's ``sk_frag`` (False: "
            "sockets memory reclaim can use; include/net/sock.h).  Uncorked UDP takes the task "
            "frag either way (``ip_make_skb``)."
        ),
        "sk_userlocks": None,
        "sk_validate_xmit": None,
        "sk_wmem_alloc": None,
        "sk_wmem_queued": None,
        "sk_wq": None,
        "sk_write_queue": None,
        "sock_nospace": None,
        "tos": None,
        "uc_ttl": None,
        "hop_limit": None,
        "tclass": None,
        "pmtudisc6": None,
        "autoflowlabel": (
            "``IPV6_AUTOFLOWLABEL`` as last set (the ``AUTOFLOWLABEL`` bit of ``ipv6_pinfo``); "
            "it counts only once ``autoflowlabel_set`` is true."
        ),
        "autoflowlabel_set": (
            "``IPV6_AUTOFLOWLABEL`` was set on this socket (``AUTOFLOWLABEL_SET``); until "
            "then ``net.ipv6.auto_flowlabels`` decides (``ip6_autoflowlabel``)."
        ),
        "tx_flowlabel": (
            "The flow label this socket's IPv6 packets carry — ``ip6_make_flowlabel()`` of "
            "``sk_txhash`` under the socket's option and the host's sysctls — or -1 when it "
            "must be worked out again (no ``sk_txhash`` yet, or one of those changed)."
        ),
    }

    def __init__(self, net: Net, family: int, type_: int, protocol: int) -> None:
        self.net = net
        self.sk_family = family
        self.sk_type = type_
        self.sk_protocol = protocol
        self.sk_state = TCP_CLOSE
        self.sk_sndbuf = net.sysctl_int("net.core.wmem_default")
        self.sk_rcvbuf = net.sysctl_int("net.core.rmem_default")
        self.sk_userlocks = 0
        self.sk_flags: set[int] = set()  # boolean SOL_SOCKET options (SO_KEEPALIVE ...)
        self.sk_wmem_alloc = 0
        self.sk_wmem_queued = 0
        self.sk_forward_alloc = 0
        self.sk_rmem_alloc = 0
        self.sk_allocation: int = GFP_KERNEL
        self.sk_use_task_frag = True
        self.sk_frag: FragAllocator | None = None
        #: ``sk->sk_validate_xmit_skb`` is set: devices pass this socket's skbs through
        #: :meth:`validate_xmit_skb` before sending them (TLS device offload sets it)
        self.sk_validate_xmit = False
        self.sk_err = 0
        self.sk_err_soft = 0
        self.sk_shutdown = 0
        self.sk_reuse = False
        self.sk_reuseport = False
        self.sk_bound_dev_if = 0
        self.sk_dst_cache: object | None = None
        self.sk_no_check_tx = False
        self.sk_priority = 0
        self.sk_mark = 0
        self.sk_lingertime = 0  # jiffies; SO_LINGER in sk_flags says whether it applies
        self.sk_rcvlowat = 1
        self.sk_receive_queue: deque[SkBuff] = deque()
        self.sk_write_queue: deque[SkBuff] = deque()
        self.sk_wq: WaitQueue = _NO_WAITERS
        self.sock_nospace = False
        self.closed = False
        # inet_sock
        self.inet_saddr: bytes | None = None  # source address chosen at connect
        self.inet_rcv_saddr: bytes | None = None  # bound address (None: any)
        self.inet_sport = 0
        self.inet_daddr: bytes | None = None
        self.inet_dport = 0
        self.inet_id = 0
        self.pmtudisc = 1  # IP_PMTUDISC_WANT
        self.recverr = False
        self.uc_ttl = -1
        # ipv6_pinfo: IPv6's own TTL, TOS and PMTU discovery, apart from IPv4's on a
        # dual-stack socket (np->hop_limit, np->tclass, np->pmtudisc)
        self.hop_limit = -1
        self.tclass = 0
        self.pmtudisc6 = 1  # IPV6_PMTUDISC_WANT
        self.tos = 0
        self.mc_loop = True
        self.ipv6_v6only = False
        self.dontfrag = False  # IPV6_DONTFRAG
        self.autoflowlabel = False  # IPV6_AUTOFLOWLABEL, once autoflowlabel_set
        self.autoflowlabel_set = False
        self.sk_txhash = 0
        self.sk_txrehash = net.sysctl_int("net.core.txrehash")  # inet_create / inet6_create
        self.tx_flowlabel = -1  # netsim.ipv6.flowlabel: -1 until worked out

    @property
    def write_queue(self) -> deque[SkBuff]:
        """``sk_write_queue``: skbs built and not yet sent (TCP), or the corked datagram's
        skbs (UDP) — the public name DESIGN.md fixes."""
        return self.sk_write_queue

    # -- callbacks (sk_data_ready and friends all wake the one wait queue) -----------------

    def sk_data_ready(self) -> None:
        """``sock_def_readable``: data arrived."""
        wq = self.sk_wq
        if wq.sleepers:
            wq.wake()

    def sk_write_space(self) -> None:
        """``sock_def_write_space``: wake writers once at least half the buffer is free."""
        wq = self.sk_wq
        if wq.sleepers and sock_writeable(self):
            wq.wake()

    def has_ulp_level(self, level: int) -> bool:
        """Does an upper-layer protocol on this socket handle option ``level``?"""
        return False

    def ulp_setsockopt(self, level: int, optname: int, raw: bytes, fault: bool) -> None:
        """``setsockopt`` at a ULP's level (``fault``: a NULL buffer of that length)."""
        raise kernel_error(errno.ENOPROTOOPT)

    def ulp_getsockopt(self, level: int, optname: int, buflen: int) -> int | bytes:
        """``getsockopt`` at a ULP's level."""
        raise kernel_error(errno.ENOPROTOOPT)

    def validate_xmit_skb(self, dev: object, skb: SkBuff) -> SkBuff | None:
        """``sk->sk_validate_xmit_skb(sk, dev, skb)`` (net/core/dev.c ``sk_validate_xmit_skb``):
        called by ``validate_xmit_skb`` when :attr:`sk_validate_xmit` is set; returns the skb
        to send (perhaps a new one) or None to drop it."""
        return skb

    def sk_state_change(self) -> None:
        """``sock_def_wakeup``."""
        wq = self.sk_wq
        if wq.sleepers:
            wq.wake()

    def sk_error_report(self) -> None:
        """``sock_def_error_report``."""
        wq = self.sk_wq
        if wq.sleepers:
            wq.wake()

    def release(self) -> None:
        """``sk->sk_prot->close`` + ``__sk_destruct``: free every queued skb, drain the socket's
        own fragment allocator, leave the host's tables.  Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.sk_shutdown = SHUTDOWN_MASK
        self.unhash()
        while self.sk_receive_queue:
            kfree_skb(self.sk_receive_queue.popleft())
        while self.sk_write_queue:
            kfree_skb(self.sk_write_queue.popleft())
        sock_destroy_frag(self)
        self.net.sockets.discard(self)
        self.sk_wq.wake()

    def unhash(self) -> None:
        """``sk->sk_prot->unhash``: leave the protocol's lookup table (protocols override)."""

    def proto_setsockopt(self, optname: int, optval: bytes) -> None:
        """``sk->sk_prot->setsockopt`` for the protocol's own level; ``optval`` is the raw
        buffer (:func:`netsim.sock.options.optval_int` reads an ``int`` from it)."""
        raise kernel_error(errno.ENOPROTOOPT)

    def proto_getsockopt(self, optname: int, buflen: int) -> int | bytes:
        """``sk->sk_prot->getsockopt`` for the protocol's own level: an ``int``, or the
        option's bytes for a structure (``buflen`` is the length the caller asked for)."""
        raise kernel_error(errno.ENOPROTOOPT)

    def set_rcvlowat(self, val: int) -> None:
        """``SO_RCVLOWAT`` (``val`` already ``INT_MAX`` for a negative one): 0 means 1.
        TCP overrides it (``sock->ops->set_rcvlowat``, ``tcp_set_rcvlowat``)."""
        self.sk_rcvlowat = val or 1

    def enter_memory_pressure(self) -> None:
        """``sk->sk_prot->enter_memory_pressure``: nothing for protocols without one."""

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} family={self.sk_family} type={self.sk_type} "
            f"state={self.sk_state} port={self.inet_sport}>"
        )


def sock_writeable(sk: Sock) -> bool:
    """``sock_writeable()``: less than half of ``sk_sndbuf`` is in flight — the kernel compares
    the refcount, which carries a bias of 1, with ``sk_sndbuf >> 1``."""
    return sk.sk_wmem_alloc + 1 < sk.sk_sndbuf >> 1


def sock_error(sk: Sock) -> int:
    """``sock_error()``: fetch and clear the pending socket error (0 if none)."""
    err = sk.sk_err
    sk.sk_err = 0
    return err


# -- the transmit hash -----------------------------------------------------------------------


def net_tx_rndhash(net: Net) -> int:
    """``net_tx_rndhash()`` (include/net/sock.h): a random 32-bit hash, never 0 — drawn from
    the host's seeded RNG, so a run with the same seed draws the same hashes."""
    return net.rng.getrandbits(32) or 1


def sk_set_txhash(sk: Sock) -> None:
    """``sk_set_txhash()`` (include/net/sock.h): give the socket a new random ``sk_txhash``.
    Linux calls it when TCP connects (``tcp_v6_connect``; a passive socket inherits its
    request sock's, drawn in ``tcp_conn_request``) and when a datagram socket connects
    (``__ip6_datagram_connect``).  The IPv6 flow label made from the hash is worked out again
    at the next transmit (``tx_flowlabel`` -1)."""
    sk.sk_txhash = net_tx_rndhash(sk.net)
    sk.tx_flowlabel = -1


def sk_rethink_txhash(sk: Sock) -> bool:
    """``sk_rethink_txhash()`` (include/net/sock.h): a socket that has a transmit hash and may
    change it (``sk_txrehash``, from ``net.core.txrehash`` or ``SO_TXREHASH``) draws a new
    one — so its IPv6 packets take a new flow label, and with it maybe a new path through
    routers that hash on it (RFC 6438).  Linux calls it when TCP's retransmission timer fires
    (``tcp_write_timeout``), on a duplicate segment with a new flow label
    (``tcp_rcv_spurious_retrans``) and from PLB.  Returns whether it changed the hash."""
    if sk.sk_txhash and sk.sk_txrehash == SOCK_TXREHASH_ENABLED:
        sk_set_txhash(sk)
        return True
    return False


def ip6_default_np_autolabel(net: Net) -> bool:
    """``ip6_default_np_autolabel()`` (include/net/ipv6.h): does a socket that never set
    ``IPV6_AUTOFLOWLABEL`` want automatic flow labels?  Yes under ``net.ipv6.auto_flowlabels``
    1 (on, opt-out) and 3 (forced); no under 0 (off) and 2 (opt-in)."""
    mode = net.sysctl_int("net.ipv6.auto_flowlabels")
    return mode in (IP6_AUTO_FLOW_LABEL_OPTOUT, IP6_AUTO_FLOW_LABEL_FORCED)


def ip6_autoflowlabel(net: Net, sk: Sock) -> bool:
    """``ip6_autoflowlabel()`` (net/ipv6/ip6_output.c): the socket's ``IPV6_AUTOFLOWLABEL``
    once set, the sysctl's default before — what ``getsockopt(IPV6_AUTOFLOWLABEL)`` reports
    (under ``auto_flowlabels`` 3 too, where the label goes out whatever it says)."""
    if not sk.autoflowlabel_set:
        return ip6_default_np_autolabel(net)
    return sk.autoflowlabel


# -- skb ownership ---------------------------------------------------------------------------


def sock_wfree(skb: SkBuff) -> None:
    """``sock_wfree()``: give the skb's truesize back to ``sk_wmem_alloc``; maybe wake writers."""
    sk: Sock = skb.sk
    sk.sk_wmem_alloc -= skb.truesize
    sk.sk_write_space()


def skb_set_owner_w(skb: SkBuff, sk: Sock) -> None:
    """``skb_set_owner_w()``: charge the skb's truesize to ``sk_wmem_alloc`` until it is freed."""
    skb_orphan(skb)
    skb.sk = sk
    skb.destructor = sock_wfree
    sk.sk_wmem_alloc += skb.truesize


def sock_rfree(skb: SkBuff) -> None:
    """``sock_rfree()``: give the skb's truesize back to ``sk_rmem_alloc``."""
    sk: Sock = skb.sk
    sk.sk_rmem_alloc -= skb.truesize


def skb_set_owner_r(skb: SkBuff, sk: Sock) -> None:
    """``skb_set_owner_r()``: charge a received skb to ``sk_rmem_alloc``."""
    skb_orphan(skb)
    skb.sk = sk
    skb.destructor = sock_rfree
    sk.sk_rmem_alloc += skb.truesize


def sock_alloc_send_skb(sk: Sock, size: int, nonblock: bool) -> SkBuff:
    """``sock_alloc_send_skb()`` (net/core/sock.c): the first skb of a datagram, charged to
    ``sk_wmem_alloc``.  While ``sk_wmem_alloc >= sk_sndbuf`` it waits (:class:`SockWait`) or,
    non-blocking, fails with ``EAGAIN``; a pending error or ``SEND_SHUTDOWN`` fails first."""
    err = sock_error(sk)
    if err:
        raise kernel_error(err)
    if sk.sk_shutdown & SEND_SHUTDOWN:
        raise kernel_error(errno.EPIPE)
    if sk.sk_wmem_alloc >= sk.sk_sndbuf:
        sk.sock_nospace = True
        if nonblock:
            raise kernel_error(errno.EAGAIN)
        raise SockWait(WAIT_SNDBUF)
    skb = alloc_skb(size, stats=sk.net.stats, layout=sk.net.skb_layout, gfp=sk.sk_allocation)
    skb_set_owner_w(skb, sk)
    return skb


# -- fragments -------------------------------------------------------------------------------


def sk_page_frag(sk: Sock, task: TaskContext) -> FragAllocator:
    """``sk_page_frag()`` (include/net/sock.h): the fragment allocator a send on ``sk`` copies
    its payload into — ``task``'s ``current->task_frag`` if ``sk.sk_use_task_frag`` (the
    default), else the socket's own ``sk.sk_frag``, created on first use with the host's
    allocator::

        static inline struct page_frag *sk_page_frag(struct sock *sk)
        {
                if (sk->sk_use_task_frag)
                        return &current->task_frag;
                return &sk->sk_frag;
        }

    The task frag is the fast choice: a task sends on one socket at a time, so one allocator
    per task serves them all, and consecutive writes from one task can coalesce into one frag
    (writes alternating between two sockets of one task break each other's runs).  Sockets
    that memory reclaim can use set ``sk_use_task_frag`` false (net/core/sock.c's
    ``sock_init_data`` sets it true; NFS, NBD, iSCSI, NVMe/TCP... clear it), since reclaim can
    re-enter ``sk_page_frag()`` while the task's frag is in use.  Uncorked UDP does not call
    this: ``ip_make_skb()`` always takes the task frag (see :class:`Sock`)."""
    if sk.sk_use_task_frag:
        return task.frag_allocator(sk.net)
    nc = sk.sk_frag
    if nc is None:
        nc = sk.sk_frag = sk.net.new_frag_allocator()
    return nc


def sk_stream_moderate_sndbuf(sk: Sock) -> None:
    """``sk_stream_moderate_sndbuf()`` (include/net/sock.h): unless the user set ``SO_SNDBUF``,
    shrink ``sk_sndbuf`` to half of what is queued (never below ``SOCK_MIN_SNDBUF``, nor
    below ``sk_unused_reserved_mem()``, which is 0 here: ``SO_RESERVE_MEM`` needs a memory
    cgroup, which netsim does not model)."""
    if not sk.sk_userlocks & SOCK_SNDBUF_LOCK:
        sk.sk_sndbuf = max(min(sk.sk_sndbuf, sk.sk_wmem_queued >> 1), SOCK_MIN_SNDBUF)


def sk_page_frag_refill(sk: Sock, nc: FragAllocator, want: int | None = None) -> FragSpan | None:
    """``sk_page_frag_refill()`` (net/core/sock.c; v20 ``sk_page_frag_refill_prepare``): room
    for at least 32 bytes in ``nc`` with ``sk_allocation``.  On failure: memory pressure and
    ``sk_stream_moderate_sndbuf``, and ``None``.  ``want`` (the bytes the caller means to copy)
    only matters to allocators that place fragments by length (the count-down cache)."""
    span = nc.prepare(32, sk.sk_allocation, want=want)
    if span is None:
        sk.enter_memory_pressure()
        sk_stream_moderate_sndbuf(sk)
    return span


def sock_destroy_frag(sk: Sock) -> None:
    """``__sk_destruct``: drain the socket's own fragment allocator."""
    nc = sk.sk_frag
    if nc is not None:
        sk.sk_frag = None
        nc.drain()
