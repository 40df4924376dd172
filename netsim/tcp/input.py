"""TCP input: demultiplexing, the state machine, ACK processing and the receive queue
(net/ipv4/tcp_ipv4.c ``tcp_v4_rcv``, net/ipv4/tcp_input.c, net/ipv4/tcp_minisocks.c).

* ``tcp_v4_rcv``/``tcp_v6_rcv`` check the segment, find the socket (an established 4-tuple,
  else a listener), answer a segment for nobody with an RST, and — when a system call owns the
  socket — park the segment on the socket's backlog until ``release_sock``.
* ``tcp_rcv_established`` (and ``tcp_rcv_state_process`` for the other states): sequence
  check, ``tcp_ack``, ``tcp_data_queue``, then send what the ACK allowed and the ACK owed.
* ``tcp_ack`` takes the window update and RTT sample, and ``tcp_clean_rtx_queue`` frees what
  is acknowledged — on loopback that drops the original skb whose clone the reader may still
  hold, so a page comes back only when both are done with it.
* ``tcp_data_queue`` puts in-order data on the receive queue, merging it into the tail with
  ``tcp_try_coalesce``/``skb_try_coalesce`` when possible — which takes a page reference per
  frag when the skb it merges is a clone (the loopback case), and is refused while the tail is
  itself still a clone; out-of-order data waits on ``out_of_order_queue``.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final

from ..ipv4.protocol import inet_add_protocol
from ..ipv6.protocol import inet6_add_protocol
from ..mm import get_page
from ..skb import (
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    SIZEOF_SK_BUFF,
    SKB_DATA_ALIGN,
    SkBuff,
    kfree_skb,
    pskb_pull,
    skb_cloned,
    skb_copy_bits,
    skb_unclone_keeptruesize,
)
from ..skb import __pskb_trim_head as _pskb_trim_head
from ..sock.constants import AF_INET, AF_INET6, SO_OOBINLINE
from ..sock.sock import (
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
    SHUTDOWN_MASK,
    SOCK_RCVBUF_LOCK,
    SOCK_SNDBUF_LOCK,
    TCP_CLOSE,
    TCP_CLOSE_WAIT,
    TCP_CLOSING,
    TCP_ESTABLISHED,
    TCP_FIN_WAIT1,
    TCP_FIN_WAIT2,
    TCP_LAST_ACK,
    TCP_LISTEN,
    TCP_SYN_RECV,
    TCP_SYN_SENT,
    TCP_TIME_WAIT,
    skb_set_owner_r,
)
from ..wire.checksum import csum_fold, csum_partial
from ..wire.ipv4 import IPPROTO_TCP, ip4_pseudo_csum
from ..wire.ipv6 import ip6_pseudo_csum
from ..wire.tcp import (
    NOP_NOP_TS,
    TCPHDR_ACK,
    TCPHDR_FIN,
    TCPHDR_PSH,
    TCPHDR_RST,
    TCPHDR_SYN,
    TCPHDR_URG,
    TcpOptions,
)
from . import proto as _proto  # proto imports this module: use it by attribute
from .output import (
    TCP_CHRONO_SNDBUF_LIMITED,
    TCP_CHRONO_UNSPEC,
    __tcp_select_window,
    sk_mem_reclaim,
    tcp_chrono_set,
    tcp_chrono_stop,
    tcp_current_mss,
    tcp_jiffies32,
    tcp_push_pending_frames,
    tcp_receive_window,
    tcp_send_ack,
    tcp_send_delayed_ack,
    tcp_set_skb_tso_segs,
    tcp_set_window_clamp,
    tcp_set_xmit_timer,
    tcp_skb_pcount,
    tcp_slow_start_after_idle_check,
    tcp_space,
    tcp_sync_mss,
    tcp_win_from_space,
    tcp_wmem_free_skb,
)
from .prune import tcp_can_ingest, tcp_prune_ofo_queue, tcp_prune_queue
from .recovery import (
    FLAG_ACKED,
    FLAG_CA_ALERT,
    FLAG_DATA,
    FLAG_DATA_ACKED,
    FLAG_DSACKING_ACK,
    FLAG_NOT_DUP,
    FLAG_ORIG_SACK_ACKED,
    FLAG_RETRANS_DATA_ACKED,
    FLAG_SACK_RENEGING,
    FLAG_SET_XMIT_TIMER,
    FLAG_SND_UNA_ADVANCED,
    FLAG_SYN_ACKED,
    FLAG_WIN_UPDATE,
    tcp_check_sack_reordering,
    tcp_cong_control,
    tcp_fastretrans_alert,
    tcp_process_tlp_ack,
    tcp_rack_advance,
    tcp_rack_update_reo_wnd,
    tcp_remove_reno_sacks,
    tcp_sacktag_write_queue,
    tcp_skb_spurious_retrans,
    tcp_xmit_recovery,
)
from .sock import (
    ICSK_ACK_NOW,
    ICSK_ACK_PUSHED,
    ICSK_ACK_PUSHED2,
    ICSK_ACK_SCHED,
    TCP_ATO_MIN,
    TCP_CA_OPEN,
    TCP_MAX_QUICKACKS,
    TCP_MIN_MSS,
    TCP_MSS_DEFAULT,
    TCP_URG_NOTYET,
    TCP_URG_VALID,
    TcpSkbCb,
    TcpSock,
    inet_csk_enter_pingpong_mode,
    inet_csk_exit_pingpong_mode,
    inet_csk_in_pingpong_mode,
    tcp_mstamp,
    tcp_ts,
)
from .timer import tcp_check_probe_timer

if TYPE_CHECKING:
    from ..netns import Net

__all__ = [
    "tcp_ack",
    "tcp_check_urg",
    "tcp_data_queue",
    "tcp_rcv_established",
    "tcp_rcv_rtt_measure",
    "tcp_rcv_rtt_measure_ts",
    "tcp_rcv_rtt_update",
    "tcp_rcv_state_process",
    "tcp_rcvbuf_grow",
    "tcp_trim_head",
    "tcp_urg",
    "tcp_v4_rcv",
    "tcp_v6_rcv",
]

_HDR: Final = struct.Struct("!HHIIHHHH")
_TS: Final = struct.Struct("!II")
U32: Final = 0xFFFFFFFF
#: tcp_rtt_tsopt_us(): a timestamp delta this large (ms) would overflow its microseconds
_TS_DELTA_MAX: Final = 0x7FFFFFFF // 1000
#: ``net.ipv4.tcp_rcvbuf_low_rtt`` (µs, ``USEC_PER_MSEC`` by default): below this receive RTT
#: :func:`tcp_rcvbuf_grow` adds to the doubled window in proportion to the RTT instead of
#: with the reader's speed-up (netsim's sysctl table does not carry it: the default is used)
TCP_RCVBUF_LOW_RTT_US: Final = 1000


def unwrap(ref: int, value32: int) -> int:
    """The unwrapped sequence number nearest ``ref`` whose low 32 bits are ``value32``."""
    delta = (value32 - ref) & U32
    if delta >= 0x80000000:
        delta -= 0x100000000
    return ref + delta


class Segment:
    """The parsed header of a received segment (what ``TCP_SKB_CB`` and ``tcp_hdr`` give)."""

    __slots__ = (
        "ack32",
        "dport",
        "flags",
        "opts",
        "seq",
        "seq32",
        "sport",
        "tsecr",
        "tsval",
        "urg_ptr",
        "window",
    )

    def __init__(self, head: bytearray, off: int) -> None:
        sport, dport, seq, ack, doff_flags, window, _check, urg_ptr = _HDR.unpack_from(head, off)
        self.sport = sport
        self.dport = dport
        self.seq32 = seq
        self.seq: int | None = None  # unwrapped, once the socket is ESTABLISHED
        self.ack32 = ack
        self.flags = doff_flags & 0x0FFF
        self.window = window
        self.urg_ptr = urg_ptr
        hlen = (doff_flags >> 12) * 4
        self.opts: TcpOptions | None = None
        self.tsval: int | None = None
        self.tsecr: int | None = None
        if hlen == 32 and head[off + 20 : off + 24] == NOP_NOP_TS:
            # tcp_fast_parse_options(): the aligned timestamp that every established
            # segment carries is read in place (tcp_parse_aligned_timestamp)
            self.tsval, self.tsecr = _TS.unpack_from(head, off + 24)
        elif hlen > 20:
            opts = self.opts = TcpOptions.parse(head[off + 20 : off + hlen])
            self.tsval, self.tsecr = opts.tsval, opts.tsecr

    def copy(self) -> Segment:
        """The same header, its sequence number not yet unwrapped (``seq`` None)."""
        seg = Segment(_BLANK_HEADER, 0)
        seg.sport, seg.dport = self.sport, self.dport
        seg.seq32, seg.ack32 = self.seq32, self.ack32
        seg.flags, seg.window, seg.urg_ptr = self.flags, self.window, self.urg_ptr
        seg.opts, seg.tsval, seg.tsecr = self.opts, self.tsval, self.tsecr
        return seg


#: a 20-byte all-zero TCP header: what :meth:`Segment.copy` parses before filling in
_BLANK_HEADER: Final = bytearray(20)


# -- demultiplexing --------------------------------------------------------------------------


def tcp_v4_rcv(net: Net, skb: SkBuff) -> None:
    """``tcp_v4_rcv()``."""
    _tcp_rcv(net, skb, AF_INET)


def tcp_v6_rcv(net: Net, skb: SkBuff) -> None:
    """``tcp_v6_rcv()``."""
    _tcp_rcv(net, skb, AF_INET6)


# the source and destination addresses, from the network header
_ADDRS4: Final = struct.Struct("12x4s4s")
_ADDRS6: Final = struct.Struct("8x16s16s")


def _checksum_ok(skb: SkBuff, family: int, saddr: bytes, daddr: bytes) -> bool:
    """Verify in software the checksum of a segment nobody verified (``CHECKSUM_NONE``)."""
    data = bytearray(skb.len)
    skb_copy_bits(skb, 0, data, skb.len)
    pseudo = (ip6_pseudo_csum if family == AF_INET6 else ip4_pseudo_csum)(saddr, daddr, skb.len, 6)
    return csum_fold(csum_partial(data, pseudo)) == 0


def _tcp_rcv(net: Net, skb: SkBuff, family: int) -> None:
    stats = net.stats
    head = skb.head
    off = skb.data
    if skb.len < 20 or skb.len - skb.data_len < 20:
        stats.TcpInErrs += 1
        kfree_skb(skb)
        return
    hlen = (head[off + 12] >> 4) * 4
    if hlen < 20 or hlen > skb.len or hlen > skb.len - skb.data_len:
        stats.TcpInErrs += 1
        kfree_skb(skb)
        return
    unpack = _ADDRS6.unpack_from if family == AF_INET6 else _ADDRS4.unpack_from
    saddr, daddr = unpack(head, skb.network_header)
    summed = skb.ip_summed
    if (
        summed != CHECKSUM_PARTIAL
        and summed != CHECKSUM_UNNECESSARY
        and not _checksum_ok(skb, family, saddr, daddr)
    ):
        stats.TcpInCsumErrors += 1
        stats.TcpInErrs += 1
        kfree_skb(skb)
        return
    stats.TcpInSegs += 1
    seg = Segment(head, off)
    skb.data += hlen
    skb.len -= hlen

    sk = _proto.tcp_lookup(net, family, saddr, seg.sport, daddr, seg.dport)
    if sk is None:
        _send_reset_no_sock(net, skb, seg, family, saddr, daddr)
        kfree_skb(skb)
        return
    sk.segs_in += 1
    if sk.sk_state == TCP_LISTEN:
        _proto.tcp_conn_request(sk, skb, seg, family, saddr, daddr)
        kfree_skb(skb)
        return
    skb.cb = seg  # the parsed header travels with the skb until it is queued
    if sk.sk_owned_by_user:
        sk.sk_backlog.append(skb)
        return
    tcp_v4_do_rcv(sk, skb)


def tcp_v4_do_rcv(sk: TcpSock, skb: SkBuff) -> None:
    """``tcp_v4_do_rcv()``: the established fast path or the state machine."""
    seg: Segment = skb.cb
    if sk.sk_state == TCP_ESTABLISHED:
        tcp_rcv_established(sk, skb, seg)
    else:
        tcp_rcv_state_process(sk, skb, seg)


def lock_sock(sk: TcpSock) -> None:
    """``lock_sock()``: from now on segments for ``sk`` wait on its backlog."""
    sk.sk_owned_by_user = True


def __release_sock(sk: TcpSock) -> None:
    """``__release_sock()``: process the backlog.  The socket stays owned while doing so:
    what arrives meanwhile joins the backlog and is processed by the same loop, never
    nested."""
    backlog = sk.sk_backlog
    while backlog:
        skb = backlog.popleft()
        if sk.done:
            kfree_skb(skb)
            continue
        tcp_v4_do_rcv(sk, skb)


def release_sock(sk: TcpSock) -> None:
    """``release_sock()``: process the segments that arrived while a call owned the socket,
    then let go of it."""
    __release_sock(sk)
    sk.sk_owned_by_user = False


def sk_flush_backlog(sk: TcpSock) -> bool:
    """``sk_flush_backlog()`` (net/core/sock.c): in the middle of a call that owns the
    socket, process what waits on its backlog (``tcp_sendmsg_locked`` does it every 16 new
    skbs, so ACKs free the retransmit queue during a large write).  True if there was
    anything."""
    if not sk.sk_backlog:
        return False
    __release_sock(sk)
    return True


def _send_reset_no_sock(
    net: Net, skb: SkBuff, seg: Segment, family: int, saddr: bytes, daddr: bytes
) -> None:
    """``tcp_v4_send_reset()`` for a segment nobody wants: RST, with ACK of what it carried
    unless it carried an ACK itself."""
    if seg.flags & TCPHDR_RST:
        return

    if seg.flags & TCPHDR_ACK:
        _proto.tcp_send_reset_raw(net, family, daddr, seg.dport, saddr, seg.sport, seg.ack32, None)
    else:
        length = (
            skb.len + (1 if seg.flags & TCPHDR_SYN else 0) + (1 if seg.flags & TCPHDR_FIN else 0)
        )
        _proto.tcp_send_reset_raw(
            net, family, daddr, seg.dport, saddr, seg.sport, 0, (seg.seq32 + length) & U32
        )


# -- established -----------------------------------------------------------------------------


def tcp_rcv_established(sk: TcpSock, skb: SkBuff, seg: Segment) -> None:
    """``tcp_rcv_established()``."""
    seg.seq = unwrap(sk.rcv_nxt, seg.seq32)
    if not _tcp_validate_incoming(sk, skb, seg):
        return
    if seg.flags & TCPHDR_ACK:
        if tcp_ack(sk, seg, bool(skb.len) or bool(seg.flags & TCPHDR_FIN)) < 0:
            kfree_skb(skb)
            return
    elif not seg.flags & TCPHDR_RST:
        kfree_skb(skb)
        return
    if sk.rcv_tsecr != sk.rcv_rtt_last_tsecr:
        tcp_rcv_rtt_measure_ts(sk, skb.len + (1 if seg.flags & TCPHDR_FIN else 0))
    if seg.flags & TCPHDR_URG or sk.urg_data == TCP_URG_NOTYET:
        tcp_urg(sk, skb, seg)
    _tcp_data_and_checks(sk, skb, seg)


def _tcp_data_and_checks(sk: TcpSock, skb: SkBuff, seg: Segment) -> None:
    tcp_data_queue(sk, skb, seg)
    tcp_data_snd_check(sk)
    tcp_ack_snd_check(sk)


def _seq_of(sk: TcpSock, seg: Segment) -> int:
    """The segment's sequence number unwrapped against ``rcv_nxt`` — on an established
    socket, once per segment (``tcp_rcv_established``): the window moves by far less than
    2**31 while one segment is processed, so the answer cannot change."""
    seq = seg.seq
    if seq is None:
        return unwrap(sk.rcv_nxt, seg.seq32)
    return seq


def _tcp_validate_incoming(sk: TcpSock, skb: SkBuff, seg: Segment) -> bool:
    """``tcp_validate_incoming()``: sequence check (``tcp_sequence``), timestamps, RST, SYN."""
    seq = _seq_of(sk, seg)
    end_seq = (
        seq + skb.len + (1 if seg.flags & TCPHDR_FIN else 0) + (1 if seg.flags & TCPHDR_SYN else 0)
    )
    in_window = end_seq >= sk.rcv_wup and seq <= sk.rcv_nxt + tcp_receive_window(sk)
    if seg.flags & TCPHDR_RST:
        if seq == sk.rcv_nxt or (in_window and not skb.len):
            tcp_reset(sk)
        kfree_skb(skb)
        return False
    if not in_window:
        if not seg.flags & TCPHDR_RST:
            _send_dupack(sk, seq, end_seq, bool(seg.flags & TCPHDR_SYN))
        kfree_skb(skb)
        return False
    if seg.flags & TCPHDR_SYN and sk.sk_state != TCP_SYN_RECV:
        _send_dupack(sk)  # a challenge ACK (RFC 5961)
        kfree_skb(skb)
        return False
    return True


def _tcp_replace_ts_recent(sk: TcpSock, seg: Segment) -> None:
    """``tcp_replace_ts_recent()``, as ``tcp_ack()`` calls it (``FLAG_UPDATE_TS_RECENT``):
    only once the segment is known in window and its ACK neither old nor beyond ``snd_nxt``
    (an ACK of unsent data is answered with the echo unchanged), and only forward
    (``tcp_paws_check``) — a late original must not take the echo back behind its
    retransmission, or the sender would take the retransmission for needless
    (``tcp_packet_delayed``)."""
    tsval = seg.tsval
    if (
        tsval is not None
        and sk.tstamp_ok
        and _seq_of(sk, seg) <= sk.rcv_wup
        and (tsval - sk.ts_recent) & U32 < 0x80000000
    ):
        sk.ts_recent = tsval


def _send_dupack(sk: TcpSock, seq: int = 0, end_seq: int = 0, syn: bool = True) -> None:
    """``tcp_send_dupack()`` for an out-of-window segment ``[seq, end_seq)``: an old one that
    carried data is a retransmission we had — ``DelayedACKLost`` and a D-SACK of it (up to
    ``rcv_nxt``).  Rate-limited as ``tcp_oow_rate_limited()`` limits it
    (``net.ipv4.tcp_invalid_ratelimit``, 500 ms) so two confused ends cannot ACK each other
    forever — but never for a segment with data and no SYN, which is no part of such a loop."""
    now = sk.net.now
    if syn or seq == end_seq:
        if now - sk.last_oow_ack < 0.5 and sk.last_oow_ack >= 0:
            return
        sk.last_oow_ack = now
    if seq != end_seq and seq < sk.rcv_nxt:
        sk.net.stats.TcpExtDelayedACKLost += 1
        tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS)
        tcp_dsack_set(sk, seq, min(end_seq, sk.rcv_nxt))
    tcp_send_ack(sk)


# -- ACK processing --------------------------------------------------------------------------


def tcp_ack(sk: TcpSock, seg: Segment, has_data: bool = False) -> int:
    """``tcp_ack()`` (net/ipv4/tcp_input.c): returns 1 if the ACK was taken (new data
    acknowledged, a duplicate, a window update), 0 for one older than ``snd_una``, -1 for an
    ACK of data never sent (answered with an ACK).

    The ACK's SACK blocks tag the retransmit queue, its window is taken, what it covers is
    freed (:func:`tcp_clean_rtx_queue`, which takes the RTT sample), and the ``FLAG_*`` word
    it builds decides the rest: a tail-loss-probe ACK (:func:`~netsim.tcp.recovery.
    tcp_process_tlp_ack`), the loss-recovery state machine for a dubious ACK
    (:func:`~netsim.tcp.recovery.tcp_fastretrans_alert`), the TLP or RTO timer, the window
    (:func:`~netsim.tcp.recovery.tcp_cong_control`: PRR or the congestion control), then
    any retransmission recovery asked for.  ``has_data``: the segment occupies sequence
    space (``FLAG_DATA``)."""
    ack = unwrap(sk.snd_una, seg.ack32)
    if ack > sk.snd_nxt:
        _send_dupack(sk)
        return -1
    prior_snd_una = sk.snd_una
    prior_delivered = sk.delivered
    prior_lost = sk.lost_out
    tsecr = seg.tsecr
    sk.rcv_tsecr = tsecr if tsecr is not None and sk.tstamp_ok else 0
    opts = seg.opts
    sack_blocks = opts.sack_blocks if opts is not None and sk.sack_ok else None
    flag = FLAG_DATA if has_data else 0
    if ack < prior_snd_una:
        # an old ACK: its SACK blocks may still tell something (tcp_ack's old_ack)
        if sack_blocks and sk.tcp_rtx_queue:
            flag |= tcp_sacktag_write_queue(sk, sack_blocks, ack)
            flag = tcp_fastretrans_alert(sk, prior_snd_una, 0, flag)
            _tcp_newly_delivered(sk, prior_delivered)
            tcp_xmit_recovery(sk, flag)
        return 0
    prior_packets = sk.packets_out
    _tcp_replace_ts_recent(sk, seg)
    if ack > prior_snd_una:
        flag |= FLAG_SND_UNA_ADVANCED
        sk.retransmits = 0
        if sk.tcp_clean_acked:
            ulp = sk.icsk_ulp_ops
            assert ulp is not None
            ulp.clean_acked(sk, ack)  # tp->tcp_clean_acked (TLS device: free ACKed records)
    if _tcp_ack_update_window(sk, seg, ack):
        flag |= FLAG_WIN_UPDATE
    # the highest SACK before this ACK's blocks: what it delivers below that was reordered
    prior_fack = sk.highest_sack_seq if sk.sack_ok and sk.sacked_out else prior_snd_una
    if sack_blocks and sk.tcp_rtx_queue:
        flag |= tcp_sacktag_write_queue(sk, sack_blocks, ack)
    else:
        sk.sack_first_sent = sk.sack_last_sent = -1.0
    stats = sk.net.stats
    if flag & FLAG_SND_UNA_ADVANCED:
        sk.snd_una = ack  # tcp_snd_una_update()
        sk.bytes_acked += ack - prior_snd_una
        stats.TcpExtTCPHPAcks += 1
    elif not sk.tcp_rtx_queue and not sk.sk_write_queue:
        stats.TcpExtTCPPureAcks += 1
    if not prior_packets:
        # tcp_ack's no_queue: nothing in flight — a D-SACK may still undo, a window probe
        # may be answered
        if flag & FLAG_DSACKING_ACK:
            flag = tcp_fastretrans_alert(sk, prior_snd_una, 0, flag)
        _tcp_newly_delivered(sk, prior_delivered)
        _tcp_ack_probe(sk)
        if sk.tlp_high_seq:
            tcp_process_tlp_ack(sk, ack, flag)
        return 1
    flag |= tcp_clean_rtx_queue(sk, seg, ack, prior_fack)
    if prior_snd_una <= sk.snd_up <= ack:
        sk.snd_up = ack  # tcp_clean_rtx_queue(): urgent mode ends, snd_up follows snd_una
    tcp_rack_update_reo_wnd(sk)
    if sk.tlp_high_seq:
        tcp_process_tlp_ack(sk, ack, flag)
    if not flag & FLAG_NOT_DUP or flag & FLAG_CA_ALERT or sk.ca_state != TCP_CA_OPEN:
        # tcp_ack_is_dubious()
        num_dupack = 0
        if not flag & (FLAG_SND_UNA_ADVANCED | FLAG_NOT_DUP | FLAG_DSACKING_ACK):
            num_dupack = 1
        flag = tcp_fastretrans_alert(sk, prior_snd_una, num_dupack, flag)
    if flag & FLAG_SET_XMIT_TIMER:
        tcp_set_xmit_timer(sk)
    delivered = _tcp_newly_delivered(sk, prior_delivered)
    tcp_cong_control(sk, ack, delivered, flag, max(sk.lost_out - prior_lost, 0))
    tcp_xmit_recovery(sk, flag)
    tcp_check_space(sk)
    return 1


def _tcp_newly_delivered(sk: TcpSock, prior_delivered: int) -> int:
    """``tcp_newly_delivered()``: segments this ACK delivered (ACKed, SACKed, D-SACKed),
    counted in ``TCPDelivered``."""
    delivered = sk.delivered - prior_delivered
    sk.net.stats.TcpExtTCPDelivered += delivered
    return delivered


def _tcp_ack_probe(sk: TcpSock) -> None:
    """``tcp_ack_probe()``: an ACK that opens the window for the head of the write queue ends
    zero-window probing; the backoff the probes built up is dropped, so it does not inflate
    the first RTO of the data that now leaves.  An ACK that leaves the window closed restarts
    the probe timer from now, with the backoff reached so far (``tcp_probe0_when``)."""
    queue = sk.sk_write_queue
    if not queue:
        return
    timer = sk.probe_timer
    if queue[0].cb.end_seq <= sk.snd_una + sk.snd_wnd:
        sk.backoff = 0
        if timer is not None:
            timer.cancel()
            sk.probe_timer = None
        return
    if timer is not None:
        timer.cancel()
        sk.probe_timer = None
    tcp_check_probe_timer(sk)


def _tcp_ack_update_window(sk: TcpSock, seg: Segment, ack: int) -> bool:
    """``tcp_ack_update_window()``: take the peer's window if this ACK may update it
    (``tcp_may_update_window``: new data acknowledged, a newer segment, or the same one with
    a larger or zero window); a larger one may raise the MSS.  True if it may
    (``FLAG_WIN_UPDATE``)."""
    nwin = seg.window
    if not seg.flags & TCPHDR_SYN:
        nwin <<= sk.snd_wscale
    seq = _seq_of(sk, seg)
    if not (
        ack > sk.snd_una
        or seq > sk.snd_wl1
        or (seq == sk.snd_wl1 and (nwin > sk.snd_wnd or not nwin))
    ):
        return False
    sk.snd_wl1 = seq
    if sk.snd_wnd != nwin:
        sk.snd_wnd = nwin
        if sk.sk_write_queue:
            tcp_slow_start_after_idle_check(sk)
        if nwin > sk.max_window:
            sk.max_window = nwin

            dst = sk.sk_dst_cache
            if dst is not None:
                tcp_sync_mss(sk, dst.mtu)  # type: ignore[attr-defined]
    return True


def tcp_clean_rtx_queue(sk: TcpSock, seg: Segment, ack: int, prior_fack: int) -> int:
    """``tcp_clean_rtx_queue()``: free every skb acknowledged in full; trim the head of a
    partly acknowledged multi-segment skb (``tcp_tso_acked``).  Segments not SACKed before
    count as delivered and advance RACK; a never-retransmitted one delivered below the
    highest SACK is reordering.  The RTT sample is measured from the oldest skb this ACK
    acknowledges (``first_ackt``), and only if none of what it acknowledges was
    retransmitted (Karn's algorithm, ``FLAG_RETRANS_DATA_ACKED``); else from the oldest
    newly SACKed segment; else from the timestamp echo (:func:`tcp_ack_update_rtt`).
    Returns the ACK flags it sets (``FLAG_DATA_ACKED``, ``FLAG_RETRANS_DATA_ACKED``,
    ``FLAG_ORIG_SACK_ACKED``, ``FLAG_SET_XMIT_TIMER``)."""
    queue = sk.tcp_rtx_queue
    flag = 0
    acked = 0
    first_sent = last_sent = -1.0
    sack_ok = sk.sack_ok
    reord = sk.snd_nxt  # the lowest acked, never resent, never SACKed sequence
    high_seq = sk.high_seq

    while queue:
        skb = queue[0]
        cb: TcpSkbCb = skb.cb
        fully_acked = cb.end_seq <= ack
        if not fully_acked:
            if cb.seq >= ack or skb.shinfo.gso_segs <= 1:
                break
            before = tcp_skb_pcount(skb)
            tcp_trim_head(sk, skb, ack - cb.seq)
            tcp_set_skb_tso_segs(skb, tcp_current_mss(sk))
            pcount = before - tcp_skb_pcount(skb)
            if not pcount:
                break
        else:
            pcount = tcp_skb_pcount(skb)
        if cb.retransmitted:
            if cb.sacked_retrans:
                sk.retrans_out = max(0, sk.retrans_out - pcount)
            flag |= FLAG_RETRANS_DATA_ACKED
        elif not cb.sacked:
            last_sent = cb.sent_at
            if first_sent < 0:
                first_sent = cb.sent_at
            if cb.seq < reord:
                reord = cb.seq
            if cb.end_seq <= high_seq:
                flag |= FLAG_ORIG_SACK_ACKED
        if cb.sacked:
            sk.sacked_out = max(0, sk.sacked_out - pcount)
        elif sack_ok:
            sk.delivered += pcount
            if not cb.retransmitted or not tcp_skb_spurious_retrans(sk, cb):
                tcp_rack_advance(sk, cb)
        if cb.lost:
            sk.lost_out = max(0, sk.lost_out - pcount)
        sk.packets_out = max(0, sk.packets_out - pcount)
        acked += pcount
        if cb.tcp_flags & TCPHDR_SYN:
            flag |= FLAG_SYN_ACKED
            sk.retrans_stamp = 0
        else:
            flag |= FLAG_DATA_ACKED
        if not fully_acked:
            break
        queue.pop(0)
        tcp_wmem_free_skb(sk, skb)
    sk_mem_reclaim(sk)
    if queue and queue[0].cb.sacked:
        flag |= FLAG_SACK_RENEGING  # snd_una reached data SACKed before: the peer reneged

    # the RTT samples (tcp_clean_rtx_queue + tcp_ack_update_rtt): the estimator's from the
    # oldest segment acknowledged (Karn: none if any was resent), else the oldest newly
    # SACKed; the congestion control's from the newest; both from the echo failing those
    now = sk.net.now
    seq_rtt = ca_rtt = sack_rtt = -1.0
    if first_sent >= 0 and not flag & FLAG_RETRANS_DATA_ACKED:
        seq_rtt = now - first_sent
        ca_rtt = now - last_sent
    if sk.sack_first_sent >= 0:
        sack_rtt = now - sk.sack_first_sent
        ca_rtt = now - sk.sack_last_sent
        if seq_rtt < 0:
            seq_rtt = sack_rtt
    if seq_rtt < 0 and flag & FLAG_ACKED:
        seq_rtt = ca_rtt = tcp_rtt_tsopt(sk, seg)
    if not queue and sk.chrono_type and not sk.sk_write_queue:
        # everything sent is acknowledged and nothing waits: tcp_chrono_stop(BUSY) idles
        tcp_chrono_set(sk, TCP_CHRONO_UNSPEC)
    rtt_update = seq_rtt >= 0 and tcp_ack_update_rtt(sk, seg, seq_rtt)
    if flag & FLAG_ACKED:
        flag |= FLAG_SET_XMIT_TIMER  # set the TLP or RTO timer
        if not sack_ok:
            tcp_remove_reno_sacks(sk, acked)
            if flag & FLAG_RETRANS_DATA_ACKED:
                flag &= ~FLAG_ORIG_SACK_ACKED
        elif reord < prior_fack:
            tcp_check_sack_reordering(sk, reord, False)  # a hole filled without a resend
    elif rtt_update and queue and sack_rtt > now - queue[0].cb.sent_at:
        # a SACK RTT sample from data sent before the head was last (re)sent re-arms the
        # timer; one from later data does not, or the RTO could keep moving out through a
        # long recovery
        flag |= FLAG_SET_XMIT_TIMER
    sk.ca_ops.pkts_acked(sk, acked, int(ca_rtt * 1e6) if ca_rtt >= 0 else -1)
    return flag


def tcp_ack_update_rtt(sk: TcpSock, seg: Segment, seq_rtt: float) -> bool:
    """``tcp_ack_update_rtt()`` for an ACK of new data: the RTT sample from the ACK's timing
    (``seq_rtt``, seconds; -1 when Karn's rule forbids one because retransmitted data was
    acknowledged, or there is none), else from the timestamp echo (RFC 7323's RTTM:
    :func:`tcp_rtt_tsopt`) — which is what keeps the RTO true across retransmissions.  A
    valid sample updates the estimator and the RTO and ends the exponential backoff (RFC
    6298: only then).  False without a sample."""
    if seq_rtt < 0:
        seq_rtt = tcp_rtt_tsopt(sk, seg)
    if seq_rtt < 0:
        return False
    tcp_rtt_estimator(sk, seq_rtt)
    sk.backoff = 0
    return True


def tcp_rtt_tsopt(sk: TcpSock, seg: Segment) -> float:
    """``tcp_rtt_tsopt_us()``: the RTT (seconds) from the timestamp echo — the timestamp
    clock's milliseconds since the echoed value, at least one — or -1 without timestamps or
    an echo."""
    if sk.tstamp_ok and seg.tsecr:
        delta = (tcp_ts(sk) - seg.tsecr) & U32
        if delta < _TS_DELTA_MAX:
            return max(delta, 1) / 1000
    return -1.0


def tcp_trim_head(sk: TcpSock, skb: SkBuff, length: int) -> None:
    """``tcp_trim_head()``: drop ``length`` acknowledged bytes from the front of an skb on
    the retransmit queue — whole frags unreferenced, the first remaining frag shortened —
    and shrink truesize and ``sk_wmem_queued`` to match."""
    cb: TcpSkbCb = skb.cb
    skb_unclone_keeptruesize(skb)
    delta = _pskb_trim_head(skb, length)
    cb.seq += length
    skb.truesize -= delta
    sk.sk_wmem_queued -= delta
    sk.sk_forward_alloc += delta


def tcp_rtt_estimator(sk: TcpSock, rtt: float) -> None:
    """``tcp_rtt_estimator()`` (RFC 6298 in Van Jacobson's fixed point: ``srtt_us`` is 8
    times SRTT, ``mdev_us`` 4 times the mean deviation) and ``tcp_set_rto()``: ``rto = srtt +
    rttvar``.  ``rttvar_us`` follows the largest deviation of the last round trip
    (``mdev_max_us``), decays toward it once per round trip (``rtt_seq``), and never goes
    below ``tcp_rto_min_us`` — which is how the 200 ms minimum enters the RTO: a 20 ms path
    has an RTO of 220 ms, not 200."""
    sample = max(int(rtt * 1e6), 1)
    m = sample
    rto_min_us = sk.net.sysctl_int("net.ipv4.tcp_rto_min_us")
    if sk.srtt_us:
        m -= sk.srtt_us >> 3  # the error of the estimate
        sk.srtt_us += m  # srtt = 7/8 srtt + 1/8 new
        if m < 0:
            m = -m - (sk.mdev_us >> 2)
            if m > 0:
                m >>= 3  # an RTT falling fast does not inflate mdev much
        else:
            m -= sk.mdev_us >> 2
        sk.mdev_us += m  # mdev = 3/4 mdev + 1/4 new
        if sk.mdev_us > sk.mdev_max_us:
            sk.mdev_max_us = sk.mdev_us
            sk.rttvar_us = max(sk.rttvar_us, sk.mdev_max_us)
        if sk.snd_una > sk.rtt_seq:  # a round trip has passed
            if sk.mdev_max_us < sk.rttvar_us:
                sk.rttvar_us -= (sk.rttvar_us - sk.mdev_max_us) >> 2
            sk.rtt_seq = sk.snd_nxt
            sk.mdev_max_us = rto_min_us
    else:
        sk.srtt_us = m << 3
        sk.mdev_us = m << 1
        sk.rttvar_us = max(sk.mdev_us, rto_min_us)
        sk.mdev_max_us = sk.rttvar_us
        sk.rtt_seq = sk.snd_nxt
    sk.srtt_us = max(sk.srtt_us, 1)
    if not sk.rtt_min_us or sample < sk.rtt_min_us:
        sk.rtt_min_us = sample
    sk.rto = min(((sk.srtt_us >> 3) + sk.rttvar_us) / 1e6, sk.rto_max)  # tcp_bound_rto


def tcp_check_space(sk: TcpSock) -> None:
    """``tcp_check_space()`` → ``tcp_new_space()``: grow ``sk_sndbuf`` with the congestion
    window (``tcp_sndbuf_expand``) and wake a writer waiting for room."""
    if sk.sock_nospace:
        if tcp_should_expand_sndbuf(sk):
            tcp_sndbuf_expand(sk)
        sk.sk_write_space()  # clears sock_nospace only if it wakes the writer
        if not _nospace(sk):
            tcp_chrono_stop(sk, TCP_CHRONO_SNDBUF_LIMITED)


def _nospace(sk: TcpSock) -> bool:
    """``SOCK_NOSPACE`` now (read through a call: a callee may have cleared it)."""
    return sk.sock_nospace


def tcp_should_expand_sndbuf(sk: TcpSock) -> bool:
    """``tcp_should_expand_sndbuf()``: not when the user fixed ``SO_SNDBUF``, not while TCP's
    pool is under memory pressure or at ``tcp_mem[0]``, not when the window is full."""
    if sk.sk_userlocks & SOCK_SNDBUF_LOCK:
        return False
    net = sk.net
    if net.tcp_memory_pressure:
        return False  # (sk_unused_reserved_mem(): no SO_RESERVE_MEM without memcg)
    if net.tcp_memory_allocated >= net.sysctl_vec("net.ipv4.tcp_mem")[0]:
        return False
    return sk.packets_out < sk.snd_cwnd  # tcp_packets_in_flight(): no SACK or loss marks here


def tcp_sndbuf_expand(sk: TcpSock) -> None:
    """``tcp_sndbuf_expand()``: room for twice ``max(10, cwnd)`` full-size skbs, up to
    ``tcp_wmem[2]``, unless the user set ``SO_SNDBUF``."""
    if sk.sk_userlocks & SOCK_SNDBUF_LOCK:
        return
    mss = max(sk.mss_clamp if sk.mss_clamp < 0xFFFF else 0, sk.mss_cache)
    per_mss = 1 << (mss + 320 + sk.net.skb_layout.shinfo_aligned - 1).bit_length()
    per_mss += SKB_DATA_ALIGN(SIZEOF_SK_BUFF)
    nr_segs = max(10, sk.snd_cwnd)
    sndmem = 2 * nr_segs * per_mss
    sndmem = min(sndmem, sk.net.sysctl_vec("net.ipv4.tcp_wmem")[2])
    if sndmem > sk.sk_sndbuf:
        sk.sk_sndbuf = sndmem


# -- data ------------------------------------------------------------------------------------


def tcp_data_queue(sk: TcpSock, skb: SkBuff, seg: Segment) -> None:
    """``tcp_data_queue()`` (net/ipv4/tcp_input.c): in-order data to the receive queue, old
    data acknowledged and dropped, future data to the out-of-order queue.  An in-order
    segment that finds no room in ``sk_rcvbuf`` is dropped (``TCPRcvQDrop``) only if the
    receive queue holds something for the reader; into an empty queue it is forced
    (``sk_forced_mem_schedule``), as in Linux."""
    seq = _seq_of(sk, seg)
    fin = bool(seg.flags & TCPHDR_FIN)
    end_seq = seq + skb.len + (1 if fin else 0)
    cb = TcpSkbCb(seq, end_seq, seg.flags)
    skb.cb = cb
    if seq == end_seq:
        kfree_skb(skb)
        return
    stats = sk.net.stats
    if skb.len:
        sk.data_segs_in += 1
    if seq == sk.rcv_nxt:
        if tcp_receive_window(sk) == 0 and skb.len:
            stats.TcpExtTCPZeroWindowDrop += 1
            _out_of_window(sk, skb)
            return
        if not _tcp_try_rmem_schedule(sk, skb):
            _schedule_ack_now(sk)
            sk.sk_data_ready()
            if sk.sk_receive_queue and skb.len:
                stats.TcpExtTCPRcvQDrop += 1
                kfree_skb(skb)
                return
            # sk_forced_mem_schedule(): with nothing queued for the reader the segment is
            # taken anyway, else memory held elsewhere (the out-of-order queue) would
            # refuse the next in-order segment forever
        length = skb.len  # taken first: a coalesced skb hands its frags to the tail
        eaten = _tcp_queue_rcv(sk, skb)
        if length:
            tcp_event_data_recv(sk, skb, length)
        if fin:
            tcp_fin(sk)
        _tcp_ofo_catch_up(sk)
        sk.sk_data_ready()
        if eaten:
            kfree_skb(skb)  # kfree_skb_partial(): what is left of a coalesced skb
        return
    if end_seq <= sk.rcv_nxt:
        # a retransmission of what we have: ACK it at once, with a D-SACK of it (RFC 2883)
        stats.TcpExtDelayedACKLost += 1
        tcp_dsack_set(sk, seq, end_seq)
        _out_of_window(sk, skb)
        return
    if seq > sk.rcv_nxt + tcp_receive_window(sk):
        _out_of_window(sk, skb)
        return
    if seq < sk.rcv_nxt:
        # partial overlap: D-SACK the old part, queue the new part as in-order data
        tcp_dsack_set(sk, seq, sk.rcv_nxt)
        pskb_pull(skb, sk.rcv_nxt - seq)
        cb.seq = sk.rcv_nxt
        length = skb.len
        eaten = _tcp_queue_rcv(sk, skb)
        tcp_event_data_recv(sk, skb, length)
        if fin:
            tcp_fin(sk)
        _tcp_ofo_catch_up(sk)
        sk.sk_data_ready()
        if eaten:
            kfree_skb(skb)
        return
    _tcp_data_queue_ofo(sk, skb)


# -- SACK and D-SACK blocks the receiver sends (RFC 2018, RFC 2883) -------------------------

#: TCP_NUM_SACKS (include/linux/tcp.h): the SACK blocks a receiver remembers
TCP_NUM_SACKS: Final = 4


def _sack_extend(block: tuple[int, int], seq: int, end_seq: int) -> tuple[int, int] | None:
    """``tcp_sack_extend()``: ``block`` grown to cover ``[seq, end_seq)`` if they overlap or
    touch, else None."""
    start, end = block
    if seq <= end and start <= end_seq:
        return min(start, seq), max(end, end_seq)
    return None


def tcp_sack_new_ofo_skb(sk: TcpSock, seq: int, end_seq: int) -> None:
    """``tcp_sack_new_ofo_skb()``: out-of-order data ``[seq, end_seq)`` arrived.  A block it
    extends grows, moves to the front and swallows the blocks it now reaches
    (``tcp_sack_maybe_coalesce``); else a new block goes in front, the oldest dropped when
    there are already TCP_NUM_SACKS.  The first block is the most recent (RFC 2018)."""
    sacks = sk.selective_acks
    for i, block in enumerate(sacks):
        grown = _sack_extend(block, seq, end_seq)
        if grown is not None:
            del sacks[i]
            j = 0
            while j < len(sacks):  # tcp_sack_maybe_coalesce()
                merged = _sack_extend(grown, *sacks[j])
                if merged is None:
                    j += 1
                    continue
                grown = merged
                del sacks[j]
            sacks.insert(0, grown)
            return
    if len(sacks) >= TCP_NUM_SACKS:
        sacks.pop()
    sacks.insert(0, (seq, end_seq))


def tcp_sack_remove(sk: TcpSock) -> None:
    """``tcp_sack_remove()``: blocks that ``rcv_nxt`` has reached are gone; all of them once the
    out-of-order queue is empty."""
    if not sk.out_of_order_queue:
        sk.selective_acks.clear()
        return
    rcv_nxt = sk.rcv_nxt
    sk.selective_acks[:] = [block for block in sk.selective_acks if block[0] > rcv_nxt]


def tcp_dsack_set(sk: TcpSock, seq: int, end_seq: int) -> None:
    """``tcp_dsack_set()``: the next segment sent reports ``[seq, end_seq)`` as duplicate data
    (with SACK negotiated and ``net.ipv4.tcp_dsack``); ``TCPDSACKOldSent`` for data below
    ``rcv_nxt``, ``TCPDSACKOfoSent`` for a duplicate of queued out-of-order data."""
    if not sk.sack_ok or not sk.net.sysctl_int("net.ipv4.tcp_dsack"):
        return
    stats = sk.net.stats
    if seq < sk.rcv_nxt:
        stats.TcpExtTCPDSACKOldSent += 1
    else:
        stats.TcpExtTCPDSACKOfoSent += 1
    sk.duplicate_sack = (seq, end_seq)


def tcp_dsack_extend(sk: TcpSock, seq: int, end_seq: int) -> None:
    """``tcp_dsack_extend()``: set a D-SACK block, or grow the pending one when the range
    touches it — a range that does not is left out (one D-SACK block per segment: when
    ``tcp_ofo_queue`` finds several old out-of-order skbs, the first is reported)."""
    pending = sk.duplicate_sack
    if pending is None:
        tcp_dsack_set(sk, seq, end_seq)
        return
    grown = _sack_extend(pending, seq, end_seq)
    if grown is not None:
        sk.duplicate_sack = grown


def _tcp_ofo_catch_up(sk: TcpSock) -> None:
    """After in-order data: move what became in order from the out-of-order queue, ACK at
    once when that fills the last hole (RFC 5681 4.2), and drop the SACK blocks
    ``rcv_nxt`` has reached."""
    if sk.out_of_order_queue:
        _tcp_ofo_queue(sk)
        if not sk.out_of_order_queue:
            sk.ack_pending |= ICSK_ACK_NOW
    if sk.selective_acks:
        tcp_sack_remove(sk)


def _schedule_ack_now(sk: TcpSock) -> None:
    sk.ack_pending |= ICSK_ACK_SCHED | ICSK_ACK_NOW


def _out_of_window(sk: TcpSock, skb: SkBuff) -> None:
    """``tcp_data_queue()``'s ``out_of_window:``: a segment the window cannot take is dropped
    and answered at once, in quick-ACK mode."""
    tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS)
    _schedule_ack_now(sk)
    kfree_skb(skb)


def _tcp_try_rmem_schedule(sk: TcpSock, skb: SkBuff) -> bool:
    """``tcp_try_rmem_schedule()``: room in ``sk_rcvbuf`` for ``skb``
    (:func:`~netsim.tcp.prune.tcp_can_ingest`: ``sk_rmem_alloc + skb->len <= sk_rcvbuf`` — the
    payload, not the truesize, so a segment that exactly fills the window offered from the
    free space is taken even when its skb overhead goes past the buffer).  Without room the
    buffer first grows toward ``tcp_rmem[2]`` (``tcp_clamp_window``), then the queues are
    collapsed and the out-of-order queue pruned (:func:`~netsim.tcp.prune.tcp_prune_queue`,
    :func:`~netsim.tcp.prune.tcp_prune_ofo_queue`); False if there is still none."""
    if tcp_can_ingest(sk, skb):
        return True
    rmem2 = sk.net.sysctl_vec("net.ipv4.tcp_rmem")[2]
    if not sk.sk_userlocks & 2 and sk.sk_rcvbuf < rmem2:
        sk.sk_rcvbuf = min(max(sk.sk_rcvbuf, sk.sk_rmem_alloc + skb.truesize), rmem2)
        if sk.sk_rmem_alloc + skb.truesize <= sk.sk_rcvbuf:
            return True
    if tcp_prune_queue(sk, skb) < 0:
        return False
    while not tcp_can_ingest(sk, skb):
        if not tcp_prune_ofo_queue(sk, skb):
            return False
    return True


def _tcp_queue_rcv(sk: TcpSock, skb: SkBuff) -> bool:
    """``tcp_queue_rcv()``: merge into the tail of the receive queue, or append.  Returns
    ``eaten``: the payload went into the tail skb, and the caller frees ``skb`` once it is done
    with it (Linux's ``kfree_skb_partial`` at the end of ``tcp_data_queue``).
    ``tcp_rcv_nxt_update()`` counts every sequence number ``rcv_nxt`` moves over in
    ``bytes_received`` (``tcpi_bytes_received``) — the FIN's included, as in Linux."""
    queue = sk.sk_receive_queue
    cb: TcpSkbCb = skb.cb
    sk.bytes_received += cb.end_seq - sk.rcv_nxt
    sk.rcv_nxt = cb.end_seq
    if queue and tcp_try_coalesce(sk, queue[-1], skb):
        return True
    skb_set_owner_r(skb, sk)
    queue.append(skb)
    return False


def tcp_try_coalesce(sk: TcpSock, to: SkBuff, from_: SkBuff) -> bool:
    """``tcp_try_coalesce()`` + ``skb_try_coalesce()``: move ``from_``'s frags onto ``to``.
    Refused while ``to`` is a clone (its data is shared); when ``from_`` is a clone its frags
    are referenced (one ``get_page`` each) rather than stolen.  The truesize ``from_`` leaves
    behind (the skb itself) is not charged; ``to`` grows by ``from_.truesize - SKB_TRUESIZE
    of its head``."""
    tcb_to, tcb_from = to.cb, from_.cb
    if tcb_from.seq != tcb_to.end_seq or tcb_to.tcp_flags & TCPHDR_FIN:
        return False
    if skb_cloned(to):
        return False
    from_len = from_.len
    to_sh, from_sh = to.shinfo, from_.shinfo
    if to_sh.frag_list or from_sh.frag_list:
        return False
    if from_.len - from_.data_len:  # linear data: netsim heads are not page frags
        return False
    if len(to_sh.frags) + len(from_sh.frags) > to.layout.max_frags:
        return False
    delta = from_.truesize - from_.layout.truesize(from_.end)
    to_sh.frags.extend(f.copy() if skb_cloned(from_) else f for f in from_sh.frags)
    if skb_cloned(from_):
        for frag in from_sh.frags:
            get_page(frag.page)
    else:
        from_sh.frags = []
        from_.len -= from_len
        from_.data_len -= from_len
    to.truesize += delta
    to.len += from_len
    to.data_len += from_len
    sk.sk_rmem_alloc += delta
    tcb_to.end_seq = tcb_from.end_seq
    tcb_to.tcp_flags |= tcb_from.tcp_flags
    stats = sk.net.stats
    stats.TcpExtTCPRcvCoalesce += 1
    tracer = stats.tracer
    if tracer is not None:
        nr = len(from_sh.frags)
        if not nr:
            reason = "a segment without payload (its FIN) continues the receive queue's tail"
        elif skb_cloned(from_):
            reason = (
                "the arriving segment continues the receive queue's tail: "
                + ("its frag joins it" if nr == 1 else f"its {nr} frags join it")
                + ", with a page reference of its own (get_page) per frag: the arriving skb "
                "is a clone, its frags stay shared with the sender's skb"
            )
        else:
            reason = "the arriving segment continues the receive queue's tail: its frags move over"
        tracer.emit(
            "rx_coalesce",
            "tcp_try_coalesce",
            reason,
            {"skb": tracer.skb(to), "from": tracer.skb(from_), "len": from_len, "nr_frags": nr},
        )
    return True


def _tcp_data_queue_ofo(sk: TcpSock, skb: SkBuff) -> None:
    """``tcp_data_queue_ofo()``: keep future data, ACK at once (a duplicate ACK) — if there is
    room (:func:`_tcp_try_rmem_schedule`, which may collapse and prune; else ``TCPOFODrop``).

    As Linux's: a segment that continues the last out-of-order skb (the common case) or
    the one before it is coalesced into it (:func:`tcp_ooo_try_coalesce`: its frags move,
    ``TCPRcvCoalesce``); one whose bytes are all held already is dropped and D-SACKed
    (``TCPOFOMerge``); a partial overlap is D-SACKed and kept; one that starts where a held
    skb starts and covers it replaces it; held skbs it covers on the right are dropped
    (D-SACKed, ``TCPOFOMerge``).  The SACK blocks follow (``tcp_sack_new_ofo_skb``)."""
    stats = sk.net.stats
    if not _tcp_try_rmem_schedule(sk, skb):
        stats.TcpExtTCPOFODrop += 1
        _schedule_ack_now(sk)
        kfree_skb(skb)
        return
    stats.TcpExtTCPOFOQueue += 1
    sk.rcv_ooopack += max(skb.shinfo.gso_segs, 1)
    _schedule_ack_now(sk)
    cb: TcpSkbCb = skb.cb
    ofo = sk.out_of_order_queue
    seq, end_seq = cb.seq, cb.end_seq
    keep: SkBuff | None = skb
    if not ofo:
        ofo.add(skb)
    elif tcp_ooo_try_coalesce(sk, ofo[len(ofo) - 1], skb):
        keep = None  # coalesce_done: what is left of skb is freed below
    elif seq >= ofo[len(ofo) - 1].cb.end_seq:
        ofo.add(skb)  # after the last one: no overlap to look for
    else:
        index = ofo.bisect_key_right(seq) - 1  # the skb that may hold seq
        merged = False
        if index >= 0:
            prev = ofo[index]
            pcb: TcpSkbCb = prev.cb
            if seq < pcb.end_seq:
                if end_seq <= pcb.end_seq:  # all of it is held already
                    stats.TcpExtTCPOFOMerge += 1
                    tcp_dsack_set(sk, seq, end_seq)
                    kfree_skb(skb)
                    if sk.sack_ok:
                        tcp_sack_new_ofo_skb(sk, seq, end_seq)
                    return
                if seq > pcb.seq:  # partial overlap
                    tcp_dsack_set(sk, seq, pcb.end_seq)
                else:  # the same start, and more: skb replaces it
                    ofo.pop(index)
                    tcp_dsack_extend(sk, pcb.seq, pcb.end_seq)
                    stats.TcpExtTCPOFOMerge += 1
                    kfree_skb(prev)
            elif tcp_ooo_try_coalesce(sk, prev, skb):
                keep = None
                merged = True
        if not merged:
            ofo.add(skb)
            # merge_right: drop what skb covers after it
            index = ofo.index(skb) + 1
            while index < len(ofo):
                nxt = ofo[index]
                ncb: TcpSkbCb = nxt.cb
                if end_seq <= ncb.seq:
                    break
                if end_seq < ncb.end_seq:
                    tcp_dsack_extend(sk, ncb.seq, end_seq)
                    break
                ofo.pop(index)
                tcp_dsack_extend(sk, ncb.seq, ncb.end_seq)
                stats.TcpExtTCPOFOMerge += 1
                kfree_skb(nxt)
    if sk.sack_ok:
        tcp_sack_new_ofo_skb(sk, seq, end_seq)
    if keep is None:
        kfree_skb(skb)  # kfree_skb_partial(): its frags went to the skb it joined
    else:
        skb_set_owner_r(skb, sk)
    if sk.listener is None and not sk.orphaned:  # sk->sk_socket: accepted, not closed
        tcp_rcvbuf_grow(sk, sk.rcvq_space)


def tcp_ooo_try_coalesce(sk: TcpSock, to: SkBuff, from_: SkBuff) -> bool:
    """``tcp_ooo_try_coalesce()``: :func:`tcp_try_coalesce` on the out-of-order queue; the
    merged skb counts the segments of both (``gso_segs``)."""
    to_segs = max(to.shinfo.gso_segs, 1)
    from_segs = max(from_.shinfo.gso_segs, 1)
    if not tcp_try_coalesce(sk, to, from_):
        return False
    to.shinfo.gso_segs = min(to_segs + from_segs, 0xFFFF)
    return True


def _tcp_ofo_queue(sk: TcpSock) -> None:
    """``tcp_ofo_queue()``: move what became in order to the receive queue."""
    ofo = sk.out_of_order_queue
    dsack_high = sk.rcv_nxt
    while ofo:
        skb = ofo[0]
        cb: TcpSkbCb = skb.cb
        if cb.seq > sk.rcv_nxt:
            break
        if cb.seq < dsack_high:  # some of it had arrived already: D-SACK that part
            tcp_dsack_extend(sk, cb.seq, min(cb.end_seq, dsack_high))
        ofo.pop(0)
        if cb.end_seq <= sk.rcv_nxt:
            kfree_skb(skb)
            continue
        if cb.seq < sk.rcv_nxt:
            pskb_pull(skb, sk.rcv_nxt - cb.seq)
            cb.seq = sk.rcv_nxt
        skb.sk = None  # already charged: keep the charge as is
        sk.sk_rmem_alloc -= skb.truesize
        skb.destructor = None
        fin = bool(cb.tcp_flags & TCPHDR_FIN)
        if _tcp_queue_rcv(sk, skb):
            kfree_skb(skb)
        if fin:
            tcp_fin(sk)


# -- receive-buffer autotuning: the receiver's RTT estimate (tcp_input.c, "DRS") -------------


def tcp_rcv_rtt_update(sk: TcpSock, sample: int, win_dep: bool) -> None:
    """``tcp_rcv_rtt_update()``: fold a receive RTT sample (µs) into ``rcv_rtt_us`` (8 times
    the estimate).  The first sample, or one below the estimate, replaces it.  A larger one
    is dropped if it came from the window-based measure (``win_dep``: that measure only
    looks for the minimum — a reader stalled on its own work would inflate it); one from
    timestamps is averaged in (7/8 old + 1/8 new), unless data is still waiting to be read."""
    old = sk.rcv_rtt_us
    m = sample << 3
    if old == 0 or m < old:
        sk.rcv_rtt_us = m
    elif not win_dep and sk.rcv_nxt == sk.copied_seq:
        sk.rcv_rtt_us = old - (old >> 3) + sample


def tcp_rcv_rtt_measure(sk: TcpSock) -> None:
    """``tcp_rcv_rtt_measure()``, for every in-order data segment (``tcp_event_data_recv``):
    without help from the sender, a round trip is the time it takes to receive one window —
    from when ``rcv_nxt + rcv_wnd`` was offered until ``rcv_nxt`` reaches it.  The sample is
    at least 1 µs (so the estimate, once there, is never 0); then the next measure begins."""
    if sk.rcv_rtt_time >= 0 and sk.rcv_nxt < sk.rcv_rtt_seq:
        return
    now = tcp_mstamp(sk)
    if sk.rcv_rtt_time >= 0:
        delta = now - sk.rcv_rtt_time
        tcp_rcv_rtt_update(sk, delta if delta > 0 else 1, True)
    sk.rcv_rtt_seq = sk.rcv_nxt + sk.rcv_wnd
    sk.rcv_rtt_time = now


def tcp_rcv_rtt_measure_ts(sk: TcpSock, seg_len: int) -> None:
    """``tcp_rcv_rtt_measure_ts()``, for a segment whose timestamp echo (``rcv_tsecr``, set by
    :func:`tcp_ack`) is new (the caller compares it with ``rcv_rtt_last_tsecr``): if the
    segment is at least full-sized (``seg_len``, sequence space, against ``rcv_mss``), our
    timestamp clock's milliseconds since the echoed value are a sample
    (``tcp_rtt_tsopt_us(tp, 0)``) — none when no millisecond has passed (0) or the echo is
    nonsense (a delta that would overflow)."""
    tsecr = sk.rcv_tsecr
    sk.rcv_rtt_last_tsecr = tsecr
    if seg_len >= sk.ack_rcv_mss:
        delta = (tcp_ts(sk) - tsecr) & U32
        if 0 < delta < _TS_DELTA_MAX:
            tcp_rcv_rtt_update(sk, delta * 1000, False)


def tcp_rcvbuf_grow(sk: TcpSock, newval: int) -> None:
    """``tcp_rcvbuf_grow()``: the reader took ``newval`` bytes in the last round trip
    (``rcvq_space`` becomes that); unless ``SO_RCVBUF`` fixed the buffer
    (``SOCK_RCVBUF_LOCK``), size it for twice that as window — DRS sees the rate a round trip
    late — plus room to grow: on a path whose receive RTT is under ``tcp_rcvbuf_low_rtt``
    (1 ms), the doubled window times RTT/1 ms; otherwise, as in slow start, twice the doubled
    window times the reader's relative speed-up.  Data held out of order adds its span.  The
    buffer (``tcp_space_from_win``) is capped at ``tcp_rmem[2]`` and only grows; the window
    clamp follows it.  ``net.ipv4.tcp_moderate_rcvbuf`` 0 turns the growth off."""
    oldval = sk.rcvq_space
    sk.rcvq_space = newval
    if sk.sk_userlocks & SOCK_RCVBUF_LOCK or not sk.net.sysctl_int("net.ipv4.tcp_moderate_rcvbuf"):
        return
    rcvwin = newval << 1
    rtt_us = sk.rcv_rtt_us >> 3
    if rtt_us < TCP_RCVBUF_LOW_RTT_US:
        grow = rcvwin * rtt_us // TCP_RCVBUF_LOW_RTT_US
    elif oldval > 0:
        grow = (rcvwin << 1) * (newval - oldval) // oldval
    else:
        grow = 0
    rcvwin += grow
    ofo = sk.out_of_order_queue
    if ofo:
        rcvwin += ofo[len(ofo) - 1].cb.end_seq - sk.rcv_nxt
    rcvbuf = min((rcvwin << 8) // sk.scaling_ratio, sk.net.sysctl_vec("net.ipv4.tcp_rmem")[2])
    if rcvbuf > sk.sk_rcvbuf:
        sk.sk_rcvbuf = rcvbuf
        sk.window_clamp = tcp_win_from_space(sk, rcvbuf)


def tcp_event_data_recv(sk: TcpSock, skb: SkBuff, length: int) -> None:
    """``tcp_event_data_recv()`` (net/ipv4/tcp_input.c): learn the peer's MSS, schedule an
    ACK, grow the window, and keep ``ato`` near the peer's inter-arrival time ``m`` (the
    jiffies since ``lrcvtime``): the first data enters quick-ACK mode with ``ato`` =
    ``TCP_ATO_MIN``; then ``m`` up to half of ``TCP_ATO_MIN`` moves ``ato`` halfway down to
    ``TCP_ATO_MIN``/2 + ..., ``m`` below ``ato`` gives ``ato/2 + m`` (at most the RTO), and
    a gap longer than the RTO re-enters quick-ACK mode.  ``lrcvtime`` is now.

    ``length`` is the payload ``skb`` arrived with: Linux calls this after
    ``tcp_queue_rcv()``, when ``skb->len`` is still intact even if ``skb_try_coalesce()``
    moved the frags to the tail; netsim's coalesce empties ``skb``, so the caller passes the
    length it had.  (Testing ``skb.len`` after the merge skipped this function for every
    coalesced segment: no ACK was scheduled for it, and a receiver whose tail skb kept
    absorbing segments never acknowledged them until the sender's RTO fired.)"""
    sk.ack_pending |= ICSK_ACK_SCHED
    _tcp_measure_rcv_mss(sk, skb, length)
    tcp_rcv_rtt_measure(sk)
    now = tcp_jiffies32(sk)
    ato = sk.ack_ato
    if not ato:
        _tcp_incr_quickack(sk, TCP_MAX_QUICKACKS)
        sk.ack_ato = TCP_ATO_MIN
    else:
        m = (now - sk.ack_lrcvtime) & U32
        if m <= TCP_ATO_MIN // 2:
            sk.ack_ato = (ato >> 1) + TCP_ATO_MIN // 2
        elif m < ato:
            sk.ack_ato = min((ato >> 1) + m, round(sk.rto * 1000))
        elif m > round(sk.rto * 1000):
            _tcp_incr_quickack(sk, TCP_MAX_QUICKACKS)
    sk.ack_lrcvtime = now
    _tcp_grow_window(sk, skb, length)


def _tcp_measure_rcv_mss(sk: TcpSock, skb: SkBuff, skb_len: int) -> None:
    """``tcp_measure_rcv_mss()``: the largest segment seen (``rcv_mss``); when it changes,
    the payload/truesize ratio of what arrives (``scaling_ratio``), which decides how much of
    ``sk_rcvbuf`` may be offered as window (``tcp_set_window_clamp``).  A full-sized
    segment with PSH (the end of a write), or a short one that is not the peer's MSS, sets
    ``ICSK_ACK_PUSHED``: ``tcp_cleanup_rbuf`` ACKs at once when the reader drains it."""
    lss = sk.ack_last_seg_size
    sk.ack_last_seg_size = 0
    length = skb.shinfo.gso_size or skb_len
    if length >= sk.ack_rcv_mss:
        if length != sk.ack_rcv_mss and skb.truesize:
            old = sk.scaling_ratio
            sk.scaling_ratio = min(max((skb_len << 8) // skb.truesize, 1), 255)
            if old != sk.scaling_ratio:
                tcp_set_window_clamp(sk, tcp_win_from_space(sk, sk.sk_rcvbuf))
                sk.rcvq_space = min(sk.rcvq_space, sk.window_clamp)
        sk.ack_rcv_mss = min(length, sk.advmss or length)
        if skb.cb.tcp_flags & TCPHDR_PSH:
            sk.ack_pending |= ICSK_ACK_PUSHED
    else:
        # a short segment: is it the peer's real MSS (the same size twice, not a remnant)?
        length += skb.data - skb.transport_header if skb.transport_header >= 0 else 20
        remnant = skb.cb.tcp_flags & (TCPHDR_FIN | TCPHDR_PSH | TCPHDR_SYN | TCPHDR_URG)
        if length >= TCP_MSS_DEFAULT + 20 or (length >= TCP_MIN_MSS + 20 and not remnant):
            length -= sk.tcp_header_len
            sk.ack_last_seg_size = length
            if length == lss:
                sk.ack_rcv_mss = length
                return
        if sk.ack_pending & ICSK_ACK_PUSHED:
            sk.ack_pending |= ICSK_ACK_PUSHED2
        sk.ack_pending |= ICSK_ACK_PUSHED


def _tcp_incr_quickack(sk: TcpSock, max_quickacks: int) -> None:
    """``tcp_incr_quickack()``: allow ACKs at once for about half a window of segments
    (2 when the window is less than two segments), at most ``max_quickacks``."""
    quickacks = sk.rcv_wnd // (2 * max(sk.ack_rcv_mss, 1)) or 2
    quickacks = min(quickacks, max_quickacks)
    if quickacks > sk.ack_quick:
        sk.ack_quick = quickacks


def tcp_enter_quickack_mode(sk: TcpSock, max_quickacks: int) -> None:
    """``tcp_enter_quickack_mode()``: ACK at once for a while — and not interactive any
    more (``inet_csk_exit_pingpong_mode``), ``ato`` back to ``TCP_ATO_MIN``."""
    _tcp_incr_quickack(sk, max_quickacks)
    inet_csk_exit_pingpong_mode(sk)
    sk.ack_ato = TCP_ATO_MIN


def _tcp_grow_window(sk: TcpSock, skb: SkBuff, skb_len: int) -> None:
    """``tcp_grow_window()``: raise ``rcv_ssthresh`` (the offered window's ceiling)."""

    room = min(sk.window_clamp, tcp_space(sk)) - sk.rcv_ssthresh
    if room <= 0:
        return
    if tcp_win_from_space(sk, skb.truesize) <= skb_len:
        incr = 2 * sk.advmss
    else:
        incr = 2 * sk.advmss if skb_len >= 128 else 0
    if incr:
        incr = max(incr, 2 * skb_len)
        sk.rcv_ssthresh += min(room, incr)
        sk.ack_quick |= 1


def tcp_fin(sk: TcpSock) -> None:
    """``tcp_fin()`` (net/ipv4/tcp_input.c): the peer will send no more — EOF for readers
    (``SOCK_DONE``); the state moves on.  The ACK is only scheduled: in ESTABLISHED the
    connection turns interactive (``inet_csk_enter_pingpong_mode``), so
    ``__tcp_ack_snd_check`` delays it (``ato``, 40 ms after data) hoping that our own data
    or FIN carries it; in FIN_WAIT1 (simultaneous close) and FIN_WAIT2 it goes at once.
    Out-of-order data beyond the FIN is dropped, and with it the SACK state — a D-SACK this
    very segment set (its head a retransmission) is never sent (``tcp_sack_reset``)."""
    sk.ack_pending |= ICSK_ACK_SCHED
    sk.sk_shutdown |= RCV_SHUTDOWN
    sk.sock_done = True
    state = sk.sk_state

    if state in (TCP_SYN_RECV, TCP_ESTABLISHED):
        _proto.tcp_set_state(sk, TCP_CLOSE_WAIT)
        inet_csk_enter_pingpong_mode(sk)
    elif state == TCP_FIN_WAIT1:
        tcp_send_ack(sk)
        _proto.tcp_set_state(sk, TCP_CLOSING)
    elif state == TCP_FIN_WAIT2:
        tcp_send_ack(sk)
        _proto.tcp_time_wait(sk)
    ofo = sk.out_of_order_queue
    while ofo:
        kfree_skb(ofo.pop(0))
    if sk.sack_ok:  # tcp_sack_reset(): no SACK blocks, and the D-SACK goes unsent
        sk.selective_acks.clear()
        sk.duplicate_sack = None
    sk.sk_state_change()


def tcp_reset(sk: TcpSock) -> None:
    """``tcp_reset()``: the peer reset the connection."""
    state = sk.sk_state

    if state == TCP_SYN_SENT:
        err = 111  # ECONNREFUSED
    elif state == TCP_CLOSE_WAIT:
        err = 32  # EPIPE
    elif state == TCP_CLOSE:
        return
    else:
        err = 104  # ECONNRESET
    if state in (TCP_ESTABLISHED, TCP_CLOSE_WAIT):
        sk.net.stats.TcpEstabResets += 1
    sk.sk_err = err
    _proto.tcp_done(sk)
    sk.sk_error_report()


# -- urgent data -----------------------------------------------------------------------------


def tcp_check_urg(sk: TcpSock, seg: Segment) -> None:
    """``tcp_check_urg()`` (net/ipv4/tcp_input.c): a segment with URG announces an urgent
    byte at ``seq + urg_ptr - 1`` (``urg_ptr`` points one past it, BSD style, unless
    ``net.ipv4.tcp_stdurg``; a pointer of 0 names ``seq`` itself).  Ignored if the reader is
    already past it, if it lies before ``rcv_nxt`` (a retransmission: not replayed), or if
    the socket already knows this or a later urgent byte.  Otherwise it replaces the old one
    (``TCP_URG_NOTYET`` until the byte arrives) — an old byte not read with ``MSG_OOB`` is
    no longer special and is read inline; except that a reader standing right at the old
    byte (``SO_OOBINLINE`` off, more data behind it) steps over it now, and it is lost.  An
    skb wholly consumed by that step is freed.  netsim sends no ``SIGURG``."""
    ptr = seg.urg_ptr
    if ptr and not sk.net.sysctl_int("net.ipv4.tcp_stdurg"):
        ptr -= 1
    ptr += _seq_of(sk, seg)
    if sk.copied_seq > ptr or ptr < sk.rcv_nxt:
        return
    if sk.urg_data and ptr <= sk.urg_seq:
        return
    if (
        sk.urg_seq == sk.copied_seq
        and sk.urg_data
        and SO_OOBINLINE not in sk.sk_flags
        and sk.copied_seq != sk.rcv_nxt
    ):
        sk.copied_seq += 1
        queue = sk.sk_receive_queue
        if queue and sk.copied_seq >= queue[0].cb.end_seq:
            kfree_skb(queue.popleft())
    sk.urg_data = TCP_URG_NOTYET
    sk.urg_seq = ptr


def tcp_urg(sk: TcpSock, skb: SkBuff, seg: Segment) -> None:
    """``tcp_urg()`` (net/ipv4/tcp_input.c), before the segment's data is queued: take a
    new urgent pointer (:func:`tcp_check_urg`); if the announced byte is in this segment,
    copy it into ``urg_data`` (``TCP_URG_VALID``) and wake the reader.  The byte also stays
    in the segment: ``recv`` steps over it unless ``SO_OOBINLINE``."""
    if seg.flags & TCPHDR_URG:
        tcp_check_urg(sk, seg)
    if sk.urg_data == TCP_URG_NOTYET:
        off = sk.urg_seq - _seq_of(sk, seg) - (1 if seg.flags & TCPHDR_SYN else 0)
        if 0 <= off < skb.len:
            byte = bytearray(1)
            skb_copy_bits(skb, off, byte, 1)
            sk.urg_data = TCP_URG_VALID | byte[0]
            if not sk.orphaned:
                sk.sk_data_ready()


# -- what to send after receiving ------------------------------------------------------------


def tcp_data_snd_check(sk: TcpSock) -> None:
    """``tcp_data_snd_check()``: send what the ACK allowed; wake a writer."""

    tcp_push_pending_frames(sk)
    tcp_check_space(sk)


def tcp_ack_snd_check(sk: TcpSock) -> None:
    """``__tcp_ack_snd_check()``: ACK now (more than one full segment unacknowledged and the
    window would not shrink, quick-ACK mode, out-of-order data, or an ACK owed right away),
    else delay it."""
    if not sk.ack_pending & ICSK_ACK_SCHED:
        return

    now = bool(sk.ack_pending & ICSK_ACK_NOW)
    if (
        now
        or (sk.rcv_nxt - sk.rcv_wup > sk.ack_rcv_mss and __tcp_select_window(sk) >= sk.rcv_wnd)
        or (sk.ack_quick and not inet_csk_in_pingpong_mode(sk))  # tcp_in_quickack_mode()
        or sk.out_of_order_queue
    ):
        tcp_send_ack(sk)
        return
    tcp_send_delayed_ack(sk)


# -- other states ----------------------------------------------------------------------------


def tcp_rcv_state_process(sk: TcpSock, skb: SkBuff, seg: Segment) -> None:
    """``tcp_rcv_state_process()`` (net/ipv4/tcp_input.c): every state but ESTABLISHED and
    LISTEN.  In FIN_WAIT1/FIN_WAIT2 with ``RCV_SHUTDOWN`` (closed, or shut down both ways),
    a segment carrying data beyond ``rcv_nxt`` is aborted with a reset (``TCPAbortOnData``);
    an old retransmission is not."""

    state = sk.sk_state
    if state == TCP_SYN_SENT:
        _proto.tcp_rcv_synsent_state_process(sk, skb, seg)
        return
    if state == TCP_TIME_WAIT:
        _proto.tcp_timewait_state_process(sk, skb, seg)
        return
    if state == TCP_CLOSE:
        kfree_skb(skb)
        return
    if not _tcp_validate_incoming(sk, skb, seg):
        return
    if not seg.flags & TCPHDR_ACK:
        kfree_skb(skb)
        return
    if state == TCP_SYN_RECV:
        ack = unwrap(sk.snd_una, seg.ack32)
        if ack != sk.snd_nxt:
            _proto.tcp_send_reset_for(sk, seg)
            kfree_skb(skb)
            return
        _proto.tcp_synrecv_established(sk, seg)
    if tcp_ack(sk, seg, bool(skb.len) or bool(seg.flags & TCPHDR_FIN)) < 0:
        kfree_skb(skb)
        return
    state = sk.sk_state
    seq = _seq_of(sk, seg)
    # the segment brings data beyond rcv_nxt (its end_seq - fin is after it)
    new_data = bool(skb.len or seg.flags & TCPHDR_FIN) and seq + skb.len > sk.rcv_nxt
    fin_acked = sk.snd_una == sk.write_seq and sk.fin_pending
    if state == TCP_FIN_WAIT1 and fin_acked:
        _proto.tcp_set_state(sk, TCP_FIN_WAIT2)
        sk.sk_shutdown |= SEND_SHUTDOWN
        sk.sk_state_change()
        if sk.orphaned and _proto.tcp_orphan_fin_acked(sk, seg, new_data):
            kfree_skb(skb)
            return
    elif state == TCP_CLOSING and fin_acked:
        _proto.tcp_time_wait(sk)
        kfree_skb(skb)
        return
    elif state == TCP_LAST_ACK and fin_acked:
        _proto.tcp_done(sk)
        kfree_skb(skb)
        return
    # step 6: the URG bit (for every state that gets here, data or not)
    if seg.flags & TCPHDR_URG or sk.urg_data == TCP_URG_NOTYET:
        tcp_urg(sk, skb, seg)
    state = sk.sk_state
    # step 7: CLOSE_WAIT, CLOSING and LAST_ACK queue nothing more — but a segment from before
    # rcv_nxt (a retransmission, a loss probe of the data and FIN we hold) goes on as in
    # FIN_WAIT, so that tcp_data_queue() D-SACKs it and ACKs at once (quick-ACK mode)
    old = state in (TCP_CLOSE_WAIT, TCP_CLOSING, TCP_LAST_ACK) and seq < sk.rcv_nxt
    # RFC 1122: new data for a socket shut for reading (closed, or SHUT_RDWR) in FIN_WAIT is
    # answered with a reset; a retransmission of what already arrived (nothing beyond
    # rcv_nxt) is not new, and is only acknowledged
    shut_for_reading = sk.sk_shutdown & RCV_SHUTDOWN
    if new_data and shut_for_reading and (old or state in (TCP_FIN_WAIT1, TCP_FIN_WAIT2)):
        sk.net.stats.TcpExtTCPAbortOnData += 1
        # tcp_v4_do_rcv()'s reply to the segment (tcp_v4_send_reset): its sequence number
        # is the segment's ACK, not our snd_nxt, and it carries no ACK of its own
        _proto.tcp_send_reset_for(sk, seg, skb.len)
        tcp_reset(sk)  # the socket itself ends as if reset: ECONNRESET for its user
        kfree_skb(skb)
        return
    if old or state in (TCP_ESTABLISHED, TCP_FIN_WAIT1, TCP_FIN_WAIT2):
        _tcp_data_and_checks(sk, skb, seg)
        return
    # CLOSE_WAIT, CLOSING, LAST_ACK: the peer already sent its FIN; nothing more to queue
    kfree_skb(skb)
    tcp_data_snd_check(sk)
    tcp_ack_snd_check(sk)


_unused = (SHUTDOWN_MASK, TCP_MIN_MSS, TCPHDR_SYN)

# tcp_v4_init / tcpv6_init: TCP joins both protocol tables, so IP reaches it without importing it
inet_add_protocol(IPPROTO_TCP, tcp_v4_rcv)
inet6_add_protocol(IPPROTO_TCP, tcp_v6_rcv)
