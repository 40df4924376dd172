"""Page-leak checks for tests: every page given back, every refcount zero."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import PageLeakError
from ..mm import PageAllocator

__all__ = ["assert_no_page_leaks"]


def assert_no_page_leaks(allocators: Iterable[PageAllocator], context: str = "") -> None:
    """Raise :class:`~netsim.PageLeakError` with a report of every live page, if any
    allocator still has one.  Call it at the end of a hypothesis example (a fixture teardown
    cannot shrink) or anywhere a test wants the check earlier than teardown."""
    reports = [pa.leak_report() for pa in allocators]
    reports = [r for r in reports if r]
    if reports:
        where = f" {context}" if context else ""
        raise PageLeakError(f"page leak{where}", "\n".join(reports))
