"""The sender's chronographs (include/net/tcp.h ``tcp_chrono_*``): ``tcp_info``'s
``tcpi_busy_time`` (time with data queued or in flight), ``tcpi_rwnd_limited`` (of it, time
stalled by the receiver's window) and ``tcpi_sndbuf_limited`` (time the application waited for
send-buffer room while the network starved), in µs.  The kernel's packetdrill script
``tcp_info/tcp-info-rwnd-limited`` passes against netsim too."""

from __future__ import annotations

import trio
import trio.testing

import netsim
from netsim import AF_INET, IPPROTO_TCP, SO_RCVBUF, SOCK_STREAM, SOL_SOCKET, TCP_CORK, TCP_INFO
from netsim.tcp import TcpSock
from netsim.tcp.options import tcp_info_fields
from netsim.tcp.output import (
    TCP_CHRONO_RWND_LIMITED,
    TCP_CHRONO_SNDBUF_LIMITED,
    tcp_chrono_start,
    tcp_chrono_stop,
)


def _chrono(sock: netsim.Socket) -> tuple[int, int, int]:
    info = tcp_info_fields(sock.getsockopt(IPPROTO_TCP, TCP_INFO, 280))
    return info["tcpi_busy_time"], info["tcpi_rwnd_limited"], info["tcpi_sndbuf_limited"]


async def _pair(
    a: netsim.Host, b: netsim.Host, addr: str, rcvbuf: int = 0
) -> tuple[netsim.Socket, netsim.Socket]:
    listener = b.socket(AF_INET, SOCK_STREAM)
    if rcvbuf:
        listener.setsockopt(SOL_SOCKET, SO_RCVBUF, rcvbuf)  # the children inherit it
    await listener.bind((addr, 0))
    listener.listen(1)
    client = a.socket(AF_INET, SOCK_STREAM)
    await client.connect(listener.getsockname())
    server, _ = await listener.accept()
    listener.close()
    return client, server


async def test_a_closed_receive_window_is_rwnd_limited_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A reader that takes nothing closes its window: the time the sender then spends with
    data queued counts as receive-window-limited and busy; once the reader drains it and
    everything is acknowledged the sender is idle, and idle time counts nowhere."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, host, "127.0.0.1", rcvbuf=4096)
        assert _chrono(client) == (0, 0, 0)
        start = trio.current_time()
        sent = 0
        with trio.move_on_after(0.001):
            while True:
                sent += await client.send(b"x" * 65536)
        await trio.sleep_until(start + 1.0)
        busy, rwnd, sndbuf = _chrono(client)
        assert sndbuf == 0
        assert 990_000 <= rwnd <= busy == 1_000_000
        got = 0
        while got < sent:
            got += len(await server.recv(1 << 20))
        await trio.sleep(0.5)  # the probe timer finds the window open; all is acknowledged
        busy, rwnd, sndbuf = _chrono(client)
        assert rwnd <= busy
        await trio.sleep(2)  # idle: no chronograph runs
        assert _chrono(client) == (busy, rwnd, sndbuf)
        client.close()
        server.close()


async def test_the_chronographs_take_turns_by_precedence(
    netsim_tcp_pair: tuple[netsim.Socket, netsim.Socket], autojump_clock: trio.testing.MockClock
) -> None:
    """A corked write queues data: busy from then on (``tcp_add_write_queue_tail``).
    ``tcp_chrono_start`` lets a more interesting condition take over (busy < receive window <
    send buffer) and ignores a less interesting one; ``tcp_chrono_stop`` of the running one
    falls back to busy while anything is queued or in flight; time is charged to whichever
    ran, in jiffies (ms); once the data is sent and acknowledged the sender is idle."""
    client, server = netsim_tcp_pair
    sk = client.sk
    assert isinstance(sk, TcpSock)
    host = client.host
    client.setsockopt(IPPROTO_TCP, TCP_CORK, 1)
    assert await client.send(b"z" * 100) == 100  # held by the cork: queued, not sent
    await trio.sleep(0.010)
    host.now()  # the cores read the host's clock; a test calling them directly sets it
    tcp_chrono_start(sk, TCP_CHRONO_SNDBUF_LIMITED)
    await trio.sleep(0.020)
    host.now()
    tcp_chrono_start(sk, TCP_CHRONO_RWND_LIMITED)  # less interesting: ignored
    await trio.sleep(0.005)
    host.now()
    tcp_chrono_stop(sk, TCP_CHRONO_RWND_LIMITED)  # not the running one: ignored
    assert _chrono(client) == (35_000, 0, 25_000)
    tcp_chrono_stop(sk, TCP_CHRONO_SNDBUF_LIMITED)  # back to busy: data is still queued
    tcp_chrono_start(sk, TCP_CHRONO_RWND_LIMITED)
    await trio.sleep(0.004)
    assert _chrono(client) == (39_000, 4_000, 25_000)
    client.setsockopt(IPPROTO_TCP, TCP_CORK, 0)  # sent, and on loopback acknowledged at once
    assert await server.recv(200) == b"z" * 100
    await trio.sleep(1)
    assert _chrono(client) == (39_000, 4_000, 25_000)
