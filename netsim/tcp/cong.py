"""Pluggable congestion control: ``struct tcp_congestion_ops`` and its registry
(net/ipv4/tcp_cong.c, include/net/tcp.h), Reno (tcp_cong.c) and CUBIC with HyStart
(net/ipv4/tcp_cubic.c), as Linux 6.18 has them.

Model
-----
A congestion control is a :class:`TcpCongestionOps`: an object with a ``name`` and the
kernel's hooks — ``ssthresh`` (the slow-start threshold after a loss), ``cong_avoid`` (the
window's growth on an ACK), ``set_state`` (called before ``ca_state`` changes),
``cwnd_event`` (``CA_EVENT_*``), ``pkts_acked`` (segments acknowledged, with the RTT of the
newest of them), ``undo_cwnd`` (the window to restore when a reduction proves spurious) and
``init``.  Each socket points at one (``sk.ca_ops``) and holds that one's private state in
``sk.ca_priv`` (Linux's ``icsk_ca_priv``, zeroed whenever the choice is made): ``None`` for
Reno, a :class:`BicTcp` for CUBIC.

The registry is ``tcp_cong_list``: :func:`tcp_register_congestion_control` appends (Reno
first, then CUBIC, the order a kernel with CUBIC built in registers them, which is the order
``net.ipv4.tcp_available_congestion_control`` lists), :func:`tcp_ca_find` looks a name up.
A new socket takes the host's ``net.ipv4.tcp_congestion_control`` (default ``cubic``,
``CONFIG_DEFAULT_TCP_CONG``) — :func:`tcp_assign_congestion_control` — and the connection's
``init`` runs once it is established (:func:`tcp_init_congestion_control`, from
``tcp_init_transfer``).  ``TCP_CONGESTION`` switches a socket (:func:`tcp_set_congestion_control`;
on a connected socket the new one's ``init`` runs at once).  A listener's choice made with
``TCP_CONGESTION`` passes to its children, otherwise they take the sysctl's value at the time
(``tcp_ca_openreq_child``).

Time is the kernel's: ``tcp_jiffies32`` (``HZ`` = 1000, starting 5 minutes before the wrap as
``INITIAL_JIFFIES`` does) for CUBIC's epoch, ``tcp_mstamp`` in microseconds (32 bits) for
HyStart.  All arithmetic keeps the kernel's ``u32``/``u64`` widths where they can wrap.

What netsim leaves out: ``cong_control`` (BBR's whole-ACK hook), ``in_ack_event``,
``min_tso_segs``, ``sndbuf_expand``, ``get_info``, ECN (``CA_EVENT_ECN_*``), per-route
congestion controls (``RTAX_CC_ALGO``), ``tcp_cwnd_restart`` (slow start after idle: the
sysctl is there, the restart is not modelled, so ``CA_EVENT_CWND_RESTART`` is never sent),
and ``CAP_NET_ADMIN`` (netsim runs as root: ``TCP_CONGESTION`` may pick any registered
algorithm, allowed or not).  ``pkts_acked`` is called for ACKs that advance ``snd_una`` (the
RTT of SACKed segments is not tracked).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, cast

from mypy_extensions import mypyc_attr

from ..errors import errno, kernel_error
from ..sock.sock import TCP_CLOSE, TCP_LISTEN
from ..sock.sysctl import TCP_CA_NAMES
from .output import _pacing_rate, tcp_is_cwnd_limited, tcp_jiffies32
from .sock import (
    CA_EVENT_COMPLETE_CWR,
    CA_EVENT_CWND_RESTART,
    CA_EVENT_LOSS,
    CA_EVENT_TX_START,
    TCP_CA_LOSS,
)

if TYPE_CHECKING:
    from ..netns import Net
    from .sock import TcpSock

__all__ = [
    "BICTCP_BETA_SCALE",
    "BICTCP_FIELDS",
    "CA_EVENT_COMPLETE_CWR",
    "CA_EVENT_CWND_RESTART",
    "CA_EVENT_LOSS",
    "CA_EVENT_TX_START",
    "TCP_CA_NAME_MAX",
    "BicTcp",
    "TcpCongestionOps",
    "TcpCubic",
    "TcpReno",
    "cubic_root",
    "tcp_assign_congestion_control",
    "tcp_ca_event",
    "tcp_ca_find",
    "tcp_cong_avoid_ai",
    "tcp_cubic",
    "tcp_get_available_congestion_control",
    "tcp_get_default_congestion_control",
    "tcp_init_congestion_control",
    "tcp_reg_names",
    "tcp_register_congestion_control",
    "tcp_reinit_congestion_control",
    "tcp_reno",
    "tcp_reno_cong_avoid",
    "tcp_reno_ssthresh",
    "tcp_reno_undo_cwnd",
    "tcp_set_ca_state",
    "tcp_set_congestion_control",
    "tcp_slow_start",
    "tcp_unregister_congestion_control",
]

#: ``TCP_CA_NAME_MAX`` (include/net/tcp.h): a congestion control's name, with its NUL
TCP_CA_NAME_MAX: Final = 16
#: ``HZ``: the jiffy is a millisecond (``CONFIG_HZ_1000``, as netsim's sysctls assume)
HZ: Final = 1000
USEC_PER_SEC: Final = 1_000_000
USEC_PER_MSEC: Final = 1000
U32: Final = 0xFFFFFFFF
U64: Final = 0xFFFFFFFFFFFFFFFF


def _s32(value: int) -> int:
    """``(s32)value``: the low 32 bits as a signed number (the kernel's wrap-safe time
    difference)."""
    value &= U32
    return value - 0x100000000 if value & 0x80000000 else value


def _usecs_to_jiffies(us: int) -> int:
    """``usecs_to_jiffies()`` (include/linux/jiffies.h) at ``HZ`` = 1000: rounded up."""
    per = USEC_PER_SEC // HZ
    return (us + per - 1) // per


# -- the interface -----------------------------------------------------------------------------


@mypyc_attr(allow_interpreted_subclasses=True)
class TcpCongestionOps:
    """``struct tcp_congestion_ops`` (include/net/tcp.h): a congestion control algorithm.

    Subclasses give ``name`` (at most ``TCP_CA_NAME_MAX - 1`` bytes) and override the hooks;
    ``ssthresh``, ``undo_cwnd`` and ``cong_avoid`` are required
    (``tcp_validate_congestion_control``), the rest default to doing nothing.  One instance
    serves every socket that uses it: per-socket state goes in the object
    :meth:`alloc_priv` returns, which the socket keeps as ``sk.ca_priv``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def alloc_priv(self) -> object | None:
        """The zeroed private area for one socket (``icsk_ca_priv``, which
        ``tcp_assign_congestion_control`` and ``tcp_reinit_congestion_control`` memset to 0):
        a fresh object of the algorithm's own state class, or None if it keeps none."""
        return None

    def init(self, sk: TcpSock) -> None:
        """``init``: the connection is established (or switched to this algorithm)."""

    def ssthresh(self, sk: TcpSock) -> int:
        """``ssthresh`` (required): the slow-start threshold after a loss."""
        raise NotImplementedError(f"{self.name}: ssthresh")

    def cong_avoid(self, sk: TcpSock, ack: int, acked: int) -> None:
        """``cong_avoid`` (required): grow the window; ``acked`` segments were newly
        delivered by the ACK up to ``ack``."""
        raise NotImplementedError(f"{self.name}: cong_avoid")

    def set_state(self, sk: TcpSock, new_state: int) -> None:
        """``set_state``: called before ``ca_state`` becomes ``new_state``."""

    def cwnd_event(self, sk: TcpSock, event: int) -> None:
        """``cwnd_event``: one of the ``CA_EVENT_*``."""

    def pkts_acked(self, sk: TcpSock, acked: int, rtt_us: int) -> None:
        """``pkts_acked``: ``acked`` segments acknowledged; ``rtt_us`` is the RTT of the
        newest of them in microseconds (``ack_sample.rtt_us``), -1 when there is none."""

    def undo_cwnd(self, sk: TcpSock) -> int:
        """``undo_cwnd`` (required): the window to restore when a reduction is undone."""
        raise NotImplementedError(f"{self.name}: undo_cwnd")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


# -- the registry (net/ipv4/tcp_cong.c) --------------------------------------------------------

#: ``tcp_cong_list``: every registered algorithm, in registration order
tcp_cong_list: Final[list[TcpCongestionOps]] = []


def tcp_ca_find(name: str) -> TcpCongestionOps | None:
    """``tcp_ca_find()`` (net/ipv4/tcp_cong.c): the algorithm called ``name``, or None."""
    for ca in tcp_cong_list:
        if ca.name == name:
            return ca
    return None


def tcp_reg_names() -> list[str]:
    """The registered algorithms' names, in registration order."""
    return [ca.name for ca in tcp_cong_list]


def tcp_register_congestion_control(ca: TcpCongestionOps) -> None:
    """``tcp_register_congestion_control()`` (net/ipv4/tcp_cong.c): add ``ca`` to the list.
    ``EINVAL`` if a required hook is missing (``tcp_validate_congestion_control``) or the
    name is empty, too long for ``TCP_CA_NAME_MAX`` or not a printable ASCII word (netsim
    lists the names space-separated in its sysctls); ``EEXIST`` if the name is taken."""
    base = TcpCongestionOps
    kind = type(ca)
    for hook in ("ssthresh", "undo_cwnd", "cong_avoid"):
        if getattr(kind, hook) is getattr(base, hook):
            raise kernel_error(errno.EINVAL, f"{ca.name} does not implement {hook}")
    name = ca.name
    if (
        not name
        or len(name) >= TCP_CA_NAME_MAX
        or not name.isascii()
        or not name.isprintable()
        or " " in name
    ):
        raise kernel_error(errno.EINVAL, f"congestion control name {name!r}")
    if tcp_ca_find(name) is not None:
        raise kernel_error(errno.EEXIST, f"{name} already registered")
    tcp_cong_list.append(ca)
    TCP_CA_NAMES.append(name)  # what the congestion control sysctls know


def tcp_unregister_congestion_control(ca: TcpCongestionOps) -> None:
    """``tcp_unregister_congestion_control()`` (net/ipv4/tcp_cong.c): take ``ca`` off the
    list.  Sockets using it keep it; new ones naming it fall back to Reno (as
    ``tcp_assign_congestion_control`` does when the default's module cannot be held)."""
    if ca in tcp_cong_list:
        tcp_cong_list.remove(ca)
        TCP_CA_NAMES.remove(ca.name)


def tcp_get_available_congestion_control() -> str:
    """``tcp_get_available_congestion_control()`` (net/ipv4/tcp_cong.c): the names,
    space-separated, in registration order."""
    return " ".join(tcp_reg_names())


# -- the socket's side ---------------------------------------------------------------------------


def tcp_set_ca_state(sk: TcpSock, ca_state: int) -> None:
    """``tcp_set_ca_state()`` (net/ipv4/tcp_cong.c): tell the algorithm, then change
    ``ca_state``."""
    sk.ca_ops.set_state(sk, ca_state)
    sk.ca_state = ca_state


def tcp_ca_event(sk: TcpSock, event: int) -> None:
    """``tcp_ca_event()`` (include/net/tcp.h): pass a ``CA_EVENT_*`` to the algorithm."""
    sk.ca_ops.cwnd_event(sk, event)


def tcp_assign_congestion_control(sk: TcpSock) -> None:
    """``tcp_assign_congestion_control()`` (net/ipv4/tcp_cong.c), from ``tcp_init_sock`` and
    for a child not inheriting its listener's choice: the host's
    ``net.ipv4.tcp_congestion_control`` (Reno if it is no longer registered), with a zeroed
    private area."""
    ca = tcp_get_default_congestion_control(sk.net)
    sk.ca_ops = ca
    sk.ca_priv = ca.alloc_priv()


def tcp_get_default_congestion_control(net: Net) -> TcpCongestionOps:
    """The host's default (``net->ipv4.tcp_congestion_control``, what
    ``tcp_get_default_congestion_control()`` in net/ipv4/tcp_cong.c names): the algorithm
    ``net.ipv4.tcp_congestion_control`` names, Reno if that is no longer registered."""
    ca = tcp_ca_find(net.sysctl_str("net.ipv4.tcp_congestion_control"))
    return tcp_reno if ca is None else ca


def tcp_init_congestion_control(sk: TcpSock) -> None:
    """``tcp_init_congestion_control()`` (net/ipv4/tcp_cong.c), from ``tcp_init_transfer``
    when the connection is established: the algorithm's ``init``."""
    sk.ca_ops.init(sk)


def tcp_reinit_congestion_control(sk: TcpSock, ca: TcpCongestionOps) -> None:
    """``tcp_reinit_congestion_control()`` (net/ipv4/tcp_cong.c): switch to ``ca`` with a
    zeroed private area, remembered as the user's choice (``icsk_ca_setsockopt``); unless
    the socket is closed or listening, ``ca``'s ``init`` runs now."""
    sk.ca_ops = ca
    sk.ca_setsockopt = True
    sk.ca_priv = ca.alloc_priv()
    if sk.sk_state not in (TCP_CLOSE, TCP_LISTEN):
        tcp_init_congestion_control(sk)


def tcp_set_congestion_control(sk: TcpSock, name: str) -> None:
    """``tcp_set_congestion_control()`` (net/ipv4/tcp_cong.c), ``TCP_CONGESTION``: the
    algorithm already in use only marks the choice as the user's; an unknown name is
    ``ENOENT``; another one replaces the current one (:func:`tcp_reinit_congestion_control`).
    (``EPERM`` for an algorithm outside ``tcp_allowed_congestion_control`` needs a caller
    without ``CAP_NET_ADMIN``: netsim runs as root.)"""
    ca = tcp_ca_find(name)
    if ca is sk.ca_ops:
        sk.ca_setsockopt = True
        return
    if ca is None:
        raise kernel_error(errno.ENOENT, f"no congestion control {name!r}")
    tcp_reinit_congestion_control(sk, ca)


# -- Reno (net/ipv4/tcp_cong.c) --------------------------------------------------------------


def tcp_slow_start(sk: TcpSock, acked: int) -> int:
    """``tcp_slow_start()`` (net/ipv4/tcp_cong.c): one segment per segment acknowledged, up
    to ``ssthresh`` (and ``snd_cwnd_clamp``); returns the acknowledged segments left over
    for congestion avoidance."""
    cwnd = min(sk.snd_cwnd + acked, sk.snd_ssthresh)
    acked -= cwnd - sk.snd_cwnd
    sk.snd_cwnd = min(cwnd, sk.snd_cwnd_clamp)
    return acked


def tcp_cong_avoid_ai(sk: TcpSock, w: int, acked: int) -> None:
    """``tcp_cong_avoid_ai()`` (net/ipv4/tcp_cong.c): one segment more per ``w`` segments
    acknowledged (``snd_cwnd_cnt`` counts them); credit built up under a larger ``w`` is
    applied gently, one segment; at most ``snd_cwnd_clamp``."""
    if sk.snd_cwnd_cnt >= w:
        sk.snd_cwnd_cnt = 0
        sk.snd_cwnd += 1
    sk.snd_cwnd_cnt += acked
    if sk.snd_cwnd_cnt >= w:
        delta = sk.snd_cwnd_cnt // w
        sk.snd_cwnd_cnt -= delta * w
        sk.snd_cwnd += delta
    sk.snd_cwnd = min(sk.snd_cwnd, sk.snd_cwnd_clamp)


def tcp_reno_cong_avoid(sk: TcpSock, ack: int, acked: int) -> None:
    """``tcp_reno_cong_avoid()`` (net/ipv4/tcp_cong.c): nothing unless the window limited
    the last flight (``tcp_is_cwnd_limited``); slow start below ``ssthresh``, then one
    segment per window."""
    if not tcp_is_cwnd_limited(sk):
        return
    if sk.snd_cwnd < sk.snd_ssthresh:  # tcp_in_slow_start()
        acked = tcp_slow_start(sk, acked)
        if not acked:
            return
    tcp_cong_avoid_ai(sk, sk.snd_cwnd, acked)


def tcp_reno_ssthresh(sk: TcpSock) -> int:
    """``tcp_reno_ssthresh()`` (net/ipv4/tcp_cong.c): half the window, at least 2."""
    return max(sk.snd_cwnd >> 1, 2)


def tcp_reno_undo_cwnd(sk: TcpSock) -> int:
    """``tcp_reno_undo_cwnd()`` (net/ipv4/tcp_cong.c): the larger of the window now and the
    one before the reduction (``prior_cwnd``)."""
    return max(sk.snd_cwnd, sk.prior_cwnd)


class TcpReno(TcpCongestionOps):
    """``tcp_reno`` (net/ipv4/tcp_cong.c): slow start and AIMD, half the window on a loss."""

    def __init__(self) -> None:
        super().__init__("reno")

    def ssthresh(self, sk: TcpSock) -> int:
        return tcp_reno_ssthresh(sk)

    def cong_avoid(self, sk: TcpSock, ack: int, acked: int) -> None:
        tcp_reno_cong_avoid(sk, ack, acked)

    def undo_cwnd(self, sk: TcpSock) -> int:
        return tcp_reno_undo_cwnd(sk)


# -- CUBIC (net/ipv4/tcp_cubic.c) ----------------------------------------------------------------

#: ``BICTCP_BETA_SCALE``: beta is in 1024ths
BICTCP_BETA_SCALE: Final = 1024
#: ``BICTCP_HZ``: CUBIC's time unit is 1/1024 s (2**10)
BICTCP_HZ: Final = 10
HYSTART_ACK_TRAIN: Final = 0x1
HYSTART_DELAY: Final = 0x2
#: ``HYSTART_MIN_SAMPLES``: RTT samples per round before the delay test
HYSTART_MIN_SAMPLES: Final = 8
#: ``HYSTART_DELAY_MIN``/``HYSTART_DELAY_MAX``: the delay test's margin, microseconds
HYSTART_DELAY_MIN: Final = 4000
HYSTART_DELAY_MAX: Final = 16000

#: ``cubic_root()``'s table: for ``x`` in 0..63, ``cbrt(x << 18) - 1``, refined (tcp_cubic.c)
_CBRT_TABLE: Final = bytes(
    (
        0, 54, 54, 54, 118, 118, 118, 118,
        123, 129, 134, 138, 143, 147, 151, 156,
        157, 161, 164, 168, 170, 173, 176, 179,
        181, 185, 187, 190, 192, 194, 197, 199,
        200, 202, 204, 206, 209, 211, 213, 215,
        217, 219, 221, 222, 224, 225, 227, 229,
        231, 232, 234, 236, 237, 239, 240, 242,
        244, 245, 246, 248, 250, 251, 252, 254,
    )
)  # fmt: skip


def cubic_root(a: int) -> int:
    """``cubic_root()`` (net/ipv4/tcp_cubic.c): the cube root of the ``u64`` ``a``, from a
    64-entry table of the leading bits and one Newton-Raphson step (about 0.2 % off)."""
    a &= U64
    b = a.bit_length()  # fls64()
    if b < 7:
        return (_CBRT_TABLE[a] + 35) >> 6
    b = ((b * 84) >> 8) - 1
    shift = a >> (b * 3)
    x = (((_CBRT_TABLE[shift] + 10) << b) & U32) >> 6
    x = (2 * x + a // (x * (x - 1))) & U32
    return ((x * 341) & U32) >> 10


#: :class:`BicTcp`'s fields (a module constant: a compiled class has no ``__slots__`` to read)
BICTCP_FIELDS: Final = (
    "ack_cnt",
    "bic_K",
    "bic_origin_point",
    "cnt",
    "curr_rtt",
    "delay_min",
    "end_seq",
    "epoch_start",
    "found",
    "last_ack",
    "last_cwnd",
    "last_max_cwnd",
    "last_time",
    "round_start",
    "sample_cnt",
    "tcp_cwnd",
)


class BicTcp:
    """``struct bictcp`` (net/ipv4/tcp_cubic.c): one socket's CUBIC state.

    ``cnt`` — acknowledged segments per window increase; ``last_max_cwnd`` — ``W_max``, the
    window before the last reduction; ``last_cwnd``/``last_time`` — the window and jiffy of
    the last update; ``bic_origin_point``/``bic_K`` — the curve's plateau and the time to
    reach it (1/1024 s); ``delay_min`` — the least RTT seen (µs); ``epoch_start`` — when
    this curve began (jiffies; 0: none yet); ``ack_cnt``/``tcp_cwnd`` — what Reno would have
    (TCP friendliness).  HyStart: ``sample_cnt``, ``found``, ``round_start``, ``end_seq``
    (the round ends when it is acknowledged), ``last_ack`` (µs), ``curr_rtt`` — the least RTT
    of this round (µs)."""

    __slots__ = BICTCP_FIELDS

    def __init__(self) -> None:
        self.sample_cnt = 0
        self.round_start = 0
        self.end_seq = 0
        self.last_ack = 0
        self.curr_rtt = 0
        self.reset()

    def reset(self) -> None:
        """``bictcp_reset()``: the curve is forgotten (``W_max`` too); HyStart's round is
        not touched, except that it may search again (``found``)."""
        self.cnt = 0
        self.last_max_cwnd = 0
        self.last_cwnd = 0
        self.last_time = 0
        self.bic_origin_point = 0
        self.bic_K = 0
        self.delay_min = 0
        self.epoch_start = 0
        self.ack_cnt = 0
        self.tcp_cwnd = 0
        self.found = 0

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)}" for name in BICTCP_FIELDS)
        return f"BicTcp({fields})"


def _bictcp_clock_us(sk: TcpSock) -> int:
    """``bictcp_clock_us()``: ``tcp_mstamp``, microseconds, 32 bits."""
    return int(sk.net.now * USEC_PER_SEC) & U32


def _bictcp(sk: TcpSock) -> BicTcp:
    """``inet_csk_ca(sk)`` for CUBIC."""
    return cast(BicTcp, sk.ca_priv)


class TcpCubic(TcpCongestionOps):
    """``cubictcp`` (net/ipv4/tcp_cubic.c): CUBIC, ``W(t) = C (t - K)^3 + W_max`` with
    ``K = cbrt(W_max (1 - beta) / C)``, beta 717/1024, C 0.4 (``bic_scale`` 41/1024 over the
    kernel's fixed RTT of 100 ms), and HyStart.

    The attributes are the module's parameters, with their defaults
    (``/sys/module/tcp_cubic/parameters``): ``fast_convergence``, ``beta``,
    ``initial_ssthresh``, ``tcp_friendliness``, ``hystart``, ``hystart_detect``,
    ``hystart_low_window``, ``hystart_ack_delta_us`` may be changed at run time (for every
    socket using CUBIC, as in Linux); ``bic_scale`` is read only, and the factors computed
    from it and from ``beta`` when the module loaded (``cube_rtt_scale``, ``cube_factor``,
    ``beta_scale``) stay as they were, as in Linux."""

    def __init__(self) -> None:
        super().__init__("cubic")
        self.fast_convergence = 1
        self.beta = 717
        self.initial_ssthresh = 0
        self.bic_scale = 41
        self.tcp_friendliness = 1
        self.hystart = 1
        self.hystart_detect = HYSTART_ACK_TRAIN | HYSTART_DELAY
        self.hystart_low_window = 16
        self.hystart_ack_delta_us = 2000
        # cubictcp_register(): the scale factors, for an RTT of 100 ms
        self.beta_scale = (
            8 * (BICTCP_BETA_SCALE + self.beta) // 3 // (BICTCP_BETA_SCALE - self.beta)
        )
        self.cube_rtt_scale = self.bic_scale * 10
        self.cube_factor = (1 << (10 + 3 * BICTCP_HZ)) // (self.bic_scale * 10)

    def alloc_priv(self) -> object | None:
        return BicTcp()

    def _hystart_reset(self, sk: TcpSock, ca: BicTcp) -> None:
        """``bictcp_hystart_reset()``: a new round begins now and ends with ``snd_nxt``."""
        ca.round_start = ca.last_ack = _bictcp_clock_us(sk)
        ca.end_seq = sk.snd_nxt
        ca.curr_rtt = U32
        ca.sample_cnt = 0

    def init(self, sk: TcpSock) -> None:
        """``cubictcp_init()``."""
        ca = _bictcp(sk)
        ca.reset()
        if self.hystart:
            self._hystart_reset(sk, ca)
        if not self.hystart and self.initial_ssthresh:
            sk.snd_ssthresh = self.initial_ssthresh

    def cwnd_event(self, sk: TcpSock, event: int) -> None:
        """``cubictcp_cwnd_event()``: transmission restarts after the application left the
        connection idle — the curve's epoch moves on by the idle time (no later than now),
        so the window does not jump along the curve for time it was not used."""
        if event != CA_EVENT_TX_START:
            return
        ca = _bictcp(sk)
        now = tcp_jiffies32(sk)
        delta = _s32(now - sk.lsndtime)
        if ca.epoch_start and delta > 0:
            ca.epoch_start = (ca.epoch_start + delta) & U32
            if _s32(ca.epoch_start - now) > 0:  # after(epoch_start, now)
                ca.epoch_start = now

    def _update(self, sk: TcpSock, ca: BicTcp, cwnd: int, acked: int) -> None:
        """``bictcp_update()``: ``ca.cnt``, the segments to acknowledge per window increase,
        from the cubic curve (at most once a jiffy) and from what Reno would have by now."""
        now = tcp_jiffies32(sk)
        ca.ack_cnt = (ca.ack_cnt + acked) & U32
        if ca.last_cwnd == cwnd and _s32(now - ca.last_time) <= HZ // 32:
            return
        if not ca.epoch_start or now != ca.last_time:
            ca.last_cwnd = cwnd
            ca.last_time = now
            if ca.epoch_start == 0:
                ca.epoch_start = now  # a new curve
                ca.ack_cnt = acked
                ca.tcp_cwnd = cwnd
                if ca.last_max_cwnd <= cwnd:
                    ca.bic_K = 0
                    ca.bic_origin_point = cwnd
                else:
                    ca.bic_K = cubic_root(self.cube_factor * (ca.last_max_cwnd - cwnd))
                    ca.bic_origin_point = ca.last_max_cwnd
            # t: the time since the epoch began, plus one minimal RTT, in 1/1024 s
            t = _s32(now - ca.epoch_start) & U64
            t += _usecs_to_jiffies(ca.delay_min)
            t = ((t << BICTCP_HZ) & U64) // HZ
            bic_target = self.cubic_target(ca, t)
            if bic_target > cwnd:
                ca.cnt = cwnd // (bic_target - cwnd)
            else:
                ca.cnt = 100 * cwnd  # a very small increase
            if ca.last_max_cwnd == 0 and ca.cnt > 20:
                ca.cnt = 20  # no W_max yet: grow at least 5 % per RTT
        if self.tcp_friendliness:
            # Reno's window, one segment per (cwnd * beta_scale / 8) acknowledged: as
            # the kernel's loop, which leaves 1..delta in ack_cnt
            delta = (cwnd * self.beta_scale) >> 3
            if ca.ack_cnt > delta:
                steps = (ca.ack_cnt - 1) // delta
                ca.ack_cnt -= steps * delta
                ca.tcp_cwnd = (ca.tcp_cwnd + steps) & U32
            if ca.tcp_cwnd > cwnd:  # CUBIC is slower than Reno would be
                max_cnt = cwnd // (ca.tcp_cwnd - cwnd)
                if ca.cnt > max_cnt:
                    ca.cnt = max_cnt
        # at most one segment more per two acknowledged: 1.5 times per RTT
        ca.cnt = max(ca.cnt, 2)

    def cubic_target(self, ca: BicTcp, t: int) -> int:
        """``bictcp_update()``'s curve: the window ``W(t) = C (t - K)^3 + W_max`` at ``t``
        (1/1024 s since the epoch began), in the kernel's fixed point (``C`` is
        ``cube_rtt_scale`` / 2**10, so 410/1024), with its ``u64``/``u32`` wraps."""
        offs = ca.bic_K - t if t < ca.bic_K else t - ca.bic_K
        delta = ((self.cube_rtt_scale * offs * offs * offs) & U64) >> (10 + 3 * BICTCP_HZ)
        delta &= U32
        if t < ca.bic_K:  # below the plateau
            return (ca.bic_origin_point - delta) & U32
        return (ca.bic_origin_point + delta) & U32

    def cong_avoid(self, sk: TcpSock, ack: int, acked: int) -> None:
        """``cubictcp_cong_avoid()``: slow start below ``ssthresh``; above it, one segment
        more per ``cnt`` acknowledged (``tcp_cong_avoid_ai``) with ``cnt`` from the curve."""
        if not tcp_is_cwnd_limited(sk):
            return
        if sk.snd_cwnd < sk.snd_ssthresh:  # tcp_in_slow_start()
            acked = tcp_slow_start(sk, acked)
            if not acked:
                return
        ca = _bictcp(sk)
        self._update(sk, ca, sk.snd_cwnd, acked)
        tcp_cong_avoid_ai(sk, ca.cnt, acked)

    def ssthresh(self, sk: TcpSock) -> int:
        """``cubictcp_recalc_ssthresh()``: the curve ends; ``W_max`` is the window now — or,
        when it is already below the last ``W_max`` (fast convergence), a little less, to
        leave room to newer flows; the threshold is ``beta`` (717/1024) of the window, at
        least 2."""
        ca = _bictcp(sk)
        cwnd = sk.snd_cwnd
        ca.epoch_start = 0
        if cwnd < ca.last_max_cwnd and self.fast_convergence:
            ca.last_max_cwnd = (cwnd * (BICTCP_BETA_SCALE + self.beta)) // (2 * BICTCP_BETA_SCALE)
        else:
            ca.last_max_cwnd = cwnd
        return max((cwnd * self.beta) // BICTCP_BETA_SCALE, 2)

    def set_state(self, sk: TcpSock, new_state: int) -> None:
        """``cubictcp_state()``: entering Loss (a retransmission timeout) forgets the
        curve and starts a HyStart round."""
        if new_state == TCP_CA_LOSS:
            ca = _bictcp(sk)
            ca.reset()
            self._hystart_reset(sk, ca)

    def undo_cwnd(self, sk: TcpSock) -> int:
        """``tcp_reno_undo_cwnd``, as ``cubictcp`` uses it."""
        return tcp_reno_undo_cwnd(sk)

    def _hystart_ack_delay(self, sk: TcpSock) -> int:
        """``hystart_ack_delay()``: room for TSO/GRO batching in the ACK-train test — the
        time four ``sk_gso_max_size`` bursts take at the pacing rate, at most 1 ms."""
        rate = _pacing_rate(sk)
        if not rate:
            return 0
        return min(USEC_PER_MSEC, sk.sk_gso_max_size * 4 * USEC_PER_SEC // rate)

    def _hystart_update(self, sk: TcpSock, ca: BicTcp, delay: int) -> None:
        """``hystart_update()``: leave slow start (``ssthresh`` = the window) when, from a
        window of ``hystart_low_window`` segments on, the ACKs of a round keep coming
        closely spaced (``hystart_ack_delta_us``) for longer than half the least RTT (the
        ACK train: the pipe is full), or the least RTT of a round's first eight samples has
        grown by an eighth of the least RTT ever, clamped to 4..16 ms (the delay: a queue is
        building).  Counted as ``TCPHystartTrainDetect``/``TCPHystartDelayDetect``, with the
        window in ``TCPHystartTrainCwnd``/``TCPHystartDelayCwnd``."""
        if sk.snd_una > ca.end_seq:  # after(snd_una, end_seq): a new round
            self._hystart_reset(sk, ca)
        cwnd = sk.snd_cwnd
        if cwnd < self.hystart_low_window:
            return
        stats = sk.net.stats
        if self.hystart_detect & HYSTART_ACK_TRAIN:
            now = _bictcp_clock_us(sk)
            if _s32(now - ca.last_ack) <= self.hystart_ack_delta_us:
                ca.last_ack = now
                threshold = (ca.delay_min + self._hystart_ack_delay(sk)) & U32
                threshold >>= 1  # SK_PACING_NONE: netsim does not pace
                # (s32) against u32 in C: compared as u32
                if ((now - ca.round_start) & U32) > threshold:
                    ca.found = 1
                    stats.TcpExtTCPHystartTrainDetect += 1
                    stats.TcpExtTCPHystartTrainCwnd += cwnd
                    sk.snd_ssthresh = cwnd
        if self.hystart_detect & HYSTART_DELAY:
            if ca.curr_rtt > delay:
                ca.curr_rtt = delay
            if ca.sample_cnt < HYSTART_MIN_SAMPLES:
                ca.sample_cnt += 1
            elif ca.curr_rtt > ca.delay_min + min(
                max(ca.delay_min >> 3, HYSTART_DELAY_MIN), HYSTART_DELAY_MAX
            ):
                ca.found = 1
                stats.TcpExtTCPHystartDelayDetect += 1
                stats.TcpExtTCPHystartDelayCwnd += cwnd
                sk.snd_ssthresh = cwnd

    def pkts_acked(self, sk: TcpSock, acked: int, rtt_us: int) -> None:
        """``cubictcp_acked()``: keep the least RTT (``delay_min``) — not in the first
        second of a curve, right after a recovery — and, in slow start until HyStart found
        its exit, feed the sample to HyStart."""
        if rtt_us < 0:
            return
        ca = _bictcp(sk)
        if ca.epoch_start and _s32(tcp_jiffies32(sk) - ca.epoch_start) < HZ:
            return
        delay = (rtt_us & U32) or 1
        if ca.delay_min == 0 or ca.delay_min > delay:
            ca.delay_min = delay
        if not ca.found and sk.snd_cwnd < sk.snd_ssthresh and self.hystart:
            self._hystart_update(sk, ca, delay)


#: ``tcp_reno`` and ``cubictcp``: the two algorithms netsim has, registered in that order
tcp_reno: Final = TcpReno()
tcp_cubic: Final = TcpCubic()
tcp_register_congestion_control(tcp_reno)
tcp_register_congestion_control(tcp_cubic)
