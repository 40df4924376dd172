"""``SOL_TCP`` options (net/ipv4/tcp.c ``do_tcp_setsockopt``/``do_tcp_getsockopt``):
``TCP_NODELAY``, ``TCP_CORK``, ``TCP_MAXSEG``, ``TCP_NOTSENT_LOWAT`` with Linux's values and
errors.  Turning ``TCP_NODELAY`` on or ``TCP_CORK`` off pushes what is queued.
``TCP_NOTSENT_LOWAT`` takes any int, unchecked, into a u32 (-1: no limit)."""

from __future__ import annotations

from ..errors import errno, kernel_error
from ..sock.constants import TCP_CORK, TCP_INFO, TCP_MAXSEG, TCP_NODELAY, TCP_NOTSENT_LOWAT
from ..sock.sock import TCP_CLOSE, TCP_LISTEN
from .sock import TCP_NAGLE_CORK, TCP_NAGLE_OFF, TCP_NAGLE_PUSH, TcpSock

__all__ = ["tcp_getsockopt", "tcp_setsockopt"]

TCP_MIN_MSS = 88


def tcp_setsockopt(sk: TcpSock, optname: int, val: int) -> None:
    """``do_tcp_setsockopt()`` (under the socket lock)."""
    from .input import lock_sock, release_sock

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
        if val and (val < TCP_MIN_MSS or val > 32767):
            raise kernel_error(errno.EINVAL, f"TCP_MAXSEG {val}")
        sk.user_mss = val
    elif optname == TCP_NOTSENT_LOWAT:
        # tp->notsent_lowat is a u32 and any int is taken: -1 means no limit
        sk.notsent_lowat = val & 0xFFFFFFFF
        sk.sk_write_space()
    else:
        raise kernel_error(errno.ENOPROTOOPT)


def tcp_getsockopt(sk: TcpSock, optname: int) -> int:
    """``do_tcp_getsockopt()`` for the integer options."""
    if optname == TCP_NODELAY:
        return int(bool(sk.nonagle & TCP_NAGLE_OFF))
    if optname == TCP_CORK:
        return int(bool(sk.nonagle & TCP_NAGLE_CORK))
    if optname == TCP_MAXSEG:
        if sk.sk_state in (TCP_CLOSE, TCP_LISTEN):
            return sk.user_mss or 536
        return sk.mss_cache
    if optname == TCP_NOTSENT_LOWAT:
        lowat = sk.notsent_lowat  # a u32 read into the int getsockopt returns
        return lowat - (1 << 32) if lowat >= 1 << 31 else lowat
    if optname == TCP_INFO:
        raise kernel_error(errno.EINVAL, "TCP_INFO is a struct: use sock.sk.info()")
    raise kernel_error(errno.ENOPROTOOPT)
