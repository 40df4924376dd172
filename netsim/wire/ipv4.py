"""The IPv4 header (RFC 791), its checksum, and the TCP/UDP pseudo-header sum.

Format (``struct iphdr``, include/uapi/linux/ip.h), all fields big-endian::

    offset  size  field
         0     1  version (high nibble, 4) | ihl (low nibble: header length in 32-bit words)
         1     1  tos
         2     2  tot_len    header + payload, in bytes
         4     2  id
         6     2  frag_off   flags (IP_DF, IP_MF) | offset in 8-byte units (IP_OFFSET)
         8     1  ttl
         9     1  protocol   IPPROTO_*
        10     2  check      header checksum
        12     4  saddr
        16     4  daddr
        20   0-40 options    ihl * 4 - 20 bytes

Two ways to write a header, as smoltcp's ``src/wire`` has two levels:

* :class:`Ipv4Header` is a validated value (``@attrs.frozen``) with ``parse`` / ``emit``.
  ``frag_off`` is kept exactly as on the wire, so ``parse(emit(h)) == h`` holds for every
  header, including ones with reserved bits set; ``df``, ``mf`` and ``offset`` read it.
  ``check=None`` means "compute it" (``ip_send_check()`` in net/ipv4/ip_output.c); an integer
  is written verbatim, so a test can put a bad checksum on the wire.  ``parse`` returns the
  checksum it found.
* :func:`ip4_build_header` is the output path's builder (what ``__ip_make_skb`` and
  ``__ip_queue_xmit`` do to the skb's head): a fixed 20-byte header packed with one
  ``struct.pack_into``, its checksum computed from the integers it was given rather than by
  re-reading the bytes.  It makes no object and checks nothing beyond ``struct``'s ranges.

``parse`` checks the structure only — version 4, ``ihl >= 5``, the whole header present,
``tot_len >= header length`` — and raises :class:`~netsim.wire.WireError`.  It does **not**
check the checksum (:meth:`Ipv4Header.verify_checksum` does) nor that ``tot_len`` bytes
follow: the header quoted in an ICMP error is followed by only part of its payload, and a
capture may be cut at the snap length.  Those are the receive path's checks
(``ip_rcv_core()``).

Checksums use the representation of :mod:`netsim.wire.checksum`: a partial sum (``__wsum``)
is a 16-bit one's-complement sum, 0 only for all-zero data.  :func:`ip4_pseudo_csum` is
``csum_tcpudp_nofold()`` (include/asm-generic/checksum.h) with a zero initial sum: the partial
sum of the pseudo header ``saddr, daddr, 0, protocol, length`` (RFC 768, RFC 9293 §3.1).  It
is also what a ``CHECKSUM_PARTIAL`` skb carries in its transport checksum field
(``~csum_tcpudp_magic(..., 0)`` in ``udp4_hwcsum()``).  :func:`csum_tcpudp_magic` folds and
complements it with the transport sum into the value a header carries; it may return 0, which
TCP sends as is and UDP sends as ``0xFFFF`` (``CSUM_MANGLED_0``, see :mod:`netsim.wire.udp`),
because a zero UDP checksum means "none".

Sums are computed with the identity used in :mod:`netsim.wire.checksum`: 65536 ≡ 1 (mod
65535), so a 32-bit address read as one integer is congruent to the sum of its two 16-bit
words, and a whole sum needs one ``%`` instead of a loop of end-around carries.
"""

from __future__ import annotations

import struct
from typing import Final

import attrs
from mypy_extensions import mypyc_attr

from .checksum import Buffer, csum_add, csum_fold, csum_partial
from .errors import WireError

__all__ = [
    "IPPROTO_FRAGMENT",
    "IPPROTO_ICMP",
    "IPPROTO_ICMPV6",
    "IPPROTO_IPV6",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "IPV4_HLEN",
    "IP_DF",
    "IP_MAX_MTU",
    "IP_MF",
    "IP_OFFSET",
    "Ipv4Header",
    "csum_tcpudp_magic",
    "ip4_build_header",
    "ip4_pseudo_csum",
]

WritableBuffer = bytearray | memoryview
"""A buffer an emitter can write into."""

IPV4_HLEN: Final = 20
"""``sizeof(struct iphdr)``: the header without options."""
IP_DF: Final = 0x4000
"""Don't Fragment (include/net/ip.h)."""
IP_MF: Final = 0x2000
"""More Fragments."""
IP_OFFSET: Final = 0x1FFF
"""The fragment offset bits of ``frag_off``, in 8-byte units."""
IP_MAX_MTU: Final = 0xFFFF
"""The largest ``tot_len`` (include/net/ip.h)."""

IPPROTO_ICMP: Final = 1
IPPROTO_TCP: Final = 6
IPPROTO_UDP: Final = 17
IPPROTO_IPV6: Final = 41
IPPROTO_FRAGMENT: Final = 44
IPPROTO_ICMPV6: Final = 58

_MAX_IPOPTLEN: Final = 40  # MAX_IPOPTLEN, include/net/inet_sock.h
_IPV4_FIXED: Final = struct.Struct("!BBHHHBBH4s4s")
_ip4_pack_into = _IPV4_FIXED.pack_into
_CHECK_AT: Final = 10


@mypyc_attr(native_class=False)  # attrs builds it: a Python class
@attrs.frozen(kw_only=True)
class Ipv4Header:
    """An IPv4 header as a value.  Fields are named as in ``struct iphdr``; ``frag_off`` holds
    the flags and the offset (in 8-byte units) exactly as on the wire.  ``check=None`` means
    :meth:`emit` computes the checksum; ``options`` must be a multiple of 4 bytes, at most 40.
    Fields are keyword-only: they keep the wire order while ``check`` has a default."""

    tos: int
    tot_len: int
    id: int
    frag_off: int
    ttl: int
    protocol: int
    check: int | None = None
    saddr: bytes
    daddr: bytes
    options: bytes = b""

    @property
    def ihl(self) -> int:
        """The header length in 32-bit words, as the low nibble of the first byte carries it."""
        return (IPV4_HLEN + len(self.options)) // 4

    @property
    def header_len(self) -> int:
        """The header length in bytes, options included."""
        return IPV4_HLEN + len(self.options)

    @property
    def df(self) -> bool:
        """Don't Fragment is set."""
        return bool(self.frag_off & IP_DF)

    @property
    def mf(self) -> bool:
        """More Fragments is set: this is not the last fragment."""
        return bool(self.frag_off & IP_MF)

    @property
    def offset(self) -> int:
        """The fragment offset in **bytes** (the wire carries it in 8-byte units)."""
        return (self.frag_off & IP_OFFSET) << 3

    @classmethod
    def parse(cls, buf: Buffer, offset: int = 0) -> Ipv4Header:
        """Read the header at ``buf[offset:]``.  Raises :class:`WireError` for a truncated
        header, a version other than 4, ``ihl < 5`` or ``tot_len`` shorter than the header.
        The checksum is returned, not verified."""
        avail = len(buf) - offset
        if offset < 0 or avail < IPV4_HLEN:
            raise WireError(
                f"IPv4 header truncated: {max(avail, 0)} bytes at offset {offset}, "
                f"need at least {IPV4_HLEN}"
            )
        (vihl, tos, tot_len, ident, frag_off, ttl, protocol, check, saddr, daddr) = (
            _IPV4_FIXED.unpack_from(buf, offset)
        )
        version, ihl = vihl >> 4, vihl & 0xF
        if version != 4:
            raise WireError(f"not an IPv4 header: version {version} at offset {offset}")
        if ihl < 5:
            raise WireError(f"IPv4 ihl {ihl} at offset {offset} is below the minimum of 5 words")
        hlen = ihl * 4
        if avail < hlen:
            raise WireError(
                f"IPv4 header truncated: ihl {ihl} needs {hlen} bytes, {avail} at offset {offset}"
            )
        if tot_len < hlen:
            raise WireError(
                f"IPv4 tot_len {tot_len} at offset {offset} is shorter than its {hlen}-byte header"
            )
        return cls(
            tos=tos,
            tot_len=tot_len,
            id=ident,
            frag_off=frag_off,
            ttl=ttl,
            protocol=protocol,
            check=check,
            saddr=saddr,
            daddr=daddr,
            options=bytes(buf[offset + IPV4_HLEN : offset + hlen]),
        )

    def emit(self, buf: WritableBuffer, offset: int = 0) -> None:
        """Write the header (``header_len`` bytes) at ``buf[offset:]``, with the checksum
        computed when ``check`` is None.  Raises :class:`WireError` if the buffer is too short
        or a field cannot be represented."""
        hlen = self.header_len
        if len(self.options) % 4 or len(self.options) > _MAX_IPOPTLEN:
            raise WireError(
                f"IPv4 options must be a multiple of 4 bytes, at most {_MAX_IPOPTLEN}: "
                f"got {len(self.options)}"
            )
        if len(self.saddr) != 4 or len(self.daddr) != 4:
            raise WireError(
                f"IPv4 addresses must be 4 bytes: saddr has {len(self.saddr)}, "
                f"daddr has {len(self.daddr)}"
            )
        if offset < 0 or len(buf) - offset < hlen:
            raise WireError(
                f"buffer too short for a {hlen}-byte IPv4 header at offset {offset}: "
                f"{len(buf)} bytes"
            )
        try:
            _IPV4_FIXED.pack_into(
                buf,
                offset,
                0x40 | (hlen >> 2),
                self.tos,
                self.tot_len,
                self.id,
                self.frag_off,
                self.ttl,
                self.protocol,
                0 if self.check is None else self.check,
                self.saddr,
                self.daddr,
            )
        except struct.error as exc:
            raise WireError(f"IPv4 header field out of range in {self!r}: {exc}") from exc
        buf[offset + IPV4_HLEN : offset + hlen] = self.options
        if self.check is None:
            check = csum_fold(csum_partial(memoryview(buf)[offset : offset + hlen]))
            struct.pack_into("!H", buf, offset + _CHECK_AT, check)

    @staticmethod
    def verify_checksum(buf: Buffer, offset: int = 0) -> bool:
        """Is the checksum of the header at ``buf[offset:]`` correct?  (The sum over the
        header, checksum included, folds to zero.)  Raises :class:`WireError` if there is no
        complete header there."""
        if offset < 0 or len(buf) - offset < IPV4_HLEN:
            raise WireError(f"IPv4 header truncated at offset {offset}: {len(buf)} bytes")
        hlen = (buf[offset] & 0xF) * 4
        if hlen < IPV4_HLEN or len(buf) - offset < hlen:
            raise WireError(
                f"IPv4 header at offset {offset} has ihl {hlen // 4}, "
                f"{len(buf) - offset} bytes available"
            )
        return csum_fold(csum_partial(memoryview(buf)[offset : offset + hlen])) == 0


def ip4_build_header(
    buf: WritableBuffer,
    off: int,
    tot_len: int,
    ident: int,
    frag_off: int,
    ttl: int,
    protocol: int,
    saddr: bytes,
    daddr: bytes,
    tos: int = 0,
    addr_sum: int | None = None,
) -> None:
    """Write a 20-byte IPv4 header (no options) with its checksum at ``buf[off:]``.

    The hot-path builder: one ``pack_into``, the checksum computed from the arguments.  It
    trusts its caller — ``saddr``/``daddr`` must be 4 bytes (``struct`` would silently pad or
    cut other lengths); integers out of range raise ``struct.error``.  ``addr_sum``, if given,
    is ``int(saddr) + int(daddr)`` precomputed (a route's ``addr_sum``).
    """
    # The header's words, the checksum word taken as zero.  Both addresses as one 64-bit
    # integer are congruent to the sum of their four words mod 0xFFFF, so one `%` folds the
    # lot, and `-total % 0xFFFF` is the complement (0 when the sum is 0xFFFF; total is never 0).
    total = (
        0x4500
        + tos
        + tot_len
        + ident
        + frag_off
        + (ttl << 8)
        + protocol
        + (int.from_bytes(saddr + daddr, "big") if addr_sum is None else addr_sum)
    )
    _ip4_pack_into(
        buf, off, 0x45, tos, tot_len, ident, frag_off, ttl, protocol, -total % 0xFFFF, saddr, daddr
    )


def ip4_pseudo_csum(saddr: bytes, daddr: bytes, length: int, protocol: int) -> int:
    """The partial sum of the IPv4 pseudo header (``csum_tcpudp_nofold()`` with a zero
    initial sum), 16-bit one's complement, 0 only if every field is 0."""
    total = int.from_bytes(saddr, "big") + int.from_bytes(daddr, "big") + length + protocol
    folded = total % 0xFFFF
    return folded if folded or not total else 0xFFFF


def csum_tcpudp_magic(saddr: bytes, daddr: bytes, length: int, protocol: int, csum: int) -> int:
    """``csum_tcpudp_magic()``: the transport checksum field for a segment whose own partial
    sum (header with a zero checksum field, plus payload) is ``csum``.

    Returns 0 when the complete sum is ``0xFFFF``; that is what TCP sends.  UDP must send it
    as ``0xFFFF`` (``CSUM_MANGLED_0``), because a zero UDP checksum means "no checksum" —
    :func:`netsim.wire.udp.udp4_checksum` does that mapping.
    """
    return csum_fold(csum_add(ip4_pseudo_csum(saddr, daddr, length, protocol), csum))
