"""``setsockopt``/``getsockopt``: socket options with Linux's values, validation and errors
(net/core/sock.c ``sk_setsockopt``/``sk_getsockopt``, net/ipv4/ip_sockglue.c,
net/ipv6/ipv6_sockglue.c, net/ipv4/udp.c ``udp_lib_setsockopt``).

Values are C ``int``\\ s: a Python ``int``, or at least 4 bytes of native-endian integer (what
``struct.pack("i", v)`` gives).  A shorter buffer is ``EINVAL`` — except for the small
``SOL_IP`` options (``IP_TTL``, ``IP_TOS`` …), where Linux reads 1..3 bytes as an unsigned char
and answers a ``getsockopt`` with a 1..3-byte buffer with one byte; an option the socket's family
or protocol does not have is ``ENOPROTOOPT``; a value out of range is ``EINVAL``.
``getsockopt`` returns an ``int``, or its 4 packed bytes when a ``buflen`` is given.

``SO_SNDBUF``/``SO_RCVBUF`` are capped at ``net.core.wmem_max``/``rmem_max``, **doubled** (to
account for struct overhead, as Linux does — ``getsockopt`` returns the doubled value), floored
at ``SOCK_MIN_SNDBUF``/``SOCK_MIN_RCVBUF``, and lock the size against autotuning.  The
``*FORCE`` variants skip the cap (netsim runs as root).

Options at the protocol's own level (``SOL_UDP``, ``SOL_TCP``) go to the socket's
``proto_setsockopt``/``proto_getsockopt`` (``sk->sk_prot->setsockopt``).
"""

from __future__ import annotations

import struct

from ..errors import errno, kernel_error
from .constants import (
    AF_INET,
    AF_INET6,
    IP_MTU,
    IP_MTU_DISCOVER,
    IP_RECVERR,
    IP_TOS,
    IP_TTL,
    IPV6_DONTFRAG,
    IPV6_MTU,
    IPV6_MTU_DISCOVER,
    IPV6_RECVERR,
    IPV6_UNICAST_HOPS,
    IPV6_V6ONLY,
    SO_ACCEPTCONN,
    SO_BROADCAST,
    SO_DOMAIN,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_OOBINLINE,
    SO_PROTOCOL,
    SO_RCVBUF,
    SO_RCVBUFFORCE,
    SO_RCVLOWAT,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    SO_SNDBUFFORCE,
    SO_TYPE,
    SOL_IP,
    SOL_IPV6,
    SOL_SOCKET,
)
from .sock import SOCK_MIN_RCVBUF, SOCK_MIN_SNDBUF, SOCK_RCVBUF_LOCK, SOCK_SNDBUF_LOCK, Sock

__all__ = ["OptValue", "int_value", "sock_getsockopt", "sock_setsockopt"]

OptValue = int | bytes | bytearray | memoryview
INT_MAX = 0x7FFFFFFF


def int_value(value: OptValue | None, optlen: int | None = None) -> int:
    """The C ``int`` an option value carries (``copy_from_sockptr(&val, optval, 4)``)."""
    if value is None:
        raise kernel_error(errno.EINVAL, "option value missing")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if not -(2**31) <= value < 2**31:
            raise OverflowError("signed integer is greater than maximum")
        return value
    buf = bytes(value)
    if len(buf) < 4:
        raise kernel_error(errno.EINVAL, f"option value of {len(buf)} bytes, need 4")
    return int(struct.unpack_from("i", buf)[0])


#: ``do_ip_setsockopt`` reads these from a value shorter than an ``int`` as an unsigned char.
_IP_CHAR_OPTIONS = frozenset({IP_TOS, IP_TTL, IP_MTU_DISCOVER, IP_RECVERR})


def sock_setsockopt(sk: Sock, level: int, optname: int, value: OptValue | None) -> None:
    """``setsockopt(level, optname, value)``."""
    if (
        level == SOL_IP
        and optname in _IP_CHAR_OPTIONS
        and isinstance(value, bytes | bytearray | memoryview)
        and len(value) < 4
    ):
        # do_ip_setsockopt: 1..3 bytes are an unsigned char, none is 0 (IP_TTL: EINVAL)
        raw = bytes(value)
        if not raw and optname == IP_TTL:
            raise kernel_error(errno.EINVAL, "IP_TTL without a value")
        val = raw[0] if raw else 0
    else:
        val = int_value(value)
    if level == SOL_SOCKET:
        _set_socket(sk, optname, val)
    elif level == SOL_IP:
        if sk.sk_family not in (AF_INET, AF_INET6):
            raise kernel_error(errno.ENOPROTOOPT)
        _set_ip(sk, optname, val)
    elif level == SOL_IPV6:
        if sk.sk_family != AF_INET6:
            raise kernel_error(errno.ENOPROTOOPT)
        _set_ipv6(sk, optname, val)
    elif level == sk.sk_protocol:
        sk.proto_setsockopt(optname, val)
    else:
        raise kernel_error(errno.ENOPROTOOPT)


def sock_getsockopt(sk: Sock, level: int, optname: int, buflen: int | None = None) -> int | bytes:
    """``getsockopt(level, optname[, buflen])``."""
    if level == SOL_SOCKET:
        val = _get_socket(sk, optname)
    elif level == SOL_IP and sk.sk_family in (AF_INET, AF_INET6):
        val = _get_ip(sk, optname)
    elif level == SOL_IPV6 and sk.sk_family == AF_INET6:
        val = _get_ipv6(sk, optname)
    elif level == sk.sk_protocol:
        val = sk.proto_getsockopt(optname)
    else:
        raise kernel_error(errno.ENOPROTOOPT)
    if buflen is None:
        return val
    if buflen < 0:
        raise kernel_error(errno.EINVAL)
    if level == SOL_IP and 0 < buflen < 4 and 0 <= val <= 255:
        return bytes([val])  # do_ip_getsockopt: a short buffer gets an unsigned char
    return struct.pack("i", val)[:buflen]


# -- SOL_SOCKET ------------------------------------------------------------------------------


def _set_socket(sk: Sock, optname: int, val: int) -> None:
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
        sk.sk_rcvlowat = max(val, 1) if val >= 0 else INT_MAX
    elif optname in (SO_KEEPALIVE, SO_BROADCAST, SO_OOBINLINE):
        _set_flag(sk, optname, val)
    elif optname in (SO_TYPE, SO_PROTOCOL, SO_DOMAIN, SO_ERROR, SO_ACCEPTCONN):
        raise kernel_error(errno.ENOPROTOOPT)
    else:
        raise kernel_error(errno.ENOPROTOOPT)


def _set_sndbuf(sk: Sock, val: int) -> None:
    val = min(val, INT_MAX // 2)
    sk.sk_userlocks |= SOCK_SNDBUF_LOCK
    sk.sk_sndbuf = max(val * 2, SOCK_MIN_SNDBUF)
    sk.sk_write_space()


def _set_rcvbuf(sk: Sock, val: int) -> None:
    val = min(val, INT_MAX // 2)
    sk.sk_userlocks |= SOCK_RCVBUF_LOCK
    sk.sk_rcvbuf = max(val * 2, SOCK_MIN_RCVBUF)


def _get_socket(sk: Sock, optname: int) -> int:
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
    if optname == SO_ACCEPTCONN:
        return int(sk.sk_state == 10)  # TCP_LISTEN
    if optname in (SO_KEEPALIVE, SO_BROADCAST, SO_OOBINLINE):
        return int(optname in sk.sk_flags)
    raise kernel_error(errno.ENOPROTOOPT)


def _set_flag(sk: Sock, flag: int, val: int) -> None:
    """``sock_valbool_flag()``: boolean options kept in ``sk_flags``, under the option's
    number (``SO_OOBINLINE`` stands for ``SOCK_URGINLINE``; TCP reads it, UDP ignores it)."""
    if val:
        sk.sk_flags.add(flag)
    else:
        sk.sk_flags.discard(flag)


# -- SOL_IP / SOL_IPV6 -----------------------------------------------------------------------


def _set_ip(sk: Sock, optname: int, val: int) -> None:
    if optname == IP_TOS:
        sk.tos = val & 0xFF
    elif optname == IP_TTL:
        if val != -1 and not 1 <= val <= 255:
            raise kernel_error(errno.EINVAL, f"IP_TTL {val}")
        sk.uc_ttl = val
    elif optname == IP_MTU_DISCOVER:
        if not 0 <= val <= 5:
            raise kernel_error(errno.EINVAL, f"IP_MTU_DISCOVER {val}")
        sk.pmtudisc = val
    elif optname == IP_RECVERR:
        sk.recverr = bool(val)
    elif optname == IP_MTU:
        raise kernel_error(errno.ENOPROTOOPT)
    else:
        raise kernel_error(errno.ENOPROTOOPT)


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
        sk.uc_ttl = val
    elif optname == IPV6_MTU_DISCOVER:
        if not 0 <= val <= 5:
            raise kernel_error(errno.EINVAL, f"IPV6_MTU_DISCOVER {val}")
        sk.pmtudisc = val
    elif optname == IPV6_RECVERR:
        sk.recverr = bool(val)
    elif optname == IPV6_DONTFRAG:
        sk.dontfrag = bool(val)
    else:
        raise kernel_error(errno.ENOPROTOOPT)


def _get_ipv6(sk: Sock, optname: int) -> int:
    if optname == IPV6_V6ONLY:
        return int(sk.ipv6_v6only)
    if optname == IPV6_UNICAST_HOPS:
        if sk.uc_ttl > 0:
            return sk.uc_ttl
        return sk.net.sysctl_int("net.ipv6.conf.all.hop_limit")
    if optname == IPV6_MTU_DISCOVER:
        return sk.pmtudisc
    if optname == IPV6_RECVERR:
        return int(sk.recverr)
    if optname == IPV6_DONTFRAG:
        return int(sk.dontfrag)
    if optname == IPV6_MTU:
        dst = sk.sk_dst_cache
        if dst is None:
            raise kernel_error(errno.ENOTCONN)
        mtu: int = dst.mtu  # type: ignore[attr-defined]
        return mtu
    raise kernel_error(errno.ENOPROTOOPT)
