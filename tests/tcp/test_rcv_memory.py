"""Receive memory: what ``tcp_data_queue`` does when ``sk_rcvbuf`` has no room.

Found by the property tests (tests/property/test_socket_ops.py): a reader that shrinks
``SO_RCVBUF`` below one segment after the handshake has already offered a larger window.
The first 32 KiB segment does not fit and is dropped; the next one goes to the out-of-order
queue and holds 33 KiB of ``sk_rmem_alloc``.  Linux still takes the retransmitted in-order
segment, because its receive queue is empty (net/ipv4/tcp_input.c ``tcp_data_queue``:
``sk_forced_mem_schedule``); netsim used to refuse it on every retransmission, forever.
"""

from __future__ import annotations

import trio
import trio.testing

import netsim
from netsim import AF_INET, MSG_DONTWAIT, SHUT_WR, SO_RCVBUF, SOCK_STREAM, SOL_SOCKET

SIZE = 200 * 1024


async def test_an_empty_receive_queue_takes_the_in_order_segment(
    autojump_clock: trio.testing.MockClock,
) -> None:
    payload = bytes(range(256)) * (SIZE // 256)
    async with netsim.open_host(allocator="page_frag") as host:
        listener = host.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("127.0.0.1", 5001))
        listener.listen(1)
        client = host.socket(AF_INET, SOCK_STREAM)
        await client.connect(("127.0.0.1", 5001))
        server, _ = await listener.accept()
        client.setsockopt(SOL_SOCKET, SO_RCVBUF, 0)  # 2304 bytes, after a 64 KiB window
        assert await server.send(payload, MSG_DONTWAIT) == SIZE
        server.shutdown(SHUT_WR)

        got = bytearray()
        with trio.fail_after(60):
            while data := await client.recv(SIZE):
                got += data
        assert got == payload
        assert host.stats()["TcpExtTCPRcvQDrop"] > 0  # the buffer did overflow
        for sock in (client, server, listener):
            sock.close()
