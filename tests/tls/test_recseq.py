"""A record number may not wrap (selftest ``tls_basic.recseq_wrap``): TX keys whose
``rec_seq`` is all ones send one record number, 2**64 - 1; advancing past it aborts the socket
with ``EBADMSG`` (``tls_advance_record_sn`` → ``tls_err_abort``).  In software mode the send
that made that record fails with ``EBADMSG`` and the record is not sent
(``bpf_exec_tx_verdict`` takes its bytes back)."""

from __future__ import annotations

import errno

import pytest
import trio
import trio.testing

import netsim
from netsim import SOL_TCP, SOL_TLS, TCP_ULP, TLS_RX, TLS_TX
from netsim.tls import tls_crypto_info


async def test_sw_record_number_wrap_is_ebadmsg(autojump_clock: trio.testing.MockClock) -> None:
    info = tls_crypto_info(bytes(16), bytes(8), bytes(4), rec_seq=b"\xff" * 8)
    async with netsim.open_host() as host:
        listener = host.socket()
        await listener.bind(("127.0.0.1", 4433))
        listener.listen()
        client = host.socket()
        await client.connect(("127.0.0.1", 4433))
        server, _ = await listener.accept()
        client.setsockopt(SOL_TCP, TCP_ULP, b"tls")
        client.setsockopt(SOL_TLS, TLS_TX, info)
        server.setsockopt(SOL_TCP, TCP_ULP, b"tls")
        server.setsockopt(SOL_TLS, TLS_RX, info)
        with pytest.raises(OSError, match="wrapped") as exc:
            await client.send(b"test_read\0")
        assert exc.value.errno == errno.EBADMSG
        assert host.stats()["tls_records"] == 0
        assert client.tcp_sk.write_seq == client.tcp_sk.snd_una  # nothing reached TCP
        for sock in (client, server, listener):
            sock.close()


async def test_content_type_zero_is_ebadmsg(autojump_clock: trio.testing.MockClock) -> None:
    """``tls_record_content_type``: a record of type 0 is not handed to the reader, it is
    ``EBADMSG`` (and stays: the next read says the same)."""
    info = tls_crypto_info(bytes(16), bytes(8), bytes(4))
    async with netsim.open_host() as host:
        listener = host.socket()
        await listener.bind(("127.0.0.1", 4433))
        listener.listen()
        client = host.socket()
        await client.connect(("127.0.0.1", 4433))
        server, _ = await listener.accept()
        client.setsockopt(SOL_TCP, TCP_ULP, b"tls")
        client.setsockopt(SOL_TLS, TLS_TX, info)
        server.setsockopt(SOL_TCP, TCP_ULP, b"tls")
        server.setsockopt(SOL_TLS, TLS_RX, info)
        await client.sendmsg([b"zz"], [(SOL_TLS, netsim.TLS_SET_RECORD_TYPE, b"\0")])
        for _ in range(2):
            with pytest.raises(OSError, match="content type 0") as exc:
                await server.recvmsg(65536, 64)
            assert exc.value.errno == errno.EBADMSG
        for sock in (client, server, listener):
            sock.close()
