"""kTLS setup: the ``TCP_ULP`` and ``SOL_TLS`` options with the errnos Linux 6.18 gives, where
the crypto runs (device or software), the MIB counters, and that every cipher works.

The kernel code each check follows:

* ``TCP_ULP`` — ``do_tcp_setsockopt`` (an empty name is ``EINVAL``), ``tcp_set_ulp`` (the name
  is looked up first: ``ENOENT``), ``__tcp_set_ulp`` (a ULP already there: ``EEXIST``; a
  listener, for a ULP that cannot be cloned: ``ENOTCONN``), ``tls_init`` (not ESTABLISHED:
  ``ENOTCONN``); ``do_tcp_getsockopt`` reads the NUL-padded name back, nothing without one.
* ``SOL_TLS`` without the ULP goes to the IP layer: ``ip_setsockopt``/``ipv6_setsockopt`` say
  ``ENOPROTOOPT``; ``do_ip_getsockopt`` says ``EOPNOTSUPP``, ``ipv6_getsockopt``
  ``ENOPROTOOPT``.
* ``TLS_TX``/``TLS_RX`` — ``do_tls_setsockopt_conf``: shorter than ``struct
  tls_crypto_info`` → ``EINVAL``; already set (TLS 1.2) → ``EBUSY`` and ``Tls{Tx,Rx}RekeyError``;
  ``validate_crypto_info`` (version, ARIA on 1.3, the other direction's version and cipher) →
  ``EINVAL``; an unknown cipher or a length other than its struct's → ``EINVAL``.  A cipher
  whose AEAD cannot be had is ``ENOENT`` (Linux: no such crypto module; netsim: SM4 and ARIA
  are not emulated).
* ``do_tls_getsockopt_conf``: a buffer under 4 bytes → ``EINVAL``; not set → ``EBUSY``; 4
  bytes → version and cipher; the struct's size → the crypto info with the current IV and
  record number (``tls_advance_record_sn``); any other size → ``EINVAL``.
* ``do_tls_setsockopt_tx_zc`` / ``do_tls_getsockopt_tx_zc`` (a 4-byte value, 0 or 1),
  ``do_tls_setsockopt_no_pad`` / ``do_tls_getsockopt_no_pad`` (TLS 1.3 receive only).
* ``tls_set_device_offload``: the route's device must have ``NETIF_F_HW_TLS_TX`` (which
  ``netdev_fix_features`` clears from a device without checksum offload), TLS 1.2, AES-GCM;
  otherwise ``TLS_TX`` is software kTLS.  The ``TlsCurr*`` gauges count down at ``close()``
  (``tls_sk_proto_cleanup``).
* Sending: ``tls_push_data`` / ``tls_sw_sendmsg`` flags (``EOPNOTSUPP``; ``MSG_MORE |
  MSG_EOR`` → ``EINVAL``) and ``tls_process_cmsg`` (``TLS_SET_RECORD_TYPE`` with ``MSG_MORE``,
  an unknown ``SOL_TLS`` type, or control data without a ``SOL_TLS`` message → ``EINVAL``).

The records on the wire are checked against an AEAD opened here with ``cryptography`` (RFC 5246
/ 7905 / 8446 nonces and additional data), not against netsim's own receive path.
"""

from __future__ import annotations

import errno
import random
import struct
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    MSG_DONTWAIT,
    MSG_EOR,
    MSG_MORE,
    MSG_OOB,
    MSG_WAITALL,
    SOCK_STREAM,
    SOL_IP,
    SOL_TCP,
    SOL_TLS,
    TCP_ULP,
    TLS_1_2_VERSION,
    TLS_1_3_VERSION,
    TLS_CIPHER_AES_CCM_128,
    TLS_CIPHER_AES_GCM_128,
    TLS_CIPHER_AES_GCM_256,
    TLS_CIPHER_ARIA_GCM_128,
    TLS_CIPHER_ARIA_GCM_256,
    TLS_CIPHER_CHACHA20_POLY1305,
    TLS_CIPHER_SM4_CCM,
    TLS_CIPHER_SM4_GCM,
    TLS_RX,
    TLS_RX_EXPECT_NO_PAD,
    TLS_SET_RECORD_TYPE,
    TLS_TX,
    TLS_TX_ZEROCOPY_RO,
)
from netsim.dev import NETIF_F_HW_TLS_TX
from netsim.tls import tls_crypto_info, tls_info

LOCAL = {AF_INET: "127.0.0.1", AF_INET6: "::1"}
FAMILIES = [pytest.param(AF_INET, id="v4"), pytest.param(AF_INET6, id="v6")]
#: (iv, key, salt) sizes of each cipher's ``struct tls12_crypto_info_*`` (include/uapi/linux/
#: tls.h), written out here so the socket's length checks are tested against them
SIZES = {
    TLS_CIPHER_AES_GCM_128: (8, 16, 4),
    TLS_CIPHER_AES_GCM_256: (8, 32, 4),
    TLS_CIPHER_AES_CCM_128: (8, 16, 4),
    TLS_CIPHER_CHACHA20_POLY1305: (12, 32, 0),
    TLS_CIPHER_SM4_GCM: (8, 16, 4),
    TLS_CIPHER_SM4_CCM: (8, 16, 4),
    TLS_CIPHER_ARIA_GCM_128: (8, 16, 4),
    TLS_CIPHER_ARIA_GCM_256: (8, 32, 4),
}
CIPHERS = [
    pytest.param(TLS_CIPHER_AES_GCM_128, id="aes_gcm_128"),
    pytest.param(TLS_CIPHER_AES_GCM_256, id="aes_gcm_256"),
    pytest.param(TLS_CIPHER_AES_CCM_128, id="aes_ccm_128"),
    pytest.param(TLS_CIPHER_CHACHA20_POLY1305, id="chacha20_poly1305"),
]
VERSIONS = [pytest.param(TLS_1_2_VERSION, id="tls12"), pytest.param(TLS_1_3_VERSION, id="tls13")]
TAG = 16
HEADER = 5


class Keys:
    """One direction's key material, as a TLS library hands it to the kernel."""

    def __init__(
        self,
        version: int = TLS_1_2_VERSION,
        cipher: int = TLS_CIPHER_AES_GCM_128,
        seed: int = 0,
        rec_seq: int = 0,
        iv: bytes | None = None,
    ) -> None:
        iv_len, key_len, salt_len = SIZES[cipher]
        rng = random.Random(f"keys-{seed}")
        self.version = version
        self.cipher = cipher
        self.key = rng.randbytes(key_len)
        self.iv = rng.randbytes(iv_len) if iv is None else iv
        self.salt = rng.randbytes(salt_len)
        self.rec_seq = rec_seq

    def info(self) -> bytes:
        return tls_crypto_info(
            self.key,
            self.iv,
            self.salt,
            self.rec_seq,
            version=self.version,
            cipher_type=self.cipher,
        )

    def explicit_nonce(self) -> bool:
        """TLS 1.2 GCM/CCM records carry an 8-byte explicit nonce (RFC 5288/6655)."""
        return self.version == TLS_1_2_VERSION and self.cipher != TLS_CIPHER_CHACHA20_POLY1305

    def aead(self) -> AESGCM | AESCCM | ChaCha20Poly1305:
        if self.cipher == TLS_CIPHER_AES_CCM_128:
            return AESCCM(self.key, tag_length=TAG)
        if self.cipher == TLS_CIPHER_CHACHA20_POLY1305:
            return ChaCha20Poly1305(self.key)
        return AESGCM(self.key)


def _data(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def _errno(fn: Callable[..., Any], *args: Any) -> int:
    """The errno ``fn(*args)`` fails with."""
    with pytest.raises(OSError, match=r"^\[Errno \d+\] ") as exc:
        fn(*args)
    assert exc.value.errno is not None
    return exc.value.errno


async def _aerrno(fn: Callable[..., Any], *args: Any) -> int:
    with pytest.raises(OSError, match=r"^\[Errno \d+\] ") as exc:
        await fn(*args)
    assert exc.value.errno is not None
    return exc.value.errno


async def _connect(host: netsim.Host, family: int = AF_INET) -> tuple[netsim.Socket, netsim.Socket]:
    lst = host.socket(family, SOCK_STREAM)
    await lst.bind((LOCAL[family], 0))
    lst.listen()
    cli = host.socket(family, SOCK_STREAM)
    await cli.connect(lst.getsockname())
    srv, _ = await lst.accept()
    lst.close()
    return cli, srv


def _ulp(*socks: netsim.Socket) -> None:
    for sock in socks:
        sock.setsockopt(SOL_TCP, TCP_ULP, b"tls")


async def _tls_pair(
    host: netsim.Host, keys: Keys, family: int = AF_INET
) -> tuple[netsim.Socket, netsim.Socket]:
    """A connected pair, ``TLS_TX`` on the first, ``TLS_RX`` on the second."""
    tx, rx = await _connect(host, family)
    _ulp(tx, rx)
    tx.setsockopt(SOL_TLS, TLS_TX, keys.info())
    rx.setsockopt(SOL_TLS, TLS_RX, keys.info())
    return tx, rx


async def _recv_exactly(sock: netsim.Socket, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        chunk = await sock.recv(n - len(got))
        assert chunk, f"end of stream after {len(got)} of {n} bytes"
        got += chunk
    return bytes(got)


async def _send_and_check(tx: netsim.Socket, rx: netsim.Socket, payload: bytes) -> None:
    """Send ``payload`` while reading it on ``rx``: the bytes arrive as sent."""
    got = b""

    async def reader() -> None:
        nonlocal got
        got = await _recv_exactly(rx, len(payload))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        assert await tx.send(payload) == len(payload)
    assert got == payload


def _stats(host: netsim.Host, *names: str) -> dict[str, int]:
    stats = host.stats()
    return {name: stats[name] for name in names}


# -- TCP_ULP ----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
async def test_tcp_ulp_needs_an_established_socket(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``tls_init``: a socket never connected is ``ENOTCONN``; a listener too, refused earlier
    by ``__tcp_set_ulp`` (TLS has no ``clone``) with the same errno — as the selftest's
    ``non_established`` expects for both."""
    async with netsim.open_host() as host:
        fresh = host.socket(family, SOCK_STREAM)
        assert _errno(fresh.setsockopt, SOL_TCP, TCP_ULP, b"tls") == errno.ENOTCONN
        await fresh.bind((LOCAL[family], 0))
        assert _errno(fresh.setsockopt, SOL_TCP, TCP_ULP, b"tls") == errno.ENOTCONN
        fresh.listen()
        assert _errno(fresh.setsockopt, SOL_TCP, TCP_ULP, b"tls") == errno.ENOTCONN
        # nothing was attached by the failures
        assert fresh.getsockopt(SOL_TCP, TCP_ULP, 16) == b""
        fresh.close()


async def test_tcp_ulp_name_lookup_comes_first(autojump_clock: trio.testing.MockClock) -> None:
    """``tcp_set_ulp`` looks the name up before ``__tcp_set_ulp`` checks anything: an unknown
    name is ``ENOENT`` on an unconnected socket, on a listener, and on a socket that already
    has a ULP; a known one on such a socket is ``EEXIST``.  An empty value is ``EINVAL``
    (``optlen < 1``)."""
    async with netsim.open_host() as host:
        lone = host.socket(AF_INET, SOCK_STREAM)
        assert _errno(lone.setsockopt, SOL_TCP, TCP_ULP, b"no_such_ulp") == errno.ENOENT
        assert _errno(lone.setsockopt, SOL_TCP, TCP_ULP, b"") == errno.EINVAL
        lone.close()
        cli, srv = await _connect(host)
        assert _errno(cli.setsockopt, SOL_TCP, TCP_ULP, b"espintcp") == errno.ENOENT
        cli.setsockopt(SOL_TCP, TCP_ULP, b"tls\0ignored")  # the name ends at the NUL
        assert _errno(cli.setsockopt, SOL_TCP, TCP_ULP, b"tls") == errno.EEXIST
        assert _errno(cli.setsockopt, SOL_TCP, TCP_ULP, b"no_such_ulp") == errno.ENOENT
        cli.close()
        srv.close()


@pytest.mark.parametrize("family", FAMILIES)
async def test_getsockopt_tcp_ulp_reads_the_name_back(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``do_tcp_getsockopt(TCP_ULP)``: nothing (length 0) without a ULP; the name from the
    ``char name[TCP_ULP_NAME_MAX]`` array — NUL-padded to 16 — cut to the buffer."""
    async with netsim.open_host() as host:
        cli, srv = await _connect(host, family)
        assert cli.getsockopt(SOL_TCP, TCP_ULP, 16) == b""
        _ulp(cli)
        assert cli.getsockopt(SOL_TCP, TCP_ULP, 16) == b"tls" + bytes(13)
        assert cli.getsockopt(SOL_TCP, TCP_ULP, 64) == b"tls" + bytes(13)
        assert cli.getsockopt(SOL_TCP, TCP_ULP, 2) == b"tl"
        assert srv.getsockopt(SOL_TCP, TCP_ULP, 16) == b""
        cli.close()
        srv.close()


@pytest.mark.parametrize("family", FAMILIES)
async def test_sol_tls_without_the_ulp(family: int, autojump_clock: trio.testing.MockClock) -> None:
    """Without the ULP, ``SOL_TLS`` reaches the IP layer: ``ENOPROTOOPT`` to set;
    to get, ``EOPNOTSUPP`` from IPv4's ``do_ip_getsockopt``, ``ENOPROTOOPT`` from IPv6's."""
    async with netsim.open_host() as host:
        cli, srv = await _connect(host, family)
        info = Keys().info()
        assert _errno(cli.setsockopt, SOL_TLS, TLS_TX, info) == errno.ENOPROTOOPT
        assert _errno(cli.setsockopt, SOL_TLS, TLS_RX, info) == errno.ENOPROTOOPT
        expected_get = errno.EOPNOTSUPP if family == AF_INET else errno.ENOPROTOOPT
        assert _errno(cli.getsockopt, SOL_TLS, TLS_TX, 40) == expected_get
        # and the connection is untouched: a plain TCP byte stream
        await cli.send(b"plain")
        assert await srv.recv(10) == b"plain"
        cli.close()
        srv.close()


async def test_ulp_without_keys_is_plain_tcp(autojump_clock: trio.testing.MockClock) -> None:
    """The ULP alone (``TLS_BASE`` both ways) changes nothing on the wire; options of the
    other levels still go to TCP and IP."""
    async with netsim.open_host() as host:
        cli, srv = await _connect(host)
        _ulp(cli, srv)
        assert tls_info(cli.tcp_sk)["txconf"] == "base"
        assert tls_info(cli.tcp_sk)["rxconf"] == "base"
        cli.setsockopt(SOL_TCP, netsim.TCP_NODELAY, 1)
        assert cli.getsockopt(SOL_TCP, netsim.TCP_NODELAY) == 1
        cli.setsockopt(SOL_IP, netsim.IP_TOS, 0x10)
        assert cli.getsockopt(SOL_IP, netsim.IP_TOS) == 0x10
        await cli.send(b"no keys")
        assert await srv.recv(10) == b"no keys"
        assert _stats(host, "TlsTxSw", "TlsTxDevice", "TlsRxSw") == {
            "TlsTxSw": 0,
            "TlsTxDevice": 0,
            "TlsRxSw": 0,
        }
        cli.close()
        srv.close()


# -- TLS_TX / TLS_RX: the value's checks ---------------------------------------------------------


def _with_header(info: bytes, version: int | None = None, cipher: int | None = None) -> bytes:
    """``info`` with another version or cipher in its ``struct tls_crypto_info``."""
    v, c = struct.unpack_from("=HH", info)
    if version is not None:
        v = version
    if cipher is not None:
        c = cipher
    return struct.pack("=HH", v, c) + info[4:]


GOOD = Keys().info()
BAD_VALUES = [
    pytest.param(_with_header(GOOD, version=0x0302), id="tls11"),
    pytest.param(_with_header(GOOD, version=200), id="version_200"),
    pytest.param(_with_header(GOOD, version=0x0305), id="version_0305"),
    pytest.param(_with_header(GOOD, cipher=50), id="cipher_50"),
    pytest.param(_with_header(GOOD, cipher=59), id="cipher_59"),
    pytest.param(_with_header(GOOD, cipher=10), id="cipher_10"),
    pytest.param(_with_header(GOOD, cipher=70), id="cipher_70"),
    pytest.param(GOOD[:-1], id="one_byte_short"),
    pytest.param(GOOD + b"\0", id="one_byte_long"),
    pytest.param(Keys(cipher=TLS_CIPHER_AES_GCM_256).info()[:40], id="gcm256_in_gcm128_size"),
    pytest.param(_with_header(GOOD, cipher=TLS_CIPHER_AES_GCM_256), id="gcm256_header_on_40"),
    pytest.param(GOOD[:3], id="three_bytes"),
    pytest.param(b"", id="empty"),
    pytest.param(Keys(TLS_1_3_VERSION, TLS_CIPHER_ARIA_GCM_128).info(), id="aria128_tls13"),
    pytest.param(Keys(TLS_1_3_VERSION, TLS_CIPHER_ARIA_GCM_256).info(), id="aria256_tls13"),
]


@pytest.mark.parametrize("value", BAD_VALUES)
@pytest.mark.parametrize("optname", [TLS_TX, TLS_RX], ids=["tx", "rx"])
async def test_bad_crypto_info_is_einval(
    value: bytes, optname: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``do_tls_setsockopt_conf`` / ``validate_crypto_info``: a version other than 1.2/1.3,
    a cipher it does not know (the selftest's ``bad_cipher`` values), ARIA with TLS 1.3, a
    value of a length other than the cipher's struct, or shorter than ``struct
    tls_crypto_info``: ``EINVAL``.  Nothing is kept: the option can then be set."""
    async with netsim.open_host() as host:
        cli, srv = await _connect(host)
        _ulp(cli)
        assert _errno(cli.setsockopt, SOL_TLS, optname, value) == errno.EINVAL
        assert _errno(cli.getsockopt, SOL_TLS, optname, 40) == errno.EBUSY
        cli.setsockopt(SOL_TLS, optname, GOOD)
        assert cli.getsockopt(SOL_TLS, optname, 40) == GOOD
        assert host.stats()["TlsTxRekeyError"] == host.stats()["TlsRxRekeyError"] == 0
        cli.close()
        srv.close()


async def test_null_crypto_info_is_einval(autojump_clock: trio.testing.MockClock) -> None:
    """``sockptr_is_null(optval)``: a NULL buffer of any length is ``EINVAL``, not
    ``EFAULT``."""
    async with netsim.open_host() as host:
        cli, srv = await _connect(host)
        _ulp(cli)
        assert _errno(cli.setsockopt, SOL_TLS, TLS_TX, None, 40) == errno.EINVAL
        assert _errno(cli.setsockopt, SOL_TLS, TLS_RX, None, 40) == errno.EINVAL
        cli.close()
        srv.close()


@pytest.mark.parametrize(
    ("version", "cipher"),
    [
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_SM4_GCM, id="sm4_gcm_tls12"),
        pytest.param(TLS_1_3_VERSION, TLS_CIPHER_SM4_GCM, id="sm4_gcm_tls13"),
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_SM4_CCM, id="sm4_ccm_tls12"),
        pytest.param(TLS_1_3_VERSION, TLS_CIPHER_SM4_CCM, id="sm4_ccm_tls13"),
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_ARIA_GCM_128, id="aria128_tls12"),
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_ARIA_GCM_256, id="aria256_tls12"),
    ],
)
async def test_ciphers_netsim_cannot_run_are_enoent(
    version: int, cipher: int, autojump_clock: trio.testing.MockClock
) -> None:
    """SM4 and ARIA pass Linux's checks (the lengths are right) but netsim has no AEAD for
    them: ``ENOENT``, as Linux says when the crypto module is missing, with a message that
    says why; nothing is set up, and no counter moves."""
    async with netsim.open_host() as host:
        host.devices["lo"].features |= NETIF_F_HW_TLS_TX
        cli, srv = await _connect(host)
        _ulp(cli)
        info = Keys(version, cipher).info()
        for optname in (TLS_TX, TLS_RX):
            with pytest.raises(OSError, match=rf"^\[Errno {errno.ENOENT}\] .*not emulated"):
                cli.setsockopt(SOL_TLS, optname, info)
            assert _errno(cli.getsockopt, SOL_TLS, optname, 4) == errno.EBUSY
        assert tls_info(cli.tcp_sk)["txconf"] == tls_info(cli.tcp_sk)["rxconf"] == "base"
        assert _stats(host, "TlsTxSw", "TlsTxDevice", "TlsRxSw", "TlsCurrTxSw") == {
            "TlsTxSw": 0,
            "TlsTxDevice": 0,
            "TlsRxSw": 0,
            "TlsCurrTxSw": 0,
        }
        cli.close()
        srv.close()


@pytest.mark.parametrize("device", [False, True], ids=["sw", "hw"])
async def test_second_tls_tx_is_ebusy_and_counts_a_rekey_error(
    device: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """TLS 1.2 cannot be re-keyed: a second ``TLS_TX`` or ``TLS_RX`` is ``EBUSY`` and counts
    ``TlsTxRekeyError`` / ``TlsRxRekeyError`` — after the length check, so a value shorter
    than 4 bytes is ``EINVAL`` and counts nothing.  The first keys stay."""
    async with netsim.open_host() as host:
        if device:
            host.devices["lo"].features |= NETIF_F_HW_TLS_TX
        keys = Keys(seed=1)
        tx, rx = await _tls_pair(host, keys)
        other = Keys(seed=2).info()
        assert _errno(tx.setsockopt, SOL_TLS, TLS_TX, other) == errno.EBUSY
        assert _errno(tx.setsockopt, SOL_TLS, TLS_TX, keys.info()) == errno.EBUSY
        assert _errno(rx.setsockopt, SOL_TLS, TLS_RX, other) == errno.EBUSY
        assert _errno(tx.setsockopt, SOL_TLS, TLS_TX, b"\x03\x03") == errno.EINVAL
        assert _stats(host, "TlsTxRekeyError", "TlsRxRekeyError", "TlsTxRekeyOk") == {
            "TlsTxRekeyError": 2,
            "TlsRxRekeyError": 1,
            "TlsTxRekeyOk": 0,
        }
        assert tx.getsockopt(SOL_TLS, TLS_TX, 40) == keys.info()
        await _send_and_check(tx, rx, _data(3000))
        tx.close()
        rx.close()


@pytest.mark.parametrize("first", [TLS_TX, TLS_RX], ids=["tx_first", "rx_first"])
async def test_directions_must_agree_on_version_and_cipher(
    first: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``validate_crypto_info``: the second direction set must use the first's version and
    cipher (``EINVAL``); the same version and cipher with other keys is fine."""
    second = TLS_RX if first == TLS_TX else TLS_TX
    async with netsim.open_host() as host:
        cli, srv = await _connect(host)
        _ulp(cli)
        cli.setsockopt(SOL_TLS, first, Keys(seed=1).info())
        for version, cipher in (
            (TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128),
            (TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256),
            (TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305),
            (TLS_1_3_VERSION, TLS_CIPHER_AES_CCM_128),
        ):
            value = Keys(version, cipher, seed=2).info()
            assert _errno(cli.setsockopt, SOL_TLS, second, value) == errno.EINVAL
        cli.setsockopt(SOL_TLS, second, Keys(seed=2).info())
        assert tls_info(cli.tcp_sk)["txconf"] == tls_info(cli.tcp_sk)["rxconf"] == "sw"
        cli.close()
        srv.close()


async def test_unknown_sol_tls_option_is_enoprotoopt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``do_tls_setsockopt`` / ``do_tls_getsockopt``: an option number they do not know is
    ``ENOPROTOOPT`` both ways."""
    async with netsim.open_host() as host:
        cli, srv = await _connect(host)
        _ulp(cli)
        for optname in (0, 5, 99):
            assert _errno(cli.setsockopt, SOL_TLS, optname, 1) == errno.ENOPROTOOPT
            assert _errno(cli.getsockopt, SOL_TLS, optname) == errno.ENOPROTOOPT
        cli.close()
        srv.close()


# -- getsockopt(TLS_TX / TLS_RX) --------------------------------------------------------------


async def test_getsockopt_crypto_info_before_it_is_set(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``do_tls_getsockopt_conf``: the buffer length is checked first (under 4 bytes:
    ``EINVAL``, even before the keys are set), then readiness (``EBUSY``)."""
    async with netsim.open_host() as host:
        cli, srv = await _connect(host)
        _ulp(cli)
        for optname in (TLS_TX, TLS_RX):
            assert _errno(cli.getsockopt, SOL_TLS, optname, 3) == errno.EINVAL
            assert _errno(cli.getsockopt, SOL_TLS, optname, 4) == errno.EBUSY
            assert _errno(cli.getsockopt, SOL_TLS, optname, 40) == errno.EBUSY
            assert _errno(cli.getsockopt, SOL_TLS, optname) == errno.EBUSY
        cli.setsockopt(SOL_TLS, TLS_TX, GOOD)
        assert _errno(cli.getsockopt, SOL_TLS, TLS_RX, 40) == errno.EBUSY
        cli.close()
        srv.close()


def _bump(value: bytes, n: int) -> bytes:
    """``value`` as a big-endian counter, ``n`` times ``tls_bigint_increment``ed."""
    width = len(value)
    return ((int.from_bytes(value, "big") + n) % (1 << (8 * width))).to_bytes(width, "big")


@pytest.mark.parametrize(
    ("version", "cipher", "device"),
    [
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128, False, id="12_aes_gcm_sw"),
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128, True, id="12_aes_gcm_hw"),
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256, True, id="12_aes_gcm_256_hw"),
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_AES_CCM_128, False, id="12_aes_ccm"),
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305, False, id="12_chacha"),
        pytest.param(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128, False, id="13_aes_gcm"),
        pytest.param(TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305, False, id="13_chacha"),
    ],
)
async def test_getsockopt_crypto_info_tracks_the_record_number(
    version: int, cipher: int, device: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """``do_tls_getsockopt_conf`` with the struct's size returns the keys with the current
    record number and IV: after N records ``rec_seq`` has counted up N, and for TLS 1.2 with
    an explicit nonce (GCM, CCM) the IV too — with carries (``tls_bigint_increment``) —
    while TLS 1.3 and ChaCha20 keep the IV (``tls_advance_record_sn``).  The receiver's
    ``TLS_RX`` counts the same way as it reads.  A 4-byte buffer is version and cipher; other
    lengths are ``EINVAL``."""
    iv_len, _, _ = SIZES[cipher]
    iv = bytes(iv_len - 2) + b"\x00\xfe"  # counts over a byte boundary
    keys = Keys(version, cipher, seed=3, rec_seq=(1 << 32) - 2, iv=iv)
    size = len(keys.info())
    async with netsim.open_host() as host:
        if device:
            host.devices["lo"].features |= NETIF_F_HW_TLS_TX
        tx, rx = await _tls_pair(host, keys)
        assert tls_info(tx.tcp_sk)["txconf"] == ("hw" if device else "sw")
        assert tx.getsockopt(SOL_TLS, TLS_TX, size) == keys.info()
        assert tx.getsockopt(SOL_TLS, TLS_TX, 4) == struct.pack("=HH", version, cipher)
        assert tx.getsockopt(SOL_TLS, TLS_TX) == version | cipher << 16
        for bad in (5, size - 1, size + 1):
            assert _errno(tx.getsockopt, SOL_TLS, TLS_TX, bad) == errno.EINVAL
        records = 5
        for i in range(records):
            await tx.send(_data(100 + i, seed=i))
        advanced = Keys(version, cipher, seed=3, rec_seq=keys.rec_seq + records, iv=iv)
        if keys.explicit_nonce():
            advanced.iv = _bump(iv, records)
            assert advanced.iv[-2:] == b"\x01\x03"
        assert tx.getsockopt(SOL_TLS, TLS_TX, size) == advanced.info()
        assert rx.getsockopt(SOL_TLS, TLS_RX, size) == keys.info()  # nothing read yet
        got = await _recv_exactly(rx, sum(100 + i for i in range(records)))
        assert got == b"".join(_data(100 + i, seed=i) for i in range(records))
        assert rx.getsockopt(SOL_TLS, TLS_RX, size) == advanced.info()
        tx.close()
        rx.close()


# -- TLS_TX_ZEROCOPY_RO and TLS_RX_EXPECT_NO_PAD ------------------------------------------------


async def test_tx_zerocopy_ro_option(autojump_clock: trio.testing.MockClock) -> None:
    """``TLS_TX_ZEROCOPY_RO``: exactly 4 bytes (``EINVAL`` otherwise, both ways), 0 or 1
    (``EINVAL`` above); settable as soon as the ULP is there; read back as set."""
    async with netsim.open_host() as host:
        cli, srv = await _connect(host)
        _ulp(cli)
        assert cli.getsockopt(SOL_TLS, TLS_TX_ZEROCOPY_RO) == 0
        cli.setsockopt(SOL_TLS, TLS_TX_ZEROCOPY_RO, 1)
        assert cli.getsockopt(SOL_TLS, TLS_TX_ZEROCOPY_RO, 4) == struct.pack("=I", 1)
        for bad in (2, -1, 0x100):
            assert _errno(cli.setsockopt, SOL_TLS, TLS_TX_ZEROCOPY_RO, bad) == errno.EINVAL
        for raw in (b"\x01", b"\x01\0", struct.pack("=Q", 1)):
            assert _errno(cli.setsockopt, SOL_TLS, TLS_TX_ZEROCOPY_RO, raw) == errno.EINVAL
        assert _errno(cli.getsockopt, SOL_TLS, TLS_TX_ZEROCOPY_RO, 8) == errno.EINVAL
        assert _errno(cli.getsockopt, SOL_TLS, TLS_TX_ZEROCOPY_RO, 2) == errno.EINVAL
        assert cli.getsockopt(SOL_TLS, TLS_TX_ZEROCOPY_RO) == 1  # the failures changed nothing
        cli.setsockopt(SOL_TLS, TLS_TX, GOOD)
        cli.setsockopt(SOL_TLS, TLS_TX_ZEROCOPY_RO, 0)
        assert cli.getsockopt(SOL_TLS, TLS_TX_ZEROCOPY_RO) == 0
        assert tls_info(cli.tcp_sk)["zc_ro_tx"] is False
        cli.close()
        srv.close()


async def test_rx_expect_no_pad_is_tls13_receive_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``TLS_RX_EXPECT_NO_PAD``: ``EINVAL`` unless the socket's version is TLS 1.3 and
    ``TLS_RX`` is set (both ways); the value is 0 or 1, and bytes past the first 4 must be
    zero (``check_zeroed_sockptr``)."""
    async with netsim.open_host() as host:
        a, b = await _connect(host)
        _ulp(a, b)
        assert _errno(a.setsockopt, SOL_TLS, TLS_RX_EXPECT_NO_PAD, 1) == errno.EINVAL
        assert _errno(a.getsockopt, SOL_TLS, TLS_RX_EXPECT_NO_PAD) == errno.EINVAL
        a.setsockopt(SOL_TLS, TLS_RX, Keys(TLS_1_2_VERSION).info())
        assert _errno(a.setsockopt, SOL_TLS, TLS_RX_EXPECT_NO_PAD, 1) == errno.EINVAL
        assert _errno(a.getsockopt, SOL_TLS, TLS_RX_EXPECT_NO_PAD) == errno.EINVAL
        b.setsockopt(SOL_TLS, TLS_TX, Keys(TLS_1_3_VERSION).info())  # 1.3, but no TLS_RX
        assert _errno(b.setsockopt, SOL_TLS, TLS_RX_EXPECT_NO_PAD, 1) == errno.EINVAL
        assert _errno(b.getsockopt, SOL_TLS, TLS_RX_EXPECT_NO_PAD) == errno.EINVAL
        b.setsockopt(SOL_TLS, TLS_RX, Keys(TLS_1_3_VERSION, seed=5).info())
        assert b.getsockopt(SOL_TLS, TLS_RX_EXPECT_NO_PAD) == 0
        b.setsockopt(SOL_TLS, TLS_RX_EXPECT_NO_PAD, 1)
        assert b.getsockopt(SOL_TLS, TLS_RX_EXPECT_NO_PAD, 4) == struct.pack("=i", 1)
        assert _errno(b.setsockopt, SOL_TLS, TLS_RX_EXPECT_NO_PAD, 2) == errno.EINVAL
        assert _errno(b.setsockopt, SOL_TLS, TLS_RX_EXPECT_NO_PAD, b"\0\0") == errno.EINVAL
        bad_tail = struct.pack("=II", 0, 1)
        assert _errno(b.setsockopt, SOL_TLS, TLS_RX_EXPECT_NO_PAD, bad_tail) == errno.EINVAL
        assert _errno(b.getsockopt, SOL_TLS, TLS_RX_EXPECT_NO_PAD, 2) == errno.EINVAL
        b.setsockopt(SOL_TLS, TLS_RX_EXPECT_NO_PAD, struct.pack("=II", 0, 0))
        assert b.getsockopt(SOL_TLS, TLS_RX_EXPECT_NO_PAD) == 0
        a.close()
        b.close()


# -- device or software -------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])
@pytest.mark.parametrize(
    ("version", "cipher", "feature", "conf"),
    [
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128, False, "sw", id="12_gcm_no_feature"),
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128, True, "hw", id="12_gcm_hw"),
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256, True, "hw", id="12_gcm256_hw"),
        pytest.param(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128, True, "sw", id="13_gcm_feature"),
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_AES_CCM_128, True, "sw", id="12_ccm_feature"),
        pytest.param(
            TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305, True, "sw", id="12_chacha_feature"
        ),
    ],
)
async def test_device_or_software_on_loopback(
    family: int,
    allocator: str,
    version: int,
    cipher: int,
    feature: bool,
    conf: str,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``tls_set_device_offload`` takes the socket when the route's device (``lo`` here) has
    ``NETIF_F_HW_TLS_TX`` and the keys are TLS 1.2 AES-GCM; TLS 1.3 (the 6.18 device path
    refuses it), CCM and ChaCha20 fall back to software with no error.  The counters say
    which (``TlsTxDevice``/``TlsTxSw`` and their ``Curr`` gauges), the gauges count down when
    the socket is closed; receive is always software."""
    async with netsim.open_host(allocator=allocator) as host:
        if feature:
            host.devices["lo"].features |= NETIF_F_HW_TLS_TX
        keys = Keys(version, cipher, seed=4)
        tx, rx = await _tls_pair(host, keys, family)
        assert tls_info(tx.tcp_sk)["txconf"] == conf
        assert tls_info(tx.tcp_sk)["rxconf"] == "base"
        assert tls_info(rx.tcp_sk)["rxconf"] == "sw"
        hw = conf == "hw"
        names = (
            "TlsTxDevice",
            "TlsCurrTxDevice",
            "TlsTxSw",
            "TlsCurrTxSw",
            "TlsRxSw",
            "TlsCurrRxSw",
        )
        assert _stats(host, *names) == dict(zip(names, (hw, hw, not hw, not hw, 1, 1), strict=True))
        await _send_and_check(tx, rx, _data(40000))
        stats = host.stats()
        assert stats["tls_records"] == 3  # 16384 + 16384 + 7232
        assert stats["tls_dev_encrypt" if hw else "tls_sw_encrypt"] >= 3
        assert stats["tls_sw_encrypt" if hw else "tls_dev_encrypt"] == 0
        assert stats["tls_rx_records"] == 3
        tx.close()
        assert _stats(host, "TlsCurrTxDevice", "TlsCurrTxSw", "TlsCurrRxSw") == {
            "TlsCurrTxDevice": 0,
            "TlsCurrTxSw": 0,
            "TlsCurrRxSw": 1,
        }
        rx.close()
        assert host.stats()["TlsCurrRxSw"] == 0
        # the totals stay
        assert _stats(host, "TlsTxDevice", "TlsTxSw", "TlsRxSw") == {
            "TlsTxDevice": hw,
            "TlsTxSw": not hw,
            "TlsRxSw": 1,
        }


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    ("tls_offload", "feature_only", "conf"),
    [
        pytest.param(True, False, "hw", id="tls_offload"),
        pytest.param(False, True, "sw", id="feature_without_csum_offload"),
        pytest.param(False, False, "sw", id="plain_nic"),
    ],
)
async def test_device_or_software_over_a_link(
    family: int,
    tls_offload: bool,
    feature_only: bool,
    conf: str,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Over a link: ``tls_offload=True`` gives both NICs ``NETIF_F_HW_TLS_TX`` (with the
    checksum offload it needs) and ``TLS_TX`` takes the device; the feature bit alone on a NIC
    without checksum offload is one Linux would have cleared (``netdev_fix_features``), so
    software.  Either way the peer reads what was sent, through 2% loss."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        wire = netsim.link(
            a,
            b,
            rate=1e9,
            delay=0.0005,
            tls_offload=tls_offload,
            faults=netsim.FaultPlan(loss=0.02, seed=3),
        )
        if feature_only:
            wire.dev_a.features |= NETIF_F_HW_TLS_TX
        lst = b.socket(family, SOCK_STREAM)
        await lst.bind(("", 4433))
        lst.listen()
        tx = a.socket(family, SOCK_STREAM)
        await tx.connect(("10.0.0.2" if family == AF_INET else "fd00::2", 4433))
        rx, _ = await lst.accept()
        lst.close()
        keys = Keys(seed=6)
        _ulp(tx, rx)
        tx.setsockopt(SOL_TLS, TLS_TX, keys.info())
        rx.setsockopt(SOL_TLS, TLS_RX, keys.info())
        assert tls_info(tx.tcp_sk)["txconf"] == conf
        hw = conf == "hw"
        assert _stats(a, "TlsTxDevice", "TlsTxSw") == {"TlsTxDevice": hw, "TlsTxSw": not hw}
        await _send_and_check(tx, rx, _data(300_000, seed=7))
        assert a.stats()["TcpRetransSegs"] > 0  # the loss was real
        assert (a.stats()["tls_dev_encrypt"] > 0) is hw
        tx.close()
        rx.close()
        assert a.stats()["TlsCurrTxDevice"] == a.stats()["TlsCurrTxSw"] == 0


# -- every cipher ----------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize("version", VERSIONS)
async def test_every_cipher_round_trips(
    version: int, cipher: int, family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Software kTLS with each cipher Linux offers that netsim can run, TLS 1.2 and 1.3:
    both directions on one connection carry bytes exactly, whole records and partial ones."""
    async with netsim.open_host() as host:
        a, b = await _connect(host, family)
        _ulp(a, b)
        a_to_b = Keys(version, cipher, seed=10)
        b_to_a = Keys(version, cipher, seed=11)
        a.setsockopt(SOL_TLS, TLS_TX, a_to_b.info())
        b.setsockopt(SOL_TLS, TLS_RX, a_to_b.info())
        b.setsockopt(SOL_TLS, TLS_TX, b_to_a.info())
        a.setsockopt(SOL_TLS, TLS_RX, b_to_a.info())
        for size in (1, 1000, 16384, 16385, 70001):
            await _send_and_check(a, b, _data(size, seed=size))
            await _send_and_check(b, a, _data(size, seed=size + 1))
        a.close()
        b.close()


def _open_record(keys: Keys, seq: int, record: bytes) -> tuple[int, bytes]:
    """Open one TLS record: the explicit nonce (TLS 1.2 GCM/CCM) or the IV XOR the record
    number (TLS 1.3, ChaCha20-Poly1305) as nonce; the additional data is ``seq | type |
    version | length`` (1.2) or the record header (1.3, whose real type is the last
    non-zero byte inside)."""
    header, body = record[:HEADER], record[HEADER:]
    if keys.explicit_nonce():
        nonce = keys.salt + body[:8]
        body = body[8:]
    else:
        static = keys.salt + keys.iv
        nonce = bytes(x ^ y for x, y in zip(static, seq.to_bytes(len(static), "big"), strict=True))
    if keys.version == TLS_1_3_VERSION:
        inner = keys.aead().decrypt(nonce, body, header).rstrip(b"\0")
        return inner[-1], inner[:-1]
    aad = struct.pack("!QBBBH", seq, header[0], 3, 3, len(body) - TAG)
    return header[0], keys.aead().decrypt(nonce, body, aad)


@pytest.mark.parametrize(
    ("version", "cipher", "device"),
    [
        *(
            pytest.param(v.values[0], c.values[0], False, id=f"{v.id}_{c.id}_sw")
            for v in VERSIONS
            for c in CIPHERS
        ),
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128, True, id="tls12_aes_gcm_128_hw"),
        pytest.param(TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256, True, id="tls12_aes_gcm_256_hw"),
    ],
)
async def test_records_on_the_wire(
    version: int, cipher: int, device: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """What a kTLS sender puts in the TCP stream is TLS records any TLS peer can open: the
    header (type, 3,3, length), for TLS 1.2 GCM/CCM the explicit nonce (the TX IV, one up per
    record), ciphertext and tag; TLS 1.3 records say type 23 outside and hide the real type
    inside.  Read here by a peer with the ULP but no keys (plain TCP), checked with this
    file's own AEAD code.  Device mode: the emulated NIC's output, the same records.

    An empty write: software kTLS makes no record (``tls_sw_sendmsg_locked`` loops over the
    bytes), ``tls_push_data`` makes an empty one (its loop runs once, closing the record)."""
    keys = Keys(version, cipher, seed=12, rec_seq=7)
    tls13 = version == TLS_1_3_VERSION
    nonce = 8 if keys.explicit_nonce() else 0
    writes: list[tuple[int, bytes]] = [
        (23, _data(100, seed=1)),
        (23, _data(20000, seed=2)),  # two records: 16384 + 3616
        (21, b"\x01\x00"),  # an alert: a record of its own
        (23, b""),
        (23, _data(5, seed=3)),
    ]
    records = [(23, writes[0][1]), (23, writes[1][1][:16384]), (23, writes[1][1][16384:])]
    records += [(21, writes[2][1]), *([(23, b"")] if device else []), (23, writes[4][1])]
    wire_len = sum(HEADER + nonce + len(p) + TAG + tls13 for _, p in records)
    async with netsim.open_host() as host:
        if device:
            host.devices["lo"].features |= NETIF_F_HW_TLS_TX
        tx, peer = await _connect(host)
        _ulp(tx, peer)
        tx.setsockopt(SOL_TLS, TLS_TX, keys.info())
        assert tls_info(tx.tcp_sk)["txconf"] == ("hw" if device else "sw")
        for rtype, payload in writes:
            cmsgs = [(SOL_TLS, TLS_SET_RECORD_TYPE, bytes([rtype]))] if rtype != 23 else []
            assert await tx.sendmsg([payload], cmsgs) == len(payload)
        wire = await peer.recv(wire_len + 100, MSG_WAITALL | MSG_DONTWAIT)
        assert len(wire) == wire_len
        pos = 0
        for i, (rtype, payload) in enumerate(records):
            seq = keys.rec_seq + i
            length = struct.unpack_from("!H", wire, pos + 3)[0]
            record = wire[pos : pos + HEADER + length]
            assert record[:3] == bytes([23 if tls13 else rtype, 3, 3])
            assert length == nonce + len(payload) + TAG + tls13
            if nonce:
                assert record[HEADER : HEADER + nonce] == _bump(keys.iv, i)
            assert _open_record(keys, seq, record) == (rtype, payload)
            assert len(payload) < 8 or payload not in record  # it was encrypted
            pos += len(record)
        assert pos == len(wire)
        tx.close()
        peer.close()


# -- a bad key ----------------------------------------------------------------------------------


@pytest.mark.parametrize("device", [False, True], ids=["sw_tx", "hw_tx"])
@pytest.mark.parametrize("version", VERSIONS)
async def test_wrong_key_is_ebadmsg_for_good(
    version: int, device: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """A receiver with another key cannot authenticate the record: ``EBADMSG``,
    ``TlsDecryptError`` counts it, and the connection is broken — later reads, blocking or
    not, fail the same way (``tls_err_abort``), even with good records behind it."""
    async with netsim.open_host() as host:
        if device:
            host.devices["lo"].features |= NETIF_F_HW_TLS_TX
        tx, rx = await _connect(host)
        _ulp(tx, rx)
        tx.setsockopt(SOL_TLS, TLS_TX, Keys(version, seed=20).info())
        rx.setsockopt(SOL_TLS, TLS_RX, Keys(version, seed=21).info())
        await tx.send(b"secret")
        await tx.send(b"more")
        assert await _aerrno(rx.recv, 100) == errno.EBADMSG
        assert host.stats()["TlsDecryptError"] == 1
        assert host.stats()["tls_rx_records"] == 0
        assert await _aerrno(rx.recv, 100) == errno.EBADMSG
        assert await _aerrno(rx.recv, 100, MSG_DONTWAIT) == errno.EBADMSG
        assert await _aerrno(rx.recvmsg, 100, 64) == errno.EBADMSG
        assert host.stats()["tls_rx_records"] == 0
        tx.close()
        rx.close()


# -- send flags and control messages -------------------------------------------------------


@pytest.mark.parametrize("device", [False, True], ids=["sw", "hw"])
async def test_send_flags(device: bool, autojump_clock: trio.testing.MockClock) -> None:
    """``tls_sw_sendmsg`` / ``tls_push_data``: ``MSG_MORE | MSG_EOR`` is ``EINVAL``; a flag
    kTLS does not take (``MSG_OOB``) is ``EOPNOTSUPP``; ``TLS_SET_RECORD_TYPE`` with
    ``MSG_MORE`` (``tls_process_cmsg``), an unknown ``SOL_TLS`` control message, one without
    its byte, and control data with no ``SOL_TLS`` message at all are ``EINVAL``.  None of
    them sends anything: the next record is record 0."""
    async with netsim.open_host() as host:
        if device:
            host.devices["lo"].features |= NETIF_F_HW_TLS_TX
        keys = Keys(seed=30)
        tx, rx = await _tls_pair(host, keys)
        assert await _aerrno(tx.send, b"x", MSG_MORE | MSG_EOR) == errno.EINVAL
        assert await _aerrno(tx.send, b"x", MSG_OOB) == errno.EOPNOTSUPP
        alert = [(SOL_TLS, TLS_SET_RECORD_TYPE, bytes([21]))]
        assert await _aerrno(tx.sendmsg, [b"x"], alert, MSG_MORE) == errno.EINVAL
        unknown = [(SOL_TLS, TLS_SET_RECORD_TYPE + 7, bytes([21]))]
        assert await _aerrno(tx.sendmsg, [b"x"], unknown) == errno.EINVAL
        empty = [(SOL_TLS, TLS_SET_RECORD_TYPE, b"")]
        assert await _aerrno(tx.sendmsg, [b"x"], empty) == errno.EINVAL
        other_level = [(SOL_IP, netsim.IP_TOS, struct.pack("i", 0x10))]
        assert await _aerrno(tx.sendmsg, [b"x"], other_level) == errno.EINVAL
        assert host.stats()["tls_records"] == 0
        assert tx.getsockopt(SOL_TLS, TLS_TX, 40) == keys.info()
        # MSG_EOR alone is a plain send; a SOL_TLS message among others sets the type
        assert await tx.send(b"eor", MSG_EOR) == 3
        assert await tx.sendmsg([b"bye"], [*other_level, *alert]) == 3
        assert await rx.recv(100) == b"eor"
        data, cmsgs, _, _ = await rx.recvmsg(100, 64)
        assert (data, cmsgs) == (b"bye", [(SOL_TLS, netsim.TLS_GET_RECORD_TYPE, bytes([21]))])
        assert host.stats()["tls_records"] == 2
        tx.close()
        rx.close()
