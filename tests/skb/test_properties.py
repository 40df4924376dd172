"""Property tests for the skb frag model (DESIGN.md "Testing"; spec/mm-skb.md §7).

Random write sizes are appended to an skb the way ``tcp_sendmsg_locked`` does it with the
fragment-allocator API — ``prepare(32)``, ``copy = min(left, span.size)``, then either grow the
last frag (``skb_can_coalesce``) and ``commit_noref``, or fill a new slot and ``commit``, or stop
when no slot is left — and the result is split and segmented at random points.  Invariants
checked on every skb along the way: ``len == headlen + Σ frag.len``, ``nr_frags <=
MAX_SKB_FRAGS``, byte-exact payload, every page's refcount equal to the frag slots that name it,
and after freeing everything, no page left.  The leak check runs inside each example.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import event, given, settings
from hypothesis import strategies as st

from netsim.mm import GFP_KERNEL, FragAllocator, PageAllocator, get_frag_allocator, put_page
from netsim.skb import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    MAX_SKB_FRAGS,
    SKB_TRUESIZE,
    SkBuff,
    alloc_skb,
    kfree_skb,
    kfree_skb_list,
    pskb_pull,
    skb_add_frag_nocache,
    skb_can_coalesce,
    skb_check,
    skb_clone,
    skb_copy_bits,
    skb_fill_page_desc,
    skb_frag_size_add,
    skb_linearize,
    skb_put,
    skb_reserve,
    skb_segment,
    skb_split,
    skb_to_bytes,
)
from netsim.testing import assert_no_page_leaks
from netsim.wire import csum_partial

ALLOCATORS = ["page_frag", "page_frag_cache", "page_frag_cache_countdown"]
PROPERTY_SETTINGS = settings(max_examples=50, derandomize=True, database=None, deadline=None)


class Owner:
    """``struct sock``'s write-memory fields."""

    def __init__(self, forward_alloc: int) -> None:
        self.sk_wmem_queued = 0
        self.sk_forward_alloc = forward_alloc


def _pattern(n: int, seed: int) -> bytes:
    return bytes((i * 131 + seed * 29 + (i >> 9)) & 0xFF for i in range(n))


def _tcp_append(
    skb: SkBuff, nc: FragAllocator, owner: Owner, data: memoryview, max_frags: int
) -> tuple[int, bool]:
    """Copy ``data`` into ``skb``'s frags as ``tcp_sendmsg_locked`` does; returns the bytes
    copied and whether the skb ran out of slots."""
    copied = 0
    while copied < len(data):
        span = nc.prepare(32, GFP_KERNEL, want=len(data) - copied)
        assert span is not None
        assert span.size >= 32  # prepare guarantees the fragsz it was asked for
        assert span.offset + span.size <= span.page.size
        copy = min(len(data) - copied, span.size)
        i = skb.nr_frags
        merge = skb_can_coalesce(skb, i, span.page, span.offset)
        if not merge and i >= max_frags:
            return copied, True
        skb_add_frag_nocache(owner, data[copied:], skb, span.page, span.offset, copy)
        if merge:
            skb_frag_size_add(skb.frags[i - 1], copy)
            nc.commit_noref(span, copy)
        else:
            skb_fill_page_desc(skb, i, span.page, span.offset, copy)
            nc.commit(span, copy)
        copied += copy
    return copied, False


def _check_shape(skb: SkBuff) -> None:
    skb_check(skb)
    assert skb.len == skb.headlen + sum(f.len for f in skb.frags) + sum(
        m.len for m in skb.frag_list
    )
    assert skb.nr_frags <= MAX_SKB_FRAGS


def _check_refcounts(pa: PageAllocator, skbs: list[SkBuff]) -> None:
    """With every allocator drained, a page's references are exactly its frag slots (a shared
    shinfo counts once)."""
    seen: set[int] = set()
    slots: Counter[object] = Counter()
    for skb in skbs:
        if id(skb.shinfo) in seen:
            continue
        seen.add(id(skb.shinfo))
        for frag in skb.frags:
            slots[frag.page.head] += 1
    live = pa.live_pages()
    assert len(live) == len(slots)
    for page in live:
        assert page.refcount == slots[page], (page, slots[page])


def _build(
    pa: PageAllocator,
    allocator: str,
    writes: list[int],
    linear: int,
    max_frags: int,
    csum_none: bool,
    interleave: int = 0,
) -> tuple[SkBuff, bytes]:
    """An skb with ``linear`` head bytes and as much of the writes as fits in its frags.
    With ``interleave`` = k, before every k-th write another user of the same (task) frag
    takes 64 bytes and frees them at once, so the next write cannot coalesce."""
    nc = get_frag_allocator(allocator)(pa)
    skb = alloc_skb(16 + linear, stats=pa.stats)
    skb_reserve(skb, 16)
    skb.ip_summed = CHECKSUM_NONE if csum_none else CHECKSUM_PARTIAL
    head = _pattern(linear, 99)
    off = skb_put(skb, linear)
    skb.head[off : off + linear] = head
    base_truesize = skb.truesize
    owner = Owner(1 << 30)
    paged = bytearray()
    for n, size in enumerate(writes):
        if interleave and n and n % interleave == 0:
            got = nc.alloc(64, GFP_KERNEL)
            assert got is not None
            put_page(got[0])
        chunk = _pattern(size, n)
        copied, full = _tcp_append(skb, nc, owner, memoryview(chunk), max_frags)
        paged += chunk[:copied]
        _check_shape(skb)
        if full:
            event("the skb ran out of frag slots")
            break
    event(f"nr_frags {'0' if not skb.nr_frags else '1' if skb.nr_frags == 1 else '2+'}")
    if pa.stats.frag_commit_noref:
        event("some writes coalesced")
    assert skb.nr_frags <= max_frags
    assert (skb.len, skb.data_len, skb.headlen) == (linear + len(paged), len(paged), linear)
    assert skb.truesize == base_truesize + len(paged) == SKB_TRUESIZE(skb.end) + len(paged)
    assert (owner.sk_wmem_queued, owner.sk_forward_alloc) == (len(paged), (1 << 30) - len(paged))
    if csum_none:
        # each copy was summed at its offset skb->len: the head bytes themselves are not in it
        assert skb.csum == csum_partial(bytes(linear) + paged)
    else:
        assert skb.csum == 0
    data = head + bytes(paged)
    assert skb_to_bytes(skb) == data
    nc.drain()
    _check_refcounts(pa, [skb])
    return skb, data


WRITES = st.lists(st.integers(1, 12000), min_size=1, max_size=30)


@PROPERTY_SETTINGS
@given(
    allocator=st.sampled_from(ALLOCATORS),
    writes=WRITES,
    linear=st.integers(0, 64),
    max_frags=st.integers(1, MAX_SKB_FRAGS),
    csum_none=st.booleans(),
    interleave=st.integers(0, 3),
    cuts=st.lists(st.one_of(st.integers(0, 80), st.integers(0, 1 << 20)), max_size=4),
    gso_size=st.integers(1, 9000),
    sg=st.booleans(),
    csum=st.booleans(),
)
def test_append_split_segment(
    allocator: str,
    writes: list[int],
    linear: int,
    max_frags: int,
    csum_none: bool,
    interleave: int,
    cuts: list[int],
    gso_size: int,
    sg: bool,
    csum: bool,
) -> None:
    pa = PageAllocator(poison=True)
    skb, data = _build(pa, allocator, writes, linear, max_frags, csum_none, interleave)

    # -- split the tail piece at random points, as tcp_fragment does -----------------------
    pieces = [skb]
    for r in cuts:
        last = pieces[-1]
        cut = r % (last.len + 1)
        skb1 = alloc_skb(max(last.headlen - cut, 0), stats=pa.stats)
        gets = pa.stats.page_get
        if cut < last.headlen:
            event("split inside the head")
        skb_split(last, skb1, cut)
        if pa.stats.page_get > gets:
            event("split straddling a frag")
        assert last.len == cut
        pieces.append(skb1)
    assert b"".join(skb_to_bytes(p) for p in pieces) == data
    for piece in pieces:
        _check_shape(piece)
    _check_refcounts(pa, pieces)

    # -- segment every piece -------------------------------------------------------------------
    all_segs: list[SkBuff] = []
    for piece in pieces:
        if not piece.len:
            continue
        mss = max(gso_size, -(-piece.len // 64))  # at most 64 segments per piece
        piece.shinfo.gso_size = mss
        whole = skb_to_bytes(piece)
        segs = skb_segment(piece, sg=sg, csum=csum)
        assert len(segs) == -(-piece.len // mss)
        for i, seg in enumerate(segs):
            chunk = whole[i * mss : (i + 1) * mss]
            assert seg.len == len(chunk)
            assert skb_to_bytes(seg) == chunk
            if not sg:
                assert seg.nr_frags == 0
            if not csum:
                assert seg.ip_summed == CHECKSUM_NONE
                assert seg.csum == csum_partial(chunk)
            _check_shape(seg)
        all_segs += segs
    _check_refcounts(pa, pieces + all_segs)

    kfree_skb_list(pieces)
    _check_refcounts(pa, all_segs)
    kfree_skb_list(all_segs)
    assert pa.stats.skb_alloc == pa.stats.skb_free
    assert_no_page_leaks([pa], "after freeing every skb")
    assert pa.pages_in_use() == 0


@PROPERTY_SETTINGS
@given(
    allocator=st.sampled_from(ALLOCATORS),
    writes=WRITES,
    linear=st.integers(0, 64),
    pulls=st.lists(st.integers(0, 1 << 20), max_size=3),
    ranges=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 1 << 20)), max_size=5),
    clone_first=st.booleans(),
    interleave=st.integers(0, 3),
)
def test_copy_pull_linearize(
    allocator: str,
    writes: list[int],
    linear: int,
    pulls: list[int],
    ranges: list[tuple[int, int]],
    clone_first: bool,
    interleave: int,
) -> None:
    pa = PageAllocator(poison=True)
    skb, data = _build(pa, allocator, writes, linear, MAX_SKB_FRAGS, False, interleave)

    for a, b in ranges:
        offset = a % (skb.len + 1)
        length = b % (skb.len - offset + 1)
        out = bytearray(length)
        skb_copy_bits(skb, offset, out, length)
        assert bytes(out) == data[offset : offset + length]

    clone = skb_clone(skb) if clone_first else None
    pulled = 0
    for r in pulls:
        n = r % (skb.len + 1)
        assert pskb_pull(skb, n) is not None
        pulled += n
        assert skb_to_bytes(skb) == data[pulled:]
        _check_shape(skb)
        _check_refcounts(pa, [skb] + ([clone] if clone is not None else []))
    if clone is not None:
        assert skb_to_bytes(clone) == data  # the clone never sees the pulls
    skb_linearize(skb)
    assert (skb.nr_frags, skb.data_len) == (0, 0)
    assert bytes(skb.linear()) == data[pulled:]
    _check_shape(skb)
    _check_refcounts(pa, [skb] + ([clone] if clone is not None else []))

    kfree_skb(skb)
    if clone is not None:
        kfree_skb(clone)
    assert_no_page_leaks([pa], "after freeing every skb")
    assert pa.pages_in_use() == 0
