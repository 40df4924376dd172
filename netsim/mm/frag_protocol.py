"""The :class:`FragAllocator` protocol: what protocol code may call on the allocator
``sk_page_frag()`` returns (see :mod:`netsim.mm.frag_allocator` for the model).

A module of its own because it is ``@runtime_checkable`` (``isinstance(x, FragAllocator)``
checks a plug-in), which a mypyc-compiled class cannot be: the compiled build leaves this
module as Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .frag_allocator import FragSpan
    from .page import Page

__all__ = ["FragAllocator"]


@runtime_checkable
class FragAllocator(Protocol):
    """What protocol code may call on the allocator ``sk_page_frag()`` returns."""

    @property
    def name(self) -> str:
        """The allocator's registered name (a class attribute)."""

    @property
    def page(self) -> Page | None:
        """The page the allocator currently carves from (``None`` when empty)."""

    @property
    def offset(self) -> int:
        """The allocator's current offset into :attr:`page`."""

    def prepare(
        self, fragsz: int, gfp: int, align: int = 1, *, want: int | None = None
    ) -> FragSpan | None:
        """Ensure room for ``fragsz`` bytes; describe it.  Consumes nothing."""

    def probe(self, fragsz: int, align: int = 1, *, want: int | None = None) -> FragSpan | None:
        """Describe the current room if ``fragsz`` bytes fit; never allocates."""

    def commit(self, span: FragSpan, used: int) -> int:
        """Consume ``used`` bytes of ``span``; the caller now owns one page reference."""

    def commit_noref(self, span: FragSpan, used: int) -> int:
        """Consume ``used`` bytes of ``span`` without handing out a reference."""

    def abort(self, fragsz: int) -> None:
        """Give back the last commit of ``fragsz`` bytes and its reference."""

    def alloc(self, fragsz: int, gfp: int, align: int = 1) -> tuple[Page, int] | None:
        """Allocate a ``fragsz``-byte fragment: ``(page, offset)`` with one reference."""

    def drain(self) -> None:
        """Drop the allocator's own hold on its current page."""
