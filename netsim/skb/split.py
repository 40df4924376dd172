"""Splitting skbs: ``skb_split`` (TCP's ``tso_fragment``/``tcp_fragment``) and
``skb_segment`` (software GSO) — net/core/skbuff.c.

Both share frags instead of copying bytes, and the page references tell the story:

* ``skb_split(skb, skb1, len)`` moves the frags past ``len`` to ``skb1``; a frag straddling
  ``len`` is kept by **both**, with one extra ``get_page`` (``skb_frag_ref``), the new copy's
  offset advanced and the old copy truncated.  Truesize is the caller's business.
* ``skb_segment`` builds one new skb per ``gso_size`` bytes of payload: the headers copied into
  each, the payload as frag descriptors with **one reference each** (``__skb_frag_ref``).  On a
  device without scatter-gather the payload is copied linear instead; without checksum offload
  the segment's sum is computed in software.  More than ``MAX_SKB_FRAGS`` frags in one segment
  fails with ``EINVAL`` (the kernel's "skb_segment: too many frags").
"""

from __future__ import annotations

from ..errors import errno, kernel_error
from ..mm.page import get_page
from ..wire.checksum import csum_partial
from .buff import (
    CHECKSUM_NONE,
    GSO_BY_FRAGS,
    SKBFL_PURE_ZEROCOPY,
    SKBFL_SHARED_FRAG,
    BadSkbError,
    SkbFrag,
    SkBuff,
    alloc_skb,
    kfree_skb_list,
    skb_cloned,
)
from .ops import skb_copy_bits, skb_put, skb_reserve

__all__ = ["skb_segment", "skb_split"]


def skb_split(skb: SkBuff, skb1: SkBuff, length: int) -> None:
    """``skb_split(skb, skb1, len)``: keep the first ``length`` bytes in ``skb``, move the rest
    to the empty ``skb1`` (net/core/skbuff.c, ``skb_split_inside_header`` /
    ``skb_split_no_header``)."""
    if skb_cloned(skb):
        raise BadSkbError(f"skb_split on a cloned skb: {skb!r}")
    if not 0 <= length <= skb.len:
        raise BadSkbError(f"skb_split at {length} of an skb of len {skb.len}")
    pos = skb.len - skb.data_len
    shinfo, shinfo1 = skb.shinfo, skb1.shinfo
    shinfo1.flags |= shinfo.flags & (SKBFL_SHARED_FRAG | SKBFL_PURE_ZEROCOPY)
    if length < pos:
        # the split line is inside the linear part: copy its tail, move every frag
        n = pos - length
        off = skb_put(skb1, n)
        skb1.head[off : off + n] = memoryview(skb.head)[skb.data + length : skb.data + pos]
        shinfo1.frags = shinfo.frags
        shinfo.frags = []
        skb1.data_len = skb.data_len
        skb1.len += skb1.data_len
        skb.data_len = 0
        skb.len = length
        skb.tail = skb.data + length
        return
    frags = shinfo.frags
    shinfo.frags = []
    skb1.len = skb1.data_len = skb.len - length
    skb.len = length
    skb.data_len = length - pos
    for frag in frags:
        size = frag.len
        if pos + size > length:
            if pos < length:
                # straddles the split: both skbs keep it, one more page reference
                get_page(frag.page)
                cut = length - pos
                shinfo1.frags.append(SkbFrag(frag.page, frag.offset + cut, size - cut))
                frag.len = cut
                shinfo.frags.append(frag)
            else:
                shinfo1.frags.append(frag)
        else:
            shinfo.frags.append(frag)
        pos += size


def skb_segment(
    head_skb: SkBuff,
    *,
    sg: bool = True,
    csum: bool = True,
    max_frags: int | None = None,
    transfer_owner: bool = True,
) -> list[SkBuff]:
    """``skb_segment(head_skb, features)``: cut a GSO skb into ``gso_size`` segments.

    The headers are the ``data - mac_header`` bytes before ``data`` (or before ``data`` from
    ``network_header`` when no MAC header is set).  ``sg`` and ``csum`` stand for the device's
    ``NETIF_F_SG`` and checksum offload.  With ``transfer_owner`` (a ``sock_wfree`` owner), the
    last segment takes over the head's truesize, destructor and socket, so the socket's
    memory is released when the last segment goes.  ``GSO_PARTIAL`` and the frag_list clone
    fast path are not modelled; a frag_list whose members have linear data is copied.
    """
    if max_frags is None:
        max_frags = head_skb.layout.max_frags
    mss = head_skb.shinfo.gso_size
    if mss <= 0 or mss == GSO_BY_FRAGS:
        raise kernel_error(errno.EINVAL, f"skb_segment with gso_size {mss}")
    header_start = head_skb.mac_header if head_skb.mac_header >= 0 else head_skb.network_header
    doffset = head_skb.data - header_start if header_start >= 0 else 0
    headroom = head_skb.data - doffset
    headlen = head_skb.len - head_skb.data_len
    if any(sub.len - sub.data_len for sub in head_skb.shinfo.frag_list):
        sg = False
    sources = _payload_frags(head_skb, headlen)
    shared = head_skb.shinfo.flags & SKBFL_SHARED_FRAG
    segs: list[SkBuff] = []
    total = head_skb.len
    start = 0
    cursor = 0
    try:
        while start < total:
            length = min(mss, total - start)
            hsize = min(max(headlen - start, 0), length) if sg else length
            nskb = alloc_skb(
                hsize + doffset + headroom, stats=head_skb.stats, layout=head_skb.layout
            )
            segs.append(nskb)
            skb_reserve(nskb, headroom)
            hdr = skb_put(nskb, doffset)
            nskb.head[hdr : hdr + doffset] = memoryview(head_skb.head)[
                head_skb.data - doffset : head_skb.data
            ]
            _copy_header_fields(nskb, head_skb)
            nskb.data += doffset  # payload view while filling; pushed back below
            nskb.len -= doffset
            if not sg:
                off = skb_put(nskb, length)
                skb_copy_bits(head_skb, start, memoryview(nskb.head)[off : off + length], length)
            else:
                off = skb_put(nskb, hsize)
                skb_copy_bits(head_skb, start, memoryview(nskb.head)[off : off + hsize], hsize)
                nskb.shinfo.flags |= shared
                cursor = _attach_frags(nskb, sources, cursor, start + hsize, start + length)
                if len(nskb.shinfo.frags) > max_frags:
                    raise kernel_error(errno.EINVAL, "skb_segment: too many frags")
                nskb.data_len = length - hsize
                nskb.len += nskb.data_len
                nskb.truesize += nskb.data_len
            if not csum:
                nskb.ip_summed = CHECKSUM_NONE
                nskb.csum = _payload_csum(nskb)
            nskb.data -= doffset
            nskb.len += doffset
            start += length
    except BaseException:
        kfree_skb_list(segs)
        raise
    if transfer_owner and head_skb.destructor is not None:
        tail = segs[-1]
        tail.truesize, head_skb.truesize = head_skb.truesize, tail.truesize
        tail.destructor, head_skb.destructor = head_skb.destructor, tail.destructor
        tail.sk, head_skb.sk = head_skb.sk, tail.sk
    return segs


def _payload_frags(skb: SkBuff, headlen: int) -> list[tuple[int, SkbFrag]]:
    """``(payload position, frag)`` for the frags of the skb, then of each frag_list member."""
    out: list[tuple[int, SkbFrag]] = []
    pos = headlen
    for frag in skb.shinfo.frags:
        out.append((pos, frag))
        pos += frag.len
    for sub in skb.shinfo.frag_list:
        for frag in sub.shinfo.frags:
            out.append((pos, frag))
            pos += frag.len
    return out


def _attach_frags(
    nskb: SkBuff, sources: list[tuple[int, SkbFrag]], cursor: int, lo: int, hi: int
) -> int:
    """Reference the payload ``[lo, hi)`` into ``nskb`` as frags; returns the new cursor."""
    frags = nskb.shinfo.frags
    while cursor < len(sources) and lo < hi:
        pos, frag = sources[cursor]
        end = pos + frag.len
        if end <= lo:
            cursor += 1
            continue
        skip = lo - pos
        take = min(end, hi) - lo
        get_page(frag.page)
        frags.append(SkbFrag(frag.page, frag.offset + skip, take))
        lo += take
        if lo >= end:
            cursor += 1
    return cursor


def _copy_header_fields(nskb: SkBuff, skb: SkBuff) -> None:
    """``__copy_skb_header`` for the fields netsim models."""
    nskb.ip_summed = skb.ip_summed
    nskb.csum = skb.csum
    nskb.csum_start = skb.csum_start
    nskb.csum_offset = skb.csum_offset
    nskb.protocol = skb.protocol
    nskb.pfmemalloc = skb.pfmemalloc
    nskb.dev = skb.dev
    nskb.dst = skb.dst
    nskb.ignore_df = skb.ignore_df
    nskb.tstamp = skb.tstamp
    delta = nskb.data - (skb.data - (nskb.tail - nskb.data))
    for name in ("mac_header", "network_header", "transport_header"):
        value = getattr(skb, name)
        setattr(nskb, name, value + delta if value >= 0 else -1)
    nskb.cb = skb.cb.copy() if skb.cb is not None else None


def _payload_csum(nskb: SkBuff) -> int:
    """The software sum of a segment's payload (``SKB_GSO_CB(nskb)->csum``)."""
    total = nskb.len
    buf = bytearray(total)
    skb_copy_bits(nskb, 0, buf, total)
    return csum_partial(buf)
