"""Operations on one skb: frags, coalescing, copies, and the linear-area helpers
(include/linux/skbuff.h, include/net/sock.h, net/core/skbuff.c).

The two functions every transmit path is built from:

* :func:`skb_can_coalesce` — may bytes at ``(page, off)`` extend the last frag?  Only if that
  frag names the **same** (sub)page object and ends exactly at ``off`` (and the skb is not a
  zerocopy skb).  A different 4 KiB sub-page of the same compound page does not coalesce.
* :func:`skb_add_frag_nocache` — the v20 name of the copy helper (mainline
  ``skb_copy_to_page_nocache``, v21+ ``skb_copy_to_frag_nocache``): one slice assignment from
  the user's ``memoryview`` into the page, a checksum only for a ``CHECKSUM_NONE`` skb, then
  ``len``/``data_len``/``truesize`` and the socket's ``sk_wmem_queued``/``sk_forward_alloc``.
  It never touches ``frags[]``: the caller grows the last frag or fills a new one.

The linear helpers raise :class:`~netsim.skb.BadSkbError` where the kernel would
``skb_over_panic``/``skb_under_panic``.
"""

from __future__ import annotations

from typing import Protocol

from ..errors import errno, kernel_error
from ..mm import FragSpan
from ..mm.page import PAGE_SIZE, Page, get_page, put_page
from ..stats import Counters
from ..wire.checksum import csum_block_add, csum_partial
from .buff import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    SKB_DATAREF_MASK,
    SKBFL_MANAGED_FRAG_REFS,
    SKBFL_PURE_ZEROCOPY,
    SKBFL_SHARED_FRAG,
    SKBFL_ZEROCOPY_ENABLE,
    BadSkbError,
    SkbFrag,
    SkbSharedInfo,
    SkBuff,
    _check_live,
    alloc_skb,
    kfree_skb,
    skb_clone,
    skb_cloned,
    skb_release_data,
    skb_shared,
)

__all__ = [
    "SkbOwner",
    "__pskb_pull_tail",
    "__skb_fill_page_desc",
    "pskb_copy",
    "skb_copy",
    "pskb_expand_head",
    "skb_unclone_keeptruesize",
    "__pskb_trim_head",
    "pskb_pull",
    "pskb_trim",
    "skb_add_frag_nocache",
    "skb_add_rx_frag",
    "skb_append_pagefrags",
    "skb_can_coalesce",
    "skb_check",
    "skb_coalesce_rx_frag",
    "skb_copy_bits",
    "skb_fill_page_desc",
    "skb_frag_ref",
    "skb_frag_size_add",
    "skb_frag_size_sub",
    "skb_frag_off_add",
    "skb_frag_unref",
    "skb_len_add",
    "skb_linearize",
    "skb_pagelen",
    "skb_pull",
    "skb_push",
    "skb_put",
    "skb_reserve",
    "skb_shift",
    "skb_to_bytes",
    "skb_zcopy",
    "trace_frag",
    "trace_record_frag",
]


class SkbOwner(Protocol):
    """The socket fields ``skb_add_frag_nocache`` charges (``struct sock``)."""

    sk_wmem_queued: int
    sk_forward_alloc: int


# -- frag descriptors ------------------------------------------------------------------------


def skb_zcopy(skb: SkBuff) -> bool:
    """``skb_zcopy()``: the skb carries user pages under a zerocopy ``ubuf_info``."""
    return bool(skb.shinfo.flags & SKBFL_ZEROCOPY_ENABLE)


def skb_can_coalesce(skb: SkBuff, i: int, page: Page, off: int) -> bool:
    """``skb_can_coalesce()`` (include/linux/skbuff.h): may bytes at ``page + off`` be appended
    to ``frags[i - 1]``?  Same page object and contiguous offset, never on a zerocopy skb."""
    shinfo = skb.shinfo
    if shinfo.flags & SKBFL_ZEROCOPY_ENABLE or not i:
        return False
    frag = shinfo.frags[i - 1]
    return page is frag.page and off == frag.offset + frag.len


def __skb_fill_page_desc(skb: SkBuff, i: int, page: Page, off: int, size: int) -> None:
    """``__skb_fill_page_desc()``: write slot ``i``; marks the skb pfmemalloc if the page is.
    Takes **no** reference.  (Slots are dense here: writing ``i == nr_frags`` appends.)"""
    frags = skb.shinfo.frags
    if i == len(frags):
        frags.append(SkbFrag(page, off, size))
    elif 0 <= i < len(frags):
        frags[i] = SkbFrag(page, off, size)
    else:
        raise BadSkbError(f"frag slot {i} with nr_frags {len(frags)}")
    if page.head.pfmemalloc:
        skb.pfmemalloc = True


def skb_fill_page_desc(skb: SkBuff, i: int, page: Page, off: int, size: int) -> None:
    """``skb_fill_page_desc()``: ``__skb_fill_page_desc`` + ``nr_frags = i + 1``.  Takes **no**
    reference: the caller owns one for the slot (``get_page`` or a frag-cache ``commit``)."""
    __skb_fill_page_desc(skb, i, page, off, size)
    del skb.shinfo.frags[i + 1 :]


def skb_frag_size_add(frag: SkbFrag, delta: int) -> None:
    """``skb_frag_size_add()``."""
    frag.len += delta


def skb_frag_size_sub(frag: SkbFrag, delta: int) -> None:
    """``skb_frag_size_sub()``."""
    frag.len -= delta


def skb_frag_off_add(frag: SkbFrag, delta: int) -> None:
    """``skb_frag_off_add()``."""
    frag.offset += delta


def skb_frag_ref(skb: SkBuff, i: int) -> None:
    """``skb_frag_ref()``: ``get_page`` on slot ``i``'s page."""
    get_page(skb.shinfo.frags[i].page)


def skb_frag_unref(skb: SkBuff, i: int) -> None:
    """``skb_frag_unref()``: ``put_page`` on slot ``i``'s page."""
    put_page(skb.shinfo.frags[i].page)


def skb_len_add(skb: SkBuff, delta: int) -> None:
    """``skb_len_add()``: ``len``, ``data_len`` and ``truesize`` each grow by ``delta``."""
    skb.len += delta
    skb.data_len += delta
    skb.truesize += delta


def skb_pagelen(skb: SkBuff) -> int:
    """``skb_pagelen()``: headlen plus the frags (not the frag_list)."""
    return skb.len - skb.data_len + sum(f.len for f in skb.shinfo.frags)


# -- copies into frags -----------------------------------------------------------------------


def trace_frag(
    skb: SkBuff, i: int, page: Page, offset: int, copy: int, merge: bool, where: str
) -> None:
    """Tell the host's tracer where ``copy`` bytes at ``page + offset`` went in ``skb``, just
    after the frags were updated: merged into ``frags[i - 1]`` (``coalesce``) or into the new
    slot ``i`` (``new_frag``), and why the previous frag could not take them
    (:mod:`netsim.stats.trace`)."""
    tracer = skb.stats.tracer
    if tracer is None:
        return
    head = page.head
    fields: dict[str, int | str] = {
        "skb": tracer.skb(skb),
        "frag": i - 1 if merge else i,
        "pfn": head.pfn,
        "offset": page.index * PAGE_SIZE + offset if page.is_tail else offset,
        "len": copy,
    }
    if merge:
        prev = skb.shinfo.frags[i - 1]
        reason = f"contiguous with frag[{i - 1}] on the same page: it grows to {prev.len} B"
        tracer.emit("coalesce", where, reason, fields)
        return
    if i == 0:
        reason = "the skb's first frag"
    else:
        prev = skb.shinfo.frags[i - 1]
        if skb.shinfo.flags & SKBFL_ZEROCOPY_ENABLE:
            reason = "a zerocopy skb never coalesces"
        elif prev.page is not page:
            reason = (
                f"frag[{i - 1}] is on another page (pfn {prev.page.head.pfn:#x}): "
                "skb_can_coalesce says no"
            )
        else:
            reason = (
                f"frag[{i - 1}] ends at {prev.offset + prev.len}, these bytes start at {offset}: "
                "not contiguous, skb_can_coalesce says no"
            )
    tracer.emit("new_frag", where, reason, fields)


def trace_record_frag(
    stats: Counters,
    record: object,
    frags: list[SkbFrag],
    span: FragSpan,
    size: int,
    merged: bool,
    where: str,
) -> None:
    """Tell the tracer where ``size`` record bytes went (after ``frags`` changed): merged
    into the record's last frag, or a new frag, and why (:mod:`netsim.stats.trace`)."""
    tracer = stats.tracer
    if tracer is None:
        return
    i = len(frags) - 1
    fields: dict[str, int | str] = {
        "record": tracer.label(record, "rec"),
        "frag": i,
        "pfn": span.page.head.pfn,
        "offset": span.offset,
        "len": size,
    }
    if merged:
        reason = f"contiguous with the record's frag[{i}]: it grows to {frags[i].len} B"
        tracer.emit("coalesce", where, reason, fields)
        return
    if i == 0:
        reason = "the record's first frag"
    else:
        prev = frags[i - 1]
        if prev.page is not span.page:
            reason = f"frag[{i - 1}] is on another page (pfn {prev.page.head.pfn:#x})"
        else:
            reason = (
                f"frag[{i - 1}] ends at {prev.offset + prev.len}, these bytes start at "
                f"{span.offset}: not contiguous"
            )
    tracer.emit("new_frag", where, reason, fields)


def skb_add_frag_nocache(
    sk: SkbOwner, src: memoryview, skb: SkBuff, page: Page, offset: int, copy: int
) -> None:
    """``skb_add_frag_nocache(sk, from, skb, va, copy)`` (v20 09/14; include/net/sock.h).

    Copies ``src[:copy]`` to ``page + offset`` in one slice assignment.  A ``CHECKSUM_NONE``
    skb also folds the bytes' sum into ``skb.csum`` at offset ``skb.len``
    (``skb_do_copy_data_nocache``).  Then ``skb_len_add(copy)``, ``sk_wmem_queued += copy``
    and ``sk_mem_charge(copy)``.  A source shorter than ``copy`` raises ``EFAULT`` with the
    skb and socket unchanged (page bytes may already be written, as in the kernel).
    """
    if len(src) < copy:
        raise kernel_error(errno.EFAULT, f"copy of {copy} bytes from a {len(src)}-byte buffer")
    data = src[:copy]
    page.view[offset : offset + copy] = data
    if skb.ip_summed == CHECKSUM_NONE:
        skb.csum = csum_block_add(skb.csum, csum_partial(data), skb.len)
    skb.len += copy
    skb.data_len += copy
    skb.truesize += copy
    sk.sk_wmem_queued += copy
    sk.sk_forward_alloc -= copy
    skb.stats.skb_copy_bytes += copy


def skb_add_rx_frag(skb: SkBuff, i: int, page: Page, off: int, size: int, truesize: int) -> None:
    """``skb_add_rx_frag()``: fill slot ``i`` (the caller's page reference moves to the skb),
    then ``len``/``data_len`` += ``size`` and ``truesize`` += the driver's ``truesize``."""
    skb_fill_page_desc(skb, i, page, off, size)
    skb.len += size
    skb.data_len += size
    skb.truesize += truesize


def skb_coalesce_rx_frag(skb: SkBuff, i: int, size: int, truesize: int) -> None:
    """``skb_coalesce_rx_frag()``: grow slot ``i``; no reference change."""
    skb.shinfo.frags[i].len += size
    skb.len += size
    skb.data_len += size
    skb.truesize += truesize


def skb_append_pagefrags(
    skb: SkBuff, page: Page, off: int, size: int, max_frags: int | None = None
) -> None:
    """``skb_append_pagefrags()`` (net/core/skbuff.c): coalesce, or add a slot with
    ``get_page`` (``skb_fill_page_desc_noacc``: the skb is not marked pfmemalloc);
    ``EMSGSIZE`` at ``max_frags`` (default: the skb's ``MAX_SKB_FRAGS``).  Lengths are the
    caller's business."""
    if max_frags is None:
        max_frags = skb.layout.max_frags
    i = len(skb.shinfo.frags)
    if skb_can_coalesce(skb, i, page, off):
        skb.shinfo.frags[i - 1].len += size
        return
    if i >= max_frags:
        raise kernel_error(errno.EMSGSIZE)
    skb.shinfo.flags &= ~(SKBFL_MANAGED_FRAG_REFS | SKBFL_PURE_ZEROCOPY)
    get_page(page)
    # skb_fill_page_desc_noacc: the page is not ours, so no pfmemalloc propagation
    skb.shinfo.frags.append(SkbFrag(page, off, size))


# -- the linear area -------------------------------------------------------------------------


def skb_put(skb: SkBuff, n: int) -> int:
    """``skb_put()``: extend the linear data at the tail by ``n``; returns the old tail offset.
    Only legal on a linear skb (``SKB_LINEAR_ASSERT``)."""
    if skb.data_len:
        raise BadSkbError(f"skb_put on a nonlinear skb: {skb!r}")
    tail = skb.tail
    if tail + n > skb.end:
        raise BadSkbError(f"skb_over_panic: put {n} at tail {tail}, end {skb.end}")
    skb.tail = tail + n
    skb.len += n
    return tail


def skb_push(skb: SkBuff, n: int) -> int:
    """``skb_push()``: extend the data at the front (into headroom); returns the new ``data``."""
    if n > skb.data:
        raise BadSkbError(f"skb_under_panic: push {n} with headroom {skb.data}")
    skb.data -= n
    skb.len += n
    return skb.data


def skb_pull(skb: SkBuff, n: int) -> int | None:
    """``skb_pull()``: remove ``n`` bytes from the front of the linear data; ``None`` when the
    skb is shorter than ``n``.  Pulling past the linear part needs :func:`pskb_pull`."""
    if n > skb.len:
        return None
    if n > skb.len - skb.data_len:
        raise BadSkbError(f"skb_pull({n}) past headlen {skb.len - skb.data_len}; use pskb_pull")
    skb.data += n
    skb.len -= n
    return skb.data


def skb_reserve(skb: SkBuff, n: int) -> None:
    """``skb_reserve()``: make ``n`` bytes of headroom on an empty skb."""
    if skb.len:
        raise BadSkbError(f"skb_reserve on a non-empty skb: {skb!r}")
    if skb.tail + n > skb.end:
        raise BadSkbError(f"skb_reserve({n}) beyond end {skb.end}")
    skb.data += n
    skb.tail += n


# -- copying out -----------------------------------------------------------------------------


def skb_copy_bits(skb: SkBuff, offset: int, to: bytearray | memoryview, length: int) -> None:
    """``skb_copy_bits()``: copy ``length`` bytes starting ``offset`` bytes after ``data`` —
    linear part, then frags, then frag_list — into ``to``.  ``ValueError`` (the kernel's
    ``-EFAULT``) when the range is outside the skb."""
    if (offset < 0 and -offset > skb.data) or offset > skb.len - length or length < 0:
        raise ValueError(f"skb_copy_bits({offset}, {length}) outside skb of len {skb.len}")
    dst = memoryview(to)
    pos = 0
    start = skb.len - skb.data_len
    if offset < start:
        n = min(start - offset, length)
        dst[:n] = memoryview(skb.head)[skb.data + offset : skb.data + offset + n]
        pos = n
        offset += n
    if pos == length:
        return
    for frag in skb.shinfo.frags:
        end = start + frag.len
        if offset < end:
            n = min(end - offset, length - pos)
            off = frag.offset + offset - start
            dst[pos : pos + n] = frag.page.view[off : off + n]
            pos += n
            offset += n
            if pos == length:
                return
        start = end
    for sub in skb.shinfo.frag_list:
        end = start + sub.len
        if offset < end:
            n = min(end - offset, length - pos)
            skb_copy_bits(sub, offset - start, dst[pos : pos + n], n)
            pos += n
            offset += n
            if pos == length:
                return
        start = end
    raise ValueError("skb_copy_bits ran off the end: skb lengths are inconsistent")


def skb_to_bytes(skb: SkBuff, offset: int = 0) -> bytes:
    """Every byte from ``data + offset`` to the end, linear part + frags + frag_list."""
    out = bytearray(skb.len - offset)
    skb_copy_bits(skb, offset, out, len(out))
    return bytes(out)


# -- head reallocation, pulls, copies --------------------------------------------------------


def pskb_expand_head(skb: SkBuff, nhead: int, ntail: int) -> None:
    """``pskb_expand_head()`` (net/core/skbuff.c): give the skb a private, larger head with
    ``nhead`` more headroom and ``ntail`` more tailroom.

    If the data was shared with clones, the new shared info's frags are **new references**
    (``skb_frag_ref`` each) and the old shared info loses this skb's data reference.  Otherwise
    the frags simply move.  ``truesize`` grows only for an skb with no owning socket.
    """
    _check_live(skb, "pskb_expand_head")
    if nhead < 0 or ntail < 0:
        raise BadSkbError(f"pskb_expand_head({nhead}, {ntail})")
    if skb_shared(skb):
        raise BadSkbError(f"pskb_expand_head on a shared skb: {skb!r}")
    osize = skb.end
    size = skb.layout.head_size(osize + nhead + ntail)
    head = bytearray(size)
    head[nhead : nhead + skb.tail] = memoryview(skb.head)[: skb.tail]
    old = skb.shinfo
    new = SkbSharedInfo()
    new.frags = [f.copy() for f in old.frags]
    new.flags = old.flags & ~(SKBFL_MANAGED_FRAG_REFS | SKBFL_PURE_ZEROCOPY)
    new.tx_flags = old.tx_flags
    new.gso_size = old.gso_size
    new.gso_segs = old.gso_segs
    new.gso_type = old.gso_type
    new.destructor_arg = old.destructor_arg
    new.frag_list = list(old.frag_list)
    if skb_cloned(skb):
        for frag in new.frags:
            get_page(frag.page)
        for sub in new.frag_list:
            sub.users += 1  # skb_clone_fraglist: skb_get on each
        skb_release_data(skb)
    skb.head = head
    skb.shinfo = new
    skb.data += nhead
    skb.tail += nhead
    skb.end = size
    if skb.ip_summed == CHECKSUM_PARTIAL:  # skb_headers_offset_update: head-relative
        skb.csum_start += nhead
    for name in ("mac_header", "network_header", "transport_header"):
        value = getattr(skb, name)
        if value >= 0:
            setattr(skb, name, value + nhead)
    skb.cloned = False
    skb.nohdr = False
    new.dataref = 1
    if skb.sk is None:
        skb.truesize += size - osize


def skb_unclone_keeptruesize(skb: SkBuff) -> None:
    """``skb_unclone_keeptruesize()`` (include/linux/skbuff.h): give a cloned skb a private
    head, but keep ``truesize`` as it was, because a socket's queue accounting (TCP's
    ``sk_wmem_queued``) was charged with the old value and must uncharge the same amount."""
    if skb_cloned(skb):
        truesize = skb.truesize
        pskb_expand_head(skb, 0, 0)
        skb.truesize = truesize


def skb_shift(tgt: SkBuff, skb: SkBuff, shiftlen: int) -> int:
    """``skb_shift()`` (net/core/skbuff.c): move the first ``shiftlen`` paged bytes of ``skb``
    to the end of ``tgt``; returns ``shiftlen``, or 0 when it cannot (``skb`` has linear data,
    either skb is zerocopy, or the frags would not fit in ``tgt``'s ``MAX_SKB_FRAGS``).

    Nothing is copied.  When ``skb``'s first frag continues ``tgt``'s last
    (:func:`skb_can_coalesce`), the bytes merge into that frag; a frag moved whole carries its
    page reference along; a frag split between the two takes one more reference
    (``__skb_frag_ref``), and a frag merged away whole drops its own (``__skb_frag_unref``).
    ``len``, ``data_len`` and ``truesize`` move with the bytes (``skb_len_add``); both skbs
    are left ``CHECKSUM_PARTIAL``.  All or nothing: a refusal changes neither skb.
    """
    if shiftlen > skb.len:
        raise BadSkbError(f"skb_shift of {shiftlen} bytes from an skb of {skb.len}")
    if skb.len - skb.data_len:
        return 0
    if skb_zcopy(tgt) or skb_zcopy(skb):
        return 0
    max_frags = tgt.layout.max_frags
    todo = shiftlen
    src = skb.shinfo.frags
    to = len(tgt.shinfo.frags)
    first = src[0]
    merge = skb_can_coalesce(tgt, to, first.page, first.offset)
    start = 0
    if merge:
        todo -= first.len
        if todo < 0:
            # only part of the first frag: grow tgt's last frag, shrink skb's first
            skb_unclone_keeptruesize(skb)
            skb_unclone_keeptruesize(tgt)
            first = skb.shinfo.frags[0]
            skb_frag_size_add(tgt.shinfo.frags[-1], shiftlen)
            skb_frag_size_sub(first, shiftlen)
            skb_frag_off_add(first, shiftlen)
            return _shifted(tgt, skb, shiftlen)
        start = 1
    # a whole skb that cannot fit is refused before anything is touched
    if shiftlen == skb.len and len(src) - start > max_frags - to:
        return 0
    # plan the move before committing, so a refusal leaves both skbs as they were
    moved = 0
    from_ = start
    split = 0
    while todo > 0 and from_ < len(src):
        if to + moved == max_frags:
            return 0
        size = src[from_].len
        moved += 1
        if todo >= size:
            todo -= size
            from_ += 1
        else:
            split = todo
            todo = 0
    skb_unclone_keeptruesize(skb)
    skb_unclone_keeptruesize(tgt)
    src = skb.shinfo.frags
    dst = tgt.shinfo.frags
    dst.extend(src[start:from_])  # whole frags: descriptor and reference move
    if split:
        part = src[from_]
        get_page(part.page)  # __skb_frag_ref: the split frag is now held twice
        dst.append(SkbFrag(part.page, part.offset, split))
        skb_frag_off_add(part, split)
        skb_frag_size_sub(part, split)
    if merge:
        skb_frag_size_add(dst[to - 1], src[0].len)
        put_page(src[0].page)  # __skb_frag_unref: the merged frag's own reference
    del src[:from_]
    return _shifted(tgt, skb, shiftlen)


def _shifted(tgt: SkBuff, skb: SkBuff, shiftlen: int) -> int:
    tgt.ip_summed = CHECKSUM_PARTIAL
    skb.ip_summed = CHECKSUM_PARTIAL
    tgt.shinfo.flags |= skb.shinfo.flags & SKBFL_SHARED_FRAG
    skb_len_add(skb, -shiftlen)
    skb_len_add(tgt, shiftlen)
    return shiftlen


def __pskb_pull_tail(skb: SkBuff, delta: int) -> None:
    """``__pskb_pull_tail()``: move ``delta`` bytes from the frags (and frag_list) into the
    linear area, unreferencing frags that were eaten whole and trimming the first partial one.
    Reallocates the head first if there is no tailroom or it is shared."""
    eat = skb.tail + delta - skb.end
    if eat > 0 or skb_cloned(skb):
        pskb_expand_head(skb, 0, eat + 128 if eat > 0 else 0)
    headlen = skb.len - skb.data_len
    skb_copy_bits(skb, headlen, memoryview(skb.head)[skb.tail : skb.tail + delta], delta)
    shinfo = skb.shinfo
    eat = delta - sum(f.len for f in shinfo.frags)
    if eat > 0:
        _pull_frag_list(skb, eat)
    eat = delta
    kept: list[SkbFrag] = []
    for frag in shinfo.frags:
        if frag.len <= eat:
            put_page(frag.page)
            eat -= frag.len
        else:
            if eat:
                frag.offset += eat
                frag.len -= eat
                eat = 0
            kept.append(frag)
    shinfo.frags[:] = kept
    skb.tail += delta
    skb.data_len -= delta


def _pull_frag_list(skb: SkBuff, eat: int) -> None:
    """The frag_list part of ``__pskb_pull_tail``: free list members eaten whole, pull the
    first partially eaten one (forking it first if it is shared)."""
    shinfo = skb.shinfo
    members = shinfo.frag_list
    keep_from = 0
    replacement: SkBuff | None = None
    for idx, member in enumerate(members):
        if member.len <= eat:
            eat -= member.len
            keep_from = idx + 1
            if not eat:
                break
            continue
        if skb_shared(member):
            replacement = skb_clone(member)
            target = replacement
        else:
            target = member
        pskb_pull(target, eat)
        keep_from = idx + (1 if replacement is not None else 0)
        break
    for member in members[:keep_from]:
        kfree_skb(member)
    rest = members[keep_from:]
    shinfo.frag_list = ([replacement] if replacement is not None else []) + rest


def pskb_pull(skb: SkBuff, n: int) -> int | None:
    """``pskb_pull()``: remove ``n`` bytes from the front even when they lie in frags
    (linearizing what is needed first).  ``None`` when the skb is shorter than ``n``."""
    if n > skb.len:
        return None
    headlen = skb.len - skb.data_len
    if n > headlen:
        __pskb_pull_tail(skb, n - headlen)
    skb.data += n
    skb.len -= n
    return skb.data


def __pskb_trim_head(skb: SkBuff, n: int) -> int:
    """``__pskb_trim_head()`` (net/ipv4/tcp_output.c): drop ``n`` bytes from the front
    without linearizing — the linear part first, then whole frags (each unreferenced), then
    the first remaining frag is shortened in place.  The skb must not be cloned.  Returns
    how many paged bytes went, which is what the caller uncharges from ``truesize``."""
    headlen = skb.len - skb.data_len
    eat = min(n, headlen)
    if eat:
        skb.data += eat
        skb.len -= eat
        n -= eat
        if not n:
            return 0
    frags = skb.shinfo.frags
    kept: list[SkbFrag] = []
    eat = n
    for frag in frags:
        if frag.len <= eat:
            eat -= frag.len
            put_page(frag.page)
            continue
        if eat:
            frag.offset += eat
            frag.len -= eat
            eat = 0
        kept.append(frag)
    frags[:] = kept
    skb.data_len -= n
    skb.len = skb.data_len
    return n


def pskb_trim(skb: SkBuff, length: int) -> None:
    """``pskb_trim()`` / ``___pskb_trim()``: cut the skb to ``length`` bytes — the linear tail,
    then frags (the last kept one shortened, the rest unreferenced), then the frag_list.
    A cloned skb gets a private head first.  Trimming does not change ``truesize``."""
    if length >= skb.len:
        return
    if skb_cloned(skb):
        pskb_expand_head(skb, 0, 0)
    shinfo = skb.shinfo
    offset = skb.len - skb.data_len
    kept: list[SkbFrag] = []
    remaining = length - offset
    for frag in shinfo.frags:
        if remaining <= 0:
            put_page(frag.page)
            continue
        if frag.len > remaining:
            frag.len = remaining
        remaining -= frag.len
        kept.append(frag)
    shinfo.frags[:] = kept
    if shinfo.frag_list:
        members = shinfo.frag_list
        keep: list[SkBuff] = []
        for member in members:
            if remaining <= 0:
                kfree_skb(member)
                continue
            if member.len > remaining:
                if skb_shared(member):
                    clone = skb_clone(member)
                    kfree_skb(member)
                    member = clone
                pskb_trim(member, remaining)
            remaining -= member.len
            keep.append(member)
        shinfo.frag_list = keep
    if length > offset:
        skb.data_len -= skb.len - length
        skb.len = length
    else:
        skb.len = length
        skb.data_len = 0
        skb.tail = skb.data + length


def skb_linearize(skb: SkBuff) -> None:
    """``skb_linearize()``: pull every byte into the linear area (no frags, no frag_list)."""
    if skb.data_len:
        __pskb_pull_tail(skb, skb.data_len)


def _copy_skb_header(n: SkBuff, skb: SkBuff) -> None:
    """``skb_copy_header()``: the header fields netsim models and the control block."""
    for name in (
        "ip_summed",
        "csum",
        "csum_start",
        "csum_offset",
        "mac_header",
        "network_header",
        "transport_header",
        "protocol",
        "pfmemalloc",
        "dev",
        "dst",
        "ignore_df",
        "tstamp",
    ):
        setattr(n, name, getattr(skb, name))
    n.cb = skb.cb.copy() if skb.cb is not None else None


def pskb_copy(skb: SkBuff) -> SkBuff:
    """``pskb_copy()``: a private copy of the head and linear data that **shares the frags**,
    taking a reference on each (what ``__tcp_transmit_skb`` uses when the skb is still cloned)."""
    _check_live(skb, "pskb_copy")
    headroom = skb.data
    headlen = skb.len - skb.data_len
    n = alloc_skb(headroom + headlen, stats=skb.stats, layout=skb.layout)
    n.data = n.tail = headroom
    n.head[: headroom + headlen] = memoryview(skb.head)[: headroom + headlen]
    n.tail += headlen
    n.len = skb.len
    n.data_len = skb.data_len
    n.truesize += skb.data_len
    shinfo = n.shinfo
    shinfo.frags = [f.copy() for f in skb.shinfo.frags]
    for frag in shinfo.frags:
        get_page(frag.page)
    shinfo.frag_list = list(skb.shinfo.frag_list)
    for sub in shinfo.frag_list:
        sub.users += 1
    shinfo.gso_size = skb.shinfo.gso_size
    shinfo.gso_segs = skb.shinfo.gso_segs
    shinfo.gso_type = skb.shinfo.gso_type
    shinfo.flags = skb.shinfo.flags & ~SKBFL_MANAGED_FRAG_REFS
    _copy_skb_header(n, skb)
    return n


def skb_copy(skb: SkBuff) -> SkBuff:
    """``skb_copy()`` (net/core/skbuff.c): a private, **linear** copy — headroom, headers and
    every data byte (frags and frag_list) in one new head; no page is referenced.  The
    header fields and the control block are copied (``skb_copy_header``); the copy has no
    socket (the caller moves ownership if it wants it, as ``tls_enc_skb`` does)."""
    _check_live(skb, "skb_copy")
    headroom = skb.data
    n = alloc_skb(headroom + skb.len, stats=skb.stats, layout=skb.layout)
    n.data = n.tail = headroom
    headlen = skb.len - skb.data_len
    n.head[: headroom + headlen] = memoryview(skb.head)[: headroom + headlen]
    if skb.data_len:
        skb_copy_bits(
            skb, headlen, memoryview(n.head)[headroom + headlen : headroom + skb.len], skb.data_len
        )
    n.tail += skb.len
    n.len = skb.len
    shinfo = n.shinfo
    shinfo.gso_size = skb.shinfo.gso_size
    shinfo.gso_segs = skb.shinfo.gso_segs
    shinfo.gso_type = skb.shinfo.gso_type
    _copy_skb_header(n, skb)
    return n


# -- invariants ------------------------------------------------------------------------------


def skb_check(skb: SkBuff, max_frags: int | None = None) -> None:
    """Assert the skb invariants (spec §7): ``0 <= data <= tail <= end``, ``len == headlen +
    Σ frags + Σ frag_list``, ``nr_frags <= max_frags`` (default: the skb's ``MAX_SKB_FRAGS``),
    frags inside live pages, positive frag lengths, ``dataref`` consistent with ``cloned``.
    Raises :class:`BadSkbError`."""
    if max_frags is None:
        max_frags = skb.layout.max_frags
    if skb.freed:
        raise BadSkbError(f"checking a freed skb: {skb!r}")
    if not 0 <= skb.data <= skb.tail <= skb.end <= len(skb.head):
        raise BadSkbError(f"bad geometry data={skb.data} tail={skb.tail} end={skb.end}")
    headlen = skb.len - skb.data_len
    if headlen != skb.tail - skb.data:
        raise BadSkbError(f"headlen {headlen} != tail - data {skb.tail - skb.data}")
    shinfo = skb.shinfo
    if len(shinfo.frags) > max_frags:
        raise BadSkbError(f"nr_frags {len(shinfo.frags)} > {max_frags}")
    paged = 0
    for frag in shinfo.frags:
        page = frag.page
        if page.freed:
            raise BadSkbError(f"frag {frag!r} points at a freed page")
        if frag.len <= 0 or frag.offset < 0 or frag.offset + frag.len > _span(page):
            raise BadSkbError(f"frag {frag!r} outside its page")
        if page.head.refcount < 1:
            raise BadSkbError(f"frag {frag!r} on a page with no reference")
        paged += frag.len
    listed = 0
    for sub in shinfo.frag_list:
        skb_check(sub, max_frags)
        listed += sub.len
    if skb.data_len != paged + listed:
        raise BadSkbError(f"data_len {skb.data_len} != frags {paged} + frag_list {listed}")
    if (shinfo.dataref & SKB_DATAREF_MASK) < 1:
        raise BadSkbError(f"dataref {shinfo.dataref:#x} on a live skb")
    if not skb.cloned and shinfo.dataref != 1:
        raise BadSkbError(f"uncloned skb with dataref {shinfo.dataref:#x}")


def _span(page: Page) -> int:
    """Bytes addressable from a (sub)page: to the end of its compound page."""
    head = page.head
    return head.size - (page.pfn - head.pfn) * 4096
