"""UDP socket plumbing: bind, autobind, connect, lookup, options
(net/ipv4/udp.c ``udp_lib_get_port``, ``__udp4_lib_lookup``; net/ipv4/datagram.c
``__ip4_datagram_connect``; net/ipv6/datagram.c ``__ip6_datagram_connect``; net/ipv4/af_inet.c
``__inet_bind``).

Addresses are packed bytes.  An ``AF_INET6`` socket keeps 16-byte addresses; it talks to IPv4
peers through IPv4-mapped addresses (``::ffff:a.b.c.d``) unless ``IPV6_V6ONLY``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import errno, kernel_error
from ..ipv4.af_inet import inet_bind, ipv6_connect_scope
from ..ipv4.route import ip_route_output
from ..ipv6.route import ip6_route_output
from ..sock.addr import (
    ANY4,
    ANY6,
    LOOPBACK6,
    V4_MAPPED_LOOPBACK,
    ipv6_addr_v4mapped,
    v4_from_mapped,
    v4_mapped,
)
from ..sock.constants import AF_INET, AF_INET6, SO_BROADCAST
from ..sock.sock import (
    SOCK_BINDADDR_LOCK,
    SOCK_BINDPORT_LOCK,
    TCP_CLOSE,
    TCP_ESTABLISHED,
    sk_set_txhash,
)
from .sock import UdpSock

if TYPE_CHECKING:
    from ..netns import Net
    from ..sock.sock import Sock

__all__ = [
    "udp_bind",
    "udp_connect",
    "udp_disconnect",
    "udp_get_port",
    "udp_lookup",
]


def _is_any(addr: bytes | None) -> bool:
    return addr is None or addr in (ANY4, ANY6)


def _as_v4(addr: bytes | None) -> bytes | None:
    if addr is None:
        return None
    if len(addr) == 16 and ipv6_addr_v4mapped(addr):
        return v4_from_mapped(addr)
    return addr


def _conflicts(a: Sock, b: Sock) -> bool:
    """Would ``a`` and ``b`` bound to the same port receive the same packets?"""
    if a.sk_reuse and b.sk_reuse:
        return False
    if a.sk_reuseport and b.sk_reuseport:
        return False
    fa, fb = a.sk_family, b.sk_family
    if fa != fb:
        v6 = a if fa == AF_INET6 else b
        v4 = b if v6 is a else a
        if v6.ipv6_v6only:
            return False
        if not _is_any(v6.inet_rcv_saddr) and not ipv6_addr_v4mapped(v6.inet_rcv_saddr or b""):
            return False
        return (
            _is_any(v6.inet_rcv_saddr)
            or _is_any(v4.inet_rcv_saddr)
            or _as_v4(v6.inet_rcv_saddr) == v4.inet_rcv_saddr
        )
    return (
        _is_any(a.inet_rcv_saddr)
        or _is_any(b.inet_rcv_saddr)
        or (a.inet_rcv_saddr == b.inet_rcv_saddr)
    )


def udp_get_port(sk: Sock, port: int, table: dict[int, list[Sock]] | None = None) -> int:
    """``udp_lib_get_port()``: take ``port`` (``EADDRINUSE`` on a conflict) or, for 0, a free
    ephemeral port from ``net.ipv4.ip_local_port_range`` (``EAGAIN`` when none is left)."""
    net = sk.net
    table = net.udp_table if table is None else table
    if port:
        for other in table.get(port, ()):
            if other is not sk and _conflicts(sk, other):
                raise kernel_error(errno.EADDRINUSE)
        chosen = port
    else:
        low, high = net.sysctl_vec("net.ipv4.ip_local_port_range")
        span = high - low + 1
        start = net.rng.randrange(span)
        for i in range(span):
            candidate = low + (start + i) % span
            if not any(
                other is not sk and _conflicts(sk, other) for other in table.get(candidate, ())
            ):
                chosen = candidate
                break
        else:
            raise kernel_error(errno.EAGAIN, "no free ephemeral port")
    table.setdefault(chosen, []).append(sk)
    sk.inet_sport = chosen
    return chosen


def udp_bind(sk: Sock, addr: bytes, port: int, scope_id: int = 0) -> None:
    """``inet_bind()`` / ``inet6_bind()`` with ``udp_lib_get_port()``: bind to a local address
    (or the wildcard) and a port (0: ephemeral).  The address rules are
    :func:`netsim.ipv4.af_inet.inet_bind`'s: ``EINVAL`` if already bound, ``EADDRNOTAVAIL``
    for an address that is not this host's (multicast and broadcast addresses are allowed)."""
    inet_bind(sk, addr, port, bool(sk.inet_sport), _udp_bind_port, scope_id)


def _udp_bind_port(sk: Sock, port: int) -> int:
    try:
        return udp_get_port(sk, port)
    except OSError:
        # __inet_bind() reports any get_port() failure (even an exhausted ephemeral range)
        # as EADDRINUSE; only inet_autobind() says EAGAIN
        raise kernel_error(errno.EADDRINUSE) from None


def udp_autobind(sk: Sock) -> None:
    """``inet_autobind()``: bind to an ephemeral port on first send or connect."""
    if not sk.inet_sport:
        udp_get_port(sk, 0)


def udp_connect(sk: Sock, daddr: bytes, dport: int, scope_id: int = 0) -> None:
    """``__ip4_datagram_connect()`` / ``__ip6_datagram_connect()``: route to the peer, fix the
    source address, autobind, and mark the socket ``ESTABLISHED`` (connected); a new
    ``sk_txhash`` (``sk_set_txhash``) gives its IPv6 datagrams their flow label.  Disconnecting
    keeps the hash, as ``__udp_disconnect`` does."""
    net = sk.net
    if sk.sk_family == AF_INET6:
        if daddr == ANY6:
            # __ip6_datagram_connect: :: is this host, IPv4's if the bound address is
            rcv = sk.inet_rcv_saddr
            daddr = V4_MAPPED_LOOPBACK if rcv and ipv6_addr_v4mapped(rcv) else LOOPBACK6
        if ipv6_addr_v4mapped(daddr) and sk.ipv6_v6only:
            raise kernel_error(errno.ENETUNREACH)
        ipv6_connect_scope(sk, daddr, scope_id)
    v4 = sk.sk_family == AF_INET or ipv6_addr_v4mapped(daddr)
    bound = _as_v4(sk.inet_saddr) if v4 else sk.inet_saddr
    if v4:
        rt4 = ip_route_output(net, _as_v4(daddr) or ANY4, bound)
        if rt4.broadcast and SO_BROADCAST not in sk.sk_flags:
            raise kernel_error(errno.EACCES, "a broadcast address needs SO_BROADCAST")
        saddr, peer = rt4.saddr, rt4.daddr
        dst: object = rt4
        if sk.sk_family == AF_INET6:
            saddr, peer = v4_mapped(saddr), v4_mapped(peer)
    else:
        rt6 = ip6_route_output(net, daddr, bound)
        saddr, peer = rt6.saddr, rt6.daddr
        dst = rt6
    udp_autobind(sk)
    if sk.inet_saddr is None:
        sk.inet_saddr = saddr
    if sk.inet_rcv_saddr is None:
        sk.inet_rcv_saddr = saddr
    sk.inet_daddr = peer  # fl4->daddr: connecting to 0.0.0.0 or :: connects to this host
    sk.inet_dport = dport
    sk.sk_state = TCP_ESTABLISHED
    sk.inet_id = net.rng.randrange(0x10000)
    sk.sk_dst_cache = dst
    sk_set_txhash(sk)  # a connected socket's datagrams share one IPv6 flow label


def udp_disconnect(sk: Sock) -> None:
    """``__udp_disconnect()`` (connect with ``AF_UNSPEC``): forget the peer; the source
    address chosen by connect is forgotten too unless it was bound, and a port that was not
    bound explicitly is given back (the next send autobinds a new one)."""
    sk.sk_state = TCP_CLOSE
    sk.inet_daddr = None
    sk.inet_dport = 0
    sk.sk_dst_cache = None
    if not sk.sk_userlocks & SOCK_BINDADDR_LOCK:
        sk.inet_saddr = sk.inet_rcv_saddr = None
    if not sk.sk_userlocks & SOCK_BINDPORT_LOCK:
        sk.unhash()
        sk.inet_sport = 0


def udp_lookup(
    net: Net, family: int, saddr: bytes, sport: int, daddr: bytes, dport: int
) -> Sock | None:
    """``__udp4_lib_lookup()`` / ``__udp6_lib_lookup()``: the socket that gets a datagram
    ``saddr:sport → daddr:dport`` of ``family`` — the best-scoring of the sockets bound to
    ``dport`` (a connected socket matching the peer beats a bound address beats the wildcard)."""
    best: Sock | None = None
    best_score = -1
    for sk in net.udp_table.get(dport, ()):
        score = _compute_score(sk, family, saddr, sport, daddr)
        if score > best_score:
            best, best_score = sk, score
    return best


def _compute_score(sk: Sock, family: int, saddr: bytes, sport: int, daddr: bytes) -> int:
    if sk.closed:
        return -1
    score = 0
    if sk.sk_family == family:
        score += 4 if family == AF_INET6 else 2
        rcv, peer = sk.inet_rcv_saddr, sk.inet_daddr
    elif sk.sk_family == AF_INET6 and family == AF_INET and not sk.ipv6_v6only:
        rcv = sk.inet_rcv_saddr
        if rcv is not None:
            if not ipv6_addr_v4mapped(rcv):
                return -1
            rcv = v4_from_mapped(rcv)
        peer = _as_v4(sk.inet_daddr)
    else:
        return -1
    if rcv is not None and not _is_any(rcv):
        if rcv != daddr:
            return -1
        score += 4
    if peer is not None:
        if peer != saddr:
            return -1
        score += 4
    if sk.inet_dport:
        if sk.inet_dport != sport:
            return -1
        score += 4
    return score


_ = UdpSock
