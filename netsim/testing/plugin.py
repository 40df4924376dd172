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

With pytest-trio installed (trio fixtures):

``netsim_host``
    An emulated host (``netsim.open_host``), allocator ``page_frag_cache`` unless the test
    parametrises it indirectly: ``@pytest.mark.parametrize("netsim_host", ["page_frag"],
    indirect=True)``.  Leaving it raises if any page is still referenced.
``netsim_udp_pair``
    Two UDP sockets on ``netsim_host``, bound on 127.0.0.1 and connected to each other.

pytest-trio takes the clock only from the test function's own arguments: a test that wants
virtual time asks for ``autojump_clock`` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import pytest

from ..mm import FragAllocator, PageAllocator, available_frag_allocators, track_page_allocators
from .leaks import assert_no_page_leaks

__all__ = ["frag_allocator", "page_allocator", "page_leak_check"]

try:
    import pytest_trio
except ImportError:  # pragma: no cover - the trio fixtures need pytest-trio
    pytest_trio = None

_F = TypeVar("_F", bound=Callable[..., Any])


def _trio_fixture(fn: _F) -> _F:
    """``pytest_trio.trio_fixture``, typed."""
    return cast(_F, pytest_trio.trio_fixture(fn))


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


if pytest_trio is not None:
    from collections.abc import AsyncIterator

    from ..runtime import Host, Socket, open_host
    from ..sock.constants import AF_INET, SOCK_DGRAM, SOCK_STREAM

    __all__ += ["netsim_host", "netsim_tcp_pair", "netsim_udp_pair"]

    @_trio_fixture
    async def netsim_host(request: pytest.FixtureRequest) -> AsyncIterator[Host]:
        """An emulated host; ``request.param`` (indirect parametrisation) picks the allocator."""
        allocator = getattr(request, "param", "page_frag_cache")
        async with open_host(allocator=allocator, name="netsim_host") as host:
            yield host

    @_trio_fixture
    async def netsim_udp_pair(netsim_host: Host) -> AsyncIterator[tuple[Socket, Socket]]:
        """Two UDP sockets on ``netsim_host``, each connected to the other over 127.0.0.1."""
        a = netsim_host.socket(AF_INET, SOCK_DGRAM)
        b = netsim_host.socket(AF_INET, SOCK_DGRAM)
        await a.bind(("127.0.0.1", 0))
        await b.bind(("127.0.0.1", 0))
        await a.connect(b.getsockname())
        await b.connect(a.getsockname())
        try:
            yield a, b
        finally:
            a.close()
            b.close()

    @_trio_fixture
    async def netsim_tcp_pair(netsim_host: Host) -> AsyncIterator[tuple[Socket, Socket]]:
        """A connected TCP pair on ``netsim_host`` over 127.0.0.1: ``(client, server)``, the
        server side from ``accept()``.  The listener is closed before the test runs."""
        listener = netsim_host.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = netsim_host.socket(AF_INET, SOCK_STREAM)
        await client.connect(listener.getsockname())
        server, _ = await listener.accept()
        listener.close()
        try:
            yield client, server
        finally:
            client.close()
            server.close()
