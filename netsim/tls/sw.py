"""Software kTLS (net/tls/tls_sw.c): encryption in the socket before TCP, and all receive.

**Transmit** (:func:`tls_sw_sendmsg`, ``tls_sw_sendmsg_locked``).  Each record is built in a
buffer of page frags from ``sk_page_frag()`` sized for the whole record on the wire
(``tls_alloc_encrypted_msg`` → ``sk_msg_alloc``: the room grows into the last frag when the
allocator continues it, else a new frag with a reference, at most ``MAX_SKB_FRAGS`` of them —
beyond that the record closes early, ``-ENOSPC``); the plaintext is copied in at the prepend's
offset (``tls_clone_plaintext_msg``: the plaintext message is a view of the encrypted one) and
encrypted in place when the record closes — at 16384 bytes, or at the end of a write without
``MSG_MORE``.  Then ``tls_push_sg`` splices the frags into TCP (4 KiB sub-page by sub-page)
and drops the record's references as TCP takes each one: TCP's skbs hold the ciphertext,
so retransmission needs nothing from TLS.  Linux encrypts a user (not kernel) buffer
straight from the user's pages into the record (``sk_msg_zerocopy_from_iter``); netsim's
buffers are Python objects, so it always copies (the ``kvec`` path): the record's pages and
frags are the same.

**Receive** (:func:`tls_sw_recvmsg`, ``tls_sw_recvmsg``).  Ciphertext is taken out of the TCP
receive queue (which opens TCP's window, as ``tls_strp`` copy mode does), cut into records
by their headers (``tls_rx_msg_size``, in its order: a record longer than 16384 + overhead
is ``EMSGSIZE``, one shorter than its overhead ``EBADMSG``, a version other than 3,3
``EINVAL`` — the parser then stops for good and the error is the socket's, reported once,
``tls_strp_abort_strp``), and each opened with the RX key and record number
(``TlsDecryptError`` and ``EBADMSG`` when it does not authenticate — the socket is then
aborted with that error, ``tls_err_abort``, and every later read fails the same way).  A read
that has already copied bytes when it meets either error returns them; the next read reports
the error.  A read returns bytes of one record type at a time (an empty data record sets the
type too, so a control record after it ends the read with 0 bytes); ``MSG_PEEK`` leaves
records decrypted but unconsumed (the kernel's ``rx_list``); ``MSG_WAITALL`` waits for the
whole buffer.  The RX record number and (TLS 1.2 GCM/CCM) IV count up per record, as
``getsockopt(TLS_RX)`` shows.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final

from ..errors import errno, kernel_error
from ..mm import Page, put_page
from ..skb import SkbFrag, trace_record_frag
from ..sock.constants import (
    MSG_DONTWAIT,
    MSG_EOR,
    MSG_MORE,
    MSG_NOSIGNAL,
    MSG_PEEK,
    MSG_SPLICE_PAGES,
    TLS_CIPHER_CHACHA20_POLY1305,
)
from ..sock.iov import MsgIter
from ..sock.sock import RCV_SHUTDOWN, WAIT_DATA, SockWait, sk_page_frag, sk_page_frag_refill
from ..tcp.output import sk_stream_memory_free
from ..tcp.sendmsg import SendResult
from .crypto import (
    TLS_HEADER_SIZE,
    TLS_MAX_PAYLOAD_SIZE,
    TLS_RECORD_TYPE_DATA,
    tls_decrypt,
    tls_encrypt,
)

if TYPE_CHECKING:
    from ..mm import FragAllocator
    from ..sock.task import TaskContext
    from ..tcp import TcpSock
    from .main import TlsContext

__all__ = [
    "TlsSwContextRx",
    "TlsSwContextTx",
    "TlsSwRecord",
    "tls_rx_readable",
    "tls_set_sw_offload",
    "tls_sw_recvmsg",
    "tls_sw_sendmsg",
]

_SW_FLAGS: Final = MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL | MSG_SPLICE_PAGES | MSG_EOR
_ENOMEM: Final = -errno.ENOMEM
_ENOSPC: Final = -errno.ENOSPC


class TlsSwRecord:
    """``struct tls_rec``: the encrypted buffer's frags (``msg_encrypted``; the plaintext is
    the same bytes from ``prepend`` on), its allocated size, and the plaintext copied."""

    __slots__ = ("frags", "pl_size", "record_type", "size")

    def __init__(self, record_type: int) -> None:
        self.frags: list[SkbFrag] = []
        self.size = 0
        self.pl_size = 0
        self.record_type = record_type

    def __repr__(self) -> str:
        return f"<TlsSwRecord plaintext={self.pl_size} size={self.size} frags={len(self.frags)}>"


class TlsSwContextTx:
    """``struct tls_sw_context_tx``: the open record."""

    __slots__ = ("open_rec",)

    def __init__(self) -> None:
        self.open_rec: TlsSwRecord | None = None


class TlsSwContextRx:
    """``struct tls_sw_context_rx``: ciphertext taken from TCP and not yet a whole record,
    records decrypted and not yet read (``[type, plaintext, bytes read]``), and what ended
    the stream."""

    __slots__ = ("buf", "eof", "error", "pending_err", "ready", "stopped")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.ready: deque[list[object]] = deque()
        self.eof = False
        #: the error the socket was aborted with (a bad record): every read reports it
        self.error = 0
        #: an error TCP reported while ciphertext was being taken out (reported when no
        #: record is left to read)
        self.pending_err = 0
        #: the record parser met a malformed header and stopped (``strp->stopped``): no
        #: more records, the rest stays in TCP's queue
        self.stopped = False


def tls_set_sw_offload(sk: TcpSock, ctx: TlsContext, tx: bool) -> None:
    """``tls_set_sw_offload()``: the direction's software context (the key and record
    state are in ``ctx.tx``/``ctx.rx`` already)."""
    if tx:
        ctx.tx_sw = TlsSwContextTx()
    else:
        ctx.rx_sw = TlsSwContextRx()


# -- transmit ----------------------------------------------------------------------------------


def tls_sw_sendmsg(
    sk: TcpSock,
    task: TaskContext,
    ctx: TlsContext,
    msg: MsgIter,
    flags: int,
    record_type: int,
) -> SendResult:
    """``tls_sw_sendmsg_locked()``: copy ``msg`` into records, encrypt and push each that
    closes.  ``(copied, must_wait)``; a wait keeps the open record."""
    from .main import tls_push_partial_record

    tls_sw_check_flags(flags)
    eor = not flags & MSG_MORE
    sw = ctx.tx_sw
    assert sw is not None
    if ctx.partial is not None and tls_push_partial_record(sk, task, ctx, flags):
        return 0, True
    prot = ctx.prot
    copied = 0
    while msg.count:
        if sk.sk_err:
            if copied:
                return copied, False
            raise kernel_error(sk.sk_err)
        rec = sw.open_rec
        if rec is None:
            rec = sw.open_rec = TlsSwRecord(record_type)
        try_to_copy = msg.count
        record_room = TLS_MAX_PAYLOAD_SIZE - rec.pl_size
        full_record = False
        if try_to_copy >= record_room:
            try_to_copy = record_room
            full_record = True
        required = rec.pl_size + try_to_copy + prot.overhead_size
        if not sk_stream_memory_free(sk):
            sk.sock_nospace = True  # wait_for_sndbuf
            ctx.pending_open_record_frags = bool(rec.pl_size)
            return copied, True
        ret = sk_msg_alloc(sk, task, rec, required)
        if ret == _ENOMEM:
            sk.sock_nospace = True  # wait_for_memory: sk_stream_wait_memory sets SOCK_NOSPACE
            ctx.pending_open_record_frags = bool(rec.pl_size)
            return copied, True
        if ret == _ENOSPC:
            try_to_copy = max(try_to_copy - (required - rec.size), 0)
            full_record = True
        if try_to_copy:
            _copy_plaintext(rec, prot.prepend_size + rec.pl_size, msg, try_to_copy)
            sk.net.stats.skb_copy_bytes += try_to_copy
            rec.pl_size += try_to_copy
            copied += try_to_copy
        ctx.pending_open_record_frags = True
        if full_record or eor:
            record_bytes = rec.pl_size
            try:
                partial = tls_sw_push_record(sk, task, ctx, rec, flags)
            except OSError as exc:
                if exc.errno == errno.EBADMSG and sk.sk_err == errno.EBADMSG:
                    copied -= record_bytes  # bpf_exec_tx_verdict: the aborted record's bytes
                if copied > 0:
                    return copied, False  # a short write; the error is the next call's
                raise
            if partial:
                return copied, True
    return copied, False


def tls_sw_check_flags(flags: int) -> None:
    """``tls_sw_sendmsg``'s checks, made before anything else (the record-type control
    message included): flags it does not take are ``EOPNOTSUPP``; ``MSG_MORE | MSG_EOR`` is
    ``EINVAL``."""
    if flags & ~_SW_FLAGS:
        raise kernel_error(errno.EOPNOTSUPP, f"flags {flags & ~_SW_FLAGS:#x} on a kTLS socket")
    if flags & MSG_MORE and flags & MSG_EOR:
        raise kernel_error(errno.EINVAL, "MSG_MORE with MSG_EOR")


def tls_sw_push_pending_record(sk: TcpSock, task: TaskContext, ctx: TlsContext, flags: int) -> None:
    """``tls_sw_push_pending_record()``: close and push the open record."""
    sw = ctx.tx_sw
    if sw is not None and sw.open_rec is not None:
        tls_sw_push_record(sk, task, ctx, sw.open_rec, flags)


def sk_msg_alloc(sk: TcpSock, task: TaskContext, rec: TlsSwRecord, length: int) -> int:
    """``sk_msg_alloc()`` (net/core/skmsg.c): grow the record's buffer to ``length`` bytes
    from ``sk_page_frag()`` (refills of at least 32 bytes) — into the last frag when the
    allocator continues it (``commit_noref``), else a new frag (``commit``: its reference).
    0; ``-ENOSPC`` when a new frag is needed and ``MAX_SKB_FRAGS`` are in use (what was
    allocated stays); ``-ENOMEM`` when no page can be had (the buffer goes back to its size
    before the call)."""
    nc: FragAllocator = sk_page_frag(sk, task)
    osize = rec.size
    max_frags = sk.net.skb_layout.max_frags
    frags = rec.frags
    while rec.size < length:
        span = sk_page_frag_refill(sk, nc, want=length - rec.size)
        if span is None:
            sk_msg_trim(rec, osize)
            return _ENOMEM
        use = min(length - rec.size, span.size)
        last = frags[-1] if frags else None
        stats = sk.net.stats
        if last is not None and last.page is span.page and last.offset + last.len == span.offset:
            last.len += use
            nc.commit_noref(span, use)
            stats.tls_record_coalesce += 1
            if stats.tracer is not None:
                trace_record_frag(stats, rec, frags, span, use, True, "sk_msg_alloc")
        else:
            if len(frags) >= max_frags:
                return _ENOSPC
            frags.append(SkbFrag(span.page, span.offset, use))
            nc.commit(span, use)
            if stats.tracer is not None:
                trace_record_frag(stats, rec, frags, span, use, False, "sk_msg_alloc")
        rec.size += use
    return 0


def sk_msg_trim(rec: TlsSwRecord, size: int) -> None:
    """``sk_msg_trim()``: cut the buffer back to ``size`` bytes; a frag left empty gives its
    reference back."""
    excess = rec.size - size
    frags = rec.frags
    while excess > 0 and frags:
        last = frags[-1]
        if last.len <= excess:
            excess -= last.len
            frags.pop()
            put_page(last.page)
        else:
            last.len -= excess
            excess = 0
    rec.size = size


def _copy_plaintext(rec: TlsSwRecord, at: int, msg: MsgIter, n: int) -> None:
    """``sk_msg_memcopy_from_iter``: ``n`` bytes of ``msg`` into the buffer from byte
    ``at`` on."""
    pos = 0
    for frag in rec.frags:
        end = pos + frag.len
        if at < end and n:
            start = at - pos
            k = min(frag.len - start, n)
            off = frag.offset + start
            frag.page.view[off : off + k] = msg.take(k)
            at += k
            n -= k
        pos = end
        if not n:
            return


def _read_range(rec: TlsSwRecord, start: int, end: int) -> bytes:
    out = bytearray()
    pos = 0
    for frag in rec.frags:
        a = max(start - pos, 0)
        b = min(end - pos, frag.len)
        if a < b:
            out += frag.page.view[frag.offset + a : frag.offset + b]
        pos += frag.len
    return bytes(out)


def _write_all(rec: TlsSwRecord, data: bytes) -> None:
    pos = 0
    for frag in rec.frags:
        frag.page.view[frag.offset : frag.offset + frag.len] = data[pos : pos + frag.len]
        pos += frag.len


def tls_sw_push_record(
    sk: TcpSock, task: TaskContext, ctx: TlsContext, rec: TlsSwRecord, flags: int
) -> bool:
    """``tls_push_record()`` (software): trim the buffer to the record, encrypt it in place
    (header, explicit nonce, ciphertext, tag), advance the record number, and
    ``tls_tx_records`` → ``tls_push_sg``, which gives each frag's reference back once TCP has
    it.  True if TCP took only part (the caller waits)."""
    from .main import tls_push_sg

    sw = ctx.tx_sw
    tx = ctx.tx
    assert sw is not None
    assert tx is not None
    prot = ctx.prot
    sk_msg_trim(rec, rec.pl_size + prot.overhead_size)
    plaintext = _read_range(rec, prot.prepend_size, prot.prepend_size + rec.pl_size)
    wire = tls_encrypt(tx, tx.rec_seq, rec.record_type, tx.explicit_nonce(), plaintext)
    _write_all(rec, wire)
    if tx.advance():
        # the record number wrapped: tls_err_abort(-EBADMSG); the record is freed unsent
        _tls_err_abort(sk, ctx, errno.EBADMSG)
        sk_msg_trim(rec, 0)
        sw.open_rec = None
        ctx.pending_open_record_frags = False
        raise kernel_error(errno.EBADMSG, "TLS record number wrapped")
    sw.open_rec = None
    ctx.pending_open_record_frags = False
    stats = sk.net.stats
    stats.tls_records += 1
    stats.tls_record_frags += len(rec.frags)
    stats.tls_sw_encrypt += 1
    tracer = stats.tracer
    if tracer is not None:
        tracer.emit(
            "record_push",
            "tls_push_record",
            "the record is closed and encrypted in place: its frags go to TCP",
            {
                "record": tracer.forget(rec, "rec"),
                "len": rec.size,
                "nr_frags": len(rec.frags),
            },
        )
    entries: list[tuple[Page, int, int]] = [(f.page, f.offset, f.len) for f in rec.frags]
    rec.frags = []  # their references move to the push
    return tls_push_sg(sk, task, ctx, entries, 0, flags)


def tls_sw_release_resources_tx(sk: TcpSock, ctx: TlsContext) -> None:
    """``tls_sw_release_resources_tx()``: an open record is dropped (its bytes are never
    sent), with its references."""
    sw = ctx.tx_sw
    if sw is None:
        return
    rec = sw.open_rec
    sw.open_rec = None
    if rec is not None:
        sk_msg_trim(rec, 0)
    ctx.pending_open_record_frags = False


# -- receive -----------------------------------------------------------------------------------


def tls_sw_release_resources_rx(ctx: TlsContext) -> None:
    """Free what receive holds (no pages: ciphertext taken from TCP is plain bytes here)."""
    rx = ctx.rx_sw
    if rx is not None:
        rx.buf.clear()
        rx.ready.clear()


def tls_rx_readable(sk: TcpSock, ctx: TlsContext) -> bool:
    """Is a read worth trying — a record decrypted or whole in the buffer, bytes in TCP's
    queue, or the end of the stream.  Looser than :func:`tls_rx_poll` on purpose: a blocked
    reader retries on any bytes in TCP's queue, because only a read takes them out (and so
    opens TCP's window for the rest of a record longer than the receive buffer)."""
    rx = ctx.rx_sw
    if rx is None:
        return sk.stream_readable()
    if rx.ready or rx.error or rx.eof or rx.pending_err:
        return True
    if rx.stopped:
        return bool(sk.sk_err or sk.sk_shutdown & RCV_SHUTDOWN)
    buf = rx.buf
    if len(buf) >= TLS_HEADER_SIZE and len(buf) >= TLS_HEADER_SIZE + (buf[3] << 8 | buf[4]):
        return True
    return sk.stream_readable()


def _tls_err_abort(sk: TcpSock, ctx: TlsContext, err: int) -> None:
    """``tls_err_abort()``: the socket's error is ``err``; readers and writers learn it."""
    rx = ctx.rx_sw
    if rx is not None:
        rx.error = err
    sk.sk_err = err
    sk.sk_error_report()


def _tls_strp_abort(sk: TcpSock, rx: TlsSwContextRx, err: int) -> None:
    """``tls_strp_abort_strp()``: a malformed record header stops the parser for good; the
    error becomes the socket's (``sk_err``), which the next read reports once."""
    rx.stopped = True
    sk.sk_err = err
    sk.sk_error_report()


def _pull(sk: TcpSock, rx: TlsSwContextRx) -> int:
    """Take what TCP has received out of its queue (``tls_strp`` copy mode).  The bytes
    taken; 0 when there is nothing (the end of the stream and TCP errors are noted)."""
    from ..tcp.recvmsg import tcp_recvmsg

    if rx.eof or rx.pending_err:
        return 0
    try:
        data, _ = tcp_recvmsg(sk, 1 << 20, 0, True, None)
    except SockWait:
        return 0
    except OSError as exc:
        if exc.errno != errno.EAGAIN:
            rx.pending_err = exc.errno or errno.EIO
        return 0
    assert isinstance(data, bytes)
    if not data:
        rx.eof = True
        return 0
    rx.buf += data
    return len(data)


def _next_record(sk: TcpSock, ctx: TlsContext, rx: TlsSwContextRx) -> list[object] | None:
    """Decrypt the next whole record in the buffer (taking more from TCP as needed) and
    queue it as ready; None if no whole record has arrived, or the parser has stopped."""
    prot = ctx.prot
    state = ctx.rx
    assert state is not None
    cipher_overhead = prot.tag_size
    if prot.version != 0x0304 and prot.cipher_type != TLS_CIPHER_CHACHA20_POLY1305:
        cipher_overhead += prot.iv_size
    while True:
        if rx.stopped:
            return None
        buf = rx.buf
        if len(buf) >= prot.prepend_size:  # tls_rx_msg_size: the header and nonce are in
            data_len = buf[3] << 8 | buf[4]
            if data_len > TLS_MAX_PAYLOAD_SIZE + cipher_overhead + prot.tail_size:
                _tls_strp_abort(sk, rx, errno.EMSGSIZE)
                return None
            if data_len < cipher_overhead:
                _tls_strp_abort(sk, rx, errno.EBADMSG)
                return None
            if buf[1] != 3 or buf[2] != 3:  # 1.3 records say 3,3 on the wire too
                _tls_strp_abort(sk, rx, errno.EINVAL)
                return None
            size = TLS_HEADER_SIZE + data_len
            if len(buf) >= size:
                record = bytes(buf[:size])
                try:
                    rtype, plaintext = tls_decrypt(state, state.rec_seq, record)
                except OSError:
                    sk.net.stats.TlsDecryptError += 1
                    _tls_err_abort(sk, ctx, errno.EBADMSG)
                    raise
                del buf[:size]
                if state.advance():  # tls_advance_record_sn: the record number and 1.2's IV
                    _tls_err_abort(sk, ctx, errno.EBADMSG)  # ... wrapped
                sk.net.stats.tls_rx_records += 1
                item: list[object] = [rtype, plaintext, 0]
                rx.ready.append(item)
                return item
        if not _pull(sk, rx):
            return None


def tls_sw_recvmsg(
    sk: TcpSock,
    ctx: TlsContext,
    bufsize: int,
    flags: int,
    nonblock: bool,
    into: memoryview | None,
    cmsg_room: bool,
) -> tuple[bytes | int, int, int]:
    """``tls_sw_recvmsg()``: up to ``bufsize`` plaintext bytes of one record type.  Returns
    ``(data, record_type, msg_flags)`` (``data`` the count when reading ``into``; record type
    0 at the end of the stream; ``MSG_EOR`` in the flags when the read ended with a record
    read to its end).  A non-data record read without room for its control message
    (``cmsg_room`` False) is ``EIO``; nothing to read raises :class:`SockWait` (``EAGAIN``
    when non-blocking)."""
    rx = ctx.rx_sw
    assert rx is not None
    peek = bool(flags & MSG_PEEK)
    control = 0
    copied = 0
    chunks: list[bytes] = []
    idx = 0
    mismatch = False  # the read ended at a record of another type
    eor = False  # the last record the read took from was read to its end
    while copied < bufsize:
        if idx < len(rx.ready):
            item = rx.ready[idx]
        else:
            # records already decrypted are returned before an error is reported, and a
            # read that has copied something returns it: the next read gets the error
            if rx.error:
                if copied or control:
                    break
                raise kernel_error(rx.error)
            try:
                got = _next_record(sk, ctx, rx)
            except OSError:
                if copied or control:
                    break
                raise
            if got is None:
                break
            item = got
        rtype = item[0]
        plaintext = item[1]
        offset = item[2]
        assert isinstance(rtype, int)
        assert isinstance(plaintext, bytes)
        assert isinstance(offset, int)
        if not plaintext and rtype == TLS_RECORD_TYPE_DATA and control in (0, rtype):
            # an empty data record: nothing to return, and not the end of the stream — but
            # it sets the read's type, so a control record after it ends the read (with 0)
            control = rtype
            if peek:
                idx += 1
            else:
                rx.ready.popleft()
            continue
        if not rtype:
            # tls_record_content_type: 0 is no content type; the record stays, unread
            if copied or control:
                break
            raise kernel_error(errno.EBADMSG, "TLS record of content type 0")
        if not control:
            control = rtype
            if rtype != TLS_RECORD_TYPE_DATA and not cmsg_room:
                raise kernel_error(errno.EIO, f"a TLS record of type {rtype}: read it with recvmsg")
        elif control != rtype:
            mismatch = True
            break
        left = len(plaintext) - offset
        n = min(left, bufsize - copied)
        if n:
            if into is not None:
                into[copied : copied + n] = plaintext[offset : offset + n]
            else:
                chunks.append(plaintext[offset : offset + n])
            copied += n
        if n < left:
            eor = False
            if not peek:
                item[2] = offset + n
            break
        eor = True
        if peek:
            idx += 1
        else:
            rx.ready.popleft()
        if rtype != TLS_RECORD_TYPE_DATA:
            break
    if copied == 0 and (not control or (control == TLS_RECORD_TYPE_DATA and not mismatch)):
        # nothing read (empty data records are nothing): an error, the end, or wait
        if rx.error:
            raise kernel_error(rx.error)
        if sk.sk_err and bufsize:
            err = sk.sk_err  # sock_error(): reported once
            sk.sk_err = 0
            raise kernel_error(err)
        if rx.pending_err:
            err = rx.pending_err
            rx.pending_err = 0
            raise kernel_error(err)
        if rx.eof or sk.sk_shutdown & RCV_SHUTDOWN:
            return (0 if into is not None else b""), 0, 0
        if bufsize == 0:
            return (0 if into is not None else b""), 0, 0
        if nonblock:
            raise kernel_error(errno.EAGAIN)
        raise SockWait(WAIT_DATA)
    msg_flags = MSG_EOR if eor else 0
    if into is not None:
        return copied, control, msg_flags
    return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), control, msg_flags


def tls_rx_poll(sk: TcpSock, ctx: TlsContext) -> bool:
    """``tls_sk_poll()``'s ``EPOLLIN``: a record ready to read — decrypted and unread, whole in
    what was taken from TCP, or completed by what TCP has queued (peeked, not taken) — or the
    end of the stream or an error.  Part of a record is not readable."""
    from ..tcp.recvmsg import tcp_recvmsg

    rx = ctx.rx_sw
    if rx is None:
        return sk.stream_readable()
    if rx.ready or rx.error or rx.eof or rx.pending_err:
        return True
    if sk.sk_err or sk.sk_shutdown & RCV_SHUTDOWN or sk.sock_done:
        return True
    buf = bytes(rx.buf)
    queued = sk.rcv_nxt - sk.copied_seq
    if len(buf) < TLS_HEADER_SIZE and queued > 0:
        try:
            head, _ = tcp_recvmsg(sk, TLS_HEADER_SIZE - len(buf), MSG_PEEK, True, None)
        except (OSError, SockWait):
            head = b""
        assert isinstance(head, bytes)
        buf += head
        queued -= len(head)
    if len(buf) < TLS_HEADER_SIZE:
        return False
    return len(buf) + max(queued, 0) >= TLS_HEADER_SIZE + (buf[3] << 8 | buf[4])
