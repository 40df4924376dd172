"""A record number may not wrap (selftest ``tls_basic.recseq_wrap``): TX keys whose
``rec_seq`` is all ones send one record number, 2**64 - 1; advancing past it aborts the socket
with ``EBADMSG`` (``tls_advance_record_sn`` → ``tls_err_abort``).  In software mode the send
that made that record fails with ``EBADMSG`` and the record is not sent
(``bpf_exec_tx_verdict`` takes its bytes back)."""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

import netsim
from netsim import SOL_TLS
from netsim.tls import tls_crypto_info

TlsPair = Callable[..., Awaitable[tuple[netsim.Socket, netsim.Socket, netsim.Socket]]]


async def test_sw_record_number_wrap_is_ebadmsg(
    autojump_clock: trio.testing.MockClock, tls_pair: TlsPair
) -> None:
    info = tls_crypto_info(bytes(16), bytes(8), bytes(4), rec_seq=b"\xff" * 8)
    async with netsim.open_host() as host:
        listener, client, server = await tls_pair(host, info)
        with pytest.raises(OSError, match="wrapped") as exc:
            await client.send(b"test_read\0")
        assert exc.value.errno == errno.EBADMSG
        assert host.stats()["tls_records"] == 0
        assert client.tcp_sk.write_seq == client.tcp_sk.snd_una  # nothing reached TCP
        for sock in (client, server, listener):
            sock.close()


async def test_content_type_zero_is_ebadmsg(
    autojump_clock: trio.testing.MockClock, tls_pair: TlsPair
) -> None:
    """``tls_record_content_type``: a record of type 0 is not handed to the reader, it is
    ``EBADMSG`` (and stays: the next read says the same)."""
    info = tls_crypto_info(bytes(16), bytes(8), bytes(4))
    async with netsim.open_host() as host:
        listener, client, server = await tls_pair(host, info)
        await client.sendmsg([b"zz"], [(SOL_TLS, netsim.TLS_SET_RECORD_TYPE, b"\0")])
        for _ in range(2):
            with pytest.raises(OSError, match="content type 0") as exc:
                await server.recvmsg(65536, 64)
            assert exc.value.errno == errno.EBADMSG
        for sock in (client, server, listener):
            sock.close()
