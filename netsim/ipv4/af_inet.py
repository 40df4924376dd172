"""Binding an inet socket to a local address: the address rules of ``__inet_bind()``
(net/ipv4/af_inet.c) and ``__inet6_bind()`` (net/ipv6/af_inet6.c), which TCP and UDP share.

A socket keeps two local addresses: ``inet_rcv_saddr``, which lookups match incoming packets
against, and ``inet_saddr``, the source of what it sends.  They are the same except where the
bound address cannot be a source: bound to a multicast or broadcast address (IPv4 allows both,
for receiving), a socket receives on that address and sends from whatever the route picks
(``inet_saddr = 0``, "use device").  netsim writes ``None`` for the kernel's 0.

The checks, in the kernel's order:

* ``AF_INET``: the address must be this host's, a broadcast or a multicast address
  (``inet_addr_valid_or_nonlocal``) — else ``EADDRNOTAVAIL``; then a socket that is already
  bound or not ``CLOSE`` is ``EINVAL``.
* ``AF_INET6``: a multicast address on a stream socket is ``EINVAL``; then the state check
  (``EINVAL``); an IPv4-mapped address is checked as ``AF_INET`` does (and is ``EINVAL`` on an
  ``IPV6_V6ONLY`` socket); any other specific address must be assigned to the host unless it is
  multicast (``EADDRNOTAVAIL``), and one that needs a scope (link-local, or a link- or
  interface-scope multicast group) needs an interface: its scope id (which binds the socket
  to that device), else ``EINVAL``; a scope id naming no device is ``ENODEV``.  Binding a
  specific, not IPv4-mapped address sets ``IPV6_V6ONLY`` (an IPv6 address cannot receive
  IPv4 traffic); a failure to get the port puts it back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..errors import errno, kernel_error
from ..ipv6.route import ipv6_addr_is_local
from ..sock.addr import ANY4, ANY6, ipv6_addr_v4mapped, v4_from_mapped
from ..sock.constants import AF_INET, SOCK_STREAM
from ..sock.sock import SOCK_BINDADDR_LOCK, SOCK_BINDPORT_LOCK, TCP_CLOSE, Sock
from .route import RTN_BROADCAST, RTN_LOCAL, RTN_MULTICAST, inet_addr_type

__all__ = [
    "inet_bind",
    "ipv6_addr_is_multicast",
    "ipv6_addr_needs_scope_id",
    "ipv6_connect_scope",
]

S = TypeVar("S", bound=Sock)


def ipv6_addr_is_multicast(addr: bytes) -> bool:
    """``ipv6_addr_is_multicast()``: ``ff00::/8``."""
    return addr[0] == 0xFF


def ipv6_addr_needs_scope_id(addr: bytes) -> bool:
    """``__ipv6_addr_needs_scope_id()``: link-local unicast (``fe80::/10``), or multicast of
    interface-local or link-local scope (``ff01::/16``, ``ff02::/16``)."""
    if addr[0] == 0xFE and addr[1] & 0xC0 == 0x80:
        return True
    return addr[0] == 0xFF and addr[1] & 0x0F in (1, 2)


def inet_bind(
    sk: S,
    addr: bytes,
    port: int,
    bound: bool,
    get_port: Callable[[S, int], object],
    scope_id: int = 0,
) -> None:
    """Bind ``sk`` to ``addr`` (packed, the socket's family) and ``port`` (0: ephemeral).
    ``bound`` says whether the socket already holds a port (the kernel's ``inet_num``);
    ``get_port`` is the protocol's ``sk->sk_prot->get_port`` and raises on a conflict;
    ``scope_id`` is an IPv6 address's interface index (0: none)."""
    if sk.sk_family == AF_INET:
        rcv, saddr = _check_v4(sk, addr)
        if bound or sk.sk_state != TCP_CLOSE:
            raise kernel_error(errno.EINVAL, "socket already bound")
        v6only = sk.ipv6_v6only
    else:
        if ipv6_addr_is_multicast(addr) and sk.sk_type == SOCK_STREAM:
            raise kernel_error(errno.EINVAL, "a stream socket cannot bind a multicast address")
        if bound or sk.sk_state != TCP_CLOSE:
            raise kernel_error(errno.EINVAL, "socket already bound")
        rcv, saddr = _check_v6(sk, addr, scope_id)
        v6only = sk.ipv6_v6only or (rcv is not None and not ipv6_addr_v4mapped(addr))
    saved = sk.ipv6_v6only
    sk.inet_rcv_saddr, sk.inet_saddr = rcv, saddr
    sk.ipv6_v6only = v6only
    try:
        get_port(sk, port)
    except OSError:
        sk.inet_rcv_saddr = sk.inet_saddr = None
        sk.ipv6_v6only = saved
        raise
    if rcv is not None:
        sk.sk_userlocks |= SOCK_BINDADDR_LOCK
    if port:
        sk.sk_userlocks |= SOCK_BINDPORT_LOCK


def _check_v4(sk: Sock, addr: bytes) -> tuple[bytes | None, bytes | None]:
    """``inet_addr_valid_or_nonlocal()``: ``(rcv_saddr, saddr)`` for an IPv4 address."""
    if addr == ANY4:
        return None, None
    kind = inet_addr_type(sk.net, addr)
    if kind == RTN_LOCAL:
        return addr, addr
    if kind in (RTN_MULTICAST, RTN_BROADCAST):
        return addr, None  # receive on it, send from the device's address
    raise kernel_error(errno.EADDRNOTAVAIL)


def _check_v6(sk: Sock, addr: bytes, scope_id: int) -> tuple[bytes | None, bytes | None]:
    if addr == ANY6:
        return None, None
    if ipv6_addr_v4mapped(addr):
        if sk.ipv6_v6only:
            raise kernel_error(errno.EINVAL, "IPv4-mapped address on an IPV6_V6ONLY socket")
        v4 = v4_from_mapped(addr)
        if v4 == ANY4:
            return addr, None  # IPv4's wildcard only: the route picks the source
        if inet_addr_type(sk.net, v4) not in (RTN_LOCAL, RTN_MULTICAST, RTN_BROADCAST):
            raise kernel_error(errno.EADDRNOTAVAIL)
        return addr, addr
    if ipv6_addr_needs_scope_id(addr):
        if scope_id:
            sk.sk_bound_dev_if = scope_id  # the scope id given overrides any binding
        if not sk.sk_bound_dev_if:
            raise kernel_error(errno.EINVAL, "a link-scope address needs a scope id")
    if sk.sk_bound_dev_if and _dev_by_index(sk, sk.sk_bound_dev_if) is None:
        raise kernel_error(errno.ENODEV, f"no interface {sk.sk_bound_dev_if}")
    if ipv6_addr_is_multicast(addr):
        return addr, None
    if not ipv6_addr_is_local(sk.net, addr):
        raise kernel_error(errno.EADDRNOTAVAIL)
    return addr, addr


def _dev_by_index(sk: Sock, ifindex: int) -> object | None:
    """``dev_get_by_index()``."""
    for dev in sk.net.devices.values():
        if dev.ifindex == ifindex:
            return dev
    return None


def ipv6_connect_scope(sk: Sock, daddr: bytes, scope_id: int) -> None:
    """``__ip6_datagram_connect`` / ``tcp_v6_connect``: a link-scope destination needs an
    interface — the address's scope id, else the socket's bound device — or it is
    ``EINVAL``."""
    if ipv6_addr_needs_scope_id(daddr):
        if scope_id:
            sk.sk_bound_dev_if = scope_id
        if not sk.sk_bound_dev_if:
            raise kernel_error(errno.EINVAL, "a link-scope destination needs a scope id")
