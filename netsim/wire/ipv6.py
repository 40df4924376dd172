"""The IPv6 header (RFC 8200), the Fragment extension header, and the IPv6 pseudo-header sum.

Fixed header (``struct ipv6hdr``, include/uapi/linux/ipv6.h), big-endian::

    offset  size  field
         0     4  version (4 bits, 6) | traffic class (8 bits) | flow label (20 bits)
         4     2  payload_len   bytes after this header, extension headers included
         6     1  nexthdr       IPPROTO_* of the next header
         7     1  hop_limit
         8    16  saddr
        24    16  daddr

Fragment header (``struct frag_hdr``, include/net/ipv6.h), 8 bytes::

    offset  size  field
         0     1  nexthdr
         1     1  reserved (0)
         2     2  frag_off     offset in 8-byte units << 3 | 2 reserved bits | M (IP6_MF)
         4     4  identification

Because the offset occupies the top 13 bits, ``frag_off & IP6_OFFSET`` *is* the offset in
bytes; :class:`Ipv6FragHeader` keeps it in bytes (a multiple of 8) and ``mf`` as a bool.  The
reserved bits are ignored on parse and written as zero (RFC 8200 §4.5).

As for IPv4 (:mod:`netsim.wire.ipv4`), there is a value class with ``parse``/``emit`` and a
hot-path builder, :func:`ip6_build_header` (``ip6_flow_hdr()`` plus the stores in
``ip6_xmit()`` / ``__ip6_make_skb()``), which makes no object.  IPv6 has no header checksum.
``parse`` checks the version and that 40 bytes are there, not that ``payload_len`` bytes
follow (a header quoted in an ICMPv6 error is followed by part of its payload).  Jumbograms
(RFC 2675, ``payload_len == 0`` with a Hop-by-Hop option) are not modelled: netsim's largest
packet is ``IP6_MAX_MTU``.

:func:`ip6_pseudo_csum` is the partial sum of the upper-layer pseudo header (RFC 8200 §8.1:
``saddr, daddr``, a 32-bit length, three zero bytes, next header), and
:func:`csum_ipv6_magic` (include/net/ip6_checksum.h, net/ipv6/ip6_checksum.c) folds and
complements it with the transport sum; it may return 0, which UDP sends as ``0xFFFF``.  UDP,
TCP and ICMPv6 all cover this pseudo header; IPv6 has no checksum-less UDP.
"""

from __future__ import annotations

import struct
from typing import Final

import attrs
from mypy_extensions import mypyc_attr

from .checksum import Buffer, csum_add, csum_fold
from .errors import WireError
from .ipv4 import WritableBuffer

__all__ = [
    "FRAG_HLEN",
    "IP6_MAX_MTU",
    "IP6_MF",
    "IP6_OFFSET",
    "IPV6_HLEN",
    "IPV6_MIN_MTU",
    "Ipv6FragHeader",
    "Ipv6Header",
    "csum_ipv6_magic",
    "ip6_build_header",
    "ip6_pseudo_csum",
]

IPV6_HLEN: Final = 40
"""``sizeof(struct ipv6hdr)``."""
FRAG_HLEN: Final = 8
"""``sizeof(struct frag_hdr)``."""
IP6_MAX_MTU: Final = 0xFFFF + IPV6_HLEN
"""The largest packet without a jumbo payload option (include/net/ipv6.h)."""
IPV6_MIN_MTU: Final = 1280
"""The minimum link MTU every IPv6 link supports (RFC 8200 §5)."""
IP6_OFFSET: Final = 0xFFF8
"""The offset bits of a fragment header's ``frag_off``: the offset in bytes."""
IP6_MF: Final = 0x0001
"""More Fragments."""

_IPV6_FIXED: Final = struct.Struct("!IHBB16s16s")
_ip6_pack_into = _IPV6_FIXED.pack_into
_FRAG: Final = struct.Struct("!BBHI")


def _check_room(buf: Buffer, offset: int, need: int, what: str) -> None:
    if offset < 0 or len(buf) - offset < need:
        raise WireError(
            f"{what} truncated: {max(len(buf) - offset, 0)} bytes at offset {offset}, need {need}"
        )


@mypyc_attr(native_class=False)  # attrs builds it: a Python class
@attrs.frozen(kw_only=True)
class Ipv6Header:
    """The fixed IPv6 header as a value (``struct ipv6hdr`` names, with ``tclass`` and
    ``flow_label`` split out of the first word)."""

    tclass: int
    flow_label: int
    payload_len: int
    nexthdr: int
    hop_limit: int
    saddr: bytes
    daddr: bytes

    @classmethod
    def parse(cls, buf: Buffer, offset: int = 0) -> Ipv6Header:
        """Read the header at ``buf[offset:]``.  Raises :class:`WireError` for fewer than 40
        bytes or a version other than 6."""
        _check_room(buf, offset, IPV6_HLEN, "IPv6 header")
        word, payload_len, nexthdr, hop_limit, saddr, daddr = _IPV6_FIXED.unpack_from(buf, offset)
        version = word >> 28
        if version != 6:
            raise WireError(f"not an IPv6 header: version {version} at offset {offset}")
        return cls(
            tclass=(word >> 20) & 0xFF,
            flow_label=word & 0xFFFFF,
            payload_len=payload_len,
            nexthdr=nexthdr,
            hop_limit=hop_limit,
            saddr=saddr,
            daddr=daddr,
        )

    def emit(self, buf: WritableBuffer, offset: int = 0) -> None:
        """Write the 40-byte header at ``buf[offset:]``.  Raises :class:`WireError` if the
        buffer is too short or a field cannot be represented."""
        if not 0 <= self.tclass <= 0xFF or not 0 <= self.flow_label <= 0xFFFFF:
            raise WireError(
                f"IPv6 tclass must fit 8 bits and flow_label 20 bits: "
                f"got {self.tclass:#x}, {self.flow_label:#x}"
            )
        if len(self.saddr) != 16 or len(self.daddr) != 16:
            raise WireError(
                f"IPv6 addresses must be 16 bytes: saddr has {len(self.saddr)}, "
                f"daddr has {len(self.daddr)}"
            )
        _check_room(buf, offset, IPV6_HLEN, "buffer for an IPv6 header")
        try:
            ip6_build_header(
                buf,
                offset,
                self.payload_len,
                self.nexthdr,
                self.hop_limit,
                self.saddr,
                self.daddr,
                self.tclass,
                self.flow_label,
            )
        except struct.error as exc:
            raise WireError(f"IPv6 header field out of range in {self!r}: {exc}") from exc


@mypyc_attr(native_class=False)  # attrs builds it: a Python class
@attrs.frozen
class Ipv6FragHeader:
    """The Fragment extension header as a value.  ``offset`` is in bytes (a multiple of 8,
    at most ``IP6_OFFSET``); ``mf`` is the More Fragments flag."""

    nexthdr: int
    offset: int
    mf: bool
    identification: int

    @classmethod
    def parse(cls, buf: Buffer, offset: int = 0) -> Ipv6FragHeader:
        """Read the 8-byte fragment header at ``buf[offset:]``; reserved bits are ignored.
        Raises :class:`WireError` if it is truncated."""
        _check_room(buf, offset, FRAG_HLEN, "IPv6 fragment header")
        nexthdr, _reserved, frag_off, identification = _FRAG.unpack_from(buf, offset)
        return cls(nexthdr, frag_off & IP6_OFFSET, bool(frag_off & IP6_MF), identification)

    def emit(self, buf: WritableBuffer, offset: int = 0) -> None:
        """Write the 8-byte fragment header at ``buf[offset:]``, reserved bits zero."""
        if self.offset & ~IP6_OFFSET:
            raise WireError(
                f"IPv6 fragment offset must be a multiple of 8 in 0..{IP6_OFFSET}: "
                f"got {self.offset}"
            )
        _check_room(buf, offset, FRAG_HLEN, "buffer for an IPv6 fragment header")
        try:
            _FRAG.pack_into(
                buf, offset, self.nexthdr, 0, self.offset | int(self.mf), self.identification
            )
        except struct.error as exc:
            raise WireError(f"IPv6 fragment header field out of range in {self!r}: {exc}") from exc


def ip6_build_header(
    buf: WritableBuffer,
    off: int,
    payload_len: int,
    nexthdr: int,
    hop_limit: int,
    saddr: bytes,
    daddr: bytes,
    tclass: int = 0,
    flow_label: int = 0,
) -> None:
    """Write a 40-byte IPv6 header at ``buf[off:]`` with one ``pack_into``.

    The hot-path builder: it trusts its caller — addresses must be 16 bytes, ``tclass`` 8 bits
    and ``flow_label`` 20 bits (other values would corrupt the first word); other integers out
    of range raise ``struct.error``.
    """
    _ip6_pack_into(
        buf,
        off,
        0x60000000 | (tclass << 20) | flow_label,
        payload_len,
        nexthdr,
        hop_limit,
        saddr,
        daddr,
    )


def ip6_pseudo_csum(saddr: bytes, daddr: bytes, length: int, nexthdr: int) -> int:
    """The partial sum of the IPv6 pseudo header (RFC 8200 §8.1), 16-bit one's complement,
    0 only if every field is 0.  ``length`` is the upper-layer packet length (32 bits)."""
    # A 16-byte address as one integer is congruent to the sum of its eight words (mod
    # 0xFFFF), and the 32-bit length to the sum of its two: one `%` folds everything.
    total = int.from_bytes(saddr, "big") + int.from_bytes(daddr, "big") + length + nexthdr
    folded = total % 0xFFFF
    return folded if folded or not total else 0xFFFF


def csum_ipv6_magic(saddr: bytes, daddr: bytes, length: int, proto: int, csum: int) -> int:
    """``csum_ipv6_magic()``: the checksum field for an upper-layer packet whose own partial
    sum (checksum field zero) is ``csum``.  Returns 0 when the complete sum is ``0xFFFF``;
    UDP sends that as ``0xFFFF`` (:func:`netsim.wire.udp.udp6_checksum`)."""
    return csum_fold(csum_add(ip6_pseudo_csum(saddr, daddr, length, proto), csum))
