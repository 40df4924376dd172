"""``struct inet_cork``: the state of a datagram being built by ``ip_append_data`` /
``ip6_append_data`` (include/net/inet_sock.h).

While a UDP socket is corked (``MSG_MORE`` or ``UDP_CORK``) the pieces of one datagram sit on
``sk_write_queue`` — one skb per future IP fragment — and the cork remembers the route, the
fragment size (the path MTU), the GSO size and the total length so far.  An uncorked send uses
a private cork and queue (``ip_make_skb``).
"""

from __future__ import annotations

import struct
from collections import deque
from typing import Any, Final

from ..errors import errno, kernel_error
from ..skb import SkBuff
from .constants import SO_MARK, SO_PRIORITY, SOL_SOCKET

#: A control message as ``sendmsg`` takes it: ``(level, type, data)``.
Cmsg = tuple[int, int, bytes]

# SOL_SOCKET control message types (include/uapi/asm-generic/socket.h)
_SCM_RIGHTS: Final = 1
_SCM_CREDENTIALS: Final = 2
_SO_TIMESTAMPING_OLD: Final = 37
_SO_TIMESTAMPING_NEW: Final = 65
#: ``SOF_TIMESTAMPING_TX_RECORD_MASK``: TX_HARDWARE | TX_SOFTWARE | TX_SCHED | TX_ACK |
#: TX_COMPLETION, the flags a control message may carry
_TX_RECORD_MASK: Final = 0x40303

__all__ = ["Cmsg", "InetCork", "IpcmCookie", "cmsg_int", "sock_cmsg_send", "sock_cmsg_send_one"]


class InetCork:
    """``struct inet_cork`` (+ the flow: addresses and ports)."""

    __slots__ = (
        "daddr",
        "dontfrag",
        "dport",
        "dst",
        "fragsize",
        "gso_size",
        "hop_limit",
        "length",
        "queue",
        "saddr",
        "sport",
        "tos",
        "ttl",
    )

    def __init__(self) -> None:
        self.dst: Any = None  # the route (ipv4.Rtable / ipv6.Rt6Info)
        self.fragsize = 0
        self.gso_size = 0
        self.length = 0
        self.ttl = 0
        self.hop_limit = -1  # -1: the route's default
        self.tos = 0
        self.dontfrag = False
        self.saddr = b""
        self.daddr = b""
        self.sport = 0
        self.dport = 0
        self.queue: deque[SkBuff] = deque()

    def release(self) -> None:
        """``ip_cork_release``: forget the route."""
        self.dst = None
        self.length = 0


class IpcmCookie:
    """``struct ipcm_cookie`` / ``ipcm6_cookie`` (include/net/ip.h, include/net/ipv6.h): what
    one ``sendmsg``'s control messages override for that datagram only.  Each field says
    "the socket's own value" until a control message sets it."""

    __slots__ = ("dontfrag", "gso_size", "tos", "ttl")

    def __init__(self) -> None:
        self.gso_size: int | None = None  # (SOL_UDP, UDP_SEGMENT)
        self.ttl = -1  # (SOL_IP, IP_TTL) 1..255 / (SOL_IPV6, IPV6_HOPLIMIT) 0..255
        self.tos = -1  # (SOL_IP, IP_TOS) / (SOL_IPV6, IPV6_TCLASS) 0..255
        self.dontfrag = -1  # (SOL_IPV6, IPV6_DONTFRAG) 0 or 1


def sock_cmsg_send(cmsgs: list[Cmsg]) -> None:
    """``sock_cmsg_send()`` (net/core/sock.c): the ``SOL_SOCKET`` control messages of a
    ``sendmsg`` (:func:`sock_cmsg_send_one` each); the others are the protocol's."""
    for cmsg in cmsgs:
        if cmsg[0] == SOL_SOCKET:
            sock_cmsg_send_one(cmsg)


def sock_cmsg_send_one(cmsg: Cmsg) -> None:
    """``__sock_cmsg_send()`` (net/core/sock.c): a ``SOL_SOCKET`` control message.
    ``SO_MARK`` and ``SO_PRIORITY`` (a ``u32``; netsim runs with the capabilities they need)
    and ``SO_TIMESTAMPING`` are accepted — they change nothing netsim emulates;
    ``SCM_RIGHTS``/``SCM_CREDENTIALS`` are ignored on an inet socket; ``SCM_TXTIME`` needs
    ``SO_TXTIME``, which netsim does not offer (``EINVAL``, as Linux says without it);
    anything else is ``EINVAL``."""
    _level, kind, data = cmsg
    if kind in (SO_MARK, SO_PRIORITY, _SO_TIMESTAMPING_OLD, _SO_TIMESTAMPING_NEW):
        if len(data) != 4:
            raise kernel_error(errno.EINVAL, f"SOL_SOCKET cmsg {kind} needs 4 bytes")
        timestamping = kind in (_SO_TIMESTAMPING_OLD, _SO_TIMESTAMPING_NEW)
        if timestamping and struct.unpack("I", data)[0] & ~_TX_RECORD_MASK:
            raise kernel_error(errno.EINVAL, "SO_TIMESTAMPING cmsg flags beyond TX_RECORD")
    elif kind not in (_SCM_RIGHTS, _SCM_CREDENTIALS):
        raise kernel_error(errno.EINVAL, f"SOL_SOCKET cmsg type {kind}")


def cmsg_int(data: bytes) -> int:
    """A control message carrying an ``int``: ``cmsg_len == CMSG_LEN(sizeof(int))``, else
    ``EINVAL``."""
    if len(data) != 4:
        raise kernel_error(errno.EINVAL, f"control message of {len(data)} bytes, need 4")
    return int(struct.unpack("i", data)[0])
