"""netsim's own suite: every test ends with the page-leak check (the plugin's opt-in fixture,
applied here to everything); ``tls_pair``, a kTLS socket pair, for the kTLS tests; ``netns``, a
namespace of the machine's own kernel.  What a test's packet captures may show under
``--netsim-capture`` it declares itself (``netsim.testing.allow``, docs/captures.md)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest

import netsim
from netsim import SOL_TCP, SOL_TLS, TCP_ULP, TLS_RX, TLS_TX
from netsim.dev import NETIF_F_HW_TLS_TX
from netsim.mm import PageAllocator


@pytest.fixture(autouse=True)
def _leak_check_every_test(page_leak_check: list[PageAllocator]) -> None:
    """Apply netsim's page-leak check to every test in this suite."""


async def _tls_pair(
    host: netsim.Host, info: bytes, *, device: bool = False
) -> tuple[netsim.Socket, netsim.Socket, netsim.Socket]:
    """``(listener, client, server)`` on 127.0.0.1:4433: the client sends with ``TLS_TX``,
    the server reads with ``TLS_RX``, both with ``info``; ``device``: ``lo`` offloads TLS."""
    if device:
        host.devices["lo"].features |= NETIF_F_HW_TLS_TX
    listener = host.socket()
    await listener.bind(("127.0.0.1", 4433))
    listener.listen()
    client = host.socket()
    await client.connect(("127.0.0.1", 4433))
    server, _ = await listener.accept()
    for sock, direction in ((client, TLS_TX), (server, TLS_RX)):
        sock.setsockopt(SOL_TCP, TCP_ULP, b"tls")
        sock.setsockopt(SOL_TLS, direction, info)
    return listener, client, server


#: what the ``tls_pair`` fixture gives: ``await tls_pair(host, info, device=False)``
TlsPair = Callable[..., Awaitable[tuple[netsim.Socket, netsim.Socket, netsim.Socket]]]


@pytest.fixture
def tls_pair() -> TlsPair:
    """``await tls_pair(host, info, device=False)``: ``(listener, client, server)``."""
    return _tls_pair


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace of the machine's own kernel, made for the test and deleted after
    it (``ip netns add``; the tests that take it need root and skip without it)."""
    name = f"nstest-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
