"""Plugging a host into trio's own networking: ``trio.socket.set_custom_socket_factory`` and
``set_custom_hostname_resolver`` (how ``trio.testing.FakeNet`` does it), so unmodified
``trio.socket.socket()``, ``trio.open_tcp_stream()``, ``trio.serve_tcp()`` and
``trio.socket.getaddrinfo()`` run on the emulated host.

The resolver knows numeric addresses, ``localhost`` (``127.0.0.1`` and ``::1``), the host's own
name, and whatever was put in ``host.hosts`` (an ``/etc/hosts``: name → addresses).
"""

from __future__ import annotations

import ipaddress
import socket as _stdlib_socket
from typing import TYPE_CHECKING, Any

import trio

from ..sock.constants import (
    AF_INET,
    AF_INET6,
    AF_UNSPEC,
    IPPROTO_TCP,
    IPPROTO_UDP,
    SOCK_DGRAM,
    SOCK_STREAM,
)

if TYPE_CHECKING:
    from .host import Host
    from .socket import Socket

__all__ = ["HostResolver", "HostSocketFactory"]


class HostSocketFactory(trio.abc.SocketFactory):
    """``trio.socket.socket(...)`` → ``host.socket(...)``."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def socket(
        self,
        family: int | None = None,
        type: int | None = None,
        proto: int | None = None,
    ) -> Socket:
        return self.host.socket(
            AF_INET if family is None else family,
            SOCK_STREAM if type is None else type,
            0 if proto is None else proto,
        )


def _numeric(host: str) -> str | None:
    """``host`` as a numeric address getaddrinfo() accepts without a lookup — IPv6, or IPv4
    in any form ``inet_aton()`` takes (``127.1``, ``0x7f.1``) — written the standard way;
    ``None`` for a name."""
    try:
        ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:
        return host
    if not host.isascii() or not host.isprintable() or " " in host:
        return None  # inet_aton() stops at white space; getaddrinfo()'s exact parse does not
    try:
        return _stdlib_socket.inet_ntoa(_stdlib_socket.inet_aton(host))
    except OSError:
        return None


class HostResolver(trio.abc.HostnameResolver):
    """``getaddrinfo``/``getnameinfo`` for the emulated host."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def _lookup(self, name: str) -> list[str]:
        if name in ("localhost", "localhost.localdomain", "ip6-localhost"):
            return ["::1", "127.0.0.1"] if name == "ip6-localhost" else ["127.0.0.1", "::1"]
        if name in self.host.hosts:
            return list(self.host.hosts[name])
        if name == self.host.name:
            return [str(a) for a in self.host.net.local_addresses() if not a.is_loopback] or [
                "127.0.0.1"
            ]
        raise _stdlib_socket.gaierror(_stdlib_socket.EAI_NONAME, "Name or service not known")

    async def getaddrinfo(
        self,
        host: bytes | str | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[tuple[Any, Any, int, str, tuple[Any, ...]]]:
        await trio.lowlevel.checkpoint()
        if isinstance(host, bytes):
            host = host.decode()
        if isinstance(port, bytes):
            port = port.decode()
        if isinstance(port, str):
            try:
                port = int(port)
            except ValueError:
                raise _stdlib_socket.gaierror(
                    _stdlib_socket.EAI_SERVICE, "Servname not supported for ai_socktype"
                ) from None
        port = port or 0
        if host is None:
            passive = flags & _stdlib_socket.AI_PASSIVE
            names = ["0.0.0.0", "::"] if passive else ["127.0.0.1", "::1"]
        else:
            numeric = _numeric(host)
            names = [numeric] if numeric is not None else self._lookup(host)
        v4mapped = family == AF_INET6 and flags & _stdlib_socket.AI_V4MAPPED
        if v4mapped and not any(":" in name for name in names):
            # glibc: the IPv6 answers if there are any, else the IPv4 ones as ::ffff:a.b.c.d
            names = [f"::ffff:{name}" for name in names]
        out: list[tuple[Any, Any, int, str, tuple[Any, ...]]] = []
        kinds = [(SOCK_STREAM, IPPROTO_TCP), (SOCK_DGRAM, IPPROTO_UDP)]
        for name in names:
            fam = AF_INET6 if ":" in name else AF_INET
            if family not in (AF_UNSPEC, fam):
                continue
            for stype, sproto in kinds:
                if type and type != stype:
                    continue
                if proto and proto != sproto:
                    continue
                addr: tuple[Any, ...] = (name, port) if fam == AF_INET else (name, port, 0, 0)
                out.append(
                    (
                        _stdlib_socket.AddressFamily(fam),
                        _stdlib_socket.SocketKind(stype),
                        sproto,
                        "",
                        addr,
                    )
                )
        if not out:
            raise _stdlib_socket.gaierror(
                _stdlib_socket.EAI_ADDRFAMILY, "Address family for hostname not supported"
            )
        return out

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int
    ) -> tuple[str, str]:
        await trio.lowlevel.checkpoint()
        return sockaddr[0], str(sockaddr[1])
