"""``setsockopt``/``getsockopt``: socket options with Linux's values, validation and errors
(net/core/sock.c ``sk_setsockopt``/``sk_getsockopt``, net/ipv4/ip_sockglue.c,
net/ipv6/ipv6_sockglue.c, net/ipv4/udp.c ``udp_lib_setsockopt``, net/ipv4/tcp.c
``do_tcp_setsockopt``).

What the kernel receives is a buffer: a Python ``int`` is packed as a C ``int`` (as Python's own
``setsockopt`` does), ``bytes``-like values are taken as they are.  Most options read a C
``int`` from it — a shorter buffer is ``EINVAL``; the small ``SOL_IP`` options (``IP_TTL``,
``IP_TOS`` …) read 1..3 bytes as an unsigned char; ``SO_LINGER`` reads a ``struct linger``
(two ``int``\\ s).  ``getsockopt`` returns an ``int``, or with a ``buflen`` the option's bytes
cut to that length (``struct tcp_info`` for ``TCP_INFO``; the first 4 bytes, read as an int,
without one — as on Linux, where the length asked for is ``sizeof(int)``).

Where an option goes, by level — as the kernel dispatches it:

* ``SOL_SOCKET``: :func:`sk_setsockopt` here, for every socket.
* the protocol's level (``SOL_TCP``; ``SOL_UDP`` or ``SOL_UDPLITE`` for UDP): the socket's
  ``proto_setsockopt``/``proto_getsockopt`` (``sk->sk_prot->setsockopt``).
* ``SOL_IP`` on both families (an ``AF_INET6`` socket passes it to ``ip_setsockopt``),
  ``SOL_IPV6`` on ``AF_INET6`` sockets.
* a level an upper-layer protocol handles (``SOL_TLS`` once ``TCP_ULP`` is ``tls``): the ULP
  (``tls_setsockopt``/``tls_getsockopt``), see :mod:`netsim.tls`.
* any other level: ``setsockopt`` is ``ENOPROTOOPT``; ``getsockopt`` is ``EOPNOTSUPP`` on an
  ``AF_INET`` socket (``do_ip_getsockopt``) and ``ENOPROTOOPT`` on an ``AF_INET6`` one
  (``ipv6_getsockopt``).

An option name the level does not know is ``ENOPROTOOPT``; a value out of range ``EINVAL``.
``SO_SNDBUF``/``SO_RCVBUF`` are capped at ``net.core.wmem_max``/``rmem_max``, **doubled** (to
account for struct overhead, as Linux does — ``getsockopt`` returns the doubled value), floored
at ``SOCK_MIN_SNDBUF``/``SOCK_MIN_RCVBUF``, and lock the size against autotuning.  The
``*FORCE`` variants skip the cap (netsim runs as root, so nothing needs ``CAP_NET_ADMIN``).

Options netsim stores and reports but that change nothing it emulates: ``SO_DEBUG``,
``SO_DONTROUTE``, ``SO_KEEPALIVE`` (no keepalive probes are sent), ``SO_PRIORITY``,
``SO_MARK``, ``SO_BSDCOMPAT``.  Options with an effect netsim does not emulate (timestamps,
``SO_RCVTIMEO``, ``SO_BINDTODEVICE``, ``IP_PKTINFO`` and other ancillary-data requests) are
``ENOPROTOOPT`` with "not emulated by netsim" in the message, so a program learns it at once.
"""

from __future__ import annotations

import struct
from typing import Final

from ..errors import errno, kernel_error
from .constants import (
    AF_INET6,
    IP_MTU,
    IP_MTU_DISCOVER,
    IP_RECVERR,
    IP_TOS,
    IP_TTL,
    IPPROTO_TCP,
    IPPROTO_UDP,
    IPV6_AUTOFLOWLABEL,
    IPV6_DONTFRAG,
    IPV6_MTU,
    IPV6_MTU_DISCOVER,
    IPV6_RECVERR,
    IPV6_TCLASS,
    IPV6_UNICAST_HOPS,
    IPV6_V6ONLY,
    SO_ACCEPTCONN,
    SO_BROADCAST,
    SO_BSDCOMPAT,
    SO_DEBUG,
    SO_DOMAIN,
    SO_DONTROUTE,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_MARK,
    SO_NO_CHECK,
    SO_OOBINLINE,
    SO_PRIORITY,
    SO_PROTOCOL,
    SO_RCVBUF,
    SO_RCVBUFFORCE,
    SO_RCVLOWAT,
    SO_RESERVE_MEM,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    SO_SNDBUFFORCE,
    SO_SNDLOWAT,
    SO_TXREHASH,
    SO_TYPE,
    SOCK_STREAM,
    SOL_IP,
    SOL_IPV6,
    SOL_SOCKET,
    SOL_UDPLITE,
)
from .sock import (
    SOCK_MIN_RCVBUF,
    SOCK_MIN_SNDBUF,
    SOCK_RCVBUF_LOCK,
    SOCK_SNDBUF_LOCK,
    SOCK_TXREHASH_DEFAULT,
    Sock,
    ip6_autoflowlabel,
)
from .sysctl import HZ

__all__ = [
    "MAX_SCHEDULE_TIMEOUT",
    "OptValue",
    "optval_bytes",
    "optval_int",
    "sock_getsockopt",
    "sock_setsockopt",
]

OptValue = int | bytes | bytearray | memoryview
INT_MAX: Final = 0x7FFFFFFF
#: ``MAX_SCHEDULE_TIMEOUT`` (``LONG_MAX`` jiffies): "wait forever", what a huge or negative
#: ``SO_LINGER`` time becomes
MAX_SCHEDULE_TIMEOUT: Final = 2**63 - 1

#: Boolean ``SOL_SOCKET`` options kept in ``sk_flags`` (``sock_valbool_flag``).
_FLAG_OPTIONS: Final = frozenset({SO_DEBUG, SO_DONTROUTE, SO_BROADCAST, SO_KEEPALIVE, SO_OOBINLINE})
#: ``SOL_SOCKET`` options Linux has that would change what netsim does not emulate.
_NOT_EMULATED_SOCKET: Final = frozenset(
    {
        20,  # SO_RCVTIMEO_OLD
        21,  # SO_SNDTIMEO_OLD
        25,  # SO_BINDTODEVICE
        29,  # SO_TIMESTAMP_OLD
        35,  # SO_TIMESTAMPNS_OLD
        37,  # SO_TIMESTAMPING_OLD
        40,  # SO_RXQ_OVFL
        60,  # SO_ZEROCOPY
    }
)
_INET_ECN_MASK: Final = 3
#: ``do_ip_setsockopt`` reads these from a value shorter than an ``int`` as an unsigned char.
_IP_CHAR_OPTIONS: Final = frozenset({IP_TOS, IP_TTL, IP_MTU_DISCOVER, IP_RECVERR})
#: ``do_ipv6_setsockopt`` reads a NULL or shorter-than-``int`` value as 0, and these options
#: never check ``optlen``: such a value turns them off.
_IPV6_ANY_LENGTH: Final = frozenset({IPV6_AUTOFLOWLABEL, IPV6_DONTFRAG})


def optval_bytes(value: OptValue) -> bytes:
    """The buffer the kernel sees: an ``int`` packed as a C ``int``, a bytes-like value as it
    is.  Anything else — an ``int`` outside a C ``int``'s range included — is the
    ``TypeError`` CPython's ``setsockopt`` raises when neither of its forms parses."""
    if isinstance(value, int) and -INT_MAX - 1 <= value <= INT_MAX:
        return struct.pack("i", value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"a bytes-like object is required, not '{type(value).__name__}'")


def optval_int(raw: bytes) -> int:
    """``copy_from_sockptr(&val, optval, sizeof(int))`` after the ``optlen < sizeof(int)``
    check: the C ``int`` at the start of ``raw``, ``EINVAL`` if it is shorter."""
    if len(raw) < 4:
        raise kernel_error(errno.EINVAL, f"option value of {len(raw)} bytes, need 4")
    return int(struct.unpack_from("i", raw)[0])


def sock_setsockopt(
    sk: Sock, level: int, optname: int, value: OptValue | None, optlen: int | None = None
) -> None:
    """``setsockopt(level, optname, value)``, or ``setsockopt(level, optname, None, optlen)``
    (a NULL buffer of ``optlen`` bytes: ``EINVAL`` if too short for the option, else
    ``EFAULT``, as the kernel's copy from address 0 fails)."""
    if value is None:
        if optlen is None:
            raise TypeError("setsockopt() with value None needs optlen")
        raw = b""
        fault = optlen >= 4
    else:
        raw = optval_bytes(value)
        fault = False
    if level == SOL_SOCKET:
        _check_null(raw, fault)
        _set_socket(sk, optname, raw)
    elif level == sk.sk_protocol or (level == SOL_UDPLITE and sk.sk_protocol == IPPROTO_UDP):
        _check_null(raw, fault)
        sk.proto_setsockopt(optname, raw)
    elif level == SOL_IP:
        _check_null(raw, fault)
        _set_ip(sk, optname, raw)
    elif level == SOL_IPV6 and sk.sk_family == AF_INET6:
        if optname in _IPV6_ANY_LENGTH:
            _set_ipv6(sk, optname, optval_int(raw) if len(raw) >= 4 else 0)
            return
        _check_null(raw, fault)
        _set_ipv6(sk, optname, optval_int(raw))
    elif sk.has_ulp_level(level):
        sk.ulp_setsockopt(level, optname, raw, fault)
    else:
        raise kernel_error(errno.ENOPROTOOPT)


def _check_null(raw: bytes, fault: bool) -> None:
    if fault:
        raise kernel_error(errno.EFAULT)


def sock_getsockopt(sk: Sock, level: int, optname: int, buflen: int | None = None) -> int | bytes:
    """``getsockopt(level, optname[, buflen])``.  Without ``buflen`` the result is the ``int``
    in the option's first 4 bytes; with one, the option's bytes cut to ``buflen`` (at most the
    option's size).  As CPython's ``socket.getsockopt``: a ``buflen`` of 0 is the ``int``
    form, one outside 0..1024 is refused before the call."""
    if buflen == 0:
        buflen = None
    if buflen is not None and not 0 < buflen <= 1024:
        raise OSError("getsockopt buflen out of range")
    v6 = sk.sk_family == AF_INET6
    if level == SOL_SOCKET:
        val = _get_socket(sk, optname)
    elif level == sk.sk_protocol or (level == SOL_UDPLITE and sk.sk_protocol == IPPROTO_UDP):
        val = sk.proto_getsockopt(optname, 4 if buflen is None else buflen)
    elif level == SOL_IP:
        val = _get_ip(sk, optname)
        if buflen is not None and buflen < 4 and isinstance(val, int) and 0 <= val <= 255:
            return bytes([val])  # do_ip_getsockopt: a short buffer gets an unsigned char
    elif level == SOL_IPV6 and v6:
        val = _get_ipv6(sk, optname)
    elif sk.has_ulp_level(level):
        val = sk.ulp_getsockopt(level, optname, 4 if buflen is None else buflen)
    elif v6:
        raise kernel_error(errno.ENOPROTOOPT)
    else:
        raise kernel_error(errno.EOPNOTSUPP)
    raw = struct.pack("i", val) if isinstance(val, int) else val
    if buflen is None:
        return int(struct.unpack_from("i", raw.ljust(4, b"\0"))[0])
    return raw[:buflen]


# -- SOL_SOCKET ------------------------------------------------------------------------------


def _set_socket(sk: Sock, optname: int, raw: bytes) -> None:
    """``sk_setsockopt()``: every option reads an ``int`` first (``EINVAL`` if shorter)."""
    val = optval_int(raw)
    net = sk.net
    if optname == SO_SNDBUF:
        val = min(val & 0xFFFFFFFF, net.sysctl_int("net.core.wmem_max"))
        _set_sndbuf(sk, val)
    elif optname == SO_SNDBUFFORCE:
        _set_sndbuf(sk, max(val, 0))
    elif optname == SO_RCVBUF:
        _set_rcvbuf(sk, min(val & 0xFFFFFFFF, net.sysctl_int("net.core.rmem_max")))
    elif optname == SO_RCVBUFFORCE:
        _set_rcvbuf(sk, max(val, 0))
    elif optname == SO_REUSEADDR:
        sk.sk_reuse = bool(val)
    elif optname == SO_REUSEPORT:
        sk.sk_reuseport = bool(val)
    elif optname == SO_RCVLOWAT:
        sk.set_rcvlowat(INT_MAX if val < 0 else val)
    elif optname in _FLAG_OPTIONS:
        _set_flag(sk, optname, val)
    elif optname == SO_LINGER:
        _set_linger(sk, raw)
    elif optname == SO_NO_CHECK:
        sk.sk_no_check_tx = bool(val)
    elif optname == SO_PRIORITY:
        sk.sk_priority = val  # any value: netsim runs with CAP_NET_ADMIN
    elif optname == SO_MARK:
        sk.sk_mark = val & 0xFFFFFFFF
    elif optname == SO_BSDCOMPAT:
        pass
    elif optname == SO_TXREHASH:
        if not _sk_is_tcp(sk):
            raise kernel_error(errno.EOPNOTSUPP, "SO_TXREHASH is for TCP sockets")
        if not -1 <= val <= 1:
            raise kernel_error(errno.EINVAL, f"SO_TXREHASH {val}")
        # -1 is SOCK_TXREHASH_DEFAULT as a u8: the namespace's net.core.txrehash
        sk.sk_txrehash = (
            net.sysctl_int("net.core.txrehash") if val & 0xFF == SOCK_TXREHASH_DEFAULT else val
        )
    elif optname == SO_RESERVE_MEM:
        # sock_reserve_memory() needs the socket's memory cgroup: a kernel without socket
        # memcg accounting (as this emulated one, and a host in the root cgroup) refuses
        if val < 0:
            raise kernel_error(errno.EINVAL)
        raise kernel_error(errno.EOPNOTSUPP, "SO_RESERVE_MEM needs a memory cgroup")
    elif optname in _NOT_EMULATED_SOCKET:
        raise kernel_error(errno.ENOPROTOOPT, "not emulated by netsim")
    else:
        # SO_TYPE, SO_PROTOCOL, SO_DOMAIN, SO_ERROR, SO_ACCEPTCONN, SO_SNDLOWAT: read-only
        raise kernel_error(errno.ENOPROTOOPT)


def _set_linger(sk: Sock, raw: bytes) -> None:
    """``SO_LINGER`` takes a ``struct linger {int l_onoff; int l_linger;}`` (``EINVAL`` if
    shorter, "1003.1g").  On: the time in seconds becomes jiffies; a time too large for that —
    any negative one, read as unsigned — means forever (``MAX_SCHEDULE_TIMEOUT``)."""
    if len(raw) < 8:
        raise kernel_error(errno.EINVAL, "SO_LINGER needs a struct linger (8 bytes)")
    onoff, seconds = struct.unpack_from("ii", raw)
    if not onoff:
        sk.sk_flags.discard(SO_LINGER)
        return
    t_sec = seconds & 0xFFFFFFFFFFFFFFFF  # unsigned long
    sk.sk_lingertime = MAX_SCHEDULE_TIMEOUT if t_sec >= MAX_SCHEDULE_TIMEOUT // HZ else t_sec * HZ
    sk.sk_flags.add(SO_LINGER)


def _set_sndbuf(sk: Sock, val: int) -> None:
    val = min(val, INT_MAX // 2)
    sk.sk_userlocks |= SOCK_SNDBUF_LOCK
    sk.sk_sndbuf = max(val * 2, SOCK_MIN_SNDBUF)
    sk.sk_write_space()


def _set_rcvbuf(sk: Sock, val: int) -> None:
    val = min(val, INT_MAX // 2)
    sk.sk_userlocks |= SOCK_RCVBUF_LOCK
    sk.sk_rcvbuf = max(val * 2, SOCK_MIN_RCVBUF)


def _get_socket(sk: Sock, optname: int) -> int | bytes:
    if optname == SO_SNDBUF:
        return sk.sk_sndbuf
    if optname == SO_RCVBUF:
        return sk.sk_rcvbuf
    if optname == SO_REUSEADDR:
        return int(sk.sk_reuse)
    if optname == SO_REUSEPORT:
        return int(sk.sk_reuseport)
    if optname == SO_ERROR:
        err = sk.sk_err or sk.sk_err_soft
        sk.sk_err = 0
        return err
    if optname == SO_TYPE:
        return sk.sk_type
    if optname == SO_PROTOCOL:
        return sk.sk_protocol
    if optname == SO_DOMAIN:
        return sk.sk_family
    if optname == SO_RCVLOWAT:
        return sk.sk_rcvlowat
    if optname == SO_SNDLOWAT:
        return 1
    if optname == SO_ACCEPTCONN:
        return int(sk.sk_state == 10)  # TCP_LISTEN
    if optname in _FLAG_OPTIONS:
        return int(optname in sk.sk_flags)
    if optname == SO_LINGER:
        on = SO_LINGER in sk.sk_flags
        seconds = (sk.sk_lingertime // HZ) & 0xFFFFFFFF  # truncated to the struct's int
        return struct.pack("iI", int(on), seconds)
    if optname == SO_NO_CHECK:
        return int(sk.sk_no_check_tx)
    if optname == SO_PRIORITY:
        return sk.sk_priority
    if optname == SO_MARK:
        return int(struct.unpack("i", struct.pack("I", sk.sk_mark))[0])
    if optname == SO_TXREHASH:
        if not _sk_is_tcp(sk):
            raise kernel_error(errno.EOPNOTSUPP, "SO_TXREHASH is for TCP sockets")
        return sk.sk_txrehash
    if optname in (SO_BSDCOMPAT, SO_RESERVE_MEM):
        return 0  # SO_RESERVE_MEM: sk_reserved_mem, never set here
    if optname in _NOT_EMULATED_SOCKET:
        raise kernel_error(errno.ENOPROTOOPT, "not emulated by netsim")
    raise kernel_error(errno.ENOPROTOOPT)


def _sk_is_tcp(sk: Sock) -> bool:
    """``sk_is_tcp()`` (include/net/sock.h): an ``AF_INET``/``AF_INET6`` TCP socket."""
    return sk.sk_type == SOCK_STREAM and sk.sk_protocol == IPPROTO_TCP


def _set_flag(sk: Sock, flag: int, val: int) -> None:
    """``sock_valbool_flag()``: boolean options kept in ``sk_flags``, under the option's
    number (``SO_OOBINLINE`` stands for ``SOCK_URGINLINE``; TCP reads it, UDP ignores it)."""
    if val:
        sk.sk_flags.add(flag)
    else:
        sk.sk_flags.discard(flag)


# -- SOL_IP / SOL_IPV6 -----------------------------------------------------------------------


def _tos_for(sk: Sock, val: int, old: int) -> int:
    """``__ip_sock_set_tos`` / ``IPV6_TCLASS``: on a stream socket the two ECN bits are TCP's
    to set, so the user's value keeps the old ones."""
    if sk.sk_type == SOCK_STREAM:
        return (val & ~_INET_ECN_MASK) | (old & _INET_ECN_MASK)
    return val


def _set_ip(sk: Sock, optname: int, raw: bytes) -> None:
    """``do_ip_setsockopt()``: an ``int``, or 1..3 bytes read as an unsigned char for the
    options that accept one (an empty value: ``EINVAL`` for ``IP_TTL``, 0 for the others)."""
    if optname in _IP_CHAR_OPTIONS and len(raw) < 4:
        if not raw and optname == IP_TTL:
            raise kernel_error(errno.EINVAL, "IP_TTL without a value")
        val = raw[0] if raw else 0
    elif optname in (IP_TOS, IP_TTL, IP_MTU_DISCOVER, IP_RECVERR):
        val = optval_int(raw)
    elif optname == IP_MTU:
        raise kernel_error(errno.ENOPROTOOPT)
    else:
        raise kernel_error(errno.ENOPROTOOPT)
    if optname == IP_TOS:
        sk.tos = _tos_for(sk, val & 0xFF, sk.tos)
    elif optname == IP_TTL:
        if val != -1 and not 1 <= val <= 255:
            raise kernel_error(errno.EINVAL, f"IP_TTL {val}")
        sk.uc_ttl = val
    elif optname == IP_MTU_DISCOVER:
        if not 0 <= val <= 5:
            raise kernel_error(errno.EINVAL, f"IP_MTU_DISCOVER {val}")
        sk.pmtudisc = val
    else:  # IP_RECVERR
        sk.recverr = bool(val)


def _get_ip(sk: Sock, optname: int) -> int:
    if optname == IP_TOS:
        return sk.tos
    if optname == IP_TTL:
        return sk.uc_ttl if sk.uc_ttl > 0 else sk.net.sysctl_int("net.ipv4.ip_default_ttl")
    if optname == IP_MTU_DISCOVER:
        return sk.pmtudisc
    if optname == IP_RECVERR:
        return int(sk.recverr)
    if optname == IP_MTU:
        dst = sk.sk_dst_cache
        if dst is None:
            raise kernel_error(errno.ENOTCONN)
        mtu: int = dst.mtu  # type: ignore[attr-defined]
        return mtu
    raise kernel_error(errno.ENOPROTOOPT)


def _set_ipv6(sk: Sock, optname: int, val: int) -> None:
    if optname == IPV6_V6ONLY:
        if sk.inet_sport:
            raise kernel_error(errno.EINVAL, "IPV6_V6ONLY after bind")
        sk.ipv6_v6only = bool(val)
    elif optname == IPV6_UNICAST_HOPS:
        if not -1 <= val <= 255:
            raise kernel_error(errno.EINVAL, f"IPV6_UNICAST_HOPS {val}")
        sk.hop_limit = val
    elif optname == IPV6_TCLASS:
        if not -1 <= val <= 255:
            raise kernel_error(errno.EINVAL, f"IPV6_TCLASS {val}")
        sk.tclass = _tos_for(sk, max(val, 0), sk.tclass)  # RFC 3542: -1 is the default, 0
    elif optname == IPV6_MTU_DISCOVER:
        if not 0 <= val <= 5:
            raise kernel_error(errno.EINVAL, f"IPV6_MTU_DISCOVER {val}")
        sk.pmtudisc6 = val
    elif optname == IPV6_RECVERR:
        sk.recverr = bool(val)
    elif optname == IPV6_DONTFRAG:
        sk.dontfrag = bool(val)
    elif optname == IPV6_AUTOFLOWLABEL:
        # inet6_assign_bit(AUTOFLOWLABEL) + inet6_set_bit(AUTOFLOWLABEL_SET)
        sk.autoflowlabel = bool(val)
        sk.autoflowlabel_set = True
        sk.tx_flowlabel = -1  # the label is worked out again at the next send
    else:
        raise kernel_error(errno.ENOPROTOOPT)


def _get_ipv6(sk: Sock, optname: int) -> int:
    if optname == IPV6_V6ONLY:
        return int(sk.ipv6_v6only)
    if optname == IPV6_UNICAST_HOPS:
        if sk.hop_limit >= 0:
            return sk.hop_limit
        # the cached route's device's (ip6_dst_hoplimit), else conf.all's
        dev = getattr(sk.sk_dst_cache, "dev", None)
        hop_limit: int = getattr(dev, "ipv6_hop_limit", -1)
        if hop_limit > 0:
            return hop_limit
        return sk.net.sysctl_int("net.ipv6.conf.all.hop_limit")
    if optname == IPV6_TCLASS:
        return sk.tclass
    if optname == IPV6_MTU_DISCOVER:
        return sk.pmtudisc6
    if optname == IPV6_RECVERR:
        return int(sk.recverr)
    if optname == IPV6_DONTFRAG:
        return int(sk.dontfrag)
    if optname == IPV6_AUTOFLOWLABEL:
        return int(ip6_autoflowlabel(sk.net, sk))
    if optname == IPV6_MTU:
        dst = sk.sk_dst_cache
        if dst is None:
            raise kernel_error(errno.ENOTCONN)
        mtu: int = dst.mtu  # type: ignore[attr-defined]
        return mtu
    raise kernel_error(errno.ENOPROTOOPT)
