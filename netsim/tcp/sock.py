"""``struct tcp_sock``: a TCP connection's state (include/linux/tcp.h,
include/net/inet_connection_sock.h), and ``TCP_SKB_CB`` (include/net/tcp.h).

The fields keep the kernel's names so that a reader can follow ``tcp_sendmsg_locked`` or
``tcp_ack`` in the kernel and here side by side:

* send side — ``write_seq`` (next byte to queue), ``snd_nxt``, ``snd_una``, ``snd_wnd``,
  ``max_window``, ``pushed_seq``, ``snd_sml``, ``mss_cache``, ``nonagle``, ``snd_cwnd``,
  ``snd_ssthresh``, ``packets_out``, ``retrans_out``, ``srtt_us``/``mdev_us``/``rttvar_us``;
* receive side — ``rcv_nxt``, ``rcv_wnd``, ``rcv_wup``, ``copied_seq``, ``window_clamp``,
  ``rcv_ssthresh``, ``rx_opt`` (negotiated options), the delayed-ACK state (``icsk_ack``);
* urgent data — ``snd_up`` (the send urgent pointer: one past the last urgent byte written;
  it follows ``snd_una`` outside urgent mode) and, received, ``urg_seq`` (the sequence number
  of the peer's urgent byte) and ``urg_data`` (``TCP_URG_NOTYET`` until that byte arrives,
  then ``TCP_URG_VALID`` with the byte in the low 8 bits, ``TCP_URG_READ`` once
  ``recv(MSG_OOB)`` took it, 0 once the reader is past it);
* queues — ``sk_write_queue`` (skbs not yet sent), ``tcp_rtx_queue`` (sent, not yet
  acknowledged) and ``out_of_order_queue`` (both by sequence number: a
  :class:`~netsim.tcp.seq_queue.SeqQueue` each, for the kernel's rbtrees),
  ``sk_receive_queue``, and for a listener its accept queue.

``sk_owned_by_user``/``sk_backlog`` reproduce the socket lock: segments that arrive for a
socket while a system call is working on it (loopback delivers inside the sender's call) wait
on the backlog and are processed at ``release_sock``, as in Linux.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Final

from ..netns.timers import Timer
from ..skb import SkBuff
from ..sock.constants import SO_OOBINLINE
from ..sock.sock import SOCK_RCVBUF_LOCK, Sock
from .seq_queue import SeqQueue

if TYPE_CHECKING:
    from ..netns import Net
    from .cong import TcpCongestionOps
    from .ulp import TcpUlpOps

__all__ = [
    "TCP_INIT_CWND",
    "TCP_MSS_DEFAULT",
    "TCP_URG_NOTYET",
    "TCP_URG_READ",
    "TCP_URG_VALID",
    "TcpSkbCb",
    "TcpSock",
    "tcb",
    "tcp_mstamp",
    "tcp_skb_timestamp_ts",
    "tcp_ts",
]

TCP_MSS_DEFAULT: Final = 536
TCP_MIN_MSS: Final = 88
TCP_INIT_CWND: Final = 10
TCP_INFINITE_SSTHRESH: Final = 0x7FFFFFFF
TCP_MAX_QUICKACKS: Final = 16
TCP_TIMEOUT_INIT: Final = 1.0
#: ``TCP_TIMEOUT_MIN_US``: the smallest timer slack (2 ms), seconds
TCP_TIMEOUT_MIN: Final = 0.002
TCP_RTO_MIN: Final = 0.2
TCP_RTO_MAX: Final = 120.0
#: the delayed-ACK constants in jiffies (``HZ`` = 1000, so milliseconds), as
#: include/net/tcp.h has them: ``TCP_DELACK_MIN`` = ``TCP_ATO_MIN`` = HZ/25,
#: ``TCP_DELACK_MAX`` = HZ/5; ``icsk_ack.ato`` is kept in the same unit
TCP_DELACK_MIN: Final = 40
TCP_DELACK_MAX: Final = 200
TCP_ATO_MIN: Final = 40
TCP_TIMEWAIT_LEN: Final = 60.0

# tp->nonagle bits (include/net/tcp.h)
TCP_NAGLE_OFF: Final = 1
TCP_NAGLE_CORK: Final = 2
TCP_NAGLE_PUSH: Final = 4

# icsk_ack.pending
ICSK_ACK_SCHED: Final = 1
ICSK_ACK_TIMER: Final = 2
ICSK_ACK_PUSHED: Final = 4
ICSK_ACK_PUSHED2: Final = 8
ICSK_ACK_NOW: Final = 16

# tp->urg_data states (include/net/tcp.h); the low 8 bits hold the urgent byte when VALID
TCP_URG_VALID: Final = 0x0100
TCP_URG_NOTYET: Final = 0x0200
TCP_URG_READ: Final = 0x0400

# icsk_pending: what the retransmit timer is armed for (include/net/inet_connection_sock.h)
ICSK_TIME_RETRANS: Final = 1
ICSK_TIME_LOSS_PROBE: Final = 5
ICSK_TIME_REO_TIMEOUT: Final = 6

# icsk_ca_state
TCP_CA_OPEN: Final = 0
TCP_CA_DISORDER: Final = 1
TCP_CA_CWR: Final = 2
TCP_CA_RECOVERY: Final = 3
TCP_CA_LOSS: Final = 4

# enum tcp_ca_event (include/net/tcp.h): what tcp_ca_event() tells a congestion control
CA_EVENT_TX_START: Final = 0  # first transmission with nothing in flight
CA_EVENT_CWND_RESTART: Final = 1  # congestion window restart (after idle)
CA_EVENT_COMPLETE_CWR: Final = 2  # end of a window reduction (CWR or Recovery)
CA_EVENT_LOSS: Final = 3  # loss timeout


class TcpSkbCb:
    """``struct tcp_skb_cb`` (``TCP_SKB_CB(skb)``): where an skb sits in the byte stream."""

    __slots__ = (
        "end_seq",
        "eor",
        "lost",
        "retransmitted",
        "sacked",
        "sacked_retrans",
        "sent_at",
        "seq",
        "tcp_flags",
    )

    def __init__(self, seq: int, end_seq: int, tcp_flags: int) -> None:
        self.seq = seq
        self.end_seq = end_seq
        self.tcp_flags = tcp_flags
        self.eor = False
        self.sent_at = -1.0
        self.retransmitted = False
        self.lost = False
        self.sacked = False  # TCPCB_SACKED_ACKED: the peer SACKed all of it
        #: TCPCB_SACKED_RETRANS: a retransmission of it is in flight (counted in
        #: ``retrans_out``); ``retransmitted`` is TCPCB_EVER_RETRANS
        self.sacked_retrans = False

    def copy(self) -> TcpSkbCb:
        """By value, as ``__copy_skb_header`` copies ``cb``."""
        cb = TcpSkbCb(self.seq, self.end_seq, self.tcp_flags)
        cb.eor = self.eor
        cb.sent_at = self.sent_at
        cb.retransmitted = self.retransmitted
        cb.lost = self.lost
        cb.sacked = self.sacked
        cb.sacked_retrans = self.sacked_retrans
        return cb

    def __repr__(self) -> str:
        return f"TcpSkbCb(seq={self.seq}, end_seq={self.end_seq}, flags={self.tcp_flags:#x})"


def tcp_ts(sk: TcpSock) -> int:
    """The timestamp clock (``tcp_time_stamp_ts``): milliseconds, 32 bits, with the
    connection's random offset."""
    return (int(sk.net.now * 1000 + 1e-6) + sk.ts_offset) & 0xFFFFFFFF


def tcp_mstamp(sk: TcpSock) -> int:
    """``tp->tcp_mstamp`` (``tcp_clock_us()``): the clock in microseconds.  The kernel caches it
    when a packet arrives or leaves (``tcp_mstamp_refresh``); netsim reads the clock the runtime
    last set, which on a busy flow is the same instant to well within a round trip."""
    return int(sk.net.now * 1_000_000)


def tcp_skb_timestamp_ts(sk: TcpSock, cb: TcpSkbCb) -> int:
    """``tcp_skb_timestamp_ts()``: when the skb was last sent, in the timestamp clock."""
    return (int(cb.sent_at * 1000) + sk.ts_offset) & 0xFFFFFFFF


def tcb(skb: SkBuff) -> TcpSkbCb:
    """``TCP_SKB_CB(skb)``."""
    cb: TcpSkbCb = skb.cb
    return cb


#: ``TcpSock``'s own fields (what ``tcp_disconnect`` resets to a fresh socket's values);
#: a module constant because a compiled class has no ``__slots__`` to read at run time
TCP_SOCK_FIELDS: Final = (
    # send sequence space
    "write_seq",
    "snd_nxt",
    "snd_una",
    "snd_wl1",
    "snd_wnd",
    "max_window",
    "pushed_seq",
    "snd_sml",
    "snd_up",
    "iss",
    # upper-layer protocol (tcp_ulp.c): ops, its per-socket state, its clean_acked hook
    "icsk_ulp_ops",
    "icsk_ulp_data",
    "tcp_clean_acked",
    # receive sequence space
    "rcv_nxt",
    "rcv_wnd",
    "rcv_wup",
    "copied_seq",
    "window_clamp",
    "rcv_ssthresh",
    "irs",
    "urg_data",
    "urg_seq",
    "scaling_ratio",
    "rcvq_space",
    "rcvq_time",
    "rcvq_seq",
    "rcv_rtt_us",
    "rcv_rtt_seq",
    "rcv_rtt_time",
    "rcv_rtt_last_tsecr",
    # options
    "mss_cache",
    "advmss",
    "mss_clamp",
    "user_mss",
    "tcp_header_len",
    "snd_wscale",
    "rcv_wscale",
    "wscale_ok",
    "tstamp_ok",
    "sack_ok",
    "sacked_out",
    "lost_out",
    "rack_sent_at",
    "rack_end_seq",
    "rack_rtt",
    "prr_delivered",
    "prr_out",
    "prior_cwnd",
    "reordering",
    "reord_seen",
    "highest_sack_seq",
    "rack_advanced",
    "rack_reo_wnd_steps",
    "rack_reo_wnd_persist",
    "rack_dsack_seen",
    "rack_last_delivered",
    "undo_marker",
    "undo_retrans",
    "prior_ssthresh",
    "retrans_stamp",
    "rcv_tsecr",
    "tlp_high_seq",
    "tlp_retrans",
    "frto",
    "dsack_dups",
    "bytes_retrans",
    "rcv_ooopack",
    "total_rto",
    "total_rto_recoveries",
    "xmit_pending",
    "sack_first_sent",
    "sack_last_sent",
    "selective_acks",
    "duplicate_sack",
    "ts_recent",
    "ts_offset",
    "gso_segs",
    "sk_gso_max_size",
    "sk_gso_max_segs",
    # sending behaviour
    "nonagle",
    "notsent_lowat",
    "autocork_throttled",
    # congestion control
    "snd_cwnd",
    "chrono_type",
    "chrono_start",
    "chrono_stat",
    "snd_cwnd_cnt",
    "snd_cwnd_clamp",
    "lsndtime",
    "is_cwnd_limited",
    "max_packets_out",
    "cwnd_usage_seq",
    "snd_ssthresh",
    "ca_state",
    "packets_out",
    "retrans_out",
    "total_retrans",
    "high_seq",
    # RTT/RTO
    "srtt_us",
    "mdev_us",
    "rttvar_us",
    "mdev_max_us",
    "rtt_seq",
    "rtt_min_us",
    "rto",
    "rto_max",
    "backoff",
    "retransmits",
    # delayed ACK
    "ack_pending",
    "ack_quick",
    "ack_ato",
    "ack_last_seg_size",
    "ack_rcv_mss",
    "ack_pingpong",
    "ack_lrcvtime",
    # timers
    "rto_timer",
    "delack_timer",
    "delack_deadline",
    "rto_deadline",
    "probe_timer",
    "timewait_timer",
    "syn_timer",
    # queues
    "tcp_rtx_queue",
    "out_of_order_queue",
    "accept_queue",
    "max_ack_backlog",
    "listener",
    "sk_backlog",
    "sk_owned_by_user",
    "skb_allocs",
    # statistics for tcp_info
    "bytes_acked",
    "bytes_received",
    "bytes_sent",
    "segs_in",
    "segs_out",
    "data_segs_in",
    "data_segs_out",
    "delivered",
    # lifecycle
    "orphaned",
    "done",
    "fin_pending",
    "sock_done",
    "linger2",
    "tw_entry_stamp",
    "tw_substate",
    "tw_rcv_wnd",
    "last_oow_ack",
    # options stored for getsockopt (netsim sends no keepalives, defers no accept)
    "keepalive_time",
    "keepalive_intvl",
    "keepalive_probes",
    "syn_retries",
    "defer_accept",
    "user_timeout",
    "recvmsg_inq",
    # the congestion control (icsk_ca_ops, icsk_ca_priv, icsk_ca_setsockopt)
    "ca_ops",
    "ca_priv",
    "ca_setsockopt",
)


class TcpSock(Sock):
    """A TCP socket (``struct tcp_sock`` + ``inet_connection_sock``)."""

    __slots__ = TCP_SOCK_FIELDS

    def __init__(self, net: Net, family: int, type_: int, protocol: int) -> None:
        super().__init__(net, family, type_, protocol)
        wmem = net.sysctl_vec("net.ipv4.tcp_wmem")
        rmem = net.sysctl_vec("net.ipv4.tcp_rmem")
        self.sk_sndbuf = wmem[1]
        self.sk_rcvbuf = rmem[1]
        self.write_seq = 0
        self.snd_nxt = 0
        self.snd_una = 0
        self.snd_wl1 = 0
        self.snd_wnd = 0
        self.max_window = 0
        self.pushed_seq = 0
        self.snd_sml = 0
        self.snd_up = 0
        self.iss = 0
        self.icsk_ulp_ops: TcpUlpOps | None = None
        self.icsk_ulp_data: Any = None
        #: ``tp->tcp_clean_acked`` is set: ACKs that move ``snd_una`` tell the ULP
        self.tcp_clean_acked = False
        self.rcv_nxt = 0
        self.rcv_wnd = 0
        self.rcv_wup = 0
        self.copied_seq = 0
        self.window_clamp = 0
        self.rcv_ssthresh = 0
        self.irs = 0
        self.urg_data = 0
        self.urg_seq = 0
        self.scaling_ratio = 128  # TCP_DEFAULT_SCALING_RATIO: 50 % of the buffer is window
        #: receive-buffer autotuning (``tp->rcvq_space``): the bytes the reader took in the
        #: last measured round trip, and where (``copied_seq``) and when (netsim's clock, in
        #: seconds) the current measurement began
        self.rcvq_space = 0
        self.rcvq_time = 0.0
        self.rcvq_seq = 0
        #: the receiver's RTT estimate (``tp->rcv_rtt_est``): ``rtt_us`` is 8 times the RTT
        #: in microseconds (0: none yet); the window-based measurement ends when ``rcv_nxt``
        #: reaches ``rcv_rtt_seq`` and began at ``rcv_rtt_time`` (``tcp_mstamp``, µs; -1:
        #: none begun — the kernel's 0, which netsim's virtual clock can be); the last
        #: timestamp echo sampled (``rcv_rtt_last_tsecr``)
        self.rcv_rtt_us = 0
        self.rcv_rtt_seq = 0
        self.rcv_rtt_time = -1
        self.rcv_rtt_last_tsecr = 0
        self.mss_cache = TCP_MSS_DEFAULT
        self.advmss = 0
        self.mss_clamp = 0xFFFF
        self.user_mss = 0
        self.tcp_header_len = 20
        self.snd_wscale = 0
        self.rcv_wscale = 0
        self.wscale_ok = False
        self.tstamp_ok = False
        self.sack_ok = False
        #: segments the peer SACKed (``tp->sacked_out``): out of the network, not yet acked
        self.sacked_out = 0
        #: segments marked lost and not yet resent (``lost_out`` less the resent ones: what
        #: ``tcp_packets_in_flight`` leaves out besides the SACKed)
        self.lost_out = 0
        #: RACK (net/ipv4/tcp_recovery.c): when the most recently sent of the segments
        #: (S)ACKed so far left, and the RTT it measured
        self.rack_sent_at = -1.0
        self.rack_end_seq = 0
        self.rack_rtt = 0.0
        #: Proportional Rate Reduction in recovery (RFC 6937): delivered and sent since it
        #: began, and the window it began from
        self.prr_delivered = 0
        self.prr_out = 0
        self.prior_cwnd = 0
        #: the reordering degree the sender assumes, in segments (``tp->reordering``, from
        #: ``net.ipv4.tcp_reordering``, raised by :func:`tcp_check_sack_reordering` up to
        #: ``tcp_max_reordering``), and how often reordering was seen (``reord_seen``)
        self.reordering = net.sysctl_int("net.ipv4.tcp_reordering")
        self.reord_seen = 0
        #: the end of the highest SACKed sequence (``tcp_highest_sack_seq()``, while
        #: ``sacked_out`` is non-zero)
        self.highest_sack_seq = 0
        #: RACK's state besides the reference above (``tp->rack``): a new (S)ACK since the
        #: last loss scan, the reordering window in steps of min RTT / 4, how many recoveries
        #: keep a widened window, a D-SACK waiting to widen it, and ``snd_nxt`` when it last
        #: widened (netsim's stand-in for ``rack.last_delivered``: one widening per round trip)
        self.rack_advanced = False
        self.rack_reo_wnd_steps = 1
        self.rack_reo_wnd_persist = 0
        self.rack_dsack_seen = False
        self.rack_last_delivered = 0
        #: undo (``tcp_init_undo``): ``snd_una`` when the window was cut (0: nothing to
        #: undo), retransmissions not yet proven needless by D-SACKs (-1: none sent), the
        #: ``ssthresh`` to restore, and the timestamp clock at the first retransmission
        self.undo_marker = 0
        self.undo_retrans = 0
        self.prior_ssthresh = 0
        self.retrans_stamp = 0
        #: the echoed timestamp of the ACK being processed (``rx_opt.rcv_tsecr``; 0: none)
        self.rcv_tsecr = 0
        #: the tail loss probe (``tlp_high_seq``: ``snd_nxt`` when it was sent, 0: none out;
        #: ``tlp_retrans``: it resent old data rather than sending new)
        self.tlp_high_seq = 0
        self.tlp_retrans = False
        #: F-RTO (RFC 5682) is judging the last timeout (``tp->frto``)
        self.frto = False
        #: segments the peer reported as duplicates by D-SACK (``dsack_dups``)
        self.dsack_dups = 0
        #: for tcp_info: bytes resent, out-of-order segments received, retransmission
        #: timeouts and the recoveries they began (``tcp_update_rto_stats``)
        self.bytes_retrans = 0
        self.rcv_ooopack = 0
        self.total_rto = 0
        self.total_rto_recoveries = 0
        #: what the retransmit timer is armed for (``icsk_pending``: ICSK_TIME_RETRANS,
        #: ICSK_TIME_LOSS_PROBE or ICSK_TIME_REO_TIMEOUT; 0: nothing)
        self.xmit_pending = 0
        #: scratch of one ACK: when the earliest never-retransmitted segment it newly SACKed
        #: was sent (``sack_state.first_sackt``; -1: none) — the SACK RTT sample
        self.sack_first_sent = -1.0
        self.sack_last_sent = -1.0  # ... and the latest (``last_sackt``)
        #: the receiver's SACK blocks (``selective_acks``), the most recent first: unwrapped
        #: ``(start, end)`` ranges held in the out-of-order queue, at most TCP_NUM_SACKS
        self.selective_acks: list[tuple[int, int]] = []
        #: a D-SACK block for the next segment sent (``duplicate_sack``, ``rx_opt.dsack``)
        self.duplicate_sack: tuple[int, int] | None = None
        self.ts_recent = 0
        self.ts_offset = 0
        self.gso_segs = 0
        self.sk_gso_max_size = 65536 - (320 + 1)
        self.sk_gso_max_segs = 65535
        self.nonagle = 0
        self.notsent_lowat = 0
        self.autocork_throttled = False
        self.snd_cwnd = TCP_INIT_CWND
        #: the chronographs (``tcp_chrono_*``): what limits the sender now (``chrono_type``,
        #: 0 none, 1 busy, 2 the receive window, 3 the send buffer), since when (jiffies),
        #: and the jiffies spent in each so far
        self.chrono_type = 0
        self.chrono_start = 0
        self.chrono_stat = [0, 0, 0]
        self.snd_cwnd_cnt = 0
        self.snd_cwnd_clamp = 0xFFFFFFFF  # tcp_init_sock(): ~0, no limit
        #: when data was last sent (``lsndtime``): ``tcp_jiffies32``
        self.lsndtime = 0
        self.is_cwnd_limited = False
        self.max_packets_out = 0
        self.cwnd_usage_seq = 0
        self.snd_ssthresh = TCP_INFINITE_SSTHRESH
        self.ca_state = TCP_CA_OPEN
        self.packets_out = 0
        self.retrans_out = 0
        self.total_retrans = 0
        self.high_seq = 0
        self.srtt_us = 0
        self.mdev_us = int(TCP_TIMEOUT_INIT * 1e6)
        self.rttvar_us = int(TCP_TIMEOUT_INIT * 1e6)
        self.mdev_max_us = 0
        self.rtt_seq = 0
        self.rtt_min_us = 0
        self.rto = TCP_TIMEOUT_INIT
        #: the RTO's ceiling, seconds (``icsk_rto_max``: ``net.ipv4.tcp_rto_max_ms`` when the
        #: socket is made, ``TCP_RTO_MAX_MS`` after)
        self.rto_max = net.sysctl_int("net.ipv4.tcp_rto_max_ms") / 1000
        self.backoff = 0
        self.retransmits = 0
        self.ack_pending = 0
        self.ack_quick = 0
        self.ack_last_seg_size = 0
        #: ``icsk_ack.ato``, jiffies: 0 until the first data (``tcp_event_data_recv`` then
        #: enters quick-ACK mode), then tracks the peer's inter-arrival time
        self.ack_ato = 0
        self.ack_rcv_mss = TCP_MSS_DEFAULT
        #: ``icsk_ack.pingpong``: a count of request/response turns (``tcp_event_data_sent``);
        #: interactive once it reaches ``net.ipv4.tcp_pingpong_thresh``
        self.ack_pingpong = 0
        #: ``icsk_ack.lrcvtime``: ``tcp_jiffies32`` when data last arrived
        self.ack_lrcvtime = 0
        self.rto_timer: Timer | None = None
        self.delack_timer: Timer | None = None
        self.delack_deadline = 0.0  # icsk_ack.timeout
        self.rto_deadline = 0.0  # icsk_timeout
        self.probe_timer: Timer | None = None
        self.timewait_timer: Timer | None = None
        self.syn_timer: Timer | None = None
        self.tcp_rtx_queue = SeqQueue()
        self.out_of_order_queue = SeqQueue()
        self.accept_queue: deque[TcpSock] = deque()
        self.max_ack_backlog = 0
        self.listener: TcpSock | None = None
        self.sk_backlog: deque[SkBuff] = deque()
        self.sk_owned_by_user = False
        self.skb_allocs = 0
        self.bytes_acked = 0
        self.bytes_received = 0
        self.bytes_sent = 0
        self.segs_in = 0
        self.segs_out = 0
        self.data_segs_in = 0
        self.data_segs_out = 0
        self.delivered = 0
        self.orphaned = False
        self.done = False
        self.fin_pending = False
        self.sock_done = False  # SOCK_DONE: the peer's FIN arrived (tcp_fin)
        self.linger2 = 0  # TCP_LINGER2 seconds; 0: net.ipv4.tcp_fin_timeout; -1: no FIN_WAIT2
        self.last_oow_ack = -1.0
        #: when a timewait socket entered TIME_WAIT (``tw_entry_stamp``; -1: not one)
        self.tw_entry_stamp = -1.0
        #: a timewait socket's ``tw_substate``: ``FIN_WAIT2`` while it waits for the peer's
        #: FIN (an orphan's FIN_WAIT2, ``tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)``), then
        #: ``TIME_WAIT``; and the receive window it had (``tw_rcv_wnd``)
        self.tw_substate = 0
        self.tw_rcv_wnd = 0
        self.keepalive_time = 0  # 0: the sysctl's value
        self.keepalive_intvl = 0
        self.keepalive_probes = 0
        self.syn_retries = 0
        self.defer_accept = 0
        self.user_timeout = 0
        #: ``TCP_INQ``: reads report the bytes left (``tp->recvmsg_inq``)
        self.recvmsg_inq = False
        #: the congestion control (``icsk_ca_ops``): ``net.ipv4.tcp_congestion_control`` at
        #: creation (``tcp_assign_congestion_control``), or ``TCP_CONGESTION``'s choice
        from .cong import tcp_get_default_congestion_control

        ca = tcp_get_default_congestion_control(net)
        self.ca_ops: TcpCongestionOps = ca
        #: its private state for this socket (``icsk_ca_priv``): ``None`` for Reno, a
        #: :class:`~netsim.tcp.cong.BicTcp` for CUBIC
        self.ca_priv: object | None = ca.alloc_priv()
        #: the algorithm was chosen with ``TCP_CONGESTION`` (``icsk_ca_setsockopt``): a
        #: listener's children take it rather than the sysctl's
        self.ca_setsockopt = False

    @property
    def ca_name(self) -> str:
        """The congestion control's name (``icsk_ca_ops->name``: ``TCP_CONGESTION``)."""
        return self.ca_ops.name

    @property
    def rtx_queue(self) -> SeqQueue:
        """``tcp_rtx_queue``: skbs sent and not yet acknowledged, keyed by sequence number."""
        return self.tcp_rtx_queue

    # -- behaviour the generic layers ask for ---------------------------------------------

    def stream_writable(self) -> bool:
        """``sk_stream_is_writeable``: room for a new skb, and not above ``notsent_lowat``."""
        from .output import sk_stream_memory_free

        return sk_stream_memory_free(self)

    def stream_poll_writable(self) -> bool:
        """``tcp_poll()``'s ``EPOLLOUT`` test (net/ipv4/tcp.c), what ``wait_writable`` (trio's
        ``wait_send_all_might_not_block``) waits for: ``__sk_stream_is_writeable(sk, 1)`` —
        free space of at least half of what is queued (``sk_stream_min_wspace``),
        ``sk_wmem_queued`` below ``sk_sndbuf``, and, in the ``wake`` form of
        ``tcp_stream_memory_free()``, fewer than *half* ``TCP_NOTSENT_LOWAT`` bytes written
        but not yet sent.  When the test fails, ``tcp_poll()`` sets ``SOCK_NOSPACE``: that flag
        is what makes the ACK path (``tcp_check_space()`` -> ``tcp_new_space()`` ->
        ``sk_stream_write_space()``) wake the poller once data has left."""
        lowat = self.notsent_lowat or self.net.sysctl_int("net.ipv4.tcp_notsent_lowat")
        queued = self.sk_wmem_queued
        writable = (
            self.sk_sndbuf - queued >= queued >> 1
            and queued < self.sk_sndbuf
            and (self.write_seq - self.snd_nxt) << 1 < lowat
        )
        if not writable:
            self.sock_nospace = True
        return writable

    def stream_readable(self) -> bool:
        """Data, EOF or an error to report: ``tcp_poll()``'s ``EPOLLIN`` (net/ipv4/tcp.c),
        where a reader standing at the urgent mark with ``SO_OOBINLINE`` off needs one byte
        more than the urgent byte — that byte is not data to it (``recv`` steps over it)."""
        if self.sk_receive_queue and not (
            self.urg_data
            and self.urg_seq == self.copied_seq
            and SO_OOBINLINE not in self.sk_flags
            and self.rcv_nxt - self.copied_seq < 2
        ):
            return True
        return bool(self.sk_err or self.sk_shutdown & 1 or self.accept_queue) or self.sk_state == 7

    def poll_pri(self) -> bool:
        """``tcp_poll()``'s ``EPOLLPRI``: an urgent byte has arrived and not been read with
        ``MSG_OOB`` (also with ``SO_OOBINLINE``, where it waits in the stream)."""
        return bool(self.urg_data & TCP_URG_VALID)

    def at_mark(self) -> bool:
        """``SIOCATMARK`` (``tcp_ioctl()``, what ``sockatmark(3)`` asks): the next byte
        ``recv`` would read is the urgent byte (or where the announced one will be)."""
        return bool(self.urg_data) and self.urg_seq == self.copied_seq

    def sk_write_space(self) -> None:
        """``sk_stream_write_space()``: once a third of ``sk_sndbuf`` is free, clear
        ``SOCK_NOSPACE`` and wake the writer; before that, leave both alone so a later ACK
        tries again."""
        from .output import sk_stream_memory_free

        ulp = self.icsk_ulp_ops
        if ulp is not None:
            ulp.write_space(self)  # tls_write_space: finish a part-sent record first
        if sk_stream_memory_free(self) and self.sk_sndbuf - self.sk_wmem_queued >= (
            self.sk_wmem_queued >> 1
        ):
            self.sock_nospace = False
            wq = self.sk_wq
            if wq.sleepers:
                wq.wake()

    def enter_memory_pressure(self) -> None:
        """``tcp_enter_memory_pressure()`` (net/ipv4/tcp.c): TCP's pool is under pressure;
        each entry is counted (``TcpExtTCPMemoryPressures``)."""
        net = self.net
        if not net.tcp_memory_pressure:
            net.tcp_memory_pressure = True
            net.stats.TcpExtTCPMemoryPressures += 1

    def unhash(self) -> None:
        """Leave the host's TCP tables."""
        from .proto import tcp_unhash

        tcp_unhash(self)

    def has_ulp_level(self, level: int) -> bool:
        ops = self.icsk_ulp_ops
        return ops is not None and level in ops.levels

    def ulp_setsockopt(self, level: int, optname: int, raw: bytes, fault: bool) -> None:
        ops = self.icsk_ulp_ops
        assert ops is not None
        ops.setsockopt(self, level, optname, raw, fault)

    def ulp_getsockopt(self, level: int, optname: int, buflen: int) -> int | bytes:
        ops = self.icsk_ulp_ops
        assert ops is not None
        return ops.getsockopt(self, level, optname, buflen)

    def validate_xmit_skb(self, dev: object, skb: SkBuff) -> SkBuff | None:
        """``sk->sk_validate_xmit_skb``: the ULP's (TLS device offload's)."""
        ops = self.icsk_ulp_ops
        if ops is None:
            return skb
        return ops.validate_xmit_skb(self, dev, skb)

    def proto_setsockopt(self, optname: int, optval: bytes) -> None:
        from .options import tcp_setsockopt

        tcp_setsockopt(self, optname, optval)

    def proto_getsockopt(self, optname: int, buflen: int) -> int | bytes:
        from .options import tcp_getsockopt

        return tcp_getsockopt(self, optname, buflen)

    def set_rcvlowat(self, val: int) -> None:
        """``tcp_set_rcvlowat()`` (net/ipv4/tcp.c): capped at half of ``sk_rcvbuf`` if the
        user set it, else half of ``tcp_rmem[2]``; 0 means 1.  Unless ``SO_RCVBUF`` locked
        it, the receive buffer grows to hold a window of ``val`` bytes (and the window clamp
        with it), so the low-water mark can be reached."""
        if self.sk_userlocks & SOCK_RCVBUF_LOCK:
            cap = self.sk_rcvbuf >> 1
        else:
            cap = self.net.sysctl_vec("net.ipv4.tcp_rmem")[2] >> 1
        val = min(val, cap)
        self.sk_rcvlowat = val or 1
        self.sk_data_ready()
        if self.sk_userlocks & SOCK_RCVBUF_LOCK:
            return
        space = (val << 8) // self.scaling_ratio  # tcp_space_from_win()
        if space > self.sk_rcvbuf:
            self.sk_rcvbuf = space
            if self.window_clamp and self.window_clamp < val:
                self.window_clamp = val

    def shutdown(self, how: int) -> None:
        """``tcp_shutdown``/``inet_shutdown``."""
        from .proto import tcp_shutdown

        tcp_shutdown(self, how)

    def close(self) -> None:
        """``tcp_close``: the application let go of the socket."""
        from .proto import tcp_close

        tcp_close(self)

    def release(self) -> None:
        """Destroy: free every queue and timer (host shutdown or the end of the connection)."""
        from .proto import tcp_destroy

        tcp_destroy(self)

    def info(self) -> dict[str, Any]:
        """``tcp_info``: the fields ``ss -tin`` shows."""
        return {
            "state": self.sk_state,
            "rto_us": int(self.rto * 1e6),
            "snd_mss": self.mss_cache,
            "rcv_mss": self.ack_rcv_mss,
            "snd_cwnd": self.snd_cwnd,
            "snd_ssthresh": self.snd_ssthresh,
            "rtt_us": self.srtt_us >> 3,
            "rttvar_us": self.mdev_us >> 2,
            "retransmits": self.retransmits,
            "backoff": self.backoff,
            "total_retrans": self.total_retrans,
            "sacked": self.sacked_out,
            "lost": self.lost_out,
            "ca_state": self.ca_state,
            "retrans": self.retrans_out,
            "reordering": self.reordering,
            "reord_seen": self.reord_seen,
            "dsack_dups": self.dsack_dups,
            "total_rto": self.total_rto,
            "total_rto_recoveries": self.total_rto_recoveries,
            "ca_name": self.ca_ops.name,
            "snd_wnd": self.snd_wnd,
            "rcv_wnd": self.rcv_wnd,
            "rcv_rtt_us": self.rcv_rtt_us >> 3,
            "rcv_space": self.rcvq_space,
            "snd_wscale": self.snd_wscale,
            "rcv_wscale": self.rcv_wscale,
            "unacked": self.packets_out,
            "bytes_acked": self.bytes_acked,
            "bytes_received": self.bytes_received,
            "bytes_sent": self.bytes_sent,
            "segs_in": self.segs_in,
            "segs_out": self.segs_out,
            "notsent_bytes": self.write_seq - self.snd_nxt,
        }


# -- interactive ("pingpong") mode: include/net/inet_connection_sock.h ---------------------


def tcp_pingpong_thresh(sk: TcpSock) -> int:
    """``net.ipv4.tcp_pingpong_thresh`` (1 by default, ``tcp_sk_init``)."""
    return sk.net.sysctl_int("net.ipv4.tcp_pingpong_thresh")


def inet_csk_enter_pingpong_mode(sk: TcpSock) -> None:
    """``inet_csk_enter_pingpong_mode()``: the count jumps to the threshold."""
    sk.ack_pingpong = tcp_pingpong_thresh(sk)


def inet_csk_exit_pingpong_mode(sk: TcpSock) -> None:
    """``inet_csk_exit_pingpong_mode()``: the count starts again from 0."""
    sk.ack_pingpong = 0


def inet_csk_in_pingpong_mode(sk: TcpSock) -> bool:
    """``inet_csk_in_pingpong_mode()``: interactive once the count reaches
    ``net.ipv4.tcp_pingpong_thresh`` — ACKs then wait for data to ride on
    (``tcp_in_quickack_mode`` is false, ``tcp_cleanup_rbuf`` does not ACK a drained push)."""
    return sk.ack_pingpong >= tcp_pingpong_thresh(sk)


def inet_csk_inc_pingpong_cnt(sk: TcpSock) -> None:
    """``inet_csk_inc_pingpong_cnt()``: one more request/response turn (a ``u8``, saturating)."""
    if sk.ack_pingpong < 255:
        sk.ack_pingpong += 1
