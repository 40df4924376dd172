"""Software GSO: ``skb_segment`` (net/core/skbuff.c; spec/mm-skb.md §4.15).

The GSO skb is built the way ``tcp_gso_segment`` hands it over: headers in the linear area
*before* ``data`` (``mac_header`` .. ``data``), payload after ``data`` — here in frags carved
from a ``PageFragCache`` across two order-3 pages, optionally with some linear payload first.
"""

from __future__ import annotations

import errno
from collections import Counter
from collections.abc import Callable

import pytest

from netsim.mm import GFP_KERNEL, Page, PageAllocator, PageFragCache
from netsim.skb import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    SKB_GSO_TCPV4,
    SKB_TRUESIZE,
    SKBFL_SHARED_FRAG,
    SkBuff,
    alloc_skb,
    kfree_skb,
    kfree_skb_list,
    skb_check,
    skb_clone,
    skb_fill_page_desc,
    skb_len_add,
    skb_pull,
    skb_push,
    skb_put,
    skb_reserve,
    skb_segment,
    skb_to_bytes,
)
from netsim.wire import csum_partial

HDR = bytes(range(0xA0, 0xA0 + 40))  # a fake 20-byte IPv4 + 20-byte TCP header
HEADROOM = 64
FRAG_SIZES = [10000, 10000, 10000, 3000]  # the fourth does not fit the first 32 KiB page


def _payload(n: int, seed: int = 1) -> bytes:
    return bytes((i * 37 + seed * 11 + (i >> 8)) & 0xFF for i in range(n))


def _gso_skb(
    pa: PageAllocator,
    frag_sizes: list[int],
    gso_size: int,
    *,
    linear_payload: int = 0,
) -> tuple[SkBuff, bytes]:
    """A GSO skb with a 40-byte header before ``data``; the frag cache is drained, so every
    page reference left belongs to a frag slot."""
    nc = PageFragCache(pa)
    skb = alloc_skb(HEADROOM + len(HDR) + linear_payload, stats=pa.stats)
    skb_reserve(skb, HEADROOM + len(HDR))
    payload = _payload(linear_payload + sum(frag_sizes))
    if linear_payload:
        off = skb_put(skb, linear_payload)
        skb.head[off : off + linear_payload] = payload[:linear_payload]
    pos = linear_payload
    for size in frag_sizes:
        got = nc.alloc(size, GFP_KERNEL)
        assert got is not None
        page, offset = got
        page.view[offset : offset + size] = payload[pos : pos + size]
        skb_fill_page_desc(skb, skb.nr_frags, page, offset, size)
        skb_len_add(skb, size)
        pos += size
    nc.drain()
    # tcp_transmit_skb pushes the headers; the GSO layer pulls them again before segmenting
    skb_push(skb, len(HDR))
    skb.head[skb.data : skb.data + len(HDR)] = HDR
    skb.mac_header = skb.network_header = skb.data
    skb.transport_header = skb.data + 20
    skb_pull(skb, len(HDR))
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.shinfo.gso_size = gso_size
    skb.shinfo.gso_type = SKB_GSO_TCPV4
    skb_check(skb)
    return skb, payload


def _set_destructor(skb: SkBuff, destructor: Callable[[SkBuff], None]) -> None:
    """``skb_set_owner_w``'s destructor, set out of line (keeps mypy from narrowing it)."""
    skb.destructor = destructor


def _expected_frags(skb: SkBuff, lo: int, hi: int, headlen: int) -> list[tuple[Page, int, int]]:
    """The pieces of the source frags covering payload bytes ``[lo, hi)``."""
    out = []
    pos = headlen
    for frag in skb.frags:
        a, b = max(lo, pos), min(hi, pos + frag.len)
        if a < b:
            out.append((frag.page, frag.offset + a - pos, b - a))
        pos += frag.len
    return out


def _slot_counts(*skbs: SkBuff) -> Counter[Page]:
    return Counter(f.page.head for s in skbs for f in s.frags)


def test_worked_example_gso_1000(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb, payload = _gso_skb(page_allocator, FRAG_SIZES, 1000)
    pages = sorted({f.page for f in skb.frags}, key=lambda p: p.pfn)
    assert len(pages) == 2  # frags 0-2 on the first page, frag 3 on a second
    assert [p.refcount for p in pages] == [3, 1]
    gets = stats.page_get
    allocs = stats.skb_alloc

    segs = skb_segment(skb)

    assert len(segs) == 33  # 33000 bytes / 1000
    assert stats.skb_alloc == allocs + 33
    # the frag boundaries (10000, 20000, 30000) are segment boundaries: one frag each,
    # and one page reference per segment frag
    assert [s.nr_frags for s in segs] == [1] * 33
    assert stats.page_get == gets + 33
    assert [p.refcount for p in pages] == [3 + 30, 1 + 3]
    counts = _slot_counts(skb, *segs)
    assert [p.refcount for p in pages] == [counts[p] for p in pages]
    for i, seg in enumerate(segs):
        lo, hi = i * 1000, min((i + 1) * 1000, 33000)
        assert seg.len == len(HDR) + hi - lo
        assert (seg.data_len, seg.headlen) == (hi - lo, len(HDR))
        assert skb_to_bytes(seg) == HDR + payload[lo:hi]
        assert [(f.page, f.offset, f.len) for f in seg.frags] == _expected_frags(skb, lo, hi, 0)
        assert seg.truesize == SKB_TRUESIZE(seg.end) + hi - lo
        assert seg.headroom == HEADROOM
        assert seg.mac_header == seg.network_header == seg.data
        assert seg.transport_header == seg.data + 20
        assert seg.ip_summed == CHECKSUM_PARTIAL
        assert seg.shinfo.gso_size == 0  # ordinary skbs
        skb_check(seg)
    assert skb_to_bytes(skb) == payload  # the GSO skb itself is untouched

    kfree_skb(skb)
    assert not any(p.freed for p in pages)  # the segments still hold them
    kfree_skb_list(segs)
    assert all(p.freed for p in pages)
    assert stats.skb_alloc == stats.skb_free


def test_segment_frag_boundaries_split_into_two_frags(page_allocator: PageAllocator) -> None:
    """Frag boundaries at 10000, 20000, 30000 fall on segment boundaries with mss 1000, but
    not with mss 1400: then the segment spanning a boundary carries two frags."""
    skb, payload = _gso_skb(page_allocator, FRAG_SIZES, 1400)
    segs = skb_segment(skb)
    assert len(segs) == -(-33000 // 1400) == 24
    two = [i for i, s in enumerate(segs) if s.nr_frags == 2]
    assert two == [7, 14, 21]  # 9800..11200, 19600..21000, 29400..30800
    seg = segs[7]
    first, second = seg.frags
    assert (first.len, second.len) == (200, 1200)
    assert first.page is second.page  # both on the first 32 KiB page
    assert first.offset + first.len == second.offset  # contiguous in memory, still 2 slots
    assert segs[-1].len == len(HDR) + 33000 - 23 * 1400
    assert b"".join(skb_to_bytes(s)[len(HDR) :] for s in segs) == payload
    kfree_skb(skb)
    kfree_skb_list(segs)


def test_segment_with_linear_payload(page_allocator: PageAllocator) -> None:
    """Payload bytes in the head are copied into the segments' heads (``hsize``)."""
    skb, payload = _gso_skb(page_allocator, [700, 800], 1000, linear_payload=1500)
    assert skb.headlen == 1500
    segs = skb_segment(skb)
    assert [s.len - len(HDR) for s in segs] == [1000, 1000, 1000]
    assert [(s.headlen - len(HDR), s.data_len, s.nr_frags) for s in segs] == [
        (1000, 0, 0),
        (500, 500, 1),
        (0, 1000, 2),
    ]
    for i, seg in enumerate(segs):
        assert skb_to_bytes(seg) == HDR + payload[i * 1000 : (i + 1) * 1000]
        skb_check(seg)
    assert (segs[1].frags[0].offset, segs[1].frags[0].len) == (skb.frags[0].offset, 500)
    kfree_skb(skb)
    kfree_skb_list(segs)


def test_segment_without_sg_copies_linear(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb, payload = _gso_skb(page_allocator, FRAG_SIZES, 1460)
    pages = {f.page for f in skb.frags}
    refs = {p: p.refcount for p in pages}
    gets = stats.page_get

    segs = skb_segment(skb, sg=False)

    assert len(segs) == -(-33000 // 1460)
    assert stats.page_get == gets  # no frag is referenced
    assert {p: p.refcount for p in pages} == refs
    for i, seg in enumerate(segs):
        n = min(1460, 33000 - i * 1460)
        assert (seg.nr_frags, seg.data_len, seg.len, seg.headlen) == (0, 0, 40 + n, 40 + n)
        assert skb_to_bytes(seg) == HDR + payload[i * 1460 : i * 1460 + n]
        assert seg.truesize == SKB_TRUESIZE(seg.end)
        skb_check(seg)
    kfree_skb(skb)
    assert all(p.freed for p in pages)  # the segments never held the pages
    kfree_skb_list(segs)


@pytest.mark.parametrize("sg", [True, False])
def test_segment_without_csum_offload_sums_each_payload(
    page_allocator: PageAllocator, sg: bool
) -> None:
    skb, payload = _gso_skb(page_allocator, [999, 1001, 1], 500, linear_payload=3)
    segs = skb_segment(skb, sg=sg, csum=False)
    assert len(segs) == 4 + 1
    for i, seg in enumerate(segs):
        chunk = payload[i * 500 : (i + 1) * 500]
        assert seg.ip_summed == CHECKSUM_NONE
        assert seg.csum == csum_partial(chunk)  # the payload only, not the headers
        assert skb_to_bytes(seg) == HDR + chunk
    kfree_skb(skb)
    kfree_skb_list(segs)


def test_segment_too_many_frags_is_einval_and_leaks_nothing(
    page_allocator: PageAllocator,
) -> None:
    stats = page_allocator.stats
    skb, _ = _gso_skb(page_allocator, [1] * 12, 5)
    page = skb.frags[0].page
    assert all(f.page is page for f in skb.frags)
    assert page.refcount == 12
    allocs, frees = stats.skb_alloc, stats.skb_free
    gets, puts = stats.page_get, stats.page_put

    with pytest.raises(OSError, match="Invalid argument") as exc:
        skb_segment(skb, max_frags=4)

    assert exc.value.errno == errno.EINVAL
    assert page.refcount == 12
    assert stats.page_get - gets == stats.page_put - puts
    assert stats.skb_alloc - allocs == stats.skb_free - frees  # the partial list was freed
    # with room for five frags per segment it works
    segs = skb_segment(skb, max_frags=5)
    assert [s.nr_frags for s in segs] == [5, 5, 2]
    assert page.refcount == 24
    kfree_skb(skb)
    kfree_skb_list(segs)
    assert page.freed


def test_segment_rejects_gso_size_zero(page_allocator: PageAllocator) -> None:
    skb, _ = _gso_skb(page_allocator, [100], 0)
    with pytest.raises(OSError, match="Invalid argument"):
        skb_segment(skb)
    kfree_skb(skb)


def test_transfer_owner_moves_truesize_destructor_and_sk(page_allocator: PageAllocator) -> None:
    skb, _ = _gso_skb(page_allocator, [3000], 1000)
    freed: list[SkBuff] = []
    sk = object()
    skb.sk = sk
    _set_destructor(skb, freed.append)
    head_truesize = skb.truesize

    segs = skb_segment(skb)

    tail = segs[-1]
    assert tail.truesize == head_truesize
    assert tail.sk is sk
    assert tail.destructor is not None
    assert (skb.sk, skb.destructor) == (None, None)
    assert skb.truesize == SKB_TRUESIZE(tail.end) + 1000  # the tail's old truesize
    for seg in segs[:-1]:
        assert seg.sk is None
        assert seg.destructor is None
    kfree_skb(skb)
    kfree_skb_list(segs[:-1])
    assert freed == []
    kfree_skb(tail)
    assert freed == [tail]  # the socket is uncharged when the last segment goes


def test_transfer_owner_off_leaves_the_owner(page_allocator: PageAllocator) -> None:
    skb, _ = _gso_skb(page_allocator, [3000], 1000)
    freed: list[SkBuff] = []
    _set_destructor(skb, freed.append)
    truesize = skb.truesize
    segs = skb_segment(skb, transfer_owner=False)
    assert all(s.destructor is None for s in segs)
    assert skb.truesize == truesize
    kfree_skb_list(segs)
    kfree_skb(skb)
    assert freed == [skb]


def test_segment_inherits_shared_frag(page_allocator: PageAllocator) -> None:
    skb, _ = _gso_skb(page_allocator, [2500], 1000)
    skb.shinfo.flags |= SKBFL_SHARED_FRAG
    segs = skb_segment(skb)
    assert all(s.shinfo.flags & SKBFL_SHARED_FRAG for s in segs)
    kfree_skb(skb)
    kfree_skb_list(segs)


def test_segment_of_a_clone_references_the_same_pages(page_allocator: PageAllocator) -> None:
    """TCP segments a clone of the queued skb: the segments reference the shared frags."""
    skb, payload = _gso_skb(page_allocator, [2000, 2000], 1000)
    page = skb.frags[0].page
    clone = skb_clone(skb)
    segs = skb_segment(clone)
    assert page.refcount == 2 + 4
    kfree_skb(clone)
    assert page.refcount == 6  # the original still holds the shared data
    kfree_skb(skb)
    assert page.refcount == 4
    assert b"".join(skb_to_bytes(s)[40:] for s in segs) == payload
    kfree_skb_list(segs)
    assert page.freed


def test_segment_with_frag_list(page_allocator: PageAllocator) -> None:
    """Frag_list members without linear data are segmented by reference like frags."""
    stats = page_allocator.stats
    skb, payload = _gso_skb(page_allocator, [1500], 1000)
    nc = PageFragCache(page_allocator)
    extra = _payload(1200, seed=5)
    member = alloc_skb(0, stats=stats)
    got = nc.alloc(1200, GFP_KERNEL)
    assert got is not None
    page, offset = got
    page.view[offset : offset + 1200] = extra
    skb_fill_page_desc(member, 0, page, offset, 1200)
    skb_len_add(member, 1200)
    nc.drain()
    skb.shinfo.frag_list.append(member)
    skb.len += 1200
    skb.data_len += 1200
    skb_check(skb)
    whole = payload + extra

    segs = skb_segment(skb)
    assert [s.len - 40 for s in segs] == [1000, 1000, 700]
    assert [s.nr_frags for s in segs] == [1, 2, 1]
    assert segs[1].frags[1].page is page
    for i, seg in enumerate(segs):
        assert skb_to_bytes(seg) == HDR + whole[i * 1000 : (i + 1) * 1000]
    assert page.refcount == 1 + 2
    kfree_skb(skb)
    kfree_skb_list(segs)
    assert page.freed


def test_segment_with_linear_frag_list_member_copies(page_allocator: PageAllocator) -> None:
    """A frag_list member with linear data forces the copying path."""
    stats = page_allocator.stats
    skb, payload = _gso_skb(page_allocator, [1500], 1000)
    member = alloc_skb(600, stats=stats)
    off = skb_put(member, 600)
    member.head[off : off + 600] = b"m" * 600
    skb.shinfo.frag_list.append(member)
    skb.len += 600
    skb.data_len += 600
    gets = stats.page_get
    segs = skb_segment(skb)
    assert stats.page_get == gets
    assert all(s.nr_frags == 0 for s in segs)
    assert b"".join(skb_to_bytes(s)[40:] for s in segs) == payload + b"m" * 600
    kfree_skb(skb)
    kfree_skb_list(segs)
