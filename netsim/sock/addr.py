"""Socket addresses: what users pass (``("127.0.0.1", 9)``, ``("::1", 9, 0, 0)``) to what the
cores use (packed bytes + port), and back.

Parsing follows what ``inet_bind``/``inet_dgram_connect``/``udp_sendmsg`` accept: numeric
addresses only (name resolution belongs to the resolver), ports 0..65535, and for an
``AF_INET6`` socket IPv4-mapped addresses (``::ffff:a.b.c.d``) that route as IPv4.  Bad input
raises ``OSError`` with Linux's errno (``EINVAL``, ``EAFNOSUPPORT``), or ``TypeError`` for
something that is not an address at all, as Python's own sockets do.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Final

from ..errors import errno, kernel_error
from .constants import AF_INET, AF_INET6

__all__ = [
    "ANY4",
    "ANY6",
    "LOOPBACK4",
    "LOOPBACK6",
    "V4_MAPPED_LOOPBACK",
    "V4_MAPPED_PREFIX",
    "format_sockaddr",
    "ipv6_addr_v4mapped",
    "parse_sockaddr",
    "scope_id",
    "v4_from_mapped",
    "v4_mapped",
]

V4_MAPPED_PREFIX: Final = b"\0" * 10 + b"\xff\xff"
ANY4: Final = b"\0\0\0\0"
ANY6: Final = b"\0" * 16
LOOPBACK4: Final = b"\x7f\0\0\x01"
LOOPBACK6: Final = b"\0" * 15 + b"\x01"
#: ``::ffff:127.0.0.1``: what ``::`` means to a socket whose source is IPv4-mapped
V4_MAPPED_LOOPBACK: Final = V4_MAPPED_PREFIX + LOOPBACK4


def ipv6_addr_v4mapped(addr: bytes) -> bool:
    """``ipv6_addr_v4mapped()``: is this 16-byte address ``::ffff:a.b.c.d``?"""
    return len(addr) == 16 and addr[:12] == V4_MAPPED_PREFIX


def v4_mapped(addr4: bytes) -> bytes:
    """``::ffff:a.b.c.d`` for a 4-byte address."""
    return V4_MAPPED_PREFIX + addr4


def v4_from_mapped(addr6: bytes) -> bytes:
    """The IPv4 address inside ``::ffff:a.b.c.d``."""
    return addr6[12:]


def parse_sockaddr(family: int, address: Any, caller: str = "bind") -> tuple[bytes, int]:
    """``(host, port[, flowinfo, scope_id])`` → ``(packed address, port)`` for ``family``.
    An empty host means the wildcard address.  Out-of-range numbers raise the
    ``OverflowError`` CPython's ``getsockaddrarg`` raises, naming ``caller``."""
    if not isinstance(address, tuple) or len(address) < 2:
        raise TypeError(
            f"{_family_name(family)} address must be a tuple (host, port), not {address!r}"
        )
    host, port = address[0], address[1]
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 0 <= port <= 0xFFFF:
        raise OverflowError(f"{caller}(): port must be 0-65535.")
    if family == AF_INET6 and len(address) >= 3:
        flowinfo = address[2]
        if not isinstance(flowinfo, int) or not 0 <= flowinfo <= 0xFFFFF:
            raise OverflowError(f"{caller}(): flowinfo must be 0-1048575.")
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if family == AF_INET:
        if len(address) != 2:
            raise TypeError(f"AF_INET address must be a pair (host, port), not {address!r}")
        if host in ("", "0.0.0.0"):
            return ANY4, port
        if host == "<broadcast>":
            return b"\xff\xff\xff\xff", port
        try:
            return ipaddress.IPv4Address(host).packed, port
        except ValueError:
            if _is_v6(host):
                raise kernel_error(errno.EAFNOSUPPORT, f"{host!r} on an AF_INET socket") from None
            raise kernel_error(errno.EINVAL, f"not a numeric IPv4 address: {host!r}") from None
    if family == AF_INET6:
        if len(address) > 4:
            raise TypeError("AF_INET6 address must be (host, port[, flowinfo, scope_id])")
        if host in ("", "::"):
            return ANY6, port
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0]).packed, port
        except ValueError:
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise kernel_error(errno.EINVAL, f"not a numeric IPv6 address: {host!r}") from None
            raise kernel_error(
                errno.EINVAL, f"{host!r} on an AF_INET6 socket (use ::ffff:{host})"
            ) from None
    raise kernel_error(errno.EAFNOSUPPORT)


def scope_id(address: Any) -> int:
    """The ``sin6_scope_id`` of an ``(host, port, flowinfo, scope_id)`` address (0: none), as
    the ``unsigned int`` CPython passes."""
    if isinstance(address, tuple) and len(address) == 4 and isinstance(address[3], int):
        return int(address[3]) & 0xFFFFFFFF
    return 0


def format_sockaddr(family: int, addr: bytes | None, port: int) -> tuple[Any, ...]:
    """``(packed address, port)`` → what ``getsockname``/``recvfrom`` return."""
    if family == AF_INET:
        return (str(ipaddress.IPv4Address(addr or ANY4)), port)
    if addr is not None and len(addr) == 4:
        addr = v4_mapped(addr)
    if addr is not None and ipv6_addr_v4mapped(addr):
        # inet_ntop() (which Python's sockets use) writes the IPv4 part in dotted form
        return (f"::ffff:{ipaddress.IPv4Address(addr[12:])}", port, 0, 0)
    return (str(ipaddress.IPv6Address(addr or ANY6)), port, 0, 0)


def _is_v6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _family_name(family: int) -> str:
    return {AF_INET: "AF_INET", AF_INET6: "AF_INET6"}.get(family, str(family))
