"""Loss recovery: the SACK scoreboard, RACK-TLP, NewReno, fast recovery with PRR, the loss
state after a timeout with F-RTO, and undo (net/ipv4/tcp_recovery.c and the loss-recovery half
of net/ipv4/tcp_input.c, Linux 6.18).

How an ACK drives it (:func:`netsim.tcp.input.tcp_ack`): the ACK's SACK blocks tag the
retransmit queue (:func:`tcp_sacktag_write_queue`), the cumulative ACK frees what it covers,
and the ACK's *flags* (``FLAG_*``, the kernel's names and values) say what happened.  An ACK
that is "dubious" — a duplicate, or one that SACKs or D-SACKs something, or any ACK while the
congestion state is not Open — goes through :func:`tcp_fastretrans_alert`, the state machine
of ``icsk_ca_state``:

* **Open → Recovery**: loss detection marks segments lost — RACK (RFC 8985: a segment sent
  before one already delivered, and older than RACK's RTT plus a reordering window, is lost;
  the window is 0 once ``reordering`` segments are SACKed and no reordering was ever seen,
  else min RTT / 4, widened by D-SACKs) or, without SACK, NewReno (RFC 6582: the head after
  ``reordering`` duplicate ACKs, then after each partial ACK).  Then ``ssthresh`` comes from the
  congestion control, PRR (RFC 6937) paces the window down to it, and lost segments are resent.
* **Recovery → Open** once everything sent before recovery began (``high_seq``) is acknowledged;
  or earlier, by **undo**, when the retransmissions prove needless: every one D-SACKed
  (``TCPDSACKUndo``), or the timestamp echo shows an original arrived (``TCPPartialUndo``,
  ``TCPFullUndo``).
* **Loss** (after a retransmission timeout, :func:`tcp_enter_loss`): ``cwnd`` restarts at one
  more than what is in flight, and the lost segments are resent as ACKs arrive.  **F-RTO**
  (RFC 5682, SACK-enhanced, ``net.ipv4.tcp_frto``): after the first ACK advances, new data is
  sent instead of retransmissions; if the next ACK (S)ACKs never-retransmitted data, the
  timeout was spurious and is undone (``TCPSpuriousRTOs``, ``TCPLossUndo``).
* **CWR** after a tail loss probe that repaired a loss (``TCPLossProbeRecovery``).

The tail loss probe (:func:`netsim.tcp.output.tcp_schedule_loss_probe`) and the RACK reordering
timer share the retransmit timer with the RTO, as ``icsk_pending`` multiplexes them.

Where netsim is simpler than Linux: no ECN, no MTU probing, no rate
sampling (``rack.last_delivered`` becomes "one widening per round trip" by sequence number);
``lost_out`` counts only segments marked lost and not yet resent (Linux keeps ``TCPCB_LOST``
on a resent segment and adds ``retrans_out`` back in ``tcp_packets_in_flight``: the same count).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ..skb import SkBuff
from .cong import tcp_ca_event, tcp_set_ca_state
from .output import (
    tcp_current_mss,
    tcp_current_ssthresh,
    tcp_fragment,
    tcp_in_cwnd_reduction,
    tcp_packets_in_flight,
    tcp_skb_pcount,
    tcp_write_xmit,
)
from .sock import (
    CA_EVENT_LOSS,
    ICSK_TIME_REO_TIMEOUT,
    ICSK_TIME_RETRANS,
    TCP_CA_CWR,
    TCP_CA_DISORDER,
    TCP_CA_LOSS,
    TCP_CA_OPEN,
    TCP_CA_RECOVERY,
    TCP_INFINITE_SSTHRESH,
    TCP_NAGLE_OFF,
    TCP_TIMEOUT_MIN,
    TcpSkbCb,
    TcpSock,
    tcp_skb_timestamp_ts,
)
from .timer import tcp_rearm_rto, tcp_reset_xmit_timer, tcp_xmit_retransmit_queue

__all__ = [
    "FLAG_ACKED",
    "FLAG_CA_ALERT",
    "FLAG_DATA",
    "FLAG_DATA_ACKED",
    "FLAG_DATA_SACKED",
    "FLAG_DSACKING_ACK",
    "FLAG_FORWARD_PROGRESS",
    "FLAG_NOT_DUP",
    "FLAG_ORIG_SACK_ACKED",
    "FLAG_RETRANS_DATA_ACKED",
    "FLAG_SACK_RENEGING",
    "FLAG_SET_XMIT_TIMER",
    "FLAG_SND_UNA_ADVANCED",
    "FLAG_WIN_UPDATE",
    "tcp_check_sack_reneging",
    "tcp_check_sack_reordering",
    "tcp_cong_control",
    "tcp_current_ssthresh",
    "tcp_enter_loss",
    "tcp_enter_recovery",
    "tcp_fastretrans_alert",
    "tcp_in_cwnd_reduction",
    "tcp_mark_skb_lost",
    "tcp_process_tlp_ack",
    "tcp_rack_advance",
    "tcp_rack_mark_lost",
    "tcp_rack_reo_timeout",
    "tcp_rack_update_reo_wnd",
    "tcp_remove_reno_sacks",
    "tcp_sacktag_write_queue",
    "tcp_skb_spurious_retrans",
    "tcp_xmit_recovery",
]

# What an ACK did (net/ipv4/tcp_input.c)
FLAG_DATA: Final = 0x01  # the segment carried data
FLAG_WIN_UPDATE: Final = 0x02
FLAG_DATA_ACKED: Final = 0x04  # new data acknowledged
FLAG_RETRANS_DATA_ACKED: Final = 0x08  # ... some of it retransmitted
FLAG_SYN_ACKED: Final = 0x10
FLAG_DATA_SACKED: Final = 0x20  # new SACK
FLAG_ECE: Final = 0x40
FLAG_LOST_RETRANS: Final = 0x80  # a retransmission was found lost
FLAG_ORIG_SACK_ACKED: Final = 0x200  # never-retransmitted data (S)ACKed
FLAG_SND_UNA_ADVANCED: Final = 0x400
FLAG_DSACKING_ACK: Final = 0x800
FLAG_SET_XMIT_TIMER: Final = 0x1000  # re-arm the TLP or RTO timer
FLAG_SACK_RENEGING: Final = 0x2000  # snd_una advanced to a SACKed sequence
FLAG_DSACK_TLP: Final = 0x20000  # a D-SACK for the tail loss probe
FLAG_ACKED: Final = FLAG_DATA_ACKED | FLAG_SYN_ACKED
FLAG_NOT_DUP: Final = FLAG_DATA | FLAG_WIN_UPDATE | FLAG_ACKED
FLAG_CA_ALERT: Final = FLAG_DATA_SACKED | FLAG_ECE | FLAG_DSACKING_ACK
FLAG_FORWARD_PROGRESS: Final = FLAG_ACKED | FLAG_DATA_SACKED
#: tcp_fastretrans_alert()'s ``*rexmit`` answer, carried in the flag word (netsim)
REXMIT_LOST: Final = 1 << 24
REXMIT_NEW: Final = 1 << 25

#: ``net.ipv4.tcp_recovery`` bits (include/net/tcp.h)
TCP_RACK_STATIC_REO_WND: Final = 0x2
TCP_RACK_NO_DUPTHRESH: Final = 0x4
#: recoveries a widened RACK window lasts (``TCP_RACK_RECOVERY_THRESH``)
TCP_RACK_RECOVERY_THRESH: Final = 16


# -- congestion state helpers ----------------------------------------------------------------


def tcp_may_raise_cwnd(sk: TcpSock, flag: int) -> bool:
    """``tcp_may_raise_cwnd()``: grow only on in-order delivery — or on any delivery once the
    path is known to reorder more than ``net.ipv4.tcp_reordering``."""
    if flag & FLAG_DATA_ACKED:
        return True  # (FLAG_FORWARD_PROGRESS includes it)
    if sk.reordering > sk.net.sysctl_int("net.ipv4.tcp_reordering"):
        return bool(flag & FLAG_FORWARD_PROGRESS)
    return False


def tcp_cong_control(sk: TcpSock, ack: int, acked_sacked: int, flag: int, newly_lost: int) -> None:
    """``tcp_cong_control()``: in CWR or Recovery PRR sets the window
    (:func:`tcp_cwnd_reduction`); otherwise the congestion control may grow it."""
    if tcp_in_cwnd_reduction(sk):
        tcp_cwnd_reduction(sk, acked_sacked, newly_lost, flag)
    elif tcp_may_raise_cwnd(sk, flag):
        sk.ca_ops.cong_avoid(sk, ack, acked_sacked)  # tcp_cong_avoid()


def tcp_cwnd_reduction(sk: TcpSock, newly_acked_sacked: int, newly_lost: int, flag: int) -> None:
    """``tcp_cwnd_reduction()``: Proportional Rate Reduction (RFC 6937) — while more than
    ``ssthresh`` is in flight, send in proportion to what is delivered; below it, slow-start
    back up to it; at least the one fast retransmit when recovery begins."""
    if newly_acked_sacked <= 0 or not sk.prior_cwnd:
        return
    in_flight = tcp_packets_in_flight(sk)
    delta = sk.snd_ssthresh - in_flight
    sk.prr_delivered += newly_acked_sacked
    if delta < 0:
        dividend = sk.snd_ssthresh * sk.prr_delivered + sk.prior_cwnd - 1
        sndcnt = dividend // sk.prior_cwnd - sk.prr_out
    else:
        sndcnt = max(sk.prr_delivered - sk.prr_out, newly_acked_sacked)
        if flag & FLAG_SND_UNA_ADVANCED and not newly_lost:
            sndcnt += 1
        sndcnt = min(delta, sndcnt)
    sndcnt = max(sndcnt, 0 if sk.prr_out else 1)
    sk.snd_cwnd = max(in_flight + sndcnt, 1)


def tcp_init_cwnd_reduction(sk: TcpSock) -> None:
    """``tcp_init_cwnd_reduction()``: PRR from zero, ``ssthresh`` from the congestion
    control, the reduction lasting until what is sent now is acknowledged."""
    sk.high_seq = sk.snd_nxt
    sk.tlp_high_seq = 0
    sk.snd_cwnd_cnt = 0
    sk.prior_cwnd = sk.snd_cwnd
    sk.prr_delivered = 0
    sk.prr_out = 0
    sk.snd_ssthresh = sk.ca_ops.ssthresh(sk)


def tcp_end_cwnd_reduction(sk: TcpSock) -> None:
    """``tcp_end_cwnd_reduction()``: the window becomes ``ssthresh`` (unless undone)."""
    if sk.snd_ssthresh < TCP_INFINITE_SSTHRESH and (sk.ca_state == TCP_CA_CWR or sk.undo_marker):
        sk.snd_cwnd = sk.snd_ssthresh


def tcp_any_retrans_done(sk: TcpSock) -> bool:
    """``tcp_any_retrans_done()``: a retransmission is in flight, or the head was resent."""
    if sk.retrans_out:
        return True
    queue = sk.tcp_rtx_queue
    return bool(queue) and queue[0].cb.retransmitted


def tcp_try_keep_open(sk: TcpSock) -> None:
    """``tcp_try_keep_open()``: Open, or Disorder while something is SACKed, lost or resent."""
    state = TCP_CA_OPEN
    if sk.sacked_out or sk.lost_out or tcp_any_retrans_done(sk):
        state = TCP_CA_DISORDER
    if sk.ca_state != state:
        tcp_set_ca_state(sk, state)
        sk.high_seq = sk.snd_nxt


def tcp_try_to_open(sk: TcpSock, flag: int) -> None:
    """``tcp_try_to_open()`` (no ECN: never CWR from here)."""
    if not tcp_any_retrans_done(sk):
        sk.retrans_stamp = 0
    if sk.ca_state != TCP_CA_CWR:
        tcp_try_keep_open(sk)


def tcp_init_undo(sk: TcpSock) -> None:
    """``tcp_init_undo()``: remember where the reduction began and count retransmissions
    that a D-SACK may later prove needless (-1: none yet, as 0 means "undo now")."""
    sk.undo_marker = sk.snd_una
    sk.undo_retrans = sk.retrans_out
    if sk.tlp_high_seq and sk.tlp_retrans:
        sk.undo_retrans += 1
    if not sk.undo_retrans:
        sk.undo_retrans = -1


def tcp_enter_recovery(sk: TcpSock) -> None:
    """``tcp_enter_recovery()``: fast recovery begins — counted (``TCPSackRecovery`` or
    ``TCPRenoRecovery``), undo armed, the window reduction started unless one runs."""
    stats = sk.net.stats
    if not tcp_any_retrans_done(sk):
        sk.retrans_stamp = 0  # tcp_retrans_stamp_cleanup(): the clock starts with our resend
    if sk.sack_ok:
        stats.TcpExtTCPSackRecovery += 1
    else:
        stats.TcpExtTCPRenoRecovery += 1
    sk.prior_ssthresh = 0
    tcp_init_undo(sk)
    if not tcp_in_cwnd_reduction(sk):
        sk.prior_ssthresh = tcp_current_ssthresh(sk)
        tcp_init_cwnd_reduction(sk)
    tcp_set_ca_state(sk, TCP_CA_RECOVERY)


def tcp_mark_skb_lost(sk: TcpSock, skb: SkBuff) -> None:
    """``tcp_mark_skb_lost()``: not SACKed, so to be resent; a retransmission already in
    flight is lost again (``TCPLostRetransmit``)."""
    cb: TcpSkbCb = skb.cb
    if cb.sacked or cb.lost:
        return
    pcount = tcp_skb_pcount(skb)
    if cb.sacked_retrans:
        cb.sacked_retrans = False
        sk.retrans_out = max(0, sk.retrans_out - pcount)
        sk.net.stats.TcpExtTCPLostRetransmit += pcount
    cb.lost = True
    sk.lost_out += pcount


def tcp_timeout_mark_lost(sk: TcpSock) -> None:
    """``tcp_timeout_mark_lost()``: after a timeout the head is lost, and every segment not
    SACKed that was sent at least RACK's RTT ago; newer ones may still arrive.  A SACKed
    head means the receiver reneged — it threw away out-of-order data it had SACKed
    (``tcp_prune_ofo_queue``): every SACK mark is forgotten and everything is lost
    (``TCPSACKReneging``)."""
    queue = sk.tcp_rtx_queue
    is_reneg = bool(queue) and queue[0].cb.sacked
    if is_reneg:
        sk.net.stats.TcpExtTCPSACKReneging += 1
        sk.sacked_out = 0
    elif not sk.sack_ok:
        sk.sacked_out = 0  # tcp_reset_reno_sack()
    now = sk.net.now
    rack_rtt = sk.rack_rtt
    first = True
    for skb in queue:
        cb: TcpSkbCb = skb.cb
        if is_reneg:
            cb.sacked = False
        elif not first and rack_rtt - (now - cb.sent_at) > 0:
            continue
        first = False
        tcp_mark_skb_lost(sk, skb)


def tcp_check_sack_reneging(sk: TcpSock, flag: int) -> bool:
    """``tcp_check_sack_reneging()``: the cumulative ACK advanced to a segment we hold as
    SACKed — the receiver dropped data it had SACKed (or the scoreboard is briefly odd).
    Give it a little time for more ACKs: the retransmit timer in half a smoothed RTT
    (``srtt_us >> 4``; ``srtt_us`` is scaled by 8), at least 10 ms; if the head is still
    SACKed when it fires, :func:`tcp_timeout_mark_lost` forgets the SACKs and everything is
    resent.  True when the timer was set (the ACK is done with the state machine)."""
    if flag & FLAG_SACK_RENEGING and flag & FLAG_SND_UNA_ADVANCED:
        delay = max((sk.srtt_us >> 4) / 1e6, 0.01)
        tcp_reset_xmit_timer(sk, ICSK_TIME_RETRANS, delay, sk.rto_max)
        return True
    return False


def tcp_enter_loss(sk: TcpSock) -> None:
    """``tcp_enter_loss()`` (net/ipv4/tcp_input.c): a retransmission timeout.  Mark what is
    lost; cut ``ssthresh`` (through the congestion control) unless a reduction in this window
    already did, arming undo; the window restarts at one more than is in flight; a path
    that timed out while reordering was assumed large gets ``tcp_reordering`` back; F-RTO
    judges the timeout if the sysctl allows and this is a new episode or a repeated one."""
    net = sk.net
    state = sk.ca_state
    new_recovery = state < TCP_CA_RECOVERY
    tcp_timeout_mark_lost(sk)
    if (
        state <= TCP_CA_DISORDER
        or sk.high_seq <= sk.snd_una
        or (state == TCP_CA_LOSS and not sk.retransmits)
    ):
        sk.prior_ssthresh = tcp_current_ssthresh(sk)
        sk.prior_cwnd = sk.snd_cwnd
        sk.snd_ssthresh = sk.ca_ops.ssthresh(sk)
        tcp_ca_event(sk, CA_EVENT_LOSS)
        tcp_init_undo(sk)
    sk.snd_cwnd = tcp_packets_in_flight(sk) + 1
    sk.snd_cwnd_cnt = 0
    reordering = net.sysctl_int("net.ipv4.tcp_reordering")
    if state <= TCP_CA_DISORDER and sk.sacked_out >= reordering:
        sk.reordering = min(sk.reordering, reordering)
    tcp_set_ca_state(sk, TCP_CA_LOSS)
    sk.high_seq = sk.snd_nxt
    sk.tlp_high_seq = 0
    sk.frto = bool(net.sysctl_int("net.ipv4.tcp_frto")) and (new_recovery or sk.retransmits > 0)


# -- undo ------------------------------------------------------------------------------------


def tcp_packet_delayed(sk: TcpSock) -> bool:
    """``tcp_packet_delayed()``: this ACK's timestamp echo is older than our first
    retransmission — it acknowledges an original, which was delayed, not lost."""
    if sk.retrans_stamp:
        tsecr = sk.rcv_tsecr
        return bool(tsecr) and ((tsecr - sk.retrans_stamp) & 0xFFFFFFFF) >= 0x80000000
    # no retransmission yet; a non-SACK connection that reached high_seq cleared the stamp
    return sk.sack_ok or sk.snd_una < sk.high_seq


def tcp_may_undo(sk: TcpSock) -> bool:
    """``tcp_may_undo()``."""
    return bool(sk.undo_marker) and (not sk.undo_retrans or tcp_packet_delayed(sk))


def tcp_undo_cwnd_reduction(sk: TcpSock, unmark_loss: bool) -> None:
    """``tcp_undo_cwnd_reduction()``: restore the window and ``ssthresh`` from before the
    reduction; with ``unmark_loss``, nothing is lost after all."""
    if unmark_loss:
        for skb in sk.tcp_rtx_queue:
            skb.cb.lost = False
        sk.lost_out = 0
    if sk.prior_ssthresh:
        sk.snd_cwnd = sk.ca_ops.undo_cwnd(sk)
        if sk.prior_ssthresh > sk.snd_ssthresh:
            sk.snd_ssthresh = sk.prior_ssthresh
    sk.undo_marker = 0
    sk.rack_advanced = True  # RACK looks at the losses again


def _tcp_is_non_sack_preventing_reopen(sk: TcpSock) -> bool:
    """``tcp_is_non_sack_preventing_reopen()``: without SACK, hold the state until data
    above ``high_seq`` is acknowledged (RFC 6582), or duplicate ACKs of it would start a
    false fast retransmit."""
    if sk.snd_una == sk.high_seq and not sk.sack_ok:
        if not tcp_any_retrans_done(sk):
            sk.retrans_stamp = 0
        return True
    return False


def tcp_try_undo_recovery(sk: TcpSock) -> bool:
    """``tcp_try_undo_recovery()``: recovery (or loss) is over; if it was needless, undo it
    (``TCPFullUndo``, ``TCPLossUndo``).  True while a non-SACK connection must hold."""
    if tcp_may_undo(sk):
        tcp_undo_cwnd_reduction(sk, False)
        if sk.ca_state == TCP_CA_LOSS:
            sk.net.stats.TcpExtTCPLossUndo += 1
        else:
            sk.net.stats.TcpExtTCPFullUndo += 1
    elif sk.rack_reo_wnd_persist:
        sk.rack_reo_wnd_persist -= 1
    if _tcp_is_non_sack_preventing_reopen(sk):
        return True
    tcp_set_ca_state(sk, TCP_CA_OPEN)
    return False


def tcp_try_undo_dsack(sk: TcpSock) -> bool:
    """``tcp_try_undo_dsack()``: D-SACKs covered every retransmission — undo
    (``TCPDSACKUndo``), and keep RACK's widened window for a while longer."""
    if sk.undo_marker and not sk.undo_retrans:
        sk.rack_reo_wnd_persist = min(TCP_RACK_RECOVERY_THRESH, sk.rack_reo_wnd_persist + 1)
        tcp_undo_cwnd_reduction(sk, False)
        sk.net.stats.TcpExtTCPDSACKUndo += 1
        return True
    return False


def tcp_try_undo_loss(sk: TcpSock, frto_undo: bool) -> bool:
    """``tcp_try_undo_loss()``: undo a timeout's loss state — F-RTO proved it spurious
    (``TCPSpuriousRTOs``), or the timestamps or D-SACKs did (``TCPLossUndo``)."""
    if not (frto_undo or tcp_may_undo(sk)):
        return False
    tcp_undo_cwnd_reduction(sk, True)
    stats = sk.net.stats
    stats.TcpExtTCPLossUndo += 1
    if frto_undo:
        stats.TcpExtTCPSpuriousRTOs += 1
    sk.retransmits = 0
    if _tcp_is_non_sack_preventing_reopen(sk):
        return True
    if frto_undo or sk.sack_ok:
        tcp_set_ca_state(sk, TCP_CA_OPEN)
    return True


def tcp_try_undo_partial(sk: TcpSock, prior_snd_una: int) -> bool:
    """``tcp_try_undo_partial()``: a partial ACK in recovery for an original that was only
    delayed — reordering (``TCPTSReorder``); with nothing resent in flight, undo
    (``TCPPartialUndo``).  True to hold off further loss marking."""
    if not (sk.undo_marker and tcp_packet_delayed(sk)):
        return False
    tcp_check_sack_reordering(sk, prior_snd_una, True)
    if sk.retrans_out:
        return True
    if not tcp_any_retrans_done(sk):
        sk.retrans_stamp = 0
    tcp_undo_cwnd_reduction(sk, True)
    sk.net.stats.TcpExtTCPPartialUndo += 1
    tcp_try_keep_open(sk)
    return False


# -- SACK ------------------------------------------------------------------------------------


def tcp_check_sack_reordering(sk: TcpSock, low_seq: int, ts: bool) -> None:
    """``tcp_check_sack_reordering()``: ``low_seq``, never retransmitted, was delivered after
    higher data was SACKed — reordering, of ``fack - low_seq`` bytes; ``reordering`` grows to
    match (at most ``tcp_max_reordering``), counted as ``TCPSACKReorder`` (``TCPTSReorder``
    when the timestamps showed it)."""
    fack = sk.highest_sack_seq if sk.sacked_out else sk.snd_una
    if low_seq >= fack:
        return
    metric = fack - low_seq
    mss = sk.mss_cache
    if mss and metric > sk.reordering * mss:
        sk.reordering = min(
            (metric + mss - 1) // mss, sk.net.sysctl_int("net.ipv4.tcp_max_reordering")
        )
    sk.reord_seen += 1
    if ts:
        sk.net.stats.TcpExtTCPTSReorder += 1
    else:
        sk.net.stats.TcpExtTCPSACKReorder += 1


def _tcp_dsack_seen(sk: TcpSock, start: int, end: int) -> int:
    """``tcp_check_dsack()`` after the block is known to be a D-SACK, and
    ``tcp_dsack_seen()``: how many segments it reports duplicated; a block wider than any
    window we were offered, or more duplicates than we ever resent, is dubious
    (``TCPDSACKIgnoredDubious``).  A D-SACK of a retransmission after the undo point means
    one fewer retransmission was needed (``undo_retrans``).  Returns the flags it sets."""
    stats = sk.net.stats
    flag = 0
    length = end - start
    if length <= 0 or length > sk.max_window:
        stats.TcpExtTCPDSACKIgnoredDubious += 1
        return flag
    mss = sk.mss_cache or 1
    dup_segs = 1
    if length > mss:
        dup_segs = (length + mss - 1) // mss
    elif sk.tlp_high_seq and sk.tlp_high_seq == end:
        flag |= FLAG_DSACK_TLP
    sk.dsack_dups += dup_segs
    if sk.dsack_dups > sk.total_retrans:
        stats.TcpExtTCPDSACKIgnoredDubious += 1
        return flag
    if sk.reord_seen and not flag & FLAG_DSACK_TLP:
        sk.rack_dsack_seen = True
    flag |= FLAG_DSACKING_ACK
    sk.delivered += dup_segs  # a needless retransmission was delivered
    stats.TcpExtTCPDSACKRecvSegs += dup_segs
    if sk.undo_marker and sk.undo_retrans > 0 and end > sk.undo_marker:
        sk.undo_retrans = max(0, sk.undo_retrans - dup_segs)
    return flag


def tcp_sacktag_write_queue(sk: TcpSock, blocks: Sequence[tuple[int, int]], ack: int) -> int:
    """``tcp_sacktag_write_queue()``: mark what the peer's SACK blocks cover on the retransmit
    queue as SACKed (``TCPCB_SACKED_ACKED``; ``sacked_out`` counts them).  A first block below
    the cumulative ACK (``TCPDSACKRecv``), or inside the second block (``TCPDSACKOfoRecv``),
    is a D-SACK (``tcp_check_dsack``) and tags nothing; a block outside ``[snd_una,
    snd_nxt]`` is discarded (``tcp_is_sackblock_valid``, ``TCPSACKDiscard``).  A
    multi-segment skb a block covers in part is first cut at a whole-MSS boundary
    (``tcp_match_skb_to_sack`` → ``tcp_fragment``), so only what is really SACKed gets marked.
    A never-retransmitted segment newly SACKed below the highest SACK is reordering
    (:func:`tcp_check_sack_reordering`).  Returns the ACK flags it sets."""
    from .input import unwrap

    stats = sk.net.stats
    base = sk.snd_una
    ranges = [(unwrap(base, start), unwrap(base, end)) for start, end in blocks]
    sk.sack_first_sent = sk.sack_last_sent = -1.0
    flag = 0
    first = ranges[0]
    dsack = False
    if first[0] < ack:
        stats.TcpExtTCPDSACKRecv += 1
        dsack = True
    elif len(ranges) > 1 and ranges[1][0] <= first[0] and first[1] <= ranges[1][1]:
        stats.TcpExtTCPDSACKOfoRecv += 1
        dsack = True
    if dsack:
        flag |= _tcp_dsack_seen(sk, first[0], first[1])
        ranges = ranges[1:]
    reord = sk.snd_nxt
    if len(ranges) > 1:
        # the walk goes up the queue (tcp_sacktag_write_queue sorts the blocks, which come
        # most recent first): a lower block newly learned beside a higher one (the ACK that
        # first carried it was lost) is not reordering
        ranges.sort()
    for start, end in ranges:
        if not sk.snd_una <= start < end <= sk.snd_nxt:
            stats.TcpExtTCPSACKDiscard += 1
            continue
        tagged, reord = _sacktag_range(sk, start, end, reord)
        flag |= tagged
    if sk.ca_state != TCP_CA_LOSS or sk.undo_marker:
        tcp_check_sack_reordering(sk, reord, False)
    return flag


def _sacktag_range(sk: TcpSock, start: int, end: int, reord: int) -> tuple[int, int]:
    """``tcp_sacktag_walk()`` / ``tcp_sacktag_one()`` for one block: the flags set, and the
    lowest never-retransmitted sequence newly SACKed below the highest SACK so far."""
    queue = sk.tcp_rtx_queue
    flag = 0
    i = max(queue.bisect_key_right(start) - 1, 0)  # the skb that may hold ``start``
    while i < len(queue):
        skb = queue[i]
        cb: TcpSkbCb = skb.cb
        if cb.seq >= end:
            break
        if cb.end_seq <= start or cb.sacked:
            i += 1
            continue
        if not (start <= cb.seq and cb.end_seq <= end):
            pcount = tcp_skb_pcount(skb)
            if pcount <= 1:
                i += 1  # a single segment only partly SACKed: not marked
                continue
            mss = skb.shinfo.gso_size or tcp_current_mss(sk)  # tcp_skb_mss()
            if start > cb.seq:  # the block starts inside: cut before it, rounding up
                cut = max(mss, -(-(start - cb.seq) // mss) * mss)
            else:  # it ends inside: cut at its end, rounding down
                cut = (end - cb.seq) // mss * mss
                if cut < mss:
                    i += 1
                    continue
            if cut >= skb.len:
                i += 1
                continue
            tcp_fragment(sk, skb, cut, mss, in_rtx_queue=True)
            continue  # look at the first part again (the second follows it)
        pcount = tcp_skb_pcount(skb)
        tcp_rack_advance(sk, cb)
        if cb.sacked_retrans:
            cb.sacked_retrans = False  # the resent copy (or the original) arrived
            sk.retrans_out = max(0, sk.retrans_out - pcount)
        elif not cb.retransmitted:
            # a never-resent segment that was in a hole: reordering, if below the highest SACK
            fack = sk.highest_sack_seq if sk.sacked_out else sk.snd_una
            if cb.seq < fack and cb.seq < reord:
                reord = cb.seq
            if cb.end_seq <= sk.high_seq:
                flag |= FLAG_ORIG_SACK_ACKED
            if sk.sack_first_sent < 0:
                sk.sack_first_sent = cb.sent_at
            sk.sack_last_sent = cb.sent_at
        if cb.lost:
            cb.lost = False  # SACKed: no longer to be resent
            sk.lost_out = max(0, sk.lost_out - pcount)
        if not sk.sacked_out or cb.end_seq > sk.highest_sack_seq:
            sk.highest_sack_seq = cb.end_seq
        cb.sacked = True
        sk.sacked_out += pcount
        sk.delivered += pcount  # tcp_count_delivered(): out-of-order data delivered
        flag |= FLAG_DATA_SACKED
        i += 1
    return flag, reord


# -- RACK (net/ipv4/tcp_recovery.c) ----------------------------------------------------------


def tcp_skb_spurious_retrans(sk: TcpSock, cb: TcpSkbCb) -> bool:
    """``tcp_skb_spurious_retrans()``: a resent segment whose ACK echoes a timestamp older
    than the resend — the original was acknowledged, and its send time is not the resend's."""
    tsecr = sk.rcv_tsecr
    if not cb.retransmitted or not tsecr:
        return False
    sent_ts = tcp_skb_timestamp_ts(sk, cb)
    return (tsecr - sent_ts) & 0xFFFFFFFF >= 0x80000000


def tcp_rack_advance(sk: TcpSock, cb: TcpSkbCb) -> None:
    """``tcp_rack_advance()``: a segment was (S)ACKed.  Its age is RACK's RTT, and if it left
    after the latest one known delivered it becomes the reference.  A retransmission younger
    than the min RTT is skipped: the (S)ACK is likely the original's."""
    sent = cb.sent_at
    if sent < 0:
        return
    rtt = sk.net.now - sent
    if cb.retransmitted and rtt * 1e6 < sk.rtt_min_us:
        return
    sk.rack_advanced = True
    sk.rack_rtt = rtt
    # tcp_skb_sent_after(): later in time, or at the same time further in the sequence
    if sent > sk.rack_sent_at or (sent == sk.rack_sent_at and cb.end_seq > sk.rack_end_seq):
        sk.rack_sent_at = sent
        sk.rack_end_seq = cb.end_seq


def tcp_rack_reo_wnd(sk: TcpSock) -> float:
    """``tcp_rack_reo_wnd()``, seconds: 0 — be quick — while no reordering was ever seen and
    either recovery runs or ``reordering`` segments are SACKed (the classic three duplicate
    ACKs, unless ``net.ipv4.tcp_recovery`` has ``TCP_RACK_NO_DUPTHRESH``); otherwise min RTT /
    4 per step, at most the smoothed RTT."""
    if not sk.reord_seen:
        if sk.ca_state >= TCP_CA_RECOVERY:
            return 0.0
        if sk.sacked_out >= sk.reordering and not (
            sk.net.sysctl_int("net.ipv4.tcp_recovery") & TCP_RACK_NO_DUPTHRESH
        ):
            return 0.0
    return min((sk.rtt_min_us >> 2) * sk.rack_reo_wnd_steps, sk.srtt_us >> 3) / 1e6


def _tcp_rack_detect_loss(sk: TcpSock) -> float:
    """``tcp_rack_detect_loss()`` (RFC 8985): every segment sent before RACK's reference,
    not (S)ACKed and not already waiting to be resent, is lost once RACK's RTT plus the
    reordering window has passed since it was sent; returns how long the youngest of the
    others still has (0: none), for the reordering timer.  Linux walks a list in send order
    and stops at the first segment sent after the reference; netsim walks the queue in
    sequence order and skips those (a resent segment is late in time but early in sequence)."""
    reo_wnd = tcp_rack_reo_wnd(sk)
    now = sk.net.now
    ref_sent = sk.rack_sent_at
    ref_end = sk.rack_end_seq
    wait = sk.rack_rtt + reo_wnd
    timeout = 0.0
    for skb in sk.tcp_rtx_queue:
        cb: TcpSkbCb = skb.cb
        if cb.sacked or cb.lost:
            continue
        sent = cb.sent_at
        if sent > ref_sent or (sent == ref_sent and cb.end_seq >= ref_end):
            continue  # sent after the reference: not yet provably lost
        remaining = round(wait - (now - sent), 6)
        if remaining <= 0:
            tcp_mark_skb_lost(sk, skb)
        elif remaining > timeout:
            timeout = remaining
    return timeout


def tcp_rack_mark_lost(sk: TcpSock) -> bool:
    """``tcp_rack_mark_lost()``: after a new (S)ACK, mark what RACK proves lost; if some
    segment may yet be, arm the reordering timer for when it would be (plus 2 ms).  True
    when that timer was armed (it then stands in for the RTO)."""
    if not sk.rack_advanced:
        return False
    sk.rack_advanced = False
    timeout = _tcp_rack_detect_loss(sk)
    if timeout > 0:
        tcp_reset_xmit_timer(sk, ICSK_TIME_REO_TIMEOUT, timeout + TCP_TIMEOUT_MIN, sk.rto)
        return True
    return False


def tcp_rack_reo_timeout(sk: TcpSock) -> None:
    """``tcp_rack_reo_timeout()``: the reordering window has passed; mark the expired
    segments lost, begin recovery if it has not, and resend them."""
    prior_inflight = tcp_packets_in_flight(sk)
    prior_lost = sk.lost_out
    _tcp_rack_detect_loss(sk)
    if prior_inflight != tcp_packets_in_flight(sk):
        if sk.ca_state != TCP_CA_RECOVERY:
            tcp_enter_recovery(sk)
            tcp_cwnd_reduction(sk, 1, sk.lost_out - prior_lost, 0)
        tcp_xmit_retransmit_queue(sk)
    if sk.xmit_pending != ICSK_TIME_RETRANS:
        tcp_rearm_rto(sk)


def tcp_rack_update_reo_wnd(sk: TcpSock) -> None:
    """``tcp_rack_update_reo_wnd()``: a D-SACK after reordering was seen suggests RACK's
    window was too small — widen it by one step (min RTT / 4), at most once per round trip,
    and keep it for ``TCP_RACK_RECOVERY_THRESH`` recoveries; then back to one step."""
    if not sk.rack_dsack_seen and (sk.rack_reo_wnd_persist or sk.rack_reo_wnd_steps == 1):
        return  # nothing would change (every ACK of a clean flow)
    if sk.net.sysctl_int("net.ipv4.tcp_recovery") & TCP_RACK_STATIC_REO_WND or not sk.delivered:
        return
    if sk.rack_dsack_seen and sk.snd_una < sk.rack_last_delivered:
        sk.rack_dsack_seen = False  # less than a round trip since the last widening
    if sk.rack_dsack_seen:
        sk.rack_reo_wnd_steps = min(0xFF, sk.rack_reo_wnd_steps + 1)
        sk.rack_dsack_seen = False
        sk.rack_last_delivered = sk.snd_nxt
        sk.rack_reo_wnd_persist = TCP_RACK_RECOVERY_THRESH
    elif not sk.rack_reo_wnd_persist:
        sk.rack_reo_wnd_steps = 1


# -- NewReno: duplicate ACKs without SACK ----------------------------------------------------


def _tcp_limit_reno_sacked(sk: TcpSock) -> bool:
    """``tcp_limit_reno_sacked()``: duplicate ACKs can stand for at most what is in flight
    less the holes."""
    holes = min(max(sk.lost_out + sk.retrans_out, 1), sk.packets_out)
    if sk.sacked_out + holes > sk.packets_out:
        sk.sacked_out = sk.packets_out - holes
        return True
    return False


def _tcp_check_reno_reordering(sk: TcpSock, addend: int) -> None:
    """``tcp_check_reno_reordering()``: more duplicate ACKs than segments out is reordering
    (``TCPRenoReorder``)."""
    if not _tcp_limit_reno_sacked(sk):
        return
    sk.reordering = min(sk.packets_out + addend, sk.net.sysctl_int("net.ipv4.tcp_max_reordering"))
    sk.reord_seen += 1
    sk.net.stats.TcpExtTCPRenoReorder += 1


def tcp_add_reno_sack(sk: TcpSock, num_dupack: int) -> None:
    """``tcp_add_reno_sack()``: each duplicate ACK counts as one segment delivered out of
    order (``sacked_out`` without SACK)."""
    if num_dupack:
        prior = sk.sacked_out
        sk.sacked_out += num_dupack
        _tcp_check_reno_reordering(sk, 0)
        delivered = sk.sacked_out - prior
        if delivered > 0:
            sk.delivered += delivered


def tcp_remove_reno_sacks(sk: TcpSock, acked: int) -> None:
    """``tcp_remove_reno_sacks()``: a cumulative ACK fills the hole; the other segments it
    covers had already been counted by their duplicate ACKs."""
    if acked > 0:
        sk.delivered += max(acked - sk.sacked_out, 1)
        if acked - 1 >= sk.sacked_out:
            sk.sacked_out = 0
        else:
            sk.sacked_out -= acked - 1
    _tcp_check_reno_reordering(sk, acked)


def tcp_newreno_mark_lost(sk: TcpSock, snd_una_advanced: bool) -> None:
    """``tcp_newreno_mark_lost()`` (RFC 6582): the head is lost after ``reordering``
    duplicate ACKs, and again after each partial ACK in recovery — one MSS of it."""
    state = sk.ca_state
    if not (
        (state < TCP_CA_RECOVERY and sk.sacked_out >= sk.reordering)
        or (state == TCP_CA_RECOVERY and snd_una_advanced)
    ):
        return
    skb = sk.tcp_rtx_queue[0]
    cb: TcpSkbCb = skb.cb
    if cb.lost or cb.sacked_retrans:  # Linux: TCPCB_LOST, which a resent segment keeps
        return
    mss = skb.shinfo.gso_size or tcp_current_mss(sk)
    if tcp_skb_pcount(skb) > 1 and skb.len > mss:
        tcp_fragment(sk, skb, mss, mss, in_rtx_queue=True)
    tcp_mark_skb_lost(sk, skb)


def _tcp_identify_packet_loss(sk: TcpSock, flag: int) -> int:
    """``tcp_identify_packet_loss()``: NewReno without SACK, RACK with it."""
    if not sk.tcp_rtx_queue:
        return flag
    if not sk.sack_ok:
        tcp_newreno_mark_lost(sk, bool(flag & FLAG_SND_UNA_ADVANCED))
        return flag
    prior_retrans = sk.retrans_out
    if tcp_rack_mark_lost(sk):
        flag &= ~FLAG_SET_XMIT_TIMER
    if prior_retrans > sk.retrans_out:
        flag |= FLAG_LOST_RETRANS
    return flag


# -- the state machine -----------------------------------------------------------------------


def _tcp_process_loss(sk: TcpSock, flag: int, num_dupack: int) -> int:
    """``tcp_process_loss()``: an ACK in the Loss state — undo if the timeout proves
    spurious (timestamps, D-SACKs, or F-RTO: never-retransmitted data (S)ACKed after the
    first new data went out); F-RTO's step 2b sends new data instead of retransmissions
    (``REXMIT_NEW``); otherwise resend what is lost."""
    recovered = sk.snd_una >= sk.high_seq
    if flag & FLAG_SND_UNA_ADVANCED and tcp_try_undo_loss(sk, False):
        return flag
    if sk.frto:
        if flag & FLAG_ORIG_SACK_ACKED and tcp_try_undo_loss(sk, True):
            return flag
        if sk.snd_nxt > sk.high_seq:
            if flag & FLAG_DATA_SACKED or num_dupack:
                sk.frto = False  # step 3a: the loss was real
        elif flag & FLAG_SND_UNA_ADVANCED and not recovered:
            sk.high_seq = sk.snd_nxt
            if sk.sk_write_queue and sk.snd_una + sk.snd_wnd > sk.snd_nxt:
                return flag | REXMIT_NEW  # step 2b: try new data
            sk.frto = False
    if recovered:
        tcp_try_undo_recovery(sk)  # step 2a, and the first part of 3a
        return flag
    if not sk.sack_ok:
        if sk.snd_nxt > sk.high_seq and num_dupack:
            tcp_add_reno_sack(sk, num_dupack)
        elif flag & FLAG_SND_UNA_ADVANCED:
            sk.sacked_out = 0  # tcp_reset_reno_sack()
    return flag | REXMIT_LOST


def tcp_fastretrans_alert(sk: TcpSock, prior_snd_una: int, num_dupack: int, flag: int) -> int:
    """``tcp_fastretrans_alert()`` (net/ipv4/tcp_input.c): the congestion state machine for a
    dubious ACK — leave CWR or Recovery once ``high_seq`` is acknowledged (undoing it if it
    was needless), then by state: in Recovery, undo on a delayed original or D-SACKs, and
    mark more losses; in Loss, :func:`_tcp_process_loss`; in Open or Disorder, mark losses
    and enter Recovery once one is proven.  Returns the flags, with ``REXMIT_LOST`` when lost
    segments should be resent now (:func:`tcp_xmit_recovery`)."""
    if not sk.packets_out and sk.sacked_out:
        sk.sacked_out = 0
    if tcp_check_sack_reneging(sk, flag):
        return flag & ~FLAG_SET_XMIT_TIMER
    state = sk.ca_state
    if state == TCP_CA_OPEN:
        sk.retrans_stamp = 0
    elif sk.snd_una >= sk.high_seq:
        if state == TCP_CA_CWR:
            if sk.snd_una != sk.high_seq:
                tcp_end_cwnd_reduction(sk)
                tcp_set_ca_state(sk, TCP_CA_OPEN)
        elif state == TCP_CA_RECOVERY:
            if not sk.sack_ok:
                sk.sacked_out = 0
            if tcp_try_undo_recovery(sk):
                return flag
            tcp_end_cwnd_reduction(sk)
    state = sk.ca_state
    if state == TCP_CA_RECOVERY:
        if not flag & FLAG_SND_UNA_ADVANCED:
            if not sk.sack_ok:
                tcp_add_reno_sack(sk, num_dupack)
        elif tcp_try_undo_partial(sk, prior_snd_una):
            return flag
        if tcp_try_undo_dsack(sk):
            tcp_try_to_open(sk, flag)
        flag = _tcp_identify_packet_loss(sk, flag)
        if sk.ca_state != TCP_CA_RECOVERY:
            if not sk.lost_out:
                return flag
            tcp_enter_recovery(sk)
        return flag | REXMIT_LOST
    if state == TCP_CA_LOSS:
        flag = _tcp_process_loss(sk, flag, num_dupack)
        flag = _tcp_identify_packet_loss(sk, flag)
        if not (sk.ca_state == TCP_CA_OPEN or flag & FLAG_LOST_RETRANS):
            return flag
        # the window was undone, or a retransmission was lost: on as from Open
    if not sk.sack_ok:
        if flag & FLAG_SND_UNA_ADVANCED:
            sk.sacked_out = 0
        tcp_add_reno_sack(sk, num_dupack)
    if sk.ca_state <= TCP_CA_DISORDER:
        tcp_try_undo_dsack(sk)
    flag = _tcp_identify_packet_loss(sk, flag)
    if not sk.lost_out:  # tcp_time_to_recover()
        tcp_try_to_open(sk, flag)
        return flag
    tcp_enter_recovery(sk)
    return flag | REXMIT_LOST


def tcp_xmit_recovery(sk: TcpSock, flag: int) -> None:
    """``tcp_xmit_recovery()``: send what :func:`tcp_fastretrans_alert` asked for — new data
    first for F-RTO, then the lost segments."""
    if not flag & (REXMIT_LOST | REXMIT_NEW) or sk.sk_state == 2:  # TCP_SYN_SENT
        return
    if flag & REXMIT_NEW:
        tcp_write_xmit(sk, tcp_current_mss(sk), TCP_NAGLE_OFF, 0)
        if sk.snd_nxt > sk.high_seq:
            return
        sk.frto = False
    tcp_xmit_retransmit_queue(sk)


def tcp_process_tlp_ack(sk: TcpSock, ack: int, flag: int) -> None:
    """``tcp_process_tlp_ack()``: the ACK of a tail loss probe.  Of new data, or D-SACKed, or
    a plain duplicate ACK (both copies arrived): no loss.  An ACK beyond it after a probe
    that resent old data: the probe repaired a loss — reduce the window once (CWR,
    ``TCPLossProbeRecovery``)."""
    if ack < sk.tlp_high_seq:
        return
    if not sk.tlp_retrans or flag & FLAG_DSACK_TLP:
        sk.tlp_high_seq = 0
    elif ack > sk.tlp_high_seq:
        tcp_init_cwnd_reduction(sk)
        tcp_set_ca_state(sk, TCP_CA_CWR)
        tcp_end_cwnd_reduction(sk)
        tcp_try_keep_open(sk)
        sk.net.stats.TcpExtTCPLossProbeRecovery += 1
    elif not flag & (FLAG_SND_UNA_ADVANCED | FLAG_NOT_DUP | FLAG_DATA_SACKED):
        sk.tlp_high_seq = 0
