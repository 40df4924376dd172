"""netsim's pytest plugin (entry point ``pytest11: netsim``).

Fixtures:

``page_leak_check``
    Opt-in.  Collects every :class:`~netsim.mm.PageAllocator` created while the test runs
    (including those inside hosts) and fails the test at teardown if any page is still
    referenced, with the leak report.  Request it, or add it to ``usefixtures`` /
    an ``autouse`` fixture in your own ``conftest.py``.  The plugin never applies it by itself,
    so unrelated tests are untouched.
``page_allocator``
    A fresh allocator with free-page poisoning on, leak-checked at teardown.
``frag_allocator``
    Parametrised over every registered fragment allocator (``page_frag``,
    ``page_frag_cache``, ``page_frag_cache_countdown`` and any ``netsim.frag_allocators``
    entry point), built on ``page_allocator``; drained and leak-checked at teardown.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..mm import FragAllocator, PageAllocator, available_frag_allocators, track_page_allocators
from .leaks import assert_no_page_leaks

__all__ = ["frag_allocator", "page_allocator", "page_leak_check"]


@pytest.fixture
def page_leak_check() -> Iterator[list[PageAllocator]]:
    """Fail the test if any page allocator created during it still has live pages."""
    with track_page_allocators() as created:
        yield created
    assert_no_page_leaks(created, "at test teardown")


@pytest.fixture
def page_allocator(page_leak_check: list[PageAllocator]) -> PageAllocator:
    """A :class:`~netsim.mm.PageAllocator` with poisoning on, leak-checked at teardown."""
    return PageAllocator(poison=True)


@pytest.fixture(params=sorted(available_frag_allocators()))
def frag_allocator(
    request: pytest.FixtureRequest, page_allocator: PageAllocator
) -> Iterator[FragAllocator]:
    """Each registered fragment allocator in turn, drained at teardown."""
    factory = available_frag_allocators()[request.param]
    allocator = factory(page_allocator)
    yield allocator
    allocator.drain()
