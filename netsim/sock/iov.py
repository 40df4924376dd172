"""``struct iov_iter`` for user buffers: where ``sendmsg`` copies from.

A :class:`MsgIter` walks a list of buffers (``sendmsg``'s iovec) without joining them.  Copies
out of it are slice assignments; the common single-buffer case hands out ``memoryview`` slices
of the caller's buffer itself, so a 16 KiB ``send`` costs exactly one copy — into the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..wire.checksum import csum_block_add, csum_partial

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["MsgIter"]


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
