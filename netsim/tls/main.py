"""The kTLS upper-layer protocol (net/tls/tls_main.c): ``TCP_ULP`` ``"tls"``, ``SOL_TLS``
options, and the paths a TLS socket's data takes.

Setup, as a TLS library does it after its handshake::

    sock.setsockopt(SOL_TCP, TCP_ULP, b"tls")           # tls_init: ESTABLISHED only (ENOTCONN)
    sock.setsockopt(SOL_TLS, TLS_TX, crypto_info)      # do_tls_setsockopt_conf
    sock.setsockopt(SOL_TLS, TLS_RX, crypto_info)

``TLS_TX`` first tries the **device** path (:mod:`netsim.tls.device`: TLS 1.2, AES-GCM-128 or
-256, and a route through a device with ``NETIF_F_HW_TLS_TX``); where that is not possible it
does not fail but sets up **software** kTLS (:mod:`netsim.tls.sw`, ``tls_set_sw_offload``) — so
``TLS_TX`` succeeds wherever Linux's does, and ``TlsCurrTxDevice``/``TlsCurrTxSw`` (and
:attr:`TlsContext.tx_conf`, ``"hw"``/``"sw"`` in :func:`tls_info`) say which.  Receive is
always software here (``TLS_RX``: the device RX offload needs a NIC that decrypts, which
netsim's do not); a record that fails authentication is ``EBADMSG`` and aborts the socket.

Errors as Linux's: ``SOL_TLS`` before ``TCP_ULP`` is ``ENOPROTOOPT``; a second ``TLS_TX`` (or
``TLS_RX``) is ``EBUSY`` for TLS 1.2 (1.3 re-keying: netsim ``EBUSY`` too, counted as a rekey
error — key updates are not modelled); see :func:`~netsim.tls.crypto.tls_parse_crypto_info`
for the value's checks.  Sends take ``MSG_MORE`` (the record stays open), ``MSG_EOR``,
``MSG_DONTWAIT`` and ``MSG_NOSIGNAL``; others are ``EOPNOTSUPP``; ``MSG_MORE | MSG_EOR`` is
``EINVAL``.  A control message ``(SOL_TLS, TLS_SET_RECORD_TYPE, bytes([type]))`` sends a
record of that type (not with ``MSG_MORE``: ``EINVAL``); a read returns one type at a time,
and its ``(SOL_TLS, TLS_GET_RECORD_TYPE, …)`` control message says which — a non-data record
read without room for it is ``EIO``, as Linux does.

Closing (``tls_sk_proto_close``): a record still open (``MSG_MORE``) is dropped, as Linux
drops it; records already handed to TCP go out, and in device mode stay referenced until the
socket is destroyed (the ACK hook is turned off at close).  The ``TlsCurr*`` gauges count
down at ``close()``, as Linux's do.
"""

from __future__ import annotations

import contextlib
import struct
from typing import TYPE_CHECKING, Any, Final

from ..errors import errno, kernel_error
from ..mm import Page, put_page
from ..sock.constants import (
    MSG_DONTWAIT,
    MSG_MORE,
    MSG_NOSIGNAL,
    MSG_SENDPAGE_DECRYPTED,
    MSG_SPLICE_PAGES,
    SOL_TLS,
    TLS_1_2_VERSION,
    TLS_1_3_VERSION,
    TLS_RX,
    TLS_RX_EXPECT_NO_PAD,
    TLS_SET_RECORD_TYPE,
    TLS_TX,
    TLS_TX_ZEROCOPY_RO,
)
from ..sock.iov import BvecIter, MsgIter
from ..sock.sock import TCP_ESTABLISHED, SockWait
from ..tcp.input import lock_sock, release_sock
from ..tcp.sendmsg import SendResult, tcp_sendmsg_locked
from ..tcp.ulp import TcpUlpOps, tcp_register_ulp
from .crypto import (
    TLS_CRYPTO_INFO_SIZE,
    TLS_RECORD_TYPE_DATA,
    TlsCipherState,
    TlsCryptoInfo,
    TlsProtInfo,
    tls_parse_crypto_info,
)
from .device import TlsOffloadContextTx

if TYPE_CHECKING:
    from ..skb import SkBuff
    from ..sock.task import TaskContext
    from ..tcp import TcpSock
    from .sw import TlsSwContextRx, TlsSwContextTx

__all__ = [
    "TLS_BASE",
    "TLS_HW",
    "TLS_SW",
    "TlsContext",
    "TlsUlpOps",
    "tls_get_ctx",
    "tls_info",
    "tls_process_cmsg",
    "tls_push_partial_record",
    "tls_push_sg",
    "tls_sendmsg",
]

#: ``enum`` in include/net/tls.h: where a direction's crypto happens
TLS_BASE: Final = 0
TLS_SW: Final = 1
TLS_HW: Final = 2
_CONF_NAMES: Final = {TLS_BASE: "base", TLS_SW: "sw", TLS_HW: "hw"}


class TlsContext:
    """``struct tls_context``: one socket's kTLS state (``icsk_ulp_data``)."""

    __slots__ = (
        "crypto_recv",
        "crypto_send",
        "curr_counted",
        "in_tcp_sendpages",
        "tx_task",
        "device_tx",
        "partial",
        "partial_msg",
        "partial_offset",
        "pending_open_record_frags",
        "prot",
        "rx",
        "rx_conf",
        "rx_no_pad",
        "rx_sw",
        "tx",
        "tx_conf",
        "tx_offload",
        "tx_sw",
        "zerocopy_sendfile",
    )

    def __init__(self) -> None:
        self.tx_conf = TLS_BASE
        self.rx_conf = TLS_BASE
        self.prot = TlsProtInfo(None)
        self.crypto_send: TlsCryptoInfo | None = None
        self.crypto_recv: TlsCryptoInfo | None = None
        #: the socket's TX record state (record number, nonce)
        self.tx: TlsCipherState | None = None
        #: the NIC's copy of the TX key (``tls_dev_add``)
        self.device_tx: TlsCipherState | None = None
        self.rx: TlsCipherState | None = None
        self.tx_offload: TlsOffloadContextTx | None = None
        self.tx_sw: TlsSwContextTx | None = None
        self.rx_sw: TlsSwContextRx | None = None
        #: ``partially_sent_record``: the entries of a record TCP took only part of, each
        #: still holding its push reference, and how far into the first one TCP got
        self.partial: list[tuple[Page, int, int]] | None = None
        self.partial_offset = 0
        #: device mode: the message of the send whose last record TCP took only part of —
        #: the runtime resumes that send with the same iterator, to finish the record only
        self.partial_msg: MsgIter | None = None
        self.pending_open_record_frags = False
        #: ``in_tcp_sendpages``: a push to TCP is under way (the write-space callback, which
        #: TCP may call meanwhile, must not start another)
        self.in_tcp_sendpages = False
        #: the task of the last send, whose context the write-space callback pushes with
        self.tx_task: TaskContext | None = None
        self.zerocopy_sendfile = False
        self.rx_no_pad = False
        #: the ``TlsCurr*`` gauges still count this context (until close)
        self.curr_counted = True

    def __repr__(self) -> str:
        return (
            f"<TlsContext tx={_CONF_NAMES[self.tx_conf]} rx={_CONF_NAMES[self.rx_conf]}"
            f" {self.prot!r}>"
        )


def tls_get_ctx(sk: TcpSock) -> TlsContext | None:
    """``tls_get_ctx()``: the socket's kTLS context, if its ULP is TLS."""
    data = sk.icsk_ulp_data
    return data if isinstance(data, TlsContext) else None


def tls_info(sk: TcpSock) -> dict[str, Any]:
    """What ``ss -tie`` shows for a kTLS socket (``tls_get_info``): version, cipher, and
    where each direction's crypto runs (``"sw"``, ``"hw"``, or ``"base"`` when not set up);
    plus, in device mode, the records not yet ACKed."""
    ctx = tls_get_ctx(sk)
    if ctx is None:
        return {}
    info: dict[str, Any] = {
        "version": ctx.prot.version,
        "cipher": ctx.prot.cipher_type,
        "txconf": _CONF_NAMES[ctx.tx_conf],
        "rxconf": _CONF_NAMES[ctx.rx_conf],
        "zc_ro_tx": ctx.zerocopy_sendfile,
        "rx_no_pad": ctx.rx_no_pad,
    }
    if ctx.tx_offload is not None:
        info["records"] = [r for r in ctx.tx_offload.records_list if r.len]
    return info


class TlsUlpOps(TcpUlpOps):
    """``tcp_tls_ulp_ops``: the ``"tls"`` ULP."""

    def __init__(self) -> None:
        super().__init__("tls", levels=(SOL_TLS,))

    def init(self, sk: TcpSock) -> None:
        """``tls_init()``: only an ``ESTABLISHED`` socket (``ENOTCONN``)."""
        if sk.sk_state != TCP_ESTABLISHED:
            raise kernel_error(errno.ENOTCONN, "kTLS needs an established connection")
        sk.icsk_ulp_data = TlsContext()

    def setsockopt(self, sk: TcpSock, level: int, optname: int, raw: bytes, fault: bool) -> None:
        ctx = tls_get_ctx(sk)
        assert ctx is not None
        if optname in (TLS_TX, TLS_RX):
            if fault:
                raise kernel_error(errno.EINVAL if not raw else errno.EFAULT)
            lock_sock(sk)
            try:
                tls_setsockopt_conf(sk, ctx, raw, optname == TLS_TX)
            finally:
                release_sock(sk)
        elif optname == TLS_TX_ZEROCOPY_RO:
            if fault or len(raw) != 4:
                raise kernel_error(errno.EINVAL, "TLS_TX_ZEROCOPY_RO takes a 4-byte value")
            value = struct.unpack("=I", raw)[0]
            if value > 1:
                raise kernel_error(errno.EINVAL, f"TLS_TX_ZEROCOPY_RO {value}")
            ctx.zerocopy_sendfile = bool(value)
        elif optname == TLS_RX_EXPECT_NO_PAD:
            if ctx.prot.version != TLS_1_3_VERSION or fault or len(raw) < 4:
                raise kernel_error(errno.EINVAL, "TLS_RX_EXPECT_NO_PAD is for TLS 1.3 receive")
            value = struct.unpack_from("=I", raw)[0]
            if value > 1 or any(raw[4:]):
                raise kernel_error(errno.EINVAL, f"TLS_RX_EXPECT_NO_PAD {value}")
            if ctx.rx_conf == TLS_BASE:
                raise kernel_error(errno.EINVAL, "TLS_RX_EXPECT_NO_PAD before TLS_RX")
            ctx.rx_no_pad = bool(value)
        else:
            raise kernel_error(errno.ENOPROTOOPT)

    def getsockopt(self, sk: TcpSock, level: int, optname: int, buflen: int) -> int | bytes:
        ctx = tls_get_ctx(sk)
        assert ctx is not None
        if optname in (TLS_TX, TLS_RX):
            return tls_getsockopt_conf(ctx, buflen, optname == TLS_TX)
        if optname == TLS_TX_ZEROCOPY_RO:
            if buflen != 4:
                raise kernel_error(errno.EINVAL)
            return int(ctx.zerocopy_sendfile)
        if optname == TLS_RX_EXPECT_NO_PAD:
            if ctx.prot.version != TLS_1_3_VERSION or buflen < 4 or ctx.rx_conf == TLS_BASE:
                raise kernel_error(errno.EINVAL)
            return int(ctx.rx_no_pad)
        raise kernel_error(errno.ENOPROTOOPT)

    def close(self, sk: TcpSock) -> None:
        tls_sk_proto_close(sk)

    def write_space(self, sk: TcpSock) -> None:
        """``tls_write_space()``: TCP has room again — finish a record it took only part of
        (``tls_device_write_space``; the software path's ``tx_work_handler``) with
        ``MSG_DONTWAIT``, unless a push is already under way (``in_tcp_sendpages``)."""
        ctx = tls_get_ctx(sk)
        if ctx is None or ctx.partial is None or ctx.in_tcp_sendpages:
            return
        task = ctx.tx_task
        if task is None:
            return
        flags = MSG_DONTWAIT | MSG_NOSIGNAL
        if ctx.tx_conf == TLS_HW:
            flags |= MSG_SENDPAGE_DECRYPTED
        with contextlib.suppress(OSError):  # the socket's error reaches the writer
            tls_push_partial_record(sk, task, ctx, flags)

    def release(self, sk: TcpSock) -> None:
        ctx = tls_get_ctx(sk)
        if ctx is not None:
            tls_ctx_free(sk, ctx)

    def clean_acked(self, sk: TcpSock, acked_seq: int) -> None:
        from .device import tls_tcp_clean_acked

        ctx = tls_get_ctx(sk)
        if ctx is not None and ctx.tx_offload is not None:
            tls_tcp_clean_acked(sk, ctx, acked_seq)

    def validate_xmit_skb(self, sk: TcpSock, dev: Any, skb: SkBuff) -> SkBuff | None:
        """``tls_validate_xmit_skb()``: through the offload device, the NIC encrypts; any
        other device gets ``tls_sw_fallback``."""
        from .device import tls_device_encrypt_skb

        ctx = tls_get_ctx(sk)
        if ctx is None or ctx.tx_offload is None:
            return skb
        return tls_device_encrypt_skb(sk, ctx, skb, dev is ctx.tx_offload.netdev)


#: the one instance, registered when :mod:`netsim.tls` is imported
TLS_ULP_OPS: Final = TlsUlpOps()


def tls_register() -> None:
    """``tls_register()``: make ``"tls"`` a ``TCP_ULP`` name."""
    tcp_register_ulp(TLS_ULP_OPS)


# -- configuration -------------------------------------------------------------------------------


def tls_setsockopt_conf(sk: TcpSock, ctx: TlsContext, raw: bytes, tx: bool) -> None:
    """``do_tls_setsockopt_conf()``: parse and check the crypto info, then the device path
    (TX) or software kTLS; count ``TlsTxDevice``/``TlsTxSw``/``TlsRxSw`` and the ``Curr``
    gauges."""
    from .sw import tls_set_sw_offload

    stats = sk.net.stats
    if len(raw) < TLS_CRYPTO_INFO_SIZE:  # before the "already set" test, as Linux orders them
        raise kernel_error(errno.EINVAL, f"crypto info of {len(raw)} bytes")
    current = ctx.crypto_send if tx else ctx.crypto_recv
    if current is not None:
        if tx:
            stats.TlsTxRekeyError += 1
        else:
            stats.TlsRxRekeyError += 1
        raise kernel_error(errno.EBUSY, f"{'TLS_TX' if tx else 'TLS_RX'} is already set")
    info = tls_parse_crypto_info(raw, ctx.crypto_recv if tx else ctx.crypto_send)
    prot = TlsProtInfo(info)
    state = TlsCipherState(info, prot)  # ENOENT for a cipher netsim cannot run
    ctx.prot = prot
    if tx:
        ctx.crypto_send = info
        ctx.tx = state
        if tls_set_device_offload(sk, ctx, info):
            ctx.tx_conf = TLS_HW
            stats.TlsTxDevice += 1
            stats.TlsCurrTxDevice += 1
        else:
            tls_set_sw_offload(sk, ctx, True)
            ctx.tx_conf = TLS_SW
            stats.TlsTxSw += 1
            stats.TlsCurrTxSw += 1
    else:
        ctx.crypto_recv = info
        ctx.rx = state
        tls_set_sw_offload(sk, ctx, False)
        ctx.rx_conf = TLS_SW
        stats.TlsRxSw += 1
        stats.TlsCurrRxSw += 1


def tls_getsockopt_conf(ctx: TlsContext, buflen: int, tx: bool) -> bytes:
    """``do_tls_getsockopt_conf()``: the crypto info with the current IV and record number;
    just ``version``/``cipher`` for a 4-byte buffer.  ``EINVAL`` for a buffer under 4 bytes
    or of another size than the cipher's struct; ``EBUSY`` before it is set."""
    if buflen < TLS_CRYPTO_INFO_SIZE:
        raise kernel_error(errno.EINVAL, "buffer shorter than struct tls_crypto_info")
    info = ctx.crypto_send if tx else ctx.crypto_recv
    state = ctx.tx if tx else ctx.rx
    if info is None or state is None:
        raise kernel_error(errno.EBUSY, f"{'TLS_TX' if tx else 'TLS_RX'} is not set")
    if buflen == TLS_CRYPTO_INFO_SIZE:
        return struct.pack("=HH", info.version, info.cipher_type)
    desc = info.desc
    if buflen != desc.crypto_info:
        raise kernel_error(errno.EINVAL, f"buffer of {buflen} bytes, need {desc.crypto_info}")
    iv = bytes(state.iv[desc.salt : desc.salt + desc.iv])
    seq = state.rec_seq.to_bytes(desc.rec_seq, "big")
    return TlsCryptoInfo(info.version, info.cipher_type, iv, info.key, info.salt, seq).pack()


def tls_set_device_offload(sk: TcpSock, ctx: TlsContext, info: TlsCryptoInfo) -> bool:
    """``tls_set_device_offload()``: True when the device takes the socket — TLS 1.2, an
    offloadable cipher, and the route's device advertises ``NETIF_F_HW_TLS_TX`` (with a
    checksum offload, without which Linux clears the feature).  Then: the
    start marker at ``write_seq``, the collapse fence on the write queue's tail, the ACK
    hook and ``sk_validate_xmit_skb``."""
    from ..dev.device import (
        NETIF_F_HW_CSUM,
        NETIF_F_HW_TLS_TX,
        NETIF_F_IP_CSUM,
        NETIF_F_IPV6_CSUM,
        NetDevice,
    )

    if info.version != TLS_1_2_VERSION or not info.desc.offloadable:
        return False
    dst = sk.sk_dst_cache
    dev = getattr(dst, "dev", None)
    if not isinstance(dev, NetDevice) or not dev.features & NETIF_F_HW_TLS_TX:
        return False
    if not dev.features & (NETIF_F_HW_CSUM | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM):
        # netdev_fix_features: Linux drops HW_TLS_TX from a device without checksum offload
        return False
    tx = ctx.tx
    assert tx is not None
    ctx.tx_offload = TlsOffloadContextTx(dev, sk.write_seq, tx.rec_seq)
    ctx.device_tx = TlsCipherState(info, ctx.prot)
    tcp_write_collapse_fence(sk)
    sk.tcp_clean_acked = True
    sk.sk_validate_xmit = True
    return True


def tcp_write_collapse_fence(sk: TcpSock) -> None:
    """``tcp_write_collapse_fence()``: the write queue's tail takes no more bytes (``eor``),
    so plaintext queued before the offload never shares an skb with offloaded records."""
    if sk.sk_write_queue:
        sk.sk_write_queue[-1].cb.eor = True


# -- sending ---------------------------------------------------------------------------------


def tls_process_cmsg(
    sk: TcpSock, task: TaskContext, cmsgs: list[tuple[int, int, bytes]], flags: int
) -> int:
    """``tls_process_cmsg()``: the record type of a send from ``(SOL_TLS,
    TLS_SET_RECORD_TYPE, bytes([type]))`` — ``EINVAL`` if empty or with ``MSG_MORE``; an
    open record (``MSG_MORE`` before) is closed and pushed first (``tls_handle_open_record``).
    Other levels' messages are skipped (TCP never sees them), but control data without a
    ``SOL_TLS`` message at all is ``EINVAL``, as on Linux."""
    from .sw import tls_sw_check_flags

    ctx = tls_get_ctx(sk)
    assert ctx is not None
    if ctx.tx_conf == TLS_SW:
        tls_sw_check_flags(flags)  # tls_sw_sendmsg checks the flags before the control data
    record_type = TLS_RECORD_TYPE_DATA
    found = False
    for level, kind, data in cmsgs:
        if level != SOL_TLS:
            continue
        if kind != TLS_SET_RECORD_TYPE:
            raise kernel_error(errno.EINVAL, f"SOL_TLS control message {kind}")
        if not data:
            raise kernel_error(errno.EINVAL, "TLS_SET_RECORD_TYPE without a type")
        if flags & MSG_MORE:
            raise kernel_error(errno.EINVAL, "TLS_SET_RECORD_TYPE with MSG_MORE")
        if ctx.pending_open_record_frags:
            tls_push_pending_record(sk, task, ctx, flags)
        record_type = data[0]
        found = True
    if not found:
        raise kernel_error(errno.EINVAL, "control data without a SOL_TLS message")
    return record_type


def tls_sendmsg(
    sk: TcpSock, task: TaskContext, msg: MsgIter, flags: int, record_type: int
) -> SendResult:
    """``tls_device_sendmsg`` / ``tls_sw_sendmsg`` under the socket lock: records from
    ``msg``.  ``(copied, must_wait)`` as :func:`~netsim.tcp.sendmsg.tcp_sendmsg` returns."""
    from .device import tls_push_data
    from .sw import tls_sw_sendmsg

    ctx = tls_get_ctx(sk)
    assert ctx is not None
    sk.sk_owned_by_user = True
    ctx.tx_task = task
    try:
        if ctx.tx_conf == TLS_HW:
            if not ctx.zerocopy_sendfile:
                flags &= ~MSG_SPLICE_PAGES
            return tls_push_data(sk, task, ctx, msg, flags, record_type)
        return tls_sw_sendmsg(sk, task, ctx, msg, flags, record_type)
    except SockWait:
        return 0, True
    finally:
        release_sock(sk)


def tls_push_pending_record(sk: TcpSock, task: TaskContext, ctx: TlsContext, flags: int) -> None:
    """``ctx->push_pending_record``: close and push the record ``MSG_MORE`` left open."""
    from .device import tls_push_data
    from .sw import tls_sw_push_pending_record

    if ctx.tx_conf == TLS_HW:
        tls_push_data(sk, task, ctx, MsgIter(()), flags & ~MSG_MORE, TLS_RECORD_TYPE_DATA)
    elif ctx.tx_conf == TLS_SW:
        tls_sw_push_pending_record(sk, task, ctx, flags & ~MSG_MORE)


def tls_push_sg(
    sk: TcpSock,
    task: TaskContext,
    ctx: TlsContext,
    entries: list[tuple[Page, int, int]],
    first_offset: int,
    flags: int,
) -> bool:
    """``tls_push_sg()`` (net/tls/tls_main.c): hand each entry to TCP with
    ``MSG_SPLICE_PAGES`` (``tcp_sendmsg_locked`` references the pages), then drop the
    entry's reference (the push's, or in software mode the record's own).  True if TCP took
    only part (out of send buffer): the rest is kept as the partially sent record."""
    ctx.in_tcp_sendpages = True
    try:
        for i, (page, off, length) in enumerate(entries):
            start = first_offset if i == 0 else 0
            while start < length:
                it = BvecIter([(page, off + start, length - start)])
                try:
                    copied, must_wait = tcp_sendmsg_locked(sk, task, it, flags | MSG_SPLICE_PAGES)
                except SockWait:
                    copied, must_wait = 0, True
                except OSError:
                    ctx.partial = entries[i:]
                    ctx.partial_offset = start
                    raise
                start += copied
                if start < length and must_wait:
                    ctx.partial = entries[i:]
                    ctx.partial_offset = start
                    return True
            put_page(page)
        return False
    finally:
        ctx.in_tcp_sendpages = False


def tls_push_partial_record(sk: TcpSock, task: TaskContext, ctx: TlsContext, flags: int) -> bool:
    """``tls_push_partial_record()``: send the rest of a record TCP took only part of.
    True if it must still wait."""
    entries = ctx.partial
    if entries is None:
        return False
    ctx.partial = None
    return tls_push_sg(sk, task, ctx, entries, ctx.partial_offset, flags)


def tls_free_partial_record(ctx: TlsContext) -> None:
    """``tls_free_partial_record()``: drop the references of what was never sent."""
    entries = ctx.partial
    ctx.partial = None
    ctx.partial_msg = None
    if entries:
        for page, _, _ in entries:
            put_page(page)


# -- closing -----------------------------------------------------------------------------------


def tls_sk_proto_close(sk: TcpSock) -> None:
    """``tls_sk_proto_close()``: stop freeing records on ACK (device), drop an open record and
    a partially sent one (their data is lost, as on Linux), then TCP's close goes on."""
    from .device import destroy_record
    from .sw import tls_sw_release_resources_tx

    ctx = tls_get_ctx(sk)
    if ctx is None:
        return
    tls_dec_curr_stats(sk, ctx)  # tls_sk_proto_cleanup: the gauges count down at close
    if ctx.tx_conf == TLS_SW:
        tls_sw_release_resources_tx(sk, ctx)
    elif ctx.tx_conf == TLS_HW:
        tls_free_partial_record(ctx)
        offload = ctx.tx_offload
        if offload is not None and offload.open_record is not None:
            destroy_record(offload.open_record)
            offload.open_record = None
        sk.tcp_clean_acked = False  # clean_acked_data_disable


def tls_dec_curr_stats(sk: TcpSock, ctx: TlsContext) -> None:
    """``tls_sk_proto_cleanup``'s ``TLS_DEC_STATS``: the ``TlsCurr*`` gauges stop counting
    the context — at ``close()``, though the socket may live on (FIN_WAIT, unACKed device
    records); once only."""
    if not ctx.curr_counted:
        return
    ctx.curr_counted = False
    stats = sk.net.stats
    if ctx.tx_conf == TLS_HW:
        stats.TlsCurrTxDevice -= 1
    elif ctx.tx_conf == TLS_SW:
        stats.TlsCurrTxSw -= 1
    if ctx.rx_conf == TLS_SW:
        stats.TlsCurrRxSw -= 1


def tls_ctx_free(sk: TcpSock, ctx: TlsContext) -> None:
    """The socket is destroyed (``tls_device_sk_destruct`` + ``tls_ctx_free``): every
    reference kTLS holds goes back (and the ``Curr`` gauges count down, if ``close()`` has
    not already)."""
    from .device import tls_device_free_resources_tx
    from .sw import tls_sw_release_resources_rx, tls_sw_release_resources_tx

    tls_dec_curr_stats(sk, ctx)
    if ctx.tx_conf == TLS_HW:
        tls_device_free_resources_tx(sk, ctx)
    elif ctx.tx_conf == TLS_SW:
        tls_sw_release_resources_tx(sk, ctx)
    if ctx.rx_conf == TLS_SW:
        tls_sw_release_resources_rx(ctx)
    tls_free_partial_record(ctx)
    ctx.tx_conf = ctx.rx_conf = TLS_BASE
