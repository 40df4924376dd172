"""Receive memory under pressure: collapsing and pruning the receive and out-of-order queues
(net/ipv4/tcp_input.c ``tcp_try_rmem_schedule``, ``tcp_prune_queue``, ``tcp_collapse``,
``tcp_collapse_ofo_queue``, ``tcp_prune_ofo_queue``).

A segment is taken only while ``sk_rmem_alloc`` — the *truesize* of what the queues hold — has
room in ``sk_rcvbuf``.  An RX skb's truesize is far more than its payload (a 1448-byte
segment in a 2 KiB RX buffer plus the ``sk_buff``), so a queue of small or sparse segments
fills the budget long before the window says it should.  When the budget is spent Linux does
not simply drop:

1. **Collapse** (``tcp_collapse``): runs of skbs whose truesize is out of proportion to their
   data (``tcp_win_from_space(truesize) > len``) are copied into new, tightly packed linear
   skbs of ``SKB_MAX_ORDER(0, 0)`` bytes (one page less the shared info) and freed —
   ``TCPRcvCollapsed`` per skb freed.  The out-of-order queue is collapsed range by
   contiguous range (``tcp_collapse_ofo_queue``), the receive queue from ``copied_seq``.
   This is where a receiver under memory pressure gives its RX pages back: the payload
   moves out of page frags into ``kmalloc``'d heads.
2. **Prune** (``tcp_prune_ofo_queue``): if that is not enough, out-of-order data is thrown
   away from the highest sequence down (``OfoPruned``), in steps of an eighth of
   ``sk_rcvbuf`` — never data below the arriving segment — and the SACK blocks are
   forgotten (the sender will learn again).
3. Only then is the segment dropped (``RcvPruned``; ``TCPRcvQDrop`` or ``TCPOFODrop``).

``PruneCalled`` counts each time step 1 is reached."""

from __future__ import annotations

from typing import Final

from ..skb import SkBuff, alloc_skb, kfree_skb, skb_copy_bits, skb_put
from ..sock.sock import skb_set_owner_r
from ..wire.tcp import TCPHDR_FIN, TCPHDR_SYN
from .output import tcp_win_from_space
from .sock import TcpSkbCb, TcpSock

__all__ = [
    "tcp_can_ingest",
    "tcp_collapse",
    "tcp_collapse_ofo_queue",
    "tcp_prune_ofo_queue",
    "tcp_prune_queue",
]

_SYN_FIN: Final = TCPHDR_SYN | TCPHDR_FIN


def tcp_can_ingest(sk: TcpSock, skb: SkBuff) -> bool:
    """``tcp_can_ingest()``: room for the payload (not the truesize: "we can receive a small
    packet filling RWIN, but with a high skb->truesize")."""
    return sk.sk_rmem_alloc + skb.len <= sk.sk_rcvbuf


def _bloated(sk: TcpSock, skb: SkBuff) -> bool:
    """The kernel's ``tcp_win_from_space(sk, skb->truesize) > skb->len``: the window this
    much memory is worth exceeds the data it holds — worth collapsing."""
    return tcp_win_from_space(sk, skb.truesize) > skb.len


def tcp_prune_queue(sk: TcpSock, in_skb: SkBuff) -> int:
    """``tcp_prune_queue()``: make room for ``in_skb`` — collapse the out-of-order queue, then
    the receive queue, then prune the out-of-order queue.  0 if there is room now, -1 if not
    (``RcvPruned``)."""
    stats = sk.net.stats
    stats.TcpExtPruneCalled += 1
    if sk.sk_rmem_alloc < sk.sk_rcvbuf and sk.net.tcp_memory_pressure:
        # tcp_adjust_rcv_ssthresh(): offer less while memory is short
        sk.rcv_ssthresh = min(sk.rcv_ssthresh, 4 * sk.advmss)
    if tcp_can_ingest(sk, in_skb):
        return 0
    tcp_collapse_ofo_queue(sk)
    queue = sk.sk_receive_queue
    if queue:
        tcp_collapse(sk, False, 0, None, sk.copied_seq, sk.rcv_nxt)
    if tcp_can_ingest(sk, in_skb):
        return 0
    tcp_prune_ofo_queue(sk, in_skb)
    if tcp_can_ingest(sk, in_skb):
        return 0
    stats.TcpExtRcvPruned += 1
    return -1


def tcp_collapse_ofo_queue(sk: TcpSock) -> None:
    """``tcp_collapse_ofo_queue()``: collapse each run of contiguous out-of-order skbs — unless
    it is one skb holding less than a page, a "tiny" range, of which at most an eighth of
    ``sk_rcvbuf`` is left alone before giving up."""
    ofo = sk.out_of_order_queue
    if not ofo:
        return
    sum_tiny = 0
    i = 0
    while i < len(ofo):
        head = ofo[i]
        hcb: TcpSkbCb = head.cb
        start, end = hcb.seq, hcb.end_seq
        range_truesize = head.truesize
        j = i + 1
        while j < len(ofo):
            cb: TcpSkbCb = ofo[j].cb
            if cb.seq > end or cb.end_seq < start:
                break
            range_truesize += ofo[j].truesize
            start = min(start, cb.seq)
            end = max(end, cb.end_seq)
            j += 1
        if range_truesize != head.truesize or end - start >= head.layout.with_overhead(4096):
            before = len(ofo)
            tcp_collapse(sk, True, i, j, start, end)
            i = j - (before - len(ofo))  # past what replaced the range
        else:
            sum_tiny += range_truesize
            if sum_tiny > sk.sk_rcvbuf >> 3:
                return
            i = j


def _queue_len(sk: TcpSock, ofo: bool) -> int:
    return len(sk.out_of_order_queue) if ofo else len(sk.sk_receive_queue)


def _queue_get(sk: TcpSock, ofo: bool, index: int) -> SkBuff:
    return sk.out_of_order_queue[index] if ofo else sk.sk_receive_queue[index]


def _collapse_one(sk: TcpSock, ofo: bool, index: int) -> None:
    """``tcp_collapse_one()``: unlink and free a collapsed skb (``TCPRcvCollapsed``)."""
    if ofo:
        skb = sk.out_of_order_queue.pop(index)
    else:
        skb = sk.sk_receive_queue[index]
        del sk.sk_receive_queue[index]
    sk.net.stats.TcpExtTCPRcvCollapsed += 1
    kfree_skb(skb)


def tcp_collapse(sk: TcpSock, ofo: bool, head: int, tail: int | None, start: int, end: int) -> None:
    """``tcp_collapse()``: from the skb at index ``head`` (up to ``tail``, exclusive; None:
    the end) of the receive queue (or, ``ofo``, the out-of-order queue), covering
    ``[start, end)``: skip skbs that are already tight and contiguous; from the first that is
    bloated, starts before ``start`` or leaves a gap to the next, copy the bytes into new
    linear skbs of at most ``SKB_MAX_ORDER(0, 0)`` bytes each (the first skb's control
    block, ``seq``/``end_seq`` of what they hold, charged to the socket) and free what they
    replace.  Never across a SYN or FIN, never over a sequence gap."""

    def limit() -> int:
        return _queue_len(sk, ofo) if tail is None else tail - (before_len - _queue_len(sk, ofo))

    before_len = _queue_len(sk, ofo)
    i = head
    # find where collapsing starts to pay
    while True:
        if i >= limit():
            return
        skb = _queue_get(sk, ofo, i)
        cb: TcpSkbCb = skb.cb
        if start >= cb.end_seq:  # no new bits (possible on the out-of-order queue)
            _collapse_one(sk, ofo, i)
            continue
        if not cb.tcp_flags & _SYN_FIN and (_bloated(sk, skb) or cb.seq < start):
            break
        if i + 1 < limit():
            ncb: TcpSkbCb = _queue_get(sk, ofo, i + 1).cb
            if cb.end_seq != ncb.seq:
                break
        start = cb.end_seq
        i += 1
    if cb.tcp_flags & _SYN_FIN:
        return
    net = sk.net
    page_payload = skb.layout.with_overhead(4096)  # SKB_MAX_ORDER(0, 0)
    made: list[SkBuff] = []
    while start < end:
        copy = min(page_payload, end - start)
        nskb = alloc_skb(copy, stats=net.stats, gfp=0, layout=net.skb_layout)
        ncb = TcpSkbCb(start, start, cb.tcp_flags)
        nskb.cb = ncb
        skb_set_owner_r(nskb, sk)
        if ofo:
            made.append(nskb)
        else:
            sk.sk_receive_queue.insert(i, nskb)
            i += 1
        done = False
        while copy > 0:
            skb = _queue_get(sk, ofo, i)
            cb = skb.cb
            offset = start - cb.seq
            size = cb.end_seq - start
            if size > 0:
                size = min(copy, size, skb.len - offset)
                if size > 0:
                    at = skb_put(nskb, size)
                    skb_copy_bits(skb, offset, memoryview(nskb.head)[at : at + size], size)
                    ncb.end_seq += size
                    copy -= size
                    start += size
                else:  # only a FIN beyond the data: stop before it
                    done = True
                    break
            if start >= cb.end_seq:
                _collapse_one(sk, ofo, i)
                if i >= limit():
                    done = True
                    break
                skb = _queue_get(sk, ofo, i)
                cb = skb.cb
                if cb.tcp_flags & _SYN_FIN or cb.seq != start:
                    done = True
                    break
        if done:
            break
    for nskb in made:
        sk.out_of_order_queue.add(nskb)


def tcp_prune_ofo_queue(sk: TcpSock, in_skb: SkBuff) -> bool:
    """``tcp_prune_ofo_queue()``: drop out-of-order skbs from the highest sequence down, an
    eighth of ``sk_rcvbuf`` at a time, until ``in_skb`` fits (and memory is not under
    pressure) — but never one below ``in_skb``, which would land last.  The SACK blocks are
    forgotten (``tcp_sack_reset``).  True if anything was dropped (``OfoPruned``)."""
    ofo = sk.out_of_order_queue
    if not ofo:
        return False
    sk.net.stats.TcpExtOfoPruned += 1
    goal = sk.sk_rcvbuf >> 3
    in_seq = in_skb.cb.seq if isinstance(in_skb.cb, TcpSkbCb) else 0
    pruned = False
    while ofo:
        skb = ofo[len(ofo) - 1]
        cb: TcpSkbCb = skb.cb
        if in_seq > cb.seq:
            break
        pruned = True
        ofo.pop(len(ofo) - 1)
        goal -= skb.truesize
        kfree_skb(skb)
        if not ofo or goal <= 0:
            if tcp_can_ingest(sk, in_skb) and not sk.net.tcp_memory_pressure:
                break
            goal = sk.sk_rcvbuf >> 3
    if pruned and sk.sack_ok:
        sk.selective_acks = []  # tcp_sack_reset()
    return pruned
