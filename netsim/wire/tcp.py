"""The TCP header (RFC 9293), its options, its checksum, and sequence-number arithmetic.

Format (``struct tcphdr``, include/uapi/linux/tcp.h), big-endian, 20 bytes plus options::

    offset  size  field
         0     2  source      sport
         2     2  dest        dport
         4     4  seq
         8     4  ack_seq
        12     2  doff (high 4 bits: header length in 32-bit words, 5..15)
                  | reserved (3 bits) | AE | CWR ECE URG ACK PSH RST SYN FIN (low 9 bits)
        14     2  window      unscaled receive window
        16     2  check
        18     2  urg_ptr
        20  0-40  options     doff * 4 - 20 bytes

:class:`TcpHeader` keeps the 12 bits below ``doff`` whole as ``flags`` (the kernel's
``tcp_flag_word()`` less the data offset; ``TCPHDR_*`` name the bits), so reserved bits
survive a round trip, and keeps the options as raw bytes: ``doff`` follows from their length.
``check=None`` writes 0, an integer is written verbatim; the value itself needs the pseudo
header and the payload, which :func:`tcp4_checksum` / :func:`tcp6_checksum` take.
:func:`tcp_build_header` is the output path's builder (what ``__tcp_transmit_skb()`` in
net/ipv4/tcp_output.c stores into the head): one ``pack_into``, no object; the caller copies
the option block behind it.

Options
-------

An option is ``kind`` alone (EOL 0, NOP 1) or ``kind, len, data`` with ``len`` counting the
two leading bytes.  :class:`TcpOptions` holds the ones Linux sends — MSS, window scale,
SACK-permitted, timestamps, SACK blocks — and :meth:`TcpOptions.emit` lays them out exactly as
``tcp_options_write()`` (net/ipv4/tcp_output.c) does, always in this order, each group padded
with NOPs to 32 bits::

    MSS               02 04 mss(2)
    TS and SACK_PERM  04 02 08 0a tsval(4) tsecr(4)      SACK-permitted takes the NOPs' place
    TS alone          01 01 08 0a tsval(4) tsecr(4)
    SACK_PERM alone   01 01 04 02
    window scale      01 03 03 ws
    SACK blocks       01 01 05 (2 + 8n) (start(4) end(4)) * n

So a Linux SYN (MSS, SACK-permitted, timestamps, window scale; ``tcp_syn_options()``) carries
20 bytes, ``02 04 mss | 04 02 08 0a tsval tsecr | 01 03 03 ws``, and an established segment
with timestamps 12.  The MD5, AO, AccECN, Fast Open, SMC and MPTCP options of that function
are not modelled.  The block must fit ``MAX_TCP_OPTION_SPACE`` (40 bytes): with timestamps at
most 3 SACK blocks, without 4 (the limit ``tcp_established_options()`` applies).

:meth:`TcpOptions.parse` reads an option block as ``tcp_parse_options()``
(net/ipv4/tcp_input.c) does: it stops at EOL; skips NOPs; stops — keeping what it has read —
at an option whose length byte is missing, below 2, or runs past the block; ignores an option
whose length is wrong for its kind; skips unknown kinds by their length.  A later copy of an
option replaces an earlier one.  It records every known option whatever the segment, where
the kernel heeds MSS, window scale and SACK-permitted only on a SYN and the rest only as
negotiated: that decision belongs to the protocol layer, which knows the state.  Like the
kernel it clamps a window scale above ``TCP_MAX_WSCALE`` to 14 and reads at most
``TCP_NUM_SACKS`` (4) SACK blocks (``tcp_sacktag_write_queue()``).  It reports an MSS of 0 as
0; the kernel ignores that value (keeps its default clamp).

Checksum
--------

The checksum covers the pseudo header (:func:`netsim.wire.ipv4.ip4_pseudo_csum` /
:func:`netsim.wire.ipv6.ip6_pseudo_csum`, with the segment length — TCP has no length field of
its own), the header with a zero checksum field, and the payload.  Unlike UDP, a computed 0 is
sent as 0: a zero TCP checksum is never "none".

Sequence numbers
----------------

Sequence numbers are 32 bits and wrap: :func:`before`, :func:`after` and :func:`between` are
include/net/tcp.h's comparisons, which read the difference of two numbers as a signed 32-bit
value, so they hold across the wrap as long as the numbers are less than 2**31 apart;
:func:`seq_add` adds modulo 2**32.
"""

from __future__ import annotations

import struct
from typing import Final

import attrs
from mypy_extensions import mypyc_attr

from .checksum import Buffer, csum_add, csum_fold, csum_partial
from .errors import WireError
from .ipv4 import IPPROTO_TCP, WritableBuffer, ip4_pseudo_csum
from .ipv6 import ip6_pseudo_csum

__all__ = [
    "NOP_NOP_TS",
    "emit_aligned_timestamp",
    "MAX_TCP_OPTION_SPACE",
    "TCPHDR_ACK",
    "TCPHDR_AE",
    "TCPHDR_CWR",
    "TCPHDR_ECE",
    "TCPHDR_FIN",
    "TCPHDR_PSH",
    "TCPHDR_RST",
    "TCPHDR_SYN",
    "TCPHDR_URG",
    "TCPOLEN_MSS",
    "TCPOLEN_SACKPERM_ALIGNED",
    "TCPOLEN_SACK_PERM",
    "TCPOLEN_TIMESTAMP",
    "TCPOLEN_TSTAMP_ALIGNED",
    "TCPOLEN_WINDOW",
    "TCPOLEN_WSCALE_ALIGNED",
    "TCPOPT_EOL",
    "TCPOPT_MSS",
    "TCPOPT_NOP",
    "TCPOPT_SACK",
    "TCPOPT_SACK_PERM",
    "TCPOPT_TIMESTAMP",
    "TCPOPT_WINDOW",
    "TCP_HLEN",
    "TCP_MAX_WSCALE",
    "TcpHeader",
    "TcpOptions",
    "after",
    "before",
    "between",
    "seq_add",
    "tcp4_checksum",
    "tcp6_checksum",
    "tcp_build_header",
    "tcp_verify",
]

TCP_HLEN: Final = 20
"""``sizeof(struct tcphdr)``: the header without options."""

# Flag bits of the 16-bit word at offset 12, below doff (include/net/tcp.h).
TCPHDR_FIN: Final = 0x01
TCPHDR_SYN: Final = 0x02
TCPHDR_RST: Final = 0x04
TCPHDR_PSH: Final = 0x08
TCPHDR_ACK: Final = 0x10
TCPHDR_URG: Final = 0x20
TCPHDR_ECE: Final = 0x40
TCPHDR_CWR: Final = 0x80
TCPHDR_AE: Final = 0x100
"""Accurate ECN (RFC 9768): the low bit of the byte that carries ``doff``."""

# Option kinds (include/net/tcp.h).
TCPOPT_EOL: Final = 0
TCPOPT_NOP: Final = 1
TCPOPT_MSS: Final = 2
TCPOPT_WINDOW: Final = 3
TCPOPT_SACK_PERM: Final = 4
TCPOPT_SACK: Final = 5
TCPOPT_TIMESTAMP: Final = 8

# Option lengths, kind and length bytes included.
TCPOLEN_MSS: Final = 4
TCPOLEN_WINDOW: Final = 3
TCPOLEN_SACK_PERM: Final = 2
TCPOLEN_TIMESTAMP: Final = 10
# ...and the room they take once padded to 32 bits.
TCPOLEN_TSTAMP_ALIGNED: Final = 12
TCPOLEN_SACKPERM_ALIGNED: Final = 4
TCPOLEN_WSCALE_ALIGNED: Final = 4

MAX_TCP_OPTION_SPACE: Final = 40
"""The most option bytes a header can carry (``doff`` 15)."""
TCP_MAX_WSCALE: Final = 14
"""The largest window scale (RFC 7323 §2.3); larger received values are clamped to it."""

_TCP_NUM_SACKS: Final = 4  # TCP_NUM_SACKS, include/linux/tcp.h
_TCPOLEN_SACK_BASE: Final = 2
_TCPOLEN_SACK_PERBLOCK: Final = 8
_U32: Final = 0xFFFFFFFF
_FLAGS_MASK: Final = 0x0FFF  # the bits of the offset-12 word below doff
_CHECK_AT: Final = 16

_TCP: Final = struct.Struct("!HHIIHHHH")
_tcp_pack_into = _TCP.pack_into
_MSS: Final = struct.Struct("!BBH")
_TSTAMP: Final = struct.Struct("!BBBBII")
_BLOCK: Final = struct.Struct("!II")
_unpack_u16 = struct.Struct("!H").unpack_from
_unpack_u32x2 = _BLOCK.unpack_from

# The 32-bit words tcp_options_write() emits around the variable fields.
_SACKPERM_TS: Final = bytes(
    (TCPOPT_SACK_PERM, TCPOLEN_SACK_PERM, TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP)
)
_NOP_NOP_TS: Final = bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP))
_NOP_NOP_SACKPERM: Final = bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK_PERM, TCPOLEN_SACK_PERM))
_NOP_WINDOW: Final = bytes((TCPOPT_NOP, TCPOPT_WINDOW, TCPOLEN_WINDOW))
_NOP_NOP_SACK: Final = bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK))

#: The first word of the aligned timestamp block every established segment carries
#: (``NOP NOP TIMESTAMP 10``); ``tcp_fast_parse_options()`` looks for exactly this.
NOP_NOP_TS: Final = _NOP_NOP_TS
_ALIGNED_TS: Final = struct.Struct("!4sII")


def emit_aligned_timestamp(buf: bytearray, off: int, tsval: int, tsecr: int) -> None:
    """Write the 12-byte aligned timestamp option block at ``buf[off:]`` in place — what
    :meth:`TcpOptions.emit` gives for timestamps alone, without building the value."""
    _ALIGNED_TS.pack_into(buf, off, _NOP_NOP_TS, tsval, tsecr)


@mypyc_attr(native_class=False)  # attrs builds it: a Python class
@attrs.frozen
class TcpOptions:
    """The options Linux sends, as a value: ``None`` / ``False`` / ``()`` is "absent".

    ``tsval`` and ``tsecr`` are present together (the timestamps option carries both).
    ``sack_blocks`` are ``(start_seq, end_seq)`` pairs.  ``parse(o.emit()) == o`` for every
    value :meth:`emit` accepts with ``wscale <= TCP_MAX_WSCALE``.
    """

    mss: int | None = None
    wscale: int | None = None
    sack_ok: bool = False
    tsval: int | None = None
    tsecr: int | None = None
    sack_blocks: tuple[tuple[int, int], ...] = ()

    @classmethod
    def parse(cls, buf: Buffer) -> TcpOptions:
        """Read the option block ``buf`` (the ``doff * 4 - 20`` bytes after the fixed
        header) as ``tcp_parse_options()`` does.  Never raises for malformed options: it
        returns what it read before them (see the module docstring)."""
        data = bytes(buf)
        length = len(data)
        mss: int | None = None
        wscale: int | None = None
        sack_ok = False
        tsval: int | None = None
        tsecr: int | None = None
        sack_blocks: tuple[tuple[int, int], ...] = ()
        i = 0
        while i < length:
            kind = data[i]
            if kind == TCPOPT_EOL:
                break
            if kind == TCPOPT_NOP:
                i += 1
                continue
            if length - i < 2:
                break
            size = data[i + 1]
            if size < 2 or size > length - i:
                break
            if kind == TCPOPT_MSS:
                if size == TCPOLEN_MSS:
                    mss = _unpack_u16(data, i + 2)[0]
            elif kind == TCPOPT_WINDOW:
                if size == TCPOLEN_WINDOW:
                    wscale = min(data[i + 2], TCP_MAX_WSCALE)
            elif kind == TCPOPT_TIMESTAMP:
                if size == TCPOLEN_TIMESTAMP:
                    tsval, tsecr = _unpack_u32x2(data, i + 2)
            elif kind == TCPOPT_SACK_PERM:
                if size == TCPOLEN_SACK_PERM:
                    sack_ok = True
            elif kind == TCPOPT_SACK and (
                size >= _TCPOLEN_SACK_BASE + _TCPOLEN_SACK_PERBLOCK
                and (size - _TCPOLEN_SACK_BASE) % _TCPOLEN_SACK_PERBLOCK == 0
            ):
                n = min((size - _TCPOLEN_SACK_BASE) // _TCPOLEN_SACK_PERBLOCK, _TCP_NUM_SACKS)
                sack_blocks = tuple(
                    _unpack_u32x2(data, i + _TCPOLEN_SACK_BASE + _TCPOLEN_SACK_PERBLOCK * k)
                    for k in range(n)
                )
            i += size
        return cls(mss, wscale, sack_ok, tsval, tsecr, sack_blocks)

    def emit(self) -> bytes:
        """The option block ``tcp_options_write()`` would write for these options: a
        multiple of 4 bytes, at most ``MAX_TCP_OPTION_SPACE``, ``b""`` when none is set.

        Raises :class:`WireError` if only one of ``tsval``/``tsecr`` is set, a field does not
        fit its option (``mss`` 16 bits, ``wscale`` 8 — a value above ``TCP_MAX_WSCALE`` is
        sent as given —, timestamps and SACK edges 32), or the block exceeds 40 bytes.
        """
        if (self.tsval is None) != (self.tsecr is None):
            raise WireError(
                f"TCP timestamps need both tsval and tsecr: got tsval={self.tsval}, "
                f"tsecr={self.tsecr}"
            )
        out = bytearray()
        try:
            if self.mss is not None:
                out += _MSS.pack(TCPOPT_MSS, TCPOLEN_MSS, self.mss)
            if self.tsval is not None:
                out += _SACKPERM_TS if self.sack_ok else _NOP_NOP_TS
                out += _BLOCK.pack(self.tsval, self.tsecr)
            elif self.sack_ok:
                out += _NOP_NOP_SACKPERM
            if self.wscale is not None:
                out += _NOP_WINDOW
                out.append(self.wscale)
            if self.sack_blocks:
                n = len(self.sack_blocks)
                out += _NOP_NOP_SACK
                out.append(_TCPOLEN_SACK_BASE + _TCPOLEN_SACK_PERBLOCK * n)
                for start, end in self.sack_blocks:
                    out += _BLOCK.pack(start, end)
        except (struct.error, ValueError, TypeError) as exc:
            raise WireError(f"TCP option field out of range in {self!r}: {exc}") from exc
        if len(out) > MAX_TCP_OPTION_SPACE:
            raise WireError(
                f"TCP options need {len(out)} bytes, more than the {MAX_TCP_OPTION_SPACE} "
                f"a header can carry: {self!r}"
            )
        return bytes(out)


@mypyc_attr(native_class=False)  # attrs builds it: a Python class
@attrs.frozen
class TcpHeader:
    """The TCP header as a value (``struct tcphdr``: ``sport``=``source``, ``dport``=``dest``).

    ``flags`` is the 12 bits below ``doff`` (``TCPHDR_*``, reserved bits kept as found);
    ``options`` the raw option block (:meth:`TcpOptions.emit` makes one), a multiple of 4
    bytes, at most 40.  ``check=None`` emits 0 (fill it in with :func:`tcp4_checksum` /
    :func:`tcp6_checksum` once the payload is in place); ``parse`` returns the value found.
    """

    sport: int
    dport: int
    seq: int
    ack_seq: int
    flags: int
    window: int
    check: int | None = None
    urg_ptr: int = 0
    options: bytes = b""

    @property
    def doff(self) -> int:
        """The header length in 32-bit words, as the top nibble of byte 12 carries it."""
        return (TCP_HLEN + len(self.options)) // 4

    @property
    def header_len(self) -> int:
        """The header length in bytes, options included."""
        return TCP_HLEN + len(self.options)

    @classmethod
    def parse(cls, buf: Buffer, offset: int = 0) -> TcpHeader:
        """Read the header at ``buf[offset:]``.  Raises :class:`WireError` for a truncated
        header, ``doff < 5``, or fewer than ``doff * 4`` bytes.  The checksum is returned,
        not verified; the options are returned raw (:meth:`TcpOptions.parse` reads them)."""
        avail = len(buf) - offset
        if offset < 0 or avail < TCP_HLEN:
            raise WireError(
                f"TCP header truncated: {max(avail, 0)} bytes at offset {offset}, "
                f"need at least {TCP_HLEN}"
            )
        sport, dport, seq, ack_seq, word, window, check, urg_ptr = _TCP.unpack_from(buf, offset)
        doff = word >> 12
        if doff < 5:
            raise WireError(f"TCP doff {doff} at offset {offset} is below the minimum of 5 words")
        hlen = doff * 4
        if avail < hlen:
            raise WireError(
                f"TCP header truncated: doff {doff} needs {hlen} bytes, {avail} at offset {offset}"
            )
        return cls(
            sport,
            dport,
            seq,
            ack_seq,
            word & _FLAGS_MASK,
            window,
            check,
            urg_ptr,
            bytes(buf[offset + TCP_HLEN : offset + hlen]),
        )

    def emit(self, buf: WritableBuffer, offset: int = 0) -> None:
        """Write the header and its options (``header_len`` bytes) at ``buf[offset:]``, the
        checksum field as given (0 for ``None``).  Raises :class:`WireError` if the buffer is
        too short or a field cannot be represented."""
        hlen = self.header_len
        if len(self.options) % 4 or len(self.options) > MAX_TCP_OPTION_SPACE:
            raise WireError(
                f"TCP options must be a multiple of 4 bytes, at most {MAX_TCP_OPTION_SPACE}: "
                f"got {len(self.options)}"
            )
        if not 0 <= self.flags <= _FLAGS_MASK:
            raise WireError(f"TCP flags must fit the 12 bits below doff: got {self.flags:#x}")
        if offset < 0 or len(buf) - offset < hlen:
            raise WireError(
                f"buffer too short for a {hlen}-byte TCP header at offset {offset}: "
                f"{len(buf)} bytes"
            )
        try:
            tcp_build_header(
                buf,
                offset,
                self.sport,
                self.dport,
                self.seq,
                self.ack_seq,
                hlen >> 2,
                self.flags,
                self.window,
                0 if self.check is None else self.check,
                self.urg_ptr,
            )
        except struct.error as exc:
            raise WireError(f"TCP header field out of range in {self!r}: {exc}") from exc
        buf[offset + TCP_HLEN : offset + hlen] = self.options


def tcp_build_header(
    buf: WritableBuffer,
    off: int,
    sport: int,
    dport: int,
    seq: int,
    ack_seq: int,
    doff: int,
    flags: int,
    window: int,
    check: int = 0,
    urg_ptr: int = 0,
) -> None:
    """Write the fixed 20-byte TCP header at ``buf[off:]`` with one ``pack_into`` (hot path).

    ``doff`` is the whole header length in 32-bit words, options included; the caller writes
    the ``doff * 4 - 20`` option bytes itself, e.g.
    ``buf[off + TCP_HLEN : off + doff * 4] = opts.emit()``.  It trusts its caller: ``doff``
    must be 5..15 and ``flags`` fit 12 bits (larger values would corrupt the word they share);
    other integers out of range raise ``struct.error``.
    """
    _tcp_pack_into(
        buf, off, sport, dport, seq, ack_seq, (doff << 12) | flags, window, check, urg_ptr
    )


def _tcp_checksum(mv: memoryview, pseudo: int) -> int:
    if len(mv) < TCP_HLEN:
        raise WireError(f"TCP segment truncated: {len(mv)} bytes, need {TCP_HLEN}")
    # Sum everything, then take the check field back out by adding its complement, so the
    # segment may already carry a checksum.  The pseudo header makes the sum non-zero, so
    # adding 0xFFFF for an empty field changes nothing.
    csum = csum_partial(mv, pseudo)
    csum = csum_add(csum, ~((mv[_CHECK_AT] << 8) | mv[_CHECK_AT + 1]) & 0xFFFF)
    return csum_fold(csum)


def tcp4_checksum(saddr: bytes, daddr: bytes, segment: Buffer) -> int:
    """The checksum to put in the header of the complete TCP-over-IPv4 segment ``segment``
    (header, options and payload; its check field is ignored).  The pseudo header's length is
    ``len(segment)``.  A computed 0 is returned (and sent) as 0.  Raises :class:`WireError`
    for fewer than 20 bytes."""
    mv = memoryview(segment)
    return _tcp_checksum(mv, ip4_pseudo_csum(saddr, daddr, len(mv), IPPROTO_TCP))


def tcp6_checksum(saddr: bytes, daddr: bytes, segment: Buffer) -> int:
    """As :func:`tcp4_checksum`, over the IPv6 pseudo header."""
    mv = memoryview(segment)
    return _tcp_checksum(mv, ip6_pseudo_csum(saddr, daddr, len(mv), IPPROTO_TCP))


def tcp_verify(saddr: bytes, daddr: bytes, segment: Buffer, v6: bool) -> bool:
    """Would a receiver accept this segment's checksum?

    The segment is all of ``segment`` (its length comes from the IP header, which the caller
    has already cut it to).  A segment shorter than 20 bytes, with ``doff < 5`` or with a
    header longer than the segment is rejected (``False``), as ``tcp_v4_rcv()`` /
    ``tcp_v6_rcv()`` drop it.  Otherwise the sum over pseudo header, header and payload,
    checksum included, must fold to zero; a zero checksum is checked like any other.
    """
    mv = memoryview(segment)
    if len(mv) < TCP_HLEN:
        return False
    hlen = (mv[12] >> 4) * 4
    if hlen < TCP_HLEN or hlen > len(mv):
        return False
    if v6:
        pseudo = ip6_pseudo_csum(saddr, daddr, len(mv), IPPROTO_TCP)
    else:
        pseudo = ip4_pseudo_csum(saddr, daddr, len(mv), IPPROTO_TCP)
    return csum_fold(csum_partial(mv, pseudo)) == 0


def before(seq1: int, seq2: int) -> bool:
    """``before()`` (include/net/tcp.h): ``seq1`` comes before ``seq2`` — their 32-bit
    difference ``seq1 - seq2``, read as signed, is negative."""
    return ((seq1 - seq2) & _U32) >= 0x80000000


def after(seq1: int, seq2: int) -> bool:
    """``after()``: ``seq1`` comes after ``seq2``; ``after(a, b) == before(b, a)``."""
    return ((seq2 - seq1) & _U32) >= 0x80000000


def between(seq: int, low: int, high: int) -> bool:
    """``between()``: ``low <= seq <= high`` in sequence space, both ends included — ``seq``
    lies at most ``high - low`` (mod 2**32) past ``low``."""
    return ((high - low) & _U32) >= ((seq - low) & _U32)


def seq_add(seq: int, n: int) -> int:
    """``seq + n`` modulo 2**32 (``n`` may be negative)."""
    return (seq + n) & _U32
