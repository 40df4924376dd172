"""TCP output: MSS and size goal, push/Nagle/cork/autocork, ``tcp_write_xmit``, splitting,
``tcp_transmit_skb``, and the control segments (net/ipv4/tcp_output.c, net/ipv4/tcp.c).

Spec tx-paths §2.3 and §2.5-2.8.  The write queue holds skbs not yet sent;
``tcp_write_xmit`` walks it under the congestion window, the receive window and Nagle, cuts an
skb that exceeds what may go now (``tso_fragment`` — the straddling frag shared with one more
page reference), and sends a **clone** of each skb (``tcp_transmit_skb``): the original moves
to the retransmit queue and stays there until acknowledged.  On loopback the receiver gets that
clone itself, so a page returns only when both the ACK has freed the original and the reader
has consumed its copy.

Sequence numbers are kept **unwrapped** (Python ints that only grow) inside netsim and cut to
32 bits on the wire; the receive path unwraps what it reads.  That removes every ``before()``
/``after()`` from the core without changing behaviour below 2**31 bytes in flight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..ipv4.output import ip_queue_xmit
from ..ipv4.route import Rtable
from ..ipv6.output import ip6_xmit
from ..skb import (
    CHECKSUM_PARTIAL,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SKBFL_PURE_ZEROCOPY,
    SkBuff,
    alloc_skb,
    kfree_skb,
    pskb_copy,
    skb_clone,
    skb_cloned,
    skb_reserve,
    skb_shift,
    skb_split,
    skb_unclone_keeptruesize,
)
from ..sock.constants import AF_INET6, MSG_MORE, MSG_OOB
from ..sock.sock import (
    SOCK_MIN_RCVBUF,
    TCP_CLOSE,
    TCP_CLOSE_WAIT,
    TCP_ESTABLISHED,
    TCP_LISTEN,
    TCP_TIME_WAIT,
    sk_stream_moderate_sndbuf,
)
from ..sock.sysctl import HZ
from ..wire.ipv4 import IPPROTO_TCP
from ..wire.tcp import (
    TCPHDR_ACK,
    TCPHDR_FIN,
    TCPHDR_PSH,
    TCPHDR_RST,
    TCPHDR_SYN,
    TCPHDR_URG,
    TcpOptions,
    emit_aligned_timestamp,
    tcp_build_header,
)
from .sock import (
    CA_EVENT_CWND_RESTART,
    CA_EVENT_TX_START,
    ICSK_ACK_PUSHED,
    ICSK_ACK_SCHED,
    ICSK_ACK_TIMER,
    ICSK_TIME_LOSS_PROBE,
    TCP_ATO_MIN,
    TCP_CA_CWR,
    TCP_CA_LOSS,
    TCP_CA_OPEN,
    TCP_CA_RECOVERY,
    TCP_DELACK_MAX,
    TCP_DELACK_MIN,
    TCP_INIT_CWND,
    TCP_NAGLE_CORK,
    TCP_NAGLE_OFF,
    TCP_NAGLE_PUSH,
    TCP_TIMEOUT_INIT,
    TCP_TIMEOUT_MIN,
    TcpSkbCb,
    TcpSock,
    inet_csk_in_pingpong_mode,
    inet_csk_inc_pingpong_cnt,
    tcp_ts,
)
from .timer import (
    sk_reset_timer,
    tcp_check_probe_timer,
    tcp_delack_timer,
    tcp_rearm_rto,
    tcp_reset_xmit_timer,
    tcp_rto_current,
    tcp_rto_delta,
)

if TYPE_CHECKING:
    from ..stats.trace import Tracer

__all__ = [
    "MAX_TCP_HEADER",
    "sk_stream_memory_free",
    "tcp_current_mss",
    "tcp_event_data_sent",
    "tcp_jiffies32",
    "tcp_mark_urg",
    "tcp_push",
    "tcp_packets_in_flight",
    "tcp_push_pending_frames",
    "tcp_retransmit_skb",
    "tcp_schedule_loss_probe",
    "tcp_send_loss_probe",
    "tcp_set_xmit_timer",
    "tcp_sack_blocks",
    "tcp_set_window_clamp",
    "tcp_send_ack",
    "tcp_send_active_reset",
    "tcp_send_fin",
    "tcp_send_mss",
    "tcp_stream_alloc_skb",
    "tcp_sync_mss",
    "tcp_transmit_skb",
    "tcp_urg_mode",
    "tcp_write_xmit",
    "tso_fragment",
]

#: ``MAX_TCP_HEADER``: ``L1_CACHE_ALIGN(128 + MAX_HEADER)`` with this tree's LL_MAX_HEADER 128.
MAX_TCP_HEADER: Final = 320
U32: Final = 0xFFFFFFFF


#: ``INITIAL_JIFFIES`` (include/linux/jiffies.h): the jiffy counter starts 300 s before it
#: wraps, so that wrap-unsafe code fails early
INITIAL_JIFFIES: Final = (-300 * 1000) & U32


def usecs_to_jiffies(us: int) -> int:
    """``usecs_to_jiffies()`` (include/linux/jiffies.h) at ``HZ`` = 1000: rounded up."""
    return (us + 999) // 1000


def tcp_jiffies32(sk: TcpSock) -> int:
    """``tcp_jiffies32``: the host's jiffies (``HZ`` = 1000), 32 bits, from
    ``INITIAL_JIFFIES``."""
    # (+1 ns: a virtual time that float arithmetic left a hair below a millisecond boundary
    # has reached it — 0.03 s is 29.999999999999996 ms)
    return (int(sk.net.now * 1000 + 1e-6) + INITIAL_JIFFIES) & U32


# -- MSS and size goal ---------------------------------------------------------------------


def _net_header_len(sk: TcpSock) -> int:
    return 40 if sk.sk_family == AF_INET6 and not _v4_route(sk) else 20


def _v4_route(sk: TcpSock) -> bool:
    return isinstance(sk.sk_dst_cache, Rtable)


def tcp_mtu_to_mss(sk: TcpSock, pmtu: int) -> int:
    """``tcp_mtu_to_mss()``: payload per segment for a path MTU, fixed options excluded."""
    mss = pmtu - _net_header_len(sk) - 20
    if mss > sk.mss_clamp:
        mss = sk.mss_clamp
    mss -= sk.tcp_header_len - 20
    return max(mss, sk.net.sysctl_int("net.ipv4.tcp_min_snd_mss"))


def tcp_bound_to_half_wnd(sk: TcpSock, pktsize: int) -> int:
    """``tcp_bound_to_half_wnd()``: no packet larger than half the peer's largest window."""
    cutoff = sk.max_window >> 1 if sk.max_window > 536 else sk.max_window
    if cutoff and pktsize > cutoff:
        return max(cutoff, 68 - sk.tcp_header_len)
    return pktsize


def tcp_sync_mss(sk: TcpSock, pmtu: int) -> int:
    """``tcp_sync_mss()``: recompute ``mss_cache`` from the path MTU and the peer window."""
    mss = tcp_bound_to_half_wnd(sk, tcp_mtu_to_mss(sk, pmtu))
    sk.mss_cache = mss
    return mss


def tcp_current_mss(sk: TcpSock) -> int:
    """``tcp_current_mss()``: ``mss_cache``, less what the next segment's options take beyond
    the fixed ones ``mss_cache`` was sized for (``tcp_header_len``: the timestamps).  While
    the receiver holds out-of-order data, or owes a D-SACK, its segments carry SACK blocks
    (:func:`tcp_sack_blocks`: ``TCPOLEN_SACK_BASE_ALIGNED`` + ``TCPOLEN_SACK_PERBLOCK`` each,
    as many as the option space holds), and a full-sized segment would exceed the path MTU:
    with ``DF`` set ``ip_queue_xmit`` refuses it (``EMSGSIZE``) and the data never leaves."""
    mss_now = sk.mss_cache
    eff_sacks = len(sk.selective_acks) + (sk.duplicate_sack is not None)
    if eff_sacks:
        room = 3 if sk.tstamp_ok else 4
        mss_now -= 4 + 8 * min(eff_sacks, room)
    return mss_now


def tcp_xmit_size_goal(sk: TcpSock, mss_now: int, large_allowed: bool = True) -> int:
    """``tcp_xmit_size_goal()``: how big a write-queue skb may grow — ``gso_segs`` MSS-sized
    segments within ``sk_gso_max_size`` (bounded to half the peer window), at least one MSS."""
    if not large_allowed:
        return mss_now
    new_size_goal = tcp_bound_to_half_wnd(sk, sk.sk_gso_max_size)
    size_goal = sk.gso_segs * mss_now
    if new_size_goal < size_goal or new_size_goal >= size_goal + mss_now:
        sk.gso_segs = min(new_size_goal // mss_now, sk.sk_gso_max_segs)
        size_goal = sk.gso_segs * mss_now
    return max(size_goal, mss_now)


def tcp_send_mss(sk: TcpSock, flags: int = 0) -> tuple[int, int]:
    """``tcp_send_mss()``: ``(mss_now, size_goal)``; a ``MSG_OOB`` write builds skbs of one
    MSS (``large_allowed = !(flags & MSG_OOB)``)."""
    mss_now = tcp_current_mss(sk)
    return mss_now, tcp_xmit_size_goal(sk, mss_now, not flags & MSG_OOB)


# -- memory ----------------------------------------------------------------------------------


def sk_stream_memory_free(sk: TcpSock) -> bool:
    """``__sk_stream_memory_free()`` + ``tcp_stream_memory_free()``: below ``sk_sndbuf``, and
    fewer than ``TCP_NOTSENT_LOWAT`` bytes written but not yet sent."""
    if sk.sk_wmem_queued >= sk.sk_sndbuf:
        return False
    lowat = sk.notsent_lowat or sk.net.sysctl_int("net.ipv4.tcp_notsent_lowat")
    return sk.write_seq - sk.snd_nxt < lowat


def sk_mem_pages(amt: int) -> int:
    """``sk_mem_pages()``: whole pages covering ``amt`` bytes."""
    return (amt + 4095) >> 12


def sk_wmem_schedule(sk: TcpSock, size: int) -> bool:
    """``sk_wmem_schedule()`` (include/net/sock.h): make sure ``sk_forward_alloc`` covers
    ``size`` bytes, charging whole pages to TCP's pool (``__sk_mem_schedule``); False when
    ``tcp_mem`` refuses them."""
    delta = size - sk.sk_forward_alloc
    return delta <= 0 or __sk_mem_schedule(sk, delta)


def __sk_mem_schedule(sk: TcpSock, size: int) -> bool:
    """``__sk_mem_schedule()``: pre-charge the pages; take them back if refused."""
    amt = sk_mem_pages(size)
    sk.sk_forward_alloc += amt << 12
    if __sk_mem_raise_allocated(sk, size, amt):
        return True
    sk.sk_forward_alloc -= amt << 12
    return False


def __sk_mem_raise_allocated(sk: TcpSock, size: int, amt: int) -> bool:
    """``__sk_mem_raise_allocated()`` (net/core/sock.c) for a send: add ``amt`` pages to the
    host's ``tcp_memory_allocated`` and judge them against ``net.ipv4.tcp_mem`` (pages):
    under ``tcp_mem[0]`` fine (and memory pressure over); over ``[1]`` memory pressure; over
    ``[2]`` refused, unless the socket has less than ``tcp_wmem[0]`` queued, or — under
    pressure — uses less than its fair share of ``[2]``.  A refused socket's ``sk_sndbuf``
    is moderated (``sk_stream_moderate_sndbuf``), and it is given the pages anyway while it
    is over that smaller buffer (it will wait for space rather than fail)."""
    net = sk.net
    net.tcp_memory_allocated += amt
    allocated = net.tcp_memory_allocated
    limits = net.sysctl_vec("net.ipv4.tcp_mem")
    if allocated <= limits[0]:
        net.tcp_memory_pressure = False  # sk_leave_memory_pressure()
        return True
    if allocated > limits[1]:
        sk.enter_memory_pressure()
    if allocated <= limits[2]:
        if sk.sk_wmem_queued < net.sysctl_vec("net.ipv4.tcp_wmem")[0]:
            return True  # a minimum buffer is guaranteed under pressure
        if not net.tcp_memory_pressure:
            return True
        sockets = sum(1 for other in net.sockets if other.sk_protocol == sk.sk_protocol)
        usage = sk_mem_pages(sk.sk_wmem_queued + sk.sk_rmem_alloc + sk.sk_forward_alloc)
        if limits[2] > max(sockets, 1) * usage:
            return True  # below the average: may still grow
    # suppress_allocation:
    sk_stream_moderate_sndbuf(sk)
    if sk.sk_wmem_queued + size >= sk.sk_sndbuf:
        return True  # over the (moderated) buffer: the caller will wait, not fail
    net.tcp_memory_allocated -= amt
    return False


def sk_forced_mem_schedule(sk: TcpSock, size: int) -> None:
    """``sk_forced_mem_schedule()`` (net/ipv4/tcp_output.c): charge the pages whatever
    ``tcp_mem`` says — for the first skb of an empty socket, a FIN, a split — entering memory
    pressure when over ``tcp_mem[1]``."""
    delta = size - sk.sk_forward_alloc
    if delta <= 0:
        return
    amt = sk_mem_pages(delta)
    sk.sk_forward_alloc += amt << 12
    net = sk.net
    net.tcp_memory_allocated += amt
    if net.tcp_memory_allocated > net.sysctl_vec("net.ipv4.tcp_mem")[1]:
        sk.enter_memory_pressure()


def tcp_wmem_schedule(sk: TcpSock, copy: int) -> int:
    """``tcp_wmem_schedule()`` (net/ipv4/tcp.c): how much of ``copy`` the socket may queue
    now — all of it if the pages are granted; else, so that a socket with little queued
    still progresses, what ``tcp_wmem[0]`` leaves is forced in, and the copy is trimmed to
    ``sk_forward_alloc`` (0: wait for memory)."""
    if sk_wmem_schedule(sk, copy):
        return copy
    left = sk.net.sysctl_vec("net.ipv4.tcp_wmem")[0] - sk.sk_wmem_queued
    if left > 0:
        sk_forced_mem_schedule(sk, min(left, copy))
    return min(copy, sk.sk_forward_alloc)


def sk_mem_reclaim(sk: TcpSock) -> None:
    """``sk_mem_reclaim()``: give whole pages of ``sk_forward_alloc`` back to TCP's pool
    (``__sk_mem_reduce_allocated``), ending memory pressure below ``tcp_mem[0]``."""
    if sk.sk_forward_alloc >= 4096:
        _reclaim(sk, sk.sk_forward_alloc >> 12)


def sk_mem_reclaim_final(sk: TcpSock) -> None:
    """``sk_mem_reclaim_final()``: a dying (or reset) socket gives back every page."""
    if sk.sk_forward_alloc > 0:
        _reclaim(sk, sk_mem_pages(sk.sk_forward_alloc))
        sk.sk_forward_alloc = 0


def _reclaim(sk: TcpSock, pages: int) -> None:
    sk.sk_forward_alloc -= pages << 12
    net = sk.net
    net.tcp_memory_allocated -= pages
    if net.tcp_memory_pressure and net.tcp_memory_allocated < net.sysctl_vec("net.ipv4.tcp_mem")[0]:
        net.tcp_memory_pressure = False


def tcp_stream_alloc_skb(sk: TcpSock, force: bool) -> SkBuff | None:
    """``tcp_stream_alloc_skb()``: a payload-free skb with ``MAX_TCP_HEADER`` of headroom,
    ``CHECKSUM_PARTIAL``, truesize ``SKB_TRUESIZE(end)`` charged to the socket — forced
    (``sk_forced_mem_schedule``), or, without ``force``, only if ``tcp_mem`` grants it
    (``None`` otherwise: the caller waits for memory)."""
    skb = alloc_skb(
        MAX_TCP_HEADER, stats=sk.net.stats, layout=sk.net.skb_layout, gfp=sk.sk_allocation
    )
    skb.truesize = skb.layout.truesize(skb.end)
    if force:
        sk_forced_mem_schedule(sk, skb.truesize)
    elif not sk_wmem_schedule(sk, skb.truesize):
        kfree_skb(skb)
        return None
    skb_reserve(skb, MAX_TCP_HEADER)
    skb.ip_summed = CHECKSUM_PARTIAL
    return skb


# -- the chronographs (include/net/tcp.h, net/ipv4/tcp_output.c): tcpi_busy_time & co ------

#: ``enum tcp_chrono``: none; actively sending (a non-empty write queue); stalled by the
#: receive window; stalled by the send buffer — a larger value takes precedence
TCP_CHRONO_UNSPEC: Final = 0
TCP_CHRONO_BUSY: Final = 1
TCP_CHRONO_RWND_LIMITED: Final = 2
TCP_CHRONO_SNDBUF_LIMITED: Final = 3


def tcp_chrono_set(sk: TcpSock, new: int) -> None:
    """``tcp_chrono_set()``: charge the time since the last change to the chronograph that
    ran, and start ``new``."""
    now = tcp_jiffies32(sk)
    old = sk.chrono_type
    if old > TCP_CHRONO_UNSPEC:
        sk.chrono_stat[old - 1] += (now - sk.chrono_start) & U32
    sk.chrono_start = now
    sk.chrono_type = new


def tcp_chrono_start(sk: TcpSock, kind: int) -> None:
    """``tcp_chrono_start()``: a condition worth timing began; it takes over from a less
    interesting one (a lower ``enum tcp_chrono``)."""
    if kind > sk.chrono_type:
        tcp_chrono_set(sk, kind)


def tcp_chrono_stop(sk: TcpSock, kind: int) -> None:
    """``tcp_chrono_stop()``: a condition ended — with nothing queued or in flight the
    sender is idle; else, if it was the one being timed, it is just busy again."""
    if not sk.sk_write_queue and not sk.tcp_rtx_queue:
        tcp_chrono_set(sk, TCP_CHRONO_UNSPEC)
    elif kind == sk.chrono_type:
        tcp_chrono_set(sk, TCP_CHRONO_BUSY)


def tcp_chrono_stats(sk: TcpSock) -> tuple[int, int, int]:
    """``tcp_get_info_chrono_stats()``: ``tcpi_busy_time`` (all three together),
    ``tcpi_rwnd_limited`` and ``tcpi_sndbuf_limited``, in µs, the running one counted to
    now."""
    stats = list(sk.chrono_stat)
    current = sk.chrono_type
    if current > TCP_CHRONO_UNSPEC:
        stats[current - 1] += (tcp_jiffies32(sk) - sk.chrono_start) & U32
    busy, rwnd, sndbuf = (value * 1000 for value in stats)  # jiffies -> µs, HZ = 1000
    return busy + rwnd + sndbuf, rwnd, sndbuf


def tcp_skb_entail(sk: TcpSock, skb: SkBuff) -> None:
    """``tcp_skb_entail()``: put a new skb at the tail of the write queue at ``write_seq``;
    a write after an idle spell may restart the window (:func:`tcp_slow_start_after_idle_check`)."""
    skb.cb = TcpSkbCb(sk.write_seq, sk.write_seq, TCPHDR_ACK)
    queue = sk.sk_write_queue
    queue.append(skb)
    if len(queue) == 1 and not sk.chrono_type:  # tcp_add_write_queue_tail(): sending
        tcp_chrono_set(sk, TCP_CHRONO_BUSY)  # starts here (tcp_chrono_start, inlined)
    sk.sk_wmem_queued += skb.truesize
    sk.sk_forward_alloc -= skb.truesize
    if sk.nonagle & TCP_NAGLE_PUSH:
        sk.nonagle &= ~TCP_NAGLE_PUSH
    if not sk.packets_out:
        tcp_slow_start_after_idle_check(sk)


def tcp_slow_start_after_idle_check(sk: TcpSock) -> None:
    """``tcp_slow_start_after_idle_check()`` (include/net/tcp.h; RFC 2861 / RFC 5681 §4.1):
    with ``net.ipv4.tcp_slow_start_after_idle`` (1, the default) and nothing in flight, a
    sender idle for longer than the RTO restarts its window (:func:`tcp_cwnd_restart`)."""
    if sk.packets_out or not sk.net.sysctl_int("net.ipv4.tcp_slow_start_after_idle"):
        return
    delta = (tcp_jiffies32(sk) - sk.lsndtime) & U32
    if delta >= 0x80000000:
        return  # (s32) negative
    if delta > int(tcp_rto_current(sk) * 1000):
        tcp_cwnd_restart(sk, delta)


def tcp_cwnd_restart(sk: TcpSock, delta: int) -> None:
    """``tcp_cwnd_restart()`` (net/ipv4/tcp_output.c): ``ssthresh`` keeps the window's worth
    (:func:`tcp_current_ssthresh`); the window halves for every RTO of idleness, down to the
    initial window (``CA_EVENT_CWND_RESTART`` to the congestion control first)."""
    restart = min(TCP_INIT_CWND, sk.snd_cwnd)
    sk.ca_ops.cwnd_event(sk, CA_EVENT_CWND_RESTART)
    sk.snd_ssthresh = tcp_current_ssthresh(sk)
    cwnd = sk.snd_cwnd
    rto = int(tcp_rto_current(sk) * 1000)
    delta -= rto
    while delta > 0 and cwnd > restart:
        cwnd >>= 1
        delta -= rto
    sk.snd_cwnd = max(cwnd, restart)


def tcp_in_cwnd_reduction(sk: TcpSock) -> bool:
    """``tcp_in_cwnd_reduction()``: in CWR or Recovery, where PRR sets the window."""
    return bool((1 << sk.ca_state) & _CWND_REDUCTION_STATES)


def tcp_current_ssthresh(sk: TcpSock) -> int:
    """``tcp_current_ssthresh()``: ``ssthresh`` while reducing the window, else at least
    three quarters of the window (what an undo or an idle restart keeps)."""
    if tcp_in_cwnd_reduction(sk):
        return sk.snd_ssthresh
    cwnd = sk.snd_cwnd
    return max(sk.snd_ssthresh, (cwnd >> 1) + (cwnd >> 2))


_CWND_REDUCTION_STATES: Final = (1 << TCP_CA_CWR) | (1 << TCP_CA_RECOVERY)


def tcp_wmem_free_skb(sk: TcpSock, skb: SkBuff) -> None:
    """``tcp_wmem_free_skb()``: uncharge and free a queued skb."""
    sk.sk_wmem_queued -= skb.truesize
    sk.sk_forward_alloc += skb.truesize
    kfree_skb(skb)


# -- push ------------------------------------------------------------------------------------


def tcp_mark_push(sk: TcpSock, skb: SkBuff) -> None:
    """``tcp_mark_push()``: PSH on ``skb``; ``pushed_seq = write_seq``."""
    skb.cb.tcp_flags |= TCPHDR_PSH
    sk.pushed_seq = sk.write_seq


def tcp_mark_urg(sk: TcpSock, flags: int) -> None:
    """``tcp_mark_urg()`` (net/ipv4/tcp.c): a ``MSG_OOB`` write makes its last byte so far
    urgent — ``snd_up = write_seq``, one past it.  From now until ``snd_una`` reaches
    ``snd_up`` the socket is in urgent mode (:func:`tcp_urg_mode`)."""
    if flags & MSG_OOB:
        sk.snd_up = sk.write_seq


def tcp_urg_mode(sk: TcpSock) -> bool:
    """``tcp_urg_mode()`` (net/ipv4/tcp_output.c): urgent data not yet acknowledged.  Linux
    tests ``snd_una != snd_up``; ``tcp_ack`` keeps ``snd_up`` from falling behind
    ``snd_una``, so with netsim's unwrapped sequence numbers that is ``snd_up > snd_una``."""
    return sk.snd_up > sk.snd_una


def forced_push(sk: TcpSock) -> bool:
    """``forced_push()``: more than half the peer's largest window written since the last
    push."""
    return sk.write_seq > sk.pushed_seq + (sk.max_window >> 1)


def tcp_should_autocork(sk: TcpSock, skb: SkBuff, size_goal: int) -> bool:
    """``tcp_should_autocork()``: hold a small tail skb while earlier data is still in a
    device queue — TX completion will push it (``tcp_tsq_handler``).  The kernel compares
    ``refcount_read(&sk->sk_wmem_alloc) > skb->truesize``, and that refcount carries a bias
    of 1 (``sk_alloc``); netsim's ``sk_wmem_alloc`` has none, hence ``>=``: one queued
    segment of the same truesize is enough to cork the next small write."""
    return (
        skb.len < size_goal
        and bool(sk.net.sysctl_int("net.ipv4.tcp_autocorking"))
        and bool(sk.tcp_rtx_queue)
        and sk.sk_wmem_alloc >= skb.truesize
        and not skb.cb.eor
    )


def tcp_push(sk: TcpSock, flags: int, mss_now: int, nonagle: int, size_goal: int) -> None:
    """``tcp_push()``: mark PSH (unless ``MSG_MORE``), mark the urgent pointer
    (``MSG_OOB``), autocork, send what may go.  Autocorking may still hold an urgent tail
    skb (``tcp_should_autocork`` does not look at urgent mode), until TX completion; Nagle,
    ``TCP_CORK`` and ``MSG_MORE`` cannot (``tcp_nagle_test`` lets urgent mode through)."""
    if not sk.sk_write_queue:
        return
    skb = sk.sk_write_queue[-1]
    if not flags & MSG_MORE or forced_push(sk):
        tcp_mark_push(sk, skb)
    if flags & MSG_OOB:
        tcp_mark_urg(sk, flags)
    if tcp_should_autocork(sk, skb, size_goal):
        if not sk.autocork_throttled:
            sk.net.stats.TcpExtTCPAutoCorking += 1
            sk.autocork_throttled = True
        if sk.sk_wmem_alloc >= skb.truesize:  # TX completion may already have happened
            tracer = sk.net.stats.tracer
            if tracer is not None:
                tracer.emit(
                    "hold",
                    "tcp_push",
                    f"autocork: the tail skb is small (len {skb.len} < size_goal {size_goal}) "
                    f"and {sk.sk_wmem_alloc} B of earlier segments are still below the socket; "
                    "TX completion will push it",
                    {"skb": tracer.skb(skb), "len": skb.len},
                )
            return
    if flags & MSG_MORE:
        nonagle = TCP_NAGLE_CORK
    __tcp_push_pending_frames(sk, mss_now, nonagle)


def __tcp_push_pending_frames(sk: TcpSock, mss_now: int, nonagle: int) -> None:
    """``__tcp_push_pending_frames()``: write; if nothing could go and nothing is in flight,
    arm the zero-window probe."""
    if sk.sk_state == TCP_CLOSE:
        return
    if tcp_write_xmit(sk, mss_now, nonagle, False):
        tcp_check_probe_timer(sk)


def tcp_push_pending_frames(sk: TcpSock) -> None:
    """``tcp_push_pending_frames()``: with the socket's own Nagle setting."""
    if sk.sk_write_queue:
        __tcp_push_pending_frames(sk, tcp_current_mss(sk), sk.nonagle)


def tcp_push_one(sk: TcpSock, mss_now: int) -> None:
    """``tcp_push_one()``: send just the head of the write queue, Nagle aside."""
    tcp_write_xmit(sk, mss_now, TCP_NAGLE_PUSH, True)


# -- tcp_write_xmit --------------------------------------------------------------------------


def tcp_set_skb_tso_segs(skb: SkBuff, mss_now: int) -> int:
    """``tcp_set_skb_tso_segs()``: segments in the skb (pcount), ``gso_size`` if more than 1."""
    shinfo = skb.shinfo
    if skb.len <= mss_now:
        shinfo.gso_segs = 1
        shinfo.gso_size = 0
    else:
        shinfo.gso_segs = -(-skb.len // mss_now)
        shinfo.gso_size = mss_now
    return shinfo.gso_segs


def tcp_skb_pcount(skb: SkBuff) -> int:
    """``tcp_skb_pcount()``."""
    return skb.shinfo.gso_segs or 1


def tcp_packets_in_flight(sk: TcpSock) -> int:
    """``tcp_packets_in_flight()``: sent, not (S)ACKed, not given up as lost (a resent lost
    segment is in flight again: ``lost_out`` here counts only those not yet resent)."""
    return max(sk.packets_out - sk.sacked_out - sk.lost_out, 0)


def tcp_cwnd_test(sk: TcpSock) -> int:
    """``tcp_cwnd_test()``: segments the congestion window still allows (at most half of it
    per burst, at least one)."""
    in_flight = tcp_packets_in_flight(sk)
    cwnd = sk.snd_cwnd
    if in_flight >= cwnd:
        return 0
    halfcwnd = max(cwnd >> 1, 1)
    return min(halfcwnd, cwnd - in_flight)


def tcp_snd_wnd_test(sk: TcpSock, skb: SkBuff, cur_mss: int) -> bool:
    """``tcp_snd_wnd_test()``: the first segment of ``skb`` fits the peer's window."""
    cb: TcpSkbCb = skb.cb
    end_seq = cb.end_seq
    if skb.len > cur_mss:
        end_seq = cb.seq + cur_mss
    return end_seq <= sk.snd_una + sk.snd_wnd


def _minshall_check(sk: TcpSock) -> bool:
    return sk.snd_sml > sk.snd_una and sk.snd_sml <= sk.snd_nxt


def tcp_nagle_test(sk: TcpSock, skb: SkBuff, cur_mss: int, nonagle: int) -> bool:
    """``tcp_nagle_test()``: may this (last, small) skb go now?  Always in urgent mode and
    for a FIN."""
    if nonagle & TCP_NAGLE_PUSH:
        return True
    if skb.cb.tcp_flags & TCPHDR_FIN or sk.snd_up > sk.snd_una:  # tcp_urg_mode()
        return True
    return not tcp_nagle_check(skb.len < cur_mss, sk, nonagle)


def tcp_nagle_check(partial: bool, sk: TcpSock, nonagle: int) -> bool:
    """``tcp_nagle_check()``: True if Nagle's rules hold a partial segment back — it is
    partial, and the socket is corked, or Nagle is on and a small segment is still
    unacknowledged (Minshall's check)."""
    return partial and bool(
        nonagle & TCP_NAGLE_CORK or (not nonagle and sk.packets_out and _minshall_check(sk))
    )


def tcp_mss_split_point(sk: TcpSock, skb: SkBuff, mss_now: int, max_segs: int, nonagle: int) -> int:
    """``tcp_mss_split_point()``: how much of a multi-segment skb may go now."""
    seq: int = skb.cb.seq
    window = sk.snd_una + sk.snd_wnd - seq
    max_len = mss_now * max_segs
    if max_len <= window and skb is not sk.sk_write_queue[-1]:
        return max_len
    needed = min(skb.len, window)
    if max_len <= needed:
        return max_len
    partial = needed % mss_now
    # Linux asks tcp_nagle_check() about the partial tail, not tcp_nagle_test(): the latter
    # passes any skb of at least one MSS, so a corked (or Nagle-held) runt would leave
    if tcp_nagle_check(partial != 0, sk, nonagle):
        return needed - partial
    return needed


def tcp_tso_segs(sk: TcpSock, mss_now: int) -> int:
    """``tcp_tso_segs()`` / ``tcp_tso_autosize()`` (net/ipv4/tcp_output.c): how many MSS one
    skb may carry — about a millisecond at the pacing rate (``sk_pacing_shift`` 10), plus a
    share of ``gso_max_size`` that grows as the RTT shrinks (``tcp_tso_rtt_log``), at most
    ``gso_max_size``, at least ``tcp_min_tso_segs``; then ``sk_gso_max_segs``.  The RTT is
    the smallest sample seen (``rtt_min_us``), as ``tcp_min_rtt()``."""
    net = sk.net
    gso_max_size = sk.sk_gso_max_size + MAX_TCP_HEADER + 1
    nbytes = _pacing_rate(sk) >> 10
    # no sample yet: tcp_min_rtt() is ~0U, no share
    r = sk.rtt_min_us >> net.sysctl_int("net.ipv4.tcp_tso_rtt_log") if sk.rtt_min_us else 32
    if r < 32:
        nbytes += gso_max_size >> r
    nbytes = min(nbytes, gso_max_size)
    segs = max(nbytes // mss_now, net.sysctl_int("net.ipv4.tcp_min_tso_segs"))
    return min(segs, sk.sk_gso_max_segs)


def tcp_write_xmit(sk: TcpSock, mss_now: int, nonagle: int, push_one: int) -> bool:
    """``tcp_write_xmit()`` (spec §2.6): send write-queue skbs while the congestion window,
    the receive window, Nagle and TSQ allow.  In urgent mode every skb leaves as segments of
    one MSS (no ``tcp_mss_split_point``).  ``push_one``: 0 sends all it may, 1 one skb, 2 one
    skb as a tail loss probe (no new probe scheduled for it).  After sending, a tail loss
    probe is scheduled (:func:`tcp_schedule_loss_probe`).  Returns True when nothing was
    sent, nothing is in flight and data is waiting (the caller arms the probe timer)."""
    queue = sk.sk_write_queue
    sent = 0
    max_segs = tcp_tso_segs(sk, mss_now)
    is_cwnd_limited = is_rwnd_limited = False
    tracer = sk.net.stats.tracer
    while queue:
        skb = queue[0]
        cwnd_quota = tcp_cwnd_test(sk)
        if not cwnd_quota:
            if push_one != 2:
                is_cwnd_limited = True
                if tracer is not None:
                    _trace_hold(
                        sk,
                        skb,
                        f"the congestion window is full (packets_out {sk.packets_out}, "
                        f"snd_cwnd {sk.snd_cwnd})",
                    )
                break
            cwnd_quota = 1  # a loss probe goes out whatever the window says
        cwnd_quota = min(cwnd_quota, max_segs)
        missing = cwnd_quota * mss_now - skb.len
        if missing > 0:
            tcp_grow_skb(sk, skb, missing)
        tso_segs = tcp_set_skb_tso_segs(skb, mss_now)
        if not tcp_snd_wnd_test(sk, skb, mss_now):
            is_rwnd_limited = True
            if tracer is not None:
                _trace_hold(
                    sk,
                    skb,
                    f"the receiver's window has no room (snd_una {sk.snd_una} + snd_wnd "
                    f"{sk.snd_wnd} < end of the first MSS)",
                )
            break
        last = skb is queue[-1]
        if tso_segs == 1 and not tcp_nagle_test(
            sk, skb, mss_now, nonagle if last else TCP_NAGLE_PUSH
        ):
            if tracer is not None:
                _trace_hold(sk, skb, _nagle_reason(sk, skb, mss_now, nonagle))
            break
        limit = mss_now
        if tso_segs > 1 and not sk.snd_up > sk.snd_una:  # not tcp_urg_mode()
            limit = tcp_mss_split_point(
                sk, skb, mss_now, cwnd_quota, nonagle if last else TCP_NAGLE_PUSH
            )
        if skb.len > limit:
            tso_fragment(sk, skb, limit, mss_now)
            tso_segs = tcp_set_skb_tso_segs(skb, mss_now)
        if tcp_small_queue_check(sk, skb):
            if tracer is not None:
                _trace_hold(
                    sk,
                    skb,
                    f"TSQ: {sk.sk_wmem_alloc} B of earlier segments are still below the "
                    "socket; TX completion resumes",
                )
            break
        if skb.cb.seq == skb.cb.end_seq:
            break
        if tracer is not None:
            _trace_transmit(sk, skb, mss_now, last, nonagle)
        tcp_transmit_skb(sk, skb, clone_it=True)
        tcp_event_new_data_sent(sk, skb)
        if skb.len < tso_segs * mss_now:
            sk.snd_sml = skb.cb.end_seq
        sent += tso_segs
        if push_one:
            break
    chrono = sk.chrono_type
    if is_rwnd_limited:
        if chrono < TCP_CHRONO_RWND_LIMITED:
            tcp_chrono_set(sk, TCP_CHRONO_RWND_LIMITED)
    elif chrono == TCP_CHRONO_RWND_LIMITED or (chrono and not queue and sk.snd_una == sk.snd_nxt):
        # tcp_chrono_stop(), called only where it changes something (nothing in flight:
        # the retransmit queue is empty)
        tcp_chrono_stop(sk, TCP_CHRONO_RWND_LIMITED)
    is_cwnd_limited |= sk.packets_out >= sk.snd_cwnd
    if sent:
        if push_one != 2:
            tcp_schedule_loss_probe(sk, False)
        tcp_cwnd_validate(sk, is_cwnd_limited)
        return False
    if is_cwnd_limited:
        tcp_cwnd_validate(sk, is_cwnd_limited)
    return not sk.packets_out and bool(queue)


def _trace_hold(sk: TcpSock, skb: SkBuff, reason: str) -> None:
    tracer = sk.net.stats.tracer
    if tracer is not None:
        tracer.emit(
            "hold",
            "tcp_write_xmit",
            reason,
            {"skb": tracer.skb(skb), "len": skb.len, "queued": len(sk.sk_write_queue)},
        )


def _nagle_reason(sk: TcpSock, skb: SkBuff, mss_now: int, nonagle: int) -> str:
    if nonagle & TCP_NAGLE_CORK:
        return (
            f"corked (TCP_CORK or MSG_MORE): the tail skb (len {skb.len} < mss {mss_now}) "
            "waits to be filled"
        )
    return (
        f"Nagle: the tail skb is small (len {skb.len} < mss {mss_now}) and an earlier small "
        f"segment is not yet acknowledged (packets_out {sk.packets_out})"
    )


def _trace_transmit(sk: TcpSock, skb: SkBuff, mss_now: int, last: bool, nonagle: int) -> None:
    tracer = sk.net.stats.tracer
    if tracer is None:
        return
    if skb.len >= mss_now:
        why = f"at least one full segment (len {skb.len} >= mss {mss_now})"
    elif not last:
        why = (
            "not the tail of the write queue: nothing more can be appended to it, so cork "
            "and Nagle do not hold it"
        )
    elif skb.cb.tcp_flags & TCPHDR_FIN:
        why = "carries the FIN"
    elif nonagle & TCP_NAGLE_OFF:
        why = "TCP_NODELAY: small segments go at once"
    elif nonagle & TCP_NAGLE_PUSH:
        why = "pushed: the cork was pulled, or a forced push"
    else:
        why = "Nagle allows it: nothing small is in flight"
    tracer.emit(
        "transmit",
        "tcp_write_xmit",
        why,
        {
            "skb": tracer.skb(skb),
            "seq": skb.cb.seq,
            "len": skb.len,
            "nr_frags": len(skb.shinfo.frags),
        },
    )


def tcp_grow_skb(sk: TcpSock, skb: SkBuff, amount: int) -> None:
    """``tcp_grow_skb()`` (net/ipv4/tcp_output.c, 6.18): the head of the write queue is
    shorter than what the window would let go at once, so pull up to ``amount`` bytes from
    the next skb into it (:func:`~netsim.skb.skb_shift`: frags move with their references, a
    frag split between the two takes one more, a frag merged into the previous one drops
    its own).  Sequence numbers move with the bytes; a next skb left empty is eaten
    (``tcp_eat_one_skb``: its flags and ``eor`` pass to ``skb``, it is unlinked and
    uncharged).  Not past an ``MSG_EOR`` boundary (``tcp_skb_can_collapse``)."""
    queue = sk.sk_write_queue  # skb is its head (tcp_send_head)
    if len(queue) < 2:  # tcp_skb_is_last()
        return
    nxt = queue[1]
    cb = skb.cb
    pure = SKBFL_PURE_ZEROCOPY
    if cb.eor or (skb.shinfo.flags & pure) != (nxt.shinfo.flags & pure):
        return
    nlen = min(amount, nxt.len)
    if not nlen or not skb_shift(skb, nxt, nlen):
        return
    ncb = nxt.cb
    cb.end_seq += nlen
    ncb.seq += nlen
    tracer = sk.net.stats.tracer
    if tracer is not None:
        _trace_grow(sk, skb, nxt, nlen, amount)
    if not nxt.len:
        cb.end_seq = ncb.end_seq  # a FIN on the eaten skb counts
        cb.tcp_flags |= ncb.tcp_flags
        cb.eor = ncb.eor
        del queue[1]
        tcp_wmem_free_skb(sk, nxt)


def _trace_grow(sk: TcpSock, skb: SkBuff, nxt: SkBuff, nlen: int, amount: int) -> None:
    tracer = sk.net.stats.tracer
    if tracer is None:
        return
    reason = (
        f"the head of the write queue is {amount} B short of what may go at once: {nlen} B "
        f"pulled from {tracer.skb(nxt)}, frags moving with their references (skb_shift's "
        "limit is MAX_SKB_FRAGS, not net.core.max_skb_frags)"
    )
    if not nxt.len:
        reason += f"; {tracer.skb(nxt)}, now empty, is eaten"
    tracer.emit(
        "grow",
        "tcp_grow_skb",
        reason,
        {
            "skb": tracer.skb(skb),
            "from": tracer.skb(nxt),
            "len": nlen,
            "nr_frags": len(skb.shinfo.frags),
        },
    )


def tcp_cwnd_validate(sk: TcpSock, is_cwnd_limited: bool) -> None:
    """``tcp_cwnd_validate()``: remember whether the window, not the application, limited
    this flight (and its peak size), so ACKs grow ``snd_cwnd`` only when it was used."""
    if (
        sk.snd_una >= sk.cwnd_usage_seq
        or is_cwnd_limited
        or (not sk.is_cwnd_limited and sk.packets_out > sk.max_packets_out)
    ):
        sk.is_cwnd_limited = is_cwnd_limited
        sk.max_packets_out = sk.packets_out
        sk.cwnd_usage_seq = sk.snd_nxt
    # the network starves, and the sender has nothing more queued while the application
    # waits for send-buffer room: the send buffer is what limits it
    if (
        not sk.sk_write_queue
        and sk.sock_nospace
        and sk.sk_state in (TCP_ESTABLISHED, TCP_CLOSE_WAIT)
        and not tcp_is_cwnd_limited(sk)
    ):
        tcp_chrono_start(sk, TCP_CHRONO_SNDBUF_LIMITED)


def tcp_is_cwnd_limited(sk: TcpSock) -> bool:
    """``tcp_is_cwnd_limited()``: the last flight filled the window — or, in slow start,
    the window is still under twice the largest flight."""
    if sk.is_cwnd_limited:
        return True
    if sk.snd_cwnd < sk.snd_ssthresh:
        return sk.snd_cwnd < 2 * sk.max_packets_out
    return False


def tcp_small_queue_check(sk: TcpSock, skb: SkBuff) -> bool:
    """``tcp_small_queue_check()`` (TSQ): stop while more than about a millisecond of data
    (at least two skbs) is still queued below the socket; TX completion resumes."""
    limit = max(2 * skb.truesize, _pacing_rate(sk) >> 10)
    limit = min(limit, sk.net.sysctl_int("net.ipv4.tcp_limit_output_bytes"))
    if sk.sk_wmem_alloc > limit and len(sk.tcp_rtx_queue) > 1:
        if not sk.autocork_throttled:
            sk.net.stats.TcpExtTSQThrottled += 1
        sk.autocork_throttled = True
        return True
    return False


def _pacing_rate(sk: TcpSock) -> int:
    """``tcp_update_pacing_rate()``: 2 (slow start) or 1.2 * cwnd * mss / srtt, bytes/s."""
    srtt = sk.srtt_us >> 3
    if not srtt:
        return 1 << 40
    ratio = 200 if sk.snd_cwnd < sk.snd_ssthresh // 2 else 120
    return sk.snd_cwnd * sk.mss_cache * ratio * 10_000 // srtt


def tcp_event_new_data_sent(sk: TcpSock, skb: SkBuff) -> None:
    """``tcp_event_new_data_sent()``: the skb moves to the retransmit queue; arm the RTO if
    it is the first in flight."""
    prior_packets = sk.packets_out
    sk.snd_nxt = skb.cb.end_seq
    sk.sk_write_queue.popleft()
    sk.tcp_rtx_queue.add(skb)
    pcount = tcp_skb_pcount(skb)
    sk.packets_out += pcount
    sk.prr_out += pcount  # counted in recovery only (tcp_enter_recovery zeroes it)
    stats = sk.net.stats
    stats.TcpExtTCPOrigDataSent += pcount
    if skb.len:  # a data skb (a lone FIN is not)
        stats.tx_nr_frags[len(skb.shinfo.frags)] += 1
    if not prior_packets or sk.rto_timer is None or sk.xmit_pending == ICSK_TIME_LOSS_PROBE:
        tcp_rearm_rto(sk)


def tso_fragment(sk: TcpSock, skb: SkBuff, length: int, mss_now: int) -> None:
    """``tso_fragment()``: cut a never-sent write-queue skb at ``length``; the tail becomes a
    new skb right after it.  PSH, FIN and EOR move to the second part; a frag straddling the
    cut is shared by both with one extra page reference (``skb_split``)."""
    tcp_fragment(sk, skb, length, mss_now, in_rtx_queue=False)


def tcp_fragment(
    sk: TcpSock, skb: SkBuff, length: int, mss_now: int, *, in_rtx_queue: bool
) -> None:
    """``tcp_fragment()``: cut ``skb`` at ``length`` into two skbs of the same queue — the
    write queue (``tso_fragment``'s case) or the retransmit queue (``__tcp_retransmit_skb``
    resending one MSS of a larger skb).  A sent skb may still have a clone below us: it is
    uncloned first with its truesize kept, its loss marks go to both halves, and
    ``packets_out`` (and ``retrans_out``) follow the new segment counts
    (``tcp_adjust_pcount``)."""
    if in_rtx_queue:
        skb_unclone_keeptruesize(skb)
        old_pcount = tcp_skb_pcount(skb)
    buff = tcp_stream_alloc_skb(sk, force=True)
    assert buff is not None
    sk.sk_wmem_queued += buff.truesize
    sk.sk_forward_alloc -= buff.truesize
    nlen = skb.len - length
    buff.truesize += nlen
    skb.truesize -= nlen
    old: TcpSkbCb = skb.cb
    new_cb = TcpSkbCb(old.seq + length, old.end_seq, old.tcp_flags)
    new_cb.eor = old.eor
    old.end_seq = new_cb.seq
    old.tcp_flags &= ~(TCPHDR_FIN | TCPHDR_PSH)
    old.eor = False
    buff.cb = new_cb
    skb_split(skb, buff, length)
    tcp_set_skb_tso_segs(skb, mss_now)
    tcp_set_skb_tso_segs(buff, mss_now)
    if in_rtx_queue:
        new_cb.lost = old.lost
        new_cb.retransmitted = old.retransmitted
        new_cb.sacked = old.sacked
        new_cb.sent_at = old.sent_at
        new_cb.sacked_retrans = old.sacked_retrans
        diff = tcp_skb_pcount(skb) + tcp_skb_pcount(buff) - old_pcount
        sk.packets_out += diff
        if old.sacked_retrans:
            sk.retrans_out += diff
        if old.sacked:
            sk.sacked_out += diff
        if old.lost:
            sk.lost_out += diff
        sk.tcp_rtx_queue.add(buff)
        return
    queue = sk.sk_write_queue
    for i, queued in enumerate(queue):
        if queued is skb:
            queue.insert(i + 1, buff)
            break


# -- building and sending segments -----------------------------------------------------------


def tcp_options_for(sk: TcpSock, flags: int) -> bytes:
    """The option block of a segment: timestamps when negotiated (``tcp_established_options``);
    SYNs carry MSS, SACK-permitted, timestamps and window scale (``tcp_syn_options``)."""
    if flags & TCPHDR_SYN:
        tsval = tcp_ts(sk)
        return TcpOptions(
            mss=sk.advmss,
            wscale=sk.rcv_wscale if sk.wscale_ok else None,
            sack_ok=sk.sack_ok,
            tsval=tsval if sk.tstamp_ok else None,
            tsecr=sk.ts_recent if sk.tstamp_ok else None,
        ).emit()
    if sk.selective_acks or sk.duplicate_sack is not None:
        return TcpOptions(
            tsval=tcp_ts(sk) if sk.tstamp_ok else None,
            tsecr=sk.ts_recent if sk.tstamp_ok else None,
            sack_blocks=tcp_sack_blocks(sk),
        ).emit()
    if sk.tstamp_ok:
        return TcpOptions(tsval=tcp_ts(sk), tsecr=sk.ts_recent).emit()
    return b""


def tcp_sack_blocks(sk: TcpSock) -> tuple[tuple[int, int], ...]:
    """The SACK blocks of the next segment (``tcp_established_options``): the pending D-SACK
    block first, then the receiver's SACK blocks, as many as the option space holds — 3
    beside timestamps, 4 without.  The D-SACK block is sent once (``rx_opt.dsack = 0``)."""
    room = 3 if sk.tstamp_ok else 4
    blocks = list(sk.selective_acks)
    dsack = sk.duplicate_sack
    if dsack is not None:
        blocks.insert(0, dsack)
        sk.duplicate_sack = None
    return tuple((start & U32, end & U32) for start, end in blocks[:room])


def tcp_transmit_skb(sk: TcpSock, skb: SkBuff, clone_it: bool, rcv_nxt: int | None = None) -> None:
    """``__tcp_transmit_skb()`` (spec §2.8): send a clone of ``skb`` (a ``pskb_copy`` if a
    previous clone is still alive) with a TCP header pushed in front: ports, sequence numbers,
    flags, the advertised window, options, a ``CHECKSUM_PARTIAL`` pseudo-header seed.  The
    clone is owned by the socket (``tcp_wfree``) until the device is done with it.

    In urgent mode a segment that starts before ``snd_up`` carries URG and the urgent
    pointer ``snd_up - seq`` (one past the urgent byte, BSD style), or 0xFFFF when that is
    64 KiB or more away (and the segment does not start that far behind ``snd_nxt``).  The
    flag is the header's alone, never the skb's ``tcp_flags``."""
    cb: TcpSkbCb = skb.cb
    if clone_it:
        cb.sent_at = sk.net.now
        skb = pskb_copy(skb) if skb_cloned(skb) else skb_clone(skb)
        cb = skb.cb
    flags = cb.tcp_flags
    # tcp_established_options(): the aligned timestamp alone, unless SACK blocks are due
    fast_ts = (
        sk.tstamp_ok
        and not flags & TCPHDR_SYN
        and not sk.selective_acks
        and sk.duplicate_sack is None
    )
    opts = b"" if fast_ts else tcp_options_for(sk, flags)
    hlen = 32 if fast_ts else 20 + len(opts)
    pcount = tcp_skb_pcount(skb)
    if pcount > 1:
        flags |= TCPHDR_PSH
    skb.data -= hlen
    skb.len += hlen
    th = skb.data
    skb.transport_header = th
    ack = sk.rcv_nxt if rcv_nxt is None else rcv_nxt
    window = min(sk.rcv_wnd, 65535) if flags & TCPHDR_SYN else tcp_select_window(sk)
    dst = sk.sk_dst_cache
    assert dst is not None
    v4 = type(dst) is Rtable
    # CHECKSUM_PARTIAL: the check field holds the pseudo-header sum (tcp_v4_send_check /
    # tcp_v6_send_check); the device or software checksum completes it over the segment
    seed = (dst.addr_sum + skb.len + IPPROTO_TCP) % 0xFFFF or 0xFFFF  # type: ignore[attr-defined]
    urg_ptr = 0
    snd_up = sk.snd_up
    if snd_up > sk.snd_una and cb.seq < snd_up:  # tcp_urg_mode(), before(seq, snd_up)
        if snd_up < cb.seq + 0x10000:
            urg_ptr = snd_up - cb.seq
            flags |= TCPHDR_URG
        elif cb.seq + 0xFFFF > sk.snd_nxt:
            urg_ptr = 0xFFFF
            flags |= TCPHDR_URG
    tcp_build_header(
        skb.head, th, sk.inet_sport, sk.inet_dport, cb.seq & U32,
        ack & U32 if flags & TCPHDR_ACK else 0, hlen >> 2, flags, window, seed, urg_ptr,
    )  # fmt: skip
    if fast_ts:
        emit_aligned_timestamp(skb.head, th + 20, tcp_ts(sk), sk.ts_recent)
    elif opts:
        skb.head[th + 20 : th + hlen] = opts
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = th
    skb.csum_offset = 16
    if pcount > 1:
        skb.shinfo.gso_type = SKB_GSO_TCPV4 if v4 else SKB_GSO_TCPV6
    skb.sk = sk
    skb.destructor = tcp_wfree
    sk.sk_wmem_alloc += skb.truesize
    stats = sk.net.stats
    stats.TcpOutSegs += pcount
    sk.segs_out += pcount
    if flags & TCPHDR_ACK:
        tcp_event_ack_sent(sk)  # first, as in __tcp_transmit_skb: it may deflate ``ato``
    if skb.len - hlen > 0:
        tcp_event_data_sent(sk)
        sk.data_segs_out += pcount
        sk.bytes_sent += skb.len - hlen
    try:
        if v4:
            # a SYN-ACK (a request socket's) and a timewait socket's ACK or RST leave from no
            # full socket: ip_build_and_send_pkt / ip_send_unicast_reply, ID 0 under DF
            socketless = (
                flags & (TCPHDR_SYN | TCPHDR_ACK) == TCPHDR_SYN | TCPHDR_ACK
                or sk.sk_state == TCP_TIME_WAIT
            )
            ip_queue_xmit(sk.net, sk, skb, dst, pcount, socketless)  # type: ignore[arg-type]
        else:
            ip6_xmit(sk.net, sk, skb, dst)  # type: ignore[arg-type]
    except OSError:
        pass  # a local drop: the data stays queued and the RTO will resend it


def tcp_event_data_sent(sk: TcpSock) -> None:
    """``tcp_event_data_sent()`` (net/ipv4/tcp_output.c): a segment with data leaves; with
    nothing in flight before it, the congestion control hears ``CA_EVENT_TX_START`` (CUBIC
    moves its epoch past the idle time); ``lsndtime`` is now.  Data sent less than ``ato``
    after the last data arrived (``icsk_ack.lrcvtime``) is a response: one more
    request/response turn (``inet_csk_inc_pingpong_cnt``), which makes the connection
    interactive at ``net.ipv4.tcp_pingpong_thresh``."""
    if not tcp_packets_in_flight(sk):
        sk.ca_ops.cwnd_event(sk, CA_EVENT_TX_START)
    now = tcp_jiffies32(sk)
    sk.lsndtime = now
    if ((now - sk.ack_lrcvtime) & U32) < sk.ack_ato:
        inet_csk_inc_pingpong_cnt(sk)


def tcp_wfree(skb: SkBuff) -> None:
    """``tcp_wfree()``: TX completion of a segment — release ``sk_wmem_alloc``; a socket that
    held back because of TSQ or autocorking writes again (``tcp_tsq_handler``)."""
    sk: TcpSock = skb.sk
    sk.sk_wmem_alloc -= skb.truesize
    if sk.autocork_throttled and not sk.sk_owned_by_user and not sk.net.closed:
        sk.autocork_throttled = False
        if sk.sk_state not in (TCP_CLOSE, TCP_LISTEN) and sk.sk_write_queue:
            sk.net.timers.add(sk.net.now, lambda: tcp_tsq_handler(sk))


def tcp_tsq_handler(sk: TcpSock) -> None:
    """``tcp_tsq_handler()``: push what TSQ or autocork held back."""
    if sk.sk_owned_by_user or sk.done:
        return
    tcp_push_pending_frames(sk)


def tcp_event_ack_sent(sk: TcpSock) -> None:
    """``tcp_event_ack_sent()`` (net/ipv4/tcp_output.c): an ACK went out.
    ``tcp_dec_quickack_mode()`` (include/net/tcp.h) spends one quick ACK if an ACK was
    scheduled, and leaving quick-ACK mode deflates ``ato`` to ``TCP_ATO_MIN``; then
    ``inet_csk_clear_xmit_timer(ICSK_TIME_DACK)``: the pending bits go, the timer stays
    armed and finds nothing to do (``tcp_delack_timer_handler`` checks ``ICSK_ACK_TIMER``)."""
    quick = sk.ack_quick
    if quick:
        pkts = 1 if sk.ack_pending & ICSK_ACK_SCHED else 0
        if pkts >= quick:
            sk.ack_quick = 0
            sk.ack_ato = TCP_ATO_MIN
        else:
            sk.ack_quick = quick - pkts
    sk.ack_pending = 0


# -- windows ---------------------------------------------------------------------------------


def tcp_win_from_space(sk: TcpSock, space: int) -> int:
    """``tcp_win_from_space()``: the part of a buffer that may be advertised as window."""
    return (space * sk.scaling_ratio) >> 8


def tcp_set_window_clamp(sk: TcpSock, val: int) -> None:
    """``tcp_set_window_clamp()`` (net/ipv4/tcp.c) for a non-zero ``val``: the clamp is at
    least ``SOCK_MIN_RCVBUF / 2``; shrinking it shrinks ``rcv_ssthresh``, growing it lets
    ``rcv_ssthresh`` grow up to the current window.  (``TCP_WINDOW_CLAMP`` and the receive
    path's ``tcp_measure_rcv_mss`` both set the clamp through it — without the floor, a tiny
    ``SO_RCVBUF`` could leave ``rcv_ssthresh`` below one segment and the window shut.)"""
    old = sk.window_clamp
    new = max(SOCK_MIN_RCVBUF // 2, val)
    if new == old:
        return
    sk.window_clamp = new
    if new < old:
        sk.rcv_ssthresh = min(sk.rcv_ssthresh, new)
    else:
        sk.rcv_ssthresh = max(min(sk.rcv_wnd, new), sk.rcv_ssthresh)


def tcp_space(sk: TcpSock) -> int:
    """``tcp_space()``: free receive buffer, as window."""
    return tcp_win_from_space(sk, sk.sk_rcvbuf - sk.sk_rmem_alloc)


def tcp_full_space(sk: TcpSock) -> int:
    """``tcp_full_space()``."""
    return tcp_win_from_space(sk, sk.sk_rcvbuf)


def tcp_receive_window(sk: TcpSock) -> int:
    """``tcp_receive_window()``: what is left of the window last advertised."""
    win = sk.rcv_wup + sk.rcv_wnd - sk.rcv_nxt
    return max(win, 0)


def __tcp_select_window(sk: TcpSock) -> int:
    """``__tcp_select_window()``: the window to offer now (never beyond ``rcv_ssthresh``;
    zero when less than an MSS or a sixteenth of the buffer is free)."""
    mss = sk.ack_rcv_mss
    ratio = sk.scaling_ratio
    rcvbuf = sk.sk_rcvbuf
    free_space = ((rcvbuf - sk.sk_rmem_alloc) * ratio) >> 8  # tcp_space()
    allowed_space = (rcvbuf * ratio) >> 8  # tcp_full_space()
    full_space = min(sk.window_clamp, allowed_space)
    if mss > full_space:
        mss = full_space
        if mss <= 0:
            return 0
    if free_space < (full_space >> 1):
        sk.ack_quick = 0
        free_space &= ~((1 << sk.rcv_wscale) - 1)
        if free_space < (allowed_space >> 4) or free_space < mss:
            return 0
    free_space = min(free_space, sk.rcv_ssthresh)
    if sk.rcv_wscale:
        step = 1 << sk.rcv_wscale
        return -(-free_space // step) * step
    window = sk.rcv_wnd
    if window <= free_space - mss or window > free_space:
        window = (free_space // mss) * mss
    elif mss == full_space and free_space > window + (full_space >> 1):
        window = free_space
    return window


def tcp_select_window(sk: TcpSock) -> int:
    """``tcp_select_window()``: choose the window, never shrinking what was offered; record
    it (``rcv_wnd``, ``rcv_wup``) and return it scaled for the header."""
    old_win = sk.rcv_wnd
    cur_win = max(sk.rcv_wup + old_win - sk.rcv_nxt, 0)  # tcp_receive_window()
    new_win = __tcp_select_window(sk)
    stats = sk.net.stats
    if new_win < cur_win:
        if new_win == 0:
            stats.TcpExtTCPWantZeroWindowAdv += 1
        step = 1 << sk.rcv_wscale
        new_win = -(-cur_win // step) * step
    sk.rcv_wnd = new_win
    sk.rcv_wup = sk.rcv_nxt
    new_win = min(new_win, 65535 << sk.rcv_wscale) >> sk.rcv_wscale
    if new_win == 0 and old_win:
        stats.TcpExtTCPToZeroWindowAdv += 1
    elif old_win == 0 and new_win:
        stats.TcpExtTCPFromZeroWindowAdv += 1
    return new_win


# -- control segments ------------------------------------------------------------------------


def _control_skb(sk: TcpSock, seq: int, flags: int, role: str) -> SkBuff:
    """A data-free skb for a control segment; a trace names it by ``role``."""
    stats = sk.net.stats
    skb = alloc_skb(MAX_TCP_HEADER, stats=stats, layout=sk.net.skb_layout)
    skb_reserve(skb, MAX_TCP_HEADER)
    skb.cb = TcpSkbCb(seq, seq, flags)
    tracer = stats.tracer
    if tracer is not None:
        tracer.set_role(skb, role)
    return skb


def tcp_send_ack(sk: TcpSock) -> None:
    """``__tcp_send_ack()``: a pure ACK (its own skb; nothing to retransmit)."""
    if sk.sk_state == TCP_CLOSE or sk.sk_dst_cache is None:
        return
    skb = _control_skb(sk, sk.snd_nxt, TCPHDR_ACK, "a pure ACK")
    tcp_transmit_skb(sk, skb, clone_it=False)


def tcp_delack_max(sk: TcpSock) -> int:
    """``tcp_delack_max()`` (net/ipv4/tcp_output.c), jiffies: ``icsk_delack_max``
    (``TCP_DELACK_MAX``) but below the minimum RTO — 199 ms with the default
    ``tcp_rto_min_us`` of 200 ms."""
    rto_min = usecs_to_jiffies(sk.net.sysctl_int("net.ipv4.tcp_rto_min_us"))
    return min(TCP_DELACK_MAX, max(rto_min, 2) - 1)


def tcp_send_delayed_ack(sk: TcpSock) -> None:
    """``tcp_send_delayed_ack()`` (net/ipv4/tcp_output.c): owe an ACK; send it within
    ``ato``.  Above ``TCP_DELACK_MIN`` the wait is capped at HZ/2 — ``TCP_DELACK_MAX`` when
    interactive (pingpong) or a push is pending — and at the smoothed RTT (at least
    ``TCP_DELACK_MIN``); always at :func:`tcp_delack_max`.  So an interactive connection
    keeps ``ato`` (40 ms after ``tcp_event_data_recv`` set it): pingpong mode only raises
    the cap.  An ACK already owed keeps its earlier deadline, and if that deadline is within
    a quarter of ``ato`` the ACK goes now."""
    ato = sk.ack_ato
    if ato > TCP_DELACK_MIN:
        max_ato = HZ // 2
        if sk.ack_pending & ICSK_ACK_PUSHED or inet_csk_in_pingpong_mode(sk):
            max_ato = TCP_DELACK_MAX
        if sk.srtt_us:
            rtt = max(usecs_to_jiffies(sk.srtt_us >> 3), TCP_DELACK_MIN)
            max_ato = min(max_ato, rtt)
        ato = min(ato, max_ato)
    ato = min(ato, tcp_delack_max(sk))
    now = sk.net.now
    deadline = now + ato / HZ
    if sk.ack_pending & ICSK_ACK_TIMER:
        if sk.delack_deadline <= now + (ato >> 2) / HZ:
            tcp_send_ack(sk)
            return
        deadline = min(deadline, sk.delack_deadline)
    sk.ack_pending |= ICSK_ACK_SCHED | ICSK_ACK_TIMER
    sk.delack_deadline = deadline
    sk.delack_timer = sk_reset_timer(sk, sk.delack_timer, deadline, lambda: tcp_delack_timer(sk))


def tcp_send_fin(sk: TcpSock) -> None:
    """``tcp_send_fin()``: FIN rides on the unsent tail skb, or a new (empty) skb carries it."""
    queue = sk.sk_write_queue
    if queue:
        tail = queue[-1]
        cb: TcpSkbCb = tail.cb
        cb.tcp_flags |= TCPHDR_FIN
        cb.end_seq += 1
        sk.write_seq += 1
    else:
        skb = tcp_stream_alloc_skb(sk, force=True)
        assert skb is not None
        tracer = sk.net.stats.tracer
        if tracer is not None:
            tracer.set_role(skb, "a FIN alone")
        tcp_skb_entail(sk, skb)
        cb = skb.cb
        cb.tcp_flags |= TCPHDR_FIN
        cb.end_seq += 1
        sk.write_seq += 1
    __tcp_push_pending_frames(sk, tcp_current_mss(sk), TCP_NAGLE_OFF)


def tcp_send_active_reset(sk: TcpSock) -> None:
    """``tcp_send_active_reset()``: abort the connection with an RST."""
    if sk.sk_dst_cache is None:
        return
    skb = _control_skb(sk, sk.snd_nxt, TCPHDR_ACK | TCPHDR_RST, "a reset")
    sk.net.stats.TcpOutRsts += 1
    tcp_transmit_skb(sk, skb, clone_it=False)


def tcp_send_syn(sk: TcpSock, synack: bool) -> None:
    """The SYN of ``tcp_connect()`` / the SYN-ACK of ``tcp_send_synack()``: a payload-free skb
    on the retransmit queue (the RTO resends it), sequence ``iss``."""
    skb = tcp_stream_alloc_skb(sk, force=True)
    assert skb is not None
    tracer = sk.net.stats.tracer
    if tracer is not None:
        tracer.set_role(skb, "the SYN-ACK" if synack else "the SYN")
    flags = TCPHDR_SYN | (TCPHDR_ACK if synack else 0)
    skb.cb = TcpSkbCb(sk.iss, sk.iss + 1, flags)
    sk.sk_wmem_queued += skb.truesize
    sk.sk_forward_alloc -= skb.truesize
    sk.write_seq = sk.iss + 1
    sk.snd_nxt = sk.iss + 1
    sk.pushed_seq = sk.write_seq
    sk.tcp_rtx_queue.add(skb)
    sk.packets_out += 1
    tcp_transmit_skb(sk, skb, clone_it=True)

    tcp_rearm_rto(sk)


def __tcp_retransmit_skb(sk: TcpSock, skb: SkBuff, segs: int) -> None:
    """``__tcp_retransmit_skb()``: resend at most ``segs`` MSS-sized segments from the head
    of a retransmit-queue skb (trimmed of what is already acknowledged, cut with
    ``tcp_fragment`` if longer, and bounded by the peer's window); marked as ever
    retransmitted (``TCPCB_EVER_RETRANS``, which Karn's rule reads) and counted in
    ``TcpRetransSegs``."""
    cb: TcpSkbCb = skb.cb
    if cb.seq < sk.snd_una:
        from .input import tcp_trim_head

        tcp_trim_head(sk, skb, sk.snd_una - cb.seq)
    cur_mss = tcp_current_mss(sk)
    length = cur_mss * max(segs, 1)
    avail_wnd = sk.snd_una + sk.snd_wnd - cb.seq
    if length > avail_wnd > 0:
        length = avail_wnd // cur_mss * cur_mss or avail_wnd
    if skb.len > length:
        tcp_fragment(sk, skb, length, cur_mss, in_rtx_queue=True)
    elif skb.len:
        before = tcp_skb_pcount(skb)
        diff = tcp_set_skb_tso_segs(skb, cur_mss) - before
        sk.packets_out += diff
        if cb.sacked_retrans:
            sk.retrans_out += diff
        if cb.lost:
            sk.lost_out += diff
        if cb.sacked:
            sk.sacked_out += diff
    pcount = tcp_skb_pcount(skb) if skb.len else 1
    cb.retransmitted = True
    sk.total_retrans += pcount
    sk.bytes_retrans += skb.len
    stats = sk.net.stats
    stats.TcpRetransSegs += pcount
    tracer = stats.tracer
    if tracer is not None:
        _trace_retransmit(sk, skb, tracer)
    tcp_transmit_skb(sk, skb, clone_it=True)


def _trace_retransmit(sk: TcpSock, skb: SkBuff, tracer: Tracer) -> None:
    state = sk.ca_state
    if state == TCP_CA_LOSS:
        why = "the retransmission timer fired (Loss state): the head of the retransmit queue again"
    elif state == TCP_CA_RECOVERY:
        why = "fast recovery: SACKs or duplicate ACKs marked this segment lost"
    else:
        why = "a tail loss probe: no ACK within the probe timeout, the last segment again"
    tracer.emit(
        "retransmit",
        "__tcp_retransmit_skb",
        why + " — a fresh clone of the skb the retransmit queue kept",
        {
            "skb": tracer.skb(skb),
            "seq": skb.cb.seq,
            "len": skb.len,
            "nr_frags": len(skb.shinfo.frags),
        },
    )


def tcp_retransmit_skb(sk: TcpSock, skb: SkBuff, segs: int = 1) -> None:
    """``tcp_retransmit_skb()``: :func:`__tcp_retransmit_skb`, and the copy is in flight
    (``TCPCB_SACKED_RETRANS``, ``retrans_out``; no longer waiting as lost: ``lost_out``).
    The first retransmission of an episode stamps ``retrans_stamp`` (timestamp clock), and
    each counts toward ``undo_retrans``."""
    __tcp_retransmit_skb(sk, skb, segs)
    cb: TcpSkbCb = skb.cb
    pcount = tcp_skb_pcount(skb)
    if not cb.sacked_retrans:
        cb.sacked_retrans = True
        sk.retrans_out += pcount
    if cb.lost:
        cb.lost = False
        sk.lost_out = max(sk.lost_out - pcount, 0)
    if not sk.retrans_stamp:
        sk.retrans_stamp = tcp_ts(sk)
    if sk.undo_retrans < 0:
        sk.undo_retrans = 0
    sk.undo_retrans += pcount


def tcp_schedule_loss_probe(sk: TcpSock, advancing_rto: bool) -> bool:
    """``tcp_schedule_loss_probe()`` (RACK-TLP, RFC 8985 §7): with SACK, in the Open or CWR
    state and ``net.ipv4.tcp_early_retrans`` 3 or 4, arm the timer for a probe two smoothed
    RTTs out — plus the minimum RTO when one segment is out (a delayed ACK may hold its ACK),
    else plus 2 ms; 1 s without an RTT sample — but never later than the RTO would fire."""
    packets_out = sk.packets_out
    state = sk.ca_state
    if not packets_out or not sk.sack_ok or (state != TCP_CA_OPEN and state != TCP_CA_CWR):
        return False
    net = sk.net
    early_retrans = net.sysctl_int("net.ipv4.tcp_early_retrans")
    if early_retrans != 3 and early_retrans != 4:
        return False
    srtt_us = sk.srtt_us
    if srtt_us:
        if packets_out == 1:
            timeout = ((srtt_us >> 2) + net.sysctl_int("net.ipv4.tcp_rto_min_us")) / 1e6
        else:
            timeout = (srtt_us >> 2) / 1e6 + TCP_TIMEOUT_MIN
    else:
        timeout = TCP_TIMEOUT_INIT
    rto_delta = tcp_rto_current(sk) if advancing_rto else tcp_rto_delta(sk)
    if 0 < rto_delta < timeout:
        timeout = rto_delta
    tcp_reset_xmit_timer(sk, ICSK_TIME_LOSS_PROBE, timeout, sk.rto_max)
    return True


def tcp_set_xmit_timer(sk: TcpSock) -> None:
    """``tcp_set_xmit_timer()`` (net/ipv4/tcp_input.c): a tail loss probe if one may be
    scheduled, else the RTO."""
    if not tcp_schedule_loss_probe(sk, True):
        tcp_rearm_rto(sk)


def tcp_send_loss_probe(sk: TcpSock) -> None:
    """``tcp_send_loss_probe()``: the probe timeout passed with no ACK.  Send new data if the
    window allows; else resend the last segment (the tail of the last skb, cut off at the
    MSS).  At most one probe is outstanding (``tlp_high_seq``); counted as
    ``TCPLossProbes``; the RTO is armed from now."""
    if sk.tlp_high_seq:
        tcp_rearm_rto(sk)
        return
    sk.tlp_retrans = False
    mss = tcp_current_mss(sk)
    queue = sk.sk_write_queue
    sent = False
    if queue and tcp_snd_wnd_test(sk, queue[0], mss):
        pcount = sk.packets_out
        tcp_write_xmit(sk, mss, TCP_NAGLE_OFF, 2)
        sent = sk.packets_out > pcount
        if not sent:
            tcp_rearm_rto(sk)
            return
    else:
        rtx = sk.tcp_rtx_queue
        if not rtx:
            sk.xmit_pending = 0
            return
        skb = rtx[len(rtx) - 1]
        pcount = tcp_skb_pcount(skb)
        if pcount > 1 and skb.len > (pcount - 1) * mss:
            tcp_fragment(sk, skb, (pcount - 1) * mss, mss, in_rtx_queue=True)
            skb = rtx[len(rtx) - 1]
        __tcp_retransmit_skb(sk, skb, 1)
        sk.tlp_retrans = True
    sk.tlp_high_seq = sk.snd_nxt
    sk.net.stats.TcpExtTCPLossProbes += 1
    sk.xmit_pending = 0  # so the RTO restarts from now
    tcp_rearm_rto(sk)


def tcp_send_probe0(sk: TcpSock) -> None:
    """``tcp_send_probe0()`` / ``tcp_xmit_probe_skb()``: a zero-window probe — an ACK with an
    old sequence number, which the peer must answer with its current window.  In urgent mode
    (``snd_up`` within 64 KiB after ``snd_una``) ``tcp_write_wakeup()`` sends a second,
    empty segment at ``snd_una`` first, so the urgent pointer reaches the peer; each counts
    in ``TcpExtTCPWinProbe``."""
    if sk.snd_una + 1 <= sk.snd_up <= sk.snd_una + 0xFFFF:
        _tcp_xmit_probe_skb(sk, True)
    _tcp_xmit_probe_skb(sk, False)


def _tcp_xmit_probe_skb(sk: TcpSock, urgent: bool) -> None:
    """``tcp_xmit_probe_skb()``: an empty ACK at ``snd_una`` (urgent) or ``snd_una - 1``."""
    skb = _control_skb(sk, sk.snd_una - (0 if urgent else 1), TCPHDR_ACK, "a window probe")
    sk.net.stats.TcpExtTCPWinProbe += 1
    tcp_transmit_skb(sk, skb, clone_it=False)
