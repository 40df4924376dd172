"""TCP timers: retransmission (RTO), delayed ACK, zero-window probe, FIN_WAIT2 and
TIME_WAIT (net/ipv4/tcp_timer.c).

All of them are entries in the host's timer queue, run by the host's timer task — so under a
``MockClock`` a 200 ms RTO costs no wall time.  The RTO follows RFC 6298 with Linux's 200 ms
minimum (``net.ipv4.tcp_rto_min_us``), doubling on each expiry up to 120 s.  On expiry the
connection enters loss recovery the simple way (``tcp_enter_loss``): every unacknowledged skb
is marked lost, the congestion window drops to one segment, and the lost skbs are resent in
order as ACKs open the window.  That is enough that a connection never hangs; SACK-based
recovery is not modelled.
"""

from __future__ import annotations

from collections.abc import Callable

from ..netns.timers import Timer
from ..sock.sock import TCP_CLOSE
from ..wire.tcp import TCPHDR_PSH
from .sock import (
    CA_EVENT_LOSS,
    ICSK_ACK_TIMER,
    TCP_CA_DISORDER,
    TCP_CA_LOSS,
    TCP_DELACK_MAX,
    TCP_RTO_MAX,
    TcpSkbCb,
    TcpSock,
)

__all__ = [
    "sk_reset_timer",
    "tcp_check_probe_timer",
    "tcp_clear_xmit_timers",
    "tcp_delack_timer",
    "tcp_keepalive_fin_wait2",
    "tcp_rearm_rto",
    "tcp_retransmit_timer",
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


def tcp_rearm_rto(sk: TcpSock) -> None:
    """``tcp_rearm_rto()``: no data in flight → no RTO; otherwise ``rto`` from now.  As
    ``sk_reset_timer`` moves a kernel timer, a later deadline only updates ``rto_deadline``:
    the armed timer, firing early, re-arms itself for it (``tcp_write_timer_handler``)."""
    timer = sk.rto_timer
    if not sk.packets_out or sk.done:
        if timer is not None:
            timer.cancel()
            sk.rto_timer = None
        return
    rto = min(sk.rto * (1 << sk.backoff), TCP_RTO_MAX)
    deadline = sk.rto_deadline = sk.net.now + rto
    sk.rto_timer = sk_reset_timer(sk, timer, deadline, lambda: tcp_retransmit_timer(sk))
    probe = sk.probe_timer
    if probe is not None:
        probe.cancel()
        sk.probe_timer = None


def tcp_clear_xmit_timers(sk: TcpSock) -> None:
    """``tcp_clear_xmit_timers()``."""
    for name in ("rto_timer", "delack_timer", "probe_timer", "syn_timer"):
        timer = getattr(sk, name)
        if timer is not None:
            timer.cancel()
            setattr(sk, name, None)


def tcp_retransmit_timer(sk: TcpSock) -> None:
    """``tcp_retransmit_timer()``: the oldest unacknowledged data timed out."""
    sk.rto_timer = None
    if sk.done or not sk.packets_out or not sk.tcp_rtx_queue:
        return
    net = sk.net
    if net.now < sk.rto_deadline:  # the deadline moved on since the timer was armed
        sk.rto_timer = net.timers.add(sk.rto_deadline, lambda: tcp_retransmit_timer(sk))
        return
    if sk.sk_owned_by_user:
        sk.rto_timer = sk.net.timers.add(sk.net.now + 0.001, lambda: tcp_retransmit_timer(sk))
        return
    from .sock import TCP_INFINITE_SSTHRESH

    net = sk.net
    net.stats.TcpExtTCPTimeouts += 1
    if sk.sk_state in (2, 3):  # SYN_SENT, SYN_RECV: TCP_SYNCNT, else the sysctl
        limit = sk.syn_retries or net.sysctl_int("net.ipv4.tcp_syn_retries")
    else:
        limit = net.sysctl_int("net.ipv4.tcp_retries2")
    if sk.retransmits >= limit:
        from .proto import tcp_done

        sk.sk_err = 110  # ETIMEDOUT
        tcp_done(sk)
        sk.sk_error_report()
        return
    # tcp_enter_loss: the congestion control's ssthresh (Reno halves the window, CUBIC
    # takes 717/1024 of it) — unless a fast recovery under way already reduced it (and
    # until a first loss retransmission is acknowledged) — and cwnd restarts at one
    from .cong import tcp_ca_event, tcp_set_ca_state

    if (
        sk.ca_state <= TCP_CA_DISORDER
        or sk.high_seq <= sk.snd_una
        or (sk.ca_state == TCP_CA_LOSS and sk.retransmits == 0)
    ) and (sk.snd_ssthresh == TCP_INFINITE_SSTHRESH or sk.ca_state != TCP_CA_LOSS):
        sk.snd_ssthresh = sk.ca_ops.ssthresh(sk)
        tcp_ca_event(sk, CA_EVENT_LOSS)
    sk.snd_cwnd = 1
    sk.snd_cwnd_cnt = 0
    tcp_set_ca_state(sk, TCP_CA_LOSS)  # CUBIC forgets its curve
    sk.high_seq = sk.snd_nxt
    from .output import tcp_skb_pcount

    sk.retrans_out = 0
    sk.lost_out = 0
    for skb in sk.tcp_rtx_queue:
        # tcp_enter_loss(): what the peer SACKed is not lost (no reneging is modelled)
        cb: TcpSkbCb = skb.cb
        cb.lost = not cb.sacked
        if cb.lost:
            sk.lost_out += tcp_skb_pcount(skb)
    tcp_xmit_retransmit_queue(sk)
    sk.retransmits += 1
    sk.backoff = min(sk.backoff + 1, 15)
    tcp_rearm_rto(sk)


def tcp_xmit_retransmit_queue(sk: TcpSock) -> None:
    """``tcp_xmit_retransmit_queue()``: resend lost skbs, oldest first, while the congestion
    window allows."""
    from .output import tcp_packets_in_flight, tcp_retransmit_skb, tcp_skb_pcount

    stats = sk.net.stats
    for skb in list(sk.tcp_rtx_queue):
        cb: TcpSkbCb = skb.cb
        if not cb.lost:
            continue
        segs = sk.snd_cwnd - tcp_packets_in_flight(sk)
        if segs <= 0:
            break
        tcp_retransmit_skb(sk, skb, segs)  # a part cut off beyond ``segs`` stays lost
        pcount = tcp_skb_pcount(skb)
        cb.lost = False
        sk.lost_out = max(sk.lost_out - pcount, 0)
        sk.prr_out += pcount
        if sk.ca_state == TCP_CA_LOSS:
            stats.TcpExtTCPSlowStartRetrans += pcount
        else:
            stats.TcpExtTCPFastRetrans += pcount


def tcp_delack_timer(sk: TcpSock) -> None:
    """``tcp_delack_timer_handler()``: send the ACK we held back; back off ``ato``."""
    sk.delack_timer = None
    if sk.done or not sk.ack_pending & ICSK_ACK_TIMER:
        return  # the ACK went out meanwhile
    net = sk.net
    if net.now < sk.delack_deadline:
        sk.delack_timer = net.timers.add(sk.delack_deadline, lambda: tcp_delack_timer(sk))
        return
    from .output import tcp_send_ack

    if sk.ack_pingpong:
        sk.ack_ato = min(sk.ack_ato * 2, TCP_DELACK_MAX)
    else:
        sk.ack_pingpong = 0
        sk.ack_ato = 0.04
    sk.net.stats.TcpExtDelayedACKs += 1
    tcp_send_ack(sk)


def tcp_check_probe_timer(sk: TcpSock) -> None:
    """``tcp_check_probe_timer()``: nothing in flight but data waiting on a closed window —
    probe it."""
    if sk.packets_out or sk.probe_timer is not None or not sk.sk_write_queue or sk.done:
        return
    when = min(sk.rto * (1 << sk.backoff), TCP_RTO_MAX)
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
    """An orphan that waited ``tcp_fin_timeout`` in ``FIN_WAIT2`` gives up."""
    sk.timewait_timer = None
    from .proto import tcp_done

    tcp_done(sk)
