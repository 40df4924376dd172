"""Load: many TCP connections at once on one host, and many in a row.

* 1,000 concurrent connections over loopback, each moving its own bytes both ways, every
  byte checked; the listen queue, the established table and the ports hold, and every page
  comes back.
* 10,000 sequential connect / transfer / close cycles from one client, with only 500
  ephemeral ports: the client's ends sit in TIME_WAIT (60 s), so a connect either finds a
  port never used, or takes over a TIME_WAIT socket older than ``tcp_tw_reuse_delay``
  (``tcp_tw_reuse = 2``, loopback: ``TWRecycled``), as Linux recycles ports.

Both carry the ``slow`` marker; by default they run at a quarter and a tenth of the size
(``NETSIM_FULL=1`` for the full counts)."""

from __future__ import annotations

import os

import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, SOCK_STREAM
from netsim.testing.allow import REUSED_PORTS

FULL = os.environ.get("NETSIM_FULL") == "1"
CONCURRENT = 1000 if FULL else 250
CYCLES = 10_000 if FULL else 1000

pytestmark = pytest.mark.slow


async def _send_all(sock: netsim.Socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[await sock.send(view) :]


def _payload(i: int, n: int) -> bytes:
    return (i.to_bytes(4, "big") * (n // 4 + 1))[:n]


async def test_a_thousand_concurrent_connections(
    autojump_clock: trio.testing.MockClock,
) -> None:
    size = 20_000  # a few segments each way, beyond one skb
    async with netsim.open_host() as host:
        listener = host.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("127.0.0.1", 5001))
        listener.listen(CONCURRENT)
        done: list[int] = []

        async def serve_one(conn: netsim.Socket) -> None:
            with conn:
                got = bytearray()
                while len(got) < 4:
                    got += await conn.recv(4 - len(got))
                i = int.from_bytes(got, "big")
                while len(got) < size:
                    chunk = await conn.recv(size - len(got))
                    assert chunk
                    got += chunk
                assert bytes(got) == _payload(i, size)
                await _send_all(conn, _payload(i + 1, size))
                assert await conn.recv(1) == b""

        async def server(nursery: trio.Nursery) -> None:
            for _ in range(CONCURRENT):
                conn, _ = await listener.accept()
                nursery.start_soon(serve_one, conn)

        async def client(i: int) -> None:
            sock = host.socket(AF_INET, SOCK_STREAM)
            with sock:
                await sock.connect(("127.0.0.1", 5001))
                await _send_all(sock, _payload(i, size))
                got = bytearray()
                while len(got) < size:
                    chunk = await sock.recv(size - len(got))
                    assert chunk
                    got += chunk
                assert bytes(got) == _payload(i + 1, size)
                sock.shutdown(netsim.SHUT_WR)
                done.append(i)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(server, nursery)
            # all connect before any finishes: every connection is open at once
            async with trio.open_nursery() as clients:
                for i in range(CONCURRENT):
                    clients.start_soon(client, i)
                await trio.testing.wait_all_tasks_blocked()
                assert len(host.net.tcp_ehash) >= CONCURRENT
        assert sorted(done) == list(range(CONCURRENT))
        stats = host.stats()
        assert stats["TcpActiveOpens"] == CONCURRENT
        assert stats["TcpPassiveOpens"] == CONCURRENT
        assert stats["TcpExtListenOverflows"] == stats["TcpExtListenDrops"] == 0
        assert stats["TcpRetransSegs"] == 0
        listener.close()


@REUSED_PORTS
async def test_ten_thousand_cycles_recycle_time_wait_ports(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host() as host:
        listener = host.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("127.0.0.1", 5001))
        listener.listen(16)
        host.sysctl["net.ipv4.ip_local_port_range"] = "40000 40499"
        ports: set[int] = set()

        async def server() -> None:
            for _ in range(CYCLES):
                conn, _ = await listener.accept()
                with conn:
                    data = await conn.recv(100)
                    await _send_all(conn, data[::-1])
                    assert await conn.recv(1) == b""

        async with trio.open_nursery() as nursery:
            nursery.start_soon(server)
            for i in range(CYCLES):
                sock = host.socket(AF_INET, SOCK_STREAM)
                await sock.connect(("127.0.0.1", 5001))
                ports.add(sock.getsockname()[1])
                message = i.to_bytes(8, "big") + b"ping"
                await _send_all(sock, message)
                reply = await sock.recv(100)
                assert reply == message[::-1]
                sock.close()  # the client closes first: its end goes to TIME_WAIT
                await trio.sleep(0.01)
        stats = host.stats()
        assert len(ports) <= 500
        assert stats["TcpActiveOpens"] == CYCLES
        # every cycle took a port never used before, or a TIME_WAIT socket's
        assert stats["TcpExtTWRecycled"] == CYCLES - len(ports)
        assert stats["TcpAttemptFails"] == 0
        listener.close()
