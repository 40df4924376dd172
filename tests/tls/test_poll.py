"""``is_readable()`` on a kTLS receiver is ``tls_sk_poll``'s: a whole record (or decrypted
bytes not yet read), not TCP's queue — part of a record is not readable, and bytes kTLS has
already taken out of TCP's queue are."""

from __future__ import annotations

import trio
import trio.testing

import netsim
from netsim import MSG_DONTWAIT, SOL_TCP, SOL_TLS, TCP_ULP, TLS_RX, TLS_TX
from netsim.tls import tls_crypto_info

INFO = tls_crypto_info(bytes(16), bytes(8), bytes(4))


async def test_partial_record_is_not_readable_whole_one_is(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b, mtu=1500, rate=1e6, delay=0.001)  # 16 KiB take ~135 ms to cross
        listener = b.socket()
        await listener.bind(("", 4433))
        listener.listen()
        client = a.socket()
        await client.connect(("10.0.0.2", 4433))
        server, _ = await listener.accept()
        client.setsockopt(SOL_TCP, TCP_ULP, b"tls")
        client.setsockopt(SOL_TLS, TLS_TX, INFO)
        server.setsockopt(SOL_TCP, TCP_ULP, b"tls")
        server.setsockopt(SOL_TLS, TLS_RX, INFO)
        assert not server.is_readable()
        await client.send(b"r" * 16384)
        await trio.sleep(0.03)  # a few segments of the record have arrived
        tcp = server.tcp_sk
        assert tcp.rcv_nxt - tcp.copied_seq > 0
        assert not server.is_readable()
        await trio.sleep(1)
        assert server.is_readable()
        assert await server.recv(100) == b"r" * 100
        assert server.is_readable()  # 16284 decrypted bytes wait, TCP's queue is empty
        assert not tcp.sk_receive_queue
        assert await server.recv(65536, MSG_DONTWAIT) == b"r" * 16284
        assert not server.is_readable()
        client.close()
        await trio.sleep(1)
        assert server.is_readable()  # the end of the stream
        assert await server.recv(10) == b""
        for sock in (server, listener):
            sock.close()
