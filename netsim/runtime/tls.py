"""The waiting half of a kTLS socket's ``send`` and ``recv``: trio async functions over the
sans-IO :mod:`netsim.tls`, shaped as :mod:`netsim.runtime.tcp`'s.

A send returns once every byte is in a record and every closed record is in TCP (a blocking
``send(2)`` on Linux sleeps in ``tls_push_sg`` until TCP takes the rest of a record); a read
waits for a whole record.  ``recvmsg`` reports each read's record type as Linux does, in a
``(SOL_TLS, TLS_GET_RECORD_TYPE, bytes([type]))`` control message when ``ancbufsize`` has room
for it (17 bytes, ``CMSG_LEN(1)``), else ``MSG_CTRUNC``; ``MSG_EOR`` when the read ended at
the end of a record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import trio

from ..sock.constants import (
    MSG_CTRUNC,
    MSG_DONTWAIT,
    MSG_PEEK,
    MSG_WAITALL,
    SOL_TLS,
    TLS_GET_RECORD_TYPE,
)
from ..sock.iov import MsgIter
from ..sock.sock import SockWait
from ..tcp import TcpSock
from ..tcp.input import release_sock
from ..tls.crypto import TLS_RECORD_TYPE_DATA
from ..tls.main import TLS_BASE, TlsContext, tls_get_ctx, tls_process_cmsg
from ..tls.sw import tls_rx_poll, tls_rx_readable, tls_sw_recvmsg
from .tcp import tcp_sendmsg_async

if TYPE_CHECKING:
    from .socket import Socket

__all__ = [
    "CMSG_TLS_RECORD_TYPE_LEN",
    "tls_recvmsg_async",
    "tls_rx_ctx",
    "tls_rx_poll",
    "tls_rx_readable",
    "tls_sendmsg_async",
    "tls_tx_ctx",
]

#: ``CMSG_LEN(1)``: the room a record-type control message needs
CMSG_TLS_RECORD_TYPE_LEN: Final = 17


def tls_tx_ctx(sk: TcpSock | None) -> TlsContext | None:
    """The kTLS context if ``TLS_TX`` is set up on ``sk``."""
    if sk is None or sk.icsk_ulp_ops is None:
        return None
    ctx = tls_get_ctx(sk)
    return ctx if ctx is not None and ctx.tx_conf != TLS_BASE else None


def tls_rx_ctx(sk: TcpSock | None) -> TlsContext | None:
    """The kTLS context if ``TLS_RX`` is set up on ``sk``."""
    if sk is None or sk.icsk_ulp_ops is None:
        return None
    ctx = tls_get_ctx(sk)
    return ctx if ctx is not None and ctx.rx_conf != TLS_BASE else None


async def tls_sendmsg_async(
    sock: Socket, msg: MsgIter, flags: int, cmsgs: list[tuple[int, int, bytes]] | None
) -> int:
    """``send(2)``/``sendmsg(2)`` on a kTLS socket: the record type from the control
    messages, then TCP's send loop running ``tls_sendmsg`` until every record is in TCP."""
    await trio.lowlevel.checkpoint_if_cancelled()
    sk = sock._tcp_sk
    assert sk is not None
    record_type = TLS_RECORD_TYPE_DATA
    if cmsgs:
        host = sock._host
        host.net.now = host.clock.current_time()
        sk.sk_owned_by_user = True
        try:
            record_type = tls_process_cmsg(sk, host.task_context(), cmsgs, flags)
        finally:
            release_sock(sk)
    return await tcp_sendmsg_async(sock, msg, flags, record_type)


async def tls_recvmsg_async(
    sock: Socket, bufsize: int, flags: int, into: memoryview | None, ancbufsize: int
) -> tuple[bytes | int, list[tuple[int, int, bytes]], int]:
    """``recv(2)``/``recvmsg(2)`` on a kTLS socket: ``(data, control messages, flags)``."""
    await trio.lowlevel.checkpoint_if_cancelled()
    sk = sock._tcp_sk
    assert sk is not None
    ctx = tls_get_ctx(sk)
    assert ctx is not None
    host = sock._host
    nonblock = bool(flags & MSG_DONTWAIT)
    waitall = bool(flags & MSG_WAITALL) and not flags & MSG_PEEK
    room = ancbufsize >= CMSG_TLS_RECORD_TYPE_LEN
    got: list[bytes] = []
    total = 0
    control = 0
    eor = 0
    waited = False
    while True:
        sock._check_open()
        host.net.now = host.clock.current_time()
        view = into[total:] if into is not None and total else into
        try:
            data, rtype, eor_flag = tls_sw_recvmsg(
                sk, ctx, bufsize - total, flags & ~MSG_WAITALL, nonblock, view, room
            )
        except SockWait:
            if not tls_rx_readable(sk, ctx):
                try:
                    await sock._park("reading from")
                except trio.Cancelled:
                    if total:
                        break
                    raise
                waited = True
            continue
        except OSError:
            if total:
                break
            raise
        n = data if isinstance(data, int) else len(data)
        if isinstance(data, bytes):
            got.append(data)
        total += n
        if rtype and not control:
            control = rtype
        eor = eor_flag
        if not waitall or not n or total >= bufsize or nonblock or rtype != TLS_RECORD_TYPE_DATA:
            break
    if not waited:
        await trio.lowlevel.cancel_shielded_checkpoint()
    cmsgs: list[tuple[int, int, bytes]] = []
    msg_flags = eor
    if control:
        if room:
            cmsgs.append((SOL_TLS, TLS_GET_RECORD_TYPE, bytes((control,))))
        else:
            msg_flags |= MSG_CTRUNC
    result: bytes | int = (
        total if into is not None else (got[0] if len(got) == 1 else b"".join(got))
    )
    return result, cmsgs, msg_flags
