"""ICMP (RFC 792) and ICMPv6 (RFC 4443) headers, their checksums, and error messages.

Both share one 8-byte header layout (``struct icmphdr``, include/uapi/linux/icmp.h;
``struct icmp6hdr``, include/uapi/linux/icmpv6.h), big-endian::

    offset  size  field
         0     1  type
         1     1  code
         2     2  checksum
         4     4  rest     unused (0) for unreachables; next-hop MTU for ICMP_FRAG_NEEDED
                           (low 16 bits) and ICMPV6_PKT_TOOBIG (32 bits); id << 16 | seq
                           for echo

:class:`IcmpHeader` keeps that 32-bit word whole as ``rest``.  The checksum differs:

* ICMPv4 sums the ICMP message alone (header with a zero checksum field, plus body).
* ICMPv6 also sums the IPv6 pseudo header with next header ``IPPROTO_ICMPV6``
  (:func:`netsim.wire.ipv6.csum_ipv6_magic`).  So :meth:`IcmpHeader.emit` and
  :meth:`IcmpHeader.verify_checksum` take ``saddr``/``daddr``: given (16 bytes each) they
  select ICMPv6; omitted, ICMPv4.  A computed 0 is sent as 0 for both.

The message extent is ``buf[offset : offset + length]`` (``length`` defaults to the rest of
the buffer); the body must already be in place when ``emit`` computes the checksum.

Error messages quote the packet that caused them, as Linux does (``icmp_send()`` in
net/ipv4/icmp.c, ``icmp6_send()`` in net/ipv6/icmp.c): as much of it as fits in

* 576 bytes for ICMPv4 — RFC 1812 §4.3.2.3 — so the quote is at most
  ``576 - 20 - 8 = ICMP_ERROR_ROOM`` bytes (Linux uses ``min(route MTU, 576)``; every netsim
  route has an MTU of at least 576, and netsim sends no IP options in an error);
* ``IPV6_MIN_MTU`` bytes for ICMPv6 — RFC 4443 §2.4(c) — so at most
  ``1280 - 40 - 8 = ICMPV6_ERROR_ROOM`` bytes.

The builders format the message only.  Whether an error may be sent at all (not about an ICMP
error, not for a non-first fragment or a broadcast, rate limits) is ``icmp_send()``'s decision
and belongs to the protocol layer.  RFC 4884 extension objects (off by default in Linux) are
not modelled.
"""

from __future__ import annotations

import struct
from typing import Final

import attrs
from mypy_extensions import mypyc_attr

from .checksum import Buffer, csum_fold, csum_partial
from .errors import WireError
from .ipv4 import IPPROTO_ICMPV6, IPV4_HLEN, WritableBuffer
from .ipv6 import IPV6_HLEN, IPV6_MIN_MTU, csum_ipv6_magic

__all__ = [
    "ICMPV6_DEST_UNREACH",
    "ICMPV6_ECHO_REPLY",
    "ICMPV6_ECHO_REQUEST",
    "ICMPV6_ERROR_ROOM",
    "ICMPV6_PARAMPROB",
    "ICMPV6_PKT_TOOBIG",
    "ICMPV6_PORT_UNREACH",
    "ICMPV6_TIME_EXCEED",
    "ICMP_DEST_UNREACH",
    "ICMP_ECHO",
    "ICMP_ECHOREPLY",
    "ICMP_ERROR_ROOM",
    "ICMP_FRAG_NEEDED",
    "ICMP_HLEN",
    "ICMP_PORT_UNREACH",
    "ICMP_PROT_UNREACH",
    "ICMP_TIME_EXCEEDED",
    "IcmpHeader",
    "icmp4_error",
    "icmp4_port_unreachable",
    "icmp6_error",
    "icmp6_port_unreachable",
]

ICMP_HLEN: Final = 8
"""``sizeof(struct icmphdr)`` == ``sizeof(struct icmp6hdr)``."""

# ICMPv4 types and codes (include/uapi/linux/icmp.h)
ICMP_ECHOREPLY: Final = 0
ICMP_DEST_UNREACH: Final = 3
ICMP_ECHO: Final = 8
ICMP_TIME_EXCEEDED: Final = 11
ICMP_PROT_UNREACH: Final = 2
"""Code of ``ICMP_DEST_UNREACH``."""
ICMP_PORT_UNREACH: Final = 3
"""Code of ``ICMP_DEST_UNREACH``: no socket on the destination port."""
ICMP_FRAG_NEEDED: Final = 4
"""Code of ``ICMP_DEST_UNREACH``: too big with DF set; ``rest`` carries the MTU."""

# ICMPv6 types and codes (include/uapi/linux/icmpv6.h)
ICMPV6_DEST_UNREACH: Final = 1
ICMPV6_PKT_TOOBIG: Final = 2
"""``rest`` carries the MTU."""
ICMPV6_TIME_EXCEED: Final = 3
ICMPV6_PARAMPROB: Final = 4
ICMPV6_ECHO_REQUEST: Final = 128
ICMPV6_ECHO_REPLY: Final = 129
ICMPV6_PORT_UNREACH: Final = 4
"""Code of ``ICMPV6_DEST_UNREACH``."""

ICMP_ERROR_ROOM: Final = 576 - IPV4_HLEN - ICMP_HLEN
"""The most of the offending packet an ICMPv4 error quotes (``room`` in ``icmp_send()``)."""
ICMPV6_ERROR_ROOM: Final = IPV6_MIN_MTU - IPV6_HLEN - ICMP_HLEN
"""The most of the offending packet an ICMPv6 error quotes (``room`` in ``icmp6_send()``)."""

_ICMP: Final = struct.Struct("!BBHI")
_CHECK_AT: Final = 2


def _message(buf: Buffer, offset: int, length: int | None) -> memoryview:
    """The ICMP message ``buf[offset : offset + length]``, at least a header long."""
    end = len(buf) if length is None else offset + length
    if offset < 0 or end > len(buf) or end - offset < ICMP_HLEN:
        raise WireError(
            f"ICMP message truncated: {max(end - offset, 0)} bytes at offset {offset} "
            f"(buffer {len(buf)}), need at least {ICMP_HLEN}"
        )
    return memoryview(buf)[offset:end]


def _message_sum(msg: memoryview, saddr: bytes | None, daddr: bytes | None) -> int:
    """The checksum a message whose checksum field is zero needs: ICMPv6 (with the pseudo
    header) when addresses are given, ICMPv4 otherwise."""
    if saddr is None and daddr is None:
        return csum_fold(csum_partial(msg))
    if saddr is None or daddr is None or len(saddr) != 16 or len(daddr) != 16:
        raise WireError(
            "an ICMPv6 checksum needs both saddr and daddr, 16 bytes each (omit both for ICMPv4)"
        )
    return csum_ipv6_magic(saddr, daddr, len(msg), IPPROTO_ICMPV6, csum_partial(msg))


@mypyc_attr(native_class=False)  # attrs builds it: a Python class
@attrs.frozen
class IcmpHeader:
    """An ICMP or ICMPv6 header as a value.  ``rest`` is the 32-bit word after the checksum;
    ``check=None`` means :meth:`emit` computes the checksum."""

    type: int
    code: int
    check: int | None = None
    rest: int = 0

    @classmethod
    def parse(cls, buf: Buffer, offset: int = 0) -> IcmpHeader:
        """Read the 8-byte header at ``buf[offset:]``.  Raises :class:`WireError` if it is
        truncated.  The checksum is returned, not verified."""
        if offset < 0 or len(buf) - offset < ICMP_HLEN:
            raise WireError(
                f"ICMP header truncated: {max(len(buf) - offset, 0)} bytes at offset "
                f"{offset}, need {ICMP_HLEN}"
            )
        icmp_type, code, check, rest = _ICMP.unpack_from(buf, offset)
        return cls(icmp_type, code, check, rest)

    def emit(
        self,
        buf: WritableBuffer,
        offset: int = 0,
        length: int | None = None,
        *,
        saddr: bytes | None = None,
        daddr: bytes | None = None,
    ) -> None:
        """Write the header at ``buf[offset:]``.  When ``check`` is None, compute it over the
        message ``buf[offset : offset + length]`` (body already in place): ICMPv6 with the
        pseudo header if ``saddr``/``daddr`` are given, ICMPv4 otherwise."""
        msg = _message(buf, offset, length if self.check is None else ICMP_HLEN)
        try:
            _ICMP.pack_into(buf, offset, self.type, self.code, self.check or 0, self.rest)
        except struct.error as exc:
            raise WireError(f"ICMP header field out of range in {self!r}: {exc}") from exc
        if self.check is None:
            struct.pack_into("!H", buf, offset + _CHECK_AT, _message_sum(msg, saddr, daddr))

    @staticmethod
    def verify_checksum(
        buf: Buffer,
        offset: int = 0,
        length: int | None = None,
        *,
        saddr: bytes | None = None,
        daddr: bytes | None = None,
    ) -> bool:
        """Is the checksum of the message ``buf[offset : offset + length]`` correct?  ICMPv6
        (pseudo header included) if ``saddr``/``daddr`` are given, ICMPv4 otherwise."""
        msg = _message(buf, offset, length)
        # Summing the message with its checksum in place gives 0 exactly when it is right.
        return _message_sum(msg, saddr, daddr) == 0


def icmp4_error(original_ip_packet: Buffer, icmp_type: int, code: int, info: int = 0) -> bytes:
    """An ICMPv4 error message (header + quote, checksum filled in) about
    ``original_ip_packet`` (its IP header onwards), quoting at most ``ICMP_ERROR_ROOM`` bytes.
    ``info`` is the ``rest`` word (the MTU for ``ICMP_FRAG_NEEDED``)."""
    quote = memoryview(original_ip_packet)[:ICMP_ERROR_ROOM]
    msg = bytearray(ICMP_HLEN + len(quote))
    msg[ICMP_HLEN:] = quote
    IcmpHeader(icmp_type, code, None, info).emit(msg)
    return bytes(msg)


def icmp4_port_unreachable(original_ip_packet: Buffer) -> bytes:
    """The ``ICMP_DEST_UNREACH`` / ``ICMP_PORT_UNREACH`` message a host sends back for a UDP
    datagram with no socket (``__udp4_lib_rcv()``), quoting the datagram's IP packet."""
    return icmp4_error(original_ip_packet, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH)


def icmp6_error(
    saddr: bytes,
    daddr: bytes,
    original_packet: Buffer,
    icmp_type: int,
    code: int,
    info: int = 0,
) -> bytes:
    """An ICMPv6 error message from ``saddr`` to ``daddr`` (checksum over the pseudo header
    filled in) about ``original_packet`` (its IPv6 header onwards), quoting at most
    ``ICMPV6_ERROR_ROOM`` bytes.  ``info`` is the ``rest`` word (the MTU for
    ``ICMPV6_PKT_TOOBIG``)."""
    quote = memoryview(original_packet)[:ICMPV6_ERROR_ROOM]
    msg = bytearray(ICMP_HLEN + len(quote))
    msg[ICMP_HLEN:] = quote
    IcmpHeader(icmp_type, code, None, info).emit(msg, saddr=saddr, daddr=daddr)
    return bytes(msg)


def icmp6_port_unreachable(saddr: bytes, daddr: bytes, original_packet: Buffer) -> bytes:
    """The ``ICMPV6_DEST_UNREACH`` / ``ICMPV6_PORT_UNREACH`` message from ``saddr`` to
    ``daddr`` for a UDP datagram with no socket (``__udp6_lib_rcv()``)."""
    return icmp6_error(saddr, daddr, original_packet, ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH)
