"""The Internet checksum (RFC 1071) over byte buffers and fragment lists.

Representation: a *partial* checksum (the kernel's ``__wsum``) is kept folded to 16 bits, as
the one's-complement sum of the data's big-endian 16-bit words (0..0xFFFF).  ``csum_fold``
complements it into the value a header carries (``__sum16``).

The sum is computed with one ``int.from_bytes`` and one ``% 0xFFFF``: since 65536 ≡ 1
(mod 65535), a buffer read as one big-endian integer is congruent to the sum of its 16-bit
words — no per-word Python loop.  An odd-length buffer is summed as if padded with a zero byte.

``csum_block_add(csum, csum2, offset)`` (include/net/checksum.h) adds the sum of a block that
starts at ``offset`` in the larger buffer: a block starting at an odd offset has its bytes in
the other halves of the 16-bit words, so its sum is byte-swapped first.  This is what
``skb_add_frag_nocache`` does for a ``CHECKSUM_NONE`` skb.
"""

from __future__ import annotations

from collections.abc import Iterable

Buffer = bytes | bytearray | memoryview

__all__ = ["csum_add", "csum_block_add", "csum_fold", "csum_partial", "csum_partial_many"]


def csum_partial(data: Buffer, csum: int = 0) -> int:
    """``csum_partial()``: ``csum`` plus the one's-complement sum of ``data``."""
    mv = memoryview(data)
    value = int.from_bytes(mv, "big")
    if len(mv) & 1:
        value <<= 8
    s = value % 0xFFFF
    if s == 0 and value:
        s = 0xFFFF
    return csum_add(csum, s)


def csum_add(a: int, b: int) -> int:
    """``csum_add()``: one's-complement addition of two partial sums."""
    s = a + b
    s = (s & 0xFFFF) + (s >> 16)
    return (s & 0xFFFF) + (s >> 16)


def csum_block_add(csum: int, csum2: int, offset: int) -> int:
    """``csum_block_add()``: add a block's sum ``csum2`` that starts at byte ``offset``."""
    if offset & 1:
        csum2 = ((csum2 & 0xFF) << 8) | (csum2 >> 8)
    return csum_add(csum, csum2)


def csum_fold(csum: int) -> int:
    """``csum_fold()``: the complemented 16-bit value that goes into a header."""
    return ~csum_add(csum, 0) & 0xFFFF


def csum_partial_many(chunks: Iterable[Buffer], csum: int = 0) -> int:
    """The partial sum of the concatenation of ``chunks`` (e.g. an skb's head and frags),
    without concatenating them."""
    offset = 0
    for chunk in chunks:
        mv = memoryview(chunk)
        csum = csum_block_add(csum, csum_partial(mv), offset)
        offset += len(mv)
    return csum
