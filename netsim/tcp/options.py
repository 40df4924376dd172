"""``SOL_TCP`` options (net/ipv4/tcp.c ``do_tcp_setsockopt``/``do_tcp_getsockopt``) with
Linux's values, ranges and errors.

Every option reads a C ``int`` (``EINVAL`` if the value is shorter).  What each one does here:

* ``TCP_NODELAY``, ``TCP_CORK`` — Nagle and corking; turning ``TCP_NODELAY`` on or
  ``TCP_CORK`` off pushes what is queued.
* ``TCP_MAXSEG`` — the user's MSS clamp, 88..32767 or 0 (``tcp_sock_set_maxseg``).
* ``TCP_NOTSENT_LOWAT`` — any value; stored as the kernel's ``u32`` (so -1 means no limit)
  and read back as an ``int``.
* ``TCP_SYNCNT`` (1..127) — SYN retransmissions before ``connect()`` gives up.
* ``TCP_LINGER2`` — an orphan's ``FIN_WAIT2`` time in seconds, capped at 120; negative: no
  ``FIN_WAIT2`` at all, the close ends in an RST (``TCPAbortOnLinger``).
* ``TCP_WINDOW_CLAMP`` — the largest window offered (at least ``SOCK_MIN_RCVBUF / 2``; 0
  only on a closed socket, ``EINVAL`` otherwise).
* ``TCP_RTO_MAX_MS`` (1000..120000) — the ceiling of this socket's RTO (``icsk_rto_max``;
  new sockets take ``net.ipv4.tcp_rto_max_ms``).
* ``TCP_QUICKACK`` — leaves (1) or enters (0) interactive "pingpong" mode; reads 1 when not in
  it.
* ``TCP_CONGESTION`` — the congestion control, by name: ``b"cubic"`` or ``b"reno"`` (or any
  algorithm registered with :func:`netsim.tcp.cong.tcp_register_congestion_control`), read up
  to a NUL or ``TCP_CA_NAME_MAX - 1`` (15) bytes; an empty value is ``EINVAL``, an unknown
  name ``ENOENT``.  A connected socket switches at once (the new algorithm's ``init`` runs);
  a listener's choice passes to its children.  Read back, the name NUL-padded to
  ``TCP_CA_NAME_MAX`` (16) bytes, cut to the caller's length.  New sockets start with
  ``net.ipv4.tcp_congestion_control`` (``cubic``).
* ``TCP_ULP`` — attach an upper-layer protocol by name (``b"tls"``: :mod:`netsim.tls`), see
  :mod:`netsim.tcp.ulp`; read back as the NUL-padded name.
* ``TCP_INFO`` (read only) — ``struct tcp_info`` of 6.18, 280 bytes: the fields netsim keeps
  (state, congestion state, retransmits, backoff, options, window scales, RTO, ATO, MSS,
  unacked, retransmissions in flight, PMTU, windows, RTT, ssthresh, cwnd, advmss,
  reordering, byte and segment counts, not-sent bytes, delivered, the peer's and our
  windows, the chronographs' busy, receive-window-limited and send-buffer-limited times);
  fields for what netsim does not model (pacing — reported as unlimited, as Linux does for
  an unpaced socket — ECN, delivery rate, the times since the last data sent and ACK) are 0.

``TCP_USER_TIMEOUT`` (ms, ≥ 0) — how long retransmissions may go unanswered before the
connection gives up with ``ETIMEDOUT`` (``tcp_write_timeout``; 0: ``tcp_retries2``'s time).

``TCP_INQ`` (0 or 1, ``EINVAL`` otherwise) — every successful read carries a ``TCP_CM_INQ``
control message (``SOL_TCP``) with the bytes left to read
(:func:`~netsim.tcp.recvmsg.tcp_inq_hint`).

Stored and read back, with Linux's ranges, but not acted upon (netsim sends no keepalive
probes and does not defer accept): ``TCP_KEEPIDLE`` (1..32767 s), ``TCP_KEEPINTVL``
(1..32767 s), ``TCP_KEEPCNT`` (1..127), ``TCP_DEFER_ACCEPT`` (seconds, rounded to SYN-ACK
retransmissions as the kernel does).
"""

from __future__ import annotations

import struct
from typing import Final

from ..errors import errno, kernel_error
from ..sock.constants import (
    TCP_CONGESTION,
    TCP_CORK,
    TCP_DEFER_ACCEPT,
    TCP_INFO,
    TCP_INQ,
    TCP_KEEPCNT,
    TCP_KEEPIDLE,
    TCP_KEEPINTVL,
    TCP_LINGER2,
    TCP_MAXSEG,
    TCP_NODELAY,
    TCP_NOTSENT_LOWAT,
    TCP_QUICKACK,
    TCP_RTO_MAX_MS,
    TCP_SYNCNT,
    TCP_ULP,
    TCP_USER_TIMEOUT,
    TCP_WINDOW_CLAMP,
)
from ..sock.options import optval_int
from ..sock.sock import TCP_CLOSE, TCP_LISTEN
from .cong import TCP_CA_NAME_MAX, tcp_set_congestion_control
from .output import tcp_chrono_stats, tcp_delack_max, tcp_jiffies32, tcp_set_window_clamp
from .sock import (
    ICSK_ACK_PUSHED,
    ICSK_ACK_SCHED,
    TCP_NAGLE_CORK,
    TCP_NAGLE_OFF,
    TCP_NAGLE_PUSH,
    TcpSock,
    inet_csk_enter_pingpong_mode,
    inet_csk_exit_pingpong_mode,
    inet_csk_in_pingpong_mode,
)

__all__ = [
    "TCP_INFO_FIELDS",
    "TCP_INFO_FORMAT",
    "tcp_get_info",
    "tcp_getsockopt",
    "tcp_info_fields",
    "tcp_setsockopt",
]

TCP_MIN_MSS: Final = 88
MAX_TCP_WINDOW: Final = 32767
MAX_TCP_KEEPIDLE: Final = 32767
MAX_TCP_KEEPINTVL: Final = 32767
MAX_TCP_KEEPCNT: Final = 127
MAX_TCP_SYNCNT: Final = 127
#: ``TCP_FIN_TIMEOUT_MAX`` in seconds
TCP_FIN_TIMEOUT_MAX: Final = 120
#: ``TCP_TIMEOUT_INIT`` and ``TCP_RTO_MAX`` in seconds (``TCP_DEFER_ACCEPT``'s rounding)
_TIMEOUT_INIT: Final = 1
_RTO_MAX: Final = 120

#: ``struct tcp_info`` (include/uapi/linux/tcp.h, 6.18), native byte order: 280 bytes.
TCP_INFO_FORMAT: Final = (
    "=8B" + "24I" + "4Q" + "6I" + "4Q" + "2I" + "2Q" + "6I" + "2H" + "8I" + "2H"
)

#: ``struct tcp_info``'s members in order (include/uapi/linux/tcp.h, 6.18), as
#: :func:`tcp_info_fields` names them: the two bytes of bit fields are split
TCP_INFO_FIELDS: Final = (
    "tcpi_state",
    "tcpi_ca_state",
    "tcpi_retransmits",
    "tcpi_probes",
    "tcpi_backoff",
    "tcpi_options",
    "tcpi_snd_wscale",
    "tcpi_rcv_wscale",
    "tcpi_delivery_rate_app_limited",
    "tcpi_fastopen_client_fail",
    "tcpi_rto",
    "tcpi_ato",
    "tcpi_snd_mss",
    "tcpi_rcv_mss",
    "tcpi_unacked",
    "tcpi_sacked",
    "tcpi_lost",
    "tcpi_retrans",
    "tcpi_fackets",
    "tcpi_last_data_sent",
    "tcpi_last_ack_sent",
    "tcpi_last_data_recv",
    "tcpi_last_ack_recv",
    "tcpi_pmtu",
    "tcpi_rcv_ssthresh",
    "tcpi_rtt",
    "tcpi_rttvar",
    "tcpi_snd_ssthresh",
    "tcpi_snd_cwnd",
    "tcpi_advmss",
    "tcpi_reordering",
    "tcpi_rcv_rtt",
    "tcpi_rcv_space",
    "tcpi_total_retrans",
    "tcpi_pacing_rate",
    "tcpi_max_pacing_rate",
    "tcpi_bytes_acked",
    "tcpi_bytes_received",
    "tcpi_segs_out",
    "tcpi_segs_in",
    "tcpi_notsent_bytes",
    "tcpi_min_rtt",
    "tcpi_data_segs_in",
    "tcpi_data_segs_out",
    "tcpi_delivery_rate",
    "tcpi_busy_time",
    "tcpi_rwnd_limited",
    "tcpi_sndbuf_limited",
    "tcpi_delivered",
    "tcpi_delivered_ce",
    "tcpi_bytes_sent",
    "tcpi_bytes_retrans",
    "tcpi_dsack_dups",
    "tcpi_reord_seen",
    "tcpi_rcv_ooopack",
    "tcpi_snd_wnd",
    "tcpi_rcv_wnd",
    "tcpi_rehash",
    "tcpi_total_rto",
    "tcpi_total_rto_recoveries",
    "tcpi_total_rto_time",
    "tcpi_received_ce",
    "tcpi_delivered_e1_bytes",
    "tcpi_delivered_e0_bytes",
    "tcpi_delivered_ce_bytes",
    "tcpi_received_e1_bytes",
    "tcpi_received_e0_bytes",
    "tcpi_received_ce_bytes",
    "tcpi_accecn_fail_mode",
    "tcpi_accecn_opt_seen",
)

_TCPI_FIELDS: Final = 68
# where the fields a listener reports sit in the packed tuple
_TCPI_UNACKED: Final = 12
_TCPI_SACKED: Final = 13
_TCPI_SND_CWND: Final = 26
_TCPI_REORDERING: Final = 28
_TCPI_PACING_RATE: Final = 32
_UNLIMITED: Final = 0xFFFFFFFFFFFFFFFF

# tcpi_options bits
TCPI_OPT_TIMESTAMPS: Final = 1
TCPI_OPT_SACK: Final = 2
TCPI_OPT_WSCALE: Final = 4


def tcp_setsockopt(sk: TcpSock, optname: int, optval: bytes) -> None:
    """``do_tcp_setsockopt()``: the value is read first (``EINVAL`` if shorter than an
    ``int``, except for ``TCP_CONGESTION``'s name), then the option (``ENOPROTOOPT`` for one
    Linux does not have)."""
    from .input import lock_sock, release_sock

    if optname in (TCP_CONGESTION, TCP_ULP):
        _set_by_name(sk, optname, optval)
        return
    val = optval_int(optval)
    lock_sock(sk)
    try:
        _setsockopt_locked(sk, optname, val)
    finally:
        release_sock(sk)


def _setsockopt_locked(sk: TcpSock, optname: int, val: int) -> None:
    from .output import tcp_push_pending_frames

    if optname == TCP_NODELAY:
        if val:
            sk.nonagle |= TCP_NAGLE_OFF | TCP_NAGLE_PUSH
            tcp_push_pending_frames(sk)
        else:
            sk.nonagle &= ~TCP_NAGLE_OFF
    elif optname == TCP_CORK:
        if val:
            sk.nonagle |= TCP_NAGLE_CORK
        else:
            sk.nonagle &= ~TCP_NAGLE_CORK
            if sk.nonagle & TCP_NAGLE_OFF:
                sk.nonagle |= TCP_NAGLE_PUSH
            tcp_push_pending_frames(sk)
    elif optname == TCP_MAXSEG:
        if val and (val < TCP_MIN_MSS or val > MAX_TCP_WINDOW):
            raise kernel_error(errno.EINVAL, f"TCP_MAXSEG {val}")
        sk.user_mss = val
    elif optname == TCP_NOTSENT_LOWAT:
        sk.notsent_lowat = val & 0xFFFFFFFF  # the kernel's u32: -1 is "no limit"
        sk.sk_write_space()
    elif optname == TCP_KEEPIDLE:
        sk.keepalive_time = _ranged(val, 1, MAX_TCP_KEEPIDLE, "TCP_KEEPIDLE")
    elif optname == TCP_KEEPINTVL:
        sk.keepalive_intvl = _ranged(val, 1, MAX_TCP_KEEPINTVL, "TCP_KEEPINTVL")
    elif optname == TCP_KEEPCNT:
        sk.keepalive_probes = _ranged(val, 1, MAX_TCP_KEEPCNT, "TCP_KEEPCNT")
    elif optname == TCP_SYNCNT:
        sk.syn_retries = _ranged(val, 1, MAX_TCP_SYNCNT, "TCP_SYNCNT")
    elif optname == TCP_LINGER2:
        sk.linger2 = -1 if val < 0 else min(val, TCP_FIN_TIMEOUT_MAX)
    elif optname == TCP_DEFER_ACCEPT:
        sk.defer_accept = _secs_to_retrans(val)
    elif optname == TCP_USER_TIMEOUT:
        if val < 0:
            raise kernel_error(errno.EINVAL, f"TCP_USER_TIMEOUT {val}")
        sk.user_timeout = val
    elif optname == TCP_INQ:
        if not 0 <= val <= 1:
            raise kernel_error(errno.EINVAL, f"TCP_INQ {val}")
        sk.recvmsg_inq = bool(val)
    elif optname == TCP_RTO_MAX_MS:
        if not 1000 <= val <= 120_000:  # MSEC_PER_SEC .. TCP_RTO_MAX_SEC * MSEC_PER_SEC
            raise kernel_error(errno.EINVAL, f"TCP_RTO_MAX_MS {val}")
        sk.rto_max = val / 1000
    elif optname == TCP_WINDOW_CLAMP:
        _set_window_clamp(sk, val)
    elif optname == TCP_QUICKACK:
        _set_quickack(sk, val)
    else:
        raise kernel_error(errno.ENOPROTOOPT)


def _set_by_name(sk: TcpSock, optname: int, optval: bytes) -> None:
    """``TCP_CONGESTION`` and ``TCP_ULP`` (``do_tcp_setsockopt``, net/ipv4/tcp.c): a name of
    at most ``TCP_CA_NAME_MAX - 1`` / ``TCP_ULP_NAME_MAX - 1`` bytes, up to a NUL
    (``strncpy_from_sockptr``; ``EINVAL`` if empty), for ``tcp_set_congestion_control`` —
    ``ENOENT`` for a name not registered (Linux would first try to load a module
    ``tcp_<name>``: netsim has Reno and CUBIC built in, nothing to load) — or
    :func:`~netsim.tcp.ulp.tcp_set_ulp`, under the socket lock."""
    from .input import lock_sock, release_sock
    from .ulp import TCP_ULP_NAME_MAX, tcp_set_ulp

    ulp = optname == TCP_ULP
    if not optval:
        raise kernel_error(errno.EINVAL, f"{'TCP_ULP' if ulp else 'TCP_CONGESTION'} needs a name")
    limit = TCP_ULP_NAME_MAX if ulp else TCP_CA_NAME_MAX
    name = optval[: limit - 1].split(b"\0", 1)[0].decode("latin-1")
    lock_sock(sk)
    try:
        if ulp:
            tcp_set_ulp(sk, name)
        else:
            tcp_set_congestion_control(sk, name)
    finally:
        release_sock(sk)


def _ranged(val: int, low: int, high: int, name: str) -> int:
    if not low <= val <= high:
        raise kernel_error(errno.EINVAL, f"{name} {val} (allowed {low}..{high})")
    return val


def _secs_to_retrans(seconds: int) -> int:
    """``secs_to_retrans()``: the SYN-ACK retransmissions that cover ``seconds``."""
    res = 0
    if seconds > 0:
        timeout = period = _TIMEOUT_INIT
        res = 1
        while seconds > period and res < 255:
            res += 1
            timeout = min(timeout << 1, _RTO_MAX)
            period += timeout
    return res


def _retrans_to_secs(retrans: int) -> int:
    """``retrans_to_secs()``: the inverse of :func:`_secs_to_retrans`."""
    period = 0
    if retrans > 0:
        timeout = period = _TIMEOUT_INIT
        for _ in range(retrans - 1):
            timeout = min(timeout << 1, _RTO_MAX)
            period += timeout
    return period


def _set_window_clamp(sk: TcpSock, val: int) -> None:
    """``tcp_set_window_clamp()``: 0 clears the clamp, on a closed socket only; anything
    else is at least ``SOCK_MIN_RCVBUF / 2``; shrinking the clamp shrinks ``rcv_ssthresh``,
    growing it lets ``rcv_ssthresh`` grow up to the current window."""
    if not val:
        if sk.sk_state != TCP_CLOSE:
            raise kernel_error(errno.EINVAL, "TCP_WINDOW_CLAMP 0 on a socket in use")
        sk.window_clamp = 0
        return
    tcp_set_window_clamp(sk, val)


def _set_quickack(sk: TcpSock, val: int) -> None:
    """``__tcp_sock_set_quickack()``: 0 enters pingpong mode; non-zero leaves it and, if an
    ACK is owed on an established connection, sends it now (and an even value re-enters
    pingpong mode afterwards)."""
    from .recvmsg import tcp_cleanup_rbuf

    if not val:
        inet_csk_enter_pingpong_mode(sk)
        return
    inet_csk_exit_pingpong_mode(sk)
    if sk.sk_state in (1, 8) and sk.ack_pending & ICSK_ACK_SCHED:  # ESTABLISHED, CLOSE_WAIT
        sk.ack_pending |= ICSK_ACK_PUSHED
        tcp_cleanup_rbuf(sk, 1)
        if not val & 1:
            inet_csk_enter_pingpong_mode(sk)


def tcp_getsockopt(sk: TcpSock, optname: int, buflen: int) -> int | bytes:
    """``do_tcp_getsockopt()``: an ``int``, or ``struct tcp_info`` for ``TCP_INFO``."""
    net = sk.net
    if optname == TCP_NODELAY:
        return int(bool(sk.nonagle & TCP_NAGLE_OFF))
    if optname == TCP_ULP:
        from .ulp import tcp_get_ulp

        return tcp_get_ulp(sk, buflen)
    if optname == TCP_CORK:
        return int(bool(sk.nonagle & TCP_NAGLE_CORK))
    if optname == TCP_MAXSEG:
        if sk.sk_state in (TCP_CLOSE, TCP_LISTEN):
            return sk.user_mss or 536
        return sk.mss_cache
    if optname == TCP_NOTSENT_LOWAT:
        return int(struct.unpack("i", struct.pack("I", sk.notsent_lowat))[0])
    if optname == TCP_KEEPIDLE:
        return sk.keepalive_time or net.sysctl_int("net.ipv4.tcp_keepalive_time")
    if optname == TCP_KEEPINTVL:
        return sk.keepalive_intvl or net.sysctl_int("net.ipv4.tcp_keepalive_intvl")
    if optname == TCP_KEEPCNT:
        return sk.keepalive_probes or net.sysctl_int("net.ipv4.tcp_keepalive_probes")
    if optname == TCP_SYNCNT:
        return sk.syn_retries or net.sysctl_int("net.ipv4.tcp_syn_retries")
    if optname == TCP_LINGER2:
        if sk.linger2 < 0:
            return -1
        return sk.linger2 or net.sysctl_int("net.ipv4.tcp_fin_timeout")
    if optname == TCP_DEFER_ACCEPT:
        return _retrans_to_secs(sk.defer_accept)
    if optname == TCP_USER_TIMEOUT:
        return sk.user_timeout
    if optname == TCP_INQ:
        return int(sk.recvmsg_inq)
    if optname == TCP_RTO_MAX_MS:
        return round(sk.rto_max * 1000)
    if optname == TCP_WINDOW_CLAMP:
        return sk.window_clamp
    if optname == TCP_QUICKACK:
        return int(not inet_csk_in_pingpong_mode(sk))
    if optname == TCP_INFO:
        return tcp_get_info(sk)
    if optname == TCP_CONGESTION:
        # the ops' name[TCP_CA_NAME_MAX], NUL-padded; sock_getsockopt cuts it to min(len, 16)
        return sk.ca_ops.name.encode("latin-1").ljust(TCP_CA_NAME_MAX, b"\0")
    raise kernel_error(errno.ENOPROTOOPT)


def tcp_get_info(sk: TcpSock) -> bytes:
    """``tcp_get_info()``: ``struct tcp_info`` as 6.18 lays it out (see the module docstring
    for the fields netsim fills).  A listener reports its accept queue in ``tcpi_unacked``
    and its backlog limit in ``tcpi_sacked``, as Linux does."""
    state = sk.sk_state
    reordering = sk.reordering
    if state == TCP_LISTEN:
        values = [0] * _TCPI_FIELDS
        values[0] = state
        values[_TCPI_UNACKED] = len(sk.accept_queue)
        values[_TCPI_SACKED] = sk.max_ack_backlog
        values[_TCPI_SND_CWND] = sk.snd_cwnd
        values[_TCPI_REORDERING] = reordering
        values[_TCPI_PACING_RATE] = values[_TCPI_PACING_RATE + 1] = _UNLIMITED
        return struct.pack(TCP_INFO_FORMAT, *values)
    options = 0
    if sk.tstamp_ok:
        options |= TCPI_OPT_TIMESTAMPS
    if sk.sack_ok:
        options |= TCPI_OPT_SACK
    wscales = 0
    if sk.wscale_ok:
        options |= TCPI_OPT_WSCALE
        wscales = (sk.snd_wscale & 0xF) | (sk.rcv_wscale & 0xF) << 4
    dst = sk.sk_dst_cache
    pmtu: int = dst.mtu if dst is not None else 0  # type: ignore[attr-defined]
    rto_us = int(sk.rto * 1_000_000)
    ato_us = min(sk.ack_ato, tcp_delack_max(sk)) * 1000  # jiffies_to_usecs(), HZ = 1000
    values = [
        state,
        sk.ca_state,
        sk.retransmits,
        0,  # probes
        sk.backoff,
        options,
        wscales,
        1,  # delivery_rate_app_limited: tcp_init_sock starts app-limited; netsim takes no
        # delivery-rate samples that would clear it
        # 21 u32
        rto_us,
        ato_us,
        sk.mss_cache,
        sk.ack_rcv_mss if dst is not None else 0,  # icsk_ack.rcv_mss: 0 until a connection
        sk.packets_out,  # unacked
        sk.sacked_out,  # sacked
        sk.lost_out,  # lost
        sk.retrans_out,
        0,  # fackets
        0,  # last_data_sent: netsim keeps no lsndtime
        0,  # last_ack_sent: "not remembered" (Linux neither)
        (tcp_jiffies32(sk) - sk.ack_lrcvtime) & 0xFFFFFFFF,  # last_data_recv, ms
        0,  # last_ack_recv: no rcv_tstamp
        pmtu,
        sk.rcv_ssthresh,
        sk.srtt_us >> 3,
        sk.mdev_us >> 2,
        min(sk.snd_ssthresh, 0xFFFFFFFF),
        sk.snd_cwnd,
        sk.advmss,
        reordering,
        sk.rcv_rtt_us >> 3,  # rcv_rtt
        sk.rcvq_space,
        sk.total_retrans,
        # 4 u64
        _UNLIMITED,  # pacing_rate: netsim does not pace
        _UNLIMITED,  # max_pacing_rate
        sk.bytes_acked,
        sk.bytes_received,
        # 6 u32
        sk.segs_out & 0xFFFFFFFF,
        sk.segs_in & 0xFFFFFFFF,
        max(0, sk.write_seq - sk.snd_nxt),
        min(sk.rtt_min_us, 0xFFFFFFFF),
        sk.data_segs_in & 0xFFFFFFFF,
        sk.data_segs_out & 0xFFFFFFFF,
        # 4 u64: delivery_rate, then the chronographs: busy_time, rwnd_limited, sndbuf_limited
        0,
        *tcp_chrono_stats(sk),
        # 2 u32
        sk.delivered & 0xFFFFFFFF,
        0,  # delivered_ce
        # 2 u64
        sk.bytes_sent,
        sk.bytes_retrans,
        # 6 u32: dsack_dups, reord_seen, rcv_ooopack, snd_wnd, rcv_wnd, rehash
        sk.dsack_dups & 0xFFFFFFFF,
        sk.reord_seen & 0xFFFFFFFF,
        sk.rcv_ooopack & 0xFFFFFFFF,
        sk.snd_wnd,
        sk.rcv_wnd,
        0,
        # 2 u16, 8 u32, 2 u16: RTO and ECN statistics (total_rto, total_rto_recoveries first)
        min(sk.total_rto, 0xFFFF),
        min(sk.total_rto_recoveries, 0xFFFF),
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ]
    return struct.pack(TCP_INFO_FORMAT, *values)


def tcp_info_fields(raw: bytes) -> dict[str, int]:
    """``struct tcp_info`` (``getsockopt(IPPROTO_TCP, TCP_INFO)``, 6.18's 280 bytes) by its
    members' names (:data:`TCP_INFO_FIELDS`): ``tcpi_snd_cwnd``, ``tcpi_ca_state``, … — the
    ``tcpi_snd_wscale``/``tcpi_rcv_wscale`` nibbles and the
    ``tcpi_delivery_rate_app_limited``/``tcpi_fastopen_client_fail`` bits each on their own.
    A shorter buffer (a caller that asked for fewer bytes) gives the members it holds."""
    size = struct.calcsize(TCP_INFO_FORMAT)
    values = struct.unpack(TCP_INFO_FORMAT, raw[:size].ljust(size, b"\0"))
    wscales, bits = values[6], values[7]
    flat = [
        *values[:6],
        wscales & 0xF,
        wscales >> 4,
        bits & 1,
        (bits >> 1) & 3,
        *values[8:],
    ]
    offsets = _tcpi_offsets()
    return {
        name: value
        for name, value, end in zip(TCP_INFO_FIELDS, flat, offsets, strict=True)
        if end <= len(raw)
    }


def _tcpi_offsets() -> list[int]:
    """Where each member of :data:`TCP_INFO_FIELDS` ends in the structure."""
    ends: list[int] = []
    offset = 0
    for i, code in enumerate(_expand(TCP_INFO_FORMAT)):
        offset += struct.calcsize("=" + code)
        ends.extend([offset, offset] if i in (6, 7) else [offset])
    return ends


def _expand(fmt: str) -> list[str]:
    """``"=8B2I"`` -> ``["B"] * 8 + ["I"] * 2``."""
    out: list[str] = []
    count = ""
    for c in fmt.lstrip("="):
        if c.isdigit():
            count += c
        else:
            out.extend([c] * int(count or "1"))
            count = ""
    return out
