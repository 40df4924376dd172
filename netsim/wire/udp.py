"""The UDP header (RFC 768) and the UDP checksum over IPv4 and IPv6.

Format (``struct udphdr``, include/uapi/linux/udp.h), big-endian, 8 bytes::

    offset  size  field
         0     2  source      sport
         2     2  dest        dport
         4     2  len         header + payload, in bytes (at least 8)
         6     2  check

The checksum covers the pseudo header (:func:`netsim.wire.ipv4.ip4_pseudo_csum` /
:func:`netsim.wire.ipv6.ip6_pseudo_csum`, with ``len`` as the length), the UDP header with its
checksum field taken as zero, and the payload.  A computed 0 is sent as ``0xFFFF``
(``CSUM_MANGLED_0``, ``udp_send_skb()`` in net/ipv4/udp.c, ``udp_v6_send_skb()`` in
net/ipv6/udp.c): on the wire a zero checksum means "the sender computed none", which IPv4
allows (``SO_NO_CHECK``) and IPv6 does not (RFC 8200 §8.1; ``udp6_csum_init()`` drops it).

* :class:`UdpHeader` is the value, ``parse``/``emit``; ``check`` is written as given, since
  computing it needs the addresses and the payload.
* :func:`udp_build_header` is the hot-path builder (one ``pack_into``, no object).
* :func:`udp4_checksum` / :func:`udp6_checksum` compute the wire checksum of a complete
  datagram; :func:`udp_verify` is the receiver's test (``udp4_csum_init()`` /
  ``udp6_csum_init()`` then ``udp_lib_checksum_complete()``).  Like the kernel's
  ``__udp4_lib_rcv``, it takes the datagram's extent from its ``len`` field (bytes beyond it
  are link padding) and treats a ``len`` below 8 or beyond the buffer as a bad datagram.

``parse`` refuses ``len < 8``: the IPv6 jumbogram convention (``len == 0``, RFC 2675) is not
modelled (netsim's largest datagram fits 16 bits, as Linux's UDP GSO does).
"""

from __future__ import annotations

import struct
from typing import Final

import attrs
from mypy_extensions import mypyc_attr

from .checksum import Buffer, csum_add, csum_fold, csum_partial
from .errors import WireError
from .ipv4 import IPPROTO_UDP, WritableBuffer, ip4_pseudo_csum
from .ipv6 import ip6_pseudo_csum

__all__ = [
    "CSUM_MANGLED_0",
    "UDP_HLEN",
    "UdpHeader",
    "udp4_checksum",
    "udp6_checksum",
    "udp_build_header",
    "udp_verify",
]

UDP_HLEN: Final = 8
"""``sizeof(struct udphdr)``."""
CSUM_MANGLED_0: Final = 0xFFFF
"""How UDP transmits a computed checksum of 0 (include/net/checksum.h)."""

_UDP: Final = struct.Struct("!HHHH")


@mypyc_attr(native_class=False)  # attrs builds it: a Python class
@attrs.frozen
class UdpHeader:
    """The UDP header as a value (``struct udphdr``: ``sport``=``source``,
    ``dport``=``dest``, ``length``=``len``, ``check``)."""

    sport: int
    dport: int
    length: int
    check: int

    @classmethod
    def parse(cls, buf: Buffer, offset: int = 0) -> UdpHeader:
        """Read the header at ``buf[offset:]``.  Raises :class:`WireError` for fewer than 8
        bytes or a ``len`` field below 8.  The checksum is returned, not verified."""
        avail = len(buf) - offset
        if offset < 0 or avail < UDP_HLEN:
            raise WireError(
                f"UDP header truncated: {max(avail, 0)} bytes at offset {offset}, need {UDP_HLEN}"
            )
        sport, dport, length, check = _UDP.unpack_from(buf, offset)
        if length < UDP_HLEN:
            raise WireError(
                f"UDP len {length} at offset {offset} is shorter than the {UDP_HLEN}-byte header"
            )
        return cls(sport, dport, length, check)

    def emit(self, buf: WritableBuffer, offset: int = 0) -> None:
        """Write the 8-byte header at ``buf[offset:]``, ``check`` as given."""
        if offset < 0 or len(buf) - offset < UDP_HLEN:
            raise WireError(
                f"buffer too short for a UDP header at offset {offset}: {len(buf)} bytes"
            )
        try:
            _UDP.pack_into(buf, offset, self.sport, self.dport, self.length, self.check)
        except struct.error as exc:
            raise WireError(f"UDP header field out of range in {self!r}: {exc}") from exc


def udp_build_header(
    buf: WritableBuffer, off: int, sport: int, dport: int, length: int, check: int
) -> None:
    """Write a UDP header at ``buf[off:]`` with one ``pack_into`` (hot path, no checks beyond
    ``struct``'s)."""
    _UDP.pack_into(buf, off, sport, dport, length, check)


def _udp_checksum(mv: memoryview, pseudo: int) -> int:
    if len(mv) < UDP_HLEN:
        raise WireError(f"UDP datagram truncated: {len(mv)} bytes, need {UDP_HLEN}")
    # Sum everything, then take the checksum field back out (adding its complement), so the
    # caller may pass a datagram whose check field is already filled in.
    csum = csum_partial(mv, pseudo)
    csum = csum_add(csum, ~((mv[6] << 8) | mv[7]) & 0xFFFF)
    return csum_fold(csum) or CSUM_MANGLED_0


def udp4_checksum(saddr: bytes, daddr: bytes, udp_bytes: Buffer) -> int:
    """The checksum to put in the header of the complete UDP-over-IPv4 datagram
    ``udp_bytes`` (header + payload; its check field is ignored), as it goes on the wire:
    never 0 (a computed 0 becomes ``0xFFFF``).  The pseudo header's length is
    ``len(udp_bytes)``, which must equal the header's ``len``."""
    mv = memoryview(udp_bytes)
    return _udp_checksum(mv, ip4_pseudo_csum(saddr, daddr, len(mv), IPPROTO_UDP))


def udp6_checksum(saddr: bytes, daddr: bytes, udp_bytes: Buffer) -> int:
    """As :func:`udp4_checksum`, over the IPv6 pseudo header."""
    mv = memoryview(udp_bytes)
    return _udp_checksum(mv, ip6_pseudo_csum(saddr, daddr, len(mv), IPPROTO_UDP))


def udp_verify(saddr: bytes, daddr: bytes, udp_bytes: Buffer, v6: bool) -> bool:
    """Would a receiver accept this datagram's checksum?

    The datagram is ``udp_bytes[:len]``; a buffer shorter than the header, or a ``len`` below
    8 or beyond the buffer, is rejected (``False``).  A zero checksum means "none": accepted
    over IPv4, rejected over IPv6.  Otherwise the sum over pseudo header, header and payload
    must fold to zero.
    """
    mv = memoryview(udp_bytes)
    if len(mv) < UDP_HLEN:
        return False
    ulen = (mv[4] << 8) | mv[5]
    if ulen < UDP_HLEN or ulen > len(mv):
        return False
    if ((mv[6] << 8) | mv[7]) == 0:
        return not v6
    if v6:
        pseudo = ip6_pseudo_csum(saddr, daddr, ulen, IPPROTO_UDP)
    else:
        pseudo = ip4_pseudo_csum(saddr, daddr, ulen, IPPROTO_UDP)
    return csum_fold(csum_partial(mv[:ulen], pseudo)) == 0
