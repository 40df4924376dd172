"""The plugin's trio fixtures work in a test that asks for virtual time."""

from __future__ import annotations

import pytest
import trio

import netsim


async def test_udp_pair_exchanges_datagrams(
    netsim_udp_pair: tuple[netsim.Socket, netsim.Socket], autojump_clock: trio.abc.Clock
) -> None:
    a, b = netsim_udp_pair
    await a.send(b"ping")
    assert await b.recv(100) == b"ping"
    await b.send(b"pong" * 1000)
    assert await a.recv(10000) == b"pong" * 1000


@pytest.mark.parametrize("netsim_host", ["page_frag", "page_frag_cache"], indirect=True)
async def test_host_allocator_is_parametrisable(netsim_host: netsim.Host) -> None:
    assert netsim_host.net.allocator_name in ("page_frag", "page_frag_cache")
