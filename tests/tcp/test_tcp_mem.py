"""TCP's memory pool (``net.ipv4.tcp_mem``, in pages): every page a socket pre-charges to
``sk_forward_alloc`` for its send queue counts in the host's ``tcp_memory_allocated``
(``__sk_mem_raise_allocated``, net/core/sock.c); past ``tcp_mem[1]`` TCP is under memory
pressure (``TcpExtTCPMemoryPressures``), past ``tcp_mem[2]`` a socket's charge is refused
and its ``sk_sndbuf`` moderated (``sk_stream_moderate_sndbuf``) — it then waits for
room, never fails — and ``tcp_wmem_schedule`` trims a copy to what is pre-charged.  Pages
go back as ACKs free the queue (``sk_mem_reclaim``), and all of them when a socket dies."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, SOCK_STREAM

MIB = 1 << 20


async def _pair(host: netsim.Host) -> tuple[netsim.Socket, netsim.Socket, netsim.Socket]:
    listener = host.socket(AF_INET, SOCK_STREAM)
    await listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = host.socket(AF_INET, SOCK_STREAM)
    await client.connect(listener.getsockname())
    server, _ = await listener.accept()
    return listener, client, server


@pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])
async def test_a_tiny_tcp_mem_slows_a_writer_but_loses_nothing(
    allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with netsim.open_host(allocator) as host:
        host.sysctl["net.ipv4.tcp_mem"] = (4, 8, 16)  # pages: 16, 32 and 64 KiB
        listener, client, server = await _pair(host)
        initial = client.sk.sk_sndbuf
        smallest = initial
        payload = bytes(range(256)) * (MIB // 256)
        got = bytearray()

        async def read() -> None:
            nonlocal smallest
            while len(got) < MIB:
                smallest = min(smallest, client.sk.sk_sndbuf)  # before the read's ACK, too
                got.extend(await server.recv(65536))
                smallest = min(smallest, client.sk.sk_sndbuf)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            assert await client.send(payload) == MIB
        assert got == payload
        stats = host.stats()
        assert stats["TcpExtTCPMemoryPressures"] >= 1
        assert smallest < initial  # moderated under pressure
        # everything acknowledged and reclaimed: the pool is empty, the pressure over
        assert host.net.tcp_memory_allocated == 0
        assert not host.net.tcp_memory_pressure
        for sock in (client, server, listener):
            sock.close()


async def test_the_default_pool_is_never_under_pressure_and_balances(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        listener, client, server = await _pair(host)
        charged = []

        async def read() -> None:
            n = 0
            while n < 8 * MIB:
                n += len(await server.recv(MIB))
                charged.append(host.net.tcp_memory_allocated)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await client.send(bytes(8 * MIB))
        assert max(charged) > 0  # the send queue's pages were in the pool meanwhile
        assert host.stats()["TcpExtTCPMemoryPressures"] == 0
        client.close()
        server.close()
        listener.close()
        await trio.sleep(1)
        assert host.net.tcp_memory_allocated == 0
