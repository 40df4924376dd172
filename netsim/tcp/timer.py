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

from .sock import (
    ICSK_ACK_SCHED,
    TCP_CA_LOSS,
    TCP_DELACK_MAX,
    TCP_RTO_MAX,
    TcpSock,
    tcb,
)

__all__ = [
    "tcp_check_probe_timer",
    "tcp_clear_xmit_timers",
    "tcp_delack_timer",
    "tcp_keepalive_fin_wait2",
    "tcp_rearm_rto",
    "tcp_retransmit_timer",
    "tcp_xmit_retransmit_queue",
]


def tcp_rearm_rto(sk: TcpSock) -> None:
    """``tcp_rearm_rto()``: no data in flight → no RTO; otherwise ``rto`` from now."""
    timer = sk.rto_timer
    if timer is not None:
        timer.cancel()
        sk.rto_timer = None
    if not sk.packets_out or sk.done:
        return
    rto = min(sk.rto * (1 << sk.backoff), TCP_RTO_MAX)
    sk.rto_timer = sk.net.timers.add(sk.net.now + rto, lambda: tcp_retransmit_timer(sk))
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
    if sk.sk_owned_by_user:
        sk.rto_timer = sk.net.timers.add(sk.net.now + 0.001, lambda: tcp_retransmit_timer(sk))
        return
    from .sock import TCP_INFINITE_SSTHRESH

    net = sk.net
    net.stats.TcpExtTCPTimeouts += 1
    limit = net.sysctl_int(
        "net.ipv4.tcp_syn_retries" if sk.sk_state in (2, 3) else "net.ipv4.tcp_retries2"
    )
    if sk.retransmits >= limit:
        from .proto import tcp_done

        sk.sk_err = 110  # ETIMEDOUT
        tcp_done(sk)
        sk.sk_error_report()
        return
    # tcp_enter_loss: Reno halves ssthresh, cwnd restarts at one segment
    if sk.ca_state != TCP_CA_LOSS or sk.retransmits == 0:
        in_flight = max(sk.packets_out, 2)
        if sk.snd_ssthresh == TCP_INFINITE_SSTHRESH or sk.ca_state != TCP_CA_LOSS:
            sk.snd_ssthresh = max(min(sk.snd_cwnd, in_flight) >> 1, 2)
    sk.snd_cwnd = 1
    sk.snd_cwnd_cnt = 0
    sk.ca_state = TCP_CA_LOSS
    sk.high_seq = sk.snd_nxt
    sk.retrans_out = 0
    for skb in sk.tcp_rtx_queue:
        tcb(skb).lost = True
    tcp_xmit_retransmit_queue(sk)
    sk.retransmits += 1
    sk.backoff = min(sk.backoff + 1, 15)
    tcp_rearm_rto(sk)


def tcp_xmit_retransmit_queue(sk: TcpSock) -> None:
    """``tcp_xmit_retransmit_queue()``: resend lost skbs, oldest first, while the congestion
    window allows."""
    from .output import tcp_retransmit_skb, tcp_skb_pcount

    for skb in list(sk.tcp_rtx_queue):
        cb = tcb(skb)
        if not cb.lost:
            continue
        if sk.retrans_out >= sk.snd_cwnd:
            break
        cb.lost = False
        tcp_retransmit_skb(sk, skb)
        _ = tcp_skb_pcount


def tcp_delack_timer(sk: TcpSock) -> None:
    """``tcp_delack_timer_handler()``: send the ACK we held back; back off ``ato``."""
    sk.delack_timer = None
    if sk.done or not sk.ack_pending & ICSK_ACK_SCHED:
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
    """``tcp_probe_timer()`` / ``tcp_send_probe0()``: try to send; if the window is still
    shut, send a window probe and back off."""
    sk.probe_timer = None
    if sk.done or sk.packets_out or not sk.sk_write_queue:
        sk.backoff = 0
        return
    from .output import tcp_push_pending_frames, tcp_send_probe0

    tcp_push_pending_frames(sk)
    if sk.packets_out > 0:  # the window opened: data went out
        sk.backoff = 0
        return
    tcp_send_probe0(sk)
    sk.backoff = min(sk.backoff + 1, 15)
    tcp_check_probe_timer(sk)


def tcp_keepalive_fin_wait2(sk: TcpSock) -> None:
    """An orphan that waited ``tcp_fin_timeout`` in ``FIN_WAIT2`` gives up."""
    sk.timewait_timer = None
    from .proto import tcp_done

    tcp_done(sk)
