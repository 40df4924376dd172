"""TCP connections: tables, bind/listen/connect/accept, the handshake, close, TIME_WAIT
(net/ipv4/inet_connection_sock.c, inet_hashtables.c, tcp_ipv4.c, tcp_minisocks.c, tcp.c).

The lifecycle, in Linux's terms:

* **active open** — ``tcp_v4_connect``: route, source address, an ephemeral port unique for
  the 4-tuple (``inet_hash_connect``), a random ISS, MSS/window/options from the route and the
  sysctls (``tcp_connect_init``), ``SYN_SENT``, the SYN on the retransmit queue.  The SYN-ACK
  (``tcp_rcv_synsent_state_process``) negotiates window scaling, SACK and timestamps and moves
  to ``ESTABLISHED``.
* **passive open** — a listener answers a SYN with a child socket in ``SYN_RECV`` (netsim
  keeps the child itself where Linux keeps a request sock) and a SYN-ACK; the final ACK makes
  it ``ESTABLISHED`` and puts it on the accept queue.  A full accept queue drops the SYN
  (``ListenOverflows``, ``ListenDrops``).
* **close** — unread data → RST (``TCPAbortOnClose``); otherwise FIN (``FIN_WAIT1`` or
  ``LAST_ACK``).  An orphaned socket finishes the close on its own; ``TIME_WAIT`` lasts
  ``net.tcp_timewait_len`` seconds (Linux: 60) holding no data.
* **RST** answers a segment for no socket; a reset connection reports ``ECONNREFUSED``
  (while connecting), ``ECONNRESET`` or ``EPIPE``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, cast

from ..dev.device import ETH_P_IP, ETH_P_IPV6, LL_RESERVED_SPACE
from ..errors import errno, kernel_error
from ..ipv4.af_inet import inet_bind, ipv6_connect_scope
from ..ipv4.output import ip_local_out, ip_select_ident
from ..ipv4.route import (
    RTN_BROADCAST,
    RTN_MULTICAST,
    Rtable,
    ip_route_output,
)
from ..ipv6.flowlabel import ip6_flowlabel_from_flow, ip6_sk_flowlabel
from ..ipv6.output import ip6_local_out
from ..ipv6.route import Rt6Info, ip6_dst_hoplimit, ip6_route_output
from ..skb import CHECKSUM_PARTIAL, SkBuff, alloc_skb, kfree_skb, skb_put, skb_reserve
from ..sock.addr import (
    ANY4,
    ANY6,
    LOOPBACK6,
    V4_MAPPED_LOOPBACK,
    V4_MAPPED_PREFIX,
    ipv6_addr_v4mapped,
    v4_from_mapped,
    v4_mapped,
)
from ..sock.constants import (
    AF_INET,
    AF_INET6,
    SIOCATMARK,
    SIOCINQ,
    SIOCOUTQ,
    SIOCOUTQNSD,
    SO_LINGER,
    SO_OOBINLINE,
    SOCK_STREAM,
)
from ..sock.sock import (
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
    SHUTDOWN_MASK,
    SOCK_BINDADDR_LOCK,
    SOCK_BINDPORT_LOCK,
    SOCK_RCVBUF_LOCK,
    TCP_CLOSE,
    TCP_CLOSE_WAIT,
    TCP_ESTABLISHED,
    TCP_FIN_WAIT1,
    TCP_FIN_WAIT2,
    TCP_LAST_ACK,
    TCP_LISTEN,
    TCP_SYN_RECV,
    TCP_SYN_SENT,
    TCP_TIME_WAIT,
    ip6_default_np_autolabel,
    sock_destroy_frag,
)
from ..wire.ipv4 import IPPROTO_TCP, csum_tcpudp_magic, ip4_build_header
from ..wire.ipv6 import csum_ipv6_magic, ip6_build_header
from ..wire.tcp import TCPHDR_ACK, TCPHDR_FIN, TCPHDR_RST, TCPHDR_SYN, tcp_build_header
from .cong import tcp_init_congestion_control, tcp_set_ca_state
from .input import Segment, lock_sock, release_sock, tcp_enter_quickack_mode, unwrap
from .output import (
    MAX_TCP_HEADER,
    tcp_full_space,
    tcp_jiffies32,
    tcp_receive_window,
    tcp_send_ack,
    tcp_send_active_reset,
    tcp_send_fin,
    tcp_send_syn,
    tcp_sync_mss,
    tcp_transmit_skb,
)
from .sock import (
    ICSK_ACK_SCHED,
    ICSK_ACK_TIMER,
    TCP_CA_OPEN,
    TCP_DELACK_MAX,
    TCP_MAX_QUICKACKS,
    TCP_SOCK_FIELDS,
    TCP_TIMEWAIT_LEN,
    TcpSock,
    inet_csk_in_pingpong_mode,
)
from .state import check_transition
from .timer import sk_reset_timer, tcp_delack_timer

if TYPE_CHECKING:
    from ..netns import Net

__all__ = [
    "tcp_accept",
    "tcp_bind",
    "tcp_bound",
    "tcp_close",
    "tcp_inq",
    "tcp_ioctl",
    "tcp_connect",
    "tcp_destroy",
    "tcp_disconnect",
    "tcp_done",
    "tcp_listen",
    "tcp_lookup",
    "tcp_set_state",
    "tcp_shutdown",
]

U32: Final = 0xFFFFFFFF


# -- tables ------------------------------------------------------------------------------------


def _ehash(net: Net) -> dict[tuple[bytes, int, bytes, int], TcpSock]:
    # the table holds TcpSocks only; netns types it with the base class to stay TCP-agnostic
    return cast("dict[tuple[bytes, int, bytes, int], TcpSock]", net.tcp_ehash)


def _wire(addr: bytes | None) -> bytes:
    """The address as it appears in packets (IPv4-mapped → 4 bytes)."""
    if addr is not None and ipv6_addr_v4mapped(addr):
        return v4_from_mapped(addr)
    return addr or b""


def _ehash_key(sk: TcpSock) -> tuple[bytes, int, bytes, int]:
    return (_wire(sk.inet_saddr), sk.inet_sport, _wire(sk.inet_daddr), sk.inet_dport)


def tcp_hash(sk: TcpSock) -> None:
    """``__inet_hash_nolisten``: enter the established table."""
    _ehash(sk.net)[_ehash_key(sk)] = sk


def tcp_unhash(sk: TcpSock) -> None:
    """Leave both tables."""
    _tcp_unhash_ehash(sk)
    _tcp_put_port(sk)


def _tcp_unhash_ehash(sk: TcpSock) -> None:
    table = _ehash(sk.net)
    key = _ehash_key(sk)
    if table.get(key) is sk:
        del table[key]


def tcp_unhash_close(sk: TcpSock) -> None:
    """What ``tcp_set_state(sk, TCP_CLOSE)`` does to the tables: ``unhash`` (the connection's
    4-tuple is free again) and ``inet_put_port`` — unless ``bind()`` chose the port
    (``SOCK_BINDPORT_LOCK``), which the socket keeps until it is closed."""
    _tcp_unhash_ehash(sk)
    if not sk.sk_userlocks & SOCK_BINDPORT_LOCK:
        _tcp_put_port(sk)


def _tcp_put_port(sk: TcpSock) -> None:
    bucket = sk.net.tcp_table.get(sk.inet_sport)
    if bucket is not None and sk in bucket:
        bucket.remove(sk)
        if not bucket:
            del sk.net.tcp_table[sk.inet_sport]


def tcp_lookup(
    net: Net, family: int, saddr: bytes, sport: int, daddr: bytes, dport: int
) -> TcpSock | None:
    """``__inet_lookup``: the established socket for the 4-tuple, else a listener."""
    sk: TcpSock | None = net.tcp_ehash.get((daddr, dport, saddr, sport))  # type: ignore[assignment]
    if sk is not None:
        return sk
    best: TcpSock | None = None
    best_score = -1
    for cand in net.tcp_table.get(dport, ()):
        if not isinstance(cand, TcpSock) or cand.sk_state != TCP_LISTEN:
            continue
        score = _listener_score(cand, family, daddr)
        if score > best_score:
            best, best_score = cand, score
    return best


def _listener_score(sk: TcpSock, family: int, daddr: bytes) -> int:
    bound = sk.inet_rcv_saddr
    if sk.sk_family == family:
        score = 2
    elif sk.sk_family == AF_INET6 and family == AF_INET and not sk.ipv6_v6only:
        score = 1
        if bound is not None and ipv6_addr_v4mapped(bound):
            bound = v4_from_mapped(bound)
        elif bound is not None and bound != ANY6:
            return -1
    else:
        return -1
    if bound is not None and bound not in (ANY4, ANY6):
        if bound != daddr:
            return -1
        score += 4
    return score


def _bind_conflict(sk: TcpSock, other: TcpSock) -> bool:
    if sk.sk_reuse and other.sk_reuse and other.sk_state != TCP_LISTEN:
        return False
    if sk.sk_reuseport and other.sk_reuseport:
        return False
    a, b = sk.inet_rcv_saddr, other.inet_rcv_saddr
    if sk.sk_family != other.sk_family:
        v6 = sk if sk.sk_family == AF_INET6 else other
        if v6.ipv6_v6only:
            return False
    a_any = a is None or a in (ANY4, ANY6)
    b_any = b is None or b in (ANY4, ANY6)
    return a_any or b_any or _wire(a) == _wire(b)


def tcp_bound(sk: TcpSock) -> bool:
    """Does ``sk`` hold a port in the bind table (``inet_num != 0``)?  ``inet_sport`` alone
    does not say: Linux leaves it (and ``getsockname``) as it was when ``tcp_set_state(sk,
    TCP_CLOSE)`` gives an unlocked port back."""
    return sk.inet_sport != 0 and sk in sk.net.tcp_table.get(sk.inet_sport, ())


def tcp_get_port(sk: TcpSock, port: int) -> int:
    """``inet_csk_get_port()``: take ``port`` (``EADDRINUSE`` on a conflict) or an ephemeral
    one."""
    net = sk.net
    table = net.tcp_table
    if port:
        for other in table.get(port, ()):
            if other is not sk and isinstance(other, TcpSock) and _bind_conflict(sk, other):
                raise kernel_error(errno.EADDRINUSE)
        chosen = port
    else:
        low, high = net.sysctl_vec("net.ipv4.ip_local_port_range")
        span = high - low + 1
        start = net.rng.randrange(span)
        for i in range(span):
            cand = low + (start + i) % span
            if not any(
                isinstance(o, TcpSock) and _bind_conflict(sk, o) for o in table.get(cand, ())
            ):
                chosen = cand
                break
        else:
            raise kernel_error(errno.EADDRINUSE, "no free ephemeral port")
    table.setdefault(chosen, []).append(sk)
    sk.inet_sport = chosen
    return chosen


def tcp_bind(sk: TcpSock, addr: bytes, port: int, scope_id: int = 0) -> None:
    """``inet_bind()`` / ``inet6_bind()`` with ``inet_csk_get_port()``: the address rules are
    :func:`netsim.ipv4.af_inet.inet_bind`'s."""
    inet_bind(sk, addr, port, tcp_bound(sk), tcp_get_port, scope_id)


def tcp_listen(sk: TcpSock, backlog: int) -> None:
    """``inet_listen()``: start accepting; an unbound socket gets an ephemeral port.  A
    socket that is, or was, connected (``sock->state != SS_UNCONNECTED``; netsim knows it
    by the peer it keeps) cannot listen: ``EINVAL``."""
    if sk.sk_state not in (TCP_CLOSE, TCP_LISTEN) or sk.inet_dport:
        raise kernel_error(errno.EINVAL)
    somaxconn = sk.net.sysctl_int("net.core.somaxconn")
    sk.max_ack_backlog = min(max(backlog, 0), somaxconn)
    if sk.sk_state == TCP_LISTEN:
        return
    if not tcp_bound(sk):
        tcp_get_port(sk, 0)
    else:
        # inet_csk_listen_start(): get_port() again, now as a listener — SO_REUSEADDR lets
        # sockets share a port only while at most one of them listens
        for other in sk.net.tcp_table.get(sk.inet_sport, ()):
            if other is not sk and isinstance(other, TcpSock) and _bind_conflict(sk, other):
                raise kernel_error(errno.EADDRINUSE)
    tcp_set_state(sk, TCP_LISTEN)


def tcp_accept(sk: TcpSock) -> TcpSock | None:
    """``inet_csk_accept()``: the next established child, or ``None`` (the caller waits)."""
    if sk.sk_state != TCP_LISTEN:
        raise kernel_error(errno.EINVAL)
    if sk.accept_queue:
        child = sk.accept_queue.popleft()
        child.listener = None
        return child
    return None


# -- state -------------------------------------------------------------------------------------


def tcp_set_state(sk: TcpSock, state: int) -> None:
    """``tcp_set_state()``: move along the state machine (transitions checked in
    :mod:`netsim.tcp.state`)."""
    check_transition(sk.sk_state, state)
    sk.sk_state = state


# -- connect -----------------------------------------------------------------------------------


def _initial_options(sk: TcpSock, synack_tstamp: bool = False) -> None:
    """``tcp_connect_init()``: options and initial windows from the sysctls and the route.

    The initial window is a multiple of the MSS the SYN announces (``advmss``,
    ``tcp_connect_init``) for an active open — 65495 on IPv4 loopback — but of that MSS less
    the timestamp option when answering a SYN that negotiated timestamps
    (``synack_tstamp``; ``tcp_openreq_init_rwin``) — 65483."""
    net = sk.net
    dst = sk.sk_dst_cache
    assert dst is not None
    mtu: int = dst.mtu  # type: ignore[attr-defined]
    v6 = isinstance(dst, Rt6Info)
    sk.tstamp_ok = bool(net.sysctl_int("net.ipv4.tcp_timestamps"))
    sk.sack_ok = bool(net.sysctl_int("net.ipv4.tcp_sack"))
    sk.wscale_ok = bool(net.sysctl_int("net.ipv4.tcp_window_scaling"))
    sk.tcp_header_len = 20 + (12 if sk.tstamp_ok else 0)
    sk.advmss = mtu - (60 if v6 else 40)
    if sk.user_mss:
        sk.advmss = min(sk.advmss, sk.user_mss)
        sk.mss_clamp = sk.user_mss
    sk.sk_gso_max_size = dst.dev.gso_max_size - (MAX_TCP_HEADER + 1)  # type: ignore[attr-defined]
    tcp_sync_mss(sk, mtu)
    _select_initial_window(sk, sk.advmss - (12 if synack_tstamp and sk.tstamp_ok else 0))


def _select_initial_window(sk: TcpSock, mss: int) -> None:
    """``tcp_select_initial_window()``: the window rounded down to a multiple of ``mss``.
    A receive buffer the user fixed (``SO_RCVBUF``) also clamps the window — and so the
    window scale — to what that buffer holds (``tcp_connect_init``,
    ``tcp_openreq_init_rwin``): a small buffer offers a small, unscaled window, which
    closes to zero as it fills."""
    space = tcp_full_space(sk)
    if sk.sk_userlocks & SOCK_RCVBUF_LOCK and (sk.window_clamp > space or not sk.window_clamp):
        sk.window_clamp = space
    clamp = sk.window_clamp or (0xFFFF << 14)
    space = min(clamp, space)
    if space > mss:
        space = (space // mss) * mss
    sk.rcv_wnd = space
    sk.rcv_wscale = 0
    if sk.wscale_ok:
        net = sk.net
        big = max(
            space, net.sysctl_vec("net.ipv4.tcp_rmem")[2], net.sysctl_int("net.core.rmem_max")
        )
        big = min(big, clamp)
        sk.rcv_wscale = max(0, min(big.bit_length() - 1 - 15, 14))
    sk.window_clamp = min(0xFFFF << sk.rcv_wscale, clamp)
    sk.rcv_ssthresh = sk.rcv_wnd
    sk.ack_rcv_mss = max(min(sk.advmss, sk.mss_cache, sk.rcv_wnd // 2, 536), 88)


def tcp_connect(sk: TcpSock, daddr: bytes, dport: int, scope_id: int = 0) -> None:
    """``tcp_v4_connect()`` / ``tcp_v6_connect()`` + ``tcp_connect()``: send the SYN.  The
    caller waits until the state leaves ``SYN_SENT``.

    The errors are ``__inet_stream_connect()``'s, which goes by ``sock->state``: a socket
    that is connecting says ``EALREADY``; one that is connected — or was, and was reset or
    finished since (still ``SS_CONNECTED``; netsim knows it by the peer it keeps) — or that
    listens (``SS_UNCONNECTED`` but not ``TCP_CLOSE``) says ``EISCONN``.  A failure before
    the SYN forgets the peer again (``tcp_v4_connect``'s ``failure:`` label)."""
    if sk.sk_state in (TCP_SYN_SENT, TCP_SYN_RECV):
        raise kernel_error(errno.EALREADY)
    if sk.sk_state != TCP_CLOSE or sk.inet_dport:
        raise kernel_error(errno.EISCONN)
    net = sk.net
    if sk.sk_family == AF_INET6:
        if daddr == ANY6:
            # tcp_v6_connect: :: is this host — ::ffff:127.0.0.1 for a socket bound to an
            # IPv4-mapped address, else ::1
            mapped = sk.inet_rcv_saddr is not None and ipv6_addr_v4mapped(sk.inet_rcv_saddr)
            daddr = V4_MAPPED_LOOPBACK if mapped else LOOPBACK6
        if daddr[0] == 0xFF:  # IPV6_ADDR_MULTICAST
            raise kernel_error(errno.ENETUNREACH)
        ipv6_connect_scope(sk, daddr, scope_id)
        if ipv6_addr_v4mapped(daddr) and sk.ipv6_v6only:
            raise kernel_error(errno.ENETUNREACH)
    v4 = sk.sk_family == AF_INET or ipv6_addr_v4mapped(daddr)
    bound = _wire(sk.inet_saddr) or None
    if v4:
        rt4 = ip_route_output(net, _wire(daddr), bound)
        if rt4.rt_type in (RTN_BROADCAST, RTN_MULTICAST):
            raise kernel_error(errno.ENETUNREACH)  # tcp_v4_connect: RTCF_MULTICAST|BROADCAST
        rt: Rtable | Rt6Info = rt4
    else:
        rt = ip6_route_output(net, daddr, bound)
    saddr, daddr = rt.saddr, rt.daddr  # fl4->daddr: 0.0.0.0 connects to this host
    if sk.sk_family == AF_INET6 and v4:
        saddr, daddr = v4_mapped(saddr), v4_mapped(daddr)
    if sk.inet_saddr is None:
        sk.inet_saddr = saddr
        sk.inet_rcv_saddr = saddr  # inet_bhash2_update_saddr(): a multicast bind is replaced
    sk.inet_daddr = daddr
    sk.inet_dport = dport
    sk.sk_dst_cache = rt
    reuse_seq = 0
    try:
        if not tcp_bound(sk):
            reuse_seq = _hash_connect(sk)
        else:
            # a socket bound to its port: inet_hash_connect() checks it with twp NULL
            reuse_seq = _inet_check_established(sk, sk.inet_sport, twp=False)
            if reuse_seq < 0:
                raise kernel_error(errno.EADDRNOTAVAIL)
    except OSError:
        sk.inet_daddr = None
        sk.inet_dport = 0
        sk.sk_dst_cache = None
        if not sk.sk_userlocks & SOCK_BINDADDR_LOCK:
            sk.inet_saddr = sk.inet_rcv_saddr = None
        raise
    tcp_hash(sk)
    sk.inet_id = net.rng.randrange(0x10000)
    sk.iss = net.rng.getrandbits(32)
    if reuse_seq > 0:
        sk.iss = reuse_seq & 0xFFFFFFFF or 1  # tcp_twsk_unique(): past the old connection
    sk.snd_una = sk.iss
    sk.snd_up = sk.iss  # tcp_connect_init() / tcp_create_openreq_child()
    sk.ts_offset = net.rng.getrandbits(32)
    _initial_options(sk)
    tcp_set_state(sk, TCP_SYN_SENT)
    net.stats.TcpActiveOpens += 1
    tcp_send_syn(sk, synack=False)


def _hash_connect(sk: TcpSock) -> int:
    """``inet_hash_connect()``: an ephemeral port with no other connection on the 4-tuple
    (or only a TIME_WAIT one that may be reused: :func:`tcp_twsk_unique`).  Returns what
    :func:`_inet_check_established` returned for the port taken."""
    net = sk.net
    low, high = net.sysctl_vec("net.ipv4.ip_local_port_range")
    span = high - low + 1
    start = net.rng.randrange(span)
    table = net.tcp_table
    for i in range(span):
        port = low + (start + i) % span
        users = table.get(port, ())
        if any(isinstance(o, TcpSock) and o.sk_state == TCP_LISTEN for o in users):
            continue
        if any(not o.sk_reuse and o.inet_daddr is None for o in users):
            continue
        reuse_seq = _inet_check_established(sk, port)
        if reuse_seq < 0:
            continue
        table.setdefault(port, []).append(sk)
        sk.inet_sport = port
        return reuse_seq
    raise kernel_error(errno.EADDRNOTAVAIL, "no free local port for this destination")


def _inet_check_established(sk: TcpSock, port: int, twp: bool = True) -> int:
    """``__inet_check_established()``: may ``sk`` connect from ``port``?  -1 if another
    connection holds the 4-tuple; 0 if none does; the initial sequence number to use if a
    TIME_WAIT socket held it and gave way (:func:`tcp_twsk_unique`; the timewait socket is
    gone, counted as ``TWRecycled``).  ``twp``: False for a socket that was bound to its
    port before ``connect`` (the kernel passes no ``twp`` then)."""
    key = (_wire(sk.inet_saddr), port, _wire(sk.inet_daddr), sk.inet_dport)
    ehash = _ehash(sk.net)
    other = ehash.get(key)
    if other is None:
        return 0
    if other.sk_state != TCP_TIME_WAIT or not tcp_twsk_unique(sk, other, twp):
        return -1
    seq = (other.snd_nxt + 65535 + 2) & 0xFFFFFFFF or 1
    sk.ts_recent = other.ts_recent
    timer = other.timewait_timer
    if timer is not None:
        timer.cancel()
        other.timewait_timer = None
    tcp_done(other)  # inet_twsk_deschedule_put()
    sk.net.stats.TcpExtTWRecycled += 1
    return seq


def tcp_twsk_unique(sk: TcpSock, tw: TcpSock, twp: bool = True) -> bool:
    """``tcp_twsk_unique()`` (net/ipv4/tcp_ipv4.c) for a connect that finds a TIME_WAIT socket
    on its 4-tuple: ``net.ipv4.tcp_tw_reuse`` 1 lets it take the tuple over, 2 (the default)
    only when the old connection ran over loopback (a loopback address at either end, or
    bound to ``lo``); in either case only if the old connection used timestamps (PAWS keeps
    its strays out of the new one) and it has been in TIME_WAIT longer than
    ``net.ipv4.tcp_tw_reuse_delay`` (1000 ms).  The new connection then starts its sequence
    numbers 65537 past the old one's and takes over its ``ts_recent``.

    A socket the user bound to its port before ``connect`` (``twp`` False: the kernel's
    ``__inet_hash_connect`` checks a bound port with ``twp`` NULL) takes the tuple over
    whenever the old connection used timestamps, whatever ``tcp_tw_reuse`` and the delay
    say — ``ts_recent_stamp && (!twp || (reuse && time_after32(...)))``."""
    net = sk.net
    reuse = net.sysctl_int("net.ipv4.tcp_tw_reuse")
    if tw.tw_substate == TCP_FIN_WAIT2:
        reuse = 0  # the old connection is not over: the peer has not sent its FIN
    if reuse == 2:
        daddr, saddr = _wire(tw.inet_daddr), _wire(tw.inet_rcv_saddr)
        loopback = tw.sk_bound_dev_if == 1  # LOOPBACK_IFINDEX
        for addr in (daddr, saddr):
            if len(addr) == 4:
                loopback |= addr[0] == 127
            else:
                loopback |= addr == LOOPBACK6 or (addr[:12] == V4_MAPPED_PREFIX and addr[12] == 127)
        if not loopback:
            reuse = 0
    if not (tw.tstamp_ok and tw.ts_recent):
        return False  # no ts_recent_stamp: nothing guards the new connection
    if not twp:
        return True
    delay = net.sysctl_int("net.ipv4.tcp_tw_reuse_delay") / 1000
    return bool(reuse) and net.now > tw.tw_entry_stamp + delay


def tcp_rcv_synsent_state_process(sk: TcpSock, skb: SkBuff, seg: Segment) -> None:
    """``tcp_rcv_synsent_state_process()``: the SYN-ACK (or an RST) for our SYN."""
    flags = seg.flags
    if flags & TCPHDR_ACK:
        ack = unwrap(sk.iss, seg.ack32)
        if ack != sk.iss + 1:
            if not flags & TCPHDR_RST:
                tcp_send_reset_for(sk, seg)
            kfree_skb(skb)
            return
        if flags & TCPHDR_RST:
            from .input import tcp_reset

            tcp_reset(sk)  # tcp_done() counts TcpAttemptFails
            kfree_skb(skb)
            return
        if not flags & TCPHDR_SYN:
            kfree_skb(skb)
            return
        opts = seg.opts
        _negotiate(sk, opts)
        sk.irs = seg.seq32
        sk.rcv_nxt = seg.seq32 + 1
        sk.rcv_wup = sk.rcv_nxt
        sk.copied_seq = sk.rcv_nxt
        sk.snd_wl1 = seg.seq32
        from .input import tcp_ack

        seg_ack = seg.copy()
        tcp_ack(sk, seg_ack)  # takes the SYN-ACK's window: max_window, MSS bound to half
        sk.snd_wnd = seg.window  # never scaled on a SYN (RFC 7323)
        tcp_finish_connect(sk)
        if inet_csk_in_pingpong_mode(sk):
            # TCP_QUICKACK 0 before connect(): the handshake's ACK waits (TCP_DELACK_MAX) for
            # the first data to carry it; quick-ACK mode, which leaves pingpong mode, follows
            sk.ack_pending |= ICSK_ACK_SCHED | ICSK_ACK_TIMER
            tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS)
            deadline = sk.net.now + TCP_DELACK_MAX / 1000
            sk.delack_deadline = deadline
            sk.delack_timer = sk_reset_timer(
                sk, sk.delack_timer, deadline, lambda: tcp_delack_timer(sk)
            )
        else:
            tcp_send_ack(sk)
        kfree_skb(skb)
        return
    if flags & TCPHDR_SYN and not flags & TCPHDR_RST:
        _simultaneous_open(sk, seg)
    kfree_skb(skb)


def _simultaneous_open(sk: TcpSock, seg: Segment) -> None:
    """``tcp_rcv_synsent_state_process()``, a SYN without ACK: the two ends' SYNs crossed —
    or the socket is connecting to its own address and port.  ``SYN_RECV``: the peer's
    options and window are taken, and the SYN on the retransmit queue goes out again as a
    SYN-ACK (``tcp_send_synack``); the peer's SYN-ACK, or our own, completes it."""
    tcp_set_state(sk, TCP_SYN_RECV)
    _negotiate(sk, seg.opts)
    sk.irs = seg.seq32
    sk.rcv_nxt = seg.seq32 + 1
    sk.rcv_wup = sk.rcv_nxt
    sk.copied_seq = sk.rcv_nxt
    sk.snd_wnd = seg.window  # never scaled on a SYN
    sk.snd_wl1 = seg.seq32
    sk.max_window = sk.snd_wnd
    syn = sk.tcp_rtx_queue[0]
    syn.cb.tcp_flags |= TCPHDR_ACK
    tcp_transmit_skb(sk, syn, clone_it=True)


def _negotiate(sk: TcpSock, opts: object) -> None:
    """Apply the peer's SYN options (``tcp_parse_options`` results in ``rx_opt``)."""
    from ..wire.tcp import TcpOptions

    assert opts is None or isinstance(opts, TcpOptions)
    peer_ws = opts.wscale if opts is not None else None
    if sk.wscale_ok and peer_ws is not None:
        sk.snd_wscale = min(peer_ws, 14)
    else:
        sk.wscale_ok = False
        sk.snd_wscale = 0
        sk.rcv_wscale = 0
        sk.window_clamp = min(sk.window_clamp, 65535)
    if not (opts is not None and opts.sack_ok):
        sk.sack_ok = False
    if not (opts is not None and opts.tsval is not None):
        sk.tstamp_ok = False
        sk.tcp_header_len = 20
    else:
        sk.ts_recent = opts.tsval
    if opts is not None and opts.mss:
        sk.mss_clamp = min(sk.mss_clamp, opts.mss)
    dst = sk.sk_dst_cache
    assert dst is not None
    tcp_sync_mss(sk, dst.mtu)  # type: ignore[attr-defined]


def tcp_finish_connect(sk: TcpSock) -> None:
    """``tcp_finish_connect()``: ``ESTABLISHED``; buffers sized and the congestion control
    started (``tcp_init_transfer``); the connector wakes."""
    tcp_set_state(sk, TCP_ESTABLISHED)
    sk.ack_lrcvtime = tcp_jiffies32(sk)
    tcp_init_buffer_space(sk)
    tcp_init_congestion_control(sk)
    sk.lsndtime = tcp_jiffies32(sk)  # no window restart for the first data
    sk.sk_state_change()


def tcp_init_buffer_space(sk: TcpSock) -> None:
    """``tcp_init_buffer_space()``."""
    from .input import tcp_sndbuf_expand

    tcp_sndbuf_expand(sk)
    maxwin = tcp_full_space(sk)
    if sk.window_clamp >= maxwin:
        sk.window_clamp = maxwin
        if maxwin > 4 * sk.advmss:
            sk.window_clamp = max(maxwin - (maxwin >> 31), 4 * sk.advmss)
    if sk.window_clamp > 2 * sk.advmss and sk.window_clamp + sk.advmss > maxwin:
        sk.window_clamp = max(2 * sk.advmss, maxwin - sk.advmss)
    sk.rcv_ssthresh = min(sk.rcv_ssthresh, sk.window_clamp)
    sk.rcvq_space = min(sk.rcv_ssthresh, sk.rcv_wnd, 10 * sk.advmss)
    sk.rcvq_time = sk.net.now
    sk.rcvq_seq = sk.copied_seq


# -- passive open ------------------------------------------------------------------------------


def tcp_conn_request(
    listener: TcpSock, skb: SkBuff, seg: Segment, family: int, saddr: bytes, daddr: bytes
) -> None:
    """``tcp_conn_request()`` + ``tcp_create_openreq_child()``: answer a SYN with a child in
    ``SYN_RECV`` and a SYN-ACK."""
    net = listener.net
    stats = net.stats
    flags = seg.flags
    if flags & TCPHDR_RST:
        return
    if flags & TCPHDR_ACK:
        tcp_send_reset_raw(net, family, daddr, seg.dport, saddr, seg.sport, seg.ack32, None)
        return
    if not flags & TCPHDR_SYN:
        return
    pending = sum(1 for c in listener.accept_queue) + _syn_recv_children(listener)
    if len(listener.accept_queue) > listener.max_ack_backlog or pending > listener.max_ack_backlog:
        stats.TcpExtListenOverflows += 1
        stats.TcpExtListenDrops += 1
        return
    child = TcpSock(net, listener.sk_family, SOCK_STREAM, IPPROTO_TCP)
    net.sockets.add(child)
    child.listener = listener
    child.sk_use_task_frag = listener.sk_use_task_frag
    child.sk_sndbuf = listener.sk_sndbuf
    child.sk_rcvbuf = listener.sk_rcvbuf
    child.sk_userlocks = listener.sk_userlocks
    child.nonagle = listener.nonagle
    child.user_mss = listener.user_mss
    # tcp_v6_syn_recv_sock() copies the listener's ipv6_pinfo whole: the IPv6 options
    child.tclass = listener.tclass
    child.hop_limit = listener.hop_limit
    child.dontfrag = listener.dontfrag
    child.autoflowlabel = listener.autoflowlabel
    child.autoflowlabel_set = listener.autoflowlabel_set
    child.notsent_lowat = listener.notsent_lowat
    child.sk_flags = set(listener.sk_flags)  # sk_clone_lock(): SO_OOBINLINE, SO_KEEPALIVE ...
    tcp_ca_openreq_child(child, listener)
    mapped = listener.sk_family == AF_INET6 and family == AF_INET
    child.inet_saddr = v4_mapped(daddr) if mapped else daddr
    child.inet_rcv_saddr = child.inet_saddr
    child.inet_daddr = v4_mapped(saddr) if mapped else saddr
    child.inet_sport = listener.inet_sport
    child.inet_dport = seg.sport
    if family == AF_INET:
        rt: Rtable | Rt6Info = ip_route_output(net, saddr, daddr)
    else:
        rt = ip6_route_output(net, saddr, daddr)
    child.sk_dst_cache = rt
    child.inet_id = net.rng.randrange(0x10000)
    child.iss = net.rng.getrandbits(32)
    child.snd_una = child.iss
    child.snd_up = child.iss  # tcp_connect_init() / tcp_create_openreq_child()
    child.ts_offset = net.rng.getrandbits(32)
    _initial_options(child, synack_tstamp=seg.opts is not None and seg.opts.tsval is not None)
    _negotiate(child, seg.opts)
    child.irs = seg.seq32
    child.rcv_nxt = seg.seq32 + 1
    child.rcv_wup = child.rcv_nxt
    child.copied_seq = child.rcv_nxt
    child.snd_wl1 = seg.seq32
    child.snd_wnd = seg.window
    child.max_window = seg.window
    child.sk_state = TCP_SYN_RECV
    child.ack_lrcvtime = tcp_jiffies32(child)  # tcp_create_openreq_child()
    tcp_hash(child)
    bucket = net.tcp_table.setdefault(child.inet_sport, [])
    bucket.append(child)
    stats.TcpPassiveOpens += 1
    tcp_send_syn(child, synack=True)


def tcp_ca_openreq_child(child: TcpSock, listener: TcpSock) -> None:
    """``tcp_ca_openreq_child()`` (net/ipv4/tcp_minisocks.c): a child keeps the congestion
    control its listener was given with ``TCP_CONGESTION`` (the clone copied it); otherwise
    it has the host's default now (:class:`TcpSock` took it at creation), in state Open."""
    if listener.ca_setsockopt:
        child.ca_ops = listener.ca_ops
        child.ca_setsockopt = True
        child.ca_priv = child.ca_ops.alloc_priv()
    tcp_set_ca_state(child, TCP_CA_OPEN)


def _syn_recv_children(listener: TcpSock) -> int:
    return sum(
        1
        for sk in listener.net.tcp_table.get(listener.inet_sport, ())
        if isinstance(sk, TcpSock) and sk.listener is listener and sk.sk_state == TCP_SYN_RECV
    )


def tcp_synrecv_established(sk: TcpSock, seg: Segment) -> None:
    """The third segment of the handshake: ``ESTABLISHED``, onto the accept queue (a
    listener's child) or the connecting task woken (a simultaneous open)."""
    tcp_set_state(sk, TCP_ESTABLISHED)
    sk.sk_state_change()
    # tcp_create_openreq_child() + tcp_v4_syn_recv_sock(): the child takes the window of
    # this ACK (scaled) as snd_wnd and max_window, and its MSS is bounded to half of it
    sk.snd_wnd = seg.window << sk.snd_wscale
    sk.max_window = sk.snd_wnd
    sk.snd_wl1 = unwrap(sk.rcv_nxt, seg.seq32)
    dst = sk.sk_dst_cache
    assert dst is not None
    tcp_sync_mss(sk, dst.mtu)  # type: ignore[attr-defined]
    tcp_init_buffer_space(sk)  # tcp_init_transfer()
    tcp_init_congestion_control(sk)
    sk.lsndtime = tcp_jiffies32(sk)  # no window restart for the first data
    listener = sk.listener
    if listener is not None and listener.sk_state == TCP_LISTEN and not listener.closed:
        listener.accept_queue.append(sk)
        listener.sk_data_ready()


# -- close, shutdown, TIME_WAIT ------------------------------------------------------------------


def tcp_close_state(sk: TcpSock) -> bool:
    """``tcp_close_state()``: the state after our FIN; True if a FIN must be sent."""
    state = sk.sk_state
    if state in (TCP_ESTABLISHED, TCP_SYN_RECV):
        tcp_set_state(sk, TCP_FIN_WAIT1)
        return True
    if state == TCP_CLOSE_WAIT:
        tcp_set_state(sk, TCP_LAST_ACK)
        return True
    return False


def _send_fin(sk: TcpSock) -> None:
    sk.fin_pending = True
    tcp_send_fin(sk)


def tcp_shutdown(sk: TcpSock, how: int) -> None:
    """``inet_shutdown()`` + ``tcp_shutdown()``: ``RCV_SHUTDOWN`` only marks; ``SEND_SHUTDOWN``
    sends a FIN.  A closed socket is marked too, and says ``ENOTCONN``.  Two special cases
    (the kernel's "temporary solution for missing close() in multithreaded environment"): a
    listener shut for reading stops listening (``tcp_disconnect``: its pending connections
    are reset, the socket is ``CLOSE`` and may listen again), one shut only for writing is
    left alone; a socket still connecting is disconnected — the ``connect()`` waiting for it
    fails with ``ECONNRESET``."""
    state = sk.sk_state
    if state == TCP_LISTEN:
        if how & RCV_SHUTDOWN:
            tcp_disconnect(sk)
        sk.sk_state_change()
        return
    if state == TCP_SYN_SENT:
        tcp_disconnect(sk)
        sk.sk_state_change()
        return
    sk.sk_shutdown |= how
    if state == TCP_CLOSE:
        sk.sk_state_change()
        raise kernel_error(errno.ENOTCONN)
    if how & SEND_SHUTDOWN and not sk.fin_pending and tcp_close_state(sk):
        sk.sk_owned_by_user = True
        try:
            _send_fin(sk)
        finally:
            release_sock(sk)
    sk.sk_state_change()


def tcp_close(sk: TcpSock) -> None:
    """``tcp_close()``: the application closed the socket (under the socket lock)."""
    if sk.done or sk.closed:
        return
    ulp = sk.icsk_ulp_ops
    if ulp is not None:
        ulp.close(sk)  # tls_sk_proto_close, which then calls TCP's close
    lock_sock(sk)
    try:
        _tcp_close_locked(sk)
    finally:
        release_sock(sk)


def _tcp_close_locked(sk: TcpSock) -> None:
    sk.sk_shutdown = SHUTDOWN_MASK
    state = sk.sk_state
    net = sk.net
    if state == TCP_LISTEN:
        tcp_set_state(sk, TCP_CLOSE)
        inet_csk_listen_stop(sk)
        tcp_destroy(sk)
        return
    unread = sum(s.len for s in sk.sk_receive_queue)
    if state in (TCP_CLOSE, TCP_SYN_SENT):
        tcp_done(sk)
        tcp_destroy(sk)
        return
    sk.orphaned = True
    if unread:
        net.stats.TcpExtTCPAbortOnClose += 1
        tcp_set_state(sk, TCP_CLOSE)
        tcp_send_active_reset(sk)
        tcp_done(sk)
        return
    if SO_LINGER in sk.sk_flags and not sk.sk_lingertime:
        # SO_LINGER with a zero time (checked after unread data): abort — an RST for a
        # synchronized connection, every queue freed (sk->sk_prot->disconnect)
        tcp_disconnect(sk)
        net.stats.TcpExtTCPAbortOnData += 1
        tcp_done(sk)
        return
    if not sk.fin_pending and tcp_close_state(sk):
        _send_fin(sk)
    if sk.sk_state == TCP_FIN_WAIT2:
        tcp_orphan_fin_wait2(sk)
    elif sk.sk_state == TCP_CLOSE:
        tcp_done(sk)


def tcp_inq(sk: TcpSock) -> int:
    """``tcp_inq()`` (include/net/tcp.h): bytes a ``recv`` could read now — none while the
    handshake is under way; the peer's FIN does not count; with an urgent byte ahead (and
    ``SO_OOBINLINE`` off) only the bytes before it."""
    if sk.sk_state in (TCP_SYN_SENT, TCP_SYN_RECV):
        return 0
    urg_seq = sk.urg_seq
    if (
        SO_OOBINLINE in sk.sk_flags
        or not sk.urg_data
        or urg_seq < sk.copied_seq
        or urg_seq >= sk.rcv_nxt
    ):
        answ = sk.rcv_nxt - sk.copied_seq
        if answ and sk.sock_done:
            answ -= 1  # the FIN's sequence number
        return answ
    return urg_seq - sk.copied_seq


def tcp_ioctl(sk: TcpSock, cmd: int) -> int:
    """``tcp_ioctl()`` (net/ipv4/tcp.c): ``SIOCINQ`` (:func:`tcp_inq`), ``SIOCATMARK`` (the
    next byte is the urgent mark), ``SIOCOUTQ`` (bytes not yet acknowledged:
    ``write_seq - snd_una``) and ``SIOCOUTQNSD`` (bytes not yet sent: ``write_seq -
    snd_nxt``), the last two 0 during the handshake.  A listener answers ``EINVAL`` to all
    but ``SIOCATMARK``; any other request is ``ENOTTY`` (``sock_do_ioctl`` finds no device
    ioctl for it)."""
    state = sk.sk_state
    if cmd == SIOCATMARK:
        return int(sk.at_mark())
    if cmd not in (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD):
        raise kernel_error(errno.ENOTTY)
    if state == TCP_LISTEN:
        raise kernel_error(errno.EINVAL)
    if cmd == SIOCINQ:
        return tcp_inq(sk)
    if state in (TCP_SYN_SENT, TCP_SYN_RECV):
        return 0
    return sk.write_seq - (sk.snd_una if cmd == SIOCOUTQ else sk.snd_nxt)


def inet_csk_listen_stop(sk: TcpSock) -> None:
    """``inet_csk_listen_stop()`` (net/ipv4/inet_connection_sock.c): reset every connection
    the listener has not handed out — accepted-but-not-``accept()``-ed ones and half-open
    ones alike."""
    while sk.accept_queue:
        child = sk.accept_queue.popleft()
        tcp_send_active_reset(child)
        tcp_done(child)
    for other in list(sk.net.sockets):
        if isinstance(other, TcpSock) and other.listener is sk:
            tcp_send_active_reset(other)
            tcp_done(other)


def tcp_fin_time(sk: TcpSock) -> float:
    """``tcp_fin_time()`` (include/net/tcp.h): how long an orphan may wait in ``FIN_WAIT2``
    for the peer's FIN — ``TCP_LINGER2``, or ``net.ipv4.tcp_fin_timeout`` — but never less
    than three and a half RTOs."""
    fin_timeout = sk.linger2 or sk.net.sysctl_int("net.ipv4.tcp_fin_timeout")
    return max(float(fin_timeout), 3.5 * sk.rto)


def tcp_timewait_len(net: Net) -> float:
    """How long TIME_WAIT lasts: ``TCP_TIMEWAIT_LEN``, 60 s (tests may shorten it with
    ``net.tcp_timewait_len``; where Linux compares the FIN_WAIT2 time with the constant,
    netsim does too)."""
    return float(getattr(net, "tcp_timewait_len", TCP_TIMEWAIT_LEN))


def tcp_orphan_fin_wait2(sk: TcpSock) -> None:
    """``close()`` in ``FIN_WAIT2`` (``__tcp_close``, net/ipv4/tcp.c: our FIN was sent and
    acknowledged before, by ``shutdown(SHUT_WR)``).  With ``TCP_LINGER2`` negative the
    orphan does not wait: the connection is reset (``TCPAbortOnLinger``).  Otherwise it
    waits for the peer's FIN (:func:`_orphan_await_fin`)."""
    if sk.linger2 < 0:
        tcp_set_state(sk, TCP_CLOSE)
        tcp_send_active_reset(sk)
        sk.net.stats.TcpExtTCPAbortOnLinger += 1
        tcp_done(sk)
        return
    _orphan_await_fin(sk, hold=False)


def tcp_orphan_fin_acked(sk: TcpSock, seg: Segment, new_data: bool) -> bool:
    """An orphan's FIN is acknowledged (``tcp_rcv_state_process``, ``TCP_FIN_WAIT1``, the
    socket being ``SOCK_DEAD``): what becomes of it in ``FIN_WAIT2``.  Returns True when the
    segment is finished with here: the connection was aborted — ``TCP_LINGER2`` negative,
    or the segment brings ``new_data`` beyond ``rcv_nxt`` that nobody will read
    (``TCPAbortOnData``, and the segment is answered with a reset, as ``tcp_v4_do_rcv``
    answers it) — or the socket became a timewait socket in the ``FIN_WAIT2`` substate,
    which takes the peer's FIN later (:func:`_orphan_await_fin`; the full socket stays when
    this segment itself carries the FIN — it must not be lost — or the user holds the
    lock)."""
    if sk.linger2 < 0 or new_data:
        sk.net.stats.TcpExtTCPAbortOnData += 1
        tcp_done(sk)
        tcp_send_reset_for(sk, seg)
        return True
    return _orphan_await_fin(sk, hold=bool(seg.flags & TCPHDR_FIN) or sk.sk_owned_by_user)


def _orphan_await_fin(sk: TcpSock, hold: bool) -> bool:
    """An orphan in ``FIN_WAIT2`` waits :func:`tcp_fin_time` for the peer's FIN: as a
    **timewait socket** in the ``FIN_WAIT2`` substate (:func:`tcp_time_wait`; True) when
    that is no longer than TIME_WAIT itself and nothing asks to ``hold`` the full socket;
    else as the full socket (False), for the part beyond 60 s
    (:func:`~netsim.tcp.timer.tcp_keepalive_fin_wait2`) or, held, for all of it."""
    tmo = tcp_fin_time(sk)
    if tmo > TCP_TIMEWAIT_LEN:
        tcp_fin_wait2_timer(sk, tmo - TCP_TIMEWAIT_LEN)
    elif hold:
        tcp_fin_wait2_timer(sk, tmo)
    else:
        tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)
        return True
    return False


def tcp_fin_wait2_timer(sk: TcpSock, delay: float) -> None:
    """``tcp_reset_keepalive_timer()`` for an orphan in ``FIN_WAIT2``: in ``delay`` seconds
    :func:`~netsim.tcp.timer.tcp_keepalive_fin_wait2` runs."""
    from .timer import tcp_keepalive_fin_wait2

    if sk.timewait_timer is not None:
        sk.timewait_timer.cancel()
    sk.timewait_timer = sk.net.timers.add(sk.net.now + delay, lambda: tcp_keepalive_fin_wait2(sk))


#: What a timewait socket copies from the connection (``inet_twsk_alloc``,
#: ``tcp_time_wait``): its identity and tables' keys, the route, and what its ACKs carry —
#: sequence numbers, the window and its scale, timestamps.  No queue, no data.
_TW_FIELDS: Final = (
    "inet_saddr",
    "inet_rcv_saddr",
    "inet_sport",
    "inet_daddr",
    "inet_dport",
    "inet_id",
    "sk_dst_cache",
    "sk_reuse",
    "sk_reuseport",
    "sk_bound_dev_if",
    "ipv6_v6only",
    "tos",
    "uc_ttl",
    "hop_limit",
    "tclass",
    "sk_txhash",
    "pmtudisc",
    "pmtudisc6",
    "sk_rcvbuf",
    "snd_nxt",
    "snd_una",
    "write_seq",
    "rcv_nxt",
    "rcv_wup",
    "rcv_wnd",
    "copied_seq",
    "window_clamp",
    "rcv_ssthresh",
    "scaling_ratio",
    "rcv_wscale",
    "snd_wscale",
    "wscale_ok",
    "tstamp_ok",
    "sack_ok",
    "ts_recent",
    "ts_offset",
    "tcp_header_len",
    "mss_cache",
    "advmss",
    "ack_rcv_mss",
)


def tcp_time_wait(sk: TcpSock, state: int = TCP_TIME_WAIT, timeo: float = 0.0) -> None:
    """``tcp_time_wait()`` (net/ipv4/tcp_minisocks.c): the connection's 4-tuple passes to a
    **timewait socket** (``inet_twsk_alloc`` + ``inet_twsk_hashdance_schedule``).  In the
    ``TIME_WAIT`` substate it lasts ``net.tcp_timewait_len`` seconds (Linux:
    ``TCP_TIMEWAIT_LEN``, 60 s), holds the port, answers a retransmitted FIN with an ACK and
    keeps no data.  In the ``FIN_WAIT2`` substate (an orphan whose FIN was acknowledged,
    :func:`tcp_orphan_fin_wait2`) it waits ``timeo`` seconds — at least 3.5 RTOs — for the
    peer's FIN, then enters true TIME_WAIT (:func:`tcp_timewait_state_process`).  Either way
    it shows as ``TIME_WAIT`` in ``sk_state`` (its ``tw_substate`` tells which) and sends from
    no full socket: its ACKs and resets take IPv4 ID 0, as Linux's control socket's do.

    The socket itself is finished (``tcp_done``): ``CLOSE`` — ``tcp_info`` says so and
    ``getpeername`` is ``ENOTCONN``, as on Linux — and destroyed at once if it is an orphan,
    which frees the FIN skb ``tcp_data_queue`` just queued; a socket the application still
    holds keeps its receive queue for it to read.  netsim's timewait socket is a bare
    :class:`TcpSock` with the fields its ACKs need (``_TW_FIELDS``)."""
    net = sk.net
    tw = TcpSock(net, sk.sk_family, sk.sk_type, sk.sk_protocol)
    for name in _TW_FIELDS:
        setattr(tw, name, getattr(sk, name))
    tw.sk_state = TCP_TIME_WAIT
    tw.tw_substate = state
    tw.tw_rcv_wnd = tcp_receive_window(sk)
    tw.tw_entry_stamp = net.now
    tw.sk_shutdown = SHUTDOWN_MASK
    tw.sock_done = state == TCP_TIME_WAIT
    tw.fin_pending = True
    tw.orphaned = True  # nobody holds it: tcp_done() destroys it
    net.sockets.add(tw)
    _ehash(net)[_ehash_key(tw)] = tw  # the hashdance: tw replaces sk in the established table
    net.tcp_table.setdefault(tw.inet_sport, []).append(tw)  # ... and joins the port's bucket
    length = tcp_timewait_len(net) if state == TCP_TIME_WAIT else max(timeo, 3.5 * sk.rto)
    tw.timewait_timer = net.timers.add(net.now + length, lambda: _tw_expire(tw))
    tcp_done(sk)


def _tw_expire(sk: TcpSock) -> None:
    sk.timewait_timer = None
    sk.net.stats.TcpExtTW += 1
    tcp_done(sk)


def _tw_reschedule(sk: TcpSock) -> None:
    """``inet_twsk_reschedule(tw, TCP_TIMEWAIT_LEN)``: TIME_WAIT starts over."""
    if sk.timewait_timer is None:
        return
    sk.timewait_timer.cancel()
    net = sk.net
    sk.timewait_timer = net.timers.add(net.now + tcp_timewait_len(net), lambda: _tw_expire(sk))


def _tw_ack_oow(sk: TcpSock, seq: int, end_seq: int, flags: int) -> None:
    """``tcp_timewait_check_oow_rate_limit()``: answer an out-of-window segment with an ACK,
    at most one per ``net.ipv4.tcp_invalid_ratelimit`` (500 ms) — but data without SYN is
    never limited (``tcp_oow_rate_limited()``: it is no part of an ACK loop).  Answering
    every segment would make two timewait sockets (a simultaneous close) ACK each other's
    ACKs for as long as TIME_WAIT lasts."""
    now = sk.net.now
    if seq != end_seq and not flags & TCPHDR_SYN:
        tcp_send_ack(sk)
    elif not 0 <= sk.last_oow_ack <= now < sk.last_oow_ack + 0.5:
        sk.last_oow_ack = now
        tcp_send_ack(sk)
    elif sk.tw_substate == TCP_FIN_WAIT2:
        sk.net.stats.TcpExtTCPACKSkippedFinWait2 += 1
    else:
        sk.net.stats.TcpExtTCPACKSkippedTimeWait += 1


def _tw_reset(sk: TcpSock, skb: SkBuff, seg: Segment) -> None:
    """``TCP_TW_RST``: answer the segment with a reset (``tcp_v4_send_reset`` with the
    timewait socket) and kill the timewait socket (``inet_twsk_deschedule_put``)."""
    tcp_send_reset_for(sk, seg, skb.len)
    tcp_done(sk)  # an orphan: destroyed, its timer with it


def tcp_timewait_state_process(sk: TcpSock, skb: SkBuff, seg: Segment) -> None:
    """``tcp_timewait_state_process()`` (net/ipv4/tcp_minisocks.c), without PAWS.

    In the ``FIN_WAIT2`` substate the checks of ``tcp_rcv_state_process`` are repeated: a
    segment outside the window it had is answered with a (rate-limited) ACK; an RST kills
    it; a SYN at or beyond ``rcv_nxt``, new data, or a FIN that is not exactly at
    ``rcv_nxt`` is answered with a reset and kills it (the closed socket cannot take data);
    a bare or duplicate ACK is taken in silence; the peer's FIN moves it to true TIME_WAIT,
    which starts (60 s) and is acknowledged.

    In ``TIME_WAIT`` the segment at ``rcv_nxt`` that carries nothing — a bare ACK — is taken
    in silence (``TCP_TW_SUCCESS``) and restarts TIME_WAIT; an RST there kills the timewait
    socket (TIME_WAIT assassination, ``net.ipv4.tcp_rfc1337`` being 0).  Anything else — a
    retransmitted FIN or data, an old ACK — is out of window: it restarts TIME_WAIT if it
    carries an ACK and is answered with an ACK (rate-limited, :func:`_tw_ack_oow`); an
    out-of-window RST is ignored.  A SYN is dropped (netsim does not reopen a connection
    from TIME_WAIT)."""
    flags = seg.flags
    rcv_nxt = sk.rcv_nxt
    seq = unwrap(rcv_nxt, seg.seq32)
    end_seq = seq + skb.len + (1 if flags & TCPHDR_FIN else 0) + (1 if flags & TCPHDR_SYN else 0)
    if sk.tw_substate == TCP_FIN_WAIT2:
        if not tcp_in_window(seq, end_seq, rcv_nxt, rcv_nxt + sk.tw_rcv_wnd):
            _tw_ack_oow(sk, seq, end_seq, flags)
        elif flags & TCPHDR_RST:
            tcp_done(sk)
        elif flags & TCPHDR_SYN and seq >= rcv_nxt:
            _tw_reset(sk, skb, seg)
        elif not flags & TCPHDR_ACK or end_seq <= rcv_nxt or end_seq == seq:
            pass  # a duplicate ACK
        elif not flags & TCPHDR_FIN or end_seq != rcv_nxt + 1:
            _tw_reset(sk, skb, seg)  # new data after the half-duplex close
        else:
            sk.tw_substate = TCP_TIME_WAIT  # the FIN: true TIME_WAIT
            sk.sock_done = True
            sk.rcv_nxt = end_seq
            sk.tw_entry_stamp = sk.net.now
            if seg.tsval is not None and sk.tstamp_ok:
                sk.ts_recent = seg.tsval
            _tw_reschedule(sk)
            tcp_send_ack(sk)
        kfree_skb(skb)
        return
    if seq == rcv_nxt and (seq == end_seq or flags & TCPHDR_RST):
        # in window: it may be only a reset or a bare ACK
        if flags & TCPHDR_RST:
            tcp_done(sk)
        else:
            _tw_reschedule(sk)
            if seg.tsval is not None and sk.tstamp_ok:
                sk.ts_recent = seg.tsval
    elif not flags & (TCPHDR_RST | TCPHDR_SYN):
        if flags & TCPHDR_ACK:
            _tw_reschedule(sk)
        _tw_ack_oow(sk, seq, end_seq, flags)
    kfree_skb(skb)


def tcp_in_window(seq: int, end_seq: int, s_win: int, e_win: int) -> bool:
    """``tcp_in_window()`` (net/ipv4/tcp_minisocks.c): does ``[seq, end_seq)`` touch the
    window ``[s_win, e_win)``?  A segment starting at its left edge always does; an empty
    one may sit at its right edge."""
    if seq == s_win:
        return True
    if end_seq > s_win and seq < e_win:
        return True
    return seq == e_win and seq == end_seq


def tcp_done(sk: TcpSock) -> None:
    """``tcp_done()``: ``CLOSE`` — out of the tables, as ``tcp_set_state(sk, TCP_CLOSE)``
    takes it (:func:`tcp_unhash_close`); an orphan (or a never-accepted child) is destroyed.
    A connection that ends before it was established counts in ``TcpAttemptFails``
    (refused, SYN retries exhausted, a half-open child reset)."""
    if sk.sk_state in (TCP_SYN_SENT, TCP_SYN_RECV):
        sk.net.stats.TcpAttemptFails += 1
    if sk.sk_state != TCP_CLOSE:
        sk.sk_state = TCP_CLOSE
    tcp_unhash_close(sk)
    from .timer import tcp_clear_xmit_timers

    tcp_clear_xmit_timers(sk)
    sk.sk_shutdown = SHUTDOWN_MASK
    sk.sk_state_change()
    if sk.orphaned or sk.listener is not None:
        tcp_destroy(sk)


#: ``tcp_sock`` fields ``tcp_disconnect`` keeps: what the user set (``TCP_NODELAY``/``TCP_CORK``,
#: ``TCP_NOTSENT_LOWAT``, ``TCP_MAXSEG``, ``TCP_LINGER2``, the keepalive times, ``TCP_SYNCNT``,
#: ``TCP_DEFER_ACCEPT``, ``TCP_USER_TIMEOUT`` — not ``TCP_WINDOW_CLAMP``, which it clears) and
#: netsim's own bookkeeping.
_DISCONNECT_KEEPS: Final = frozenset(
    {
        "nonagle",
        "notsent_lowat",
        "user_mss",
        "linger2",
        "keepalive_time",
        "keepalive_intvl",
        "keepalive_probes",
        "syn_retries",
        "defer_accept",
        "user_timeout",
        "ca_ops",
        "ca_setsockopt",
        "max_ack_backlog",
        "listener",
        "accept_queue",
        "sk_backlog",
        "sk_owned_by_user",
        "skb_allocs",
        "orphaned",
        "done",
    }
)


def tcp_disconnect(sk: TcpSock) -> None:
    """``tcp_disconnect()`` (net/ipv4/tcp.c), as ``__inet_stream_connect()`` calls it when a
    connect fails (net/ipv4/af_inet.c, the ``sock_error:`` label): the socket becomes a fresh
    ``CLOSE`` socket again.  Queues and timers are purged; the peer is forgotten; the source
    address and port go back unless ``bind()`` fixed them (``SOCK_BINDADDR_LOCK``,
    ``SOCK_BINDPORT_LOCK``; a port given back still shows in ``getsockname``, as
    ``inet_sport`` is left alone); ``sk_shutdown`` is cleared; the connection's sequence, window,
    option, RTT and congestion state return to their initial values while what the user set
    stays.  So after ``ECONNREFUSED``, ``recv`` says ``ENOTCONN``, ``getpeername`` says
    ``ENOTCONN``, and a second ``connect()`` starts afresh, as on Linux.  A connection that
    is still synchronized is aborted with an RST first (``tcp_need_reset``)."""
    old_state = sk.sk_state
    if old_state == TCP_LISTEN:
        tcp_set_state(sk, TCP_CLOSE)
        inet_csk_listen_stop(sk)
    if old_state in (TCP_ESTABLISHED, TCP_CLOSE_WAIT, TCP_FIN_WAIT1, TCP_FIN_WAIT2, TCP_SYN_RECV):
        tcp_send_active_reset(sk)
        sk.sk_err = errno.ECONNRESET
    elif old_state == TCP_SYN_SENT:
        sk.sk_err = errno.ECONNRESET
    sk.sk_state = TCP_CLOSE
    tcp_unhash_close(sk)
    _purge(sk)
    from .output import sk_mem_reclaim_final

    sk_mem_reclaim_final(sk)
    sk.sk_shutdown = 0
    sk.sock_nospace = False
    if not sk.sk_userlocks & SOCK_BINDADDR_LOCK:
        sk.inet_saddr = sk.inet_rcv_saddr = None
    sk.inet_daddr = None
    sk.inet_dport = 0
    sk.sk_dst_cache = None
    fresh = TcpSock(sk.net, sk.sk_family, sk.sk_type, sk.sk_protocol)
    for name in TCP_SOCK_FIELDS:
        if name not in _DISCONNECT_KEEPS:
            setattr(sk, name, getattr(fresh, name))
    # the congestion control stays; its private area is zeroed, the state Open
    sk.ca_priv = sk.ca_ops.alloc_priv()
    tcp_set_ca_state(sk, TCP_CA_OPEN)


def _purge(sk: TcpSock) -> None:
    """Stop every timer and free every queue (what ``tcp_disconnect`` and
    ``inet_csk_destroy_sock`` both do)."""
    from .output import tcp_wmem_free_skb
    from .timer import tcp_clear_xmit_timers

    tcp_clear_xmit_timers(sk)
    if sk.timewait_timer is not None:
        sk.timewait_timer.cancel()
        sk.timewait_timer = None

    for queue in (sk.sk_write_queue,):
        while queue:
            tcp_wmem_free_skb(sk, queue.popleft())
    rtx = sk.tcp_rtx_queue
    while rtx:
        tcp_wmem_free_skb(sk, rtx.pop(0))
    sk.packets_out = 0
    ofo = sk.out_of_order_queue
    while ofo:
        kfree_skb(ofo.pop(0))
    while sk.sk_backlog:
        kfree_skb(sk.sk_backlog.popleft())
    while sk.sk_receive_queue:
        kfree_skb(sk.sk_receive_queue.popleft())


def tcp_destroy(sk: TcpSock) -> None:
    """``inet_csk_destroy_sock()`` + ``__sk_destruct``: free every queue, timer and frag."""
    if sk.done:
        return
    sk.done = True
    sk.closed = True
    _purge(sk)
    if sk.icsk_ulp_ops is not None:
        from .ulp import tcp_cleanup_ulp

        tcp_cleanup_ulp(sk)
    from .output import sk_mem_reclaim_final

    sk_mem_reclaim_final(sk)
    while sk.accept_queue:
        child = sk.accept_queue.popleft()
        child.listener = None
        child.orphaned = True
        tcp_destroy(child)
    if sk.sk_state not in (TCP_CLOSE,):
        sk.sk_state = TCP_CLOSE
    tcp_unhash(sk)
    sock_destroy_frag(sk)
    sk.net.sockets.discard(sk)
    sk.sk_shutdown = SHUTDOWN_MASK
    sk.sk_wq.wake()


# -- resets ------------------------------------------------------------------------------------


def tcp_send_reset_for(sk: TcpSock, seg: Segment, length: int = 0) -> None:
    """An RST answering ``seg`` on ``sk``'s 4-tuple (``tcp_v4_send_reset``): its sequence
    number is the segment's ACK; a segment without one (``length`` bytes of payload) is
    answered by an RST+ACK of sequence 0 acknowledging all it occupied.  Over IPv6 it carries
    the socket's flow label (``tcp_v6_send_reset`` takes the label from ``sk_txhash`` when
    there is a socket)."""
    family = AF_INET if isinstance(sk.sk_dst_cache, Rtable) else AF_INET6
    label = ip6_sk_flowlabel(sk) if family == AF_INET6 and sk.sk_txhash else -1
    flags = seg.flags
    seq32, ack32 = seg.ack32, None
    if not flags & TCPHDR_ACK:
        seq32 = 0
        ack32 = seg.seq32 + length + (1 if flags & TCPHDR_SYN else 0)
        ack32 += 1 if flags & TCPHDR_FIN else 0
    tcp_send_reset_raw(
        sk.net, family, _wire(sk.inet_saddr), sk.inet_sport, _wire(sk.inet_daddr),
        sk.inet_dport, seq32, ack32, label,
    )  # fmt: skip


def tcp_send_reset_raw(
    net: Net,
    family: int,
    saddr: bytes,
    sport: int,
    daddr: bytes,
    dport: int,
    seq32: int,
    ack32: int | None,
    flow_label: int = -1,
) -> None:
    """``tcp_v4_send_reset()`` / ``tcp_v6_send_reset()``: an RST from a socketless context
    (``seq`` = the offending ACK, or ``ack`` = the offending segment's end).  Over IPv6 the
    flow label is ``flow_label``, or with -1 the one ``tcp_v6_send_response()`` makes from
    the flow's hash (``ip6_make_flowlabel`` of the control socket: the sysctl's default)."""
    hlen = 40 if family == AF_INET6 else 20
    try:
        rt: Rtable | Rt6Info = (
            ip6_route_output(net, daddr, saddr)
            if family == AF_INET6
            else ip_route_output(net, daddr, saddr)
        )
    except OSError:
        return
    skb = alloc_skb(LL_RESERVED_SPACE + hlen + 20, stats=net.stats, layout=net.skb_layout)
    tracer = net.stats.tracer
    if tracer is not None:
        tracer.set_role(skb, "a reset answering a segment")
    skb_reserve(skb, LL_RESERVED_SPACE)
    start = skb_put(skb, hlen + 20)
    skb.network_header = start
    skb.transport_header = start + hlen
    th = start + hlen
    flags = TCPHDR_RST | (TCPHDR_ACK if ack32 is not None else 0)
    tcp_build_header(skb.head, th, sport, dport, seq32 & U32, (ack32 or 0) & U32, 5, flags, 0)
    magic = csum_ipv6_magic if family == AF_INET6 else csum_tcpudp_magic
    seed = ~magic(saddr, daddr, 20, IPPROTO_TCP, 0) & 0xFFFF
    skb.head[th + 16 : th + 18] = seed.to_bytes(2, "big")
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = th
    skb.csum_offset = 16
    skb.dst = rt
    net.stats.TcpOutRsts += 1
    net.stats.TcpOutSegs += 1
    try:
        if family == AF_INET6:
            skb.protocol = ETH_P_IPV6
            if flow_label < 0:
                flow_label = ip6_flowlabel_from_flow(
                    net, ip6_default_np_autolabel(net), saddr, daddr, sport, dport, IPPROTO_TCP
                )
            assert isinstance(rt, Rt6Info)
            hop_limit = ip6_dst_hoplimit(net, rt)  # the control socket sets none
            ip6_build_header(
                skb.head, start, 20, IPPROTO_TCP, hop_limit, saddr, daddr, 0, flow_label
            )
            ip6_local_out(net, None, skb)
        else:
            skb.protocol = ETH_P_IP
            ident = ip_select_ident(net, None, saddr, daddr, IPPROTO_TCP, 0x4000, 1)
            ip4_build_header(skb.head, start, 40, ident, 0x4000, 64, IPPROTO_TCP, saddr, daddr)
            ip_local_out(net, None, skb)
    except OSError:
        return
