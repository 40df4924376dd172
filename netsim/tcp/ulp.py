"""TCP upper-layer protocols (net/ipv4/tcp_ulp.c): ``setsockopt(SOL_TCP, TCP_ULP, b"tls")``.

A ULP takes over part of a TCP socket: the kernel swaps ``sk->sk_prot`` for the ULP's own
(``tls_prots``), whose ``sendmsg``, ``recvmsg``, ``setsockopt`` and ``close`` wrap TCP's.  A
ULP registers itself by name (``tcp_register_ulp``) — TCP never imports it, as the kernel's
``tcp_ulp_list`` is filled by modules.  netsim keeps the ULP on the socket (``icsk_ulp_ops``,
its per-socket state in ``icsk_ulp_data``); levels TCP does not know (``SOL_TLS``) go to the
ULP's :meth:`TcpUlpOps.setsockopt`, and the runtime sends and receives through the ULP when
one has taken the data path.

``tcp_set_ulp`` rules (``tcp_set_ulp``, ``__tcp_set_ulp``), in Linux's order: an unknown name
is ``ENOENT`` (the name is looked up first); a socket that already has a ULP is ``EEXIST``; a
listener is ``ENOTCONN`` unless the ULP can be cloned to children (TLS cannot); then the ULP's
``init`` decides (TLS wants ``ESTABLISHED``: ``ENOTCONN``).  ``getsockopt(TCP_ULP)`` reads the
name back, NUL-padded to ``TCP_ULP_NAME_MAX`` (16) bytes, or nothing when there is none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ..errors import errno, kernel_error
from ..sock.sock import TCP_LISTEN

if TYPE_CHECKING:
    from ..skb import SkBuff
    from .sock import TcpSock

__all__ = [
    "TCP_ULP_NAME_MAX",
    "TcpUlpOps",
    "tcp_cleanup_ulp",
    "tcp_get_ulp",
    "tcp_register_ulp",
    "tcp_set_ulp",
    "tcp_ulp_names",
]

TCP_ULP_NAME_MAX: Final = 16


class TcpUlpOps:
    """``struct tcp_ulp_ops``: a ULP's name and hooks.  Subclass and register an instance."""

    def __init__(self, name: str, *, levels: tuple[int, ...] = (), can_clone: bool = False):
        self.name = name
        #: the option levels it handles (``SOL_TLS``)
        self.levels = levels
        #: ``clone``: may a listener carry it (children get a copy)?
        self.can_clone = can_clone

    def init(self, sk: TcpSock) -> None:
        """Attach to ``sk`` (set ``sk.icsk_ulp_data``); raise ``OSError`` to refuse."""
        raise NotImplementedError

    def release(self, sk: TcpSock) -> None:
        """The socket is being destroyed (``tcp_cleanup_ulp``): free everything."""

    def setsockopt(self, sk: TcpSock, level: int, optname: int, raw: bytes, fault: bool) -> None:
        """A level TCP does not handle (``SOL_TLS``); ``fault``: the buffer was NULL."""
        raise kernel_error(errno.ENOPROTOOPT)

    def getsockopt(self, sk: TcpSock, level: int, optname: int, buflen: int) -> int | bytes:
        """A level TCP does not handle (``SOL_TLS``)."""
        raise kernel_error(errno.ENOPROTOOPT)

    def close(self, sk: TcpSock) -> None:
        """``close()`` of the socket, before TCP's own (``tls_sk_proto_close``)."""

    def write_space(self, sk: TcpSock) -> None:
        """``sk->sk_write_space`` as the ULP wraps it: TCP has room again (before the
        writer is woken)."""

    def clean_acked(self, sk: TcpSock, acked_seq: int) -> None:
        """``tp->tcp_clean_acked``: ``snd_una`` moved to ``acked_seq`` (only called while
        ``sk.tcp_clean_acked`` is set)."""

    def validate_xmit_skb(self, sk: TcpSock, dev: Any, skb: SkBuff) -> SkBuff | None:
        """``sk->sk_validate_xmit_skb``: a last look at a segment before ``dev`` sends it
        (only called while ``sk.sk_validate_xmit`` is set).  None drops it."""
        return skb


#: ``tcp_ulp_list``: registered ULPs by name (the kernel's list of loaded modules).
_ULPS: dict[str, TcpUlpOps] = {}


def tcp_register_ulp(ops: TcpUlpOps) -> None:
    """``tcp_register_ulp()``: make ``ops`` available by its name (``EEXIST`` if taken)."""
    if ops.name in _ULPS and _ULPS[ops.name] is not ops:
        raise kernel_error(errno.EEXIST, f"ULP {ops.name!r} is already registered")
    _ULPS[ops.name] = ops


def tcp_ulp_names() -> list[str]:
    """``net.ipv4.tcp_available_ulp``: the registered names."""
    return sorted(_ULPS)


def tcp_set_ulp(sk: TcpSock, name: str) -> None:
    """``tcp_set_ulp()``: attach the ULP called ``name``."""
    ops = _ULPS.get(name)
    if ops is None:
        raise kernel_error(errno.ENOENT, f"no TCP ULP called {name!r}")
    if sk.icsk_ulp_ops is not None:
        raise kernel_error(errno.EEXIST, f"the socket already has ULP {sk.icsk_ulp_ops.name!r}")
    if not ops.can_clone and sk.sk_state == TCP_LISTEN:
        raise kernel_error(errno.ENOTCONN, f"ULP {name!r} cannot be set on a listener")
    ops.init(sk)
    sk.icsk_ulp_ops = ops


def tcp_get_ulp(sk: TcpSock, buflen: int) -> bytes:
    """``getsockopt(TCP_ULP)``: the name, NUL-padded to ``TCP_ULP_NAME_MAX``, cut to
    ``buflen``; empty when the socket has no ULP."""
    ops = sk.icsk_ulp_ops
    if ops is None:
        return b""
    return ops.name.encode().ljust(TCP_ULP_NAME_MAX, b"\0")[: min(buflen, TCP_ULP_NAME_MAX)]


def tcp_cleanup_ulp(sk: TcpSock) -> None:
    """``tcp_cleanup_ulp()``: the socket is destroyed; the ULP frees its state."""
    ops = sk.icsk_ulp_ops
    if ops is None:
        return
    ops.release(sk)
    sk.icsk_ulp_ops = None
    sk.icsk_ulp_data = None
    sk.tcp_clean_acked = False
    sk.sk_validate_xmit = False
