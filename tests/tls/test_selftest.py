"""The kernel's kTLS selftest (tools/testing/selftests/net/tls.c, Linux 6.18), case by case, on
netsim.  Each test's docstring names the case it mirrors; the assertions are the selftest's
``EXPECT``s, made exact where the selftest only checks ``!= -1``.

The ``tls`` fixture is the selftest's ``FIXTURE(tls)``: a connected pair, both with the ULP,
``fd`` with ``TLS_TX`` and ``cfd`` with ``TLS_RX`` (one key for both).  Its variants are a
representative set of the selftest's (``12_aes_gcm``, ``13_aes_gcm``, ``12_chacha``,
``13_chacha``, ``12_aes_ccm``, ``13_aes_ccm``, ``12_aes_gcm_256``, ``13_aes_gcm_256``,
``13_nopad``), spread over IPv4 and IPv6 loopback and both frag allocators, plus device-offload
transmit (``NETIF_F_HW_TLS_TX`` on ``lo``) for the TLS 1.2 AES-GCM ones.  SM4 and ARIA
variants are left out: netsim has no AEAD for them (``TLS_TX`` is ``ENOENT``, as on a kernel
without the crypto modules, where the selftest's setup fails the same way).

Cases not mirrored, and why:

* ``sendfile``, ``send_then_sendfile``, ``multi_chunk_sendfile``, ``splice_from_pipe``,
  ``splice_more``, ``splice_from_pipe2``, ``send_and_splice``, ``splice_to_pipe``,
  ``splice_cmsg_to_pipe``, ``splice_dec_cmsg_to_pipe``, ``recv_and_splice``,
  ``peek_and_splice``, ``splice_short``, ``splice_rekey``, ``rekey_peek_splice``,
  ``mutliproc_sendpage_*``: netsim has no ``sendfile``/``splice``/pipes;
* ``mutliproc_even``/``_readers``/``_writers``: several processes reading or writing one
  socket; a netsim socket takes one waiting task per direction (trio's rule);
* ``recv_efault``: a NULL ``iovec`` cannot be made from Python;
* ``rekey*`` (``rekey_rx``, ``rekey_tx``, ``rekey``, ``rekey_fail``, ``rekey_peek``,
  ``rekey_getsockopt``, ``rekey_poll_pending``, ``rekey_poll_delay``, …): TLS 1.3 key
  updates are not modelled (a second ``TLS_TX``/``TLS_RX`` is ``EBUSY`` in netsim);
* ``disconnect``: ``connect(AF_UNSPEC)`` of a TCP socket is not modelled;
* ``timeo``: no ``SO_RCVTIMEO`` (trio code uses cancel scopes instead);
* ``epoll_partial_rec``, ``poll_partial_rec_async``: no epoll, no fork;
* ``data_steal``: a reader blocked in TCP's ``recv`` while ``TLS_RX`` is set under it (fork);
* ``recseq_wrap``: mirrored in ``tests/tls/test_recseq.py``;
* ``recv_rcvbuf``: not in the 6.18 selftest.
"""

from __future__ import annotations

import errno
import random
import struct
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import pytest
import trio
import trio.testing
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    MSG_DONTWAIT,
    MSG_EOR,
    MSG_MORE,
    MSG_OOB,
    MSG_PEEK,
    MSG_WAITALL,
    SHUT_RDWR,
    SO_RCVLOWAT,
    SO_SNDBUF,
    SOCK_STREAM,
    SOL_SOCKET,
    SOL_TCP,
    SOL_TLS,
    TCP_ULP,
    TLS_1_2_VERSION,
    TLS_1_3_VERSION,
    TLS_CIPHER_AES_CCM_128,
    TLS_CIPHER_AES_GCM_128,
    TLS_CIPHER_AES_GCM_256,
    TLS_CIPHER_CHACHA20_POLY1305,
    TLS_GET_RECORD_TYPE,
    TLS_RX,
    TLS_RX_EXPECT_NO_PAD,
    TLS_SET_RECORD_TYPE,
    TLS_TX,
)
from netsim.dev import NETIF_F_HW_TLS_TX
from netsim.testing.allow import STALLED_READER, UNKNOWN_TLS_RECORD
from netsim.tls import tls_crypto_info, tls_info

LOCAL = {AF_INET: "127.0.0.1", AF_INET6: "::1"}
TLS_PAYLOAD_MAX_LEN = 16384
#: (iv, key, salt) sizes of each cipher's ``struct tls12_crypto_info_*``
SIZES = {
    TLS_CIPHER_AES_GCM_128: (8, 16, 4),
    TLS_CIPHER_AES_GCM_256: (8, 32, 4),
    TLS_CIPHER_AES_CCM_128: (8, 16, 4),
    TLS_CIPHER_CHACHA20_POLY1305: (12, 32, 0),
}


def crypto_info(version: int, cipher: int, key_generation: int = 0) -> bytes:
    """``tls_crypto_info_init``: every key byte ``key_generation``, record number 0."""
    iv, key, salt = SIZES[cipher]
    fill = bytes([key_generation]) * 64
    return tls_crypto_info(
        fill[:key], fill[:iv], fill[:salt], 0, version=version, cipher_type=cipher
    )


def memrnd(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


#: the old ``page_frag`` allocator (variant names say ``-pf``); the rest use ``page_frag_cache``
PF = "page_frag"


@dataclass(frozen=True)
class Variant:
    """A ``FIXTURE_VARIANT(tls)``, with where netsim runs it."""

    name: str
    tls_version: int
    cipher_type: int
    family: int = AF_INET
    allocator: str = "page_frag_cache"
    device: bool = False
    nopad: bool = False


VARIANTS = [
    Variant("12_aes_gcm", TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128),
    Variant("12_aes_gcm-hw-v6", TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128, AF_INET6, device=True),
    Variant("12_aes_gcm-hw-pf", TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128, AF_INET, PF, device=True),
    Variant("13_aes_gcm-v6-pf", TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128, AF_INET6, PF),
    Variant("12_chacha-pf", TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305, AF_INET, PF),
    Variant("13_chacha-v6", TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305, AF_INET6),
    Variant("12_aes_ccm-v6", TLS_1_2_VERSION, TLS_CIPHER_AES_CCM_128, AF_INET6),
    Variant("13_aes_ccm-pf", TLS_1_3_VERSION, TLS_CIPHER_AES_CCM_128, AF_INET, PF),
    Variant("12_aes_gcm_256-hw", TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256, device=True),
    Variant("13_aes_gcm_256-v6", TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256, AF_INET6),
    Variant("13_nopad-pf", TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128, AF_INET, PF, nopad=True),
]


@dataclass
class Tls:
    """``FIXTURE(tls)``: ``fd`` sends, ``cfd`` receives."""

    host: netsim.Host
    fd: netsim.Socket
    cfd: netsim.Socket
    variant: Variant

    def info(self) -> bytes:
        return crypto_info(self.variant.tls_version, self.variant.cipher_type)


async def ulp_sock_pair(host: netsim.Host, family: int) -> tuple[netsim.Socket, netsim.Socket]:
    """``ulp_sock_pair``: connect, accept, close the listener, the ULP on both ends."""
    sfd = host.socket(family, SOCK_STREAM)
    await sfd.bind((LOCAL[family], 0))
    sfd.listen(10)
    fd = host.socket(family, SOCK_STREAM)
    await fd.connect(sfd.getsockname())
    cfd, _ = await sfd.accept()
    sfd.close()
    fd.setsockopt(SOL_TCP, TCP_ULP, b"tls")
    cfd.setsockopt(SOL_TCP, TCP_ULP, b"tls")
    return fd, cfd


@pytest.fixture(params=VARIANTS, ids=[v.name for v in VARIANTS])
async def tls(
    request: pytest.FixtureRequest, autojump_clock: trio.testing.MockClock
) -> AsyncIterator[Tls]:
    """``FIXTURE_SETUP(tls)``."""
    variant: Variant = request.param
    async with netsim.open_host(allocator=variant.allocator) as host:
        if variant.device:
            host.devices["lo"].features |= NETIF_F_HW_TLS_TX
        fd, cfd = await ulp_sock_pair(host, variant.family)
        info = crypto_info(variant.tls_version, variant.cipher_type)
        fd.setsockopt(SOL_TLS, TLS_TX, info)
        cfd.setsockopt(SOL_TLS, TLS_RX, info)
        if variant.nopad:
            cfd.setsockopt(SOL_TLS, TLS_RX_EXPECT_NO_PAD, 1)
        assert tls_info(fd.tcp_sk)["txconf"] == ("hw" if variant.device else "sw")
        try:
            yield Tls(host, fd, cfd, variant)
        finally:
            fd.close()
            cfd.close()


async def tls_send_cmsg(fd: netsim.Socket, record_type: int, data: bytes, flags: int = 0) -> int:
    """``tls_send_cmsg``: one write of a record of ``record_type``."""
    return await fd.sendmsg([data], [(SOL_TLS, TLS_SET_RECORD_TYPE, bytes([record_type]))], flags)


async def tls_recv_cmsg(fd: netsim.Socket, size: int, flags: int = 0) -> tuple[bytes, int]:
    """``__tls_recv_cmsg``: a read with room for the record-type control message, which must
    be there; ``(data, record type)``."""
    data, cmsgs, _, _ = await fd.recvmsg(size, 64, flags)
    assert len(cmsgs) == 1
    level, kind, ctype = cmsgs[0]
    assert (level, kind, len(ctype)) == (SOL_TLS, TLS_GET_RECORD_TYPE, 1)
    return data, ctype[0]


def raises(code: int) -> pytest.RaisesExc[OSError]:
    """``pytest.raises`` for an ``OSError`` with errno ``code``."""
    return pytest.raises(OSError, match=rf"^\[Errno {code}\] ")


async def expect_errno(err: int, call: Awaitable[object]) -> None:
    """The awaitable ``call`` fails with ``err``."""
    with raises(err):
        await call


# -- FIXTURE(tls_basic) -----------------------------------------------------------------------


async def test_base_base(autojump_clock: trio.testing.MockClock) -> None:
    """``tls_basic.base_base``: the ULP without keys passes data as plain TCP."""
    async with netsim.open_host() as host:
        fd, cfd = await ulp_sock_pair(host, AF_INET)
        assert await fd.send(b"test_read\0") == 10
        assert await cfd.recv(10) == b"test_read\0"
        fd.close()
        cfd.close()


async def test_bad_cipher(autojump_clock: trio.testing.MockClock) -> None:
    """``tls_basic.bad_cipher``: version 200, and ciphers 50, 59, 10 and 70 with TLS 1.2, in
    a value of ``struct tls12_crypto_info_aes_gcm_128``'s size: refused (``EINVAL``)."""
    async with netsim.open_host() as host:
        fd, cfd = await ulp_sock_pair(host, AF_INET)
        good = crypto_info(TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128)
        bad_headers = [(200, TLS_CIPHER_AES_GCM_128)]
        bad_headers += [(TLS_1_2_VERSION, cipher) for cipher in (50, 59, 10, 70)]
        for version, cipher in bad_headers:
            with raises(errno.EINVAL):
                fd.setsockopt(SOL_TLS, TLS_TX, struct.pack("=HH", version, cipher) + good[4:])
        fd.close()
        cfd.close()


# -- FIXTURE(tls) ----------------------------------------------------------------------------------


async def test_recv_max(tls: Tls) -> None:
    """``tls.recv_max``: a full-size record arrives whole."""
    buf = memrnd(TLS_PAYLOAD_MAX_LEN)
    assert await tls.fd.send(buf) == TLS_PAYLOAD_MAX_LEN
    assert await tls.cfd.recv(TLS_PAYLOAD_MAX_LEN) == buf


async def test_recv_small(tls: Tls) -> None:
    """``tls.recv_small``."""
    assert await tls.fd.send(b"test_read\0") == 10
    assert await tls.cfd.recv(10) == b"test_read\0"


async def test_msg_more(tls: Tls) -> None:
    """``tls.msg_more``: ``MSG_MORE`` holds the record — the peer has nothing to read until a
    write without it, and then the two writes are one record."""
    test_str = b"test_read\0"
    assert await tls.fd.send(test_str, MSG_MORE) == 10
    await expect_errno(errno.EAGAIN, tls.cfd.recv(10, MSG_DONTWAIT))
    assert await tls.fd.send(test_str) == 10
    assert await tls.cfd.recv(20, MSG_WAITALL) == test_str * 2
    assert tls.host.stats()["tls_records"] == 1


async def test_cmsg_msg_more(tls: Tls) -> None:
    """``tls.cmsg_msg_more``: a non-data record cannot be left open (``EINVAL``)."""
    await expect_errno(errno.EINVAL, tls_send_cmsg(tls.fd, 100, b"test_read\0", MSG_MORE))


@UNKNOWN_TLS_RECORD
async def test_msg_more_then_cmsg(tls: Tls) -> None:
    """``tls.msg_more_then_cmsg``: a control record closes the data record ``MSG_MORE`` left
    open, and the two are read separately."""
    test_str = b"test_read\0"
    assert await tls.fd.send(test_str, MSG_MORE) == 10
    await expect_errno(errno.EAGAIN, tls.cfd.recv(10, MSG_DONTWAIT))
    assert await tls_send_cmsg(tls.fd, 100, test_str) == 10
    # the data record was not merged with the control one
    assert await tls.cfd.recv(20) == test_str
    assert await tls_recv_cmsg(tls.cfd, 20, MSG_WAITALL) == (test_str, 100)


async def test_msg_more_unsent(tls: Tls) -> None:
    """``tls.msg_more_unsent``: an open record is not sent."""
    assert await tls.fd.send(b"test_read\0", MSG_MORE) == 10
    await expect_errno(errno.EAGAIN, tls.cfd.recv(10, MSG_DONTWAIT))
    assert tls.host.stats()["tls_records"] == 0


async def test_close_drops_an_open_record(tls: Tls) -> None:
    """``tls.msg_more_unsent`` then ``close()``: ``tls_sk_proto_close`` frees the open record
    (``tls_sw_release_resources_tx``; device: the open record is destroyed) — its bytes are
    never sent, the peer reads the end of the stream."""
    assert await tls.fd.send(b"sent\0") == 5
    assert await tls.fd.send(b"test_read\0", MSG_MORE) == 10
    tls.fd.close()
    assert await tls.cfd.recv(100, MSG_WAITALL) == b"sent\0"
    assert await tls.cfd.recv(100) == b""
    assert tls.host.stats()["tls_records"] == 1


async def test_msg_eor(tls: Tls) -> None:
    """``tls.msg_eor``: ``MSG_EOR`` alone is an ordinary write."""
    assert await tls.fd.send(b"test_read\0", MSG_EOR) == 10
    assert await tls.cfd.recv(10, MSG_WAITALL) == b"test_read\0"


async def test_sendmsg_single(tls: Tls) -> None:
    """``tls.sendmsg_single``."""
    assert await tls.fd.sendmsg([b"test_sendmsg\0"]) == 13
    assert await tls.cfd.recv(13, MSG_WAITALL) == b"test_sendmsg\0"


async def test_sendmsg_fragmented(tls: Tls) -> None:
    """``tls.sendmsg_fragmented``: 1 to 64 iovecs of 13 bytes, each ``sendmsg`` read back
    whole."""
    test_str = b"test_sendmsg\0"
    for frags in range(1, 65):
        assert await tls.fd.sendmsg([test_str] * frags) == 13 * frags
        assert await tls.cfd.recv(13 * frags, MSG_WAITALL) == test_str * frags


@STALLED_READER
async def test_sendmsg_large(tls: Tls) -> None:
    """``tls.sendmsg_large``: 128 writes of 16 KiB before any read (2 MiB fits the loopback
    receiver's buffer), then 128 reads, a record each."""
    mem = memrnd(16384)
    for _ in range(128):
        assert await tls.fd.sendmsg([mem]) == 16384
    for _ in range(128):
        assert await tls.cfd.recv(16384) == mem
    await expect_errno(errno.EAGAIN, tls.cfd.recv(16384, MSG_DONTWAIT))


async def test_sendmsg_multiple(tls: Tls) -> None:
    """``tls.sendmsg_multiple``: five iovecs, one read."""
    test_strs = [b"test_sendmsg_multiple\0"] * 5
    total = sum(map(len, test_strs))
    assert await tls.fd.sendmsg(test_strs) == total
    assert await tls.cfd.recv(total) == b"".join(test_strs)


async def test_sendmsg_multiple_stress(tls: Tls) -> None:
    """``tls.sendmsg_multiple_stress``: 1024 iovecs of 16 bytes, one full record."""
    test_strs = [b"abcdefghijklmno\0"] * 1024
    assert await tls.fd.sendmsg(test_strs) == 1 << 14
    assert await tls.cfd.recv(1 << 14) == b"".join(test_strs)


async def test_recvmsg_single(tls: Tls) -> None:
    """``tls.recvmsg_single``."""
    test_str = b"test_recvmsg_single\0"
    assert await tls.fd.send(test_str) == len(test_str)
    data, _, _, _ = await tls.cfd.recvmsg(len(test_str))
    assert data == test_str


async def test_recvmsg_single_max(tls: Tls) -> None:
    """``tls.recvmsg_single_max``."""
    send_mem = memrnd(TLS_PAYLOAD_MAX_LEN)
    assert await tls.fd.send(send_mem) == TLS_PAYLOAD_MAX_LEN
    data, _, _, _ = await tls.cfd.recvmsg(TLS_PAYLOAD_MAX_LEN)
    assert data == send_mem


async def test_recvmsg_multiple(tls: Tls) -> None:
    """``tls.recvmsg_multiple``, with one buffer for its 1024 iovecs of 16 bytes (netsim's
    socket has no ``recvmsg_into``): a 16 KiB record read into a caller's buffer."""
    buf = memrnd(1 << 14)
    assert await tls.fd.send(buf) == 1 << 14
    into = bytearray(1 << 14)
    assert await tls.cfd.recv_into(into) == 1 << 14
    assert into == buf


async def test_single_send_multiple_recv(tls: Tls) -> None:
    """``tls.single_send_multiple_recv``: two records, a read each."""
    send_mem = memrnd(TLS_PAYLOAD_MAX_LEN * 2)
    assert await tls.fd.send(send_mem) == len(send_mem)
    first = await tls.cfd.recv(TLS_PAYLOAD_MAX_LEN)
    second = await tls.cfd.recv(TLS_PAYLOAD_MAX_LEN)
    assert first + second == send_mem


async def test_multiple_send_single_recv(tls: Tls) -> None:
    """``tls.multiple_send_single_recv``: ``MSG_WAITALL`` reads across two records."""
    send_mem = memrnd(10)
    assert await tls.fd.send(send_mem) == 10
    assert await tls.fd.send(send_mem) == 10
    assert await tls.cfd.recv(20, MSG_WAITALL) == send_mem * 2


async def test_single_send_multiple_recv_non_align(tls: Tls) -> None:
    """``tls.single_send_multiple_recv_non_align``: a 15-byte record read as 10 + 5."""
    send_mem = memrnd(15)
    assert await tls.fd.send(send_mem) == 15
    assert await tls.cfd.recv(10) == send_mem[:10]
    assert await tls.cfd.recv(10) == send_mem[10:]


async def test_recv_partial(tls: Tls) -> None:
    """``tls.recv_partial``: a record read in two parts."""
    assert await tls.fd.send(b"test_read_partial\0") == 18
    assert await tls.cfd.recv(9, MSG_WAITALL) == b"test_read"
    assert await tls.cfd.recv(8, MSG_WAITALL) == b"_partial"


async def test_recv_nonblock(tls: Tls) -> None:
    """``tls.recv_nonblock``: nothing to read is ``EAGAIN``."""
    await expect_errno(errno.EAGAIN, tls.cfd.recv(4096, MSG_DONTWAIT))


async def test_recv_peek(tls: Tls) -> None:
    """``tls.recv_peek``: a peek leaves the record to be read."""
    test_str = b"test_read_peek\0"
    assert await tls.fd.send(test_str) == 15
    assert await tls.cfd.recv(15, MSG_PEEK) == test_str
    assert await tls.cfd.recv(15) == test_str


async def test_recv_peek_multiple(tls: Tls) -> None:
    """``tls.recv_peek_multiple``: a hundred peeks, then the read."""
    test_str = b"test_read_peek\0"
    assert await tls.fd.send(test_str) == 15
    for _ in range(100):
        assert await tls.cfd.recv(15, MSG_PEEK) == test_str
    assert await tls.cfd.recv(15) == test_str


async def test_recv_peek_multiple_records(tls: Tls) -> None:
    """``tls.recv_peek_multiple_records``: a peek of the first record's size sees it; a
    ``MSG_WAITALL`` read takes both records; with ``MSG_MORE`` the two writes are one record
    and a peek sees all of it."""
    first, second = b"test_read_peek", b"_mult_recs\0"
    assert await tls.fd.send(first) == len(first)
    assert await tls.fd.send(second) == len(second)
    assert await tls.cfd.recv(len(first), MSG_PEEK | MSG_WAITALL) == first
    assert await tls.cfd.recv(len(first + second), MSG_WAITALL) == first + second
    assert await tls.fd.send(first, MSG_MORE) == len(first)
    assert await tls.fd.send(second) == len(second)
    assert await tls.cfd.recv(len(first + second), MSG_PEEK | MSG_WAITALL) == first + second
    assert await tls.cfd.recv(len(first + second)) == first + second


async def test_recv_peek_large_buf_mult_recs(tls: Tls) -> None:
    """``tls.recv_peek_large_buf_mult_recs``: a ``MSG_PEEK | MSG_WAITALL`` of both records'
    size sees both."""
    first, second = b"test_read_peek", b"_mult_recs\0"
    assert await tls.fd.send(first) == len(first)
    assert await tls.fd.send(second) == len(second)
    assert await tls.cfd.recv(len(first + second), MSG_PEEK | MSG_WAITALL) == first + second
    assert await tls.cfd.recv(len(first + second)) == first + second


async def test_recv_lowat(tls: Tls) -> None:
    """``tls.recv_lowat``: with ``SO_RCVLOWAT`` 8 and records of 10 and 5 bytes, reads of
    1 and 6 (``MSG_WAITALL``) and then a read of 10 returns the 8 left."""
    send_mem = bytes(range(10))
    assert await tls.fd.send(send_mem) == 10
    assert await tls.fd.send(send_mem[:5]) == 5
    tls.cfd.setsockopt(SOL_SOCKET, SO_RCVLOWAT, 8)
    assert await tls.cfd.recv(1, MSG_WAITALL) == send_mem[:1]
    assert await tls.cfd.recv(6, MSG_WAITALL) == send_mem[1:7]
    assert await tls.cfd.recv(10) == send_mem[7:] + send_mem[:5]


async def test_bidir(tls: Tls) -> None:
    """``tls.bidir``: ``TLS_RX`` on the sender and ``TLS_TX`` on the receiver too; both
    directions carry data."""
    tls.fd.setsockopt(SOL_TLS, TLS_RX, tls.info())
    tls.cfd.setsockopt(SOL_TLS, TLS_TX, tls.info())
    assert tls_info(tls.cfd.tcp_sk)["txconf"] == ("hw" if tls.variant.device else "sw")
    assert await tls.fd.send(b"test_read\0") == 10
    assert await tls.cfd.recv(10) == b"test_read\0"
    assert await tls.cfd.send(b"test_read\0") == 10
    assert await tls.fd.recv(10) == b"test_read\0"


async def test_pollin(tls: Tls) -> None:
    """``tls.pollin`` and ``tls.poll_wait`` (``poll()`` is ``is_readable()`` here, without
    the timeouts): readable once a record has arrived, not once it has been read."""
    assert not tls.cfd.is_readable()
    assert await tls.fd.send(b"test_poll\0") == 10
    assert tls.cfd.is_readable()
    assert await tls.cfd.recv(10, MSG_WAITALL) == b"test_poll\0"
    assert not tls.cfd.is_readable()


async def test_poll_wait_split(tls: Tls) -> None:
    """``tls.poll_wait_split``: after a 15-byte read of a 20-byte record the other 5 are in
    kTLS, not in TCP's queue — still readable."""
    send_mem = bytes(20)
    assert await tls.fd.send(send_mem) == 20
    assert tls.cfd.is_readable()
    assert await tls.cfd.recv(15, MSG_WAITALL) == send_mem[:15]
    assert tls.cfd.is_readable()
    assert await tls.cfd.recv(15) == send_mem[15:]


async def test_blocking(tls: Tls) -> None:
    """``tls.blocking``: a writer and a reader (tasks, not processes) move 100000 bytes in
    writes and reads of at most 16 KiB."""
    data = memrnd(100000)
    got = bytearray()

    async def reader() -> None:
        while len(got) < len(data):
            chunk = await tls.cfd.recv(min(16384, len(data) - len(got)))
            assert chunk
            got.extend(chunk)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            left = memoryview(data)
            while left:
                n = await tls.fd.send(left[:16384])
                assert n > 0
                left = left[n:]
    assert got == data


async def test_nonblocking(tls: Tls) -> None:
    """``tls.nonblocking``: with a 100-byte ``SO_SNDBUF`` (the minimum, in fact) and
    ``MSG_DONTWAIT`` both ways, writer and reader each meet ``EAGAIN`` and retry after 10 ms;
    100000 bytes arrive.  (The selftest's processes race; here the reader starts 5 ms late,
    so the writer's ``EAGAIN`` does not depend on trio's scheduling order.)"""
    tls.fd.setsockopt(SOL_SOCKET, SO_SNDBUF, 100)
    data = memrnd(100000)
    got = bytearray()
    eagain = {"writer": False, "reader": False}

    async def reader() -> None:
        await trio.sleep(0.005)  # the writer first: it fills the send buffer (EAGAIN)
        while len(got) < len(data):
            try:
                chunk = await tls.cfd.recv(16384, MSG_DONTWAIT)
            except BlockingIOError:
                eagain["reader"] = True
                await trio.sleep(0.01)
                continue
            got.extend(chunk)

    with trio.fail_after(60):  # a lost wake-up fails the test instead of hanging it
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            left = memoryview(data)
            while left:
                try:
                    n = await tls.fd.send(left[:16384], MSG_DONTWAIT)
                except BlockingIOError:
                    eagain["writer"] = True
                    await trio.sleep(0.01)
                    continue
                left = left[n:]
    assert got == data
    assert eagain == {"writer": True, "reader": True}


async def test_control_msg(tls: Tls) -> None:
    """``tls.control_msg``: a record of type 100 cannot be read without room for its type
    (``EIO``); a peek with room sees it and leaves it; the read takes it."""
    test_str = b"test_read\0"
    assert await tls_send_cmsg(tls.fd, 100, test_str) == 10
    await expect_errno(errno.EIO, tls.cfd.recv(10))
    assert await tls_recv_cmsg(tls.cfd, 10, MSG_WAITALL | MSG_PEEK) == (test_str, 100)
    assert await tls_recv_cmsg(tls.cfd, 10, MSG_WAITALL) == (test_str, 100)
    await expect_errno(errno.EAGAIN, tls.cfd.recv(10, MSG_DONTWAIT))


async def test_control_msg_nomerge(tls: Tls) -> None:
    """``tls.control_msg_nomerge``: two control records of one type are read one at a time,
    peeked or not."""
    rec1, rec2 = b"1111\0", b"2222\0"
    assert await tls_send_cmsg(tls.fd, 100, rec1) == 5
    assert await tls_send_cmsg(tls.fd, 100, rec2) == 5
    assert await tls_recv_cmsg(tls.cfd, 15, MSG_PEEK) == (rec1, 100)
    assert await tls_recv_cmsg(tls.cfd, 15, MSG_PEEK) == (rec1, 100)
    assert await tls_recv_cmsg(tls.cfd, 15) == (rec1, 100)
    assert await tls_recv_cmsg(tls.cfd, 15) == (rec2, 100)


@UNKNOWN_TLS_RECORD
async def test_data_control_data(tls: Tls) -> None:
    """``tls.data_control_data``: a peek stops at the control record between two data
    records; the reads then take one record type at a time."""
    rec1, rec2, rec3 = b"1111\0", b"2222\0", b"3333\0"
    assert await tls.fd.send(rec1) == 5
    assert await tls_send_cmsg(tls.fd, 100, rec2) == 5
    assert await tls.fd.send(rec3) == 5
    assert await tls.cfd.recv(15, MSG_PEEK) == rec1
    assert await tls.cfd.recv(15, MSG_PEEK) == rec1
    assert await tls_recv_cmsg(tls.cfd, 15) == (rec1, 23)
    assert await tls_recv_cmsg(tls.cfd, 15) == (rec2, 100)
    assert await tls_recv_cmsg(tls.cfd, 15) == (rec3, 23)


async def test_shutdown(tls: Tls) -> None:
    """``tls.shutdown``: ``SHUT_RDWR`` on both ends after an exchange; the receiver then
    reads the end of the stream."""
    assert await tls.fd.send(b"test_read\0") == 10
    assert await tls.cfd.recv(10) == b"test_read\0"
    tls.fd.shutdown(SHUT_RDWR)
    tls.cfd.shutdown(SHUT_RDWR)
    assert await tls.cfd.recv(10) == b""


async def test_shutdown_unsent(tls: Tls) -> None:
    """``tls.shutdown_unsent``: ``SHUT_RDWR`` with a record left open by ``MSG_MORE`` — the
    record is not pushed by the shutdown."""
    assert await tls.fd.send(b"test_read\0", MSG_MORE) == 10
    tls.fd.shutdown(SHUT_RDWR)
    tls.cfd.shutdown(SHUT_RDWR)
    assert tls.host.stats()["tls_records"] == 0
    assert await tls.cfd.recv(10) == b""


async def test_shutdown_reuse(tls: Tls) -> None:
    """``tls.shutdown_reuse``: after both ends shut down and the peer closes, the kTLS socket
    can be bound again, but ``listen`` is ``EINVAL`` and ``connect`` ``EISCONN``."""
    tls.fd.shutdown(SHUT_RDWR)
    tls.cfd.shutdown(SHUT_RDWR)
    tls.cfd.close()
    await tls.fd.bind((LOCAL[tls.variant.family], 0))
    with raises(errno.EINVAL):
        tls.fd.listen(10)
    await expect_errno(errno.EISCONN, tls.fd.connect((LOCAL[tls.variant.family], 1)))


async def test_getsockopt(tls: Tls) -> None:
    """``tls.getsockopt``: 4 bytes give version and cipher; the struct's size gives what was
    set; 3 bytes, and the struct's size less one, are ``EINVAL``."""
    v = tls.variant
    assert tls.fd.getsockopt(SOL_TLS, TLS_TX, 4) == struct.pack("=HH", v.tls_version, v.cipher_type)
    expect = tls.info()
    assert tls.fd.getsockopt(SOL_TLS, TLS_TX, len(expect)) == expect
    for bad in (3, len(expect) - 1):
        with raises(errno.EINVAL):
            tls.fd.getsockopt(SOL_TLS, TLS_TX, bad)


# -- FIXTURE(zero_len) -----------------------------------------------------------------------------

HELLO = b"Hello world"
DATA, CTRL = 23, 22
ZERO_LEN = {
    "data_data_data": ([(DATA, HELLO)] * 3, [33, -errno.EAGAIN]),
    "data_0ctrl_data": ([(DATA, HELLO), (CTRL, b""), (DATA, HELLO)], [11, 0, 11, -errno.EAGAIN]),
    "0data_0data_0data": ([(DATA, b"")] * 3, [-errno.EAGAIN]),
    "0data_0data_ctrl": ([(DATA, b""), (DATA, b""), (CTRL, HELLO)], [0, 11, -errno.EAGAIN]),
    "0data_0data_0ctrl": ([(DATA, b""), (DATA, b""), (CTRL, b"")], [0, 0, -errno.EAGAIN]),
    "0ctrl_0ctrl_0ctrl": ([(CTRL, b"")] * 3, [0, 0, 0, -errno.EAGAIN]),
    "0data_0data_data": ([(DATA, b""), (DATA, b""), (DATA, HELLO)], [11, -errno.EAGAIN]),
    "data_0data_0data": ([(DATA, HELLO), (DATA, b""), (DATA, b"")], [11, -errno.EAGAIN]),
}


def raw_rec(seqno: int, record_type: int, plaintext: bytes) -> bytes:
    """A TLS 1.2 AES-CCM record under the all-zero key (``key_generation`` 0), made here as
    the selftest's ``struct raw_rec`` tables were: explicit nonce = record number."""
    explicit = seqno.to_bytes(8, "big")
    aad = struct.pack("!QBBBH", seqno, record_type, 3, 3, len(plaintext))
    body = AESCCM(bytes(16), tag_length=16).encrypt(bytes(4) + explicit, plaintext, aad)
    return struct.pack("!BBBH", record_type, 3, 3, len(explicit + body)) + explicit + body


@pytest.mark.parametrize("name", list(ZERO_LEN))
async def test_zero_len(name: str, autojump_clock: trio.testing.MockClock) -> None:
    """``zero_len.test``: records with no plaintext among others, sent raw to a TLS 1.2
    AES-CCM receiver and read with ``MSG_DONTWAIT`` and room for the record type.  An empty
    data record is skipped, but it sets the read's type: a control record after it ends the
    read with 0 bytes."""
    recs, recv_ret = ZERO_LEN[name]
    async with netsim.open_host() as host:
        fd, cfd = await ulp_sock_pair(host, AF_INET)
        cfd.setsockopt(SOL_TLS, TLS_RX, crypto_info(TLS_1_2_VERSION, TLS_CIPHER_AES_CCM_128))
        for seqno, (rtype, plaintext) in enumerate(recs):
            record = raw_rec(seqno, rtype, plaintext)
            assert await fd.send(record) == len(record)
        stream = b"".join(plaintext for _, plaintext in recs)
        pos = 0
        for ret in recv_ret:
            if ret < 0:
                await expect_errno(-ret, cfd.recvmsg(128, 64, MSG_DONTWAIT))
                break
            data, _, _, _ = await cfd.recvmsg(128, 64, MSG_DONTWAIT)
            assert data == stream[pos : pos + ret]
            pos += ret
        assert pos == len(stream)
        fd.close()
        cfd.close()


# -- FIXTURE(tls_err) ------------------------------------------------------------------------------


@dataclass
class TlsErr:
    """``FIXTURE(tls_err)``: ``fd`` encrypts to ``cfd`` (no keys: it reads ciphertext);
    ``fd2`` (no keys) writes what the test chooses to ``cfd2``, which decrypts."""

    host: netsim.Host
    fd: netsim.Socket
    cfd: netsim.Socket
    fd2: netsim.Socket
    cfd2: netsim.Socket


@pytest.fixture(
    params=[
        pytest.param((TLS_1_2_VERSION, False), id="12_aes_gcm"),
        pytest.param((TLS_1_2_VERSION, True), id="12_aes_gcm-hw"),
        pytest.param((TLS_1_3_VERSION, False), id="13_aes_gcm"),
    ]
)
async def tls_err(
    request: pytest.FixtureRequest, autojump_clock: trio.testing.MockClock
) -> AsyncIterator[TlsErr]:
    """``FIXTURE_SETUP(tls_err)``."""
    version, device = request.param
    async with netsim.open_host() as host:
        if device:
            host.devices["lo"].features |= NETIF_F_HW_TLS_TX
        fd, cfd = await ulp_sock_pair(host, AF_INET)
        fd2, cfd2 = await ulp_sock_pair(host, AF_INET)
        info = crypto_info(version, TLS_CIPHER_AES_GCM_128)
        fd.setsockopt(SOL_TLS, TLS_TX, info)
        cfd2.setsockopt(SOL_TLS, TLS_RX, info)
        try:
            yield TlsErr(host, fd, cfd, fd2, cfd2)
        finally:
            for sock in (fd, cfd, fd2, cfd2):
                sock.close()


async def test_bad_rec(tls_err: TlsErr) -> None:
    """``tls_err.bad_rec``: 64 bytes of 0x55 say a record of 0x5555 bytes, too long:
    ``EMSGSIZE`` (the length is judged before the version bytes), once — the parser has
    stopped, so the next read finds nothing (``EAGAIN``)."""
    buf = b"\x55" * 64
    assert await tls_err.fd2.send(buf) == 64
    await expect_errno(errno.EMSGSIZE, tls_err.cfd2.recv(64))
    await expect_errno(errno.EAGAIN, tls_err.cfd2.recv(64, MSG_DONTWAIT))


async def test_bad_auth(tls_err: TlsErr) -> None:
    """``tls_err.bad_auth``: a record with its last byte changed fails authentication:
    ``EBADMSG``, and again on the next read."""
    buf = memrnd(64)
    assert await tls_err.fd.send(buf) == 64
    rec = bytearray(await tls_err.cfd.recv(128))
    assert len(rec) > 64
    rec[-1] = (rec[-1] + 1) & 0xFF
    assert await tls_err.fd2.send(rec) == len(rec)
    await expect_errno(errno.EBADMSG, tls_err.cfd2.recv(128))
    await expect_errno(errno.EBADMSG, tls_err.cfd2.recv(128))
    assert tls_err.host.stats()["TlsDecryptError"] >= 1


async def test_bad_in_large_read(tls_err: TlsErr) -> None:
    """``tls_err.bad_in_large_read``: three records, the third broken, read with room for
    all: the first two are returned, the error comes with the next read, and stays."""
    txt = [memrnd(64, seed=i) for i in range(3)]
    for i in range(3):
        assert await tls_err.fd.send(txt[i]) == 64
        cip = bytearray(await tls_err.cfd.recv(128))
        assert len(cip) > 64
        if i == 2:
            cip[-1] = (cip[-1] + 1) & 0xFF
        assert await tls_err.fd2.send(cip) == len(cip)
    assert await tls_err.cfd2.recv(3 * 128) == txt[0] + txt[1]
    await expect_errno(errno.EBADMSG, tls_err.cfd2.recv(3 * 128))
    await expect_errno(errno.EBADMSG, tls_err.cfd2.recv(3 * 128))


@UNKNOWN_TLS_RECORD
async def test_bad_cmsg(tls_err: TlsErr) -> None:
    """``tls_err.bad_cmsg``: a good data record then a broken control record: the data is
    read, then ``EBADMSG`` twice."""
    txt = memrnd(64)
    assert await tls_err.fd.send(txt) == 64
    cip = await tls_err.cfd.recv(128)
    assert len(cip) > 64
    assert await tls_err.fd2.send(cip) == len(cip)
    assert await tls_send_cmsg(tls_err.fd, 100, b"test_read\0") == 10
    broken = bytearray(await tls_err.cfd.recv(128))
    assert len(broken) > 10
    broken[-1] = (broken[-1] + 1) & 0xFF
    assert await tls_err.fd2.send(broken) == len(broken)
    assert await tls_err.cfd2.recv(128) == txt
    await expect_errno(errno.EBADMSG, tls_err.cfd2.recv(128))
    await expect_errno(errno.EBADMSG, tls_err.cfd2.recv(128))


async def test_poll_partial_rec(tls_err: TlsErr) -> None:
    """``tls_err.poll_partial_rec``: part of a record in TCP's queue is not readable; the
    rest makes it so, and the record reads whole."""
    assert not tls_err.cfd2.is_readable()
    buf = memrnd(128)
    assert await tls_err.fd.send(buf) == 128
    rec = await tls_err.cfd.recv(256)
    assert len(rec) > 128
    assert await tls_err.fd2.send(rec[:100]) == 100
    assert not tls_err.cfd2.is_readable()
    assert await tls_err.fd2.send(rec[100:]) == len(rec) - 100
    assert tls_err.cfd2.is_readable()
    assert await tls_err.cfd2.recv(256) == buf


async def test_oob_pressure(tls_err: TlsErr) -> None:
    """``tls_err.oob_pressure``: urgent bytes and a 64 KiB write into a kTLS receiver that
    nobody reads: every send completes."""
    buf = memrnd(1 << 16)
    assert await tls_err.fd2.send(buf[:5], MSG_OOB) == 5
    assert await tls_err.fd2.send(buf) == len(buf)
    for _ in range(64):
        assert await tls_err.fd2.send(buf[:5], MSG_OOB) == 5


# -- TEST(...) -------------------------------------------------------------------------------------


async def test_non_established(autojump_clock: trio.testing.MockClock) -> None:
    """``non_established``: the ULP on a socket not yet connected, and on a listener, is
    ``ENOTCONN``; once connected it attaches, and a second time is ``EEXIST``."""
    async with netsim.open_host() as host:
        fd = host.socket(AF_INET, SOCK_STREAM)
        sfd = host.socket(AF_INET, SOCK_STREAM)
        await sfd.bind(("127.0.0.1", 0))
        sfd.listen(10)
        for sock in (fd, sfd):
            with raises(errno.ENOTCONN):
                sock.setsockopt(SOL_TCP, TCP_ULP, b"tls\0")
        await fd.connect(sfd.getsockname())
        fd.setsockopt(SOL_TCP, TCP_ULP, b"tls\0")
        with raises(errno.EEXIST):
            fd.setsockopt(SOL_TCP, TCP_ULP, b"tls\0")
        fd.close()
        sfd.close()


async def test_keysizes(autojump_clock: trio.testing.MockClock) -> None:
    """``keysizes``: AES-GCM-256 keys (all zero) are taken both ways."""
    async with netsim.open_host() as host:
        fd, cfd = await ulp_sock_pair(host, AF_INET)
        info = crypto_info(TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256)
        fd.setsockopt(SOL_TLS, TLS_TX, info)
        cfd.setsockopt(SOL_TLS, TLS_RX, info)
        assert await fd.send(b"keysizes") == 8
        assert await cfd.recv(8) == b"keysizes"
        fd.close()
        cfd.close()


async def test_no_pad(autojump_clock: trio.testing.MockClock) -> None:
    """``no_pad``: ``TLS_RX_EXPECT_NO_PAD`` on a TLS 1.3 receiver, set to 1 and back to 0,
    reads back as set, 4 bytes."""
    async with netsim.open_host() as host:
        fd, cfd = await ulp_sock_pair(host, AF_INET)
        info = crypto_info(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256)
        fd.setsockopt(SOL_TLS, TLS_TX, info)
        cfd.setsockopt(SOL_TLS, TLS_RX, info)
        cfd.setsockopt(SOL_TLS, TLS_RX_EXPECT_NO_PAD, 1)
        assert cfd.getsockopt(SOL_TLS, TLS_RX_EXPECT_NO_PAD, 4) == struct.pack("=i", 1)
        cfd.setsockopt(SOL_TLS, TLS_RX_EXPECT_NO_PAD, 0)
        assert cfd.getsockopt(SOL_TLS, TLS_RX_EXPECT_NO_PAD, 4) == struct.pack("=i", 0)
        fd.close()
        cfd.close()


async def test_tls_v6ops(autojump_clock: trio.testing.MockClock) -> None:
    """``tls_v6ops``: setting kTLS up on an IPv6 socket leaves its address as it was."""
    async with netsim.open_host() as host:
        sfd = host.socket(AF_INET6, SOCK_STREAM)
        await sfd.bind(("::", 0))
        sfd.listen(10)
        fd = host.socket(AF_INET6, SOCK_STREAM)
        await fd.connect(("::1", sfd.getsockname()[1]))
        before = fd.getsockname()
        fd.setsockopt(SOL_TCP, TCP_ULP, b"tls\0")
        info = crypto_info(TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128)
        fd.setsockopt(SOL_TLS, TLS_TX, info)
        fd.setsockopt(SOL_TLS, TLS_RX, info)
        assert fd.getsockname() == before
        fd.close()
        sfd.close()


@pytest.mark.parametrize("device", [False, True], ids=["sw", "hw"])
async def test_prequeue(device: bool, autojump_clock: trio.testing.MockClock) -> None:
    """``prequeue``: records that arrive before the receiver has the ULP and ``TLS_RX`` wait
    in TCP's queue and are decrypted once it has."""
    async with netsim.open_host() as host:
        if device:
            host.devices["lo"].features |= NETIF_F_HW_TLS_TX
        sfd = host.socket(AF_INET, SOCK_STREAM)
        await sfd.bind(("127.0.0.1", 0))
        sfd.listen(10)
        fd = host.socket(AF_INET, SOCK_STREAM)
        await fd.connect(sfd.getsockname())
        cfd, _ = await sfd.accept()
        sfd.close()
        info = crypto_info(TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256)
        buf = memrnd(20000)
        fd.setsockopt(SOL_TCP, TCP_ULP, b"tls\0")
        fd.setsockopt(SOL_TLS, TLS_TX, info)
        assert await fd.send(buf, MSG_DONTWAIT) == len(buf)
        cfd.setsockopt(SOL_TCP, TCP_ULP, b"tls\0")
        cfd.setsockopt(SOL_TLS, TLS_RX, info)
        assert await cfd.recv(len(buf), MSG_WAITALL) == buf
        fd.close()
        cfd.close()
