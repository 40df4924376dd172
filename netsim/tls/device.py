"""kTLS device offload, transmit side (net/tls/tls_device.c, net/tls/tls_device_fallback.c).

Spec tx-paths §5 and §6.3.  With ``TLS_TX`` on a socket whose route leaves through a device
that advertises ``NETIF_F_HW_TLS_TX``, the socket builds TLS records **in plaintext** and the
NIC encrypts them as it sends:

* **Records in page frags** (:func:`tls_push_data`).  A record opens with its *prepend* (the
  5-byte header and, for TLS 1.2 AES-GCM, the 8-byte explicit nonce: 13 bytes) taken from
  ``sk_page_frag()`` with a page reference (``tls_create_new_record``: with the old
  ``page_frag`` a ``get_page``, with ``page_frag_cache`` a ``commit``); the plaintext is
  copied in after it from the same allocator, each copy merged into the record's last frag
  when it continues it (``tls_append_frag``: ``commit_noref``), else a new frag (``commit``).
  So prepend, data and tag usually share one frag.  A record closes when the write ends
  (unless ``MSG_MORE``), at 16384 bytes of payload, or at 16 frags (one slot is kept for the
  tag); closing appends the 16-byte tag *placeholder* — the NIC writes the tag — from the
  allocator, or from a shared ``dummy_page`` if no page can be had
  (``tls_device_record_close``), and writes the header (``tls_fill_prepend``).
* **Pushing** (:func:`tls_push_record`): ``end_seq = write_seq + len``, the record joins
  ``records_list``, the record number and nonce advance, and each frag is handed to TCP by
  ``tls_push_sg`` with ``MSG_SPLICE_PAGES`` — TCP references the pages (4 KiB sub-page by
  sub-page, so its frags are at most 4096 bytes and never cross a 4 KiB boundary) and the
  record keeps its own references until TCP's ACK passes ``end_seq``
  (:func:`tls_tcp_clean_acked`).  Every record but the write's last goes with ``MSG_MORE``.
* **Retransmission**: TCP re-sends its own skbs, whose frags still point into the record's
  pages; the NIC needs the record to compute the ciphertext and tag again, which it finds by
  sequence number (:func:`tls_get_record`, with ``retransmit_hint``).

**The emulated NIC** (:func:`tls_device_encrypt_skb`, reached from ``validate_xmit_skb``
through ``sk_validate_xmit_skb``): for each TCP segment with payload past the offload start, it
looks up the records the payload spans and writes their ciphertext over the payload — the real
wire bytes, a valid TLS record stream.  Like a NIC it keeps the position it expects next; a
segment that starts elsewhere (a retransmission) needs a *resync*: the record is found with
``tls_get_record`` and encrypted again from its start (counted in ``tls_tx_ooo`` and
``tls_tx_resync_bytes``, mlx5's ``tx_tls_ooo`` / ``tx_tls_resync_bytes``).  A segment leaving
through a device *without* the offload (the route changed) is encrypted by the same code as
``tls_sw_fallback`` (``tls_sw_fallback_segs``).

Where netsim differs: the NIC's output is a private linear copy of the segment with the
ciphertext in it (``skb_copy``, as ``tls_sw_fallback`` makes one: no page reference is taken
or dropped for it), made before the device's packet taps, so a capture on the sending host shows
ciphertext (on Linux, ``tcpdump`` on a TLS-offload NIC shows the plaintext the stack handed
it); ``TLS_TX_ZEROCOPY_RO`` (splicing user pages) is stored and reported but sends copy, as
netsim has no ``sendfile``; the ``tls_device_copy_data`` cache-line split is one copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..errors import errno, kernel_error
from ..mm import GFP_ATOMIC, Page, get_page, put_page
from ..skb import SkbFrag, SkBuff, consume_skb, skb_copy, trace_record_frag
from ..sock.constants import (
    MSG_DONTWAIT,
    MSG_EOR,
    MSG_MORE,
    MSG_NOSIGNAL,
    MSG_SENDPAGE_DECRYPTED,
    MSG_SPLICE_PAGES,
)
from ..sock.iov import MsgIter
from ..sock.sock import sk_page_frag, sk_page_frag_refill, sk_stream_moderate_sndbuf
from ..tcp.sendmsg import SendResult
from .crypto import TLS_HEADER_SIZE, TLS_MAX_PAYLOAD_SIZE, TlsCipherState, tls_encrypt

if TYPE_CHECKING:
    from ..mm import FragAllocator, FragSpan
    from ..sock.task import TaskContext
    from ..stats import Counters
    from ..tcp import TcpSock
    from .main import TlsContext

__all__ = [
    "TlsOffloadContextTx",
    "TlsRecordInfo",
    "tls_device_encrypt_skb",
    "tls_device_free_resources_tx",
    "tls_get_record",
    "tls_push_data",
    "tls_push_record",
    "tls_tcp_clean_acked",
]

#: the flags ``tls_push_data`` accepts (anything else is ``EOPNOTSUPP``)
_PUSH_FLAGS: Final = MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL | MSG_SPLICE_PAGES | MSG_EOR


class TlsRecordInfo:
    """``struct tls_record_info``: one record's frags (prepend, payload, tag), its length on
    the wire (``len``) and the TCP sequence number just after it (``end_seq``).  A record of
    ``len`` 0 is the start marker.  ``rec_seq``: its record number (what the NIC computes
    with ``tls_get_record``; kept here for reports)."""

    __slots__ = ("end_seq", "frags", "len", "rec_seq", "record_type")

    def __init__(self) -> None:
        self.end_seq = 0
        self.len = 0
        self.frags: list[SkbFrag] = []
        self.rec_seq = -1
        self.record_type = 0

    @property
    def num_frags(self) -> int:
        return len(self.frags)

    @property
    def start_seq(self) -> int:
        """``tls_record_start_seq()``: ``end_seq - len``."""
        return self.end_seq - self.len

    def is_start_marker(self) -> bool:
        """``tls_record_is_start_marker()``."""
        return self.len == 0

    def __repr__(self) -> str:
        if not self.len:
            return f"<TlsRecordInfo start marker end_seq={self.end_seq}>"
        if self.rec_seq < 0:
            return f"<TlsRecordInfo open len={self.len} num_frags={len(self.frags)}>"
        return (
            f"<TlsRecordInfo seq [{self.start_seq}, {self.end_seq}) len={self.len}"
            f" num_frags={len(self.frags)} rec_seq={self.rec_seq}>"
        )


class TlsOffloadContextTx:
    """``struct tls_offload_context_tx`` and what the NIC keeps for the socket.

    ``records_list``: pushed records not yet fully ACKed, oldest first (the start marker first
    until the first ACK past it); ``open_record``: the record being filled;
    ``retransmit_hint``: the index of the record the last lookup found;
    ``unacked_record_sn``: the record number of ``records_list[0]``."""

    __slots__ = (
        "dev_expected_seq",
        "dev_record",
        "dev_wire",
        "dummy_page",
        "hint_record_sn",
        "netdev",
        "open_record",
        "records_list",
        "retransmit_hint",
        "start_seq",
        "unacked_record_sn",
    )

    def __init__(self, netdev: object, start_seq: int, first_rec_seq: int) -> None:
        self.netdev = netdev
        marker = TlsRecordInfo()
        marker.end_seq = start_seq
        self.records_list: list[TlsRecordInfo] = [marker]
        self.open_record: TlsRecordInfo | None = None
        self.retransmit_hint = -1
        self.hint_record_sn = 0
        # the marker's ACK brings it to the real number (tls_set_device_offload)
        self.unacked_record_sn = (first_rec_seq - 1) & 0xFFFFFFFFFFFFFFFF
        self.start_seq = start_seq
        #: the ``dummy_page`` a tag placeholder falls back to (one per socket here; the
        #: kernel's is global): allocated on first need
        self.dummy_page: Page | None = None
        # the NIC's in-order state: the next sequence number it expects and the record it is in
        self.dev_expected_seq = start_seq
        self.dev_record: TlsRecordInfo | None = None
        self.dev_wire = b""


# -- building records --------------------------------------------------------------------------


def tls_push_data(
    sk: TcpSock,
    task: TaskContext,
    ctx: TlsContext,
    msg: MsgIter,
    flags: int,
    record_type: int,
) -> SendResult:
    """``tls_push_data()``: copy ``msg`` into records and push each closed one to TCP.
    Returns ``(copied, must_wait)`` as :func:`~netsim.tcp.sendmsg.tcp_sendmsg_locked` does;
    a wait keeps the open record (and any record TCP took only part of), so the next call
    goes on where this one stopped."""
    from .main import tls_push_partial_record

    offload = ctx.tx_offload
    assert offload is not None
    prot = ctx.prot
    if flags & ~_PUSH_FLAGS:
        raise kernel_error(errno.EOPNOTSUPP, f"flags {flags & ~_PUSH_FLAGS:#x} on a kTLS socket")
    if flags & MSG_MORE and flags & MSG_EOR:
        raise kernel_error(errno.EINVAL, "MSG_MORE with MSG_EOR")
    if sk.sk_err:
        raise kernel_error(sk.sk_err)
    flags |= MSG_SENDPAGE_DECRYPTED
    if ctx.partial_msg is msg:
        # a blocking send that left its last record part-sent is resumed (same iterator) to
        # finish that record, as Linux's sleeps in tls_push_sg and returns: no new record
        # then (the write-space callback may have finished it meanwhile)
        ctx.partial_msg = None
        if ctx.partial is not None and tls_push_partial_record(sk, task, ctx, flags):
            ctx.partial_msg = msg
            return 0, True
        if not msg.count:
            return 0, False
    elif ctx.partial is not None:
        ctx.partial_msg = None
        if tls_push_partial_record(sk, task, ctx, flags):
            return 0, True
    nc = sk_page_frag(sk, task)
    max_open_record_len = TLS_MAX_PAYLOAD_SIZE + prot.prepend_size
    max_frags = sk.net.skb_layout.max_frags
    stats = sk.net.stats
    copied = 0
    more = False
    while True:
        size = msg.count
        push_flags = flags | MSG_MORE
        open_len = offload.open_record.len if offload.open_record is not None else prot.prepend_size
        want = max(min(size, max_open_record_len - open_len), 1)  # for by-length allocators
        span = tls_do_allocation(sk, ctx, nc, prot.prepend_size, want)
        if span is None:
            # sk_stream_wait_memory (SOCK_NOSPACE: the ACK path wakes the writer)
            sk.sock_nospace = True
            ctx.pending_open_record_frags = offload.open_record is not None
            return copied, True
        record = offload.open_record
        assert record is not None
        copy = min(size, max_open_record_len - record.len, span.size)
        if copy:
            page, offset = span.page, span.offset
            page.view[offset : offset + copy] = msg.take(copy)  # tls_device_copy_data
            stats.skb_copy_bytes += copy
            tls_append_frag(record, nc, span, copy, stats)
            copied += copy
        size -= copy
        done = False
        if not size:
            push_flags = flags
            if flags & MSG_MORE:
                more = True
            else:
                done = True
        if done or record.len >= max_open_record_len or len(record.frags) >= max_frags - 1:
            tls_device_record_close(sk, ctx, record, nc, record_type)
            try:
                partial = tls_push_record(sk, task, ctx, record, push_flags)
            except OSError:
                ctx.pending_open_record_frags = False
                if copied:
                    return copied, False  # the error is the next call's (sk_err stays)
                raise
            if partial:
                ctx.pending_open_record_frags = False
                ctx.partial_msg = msg
                return copied, True  # TCP took part of it: wait, then finish it
        if more or done:
            break
    ctx.pending_open_record_frags = more
    return copied, False


def tls_do_allocation(
    sk: TcpSock, ctx: TlsContext, nc: FragAllocator, prepend_size: int, want: int
) -> FragSpan | None:
    """``tls_do_allocation()``: open a record if there is none — its prepend from ``nc``
    with a reference (``tls_create_new_record``), and what is left of that page if at least
    one byte — else room for at least 32 bytes (``sk_page_frag_refill``).  ``want``: the
    bytes the caller means to copy, for allocators that place fragments by length (the
    count-down cache; the prepend asks for room for itself and them).  The room as a
    ``FragSpan``, or None: out of memory (the caller waits)."""
    offload = ctx.tx_offload
    assert offload is not None
    if offload.open_record is None:
        span = nc.prepare(prepend_size, sk.sk_allocation, want=prepend_size + want)
        if span is None:
            sk.enter_memory_pressure()
            sk_stream_moderate_sndbuf(sk)
            return None
        record = TlsRecordInfo()
        record.frags.append(SkbFrag(span.page, span.offset, prepend_size))
        nc.commit(span, prepend_size)  # get_page / a reference from the bias
        record.len = prepend_size
        offload.open_record = record
        room = nc.probe(1, want=want)
        if room is not None:
            return room
    return sk_page_frag_refill(sk, nc, want=want)


def tls_append_frag(
    record: TlsRecordInfo, nc: FragAllocator, span: FragSpan, size: int, stats: Counters
) -> None:
    """``tls_append_frag()``: ``size`` bytes just written at the allocator's position join
    the record — grown into its last frag when they continue it (``commit_noref``), else a
    new frag (``commit``: the frag's page reference)."""
    frags = record.frags
    last = frags[-1] if frags else None
    if last is not None and last.page is span.page and last.offset + last.len == span.offset:
        last.len += size
        nc.commit_noref(span, size)
        stats.tls_record_coalesce += 1
        merged = True
    else:
        frags.append(SkbFrag(span.page, span.offset, size))
        nc.commit(span, size)
        merged = False
    record.len += size
    if stats.tracer is not None:
        trace_record_frag(stats, record, frags, span, size, merged, "tls_append_frag")


def tls_device_record_close(
    sk: TcpSock, ctx: TlsContext, record: TlsRecordInfo, nc: FragAllocator, record_type: int
) -> None:
    """``tls_device_record_close()``: room for the tag — what the allocator has, else a
    refill of ``tag_size`` (``GFP_ATOMIC``-free here: ``sk_allocation``), else the
    ``dummy_page`` — appended as a placeholder the NIC overwrites; then the header and the
    explicit nonce into the prepend (``tls_fill_prepend``)."""
    offload = ctx.tx_offload
    assert offload is not None
    prot = ctx.prot
    tag = prot.tag_size
    span = nc.probe(tag, want=tag)
    if span is None:
        span = nc.prepare(tag, sk.sk_allocation, want=tag)
    if span is not None:
        tls_append_frag(record, nc, span, tag, sk.net.stats)
    else:
        # tls_append_dummy_frag: the global dummy page, a get_page per use
        dummy = offload.dummy_page
        if dummy is None:
            dummy = sk.net.page_allocator.alloc_pages(GFP_ATOMIC, 0)
            if dummy is None:
                raise kernel_error(errno.ENOMEM, "no page for the TLS tag")
            offload.dummy_page = dummy
        frags = record.frags
        get_page(dummy)
        frags.append(SkbFrag(dummy, 0, tag))
        record.len += tag
    record.record_type = record_type
    tls_fill_prepend(ctx, record, record_type)


def tls_fill_prepend(ctx: TlsContext, record: TlsRecordInfo, record_type: int) -> None:
    """``tls_fill_prepend()`` (net/tls/tls.h): type, version 3,3, the length after the header
    (explicit nonce + plaintext + tag), then the explicit nonce from the TX IV."""
    prot = ctx.prot
    tx = ctx.tx
    assert tx is not None
    first = record.frags[0]
    view = first.page.view
    off = first.offset
    wire_len = record.len - TLS_HEADER_SIZE
    view[off] = record_type
    view[off + 1] = 3
    view[off + 2] = 3
    view[off + 3] = wire_len >> 8
    view[off + 4] = wire_len & 0xFF
    nonce = tx.explicit_nonce()
    view[off + TLS_HEADER_SIZE : off + TLS_HEADER_SIZE + prot.nonce_size] = nonce


def tls_push_record(
    sk: TcpSock, task: TaskContext, ctx: TlsContext, record: TlsRecordInfo, flags: int
) -> bool:
    """``tls_push_record()``: ``end_seq`` from ``write_seq`` before TCP queues it, onto
    ``records_list``, the record number and nonce advance, a push reference per frag, and
    ``tls_push_sg``.  True if TCP took only part of it (the caller waits; the rest is
    ``ctx.partial``)."""
    from .main import tls_push_sg

    offload = ctx.tx_offload
    tx = ctx.tx
    assert offload is not None
    assert tx is not None
    record.end_seq = sk.write_seq + record.len
    record.rec_seq = tx.rec_seq
    offload.records_list.append(record)
    offload.open_record = None
    if tx.advance():
        # the record number wrapped: tls_err_abort(-EBADMSG), which TCP's send reports
        sk.sk_err = errno.EBADMSG
        sk.sk_error_report()
    stats = sk.net.stats
    stats.tls_records += 1
    stats.tls_record_frags += len(record.frags)
    tracer = stats.tracer
    if tracer is not None:
        tracer.emit(
            "record_push",
            "tls_push_record",
            "the record is closed (16 KiB of payload, 16 frags, or the end of the write "
            "without MSG_MORE): its frags go to TCP, each with a push reference",
            {
                "record": tracer.forget(record, "rec"),
                "len": record.len,
                "nr_frags": len(record.frags),
                "end_seq": record.end_seq,
            },
        )
    entries: list[tuple[Page, int, int]] = []
    for frag in record.frags:
        get_page(frag.page)  # the push's own reference, dropped once TCP has the entry
        entries.append((frag.page, frag.offset, frag.len))
    return tls_push_sg(sk, task, ctx, entries, 0, flags)


# -- retention and lookup ----------------------------------------------------------------------


def tls_tcp_clean_acked(sk: TcpSock, ctx: TlsContext, acked_seq: int) -> None:
    """``tls_tcp_clean_acked()``: free every record TCP's ACK has passed (``end_seq <=
    acked_seq``), giving back its page references (``destroy_record``); the record number of
    the list head counts up with them."""
    offload = ctx.tx_offload
    assert offload is not None
    records = offload.records_list
    n = 0
    for record in records:
        if record.end_seq > acked_seq:
            break
        n += 1
    if not n:
        return
    if offload.retransmit_hint >= 0:
        hint = records[offload.retransmit_hint]
        offload.retransmit_hint = -1 if acked_seq >= hint.end_seq else offload.retransmit_hint - n
    for record in records[:n]:
        destroy_record(record)
    del records[:n]
    offload.unacked_record_sn = (offload.unacked_record_sn + n) & 0xFFFFFFFFFFFFFFFF
    if offload.dev_record is not None and offload.dev_record.end_seq <= acked_seq:
        offload.dev_record = None
        offload.dev_wire = b""


def destroy_record(record: TlsRecordInfo) -> None:
    """``destroy_record()``: drop the record's page references."""
    for frag in record.frags:
        put_page(frag.page)
    record.frags = []


def tls_get_record(offload: TlsOffloadContextTx, seq: int) -> tuple[TlsRecordInfo | None, int]:
    """``tls_get_record()``: the record holding TCP sequence number ``seq`` and its record
    number — from the retransmit hint when ``seq`` is at or after it, else from the list head
    (where a ``seq`` outside the listed records is ``(None, 0)``).  Moves the hint forward."""
    records = offload.records_list
    if not records:
        return None, 0
    hint = offload.retransmit_hint
    if hint >= 0 and seq >= records[hint].start_seq:
        idx = hint
        rcd_sn = offload.hint_record_sn
    else:
        first = records[0]
        if not first.is_start_marker() and not (first.start_seq <= seq < records[-1].end_seq):
            return None, 0
        idx = 0
        rcd_sn = offload.unacked_record_sn
    while idx < len(records) and seq >= records[idx].end_seq:
        idx += 1
        rcd_sn = (rcd_sn + 1) & 0xFFFFFFFFFFFFFFFF
    if idx == len(records):
        return None, 0
    if hint < 0 or records[idx].end_seq > records[hint].end_seq:
        offload.retransmit_hint = idx
        offload.hint_record_sn = rcd_sn
    return records[idx], rcd_sn


def tls_device_free_resources_tx(sk: TcpSock, ctx: TlsContext) -> None:
    """``tls_device_sk_destruct`` for TX: the open record, every listed record, the partially
    sent record's push references and the dummy page go back."""
    from .main import tls_free_partial_record

    offload = ctx.tx_offload
    if offload is None:
        return
    tls_free_partial_record(ctx)
    if offload.open_record is not None:
        destroy_record(offload.open_record)
        offload.open_record = None
    for record in offload.records_list:
        destroy_record(record)
    offload.records_list.clear()
    if offload.dummy_page is not None:
        put_page(offload.dummy_page)
        offload.dummy_page = None
    offload.dev_record = None
    offload.dev_wire = b""


# -- the NIC ---------------------------------------------------------------------------------


def tls_record_plaintext(record: TlsRecordInfo, prepend: int, tag: int) -> bytes:
    """The record's payload bytes, read from its frags (between the prepend and the tag)."""
    out = bytearray()
    pos = 0
    start = prepend
    end = record.len - tag
    for frag in record.frags:
        a = max(start - pos, 0)
        b = min(end - pos, frag.len)
        if a < b:
            out += frag.page.view[frag.offset + a : frag.offset + b]
        pos += frag.len
    return bytes(out)


def tls_record_wire(tx: TlsCipherState, record: TlsRecordInfo, rec_seq: int) -> bytes:
    """What the NIC puts on the wire for ``record``: header, explicit nonce, ciphertext and
    tag, under record number ``rec_seq``."""
    prot = tx.prot
    first = record.frags[0]
    prepend = bytes(first.page.view[first.offset : first.offset + prot.prepend_size])
    if len(first.page.view) - first.offset < prot.prepend_size or first.len < prot.prepend_size:
        raise AssertionError("a record's prepend is always its first frag")
    explicit = prepend[TLS_HEADER_SIZE:]
    plaintext = tls_record_plaintext(record, prot.prepend_size, prot.tag_size)
    return tls_encrypt(tx, rec_seq, prepend[0], explicit, plaintext)


def tls_device_encrypt_skb(
    sk: TcpSock, ctx: TlsContext, skb: SkBuff, offloaded: bool
) -> SkBuff | None:
    """The NIC's transmit (``offloaded``) or ``tls_sw_fallback``: write the ciphertext of the
    records the segment's payload spans over that payload, in a private linear copy of the
    segment.  Segments without payload, or with only plaintext from before the offload
    started, go as they are.  None (drop) if a record cannot be found."""
    offload = ctx.tx_offload
    tx = ctx.device_tx
    if offload is None or tx is None:
        return skb
    cb = skb.cb
    th = skb.transport_header
    if cb is None or th < 0:
        return skb
    doff = (skb.head[th + 12] >> 4) * 4
    payload_at = th + doff - skb.data  # from skb.data
    payload_len = skb.len - payload_at
    if payload_len <= 0:
        return skb
    seq: int = cb.seq
    end = seq + payload_len
    if end <= offload.start_seq:
        return skb  # plaintext sent before TLS_TX (the collapse fence keeps it apart)
    stats = sk.net.stats
    out = bytearray(payload_len)
    pos = 0
    s = seq
    in_order = seq == offload.dev_expected_seq
    if not in_order:
        stats.tls_tx_ooo += 1
    while pos < payload_len:
        record = offload.dev_record
        if record is not None and record.start_seq <= s < record.end_seq:
            wire = offload.dev_wire
        else:
            found, rcd_sn = tls_get_record(offload, s)
            if found is None or found.is_start_marker():
                stats.tls_tx_no_record += 1
                from ..skb import kfree_skb

                kfree_skb(skb)
                return None
            record = found
            wire = tls_record_wire(tx, record, rcd_sn)
            if offloaded:
                stats.tls_dev_encrypt += 1
            if not in_order or s != record.start_seq:
                stats.tls_tx_resync_bytes += s - record.start_seq
            if in_order:
                offload.dev_record = record
                offload.dev_wire = wire
        a = s - record.start_seq
        n = min(record.end_seq - s, payload_len - pos)
        out[pos : pos + n] = wire[a : a + n]
        pos += n
        s += n
    if in_order:
        offload.dev_expected_seq = end
    if not offloaded:
        stats.tls_sw_fallback_segs += 1
    # tls_enc_skb: a private linear copy carries the ciphertext (the pages stay the record's
    # plaintext, their references untouched); it takes over the socket's ownership and
    # write-memory charge, and the original is consumed
    nskb = skb_copy(skb)
    start = nskb.data + payload_at
    nskb.head[start : start + payload_len] = out
    nskb.sk = skb.sk
    nskb.destructor = skb.destructor
    if offloaded:
        # a real NIC encrypts the stack's own skb: the copy stands in for the DMA, so it is
        # charged (and TSQ sees it) as the original was
        nskb.truesize = skb.truesize
    elif skb.destructor is not None:
        sk.sk_wmem_alloc += nskb.truesize - skb.truesize
    skb.destructor = None
    skb.sk = None
    consume_skb(skb)
    return nskb
