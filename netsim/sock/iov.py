"""``struct iov_iter`` for user buffers: where ``sendmsg`` copies from.

A :class:`MsgIter` walks a list of buffers (``sendmsg``'s iovec) without joining them.  Copies
out of it are slice assignments; the common single-buffer case hands out ``memoryview`` slices
of the caller's buffer itself, so a 16 KiB ``send`` costs exactly one copy — into the page.

A :class:`BvecIter` is the in-kernel ``ITER_BVEC`` iterator over ``(page, offset, len)``
ranges that ``MSG_SPLICE_PAGES`` senders (TLS's ``tls_push_sg``) hand to ``tcp_sendmsg_locked``:
the pages are referenced, not copied, and :meth:`BvecIter.extract_page` hands them out one
``PAGE_SIZE`` sub-page at a time, as ``iov_iter_extract_pages`` does (lib/iov_iter.c).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..mm.page import PAGE_SHIFT, PAGE_SIZE, Page
from ..wire.checksum import csum_block_add, csum_partial

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["BvecIter", "MsgIter"]


class MsgIter:
    """A cursor over ``sendmsg``'s buffers.  ``count`` is the bytes not yet consumed."""

    __slots__ = ("_bufs", "_idx", "_off", "count")

    def __init__(self, buffers: Iterable[Buffer]) -> None:
        bufs: list[memoryview] = []
        count = 0
        for buf in buffers:
            view = memoryview(buf)
            if view.format != "B" or view.ndim != 1 or not view.c_contiguous:
                view = view.cast("B")
            if n := len(view):
                bufs.append(view)
                count += n
        self._bufs = bufs
        self._idx = 0
        self._off = 0
        self.count = count

    @classmethod
    def single(cls, data: Buffer) -> MsgIter:
        """An iterator over one buffer (the ``send``/``sendto`` case)."""
        return cls((data,))

    def take(self, n: int) -> memoryview:
        """The next ``n`` bytes (``n <= count``), consumed.  A slice of the caller's buffer
        when they lie in one buffer, else a copy."""
        if n > self.count:
            raise ValueError(f"take({n}) with {self.count} bytes left")
        self.count -= n
        buf = self._bufs[self._idx] if n else memoryview(b"")
        off = self._off
        end = off + n
        if end <= len(buf):
            if end == len(buf) and self._idx + 1 < len(self._bufs):
                self._idx += 1
                self._off = 0
            else:
                self._off = end
            return buf[off:end]
        out = bytearray(n)
        pos = 0
        while pos < n:
            buf = self._bufs[self._idx]
            k = min(len(buf) - self._off, n - pos)
            out[pos : pos + k] = buf[self._off : self._off + k]
            pos += k
            self._off += k
            if self._off == len(buf) and self._idx + 1 < len(self._bufs):
                self._idx += 1
                self._off = 0
        return memoryview(out)

    def copy_to(self, dst: memoryview, n: int) -> None:
        """``copy_from_iter``: consume ``n`` bytes into ``dst[:n]``."""
        dst[:n] = self.take(n)

    def csum_and_copy_to(self, dst: memoryview, n: int, csum: int, odd: int) -> int:
        """``csum_and_copy_from_iter`` + ``csum_block_add``: copy ``n`` bytes and fold their
        sum into ``csum`` as a block starting at byte ``odd`` of the packet."""
        data = self.take(n)
        dst[:n] = data
        return csum_block_add(csum, csum_partial(data), odd)


class BvecIter(MsgIter):
    """``ITER_BVEC``: a cursor over page ranges (``struct bio_vec``), for ``MSG_SPLICE_PAGES``.
    ``count`` is the bytes not yet handed out.  Holds no page references itself: the caller
    keeps the pages alive while the send runs (``tls_push_sg`` holds one per entry)."""

    __slots__ = ("_vecs", "_vidx", "_voff")

    def __init__(self, vecs: list[tuple[Page, int, int]]) -> None:
        super().__init__(())
        self._vecs = vecs
        self._vidx = 0
        self._voff = 0
        self.count = sum(v[2] for v in vecs)

    def extract_page(self, maxsize: int) -> tuple[Page, int, int]:
        """The next piece, at most ``maxsize`` bytes and never past the end of a 4 KiB
        sub-page: ``(subpage, offset in it, len)``, consumed (``iov_iter_extract_pages`` with
        ``bvec_iter``'s single-page segments, include/linux/bvec.h)."""
        page, off, length = self._vecs[self._vidx]
        head = page.head
        pos = (page.index << PAGE_SHIFT) + off + self._voff  # from the compound page's start
        in_page = pos & (PAGE_SIZE - 1)
        n = min(length - self._voff, PAGE_SIZE - in_page, maxsize)
        self._voff += n
        if self._voff == length:
            self._vidx += 1
            self._voff = 0
        self.count -= n
        return head.subpage(pos >> PAGE_SHIFT), in_page, n

    def revert(self, n: int) -> None:
        """``iov_iter_revert``: give back the last ``n`` bytes handed out."""
        self.count += n
        while n:
            if self._voff == 0:
                self._vidx -= 1
                self._voff = self._vecs[self._vidx][2]
            k = min(n, self._voff)
            self._voff -= k
            n -= k

    def take(self, n: int) -> memoryview:
        raise TypeError("a BvecIter is spliced (extract_page), not copied from")
