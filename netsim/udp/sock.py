"""``struct udp_sock``: a UDP socket's state beyond ``struct sock`` (include/linux/udp.h).

``pending`` says a corked datagram is being built (``AF_INET`` or ``AF_INET6``), ``up_len`` its
length so far; ``corkflag`` is ``UDP_CORK``; ``gso_size`` is ``UDP_SEGMENT``; ``gro_enabled``
is ``UDP_GRO`` (a receiver that takes GSO skbs whole instead of having them segmented).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ..errors import errno, kernel_error
from ..sock.constants import UDP_CORK, UDP_GRO, UDP_SEGMENT
from ..sock.inet import InetCork
from ..sock.options import optval_int
from ..sock.sock import Sock

if TYPE_CHECKING:
    from ..netns import Net

__all__ = ["UdpSock"]


class UdpSock(Sock):
    """A UDP (or UDPv6) socket."""

    __slots__ = (
        "cork",
        "corkflag",
        "gro_enabled",
        "gso_size",
        "no_check6_rx",
        "no_check6_tx",
        "pending",
        "up_len",
    )

    def __init__(self, net: Net, family: int, type_: int, protocol: int) -> None:
        super().__init__(net, family, type_, protocol)
        self.pending = 0
        self.up_len = 0
        self.corkflag = False
        self.gso_size = 0
        self.gro_enabled = False
        self.no_check6_tx = False
        self.no_check6_rx = False
        self.cork = InetCork()

    def unhash(self) -> None:
        """Leave the host's UDP table."""
        port = self.inet_sport
        bucket = self.net.udp_table.get(port)
        if bucket is not None and self in bucket:
            bucket.remove(self)
            if not bucket:
                del self.net.udp_table[port]

    def proto_setsockopt(self, optname: int, optval: bytes) -> None:
        """``udp_lib_setsockopt()`` (net/ipv4/udp.c): an ``int`` (``EINVAL`` if shorter) for
        ``UDP_CORK`` (turning it off pushes the pending datagram, and ignores what the push
        returns: a datagram that cannot be sent is dropped without an error),
        ``UDP_SEGMENT`` (0..65535), ``UDP_GRO``."""
        val = optval_int(optval)
        if optname == UDP_CORK:
            if val:
                self.corkflag = True
            else:
                self.corkflag = False
                if self.pending:
                    from .output import udp_push_pending_frames

                    with contextlib.suppress(OSError):
                        udp_push_pending_frames(self)
        elif optname == UDP_SEGMENT:
            if not 0 <= val <= 0xFFFF:
                raise kernel_error(errno.EINVAL, f"UDP_SEGMENT {val}")
            self.gso_size = val
        elif optname == UDP_GRO:
            self.gro_enabled = bool(val)
        else:
            raise kernel_error(errno.ENOPROTOOPT)

    def proto_getsockopt(self, optname: int, buflen: int) -> int | bytes:
        """``udp_lib_getsockopt()``."""
        if optname == UDP_CORK:
            return int(self.corkflag)
        if optname == UDP_SEGMENT:
            return self.gso_size
        if optname == UDP_GRO:
            return int(self.gro_enabled)
        raise kernel_error(errno.ENOPROTOOPT)

    def release(self) -> None:
        """``udp_lib_close``: drop a half-built corked datagram, then the generic release."""
        if not self.closed:
            from ..ipv4.output import ip_flush_pending_frames

            self.pending = 0
            self.up_len = 0
            ip_flush_pending_frames(self, self.sk_write_queue, self.cork)
        super().release()
