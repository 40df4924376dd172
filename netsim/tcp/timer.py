"""TCP timers: retransmission (RTO, tail loss probe, RACK reordering timeout), delayed ACK,
zero-window probe, FIN_WAIT2 and TIME_WAIT (net/ipv4/tcp_timer.c).

All of them are entries in the host's timer queue, run by the host's timer task — so under a
``MockClock`` a 200 ms RTO costs no wall time.  As in Linux, one retransmit timer serves three
purposes (``icsk_pending``, here ``xmit_pending``): the RTO (RFC 6298 with Linux's 200 ms
minimum, ``net.ipv4.tcp_rto_min_us``, doubling on each expiry up to 120 s), the tail loss probe
(RACK-TLP, two smoothed RTTs after the last transmission) and RACK's reordering timeout.  On an
RTO the connection enters the Loss state (:func:`netsim.tcp.recovery.tcp_enter_loss`) and
resends the head; the rest of the lost data follows as ACKs open the window; F-RTO may find
the timeout spurious and undo it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from ..netns.timers import Timer
from ..sock.sock import TCP_CLOSE, TCP_FIN_WAIT2, sk_rethink_txhash
from ..wire.tcp import TCPHDR_PSH
from .sock import (
    ICSK_ACK_SCHED,
    ICSK_ACK_TIMER,
    ICSK_TIME_LOSS_PROBE,
    ICSK_TIME_REO_TIMEOUT,
    ICSK_TIME_RETRANS,
    TCP_ATO_MIN,
    TCP_CA_DISORDER,
    TCP_CA_LOSS,
    TCP_CA_RECOVERY,
    TCP_RTO_MAX,
    TCP_TIMEOUT_INIT,
    TCP_TIMEWAIT_LEN,
    TcpSkbCb,
    TcpSock,
    inet_csk_exit_pingpong_mode,
    inet_csk_in_pingpong_mode,
    tcp_skb_timestamp_ts,
    tcp_ts,
)

#: ``TCP_RTO_MIN`` in ms: the base of ``tcp_retries2``'s time model (a constant in Linux too,
#: whatever ``net.ipv4.tcp_rto_min_us`` says)
TCP_RTO_MIN_MS: Final = 200

__all__ = [
    "sk_reset_timer",
    "tcp_check_probe_timer",
    "tcp_clear_xmit_timers",
    "tcp_delack_timer",
    "tcp_keepalive_fin_wait2",
    "tcp_rearm_rto",
    "tcp_reset_xmit_timer",
    "tcp_retransmit_timer",
    "tcp_write_timer",
    "tcp_write_timeout",
    "tcp_write_wakeup",
    "tcp_xmit_retransmit_queue",
]


def sk_reset_timer(
    sk: TcpSock, timer: Timer | None, deadline: float, callback: Callable[[], None]
) -> Timer:
    """``sk_reset_timer()`` (``mod_timer``): arm for ``deadline``.  A timer already armed
    for an earlier time is left where it is, and its handler, firing early, re-arms for the
    deadline the socket now records — so pushing a deadline back (every ACK does, for the
    RTO and the delayed ACK) costs no timer-queue work."""
    if timer is not None and timer.active:
        if timer.deadline <= deadline:
            return timer
        timer.cancel()
    return sk.net.timers.add(deadline, callback)


def tcp_rto_current(sk: TcpSock) -> float:
    """``icsk_rto`` as the timer uses it: the RTO with its exponential backoff, at most
    the socket's ``tcp_rto_max()`` (``net.ipv4.tcp_rto_max_ms``, ``TCP_RTO_MAX_MS``)."""
    return min(sk.rto * (1 << sk.backoff), sk.rto_max)


def tcp_rto_delta(sk: TcpSock) -> float:
    """``tcp_rto_delta_us()``: how far in the future the RTO of the head of the retransmit
    queue falls (its send time plus the RTO)."""
    queue = sk.tcp_rtx_queue
    rto = tcp_rto_current(sk)
    if not queue:
        return rto
    cb: TcpSkbCb = queue[0].cb
    return cb.sent_at + rto - sk.net.now


def tcp_reset_xmit_timer(sk: TcpSock, what: int, when: float, max_when: float) -> None:
    """``tcp_reset_xmit_timer()`` / ``inet_csk_reset_xmit_timer()``: arm the retransmit timer
    for ``what`` (the RTO, the tail loss probe or the RACK reordering timeout: one timer,
    ``icsk_pending`` saying which) ``when`` seconds from now, at most ``max_when``."""
    when = min(when, max_when)
    sk.xmit_pending = what
    deadline = sk.rto_deadline = sk.net.now + when
    timer = sk.rto_timer
    if timer is not None and timer.active and timer.deadline <= deadline:
        return  # it fires early and re-arms for rto_deadline (sk_reset_timer)
    sk.rto_timer = sk_reset_timer(sk, timer, deadline, lambda: tcp_write_timer(sk))


def tcp_rearm_rto(sk: TcpSock) -> None:
    """``tcp_rearm_rto()``: no data in flight → no RTO; otherwise ``rto`` from now — or, when
    the timer stood for a loss probe or the reordering timeout, for what remains of the head's
    RTO.  As ``sk_reset_timer`` moves a kernel timer, a later deadline only updates
    ``rto_deadline``: the armed timer, firing early, re-arms itself for it
    (``tcp_write_timer_handler``)."""
    timer = sk.rto_timer
    if not sk.packets_out or sk.done:
        if timer is not None:
            timer.cancel()
            sk.rto_timer = None
        sk.xmit_pending = 0
        return
    rto = tcp_rto_current(sk)
    pending = sk.xmit_pending
    if pending in (ICSK_TIME_REO_TIMEOUT, ICSK_TIME_LOSS_PROBE):
        rto = max(tcp_rto_delta(sk), 1e-6)
    tcp_reset_xmit_timer(sk, ICSK_TIME_RETRANS, rto, sk.rto_max)
    probe = sk.probe_timer
    if probe is not None:
        probe.cancel()
        sk.probe_timer = None


def tcp_write_timer(sk: TcpSock) -> None:
    """``tcp_write_timer_handler()``: the retransmit timer fired — for the RACK reordering
    timeout, the tail loss probe or the RTO, as ``xmit_pending`` says.  Early (the deadline
    moved on since it was armed), it re-arms; while the user holds the socket, it retries a
    millisecond later (``TCP_DELACK_MIN`` would be Linux's)."""
    sk.rto_timer = None
    pending = sk.xmit_pending
    if sk.done or not pending:
        return
    net = sk.net
    if net.now < sk.rto_deadline:  # the deadline moved on since the timer was armed
        sk.rto_timer = net.timers.add(sk.rto_deadline, lambda: tcp_write_timer(sk))
        return
    if sk.sk_owned_by_user:
        sk.rto_timer = net.timers.add(net.now + 0.001, lambda: tcp_write_timer(sk))
        return
    # as tcp_write_timer_handler(): only the RTO clears icsk_pending before its handler; the
    # RACK and loss-probe handlers run with it still set, so that a tcp_rearm_rto() of theirs
    # arms the RTO for what remains of the head's (tcp_rto_delta_us), not a full one from now
    if pending == ICSK_TIME_REO_TIMEOUT:
        from .recovery import tcp_rack_reo_timeout

        tcp_rack_reo_timeout(sk)
    elif pending == ICSK_TIME_LOSS_PROBE:
        from .output import tcp_send_loss_probe

        tcp_send_loss_probe(sk)
    else:
        sk.xmit_pending = 0
        tcp_retransmit_timer(sk)


def tcp_clear_xmit_timers(sk: TcpSock) -> None:
    """``tcp_clear_xmit_timers()``."""
    for name in ("rto_timer", "delack_timer", "probe_timer", "syn_timer"):
        timer = getattr(sk, name)
        if timer is not None:
            timer.cancel()
            setattr(sk, name, None)


def tcp_retransmit_timer(sk: TcpSock) -> None:
    """``tcp_retransmit_timer()``: the oldest unacknowledged data timed out.  Counted
    (``TCPTimeouts``, and the first timeout of an episode by the state it ends:
    ``TCPSackRecoveryFail``, ``TCPLossFailures``, ``TCPSackFailures``, or the Reno ones); after
    ``tcp_retries2`` (``tcp_syn_retries`` for a handshake) the connection dies with
    ``ETIMEDOUT``; else the Loss state (:func:`~netsim.tcp.recovery.tcp_enter_loss`), the head
    resent, and the RTO doubled (``icsk_backoff``)."""
    if sk.done or not sk.packets_out or not sk.tcp_rtx_queue:
        return
    from .output import tcp_retransmit_skb
    from .recovery import tcp_enter_loss

    net = sk.net
    stats = net.stats
    stats.TcpExtTCPTimeouts += 1
    if tcp_write_timeout(sk):
        from .proto import tcp_done

        sk.sk_err = 110  # ETIMEDOUT
        tcp_done(sk)
        sk.sk_error_report()
        return
    if not sk.retransmits:
        state = sk.ca_state
        if state == TCP_CA_RECOVERY:
            if sk.sack_ok:
                stats.TcpExtTCPSackRecoveryFail += 1
            else:
                stats.TcpExtTCPRenoRecoveryFail += 1
        elif state == TCP_CA_LOSS:
            stats.TcpExtTCPLossFailures += 1
        elif state == TCP_CA_DISORDER or sk.sacked_out:
            if sk.sack_ok:
                stats.TcpExtTCPSackFailures += 1
            else:
                stats.TcpExtTCPRenoFailures += 1
    tcp_enter_loss(sk)
    # tcp_update_rto_stats()
    if not sk.retransmits:
        sk.total_rto_recoveries += 1
    sk.total_rto += 1
    sk.retransmits += 1
    tcp_retransmit_skb(sk, sk.tcp_rtx_queue[0], 1)
    sk.backoff = min(sk.backoff + 1, 15)
    tcp_reset_xmit_timer(sk, ICSK_TIME_RETRANS, tcp_clamp_rto_to_user_timeout(sk), sk.rto_max)


def _tcp_model_timeout(sk: TcpSock, boundary: int, rto_base_ms: int) -> int:
    """``tcp_model_timeout()``: how long ``boundary`` retransmissions take (ms) when the RTO
    starts at ``rto_base_ms`` and doubles up to the socket's ``tcp_rto_max``."""
    rto_max_ms = int(sk.rto_max * 1000)
    linear_backoff_thresh = (rto_max_ms // rto_base_ms).bit_length() - 1  # ilog2
    if boundary <= linear_backoff_thresh:
        return ((2 << boundary) - 1) * rto_base_ms
    return ((2 << linear_backoff_thresh) - 1) * rto_base_ms + (
        boundary - linear_backoff_thresh
    ) * rto_max_ms


def _retrans_elapsed_ms(sk: TcpSock) -> int:
    """Milliseconds since the first retransmission of this episode (``retrans_stamp``; the
    head's send time if it was cleared)."""
    now = tcp_ts(sk)
    start = sk.retrans_stamp
    if not start and sk.tcp_rtx_queue:
        cb: TcpSkbCb = sk.tcp_rtx_queue[0].cb
        start = tcp_skb_timestamp_ts(sk, cb)
    delta = (now - start) & 0xFFFFFFFF
    return delta - (1 << 32) if delta >= 0x80000000 else delta


def retransmits_timed_out(sk: TcpSock, boundary: int, timeout_ms: int) -> bool:
    """``retransmits_timed_out()``: has this episode of retransmissions lasted as long as
    ``boundary`` of them would from the minimum RTO (``TCP_RTO_MIN``; ``TCP_TIMEOUT_INIT``
    for a handshake) — or ``timeout_ms``, when given (``TCP_USER_TIMEOUT``)?  Time, not the
    count: a connection whose RTO grew large gives up after fewer retransmissions."""
    if not sk.retransmits:
        return False
    if not timeout_ms:
        base = int(TCP_TIMEOUT_INIT * 1000) if sk.sk_state in (2, 3) else TCP_RTO_MIN_MS
        timeout_ms = _tcp_model_timeout(sk, boundary, base)
    return _retrans_elapsed_ms(sk) - timeout_ms >= 0


def _tcp_orphan_retries(sk: TcpSock, alive: bool) -> int:
    """``tcp_orphan_retries()``: ``net.ipv4.tcp_orphan_retries``, whose 0 means 8 (about 100 s
    from the minimum RTO) for a connection that still sent recently."""
    retries = sk.net.sysctl_int("net.ipv4.tcp_orphan_retries")
    if retries == 0 and alive:
        retries = 8
    return retries


def tcp_write_timeout(sk: TcpSock) -> bool:
    """``tcp_write_timeout()`` (net/ipv4/tcp_timer.c): should the connection give up?  A
    handshake after ``TCP_SYNCNT`` / ``tcp_syn_retries`` retransmissions; an established
    connection once its retransmissions have lasted as long as ``tcp_retries2`` (15: about
    924.6 s) would from the minimum RTO — an orphan (closed by its owner) as long as
    ``tcp_orphan_retries`` would — or after ``TCP_USER_TIMEOUT`` milliseconds, if set."""
    net = sk.net
    expired = False
    if sk.sk_state in (2, 3):  # SYN_SENT, SYN_RECV
        retry_until = sk.syn_retries or net.sysctl_int("net.ipv4.tcp_syn_retries")
        expired = sk.retransmits >= retry_until
    else:
        retry_until = net.sysctl_int("net.ipv4.tcp_retries2")
        if sk.orphaned:
            retry_until = _tcp_orphan_retries(sk, tcp_rto_current(sk) < TCP_RTO_MAX)
    if not expired:
        expired = retransmits_timed_out(sk, retry_until, sk.user_timeout)
    if not expired and sk_rethink_txhash(sk):
        # a new path, maybe: a new txhash, so a new IPv6 flow label (and ECMP choice)
        net.stats.TcpExtTCPTimeoutRehash += 1
    return expired


def tcp_clamp_rto_to_user_timeout(sk: TcpSock) -> float:
    """``tcp_clamp_rto_to_user_timeout()``: the next RTO, but no later than when
    ``TCP_USER_TIMEOUT`` runs out (then as soon as possible)."""
    rto = tcp_rto_current(sk)
    if not sk.user_timeout:
        return rto
    remaining = sk.user_timeout - _retrans_elapsed_ms(sk)
    if remaining <= 0:
        return 0.001
    return min(rto, remaining / 1000)


def tcp_xmit_retransmit_queue(sk: TcpSock) -> None:
    """``tcp_xmit_retransmit_queue()``: resend lost skbs, oldest first, while the congestion
    window allows — counted as ``TCPFastRetrans`` in recovery, ``TCPSlowStartRetrans`` in the
    Loss state.  Resending the head restarts the RTO."""
    from .output import tcp_packets_in_flight, tcp_retransmit_skb, tcp_skb_pcount
    from .recovery import tcp_in_cwnd_reduction

    if not sk.lost_out:
        return
    stats = sk.net.stats
    queue = sk.tcp_rtx_queue
    rearm = False
    i = 0
    while i < len(queue) and sk.lost_out:
        skb = queue[i]
        i += 1
        cb: TcpSkbCb = skb.cb
        if not cb.lost:
            continue
        segs = sk.snd_cwnd - tcp_packets_in_flight(sk)
        if segs <= 0:
            break
        tcp_retransmit_skb(sk, skb, segs)  # a part cut off beyond ``segs`` stays lost
        pcount = tcp_skb_pcount(skb)
        if sk.ca_state == TCP_CA_LOSS:
            stats.TcpExtTCPSlowStartRetrans += pcount
        else:
            stats.TcpExtTCPFastRetrans += pcount
        if tcp_in_cwnd_reduction(sk):
            sk.prr_out += pcount
        if i == 1 and sk.xmit_pending != ICSK_TIME_REO_TIMEOUT:
            rearm = True
    if rearm:
        tcp_reset_xmit_timer(sk, ICSK_TIME_RETRANS, tcp_rto_current(sk), sk.rto_max)


def tcp_delack_timer(sk: TcpSock) -> None:
    """``tcp_delack_timer_handler()`` (net/ipv4/tcp_timer.c): send the ACK we held back
    (``DelayedACKs``).  The delay missed: outside pingpong mode ``ato`` doubles (capped at
    the RTO); an interactive connection leaves pingpong mode and ``ato`` drops back to
    ``TCP_ATO_MIN`` — the peer did not get its ACK on a response in time."""
    sk.delack_timer = None
    if sk.done or not sk.ack_pending & ICSK_ACK_TIMER:
        return  # the ACK went out meanwhile
    net = sk.net
    if net.now < sk.delack_deadline:
        sk.delack_timer = net.timers.add(sk.delack_deadline, lambda: tcp_delack_timer(sk))
        return
    sk.ack_pending &= ~ICSK_ACK_TIMER
    if not sk.ack_pending & ICSK_ACK_SCHED:
        return
    from .output import tcp_send_ack

    if not inet_csk_in_pingpong_mode(sk):
        sk.ack_ato = min(sk.ack_ato << 1, round(sk.rto * 1000))
    else:
        inet_csk_exit_pingpong_mode(sk)
        sk.ack_ato = TCP_ATO_MIN
    tcp_send_ack(sk)
    net.stats.TcpExtDelayedACKs += 1


def tcp_check_probe_timer(sk: TcpSock) -> None:
    """``tcp_check_probe_timer()``: nothing in flight but data waiting on a closed window —
    probe it."""
    if sk.packets_out or sk.probe_timer is not None or not sk.sk_write_queue or sk.done:
        return
    when = tcp_rto_current(sk)
    sk.probe_timer = sk.net.timers.add(sk.net.now + when, lambda: tcp_probe_timer(sk))


def tcp_probe_timer(sk: TcpSock) -> None:
    """``tcp_probe_timer()`` / ``tcp_send_probe0()``: :func:`tcp_write_wakeup`; while
    nothing is in flight and data still waits, back off and probe again."""
    sk.probe_timer = None
    if sk.done or sk.packets_out or not sk.sk_write_queue:
        sk.backoff = 0
        return
    tcp_write_wakeup(sk)
    if sk.packets_out or not sk.sk_write_queue:  # data went out
        sk.backoff = 0
        return
    sk.backoff = min(sk.backoff + 1, 15)
    tcp_check_probe_timer(sk)


def tcp_write_wakeup(sk: TcpSock) -> None:
    """``tcp_write_wakeup()`` (net/ipv4/tcp_output.c), what a probe timer sends: if the head
    of the write queue starts inside the peer's window, that data itself — cut to what the
    window takes, at most one MSS, and marked PSH — whatever Nagle, ``TCP_CORK``,
    ``MSG_MORE`` or sender-side SWS avoidance said (this is the "200 ms ceiling" on corked
    output that tcp(7) documents: a corked partial segment with nothing in flight arms the
    probe timer); else a zero-window probe (``tcp_xmit_probe_skb``)."""
    from .output import (
        tcp_current_mss,
        tcp_event_new_data_sent,
        tcp_send_probe0,
        tcp_set_skb_tso_segs,
        tcp_transmit_skb,
        tso_fragment,
    )

    if sk.sk_state == TCP_CLOSE:
        return
    skb = sk.sk_write_queue[0] if sk.sk_write_queue else None
    wnd_end = sk.snd_una + sk.snd_wnd
    if skb is None or skb.cb.seq >= wnd_end:
        tcp_send_probe0(sk)
        return
    cb: TcpSkbCb = skb.cb
    mss = tcp_current_mss(sk)
    seg_size = wnd_end - cb.seq
    if sk.pushed_seq < cb.end_seq:
        sk.pushed_seq = cb.end_seq
    if seg_size < cb.end_seq - cb.seq or skb.len > mss:
        seg_size = min(seg_size, mss)
        cb.tcp_flags |= TCPHDR_PSH
        tso_fragment(sk, skb, seg_size, mss)
    else:
        tcp_set_skb_tso_segs(skb, mss)
    cb.tcp_flags |= TCPHDR_PSH
    tcp_transmit_skb(sk, skb, clone_it=True)
    tcp_event_new_data_sent(sk, skb)


def tcp_keepalive_fin_wait2(sk: TcpSock) -> None:
    """``tcp_keepalive_timer()`` for an orphan in ``FIN_WAIT2`` (net/ipv4/tcp_timer.c): the
    part of :func:`~netsim.tcp.proto.tcp_fin_time` beyond TIME_WAIT's 60 s is over — the
    rest is waited as a timewait socket in the ``FIN_WAIT2`` substate; with nothing left
    (or ``TCP_LINGER2`` negative) the orphan gives up with a reset."""
    sk.timewait_timer = None
    from .output import tcp_send_active_reset
    from .proto import tcp_done, tcp_fin_time, tcp_time_wait

    if sk.sk_state != TCP_FIN_WAIT2 or not sk.orphaned:
        return
    if sk.linger2 >= 0:
        tmo = tcp_fin_time(sk) - TCP_TIMEWAIT_LEN
        if tmo > 0:
            tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)
            return
    tcp_send_active_reset(sk)
    tcp_done(sk)
