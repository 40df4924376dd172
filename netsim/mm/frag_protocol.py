"""The :class:`FragAllocator` protocol — what protocol code may call on the allocator
``sk_page_frag()`` returns — and the registry of allocators by name (see
:mod:`netsim.mm.frag_allocator` for the model; it re-exports all of this).

A module of its own, which the compiled build leaves as Python: the protocol is
``@runtime_checkable`` (``isinstance(x, FragAllocator)`` checks a plug-in), which a compiled
class cannot be, and the registry loads entry points, whose errors it chains
(``raise ... from``) as plain Python does.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .allocator import PageSource
    from .frag_allocator import FragSpan
    from .page import Page

__all__ = [
    "ENTRY_POINT_GROUP",
    "FragAllocator",
    "FragAllocatorFactory",
    "available_frag_allocators",
    "get_frag_allocator",
]

ENTRY_POINT_GROUP: Final = "netsim.frag_allocators"


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


FragAllocatorFactory = Callable[["PageSource"], FragAllocator]


def _builtins() -> dict[str, FragAllocatorFactory]:
    from .page_frag import PageFrag
    from .page_frag_cache import PageFragCache, PageFragCacheCountdown

    return {
        "page_frag": PageFrag,
        "page_frag_cache": PageFragCache,
        "page_frag_cache_countdown": PageFragCacheCountdown,
    }


def available_frag_allocators() -> dict[str, FragAllocatorFactory]:
    """Every allocator by name: the built-ins, then the ``netsim.frag_allocators`` entry points.

    The entry points are read on every call, so a distribution installed (or a path added to
    ``sys.path``) at run time is seen.  A broken entry point is skipped here and reported by
    :func:`get_frag_allocator` when asked for by name.
    """
    found = _builtins()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue
        try:
            found[ep.name] = ep.load()
        except Exception:
            continue
    return found


def get_frag_allocator(name: str) -> FragAllocatorFactory:
    """The factory registered as ``name``: ``get_frag_allocator("page_frag_cache")(pa)``.

    Raises ``ValueError`` naming the available allocators when ``name`` is unknown, and
    re-raises an entry point's import error with context.
    """
    builtins = _builtins()
    if name in builtins:
        return builtins[name]
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            factory: FragAllocatorFactory = ep.load()
        except Exception as exc:
            raise ValueError(f"frag allocator {name!r} ({ep.value}) failed to load") from exc
        if not callable(factory):
            raise ValueError(f"frag allocator {name!r} ({ep.value}) is not callable")
        return factory
    names = ", ".join(sorted(available_frag_allocators()))
    raise ValueError(f"unknown frag allocator {name!r}; available: {names}")
