"""kTLS crypto parameters and record protection (include/uapi/linux/tls.h, net/tls/tls.h,
net/tls/tls_main.c ``tls_cipher_desc``, net/tls/tls_sw.c ``init_prot_info``,
``tls_make_aad``, ``tls_xor_iv_with_seq``).

What ``setsockopt(SOL_TLS, TLS_TX/TLS_RX, info)`` carries is a ``struct tls_crypto_info``
(``u16 version, u16 cipher_type``) followed by the cipher's ``iv``, ``key``, ``salt`` and
``rec_seq`` — ``struct tls12_crypto_info_aes_gcm_128`` is 40 bytes::

    version 0x0303 | cipher 51 | iv[8] | key[16] | salt[4] | rec_seq[8]

The record layout follows from the version and cipher (``init_prot_info``): a 5-byte header
(type, 3, 3, length), then for TLS 1.2 with an explicit nonce (GCM, CCM) the 8-byte nonce —
``prepend_size`` 13 for AES-GCM-128 — then the ciphertext and a 16-byte tag; TLS 1.3 has no
explicit nonce (prepend 5) and one more byte inside the encryption (the real record type, the
outer one being 23, ``tail_size`` 1).  The AEAD nonce is ``salt || explicit nonce`` for TLS
1.2 GCM/CCM, and ``(salt || iv) XOR record sequence`` for TLS 1.3 and ChaCha20-Poly1305.  The
additional data is ``seq(8) | type | 3, 3 | plaintext length(2)`` for TLS 1.2 and the record
header itself for TLS 1.3.

The AEADs are the ``cryptography`` package's (``AESGCM``, ``AESCCM``,
``ChaCha20Poly1305``).  SM4 and ARIA, which Linux knows, have no AEAD there: their
``TLS_TX``/``TLS_RX`` are ``ENOENT`` here (Linux's answer when the crypto API has no such
algorithm loaded).
"""

from __future__ import annotations

import struct
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from ..errors import errno, kernel_error
from ..sock.constants import (
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
)

__all__ = [
    "TLS_CIPHERS",
    "TLS_CRYPTO_INFO_SIZE",
    "TLS_HEADER_SIZE",
    "TLS_MAX_PAYLOAD_SIZE",
    "TLS_RECORD_TYPE_ALERT",
    "TLS_RECORD_TYPE_DATA",
    "TLS_RECORD_TYPE_HANDSHAKE",
    "TlsCipherDesc",
    "TlsCipherState",
    "TlsCryptoInfo",
    "TlsProtInfo",
    "tls_crypto_info",
    "tls_decrypt",
    "tls_encrypt",
    "tls_make_aad",
    "tls_parse_crypto_info",
]

TLS_HEADER_SIZE: Final = 5
TLS_MAX_PAYLOAD_SIZE: Final = 16384
#: ``TLS_AAD_SPACE_SIZE``: TLS 1.2's additional data
TLS_AAD_SPACE_SIZE: Final = 13
TLS_RECORD_TYPE_CHANGE_CIPHER_SPEC: Final = 20
TLS_RECORD_TYPE_ALERT: Final = 21
TLS_RECORD_TYPE_HANDSHAKE: Final = 22
TLS_RECORD_TYPE_DATA: Final = 23
#: ``sizeof(struct tls_crypto_info)``
TLS_CRYPTO_INFO_SIZE: Final = 4


class TlsCipherDesc:
    """``struct tls_cipher_desc`` (net/tls/tls.h): sizes of one cipher's parameters.
    ``nonce``: the explicit nonce each TLS 1.2 record carries; ``offloadable``: a NIC may do
    it (``tls_set_device_offload`` takes AES-GCM-128 and -256 only)."""

    __slots__ = ("crypto_info", "iv", "key", "name", "nonce", "offloadable", "rec_seq", "salt")

    def __init__(
        self,
        name: str,
        *,
        nonce: int,
        iv: int,
        key: int,
        salt: int,
        rec_seq: int = 8,
        offloadable: bool = False,
    ) -> None:
        self.name = name
        self.nonce = nonce
        self.iv = iv
        self.key = key
        self.salt = salt
        self.rec_seq = rec_seq
        self.offloadable = offloadable
        #: the size of its ``struct tls12_crypto_info_*``
        self.crypto_info = TLS_CRYPTO_INFO_SIZE + iv + key + salt + rec_seq

    @property
    def tag(self) -> int:
        return 16


#: ``tls_cipher_desc[]``: every cipher Linux 6.18 knows.  The ones with ``None`` in
#: :data:`_AEADS` are known (their lengths are checked) but not available.
TLS_CIPHERS: Final[dict[int, TlsCipherDesc]] = {
    TLS_CIPHER_AES_GCM_128: TlsCipherDesc(
        "gcm(aes)", nonce=8, iv=8, key=16, salt=4, offloadable=True
    ),
    TLS_CIPHER_AES_GCM_256: TlsCipherDesc(
        "gcm(aes)", nonce=8, iv=8, key=32, salt=4, offloadable=True
    ),
    TLS_CIPHER_AES_CCM_128: TlsCipherDesc("ccm(aes)", nonce=8, iv=8, key=16, salt=4),
    TLS_CIPHER_CHACHA20_POLY1305: TlsCipherDesc(
        "rfc7539(chacha20,poly1305)", nonce=0, iv=12, key=32, salt=0
    ),
    TLS_CIPHER_SM4_GCM: TlsCipherDesc("gcm(sm4)", nonce=8, iv=8, key=16, salt=4),
    TLS_CIPHER_SM4_CCM: TlsCipherDesc("ccm(sm4)", nonce=8, iv=8, key=16, salt=4),
    TLS_CIPHER_ARIA_GCM_128: TlsCipherDesc("gcm(aria)", nonce=8, iv=8, key=16, salt=4),
    TLS_CIPHER_ARIA_GCM_256: TlsCipherDesc("gcm(aria)", nonce=8, iv=8, key=32, salt=4),
}

_AVAILABLE: Final = (
    TLS_CIPHER_AES_GCM_128,
    TLS_CIPHER_AES_GCM_256,
    TLS_CIPHER_AES_CCM_128,
    TLS_CIPHER_CHACHA20_POLY1305,
)


class TlsCryptoInfo:
    """A parsed ``struct tls12_crypto_info_*``: what ``TLS_TX``/``TLS_RX`` were given."""

    __slots__ = ("cipher_type", "iv", "key", "rec_seq", "salt", "version")

    def __init__(
        self, version: int, cipher_type: int, iv: bytes, key: bytes, salt: bytes, rec_seq: bytes
    ) -> None:
        self.version = version
        self.cipher_type = cipher_type
        self.iv = iv
        self.key = key
        self.salt = salt
        self.rec_seq = rec_seq

    @property
    def desc(self) -> TlsCipherDesc:
        return TLS_CIPHERS[self.cipher_type]

    def pack(self) -> bytes:
        """The ``struct`` as ``setsockopt`` takes it and ``getsockopt`` returns it."""
        return (
            struct.pack("=HH", self.version, self.cipher_type)
            + self.iv
            + self.key
            + self.salt
            + self.rec_seq
        )

    def __repr__(self) -> str:
        return (
            f"TlsCryptoInfo(version={self.version:#06x}, cipher={self.cipher_type}"
            f" ({self.desc.name}), rec_seq={int.from_bytes(self.rec_seq, 'big')})"
        )


def tls_crypto_info(
    key: bytes,
    iv: bytes,
    salt: bytes,
    rec_seq: bytes | int = 0,
    *,
    version: int = TLS_1_2_VERSION,
    cipher_type: int = TLS_CIPHER_AES_GCM_128,
) -> bytes:
    """Build the ``setsockopt(SOL_TLS, TLS_TX, …)`` value, as a C program fills
    ``struct tls12_crypto_info_aes_gcm_128`` (the lengths are not checked here: the socket
    checks them)."""
    seq = rec_seq.to_bytes(8, "big") if isinstance(rec_seq, int) else rec_seq
    return TlsCryptoInfo(version, cipher_type, iv, key, salt, seq).pack()


def tls_parse_crypto_info(raw: bytes, alt: TlsCryptoInfo | None) -> TlsCryptoInfo:
    """``do_tls_setsockopt_conf``'s checks, in its order: shorter than ``struct
    tls_crypto_info`` → ``EINVAL``; a version other than 1.2/1.3 → ``EINVAL``; ARIA with
    TLS 1.3 → ``EINVAL``; a version or cipher different from the other direction's
    (``alt``) → ``EINVAL``; an unknown cipher → ``EINVAL``; a length other than the cipher's
    ``struct`` → ``EINVAL``."""
    if len(raw) < TLS_CRYPTO_INFO_SIZE:
        raise kernel_error(errno.EINVAL, f"crypto info of {len(raw)} bytes")
    version, cipher = struct.unpack_from("=HH", raw)
    if version not in (TLS_1_2_VERSION, TLS_1_3_VERSION):
        raise kernel_error(errno.EINVAL, f"TLS version {version:#06x} (1.2 or 1.3 only)")
    if cipher in (TLS_CIPHER_ARIA_GCM_128, TLS_CIPHER_ARIA_GCM_256) and version != TLS_1_2_VERSION:
        raise kernel_error(errno.EINVAL, "ARIA is TLS 1.2 only")
    if alt is not None and (alt.version != version or alt.cipher_type != cipher):
        raise kernel_error(errno.EINVAL, "TLS_TX and TLS_RX must use one version and cipher")
    desc = TLS_CIPHERS.get(cipher)
    if desc is None:
        raise kernel_error(errno.EINVAL, f"unknown TLS cipher {cipher}")
    if len(raw) != desc.crypto_info:
        raise kernel_error(
            errno.EINVAL,
            f"crypto info of {len(raw)} bytes, cipher {cipher} needs {desc.crypto_info}",
        )
    pos = TLS_CRYPTO_INFO_SIZE
    iv = raw[pos : pos + desc.iv]
    pos += desc.iv
    key = raw[pos : pos + desc.key]
    pos += desc.key
    salt = raw[pos : pos + desc.salt]
    pos += desc.salt
    rec_seq = raw[pos : pos + desc.rec_seq]
    return TlsCryptoInfo(version, cipher, iv, key, salt, rec_seq)


class TlsProtInfo:
    """``struct tls_prot_info`` as ``init_prot_info`` fills it: record geometry."""

    __slots__ = (
        "aad_size",
        "cipher_type",
        "iv_size",
        "nonce_size",
        "overhead_size",
        "prepend_size",
        "rec_seq_size",
        "salt_size",
        "tag_size",
        "tail_size",
        "version",
    )

    def __init__(self, info: TlsCryptoInfo | None) -> None:
        if info is None:  # a context with neither direction set up yet
            info = TlsCryptoInfo(0, TLS_CIPHER_AES_GCM_128, b"", b"", b"", b"")
        desc = info.desc
        self.version = info.version
        self.cipher_type = info.cipher_type
        tls13 = info.version == TLS_1_3_VERSION
        self.nonce_size = 0 if tls13 else desc.nonce
        self.tag_size = desc.tag
        self.tail_size = 1 if tls13 else 0
        self.aad_size = TLS_HEADER_SIZE if tls13 else TLS_AAD_SPACE_SIZE
        self.prepend_size = TLS_HEADER_SIZE + self.nonce_size
        self.overhead_size = self.prepend_size + self.tag_size + self.tail_size
        self.iv_size = desc.iv
        self.salt_size = desc.salt
        self.rec_seq_size = desc.rec_seq

    def __repr__(self) -> str:
        return (
            f"TlsProtInfo(version={self.version:#06x}, prepend={self.prepend_size},"
            f" tag={self.tag_size}, tail={self.tail_size}, overhead={self.overhead_size})"
        )


class TlsCipherState:
    """``struct cipher_context`` + the AEAD: one direction's key, ``salt || iv``, and record
    sequence number (``rec_seq``, an int; the wire carries it as 8 big-endian bytes)."""

    __slots__ = ("aead", "iv", "prot", "rec_seq")

    def __init__(self, info: TlsCryptoInfo, prot: TlsProtInfo) -> None:
        cipher = info.cipher_type
        if cipher not in _AVAILABLE:
            raise kernel_error(
                errno.ENOENT, f"no {info.desc.name} AEAD here (not emulated by netsim)"
            )
        self.aead: AESGCM | AESCCM | ChaCha20Poly1305
        if cipher == TLS_CIPHER_AES_CCM_128:
            self.aead = AESCCM(info.key, tag_length=16)
        elif cipher == TLS_CIPHER_CHACHA20_POLY1305:
            self.aead = ChaCha20Poly1305(info.key)
        else:
            self.aead = AESGCM(info.key)
        self.prot = prot
        #: ``salt || iv``: for TLS 1.2 GCM/CCM the iv part is the next explicit nonce
        self.iv = bytearray(info.salt + info.iv)
        self.rec_seq = int.from_bytes(info.rec_seq, "big")

    def explicit_nonce(self) -> bytes:
        """The explicit nonce the next TLS 1.2 record carries (empty for TLS 1.3 and
        ChaCha20-Poly1305)."""
        prot = self.prot
        if not prot.nonce_size:
            return b""
        return bytes(self.iv[prot.salt_size : prot.salt_size + prot.nonce_size])

    def advance(self) -> bool:
        """``tls_advance_record_sn``: the record sequence number, and for TLS 1.2 GCM/CCM the
        explicit nonce, count up by one (``tls_bigint_increment``).  True when the record
        number wrapped to 0 — TLS forbids that, and the caller aborts the socket with
        ``EBADMSG``."""
        prot = self.prot
        self.rec_seq = (self.rec_seq + 1) & 0xFFFFFFFFFFFFFFFF
        wrapped = self.rec_seq == 0
        if prot.nonce_size:
            start = prot.salt_size
            end = start + prot.iv_size
            value = (int.from_bytes(self.iv[start:end], "big") + 1) % (1 << (8 * prot.iv_size))
            self.iv[start:end] = value.to_bytes(prot.iv_size, "big")
        return wrapped

    def nonce(self, rec_seq: int, explicit: bytes) -> bytes:
        """The AEAD nonce of record ``rec_seq`` (``explicit``: the nonce in its header)."""
        prot = self.prot
        if prot.nonce_size:
            return bytes(self.iv[: prot.salt_size]) + explicit
        base = bytearray(self.iv)  # tls_xor_iv_with_seq
        seq = rec_seq.to_bytes(8, "big")
        off = len(base) - 8
        for i in range(8):
            base[off + i] ^= seq[i]
        return bytes(base)


def tls_make_aad(prot: TlsProtInfo, rec_seq: int, record_type: int, size: int) -> bytes:
    """``tls_make_aad()``: TLS 1.2 ``seq | type | 3,3 | plaintext length``; TLS 1.3 the
    record header (type 23, 3,3, the length on the wire after the header)."""
    if prot.version == TLS_1_3_VERSION:
        return struct.pack("!BBBH", TLS_RECORD_TYPE_DATA, 3, 3, size)
    return struct.pack("!QBBBH", rec_seq, record_type, 3, 3, size)


def tls_encrypt(
    state: TlsCipherState, rec_seq: int, record_type: int, explicit: bytes, plaintext: bytes
) -> bytes:
    """One record on the wire — header, explicit nonce, ciphertext, tag — for ``plaintext``
    of ``record_type`` under record number ``rec_seq`` (TLS 1.3: the type byte goes inside,
    the outer type is 23)."""
    prot = state.prot
    if prot.version == TLS_1_3_VERSION:
        inner = plaintext + bytes((record_type,))
        wire_len = len(inner) + prot.tag_size
        aad = tls_make_aad(prot, rec_seq, record_type, wire_len)
        header = aad
        body = state.aead.encrypt(state.nonce(rec_seq, b""), inner, aad)
    else:
        aad = tls_make_aad(prot, rec_seq, record_type, len(plaintext))
        wire_len = prot.nonce_size + len(plaintext) + prot.tag_size
        header = struct.pack("!BBBH", record_type, 3, 3, wire_len)
        body = state.aead.encrypt(state.nonce(rec_seq, explicit), plaintext, aad)
    return header + explicit + body


def tls_decrypt(state: TlsCipherState, rec_seq: int, record: bytes) -> tuple[int, bytes]:
    """Open one whole record (header included): ``(record type, plaintext)``.  A record that
    does not authenticate is ``EBADMSG``, as ``tls_decrypt_sg`` fails; a TLS 1.3 record with
    no type byte inside is ``EBADMSG`` too (``tls_padding_length``)."""
    prot = state.prot
    outer_type = record[0]
    body = record[TLS_HEADER_SIZE:]
    if len(body) < prot.nonce_size + prot.tag_size + prot.tail_size:
        raise kernel_error(errno.EBADMSG, "TLS record shorter than its overhead")
    explicit = bytes(body[: prot.nonce_size])
    ciphertext = bytes(body[prot.nonce_size :])
    try:
        if prot.version == TLS_1_3_VERSION:
            aad = bytes(record[:TLS_HEADER_SIZE])
            inner = state.aead.decrypt(state.nonce(rec_seq, b""), ciphertext, aad)
            stripped = inner.rstrip(b"\0")
            if not stripped:
                raise kernel_error(errno.EBADMSG, "TLS 1.3 record without a content type")
            return stripped[-1], stripped[:-1]
        size = len(ciphertext) - prot.tag_size
        aad = tls_make_aad(prot, rec_seq, outer_type, size)
        return outer_type, state.aead.decrypt(state.nonce(rec_seq, explicit), ciphertext, aad)
    except InvalidTag:
        raise kernel_error(errno.EBADMSG, "TLS record failed authentication") from None
